#!/usr/bin/env python3
"""Verify an initiative's audit bundle offline, with the Python standard library only.

    curl -s -H "Authorization: Bearer $TOKEN" \\
        https://twinning.example.org/api/v1/initiatives/$ID/audit-bundle > bundle.json
    python3 tools/verify_audit_bundle.py bundle.json [--digest-position N --digest-hash H]

For every event of the initiative, it recomputes the chain link from the event exactly as it
was stored (position, aggregate id, version, topic, stored bytes) and the previous link, and
checks the versions run 1, 2, 3… without a gap. With a digest you kept (from
GET /api/v1/audit/digest) whose position is one of the bundle's, it also checks that link.
Exit status: 0 verified, 1 tampered, 2 unreadable bundle.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys


def link_hash(
    previous: str, position: int, originator_id: str, version: int, topic: str, state: bytes
) -> str:
    digest = hashlib.sha256(previous.encode("ascii"))
    for part in (str(position), str(originator_id), str(version), topic):
        data = part.encode("utf-8")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    digest.update(len(state).to_bytes(8, "big"))
    digest.update(state)
    return digest.hexdigest()


def verify(bundle: dict, digest_position: int | None, digest_hash: str | None) -> list[str]:
    problems = []
    expected_version = 1
    links = {}
    for event in bundle["events"]:
        stored = event["stored"]
        recomputed = link_hash(
            event["previous_link"],
            stored["position"],
            stored["originator_id"],
            stored["version"],
            stored["topic"],
            base64.b64decode(stored["state"]),
        )
        if recomputed != event["link"]:
            problems.append(f"position {stored['position']}: the event does not match its link")
        if stored["version"] != expected_version:
            problems.append(
                f"position {stored['position']}: version {stored['version']}, "
                f"expected {expected_version}"
            )
        expected_version = stored["version"] + 1
        links[stored["position"]] = event["link"]
    if digest_position is not None and digest_hash is not None:
        if digest_position not in links:
            problems.append(
                f"the digest position {digest_position} is not an event of this initiative"
            )
        elif links[digest_position] != digest_hash:
            problems.append(f"position {digest_position}: the link differs from your digest")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("--digest-position", type=int)
    parser.add_argument("--digest-hash")
    args = parser.parse_args()
    try:
        with open(args.bundle, encoding="utf-8") as handle:
            bundle = json.load(handle)
        problems = verify(bundle, args.digest_position, args.digest_hash)
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"cannot read the bundle: {error}", file=sys.stderr)
        return 2
    if problems:
        print("TAMPERED")
        for problem in problems:
            print(f"  {problem}")
        return 1
    print(f"OK: {len(bundle['events'])} events of initiative {bundle['initiative_id']} verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
