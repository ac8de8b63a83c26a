"""Command line: `python -m webapp migrate|serve|worker|requeue-jobs|check-config`, and
the account commands `create-user|create-token|reset-password` (webapp.accounts.commands).

`serve` is what `make run-locally` and the cluster's app container run: bring the
database to the migration head (or rebuild it when DB_RESET_ON_START=true), then hand the
process over to the production server (Granian) with WEB_CONCURRENCY workers.

`worker` is what `make run-worker` and the cluster's worker container run: it becomes the
`dramatiq` CLI on `webapp.worker:configure_broker` with WORKER_PROCESSES processes of
WORKER_THREADS threads. `requeue-jobs` sends again the jobs whose message was lost (workers also do this for jobs untouched for a minute, each time they start).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import math
import os
import socket
import sys
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from webapp.db import MIGRATIONS_DIR, alembic_commands, create_engine, prepare_database
from webapp.settings import Settings, load_settings


def drain_seconds(settings: Settings) -> int:
    """How long Granian gives a stopping worker (SIGTERM) to finish its requests before
    it kills it. An ordinary request ends within its deadline (statement + pool timeouts,
    `webapp.web.deadline`); whatever still runs two seconds later is a stream (server-sent
    events), which the browser opens again on another replica. Without a bound, one open
    stream would keep a stopping process alive until the container runtime's SIGKILL."""
    deadline = settings.db_statement_timeout_seconds + settings.db_pool_timeout_seconds
    return min(math.ceil(deadline) + 2, 1800)  # Granian's own limit


def granian_command(
    host: str, port: int, workers: int, log_level: str, kill_timeout: int
) -> list[str]:
    # This interpreter, not a `granian` looked up on PATH: `.venv/bin/python -m webapp serve`
    # (what `make run-locally` runs) has no activated virtualenv, so PATH may not hold it.
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--factory",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        log_level.lower(),
        "--no-access-log",  # the app writes its own one-line access log
        # After SIGTERM: no new connection, requests in flight answered, then the worker
        # is killed if it has not stopped within this many seconds.
        "--workers-kill-timeout",
        str(kill_timeout),
        "webapp.app:create_app",
    ]


def port_in_use(host: str, port: int) -> str | None:
    """Why `host:port` cannot be served, or None if it can.

    Granian binds with SO_REUSEPORT, so a second server on a port already served by
    another one would share it silently, and the kernel would split requests between two
    apps (maybe on two databases). A bind without SO_REUSEPORT fails on a port anyone
    listens on; it is made and released just before Granian starts.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # A port whose last connections linger in TIME_WAIT is free to serve again.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return error.strerror or str(error)
    return None


def dramatiq_command(processes: int, threads: int) -> list[str]:
    """The Dramatiq CLI on the project's broker: each process builds it from the settings."""
    return [
        sys.executable,
        "-m",
        "dramatiq",
        "webapp.worker:configure_broker",
        "--processes",
        str(processes),
        "--threads",
        str(threads),
    ]


async def requeue_jobs(settings: Settings, older_than: float) -> list[UUID]:
    """Send again the unfinished jobs nobody works on: leases expired, or no lease and
    not updated for `older_than` seconds (see `webapp.jobs.runner.sweep`)."""
    # Imported here: the other commands have no use for Dramatiq and the brokers' clients.
    from webapp.cache import NullReadCache
    from webapp.jobs import runner
    from webapp.jobs.kinds import JobContext
    from webapp.jobs.queue import JobQueue
    from webapp.worker import JOB_KINDS

    queue = JobQueue(settings, JOB_KINDS)
    engine = create_engine(settings, pooled=False)
    try:
        async with AsyncSession(engine) as session:
            context = JobContext(session, NullReadCache(), settings, queue)
            return await runner.sweep(
                context,
                [kind.name for kind in JOB_KINDS],
                older_than=datetime.timedelta(seconds=older_than),
            )
    finally:
        await engine.dispose()
        await queue.close()


