"""The reliability summary: suites record how many cases they tried; at the end of a run that
included every suite, the table in the README between the markers is rewritten from them
(suite, cases tried, failures). Works under pytest-xdist: workers write records to files, the
controller adds them up."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORDS = ROOT / ".pytest-reliability"
README = ROOT / "README.md"
START, END = "<!-- reliability:start -->", "<!-- reliability:end -->"

# module -> the suite's name in the table
SUITES = {
    "test_fuzz": "Fuzzing (schemathesis, 4 roles)",
    "test_authorization_matrix": "Authorization matrix (endpoint x caller cells)",
    "test_torture": "Concurrency torture (32 clients; edits, merges, amendments)",
    "test_database_restart": "PostgreSQL restart under load (commands)",
    "test_projector_failover": "Projector failover under load (events)",
    "test_projector_crash": "Projector kill -9 mid-batch (kills)",
    "test_worker_crash": "gunicorn worker kill -9 under load (commands)",
    "test_hostile_input": "Hostile input (requests)",
    "test_credentials": "Credentials (checks)",
}


def record(module: str, tried: int) -> None:
    """Adds `tried` cases to the suite of `module` (its __name__ or file)."""
    name = Path(module).name
    name = name.removesuffix(".py") if name.endswith(".py") else name.rsplit(".", 1)[-1]
    RECORDS.mkdir(exist_ok=True)
    with (RECORDS / f"{os.getpid()}.jsonl").open("a") as out:
        out.write(json.dumps({"suite": name, "tried": tried}) + "\n")


def reset() -> None:
    shutil.rmtree(RECORDS, ignore_errors=True)


def write(failures: Counter[str], ran: set[str]) -> str | None:
    """The table, written into the README when every suite ran; returned either way."""
    tried: Counter[str] = Counter()
    for file in RECORDS.glob("*.jsonl"):
        for line in file.read_text().splitlines():
            item = json.loads(line)
            tried[item["suite"]] += item["tried"]
    if not tried:
        return None
    lines = ["| suite | cases tried | failures |", "|---|---:|---:|"]
    for module, title in SUITES.items():
        if module in ran:
            lines.append(f"| {title} | {tried[module]:,} | {failures[module]} |")
    table = "\n".join(lines)
    if set(SUITES) <= ran and README.exists():
        text = README.read_text()
        if START in text and END in text:
            before, rest = text.split(START, 1)
            _, after = rest.split(END, 1)
            README.write_text(f"{before}{START}\n{table}\n{END}{after}")
    reset()
    return table
