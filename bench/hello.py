"""The yardstick for reads: a hello-world Flask endpoint, served by the same gunicorn
configuration as the service (bench/gunicorn_hello.conf.py)."""

from flask import Flask

app = Flask(__name__)


@app.get("/hello")
def hello() -> dict[str, str]:
    return {"hello": "world"}
