"""docker-compose.yml's reverse proxy on this machine: Debian's nginx as a private process
(its own configuration, prefix, pid file, logs and temporary files, on a spare port),
running the same site file as the compose proxy does (deploy/nginx/tasks-site.conf,
included from where it is). Only what deploy/nginx/nginx.conf says about the place
differs: the listening address, the upstream servers (the replicas' loopback ports in
place of Docker's DNS name), and the log and temporary paths.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.faults.processes import Child, need_binary, port_accepts
from webapp.settings import PROJECT_ROOT

NGINX_DIR = PROJECT_ROOT / "deploy" / "nginx"
COMPOSE_CONFIG = NGINX_DIR / "nginx.conf"
SITE = NGINX_DIR / "tasks-site.conf"
START_SECONDS = 10.0
# Ports of tests/cluster's proxies, replicas and stubs (one lock file each, see
# tests.faults.processes.reserved_port); other suites use other ranges.
PORTS = range(8440, 8480)

# The native access log: the compose one's fields, one JSON-free line a request, plus
# the request's end time (msec) so that a test can line it up with its own clock.
_LOG_FORMAT = (
    'log_format tasks \'$remote_addr [$msec] "$request" $status $body_bytes_sent '
    "$request_time upstream=$upstream_addr upstream_status=$upstream_status';"
)
_LOG_LINE = re.compile(
    r'^(?P<client>\S+) \[(?P<msec>[\d.]+)\] "(?P<method>\S+) (?P<path>\S+) [^"]*" '
    r"(?P<status>\d+) \d+ (?P<seconds>[\d.]+) upstream=(?P<upstream>.*) "
    r"upstream_status=(?P<upstream_status>.*)$"
)


def native_config(
    workdir: Path, listen: str, upstreams: list[str], *, server_options: str = ""
) -> str:
    """nginx.conf for this machine: deploy/nginx/nginx.conf with the place changed."""
    user = "user root;\n" if os.geteuid() == 0 else ""  # temp files in a private directory
    servers = "".join(f"        server {address}{server_options};\n" for address in upstreams)
    temp = workdir / "temp"
    return f"""# Written by tests/cluster/proxy.py from deploy/nginx/nginx.conf.
{user}worker_processes 1;
error_log {workdir / "error.log"} warn;
pid {workdir / "nginx.pid"};

events {{
    worker_connections 1024;
}}

http {{
    {_LOG_FORMAT}
    access_log {workdir / "access.log"} tasks;
    server_tokens off;
    client_body_temp_path {temp / "body"};
    proxy_temp_path {temp / "proxy"};
    fastcgi_temp_path {temp / "fastcgi"};
    uwsgi_temp_path {temp / "uwsgi"};
    scgi_temp_path {temp / "scgi"};

    upstream tasks_app {{
{servers}    }}

    server {{
        listen {listen};
        include {SITE};
    }}
}}
"""


@dataclass(frozen=True, slots=True)
class Directive:
    """One directive of an nginx configuration: its name, arguments and block, if any."""

    name: str
    args: tuple[str, ...]
    block: tuple[Directive, ...] | None = None

    def find(self, name: str, *args: str) -> Directive:
        """The one directive of this block with this name (and these first arguments)."""
        found = [d for d in self.block or () if d.name == name and d.args[: len(args)] == args]
        if len(found) != 1:
            raise AssertionError(f"{len(found)} '{name} {' '.join(args)}' in {self.name}")
        return found[0]


_TOKEN = re.compile(r"""#[^\n]*|"(?:\\.|[^"])*"|'(?:\\.|[^'])*'|[{};]|[^\s{};]+""")


def parse(text: str) -> Directive:
    """An nginx configuration's directives, as the block of a directive named "main"."""
    stack: list[tuple[str, tuple[str, ...], list[Directive]]] = [("main", (), [])]
    words: list[str] = []
    for token in _TOKEN.findall(text):
        if token.startswith("#"):
            continue
        if token == ";":
            stack[-1][2].append(Directive(words[0], tuple(words[1:])))
            words = []
        elif token == "{":
            stack.append((words[0], tuple(words[1:]), []))
            words = []
        elif token == "}":
            name, args, children = stack.pop()
            stack[-1][2].append(Directive(name, args, tuple(children)))
        else:
            words.append(token.strip("\"'"))
    if len(stack) != 1 or words:
        raise AssertionError("unbalanced nginx configuration")
    return Directive("main", (), tuple(stack[0][2]))


@dataclass(frozen=True, slots=True)
class LogLine:
    """One request in nginx's access log."""

    client: str
    ended: float  # time.time() when nginx finished it
    method: str
    path: str
    status: int
    upstreams: tuple[str, ...]  # each replica tried, in order
    upstream_statuses: tuple[str, ...]

    @property
    def passed_on(self) -> bool:
        """Whether nginx tried more than one replica."""
        return len(self.upstreams) > 1


def _split(value: str) -> tuple[str, ...]:
    # nginx writes "a, b" for replicas tried in turn and "a : b" across internal redirects.
    return tuple(part for part in re.split(r"\s*[,:]\s+", value.strip()) if part and part != "-")


class Nginx:
    """nginx in front of `upstreams` (host:port), listening on 127.0.0.1:`port`."""

    def __init__(
        self, workdir: Path, port: int, upstreams: list[str], *, server_options: str = ""
    ) -> None:
        self.workdir = workdir
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.binary = need_binary("nginx")
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "temp").mkdir(exist_ok=True)
        self.config = workdir / "nginx.conf"
        self.config.write_text(
            native_config(workdir, f"127.0.0.1:{port}", upstreams, server_options=server_options)
        )
        self.access_log = workdir / "access.log"
        self.error_log = workdir / "error.log"
        checked = subprocess.run(
            self._command("-t"), capture_output=True, text=True, check=False, timeout=30
        )
        if checked.returncode != 0:
            raise AssertionError(f"nginx -t refused {self.config}:\n{checked.stderr}")
        # SIGTERM (nginx's fast stop, which stops its worker processes too) when the test
        # process dies; `stop` sends the same.
        self.child = Child(
            "nginx", self._command("-g", "daemon off;"), log=workdir / "nginx.out", cwd=workdir
        )
        deadline = time.monotonic() + START_SECONDS
        while not port_accepts(port):
            if not self.child.alive() or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"nginx did not start:\n{self.errors()}")
            time.sleep(0.02)

    def _command(self, *arguments: str) -> list[str]:
        # -e: the error log from the very start (before the configuration is read,
        # Debian's nginx would open /var/log/nginx/error.log).
        return [
            self.binary,
            "-p",
            str(self.workdir),
            "-e",
            str(self.error_log),
            "-c",
            str(self.config),
            *arguments,
        ]

    def errors(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")[-4000:]
            for path in (self.error_log, self.workdir / "nginx.out")
            if path.exists()
        )

    def requests(self) -> list[LogLine]:
        """Every request nginx has logged so far."""
        if not self.access_log.exists():
            return []
        lines = []
        for text in self.access_log.read_text(errors="replace").splitlines():
            match = _LOG_LINE.match(text)
            if match is None:
                raise AssertionError(f"unexpected nginx log line: {text!r}")
            lines.append(
                LogLine(
                    client=match["client"],
                    ended=float(match["msec"]),
                    method=match["method"],
                    path=match["path"],
                    status=int(match["status"]),
                    upstreams=_split(match["upstream"]),
                    upstream_statuses=_split(match["upstream_status"]),
                )
            )
        return lines

    def stop(self) -> None:
        self.child.stop(timeout=10)
