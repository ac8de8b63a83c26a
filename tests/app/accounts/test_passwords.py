"""Passwords: Argon2id with the parameters in one place, new hashes when they change, and
the rules a new password must meet."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from argon2.profiles import RFC_9106_LOW_MEMORY
from sqlalchemy import select

from tests.accounts import PASSWORD, Person, log_in
from tests.databases import make_settings
from webapp.accounts import passwords
from webapp.accounts.models import Account
from webapp.db import create_engine
from webapp.errors import InvalidInput


def test_the_parameters_are_rfc_9106s_argon2id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the suite's cheap hasher: these are the real parameters
    hashed = passwords.HASHER.hash("a long password")
    assert hashed.startswith(
        f"$argon2id$v=19$m={RFC_9106_LOW_MEMORY.memory_cost},"
        f"t={RFC_9106_LOW_MEMORY.time_cost},p={RFC_9106_LOW_MEMORY.parallelism}$"
    )


async def stored_hash(database_url: str, person: Person) -> str:
    engine = create_engine(make_settings(database_url), pooled=False)
    try:
        async with engine.connect() as connection:
            return str(
                await connection.scalar(
                    select(Account.password_hash).where(Account.id == person.account_id)
                )
            )
    finally:
        await engine.dispose()


async def test_a_hash_made_with_other_parameters_is_replaced_at_log_in(
    anonymous: object, person: Person, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = await stored_hash(database_url, person)
    # The parameters change (a release raises them): the next log-in rehashes.
    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    monkeypatch.setattr(passwords, "HASHER", stronger)
    await log_in(anonymous, person)  # type: ignore[arg-type]
    new = await stored_hash(database_url, person)
    assert new != old
    assert "m=16,t=2,p=1" in new
    assert stronger.verify(new, PASSWORD)
    # Unchanged parameters: the hash stays.
    await log_in(anonymous, person)  # type: ignore[arg-type]
    assert await stored_hash(database_url, person) == new


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("1234567", "at least 8 characters"),
        ("x" * 1025, "at most 1024 characters"),
        ("PASSWORD1", "most common passwords"),
        ("qwertyuiop", "most common passwords"),
    ],
)
def test_a_new_password_is_refused_when(password: str, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        passwords.check_new_password(password)
    assert message in refused.value.errors["password"]


def test_a_long_unusual_password_is_fine() -> None:
    assert passwords.check_new_password("x" * 1024) == "x" * 1024
    assert passwords.check_new_password("correct horse battery staple")


async def test_a_password_past_the_limit_never_matches_and_costs_a_check() -> None:
    hashed = passwords.HASHER.hash("x" * 1024)
    assert await passwords.verify_password(hashed, "x" * 1024)
    assert not await passwords.verify_password(hashed, "x" * 1025)
    assert not await passwords.verify_password(None, "anything")
