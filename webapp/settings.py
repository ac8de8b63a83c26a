"""The one source of configuration: the environment, then `.env`, then defaults.

Every field here is documented in `.env.template`; a test keeps the two in step.
"""

from __future__ import annotations

import secrets
import sys
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    redis_url: str = ""
    broker_url: str = ""
    secret_key: SecretStr = SecretStr("")
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    web_concurrency: Annotated[int, Field(ge=1, le=64)] = 1
    log_level: LogLevel = LogLevel.INFO
    log_format: Literal["text", "json"] = "text"
    cache_ttl_seconds: Annotated[int, Field(ge=0, le=86400)] = 300
    cache_socket_timeout_ms: Annotated[int, Field(ge=1, le=5000)] = 50
    worker_processes: Annotated[int, Field(ge=1, le=64)] = 1
    worker_threads: Annotated[int, Field(ge=1, le=64)] = 2
    restore_batch_size: Annotated[int, Field(ge=1, le=100_000)] = 5000
    python_version: Literal["3.11", "3.12", "3.13", "3.14"] = "3.13"

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        scheme, sep, rest = value.partition("://")
        if not sep or scheme.lower() not in _DATABASE_SCHEMES:
            raise ValueError(
                "must start with sqlite+aiosqlite:// or mysql+asyncmy:// "
                "(sqlite://, mysql:// and mariadb:// are accepted too)"
            )
        return f"{_DATABASE_SCHEMES[scheme.lower()]}://{rest}"

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


def describe_errors(error: ValidationError) -> list[str]:
    """One line per bad variable: its name, what it accepts, and the value given."""
    lines = []
    for item in error.errors():
        name = str(item["loc"][0]).upper() if item["loc"] else "SETTINGS"
        message = _ACCEPTS.get(item["type"], str(item["msg"]).removeprefix("Value error, "))
        message = message[:1].lower() + message[1:]
        lines.append(f"configuration error: {name} {message}; got {item.get('input')!r}")
    return lines


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
