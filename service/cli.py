"""The twinning command line: serve, create-admin."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import click

from domain.errors import DuplicateEmail, InvalidFields
from service.config import ConfigError, Settings
from service.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as error:
        click.echo(f"twinning: configuration error: {error}", err=True)
        sys.exit(2)


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
    if len(password) < 12:
        raise click.BadParameter("must have at least 12 characters", param_hint="--password")
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
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    default=lambda: int(os.environ.get("PORT", "8000")),
    type=int,
    help="Default: $PORT or 8000.",
)
@click.option("--workers", default=None, type=int, help="Default: TWINNING_WORKERS or 2.")
def serve(host: str, port: int, workers: int | None) -> None:
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
    process = subprocess.Popen(command, env=env)

    def forward(signum: int, _frame: object) -> None:
        process.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    sys.exit(process.wait())


if __name__ == "__main__":
    main()
