"""A local push service for bench/alerts.py: answers every POST with 201 and counts them (aiohttp).

    python bench/_push_receiver.py PORT
GET /count answers the number of pushes received.
"""

from __future__ import annotations

import sys

from aiohttp import web

received = 0


async def push(request: web.Request) -> web.Response:
    global received
    await request.read()
    received += 1
    return web.Response(status=201)


async def count(request: web.Request) -> web.Response:
    return web.json_response({"count": received})


app = web.Application()
app.router.add_post("/{tail:.*}", push)
app.router.add_get("/count", count)

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
