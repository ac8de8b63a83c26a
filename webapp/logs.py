"""How every process of the app logs (web server and workers): structlog, JSON in the
cluster and readable text locally, written by a thread of its own.

Logging must never hold up the event loop, which serves every request of the process:

- Lines are rendered on the caller's thread with a short processor chain and written by
  a background thread (`QueuedLineWriter`), so a slow or blocked stdout (a full pipe, a
  busy journald) delays log lines, never requests.
- Errors carry a plain traceback, no local variables: a rich traceback with locals took
  1.6 to 8.5 s to render on the loop (a database outage turned into minutes of stall)
  and wrote the request's headers, cookies included, into the log.
"""

from __future__ import annotations

import atexit
import logging
import queue
import sys
import threading
from typing import IO, Any

import msgspec
import structlog

from webapp.settings import Settings

# Whatever msgspec cannot encode (an exception object, say) is written as its str(),
# never dropped and never an error in the logger.
_JSON = msgspec.json.Encoder(enc_hook=str)


def _json_line(_logger: Any, _method: str, event: dict[str, Any]) -> bytes:
    return _JSON.encode(event)


def _text_line(_logger: Any, _method: str, event: dict[str, Any]) -> str:
    """`2026-11-30T10:00:00Z [info     ] request   method='GET' status=200`, then the
    traceback on the lines below, if any. structlog's ConsoleRenderer looks alike but
    costs four times as much a line."""
    timestamp = event.pop("timestamp", "")
    level = event.pop("level", "")
    message = event.pop("event", "")
    traceback = event.pop("exception", None)
    fields = " ".join(
        f"{key}={value!r}" if isinstance(value, str) else f"{key}={value}"
        for key, value in sorted(event.items())
    )
    line = f"{timestamp} [{level:<9}] {message:<24} {fields}".rstrip()
    return f"{line}\n{traceback.rstrip()}" if traceback else line


class QueuedLineWriter:
    """A structlog logger whose lines a daemon thread writes to `stream`.

    Rendering stays on the caller's thread (the event loop); the write, and any wait on a
    slow stream, happens on the writer's. `flush()` waits until every line so far is out.
    """

    def __init__(self, stream: IO[Any]) -> None:
        self.stream = stream
        self._lines: queue.SimpleQueue[str | bytes | threading.Event | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._drain, name="log-writer", daemon=True)
        self._thread.start()

    def msg(self, line: str | bytes) -> None:
        self._lines.put(line)

    # structlog calls the method named after the level.
    debug = info = warning = warn = error = critical = exception = fatal = log = msg

    def flush(self, timeout: float = 5.0) -> None:
        """Wait (a bounded time) until the lines logged so far are written."""
        written = threading.Event()
        self._lines.put(written)
        written.wait(timeout)

    def close(self) -> None:
        """Write what is queued, then end the thread."""
        self._lines.put(None)

    def _drain(self) -> None:
        while True:
            item = self._lines.get()
            try:
                while True:  # a burst is written with one flush at its end
                    if item is None:
                        self.stream.flush()
                        return
                    if isinstance(item, threading.Event):
                        self.stream.flush()
                        item.set()
                    else:
                        self._write(item)
                    if self._lines.empty():
                        break
                    item = self._lines.get_nowait()
                self.stream.flush()
            except (OSError, ValueError):
                pass  # a closed or broken stream: those lines are lost, the app goes on

    def _write(self, line: str | bytes) -> None:
        if isinstance(line, bytes):
            buffer = getattr(self.stream, "buffer", None)
            if buffer is not None:
                buffer.write(line + b"\n")
                return
            # A text-only stream: in a Dramatiq worker process stdout is a pipe to the
            # main process that takes str alone (dramatiq.compat.StreamablePipe).
            line = line.decode("utf-8", errors="replace")
        self.stream.write(line + "\n")


class _Writers:
    """The writer of the process's stdout. pytest swaps sys.stdout for some tests: the
    writer follows it, and the previous one ends once it has written its lines."""

    def __init__(self) -> None:
        self._current: QueuedLineWriter | None = None
        self._lock = threading.Lock()

    def for_stream(self, stream: IO[Any]) -> QueuedLineWriter:
        with self._lock:
            current = self._current
            if current is None or current.stream is not stream:
                if current is not None:
                    current.close()
                current = self._current = QueuedLineWriter(stream)
            return current

    def flush(self) -> None:
        if self._current is not None:
            self._current.flush()


_writers = _Writers()
atexit.register(_writers.flush)


def flush_logs() -> None:
    """Write out every line logged so far (tests, and the end of the process)."""
    _writers.flush()


def logger_factory(*_: Any) -> QueuedLineWriter:
    # Looked up for each line (loggers are not cached in the web app): it follows
    # sys.stdout when pytest swaps it.
    return _writers.for_stream(sys.stdout)


def processors(settings: Settings) -> list[Any]:
    """The chain every line goes through; the last one renders it. Tracebacks are plain
    (`format_exc_info`): the frames' text, never their variables."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _json_line if settings.log_format == "json" else _text_line,
    ]


def stdlib_processors(settings: Settings) -> list[Any]:
    """The same lines for what libraries log through the standard `logging` module
    (SQLAlchemy's pool, the drivers), formatted by structlog's ProcessorFormatter. The
    default chain rendered JSON whatever LOG_FORMAT said, and lost every record carrying
    a traceback ("Unsupported type: <class 'type'>")."""
    render = _json_line if settings.log_format == "json" else _text_line

    def rendered_as_text(logger: Any, method: str, event: dict[str, Any]) -> str:
        line = render(logger, method, event)
        return line.decode() if isinstance(line, bytes) else line

    return [
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        structlog.processors.format_exc_info,
        rendered_as_text,
    ]


def configure_logging(settings: Settings) -> None:
    """structlog for a process without the web app (a worker): same lines, same writer."""
    structlog.configure(
        processors=processors(settings),
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[settings.log_level.value]
        ),
        logger_factory=logger_factory,
        cache_logger_on_first_use=True,
    )
