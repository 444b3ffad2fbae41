"""Read-your-writes waits: how soon the projector's wait answers once every view has caught
up, that it polls its tracking positions sparingly, and that it keeps to its timeout."""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa

from projections.runner import Projector


class Watched(Projector):
    """A projector whose views stand where the test puts them, counting each look."""

    def __init__(self, positions: dict[str, int]) -> None:
        super().__init__(app=None, engine=sa.create_engine("sqlite://"))  # type: ignore[arg-type]
        self.current = dict(positions)
        self.looks = 0

    def positions(self) -> dict[str, int]:
        self.looks += 1
        return dict(self.current)

    def reach(self, position: int, after: float) -> None:
        def advance() -> None:
            self.current = dict.fromkeys(self.current, position)

        timer = threading.Timer(after, advance)
        timer.daemon = True
        timer.start()


def timed(projector: Watched, position: int, timeout: float) -> tuple[bool, float]:
    started = time.monotonic()
    answer = projector.wait(position, timeout)
    return answer, time.monotonic() - started


def test_a_view_already_there_is_answered_at_once() -> None:
    projector = Watched({"initiatives": 5, "audit": 7})
    assert timed(projector, 5, 2.0)[0] is True
    assert projector.looks == 1


def test_the_wait_answers_soon_after_the_last_view_catches_up() -> None:
    # Polls start at 10 ms and double to at most 200 ms: an answer is never much later.
    for after in (0.3, 1.3):
        projector = Watched({"initiatives": 0, "audit": 0})
        projector.reach(3, after)
        answered, elapsed = timed(projector, 3, 5.0)
        assert answered is True
        assert after <= elapsed < after + 0.45, (after, elapsed)


def test_the_wait_polls_sparingly_and_gives_up_at_its_timeout() -> None:
    projector = Watched({"initiatives": 0, "audit": 9})
    answered, elapsed = timed(projector, 9, 1.0)
    assert answered is False
    assert 1.0 <= elapsed < 1.5
    # 10, 20, 40, 80, 160 ms, then every 200 ms: about ten looks a second, not a busy loop.
    assert 6 <= projector.looks <= 14


def test_a_timeout_of_nothing_looks_once() -> None:
    projector = Watched({"initiatives": 0})
    assert timed(projector, 1, 0.0)[0] is False
    assert projector.looks == 1
