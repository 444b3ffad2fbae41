"""A/B: the service of another revision against this tree's, on one database, rounds
alternated (A B B A ...), so that a slow moment of the shared machine weighs on both.

    .venv/bin/python -m bench.ab --base HEAD~1 [--rounds 2] [--seconds 12] [--reads] [--lag]
                                 [--sqlite] [--separate-stores]
                                 [--base-settings K=V,...] [--settings K=V,...]

Each round starts gunicorn (`deploy/gunicorn.conf.py`, the suite's workers and threads) from
one tree, runs the 16-client command load of `bench.service_suite` against it (and, with
`--reads`, wrk on one initiative and on the list, the projector keeping the views), and reads
the API workers' CPU from `/proc` inside the load. With `--lag`, each round also runs that
tree's projector under a steady 200 commands/s and measures the acknowledgement-to-list-view
lag (p50 and p99). The clients are always this tree's. The
other revision is checked out in a temporary git worktree, removed at the end.

`--separate-stores` gives each side a store of its own, set up and loaded by its own tree:
for a revision that changes how events are stored (a base that cannot read this tree's
events, such as the sealing of personal data).

`--base-settings` and `--settings` give each side service settings of its own, as
`name=value` pairs for the `TWINNING_*` variables (both sides start from the suite's
configuration, `bench.service_suite.WORKERS` x `THREADS`): with `--base HEAD` they compare
two configurations of one revision, such as
`--base-settings workers=4,threads=4 --settings workers=2,threads=8`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

import psycopg

from bench.__main__ import PG_URL
from bench.processes import (
    ADMIN,
    PASSWORD,
    ROOT,
    Client,
    Gunicorn,
    Process,
    cpu_seconds,
    service_env,
)
from bench.service_suite import (
    CLIENTS,
    THREADS,
    WORKERS,
    Team,
    lag_samples,
    make_team,
    percentile,
    run_clients,
    wrk_rate,
)


def start(tree: Path, env: dict[str, str], folder: Path) -> Gunicorn:
    """gunicorn serving `tree`'s service (its own directory first on the path)."""
    return Gunicorn(
        {**env, "PYTHONPATH": str(tree)},
        folder,
        config=tree / "deploy" / "gunicorn.conf.py",
        cwd=tree,
    )


def settings(pairs: str) -> dict[str, str]:
    """`workers=2,threads=8` as the environment it stands for (TWINNING_WORKERS=2, ...)."""
    env: dict[str, str] = {}
    for pair in filter(None, pairs.split(",")):
        name, equals, value = pair.partition("=")
        if not equals or not name.strip():
            raise SystemExit(f"bench.ab: a setting is name=value, not {pair!r}")
        env[f"TWINNING_{name.strip().upper()}"] = value.strip()
    return env


def admin_token(server: Gunicorn) -> str:
    answer, _ = Client(server.base).ok(
        "POST", "/api/v1/auth/tokens", {"email": ADMIN, "password": PASSWORD}
    )
    return str(answer["token"])


