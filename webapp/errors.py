"""Domain errors raised by the services; `webapp.web.problems` turns them into responses."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    """The thing does not exist (or is not where the caller expects it, e.g. in the trash)."""


class Conflict(DomainError):
    """The request is well formed but the current state refuses it."""


class StaleVersion(Conflict):
    """The caller edited an older version than the stored one.

    `precondition` is true when the stale version came as a precondition of the request
    (an HTTP If-Match header) rather than as part of the change itself.
    """

    def __init__(self, detail: str, *, current_version: int, precondition: bool = False) -> None:
        super().__init__(detail)
        self.current_version = current_version
        self.precondition = precondition


class InvalidInput(DomainError):
    """One or more fields break a rule; `errors` maps field name to message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors

    def pairs(self) -> list[tuple[str, str]]:
        """Each problem as (where, message), in order."""
        return list(self.errors.items())


class Unprocessable(InvalidInput):
    """Input of the right shape that cannot be used (an email of no account here, a file
    that is not one we import): the request is understood but cannot be carried out
    (422)."""


class InvalidFile(Unprocessable):
    """An uploaded file that cannot be imported: every problem found, each with where it
    is in the file (several may share a place, which a dict of fields could not hold)."""

    def __init__(self, detail: str, problems: list[tuple[str, str]]) -> None:
        super().__init__({})
        self.detail = detail
        self.args = (detail,)
        self.problems = problems

    def pairs(self) -> list[tuple[str, str]]:
        return list(self.problems)


class TooManyAttempts(DomainError):
    """Too many failed attempts lately (log-ins): refused until `retry_after` seconds pass."""

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Forbidden(DomainError):
    """The caller may see the thing, but not do this to it (a viewer's write)."""
