"""ASGI wrappers for bench/pages.py: time each request inside the server process.

`uvicorn --factory bench._timed:fieldpace` serves the real app (server.asgi) and
`uvicorn --factory bench._timed:hello` the bare hello-world of bench/_hello.py. Each request's time, from
the server handing it to the app until the app's last body chunk, is kept in memory; GET /__bench/timings
returns them as JSON and clears the list. Nothing here changes the app: it only wraps it.

Not a benchmark by itself: `python bench/_timed.py` does nothing.
"""

from __future__ import annotations

import json
import time

TIMINGS_PATH = "/__bench/timings"


def _wrap(app):
    timings: list[list] = []

    async def timed(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        if scope["path"] == TIMINGS_PATH:
            body = json.dumps(timings).encode()
            timings.clear()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return None
        started = time.perf_counter()
        path = scope["path"]

        async def timed_send(message):
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                timings.append([path, (time.perf_counter() - started) * 1000.0])

        return await app(scope, receive, timed_send)

    return timed


def fieldpace():
    from server.asgi import app

    return _wrap(app)


def hello():
    from bench._hello import app

    return _wrap(app)


if __name__ == "__main__":
    print("bench/_timed.py is a helper of bench/pages.py; nothing to run.")
