"""The service's chain links and the offline script's are the same function."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from projections.chain import CHAIN_START, link_hash


def test_the_offline_script_computes_the_same_links() -> None:
    path = Path(__file__).resolve().parents[2] / "tools" / "verify_audit_bundle.py"
    spec = importlib.util.spec_from_file_location("verify_audit_bundle", path)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    previous = CHAIN_START
    for n in range(200):
        args = (
            n + 1,
            f"3fa85f64-5717-4562-b3fc-{n:012d}",
            n % 9 + 1,
            "domain.x:Y.Z",
            os.urandom(n * 5),
        )
        ours = link_hash(previous, *args)
        assert ours == script.link_hash(previous, *args)
        previous = ours


def test_every_part_of_an_event_changes_its_link() -> None:
    base = ("0" * 64, 7, "id", 2, "topic", b"state")
    link = link_hash(*base)
    for index, other in enumerate(("1" * 64, 8, "id2", 3, "topic2", b"state2")):
        changed = list(base)
        changed[index] = other
        assert link_hash(*changed) != link
    # Length prefixes: moving bytes from one part to the next changes the link.
    assert link_hash("0" * 64, 7, "id", 2, "topicA", b"B") != link_hash(
        "0" * 64, 7, "id", 2, "topic", b"AB"
    )