def account_command(settings: Settings, args: argparse.Namespace) -> int:
    """create-user, create-token, reset-password: one line out, or one line of why not."""
    from webapp.accounts import commands  # the other commands need none of it
    from webapp.errors import DomainError

    try:
        if args.command == "create-user":
            print(
                asyncio.run(
                    commands.create_user(
                        settings,
                        args.email,
                        commands.read_password(),
                        name=args.name,
                        admin=args.admin,
                    )
                )
            )
        elif args.command == "create-token":
            print(asyncio.run(commands.create_token(settings, args.email, name=args.name)))
        else:
            print(
                asyncio.run(commands.reset_password(settings, args.email, commands.read_password()))
            )
    except DomainError as error:
        print(f"{args.command}: {commands.explain(error)}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webapp", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check-config", help="read the settings and report the first problem")
    commands.add_parser("migrate", help="upgrade to head (reset first if DB_RESET_ON_START)")
    make_migration = commands.add_parser(
        "make-migration", help="autogenerate the next migration from the models"
    )
    make_migration.add_argument("message")
    serve = commands.add_parser("serve", help="migrate, then serve with Granian")
    serve.add_argument("--no-migrate", action="store_true", help="skip the migration step")
    commands.add_parser(
        "worker", help="run Dramatiq job workers (WORKER_PROCESSES x WORKER_THREADS)"
    )
    requeue = commands.add_parser("requeue-jobs", help="send again jobs whose message was lost")
    requeue.add_argument(
        "--older-than",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="also jobs nobody has claimed and not updated for this long (default: 60); "
        "jobs whose worker died (lease expired) are always sent",
    )
    create_user = commands.add_parser(
        "create-user", help="create an account; its password is read from standard input"
    )
    create_user.add_argument("email")
    create_user.add_argument("--name", default="", help="shown instead of the email")
    create_user.add_argument("--admin", action="store_true", help="make it an admin")
    create_token = commands.add_parser(
        "create-token", help="make an API token for an account; prints only the token"
    )
    create_token.add_argument("email")
    create_token.add_argument("--name", default="command line", help="what the token is for")
    reset = commands.add_parser(
        "reset-password", help="set an account's password (from standard input)"
    )
    reset.add_argument("email")
    args = parser.parse_args(argv)

    settings = load_settings()
    if args.command in ("create-user", "create-token", "reset-password"):
        return account_command(settings, args)
    if args.command == "check-config":
        print("configuration ok")
        return 0
    if args.command == "make-migration":
        # Numbered revisions (0001, 0002, ...) read in order in migrations/versions/.
        number = len(list((MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))) + 1
        alembic_commands(settings).revision(
            message=args.message, autogenerate=True, rev_id=f"{number:04d}"
        )
        return 0
    if args.command in ("worker", "requeue-jobs") and not settings.broker_url:
        print(
            "BROKER_URL is empty: jobs run inside the app, which re-sends unfinished "
            "ones when it starts. Set BROKER_URL (amqp:// or redis://) to use workers.",
            file=sys.stderr,
        )
        return 2
    if args.command == "worker":
        command = dramatiq_command(settings.worker_processes, settings.worker_threads)
        sys.stdout.flush()
        os.execv(command[0], command)  # noqa: S606  (become the worker: signals reach it)
    if args.command == "requeue-jobs":
        resent = asyncio.run(requeue_jobs(settings, args.older_than))
        print(f"re-sent {len(resent)} job(s)" + "".join(f"\n  {i}" for i in resent))
        return 0
    if args.command == "serve" and (busy := port_in_use(settings.host, settings.port)):
        print(
            f"cannot serve on {settings.host}:{settings.port}: the port is in use ({busy}). "
            "Stop the server that holds it, or set PORT to another one.",
            file=sys.stderr,
        )
        return 2
    if args.command == "migrate" or (args.command == "serve" and not args.no_migrate):
        prepare_database(settings)
    if args.command == "serve":
        command = granian_command(
            settings.host,
            settings.port,
            settings.web_concurrency,
            settings.log_level.value,
            drain_seconds(settings),
        )
        sys.stdout.flush()
        os.execv(command[0], command)  # noqa: S606  (become the server: signals reach it)
    return 0
