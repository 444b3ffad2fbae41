"""Mutation testing of the rules that matter: `make mutate`.

Runs mutmut over the domain and the rule-bearing read-side modules (the initiative view, the
queries, the audit chain and the projector's wait for read-your-writes) against the fast
suites, as pyproject's [tool.mutmut] configures, then writes docs/MUTATION.md: the score of
each module and every mutant that survived, with its diff and either why it changes nothing
observable (tools/equivalent_mutants.toml) or a mark that a test is missing. Exits 1 when the
score is under the target or a survivor is unexplained.

    python tools/mutate.py                        # a fresh run over the whole scope, and report
    python tools/mutate.py 'domain.initiative.*'  # rerun the mutants these globs name, and report
    python tools/mutate.py --report               # report on the last run
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTMUT = Path(sys.executable).parent / "mutmut"
REPORT = ROOT / "docs" / "MUTATION.md"
EQUIVALENTS = ROOT / "tools" / "equivalent_mutants.toml"
FULL_RUN = ROOT / "mutants" / "twinning-full-run.json"  # when the last whole run was made
TARGET = 90.0

# What is mutated: mutmut names a mutant `module.function__mutmut_N` (methods `xǁClassǁname`).
SCOPE = (
    "domain.*",
    "projections.initiatives.*",
    "projections.queries.*",
    "projections.chain.*",
    "projections.runner.xǁProjectorǁwait__mutmut_*",
)
KILLED = {"killed", "timeout", "caught by type check"}


@dataclass(frozen=True)
class Mutant:
    name: str
    status: str

    @property
    def module(self) -> str:
        return re.split(r"\.x[_ǁ]", self.name, maxsplit=1)[0]


def in_scope(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in SCOPE)


def mutmut(*args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    # Fewer random walks of the stateful test: it runs for every domain mutant that the unit
    # tests let through, and the permission table already covers each cell.
    env = {**os.environ, "MUTATION_TESTING": "1", "TWINNING_STATEFUL_EXAMPLES": "15"}
    return subprocess.run(
        [str(MUTMUT), *args], cwd=ROOT, env=env, text=True, capture_output=capture, check=False
    )


def results() -> list[Mutant]:
    listing = mutmut("results", "--all", "true", capture=True)
    mutants = []
    for line in listing.stdout.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and in_scope(name):
            mutants.append(Mutant(name, status))
    return mutants


def diff(name: str) -> str:
    shown = mutmut("show", name, capture=True).stdout
    return "\n".join(line for line in shown.splitlines()[1:] if line.strip()).strip()


def mutated_lines(patch: str) -> str:
    return "\n".join(
        line[1:].strip()
        for line in patch.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    )


def unmutated_functions() -> list[str]:
    """Functions mutmut leaves alone: it does not mutate decorated ones (the `@event` methods
    that apply events), as its trampolines cannot wrap them."""
    names = []
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    for pattern in config["only_mutate"]:
        for path in sorted(ROOT.glob(pattern)):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                decorators = [ast.unparse(d) for d in node.decorator_list]
                if decorators and not set(decorators) <= {"staticmethod", "classmethod"}:
                    names.append(f"{path.relative_to(ROOT)}: {node.name} (@{decorators[0]})")
    return names


def tried(counts: Counter[str]) -> int:
    return sum(counts.values()) - counts["skipped"] - counts["not checked"]


def score(counts: Counter[str], equivalent: int = 0) -> float:
    killed = sum(counts[s] for s in KILLED) + equivalent
    return 100.0 * killed / tried(counts) if tried(counts) else 0.0


def revision() -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True, capture_output=True
    ).stdout.strip()


def write_report(mutants: list[Mutant]) -> bool:
    equivalents: dict[str, dict[str, str]] = tomllib.loads(EQUIVALENTS.read_text())["mutants"]
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for mutant in mutants:
        by_module[mutant.module][mutant.status] += 1
    total: Counter[str] = sum(by_module.values(), Counter())
    survivors = [m for m in mutants if m.status not in KILLED | {"skipped", "not checked"}]
    explained, missing, stale = [], [], []
    for mutant in survivors:
        patch = diff(mutant.name)
        known = equivalents.get(mutant.name)
        if known and mutated_lines(patch) == known["mutated"].strip():
            explained.append((mutant, patch, known["reason"]))
        else:
            if known:
                stale.append(mutant.name)
            missing.append((mutant, patch))
    equivalent_score = score(total, equivalent=len(explained))

    full = json.loads(FULL_RUN.read_text()) if FULL_RUN.exists() else {}
    when = (
        f"The last whole run took {full['seconds'] / 60:.0f} minutes on this machine "
        f"(revision `{full['revision']}`, {full['at']})"
        if full
        else "No whole run is recorded"
    )
    lines = [
        "# Mutation testing",
        "",
        "`make mutate` mutates the rules that matter one small change at a time (mutmut "
        f"{version('mutmut')}) and runs against each mutant the suites that state those rules "
        "(pyproject's `[tool.mutmut]`): unit, application, projections and the service's "
        "initiative, read-view, paging, query, audit and auth suites, on SQLite, with PostgreSQL "
        "for the domain's own SQL and the queries' edge cases (real processes and fuzzing stay "
        "in `make test`). A mutant that no test notices is a bug the suite would let through. "
        "This page is written by `tools/mutate.py`; refresh it when the rules change.",
        "",
        f"Scope: {', '.join(f'`{p}`' for p in SCOPE)}.",
        "",
        f"Report of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on revision `{revision()}`. {when}; "
        "mutants named since were run again on the revision of this report.",
        "",
        f"**Score: {score(total):.1f}% of the mutants killed** (target {TARGET:.0f}%); "
        f"{equivalent_score:.1f}% counting the {len(explained)} survivors shown to be "
        f"equivalent below. Survivors without an explanation: {len(missing)}.",
        "",
        "| module | mutants | killed | survived | no tests | timeout | score |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for module, counts in sorted(by_module.items()):
        lines.append(
            f"| `{module}` | {sum(counts.values())} | {counts['killed']} | {counts['survived']} "
            f"| {counts['no tests']} | {counts['timeout']} | {score(counts):.1f}% |"
        )
    lines.append(
        f"| all | {sum(total.values())} | {total['killed']} | {total['survived']} "
        f"| {total['no tests']} | {total['timeout']} | {score(total):.1f}% |"
    )
    lines += ["", "## Survivors that need a test", ""]
    if not missing:
        lines.append("None.")
    for mutant, patch in missing:
        lines += [f"### `{mutant.name}` ({mutant.status})", "", "```diff", patch, "```", ""]
    lines += ["", "## Equivalent mutants", ""]
    lines.append(
        "Each changes nothing a caller can observe; the reason is kept in "
        "`tools/equivalent_mutants.toml` with the mutated line, so a reason cannot outlive "
        "the mutation it explains."
    )
    lines.append("")
    for mutant, patch, reason in explained:
        lines += [f"### `{mutant.name}`", "", reason.strip(), "", "```diff", patch, "```", ""]
    lines += [
        "",
        "## Not mutated",
        "",
        "mutmut does not mutate decorated functions. Here that is the methods that apply an "
        "event to an aggregate (`@event`), which hold no decisions: the guards run before the "
        "event. Their effects are checked by the tests that read state after each command.",
        "",
        *(f"- {name}" for name in unmutated_functions()),
        "",
    ]
    REPORT.write_text("\n".join(lines))
    print(f"score {score(total):.1f}% ({sum(total.values())} mutants), {len(missing)} unexplained")
    for name in stale:
        print(f"stale entry in {EQUIVALENTS.name}: {name} no longer mutates the line it names")
    return score(total) >= TARGET and not missing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mutants", nargs="*", help="globs of mutant names to run again")
    parser.add_argument("--report", action="store_true", help="only write the report")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    options = parser.parse_args()
    if not options.report:
        started = time.monotonic()
        if not options.mutants:
            shutil.rmtree(ROOT / "mutants", ignore_errors=True)
        names = options.mutants or list(SCOPE)
        run = mutmut("run", "--max-children", str(options.max_children), *names)
        if run.returncode:
            print(f"mutmut run failed ({run.returncode})", file=sys.stderr)
            return run.returncode
        if not options.mutants:  # a partial run's time says nothing of the whole
            seconds = time.monotonic() - started
            moment = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
            FULL_RUN.write_text(
                json.dumps({"seconds": seconds, "revision": revision(), "at": moment})
            )
    return 0 if write_report(results()) else 1


if __name__ == "__main__":
    sys.exit(main())
