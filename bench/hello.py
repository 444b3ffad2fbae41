"""The yardsticks for reads, served by the same gunicorn configuration as the service
(bench/gunicorn_hello.conf.py):

- `/hello`: a hello-world Flask endpoint;
- `/hello/checked`: the same, after the one statement every authenticated request of the
  service must make (the bearer token looked up with the event store's head, through the
  service's own read check, `ReadCache.check_token`): what a read can reach when it does
  nothing else.
"""

from flask import Flask, request

from service.config import Settings
from service.infrastructure.credentials import token_digest
from service.infrastructure.runtime import Runtime

app = Flask(__name__)
# Built when a worker imports this module: after the fork, as the service's workers build
# theirs (preload is off), and before the worker serves its first request.
runtime = Runtime(Settings.from_env())


@app.get("/hello")
def hello() -> dict[str, str]:
    return {"hello": "world"}


@app.get("/hello/checked")
def checked() -> tuple[dict[str, str], int]:
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    check = runtime.read_cache.check_token(token_digest(token), runtime.now())
    if check.account_id is None:
        return {"error": "unknown token"}, 401
    return {"hello": "world"}, 200
