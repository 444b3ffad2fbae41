"""`twinning shred-expired-participants`: the projector's retention run, at once."""

from __future__ import annotations

import click

from service.infrastructure.retention import describe, expire


@click.command("shred-expired-participants")
def shred_expired_participants() -> None:
    """Shred the participants of every activity that ended more than
    TWINNING_PARTICIPANT_RETENTION ago (the projector does it every 10 minutes by itself).

    Counts, attendance, certifications and the audit chain stay. Safe to run any time,
    beside the projector too.
    """
    from service.cli import load_settings, open_runtime

    settings = load_settings()
    rt = open_runtime(settings)
    try:
        done = expire(rt, rt.now())
    finally:
        rt.close()
    click.echo(
        f"twinning: {len(done)} activities past the retention of "
        f"{describe(settings.participant_retention)}: {sum(done.values())} participants shredded"
    )
