"""The one source of configuration: the environment, then `.env`, then defaults.

Every field here is documented in `.env.template`; a test keeps the two in step.
"""

from __future__ import annotations

import ipaddress
import secrets
import sys
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = PROJECT_ROOT / "var"

# Short schemes people type, mapped to the async drivers the app ships with.
_DATABASE_SCHEMES = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "mysql": "mysql+asyncmy",
    "mysql+asyncmy": "mysql+asyncmy",
    "mariadb": "mysql+asyncmy",
    "mariadb+asyncmy": "mysql+asyncmy",
}


class Registration(StrEnum):
    """Who may create an account once the first one (the admin) exists."""

    CLOSED = "closed"  # only with an invite link, which only the admin makes
    INVITE = "invite"  # only with an invite link, which any account may make
    OPEN = "open"  # anyone


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class Settings(BaseSettings):
    """Process configuration. Read once, at start, by `get_settings()`."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # An empty line in .env means "use the default" (e.g. DATABASE_URL=).
        env_ignore_empty=True,
        case_sensitive=False,
    )

    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{VAR_DIR / 'tasks.sqlite3'}",
        description="sqlite+aiosqlite:///path or mysql+asyncmy://user:pass@host:port/db",
    )
    db_reset_on_start: bool = False
    db_pool_size: Annotated[int, Field(ge=1, le=100)] = 10
    db_pool_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 3.0
    db_statement_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 5.0
    redis_url: str = ""
    broker_url: str = ""
    secret_key: SecretStr = SecretStr("")
    cookie_secure: bool = False
    registration: Registration = Registration.CLOSED
    session_max_age_days: Annotated[int, Field(ge=1, le=365)] = 14
    # Requests a minute one API token may make (0: no limit), e.g. 600.
    api_rate_limit: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    web_concurrency: Annotated[int, Field(ge=1, le=64)] = 1
    # Reverse proxies whose X-Forwarded-For/-Proto the app believes (addresses or networks,
    # comma-separated); empty: none, the connecting address is the client.
    trusted_proxies: Annotated[str, Field(max_length=1000)] = ""
    log_level: LogLevel = LogLevel.INFO
    log_format: Literal["text", "json"] = "text"
    cache_ttl_seconds: Annotated[int, Field(ge=0, le=86400)] = 300
    cache_socket_timeout_ms: Annotated[int, Field(ge=1, le=5000)] = 50
    cache_key_prefix: Annotated[str, Field(max_length=100)] = "tasks:"
    # Seconds between keep-alives of a live-update stream (GET /events), each of which
    # checks the session again.
    events_keepalive_seconds: Annotated[float, Field(gt=0, le=300)] = 15.0
    worker_processes: Annotated[int, Field(ge=1, le=64)] = 1
    worker_threads: Annotated[int, Field(ge=1, le=64)] = 2
    restore_batch_size: Annotated[int, Field(ge=1, le=100_000)] = 5000
    # Dramatiq's queue names allow letters, digits, '.', '-' and '_', starting with a letter.
    broker_queue_prefix: Annotated[
        str, Field(max_length=100, pattern=r"^([a-zA-Z_][a-zA-Z0-9._-]*)?$")
    ] = "tasks."
    # Only the Docker build reads it (docker-compose.yml); the Dockerfile's default matches.
    python_version: Literal["3.11", "3.12", "3.13", "3.14"] = "3.14"

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("registration", mode="before")
    @classmethod
    def _registration(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        scheme, sep, rest = value.partition("://")
        if not sep or scheme.lower() not in _DATABASE_SCHEMES:
            raise ValueError(
                "must start with sqlite+aiosqlite:// or mysql+asyncmy:// "
                "(sqlite://, mysql:// and mariadb:// are accepted too)"
            )
        url = f"{_DATABASE_SCHEMES[scheme.lower()]}://{rest}"
        try:
            make_url(url)
        except Exception:  # the driver would fail later, with a traceback
            raise ValueError(
                "is not a valid URL (e.g. mysql+asyncmy://user:password@host:3306/tasks)"
            ) from None
        return url

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("must be empty (in-process cache) or a redis://, rediss:// URL")
        return value

    @field_validator("broker_url")
    @classmethod
    def _broker_url(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in {"amqp", "amqps", "redis", "rediss"}:
            raise ValueError("must be empty (in-process worker), amqp:// (RabbitMQ) or redis://")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, value: str) -> str:
        entries = []
        for entry in filter(None, (part.strip() for part in value.split(","))):
            try:  # written as Granian's proxy-headers wrapper matches them (webapp.app)
                network = "/" in entry
                parsed = ipaddress.ip_network(entry, strict=False) if network else None
                entries.append(str(parsed or ipaddress.ip_address(entry)))
            except ValueError:
                raise ValueError(
                    "must be IP addresses or networks, comma-separated "
                    f"(e.g. 10.0.0.5,172.16.0.0/12); {entry!r} is neither"
                ) from None
        return ",".join(entries)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def effective_secret_key(self) -> str:
        """The configured key, or one kept in `var/` so local sessions survive restarts."""
        if configured := self.secret_key.get_secret_value():
            return configured
        key_file = VAR_DIR / "secret_key"
        if key_file.exists():
            return key_file.read_text().strip()
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        key_file.write_text(key)
        key_file.chmod(0o600)
        return key


# Pydantic's wording for these says what failed, not what would be accepted.
_ACCEPTS = {
    "bool_parsing": "must be true or false (1/0, yes/no and on/off work too)",
    "bool_type": "must be true or false (1/0, yes/no and on/off work too)",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
}
_RANGE_ERRORS = {"int_parsing", "int_type", "greater_than_equal", "less_than_equal"}


def _range(field_name: str) -> str | None:
    """`must be a whole number from 1 to 65535`, for a bounded whole-number setting."""
    field = Settings.model_fields.get(field_name)
    bounds = {
        key: getattr(rule, key)
        for rule in (field.metadata if field else [])
        for key in ("ge", "le")
        if getattr(rule, key, None) is not None
    }
    if "ge" in bounds and "le" in bounds:
        return f"must be a whole number from {bounds['ge']} to {bounds['le']}"
    return None


def _shown(name: str, value: object) -> str:
    """The value as given, with the password of a URL (or a secret) left out."""
    if name == "SECRET_KEY":
        return "(hidden)"
    if isinstance(value, str) and name.endswith("_URL"):
        try:
            password = urlsplit(value).password
        except ValueError:  # not even a URL: nothing to recognise a password in
            return "an unreadable URL"
        if password:
            return repr(value.replace(f":{password}@", ":***@", 1))
    return repr(value)


def describe_errors(error: ValidationError) -> list[str]:
    """One line per bad variable: its name, what it accepts, and the value given."""
    lines: dict[str, str] = {}
    for item in error.errors():
        field_name = str(item["loc"][0]) if item["loc"] else ""
        name = field_name.upper() or "SETTINGS"
        if name in lines:
            continue  # one line per variable, the first reason is enough
        message = (item["type"] in _RANGE_ERRORS and _range(field_name)) or _ACCEPTS.get(
            item["type"], str(item["msg"]).removeprefix("Value error, ")
        )
        message = message.replace("Input should be ", "must be ", 1)
        message = message[:1].lower() + message[1:]
        lines[name] = (
            f"configuration error: {name} {message}; got {_shown(name, item.get('input'))}"
        )
    return list(lines.values())


def load_settings() -> Settings:
    """Read the settings, or stop the process with one clear line per bad variable."""
    try:
        return Settings()
    except ValidationError as error:
        for line in describe_errors(error):
            print(line, file=sys.stderr)
        raise SystemExit(2) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
