"""The audit hash chain: each link hashes one stored event, exactly as stored, with the
previous link. Standard library only, so that auditors can check it anywhere."""

from __future__ import annotations

import hashlib

CHAIN_START = "0" * 64


def link_hash(
    previous: str, position: int, originator_id: str, version: int, topic: str, state: bytes
) -> str:
    """sha256 over the previous link and the event's position, aggregate id, version, topic
    and stored state bytes, each length-prefixed so no two events can run together."""
    # One buffer, one hash call: the same bytes as hashing part by part, with less overhead.
    p, o, v, t = (
        str(position).encode(),
        originator_id.encode(),
        str(version).encode(),
        topic.encode(),
    )
    return hashlib.sha256(
        b"".join(
            (
                previous.encode("ascii"),
                len(p).to_bytes(8, "big"),
                p,
                len(o).to_bytes(8, "big"),
                o,
                len(v).to_bytes(8, "big"),
                v,
                len(t).to_bytes(8, "big"),
                t,
                len(state).to_bytes(8, "big"),
                state,
            )
        )
    ).hexdigest()
