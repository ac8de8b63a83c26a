"""Stand-ins for the app's replicas behind nginx, in the test process: HTTP servers whose
answers a test chooses, to see what the proxy does with each (tests/cluster/test_proxy.py).

- `/echo`: 200, JSON with the replica's name, the method and the headers it received;
- `/status/<code>`: that status, the replica's name as the body;
- `/break`: reads the request, then closes the connection without a word (a replica
  dying in the middle of it);
- `/events`: a `text/event-stream` whose next event is sent when the test says so.

A replica whose `breaks` is set closes every connection that way, whatever the path.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.faults.processes import reserved_port

EVENT_WAIT_SECONDS = 10.0


class Replica(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.name = f"127.0.0.1:{port}"
        self.seen: Counter[str] = Counter()  # "METHOD /path" -> requests received
        self.next_event = threading.Semaphore(0)
        self.breaks = False
        self.thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Granian
    server: Replica

    def log_message(self, format: str, *args: object) -> None:
        return None  # quiet: the counters say what arrived

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.seen[f"{self.command} {self.path}"] += 1
        if self.path == "/break" or self.server.breaks:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if self.path == "/events":
            self._events()
            return
        if self.path.startswith("/status/"):
            self._send(int(self.path.rsplit("/", 1)[1]), self.server.name.encode(), "text/plain")
            return
        echo = {"name": self.server.name, "method": self.command, "headers": dict(self.headers)}
        self._send(200, json.dumps(echo).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _events(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.close_connection = True  # the stream ends with the connection
        for number in range(3):
            if number and not self.server.next_event.acquire(timeout=EVENT_WAIT_SECONDS):
                return
            self.wfile.write(f"data: {number}\n\n".encode())
            self.wfile.flush()

    do_GET = do_HEAD = do_POST = do_PATCH = do_DELETE = _answer


@contextmanager
def replicas(count: int, ports: range) -> Iterator[list[Replica]]:
    """`count` stub replicas on reserved ports, closed at the end."""
    with ExitStack() as stack:
        started = []
        for _ in range(count):
            replica = Replica(stack.enter_context(reserved_port(ports)))
            stack.callback(replica.close)
            started.append(replica)
        yield started
