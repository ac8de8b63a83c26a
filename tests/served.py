"""The app served over real HTTP on a free loopback port, in a thread of the test process.

A real server rather than an in-process ASGI call, so that a client sees what any client
sees (HTTP framing, raw bytes, the server's own answers) and reaches the app by a base
URL and headers only; and so that requests sent at once are handled at once (the test
client's transport handles one at a time), for the tests of races. Uvicorn
rather than Granian: it runs in a thread, so the app's errors land in pytest's captured
log next to the failing case, and the app is built from test settings, not the
environment.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from litestar import Litestar

STARTUP_TIMEOUT_SECONDS = 30.0


@contextmanager
def serving(app: Litestar) -> Iterator[str]:
    """Serve `app` until the block ends; yields its base URL, e.g. http://127.0.0.1:41234."""
    # Bound before the server starts and handed to it: no window in which another
    # process could take a port picked as free.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port: int = listener.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan="on",  # the app's engine, cache and job queue start and stop with it
        log_level="warning",
        access_log=False,  # the app logs its own requests (webapp/web/logging.py)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="test-server", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the test server stopped during start-up (see the log)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the test server did not start in {STARTUP_TIMEOUT_SECONDS} s")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_TIMEOUT_SECONDS)
        listener.close()
