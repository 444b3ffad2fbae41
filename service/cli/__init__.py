"""The twinning command line: serve, project, rebuild, init, create-admin, demo, audit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from domain.errors import DuplicateEmail, InvalidFields
from projections.registry import VIEW_BY_NAME
from service.config import ConfigError, Settings
from service.infrastructure.observability import configure_logging
from service.infrastructure.passwords import password_problems
from service.infrastructure.retention import RetentionChore
from service.infrastructure.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]


def load_settings() -> Settings:
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        click.echo(f"twinning: configuration error: {error}", err=True)
        sys.exit(2)
    configure_logging(settings.log_level, settings.log_format)
    return settings


def open_runtime(settings: Settings) -> Runtime:
    """Opens the databases, or stops with one line saying which one failed and why."""
    try:
        return Runtime(settings)
    except Exception as error:  # any failure here is the database's: say so, in one line
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        click.echo(
            f"twinning: cannot open the database {settings.database.describe()}: {reason}",
            err=True,
        )
        sys.exit(2)


@click.group()
def main() -> None:
    """Twinning initiatives: an event-sourced workflow service for town-twinning networks."""


@main.command("create-admin")
@click.option("--email", required=True, help="The admin's email address.")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="At least 12 characters (prompted for when omitted).",
)
@click.option("--name", default="Administrator", show_default=True)
def create_admin(email: str, password: str, name: str) -> None:
    """Create an admin account in the platform organisation."""
    problems = password_problems(password, email)
    if problems:
        raise click.BadParameter(" ".join(problems), param_hint="--password")
    rt = open_runtime(load_settings())
    try:
        account_id = rt.create_admin(email, password, name)
    except DuplicateEmail:
        click.echo(f"twinning: an account with email {email} exists already", err=True)
        sys.exit(1)
    except InvalidFields as error:
        click.echo(f"twinning: invalid: {error.errors}", err=True)
        sys.exit(2)
    finally:
        rt.close()
    click.echo(f"admin account {account_id} created for {email}")


@main.command()
def init() -> None:
    """Create the tables and the bootstrap admin, then exit.

    Run once before starting API workers directly under gunicorn (containers, systemd,
    Kubernetes); `twinning serve` does it by itself. Safe to run again.
    """
    settings = load_settings()
    rt = open_runtime(settings)
    try:
        rt.bootstrap_admin()
    finally:
        rt.close()
    click.echo(f"twinning: {settings.database.describe()} is ready")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    default=lambda: int(os.environ.get("PORT", "8000")),
    type=int,
    help="Default: $PORT or 8000.",
)
@click.option("--workers", default=None, type=int, help="Default: TWINNING_WORKERS or 2.")
@click.option(
    "--projector/--no-projector",
    default=True,
    show_default=True,
    help="Also run one projector process beside the API.",
)
def serve(host: str, port: int, workers: int | None, projector: bool) -> None:
    """Run the API under gunicorn (the application is created in each worker)."""
    settings = load_settings()
    rt = open_runtime(settings)  # creates the tables and the admin once, before the workers
    try:
        rt.bootstrap_admin()
    finally:
        rt.close()
    click.echo(f"twinning: serving on http://{host}:{port} ({settings.database.describe()})")
    env = dict(os.environ, TWINNING_BIND=f"{host}:{port}")
    if workers:
        env["TWINNING_WORKERS"] = str(workers)
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(ROOT / "deploy" / "gunicorn.conf.py"),
        "service.wsgi:app",
    ]
    processes = [subprocess.Popen(command, env=env)]
    if projector:
        processes.append(subprocess.Popen([sys.executable, "-m", "service.cli", "project"]))

    def forward(signum: int, _frame: object) -> None:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    # When either process ends, stop the other: the pair runs together or not at all.
    while all(process.poll() is None for process in processes):
        time.sleep(0.2)
    forward(signal.SIGTERM, None)
    codes = [process.wait() for process in processes]
    sys.exit(next((code for code in codes if code), 0))


@main.command()
@click.option(
    "--password",
    default="twinning-demo-2026",
    show_default=True,
    help="The password of every demo account.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Load it into a store that already holds events (demo accounts beside real ones).",
)
def demo(password: str, force: bool) -> None:
    """Load a realistic sample network, accounts for every role and initiatives in every
    state (accounts are NAME@demo.twinning.eu). Refuses a store that already holds events
    unless --force."""
    from service.cli.demo import load

    if len(password) < 12:
        raise click.BadParameter("must have at least 12 characters", param_hint="--password")
    settings = load_settings()
    rt = open_runtime(settings)
    try:
        # Demo accounts share one published password: never mix them into a real store
        # by a slip of the hand.
        held = rt.projector.head()
        if held and not force:
            click.echo(
                f"twinning: {settings.database.describe()} already holds {held} events; "
                "the demo goes into an empty store (--force to load it anyway)",
                err=True,
            )
            sys.exit(1)
        counts = load(rt, password)
        rt.projector.catch_up()
    except RuntimeError as error:
        click.echo(f"twinning: {error}", err=True)
        sys.exit(1)
    finally:
        rt.close()
    click.echo(
        f"demo loaded: {counts['organisations']} organisations, {counts['accounts']} accounts, "
        f"{counts['initiatives']} initiatives; log in as giulia@demo.twinning.eu (partner), "
        "sofia@demo.twinning.eu (reviewer), karl@demo.twinning.eu (auditor) or "
        "admin@demo.twinning.eu (admin)"
    )


@main.command()
@click.option(
    "--poll-interval",
    default=0.1,
    show_default=True,
    type=float,
    help="Seconds between looks at the event store on SQLite.",
)
@click.option(
    "--view",
    "names",
    multiple=True,
    type=click.Choice(sorted(VIEW_BY_NAME)),
    help="Project only this view (repeat for several; default: every view).",
)
def project(poll_interval: float, names: tuple[str, ...]) -> None:
    """Run the projector: keep the read views up to date with the event store, and shred
    the participants whose retention has passed (every 10 minutes).

    On PostgreSQL several projectors may run for high availability: an advisory lock makes
    one active per view, and a standby takes over within seconds when it dies.
    """
    settings = load_settings()
    rt = open_runtime(settings)
    stop = threading.Event()

    def halt(_signum: int, _frame: object) -> None:
        stop.set()

    def changed(active: list[str]) -> None:
        click.echo(f"twinning: active for {', '.join(active) or 'no view (standing by)'}", err=True)

    signal.signal(signal.SIGTERM, halt)
    signal.signal(signal.SIGINT, halt)
    click.echo(f"twinning: projecting {settings.database.describe()}", err=True)
    views = [VIEW_BY_NAME[name] for name in names] or None
    try:
        rt.projector.run(
            stop,
            poll_interval=poll_interval,
            views=views,
            on_change=changed,
            chore=RetentionChore(rt),  # shreds participants whose retention has passed
        )
    finally:
        rt.close()


@main.command()
@click.argument("view", required=False, type=click.Choice(sorted(VIEW_BY_NAME)))
def rebuild(view: str | None) -> None:
    """Rebuild one read view (or all) into fresh tables, then swap them in.

    The API keeps serving the old tables until the swap.
    """
    rt = open_runtime(load_settings())
    names = [view] if view else sorted(VIEW_BY_NAME)
    label = ", ".join(names)
    try:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("events"),
            TimeElapsedColumn(),
        ) as bar:
            task = bar.add_task(label, total=max(1, rt.projector.head()))

            def progress(position: int, head: int) -> None:
                bar.update(task, completed=position, total=max(1, head))

            started = time.monotonic()
            position = rt.projector.rebuild([VIEW_BY_NAME[n] for n in names], progress)
            elapsed = time.monotonic() - started
        click.echo(f"{label}: rebuilt up to position {position} in {elapsed:.1f} s")
    finally:
        rt.close()


@main.group()
def audit() -> None:
    """Audit commands."""


@audit.command("verify")
@click.option("--position", type=int, default=None, help="Verify up to here (default: head).")
@click.option("--head-hash", default=None, help="The head hash of a digest kept outside.")
def audit_verify(position: int | None, head_hash: str | None) -> None:
    """Recompute the hash chain from the stored events; exit 1 when anything was altered."""
    from projections.queries import audit as audit_reads

    rt = open_runtime(load_settings())
    try:
        rt.projector.catch_up()
        with rt.engine.connect() as conn:
            head = audit_reads.digest(conn)
            position = head["position"] if position is None else position
            if position > head["position"]:
                click.echo(
                    f"twinning: the chain has reached position {head['position']}, not {position}",
                    err=True,
                )
                sys.exit(2)
            result = audit_reads.verify(rt.app, conn, position, head_hash)
    finally:
        rt.close()
    if result["ok"]:
        click.echo(
            f"OK: {result['checked']} events up to position {position} verified; "
            f"head hash {result['head_hash']}"
        )
        return
    if result["first_bad_position"] is not None:
        click.echo(
            f"TAMPERED: the stored event at position {result['first_bad_position']} no "
            f"longer matches the chain ({result['checked']} events before it verified)"
        )
    else:
        click.echo(
            f"TAMPERED: the stored events agree with each other but not with head hash "
            f"{head_hash} at position {position}"
        )
    sys.exit(1)


# Commands of their own modules (they use the helpers above).
from service.cli.keys import COMMANDS as KEY_COMMANDS  # noqa: E402

for command in KEY_COMMANDS:
    main.add_command(command)

from service.cli.migrate import migrate_personal_data  # noqa: E402 - registered with main

main.add_command(migrate_personal_data)

from service.cli.retention import shred_expired_participants  # noqa: E402 - registered with main

main.add_command(shred_expired_participants)
