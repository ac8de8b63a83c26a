"""The account pages' forms as posted (url-encoded). Fields a form lacks are empty."""

from __future__ import annotations

import msgspec


class LoginForm(msgspec.Struct, kw_only=True):
    email: str = ""
    password: str = ""
    next: str = ""


class SignUpForm(msgspec.Struct, kw_only=True):
    email: str = ""
    password: str = ""
    name: str = ""
    invite: str = ""


class NameForm(msgspec.Struct, kw_only=True):
    name: str = ""


class PasswordForm(msgspec.Struct, kw_only=True):
    current_password: str = ""
    new_password: str = ""


class DeleteForm(msgspec.Struct, kw_only=True):
    """Deleting the account asks for its password (named apart from the password form's
    fields, on the same page)."""

    delete_password: str = ""


class TokenForm(msgspec.Struct, kw_only=True):
    token_name: str = ""


class BackForm(msgspec.Struct, kw_only=True):
    """A button's post: where to go back to."""

    next: str = ""
