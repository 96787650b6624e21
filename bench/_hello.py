"""The floor for bench/pages.py: a bare Litestar hello-world, served by uvicorn exactly like the app.

Not a benchmark by itself: `python bench/_hello.py` does nothing. bench/pages.py serves it with
`uvicorn bench._hello:app` and measures it the same way as the real pages.
"""

from litestar import Litestar, get


@get("/", sync_to_thread=False)
def hello() -> str:
    return "Hello, world!"


app = Litestar(route_handlers=[hello], openapi_config=None)


if __name__ == "__main__":
    print("bench/_hello.py is a helper of bench/pages.py; nothing to run.")
