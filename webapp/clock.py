"""The one clock of the app: every stored time is a UTC instant from here."""

from __future__ import annotations

import datetime


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
