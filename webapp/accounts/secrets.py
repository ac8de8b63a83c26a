"""Secrets handed out once (API tokens, invite links) and stored only as their hash.

They are 256 random bits, so a plain SHA-256 of them is as good as a slow hash and can be
looked up by equality (a password, chosen by a person, needs Argon2 instead). Tokens start
with `tsk_`, so that secret scanners (GitHub's, gitleaks) can recognise a leaked one.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

TOKEN_PREFIX = "tsk_"  # noqa: S105  (a prefix, not a secret)
INVITE_PREFIX = "inv_"
HINT_LENGTH = 10


@dataclass(frozen=True, slots=True)
class NewSecret:
    secret: str  # shown once, never stored
    digest: str  # stored
    hint: str  # stored: its first characters, to tell secrets apart in a list


def new_secret(prefix: str) -> NewSecret:
    secret = prefix + secrets.token_urlsafe(32)
    return NewSecret(secret=secret, digest=digest(secret), hint=secret[:HINT_LENGTH])


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like(secret: str, prefix: str) -> bool:
    """Whether `secret` has the shape of one we hand out (checked before any lookup)."""
    return len(secret) == len(prefix) + 43 and secret.startswith(prefix) and secret.isascii()
