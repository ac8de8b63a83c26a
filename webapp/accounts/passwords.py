"""Passwords: the rules a new one must meet, and Argon2id hashing, its parameters in one
place (HASHER). Hashing takes about 0.1 s of CPU and 64 MiB by design, so it runs in a
pool of HASHING_THREADS threads, never on the event loop: a burst of log-ins queues
there instead of taking every core and a gigabyte of memory at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY

from webapp.errors import InvalidInput

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 1024
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")
T = TypeVar("T")

# RFC 9106's second recommendation (Argon2id, 64 MiB, 3 passes): about 0.1 s a hash here.
# Stored hashes carry their parameters: change these, and each password is hashed anew
# with them the next time its owner logs in (`needs_rehash`).
HASHER = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)
HASHING_THREADS = 2
_HASHING = ThreadPoolExecutor(max_workers=HASHING_THREADS, thread_name_prefix="argon2")


async def _in_pool(function: Callable[..., T], *args: object) -> T:
    return await asyncio.get_running_loop().run_in_executor(_HASHING, function, *args)


@cache
def dummy_hash() -> str:
    return HASHER.hash("a password no account has")


@cache
def common_passwords() -> frozenset[str]:
    """The most common passwords people pick (lower-cased), refused for new ones."""
    lines = COMMON_PASSWORDS_FILE.read_text().splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip())


def check_new_password(password: str, *, field: str = "password") -> str:
    """`password` if it may be chosen: 8 to 1024 characters, not among the most common."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise InvalidInput({field: f"must be at least {PASSWORD_MIN_LENGTH} characters"})
    if len(password) > PASSWORD_MAX_LENGTH:
        raise InvalidInput({field: f"must be at most {PASSWORD_MAX_LENGTH} characters"})
    if password.lower() in common_passwords():
        raise InvalidInput({field: "is one of the most common passwords; choose another"})
    return password


async def hash_password(password: str) -> str:
    return await _in_pool(_hash, password)


def _hash(password: str) -> str:
    return HASHER.hash(password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches `stored_hash`. With no hash (an unknown email) a dummy
    one is checked, so that the answer takes as long as for a wrong password."""
    if len(password) > PASSWORD_MAX_LENGTH:
        password = password[:PASSWORD_MAX_LENGTH]  # as costly as any other, and never right
        stored_hash = None
    return await _in_pool(_verify, stored_hash, password)


def _verify(stored_hash: str | None, password: str) -> bool:
    try:
        return HASHER.verify(stored_hash or dummy_hash(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether the hash was made with other parameters than HASHER's."""
    try:
        return HASHER.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True
