"""The application class: Flask's coroutine check asked once per function, not per call."""

from __future__ import annotations

from flask import Flask

from service.app import TwinningFlask


def test_plain_functions_and_methods_come_back_as_they_are() -> None:
    app = TwinningFlask(__name__)

    def hook() -> None:
        pass

    class View:
        def get(self) -> str:
            return "ok"

    view = View()
    assert app.ensure_sync(hook) is hook
    assert app.ensure_sync(hook) is hook  # from the memo
    bound = view.get
    assert app.ensure_sync(bound) is bound  # a bound method is kept by its function
    assert app.ensure_sync(View().get)() == "ok"
    assert set(app._sync) == {hook, View.get}


def test_coroutine_functions_are_still_run_through_async_to_sync() -> None:
    app = TwinningFlask(__name__)
    seen: list[object] = []
    app.async_to_sync = lambda func: seen.append(func) or (lambda: "ran")  # type: ignore[method-assign]

    async def hook() -> None:
        pass

    for _ in range(2):  # first asked, then from the memo: both times wrapped
        assert app.ensure_sync(hook)() == "ran"
    assert seen == [hook, hook]


def test_the_memo_is_bounded() -> None:
    app = TwinningFlask(__name__)
    app.SYNC_MEMO_SIZE = 3
    made = [lambda: None for _ in range(10)]  # callables made on the fly
    for func in made:
        assert app.ensure_sync(func) is func
    assert len(app._sync) == 3


def test_the_service_is_built_on_it(app: Flask) -> None:
    assert isinstance(app, TwinningFlask)
    assert app.test_client().get("/healthz").status_code == 200