def commands(
    server: Gunicorn, env: dict[str, str], team: Team, seconds: float
) -> tuple[float, float]:
    """Commands/s over the round, and the workers' CPU per command inside the load (from
    samples of their CPU time, between 2 s after the first command and 2 s before the last)."""
    pids = server.worker_pids()
    samples: list[tuple[float, float]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append((time.monotonic(), sum(cpu_seconds(p) for p in pids)))
            time.sleep(0.25)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        records = run_clients("http", server.base, env, team, seconds)
    finally:
        done.set()
        sampler.join()
    first = min(sent for _, sent, _, _ in records) + 2
    last = max(acknowledged for _, _, acknowledged, _ in records) - 2
    inside = [(t, c) for t, c in samples if first <= t <= last]
    if len(inside) < 2:
        return len(records) / seconds, float("nan")
    (t0, c0), (t1, c1) = inside[0], inside[-1]
    count = sum(1 for _, _, acknowledged, _ in records if t0 <= acknowledged <= t1)
    return len(records) / seconds, 1000 * (c1 - c0) / count if count else float("nan")


def wait_for_the_list(server: Gunicorn, count: int = 1, timeout: float = 120) -> None:
    """Until the projector has put `count` initiatives in the list view."""
    token = admin_token(server)
    deadline = time.monotonic() + timeout
    page = f"/api/v1/initiatives?limit={count}"
    while len(Client(server.base, token).ok("GET", page)[0]["items"]) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("the projector did not fill the list view")
        time.sleep(0.5)


def reads(server: Gunicorn, seconds: float) -> tuple[float, float]:
    token = admin_token(server)
    page, _ = Client(server.base, token).ok("GET", "/api/v1/initiatives?limit=50")
    one = f"{server.base}/api/v1/initiatives/{page['items'][0]['id']}"
    listing = f"{server.base}/api/v1/initiatives?limit=50"
    wrk_rate(one, token, 2)  # warm the caches
    return wrk_rate(one, token, seconds), wrk_rate(listing, token, seconds)


def lag(
    server: Gunicorn, tree: Path, env: dict[str, str], team: Team, folder: Path, seconds: float
) -> tuple[float, float]:
    """p50 and p99 (ms) from acknowledgement to the list view at 200 commands/s, with the
    projector of `tree`."""
    projector = Process(
        [sys.executable, "-m", "service.cli", "project"],
        {**env, "PYTHONPATH": str(tree)},
        folder / "projector.log",
        cwd=tree,
    )
    try:
        lags, _ = lag_samples(server, env, team, 200.0, seconds)
    finally:
        projector.stop()
    return 1000 * percentile(lags["ack"], 0.5), 1000 * percentile(lags["ack"], 0.99)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ab")
    parser.add_argument("--base", required=True, help="the revision to compare against")
    parser.add_argument("--rounds", type=int, default=2, help="A B B A rounds (default 2)")
    parser.add_argument("--seconds", type=float, default=12, help="per measurement")
    parser.add_argument("--reads", action="store_true", help="wrk on one initiative and list")
    parser.add_argument("--lag", action="store_true", help="projection lag at 200 commands/s")
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument(
        "--separate-stores",
        action="store_true",
        help="a store per side, set up by its own tree (a change of stored format)",
    )
    parser.add_argument("--base-settings", default="", help="the base side's settings: k=v,...")
    parser.add_argument("--settings", default="", help="this tree's settings: k=v,...")
    args = parser.parse_args()
    side_env = {"base": settings(args.base_settings), "this": settings(args.settings)}
    folder = Path(tempfile.mkdtemp(prefix="twinning-ab-"))
    base_tree = folder / "base"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base_tree), args.base],
        check=True,
        capture_output=True,
    )
    sides = ("base", "this") if args.separate_stores else ("this",)
    schemas = {side: f"bench_{uuid.uuid4().hex[:12]}" for side in sides}
    trees = {"base": base_tree, "this": ROOT}
    envs: dict[str, dict[str, str]] = {}
    for side in sides:
        if args.sqlite:
            database = {
                "TWINNING_DATA_DIR": str(folder / f"var-{side}"),
                "TWINNING_DATABASE_URL": "",
            }
        else:
            database = {"TWINNING_DATABASE_URL": PG_URL, "TWINNING_DATABASE_SCHEMA": schemas[side]}
        envs[side] = service_env(
            database, workers=str(WORKERS), threads=str(THREADS), log_level="WARNING"
        )
    if not args.separate_stores:
        envs["base"] = envs["this"]
    projectors: list[Process] = []
    figures: dict[str, list[float]] = defaultdict(list)
    finished = False
    teams: dict[str, Team] = {}
    try:
        for side in sides:
            tree = trees[side]
            cli = [sys.executable, "-m", "service.cli"]
            tree_env = {**envs[side], "PYTHONPATH": str(tree)}
            subprocess.run([*cli, "init"], env=tree_env, cwd=tree, check=True, capture_output=True)
            server = start(tree, envs[side], folder)
            try:
                teams[side] = make_team(server.base, CLIENTS)
                if args.reads:  # initiatives for the views, projected
                    log = folder / f"projector-{side}.log"
                    projectors.append(Process([*cli, "project"], tree_env, log, cwd=tree))
                    run_clients(
                        "http", server.base, envs[side], teams[side], max(12.0, args.seconds)
                    )
                    wait_for_the_list(server)
            finally:
                server.stop()
        if not args.separate_stores:
            teams["base"] = teams["this"]
        for n in range(args.rounds):
            order = (
                ("base", "this", "this", "base") if n % 2 == 0 else ("this", "base", "base", "this")
            )
            for name in order:
                env, team = envs[name], teams[name]
                server = start(trees[name], {**env, **side_env[name]}, folder)
                try:
                    if args.reads:
                        one, listing = reads(server, args.seconds / 2)
                        figures[f"{name} one"].append(one)
                        figures[f"{name} list"].append(listing)
                    rate, per_command = commands(server, env, team, args.seconds)
                    figures[f"{name} commands"].append(rate)
                    figures[f"{name} cpu"].append(per_command)
                    print(f"{name}: {rate:,.0f} commands/s, workers {per_command:.2f} ms a command")
                    if args.lag:
                        tree = base_tree if name == "base" else ROOT
                        p50, p99 = lag(server, tree, env, team, folder, args.seconds)
                        figures[f"{name} lag p50"].append(p50)
                        figures[f"{name} lag p99"].append(p99)
                finally:
                    server.stop()
        measured = [("commands", "/s"), ("cpu", " ms"), ("one", "/s"), ("list", "/s")]
        for what, unit in [*measured, ("lag p50", " ms"), ("lag p99", " ms")]:
            if figures[f"this {what}"]:
                base = statistics.mean(figures[f"base {what}"])
                this = statistics.mean(figures[f"this {what}"])
                print(
                    f"{what}: {args.base} {base:,.2f}{unit}, this tree {this:,.2f}{unit}: "
                    f"{this / base:.3f}x"
                )
        finished = True
    finally:
        for projector in projectors:
            projector.stop()
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_tree)],
            capture_output=True,
        )
        if not args.sqlite:
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                for schema in schemas.values():
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        if finished:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            print(f"the servers' logs are kept in {folder}", file=sys.stderr)


if __name__ == "__main__":
    main()
