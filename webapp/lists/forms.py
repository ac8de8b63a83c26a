"""The list pages' forms as posted (url-encoded)."""

from __future__ import annotations

from typing import Literal

import msgspec

from webapp.errors import InvalidInput
from webapp.lists.schemas import MemberCreate, MemberUpdate


class ListNameForm(msgspec.Struct, kw_only=True):
    name: str = ""


class ShareForm(msgspec.Struct, kw_only=True):
    email: str = ""
    role: str = "viewer"

    def member(self) -> MemberCreate:
        return MemberCreate(email=self.email, role=role_of(self.role))


class RoleForm(msgspec.Struct, kw_only=True):
    role: str = ""

    def update(self) -> MemberUpdate:
        return MemberUpdate(role=role_of(self.role))


def role_of(text: str) -> Literal["editor", "viewer"]:
    if text == "editor":
        return "editor"
    if text == "viewer":
        return "viewer"
    raise InvalidInput({"role": "must be viewer or editor"})
