"""Command line: `python -m webapp migrate|serve|check-config`.

`serve` is what `make run-locally` and the cluster's app container run: bring the
database to the migration head (or rebuild it when DB_RESET_ON_START=true), then hand the
process over to the production server (Granian) with WEB_CONCURRENCY workers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

from webapp.db import MIGRATIONS_DIR, alembic_commands, prepare_database
from webapp.settings import load_settings


def granian_command(host: str, port: int, workers: int, log_level: str) -> list[str]:
    return [
        shutil.which("granian") or "granian",
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
        "webapp.app:create_app",
    ]


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
    args = parser.parse_args(argv)

    settings = load_settings()
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
    if args.command == "migrate" or (args.command == "serve" and not args.no_migrate):
        prepare_database(settings)
    if args.command == "serve":
        command = granian_command(
            settings.host, settings.port, settings.web_concurrency, settings.log_level.value
        )
        sys.stdout.flush()
        os.execv(command[0], command)  # noqa: S606  (become the server: signals reach it)
    return 0
