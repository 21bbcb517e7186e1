"""The Track baseline: a bare Flask handler answering 204, served like the real API.

``make bench`` runs it with the API's own ``gunicorn.conf.py`` (gevent workers, same
worker count), so the ratio API / baseline measures what hitcount adds to Flask.
"""

from flask import Flask

app = Flask(__name__)


@app.post("/analytics")
def track() -> tuple[str, int]:
    return "", 204
