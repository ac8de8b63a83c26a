"""Shapes of list data crossing the service boundary (and the JSON API)."""

from __future__ import annotations

import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from webapp.lists.models import LIST_NAME_MAX_LENGTH
from webapp.text import TITLE_PATTERN

ListName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=LIST_NAME_MAX_LENGTH,
        pattern=TITLE_PATTERN,
        description=f"1 to {LIST_NAME_MAX_LENGTH} characters, something visible among them; "
        "trimmed",
        examples=["Groceries"],
    ),
]
ListId = Annotated[
    UUID, msgspec.Meta(description="UUIDv7", examples=["01938c5e-8a4b-7c2d-9e0f-123456789abd"])
]
AccountId = Annotated[
    UUID, msgspec.Meta(description="UUIDv7", examples=["01938c5e-8a4b-7c2d-9e0f-1234567890ab"])
]
RoleLabel = Annotated[
    Literal["owner", "editor", "viewer"],
    msgspec.Meta(description="owner, editor (changes tasks) or viewer (reads)", examples=["owner"]),
]
Flag = Annotated[bool, msgspec.Meta(examples=[False])]
PersonName = Annotated[str, msgspec.Meta(examples=["Ada Lovelace"])]
Email = Annotated[str, msgspec.Meta(max_length=254, examples=["bob@example.com"])]
MemberRole = Annotated[
    Literal["editor", "viewer"],
    msgspec.Meta(description="editor: changes tasks; viewer: reads only", examples=["editor"]),
]
ListVersion = Annotated[
    int, msgspec.Meta(description="Bumped by every change to the list itself", examples=[2])
]


class ListRead(msgspec.Struct, kw_only=True):
    """A list as one of its readers sees it: `role` is the reader's; `shared` says others
    see it too; `owner_name` is who owns it (for a list shared with the reader)."""

    id: ListId
    name: ListName
    is_inbox: Flag
    role: RoleLabel
    shared: Flag
    owner_id: AccountId
    owner_name: PersonName
    active: Annotated[int, msgspec.Meta(description="Active tasks in it", examples=[4])]
    created_at: Annotated[
        datetime.datetime, msgspec.Meta(description="UTC", examples=["2026-11-26T09:30:00Z"])
    ]
    version: ListVersion


class ListCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: ListName


class ListUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: ListName | msgspec.UnsetType = msgspec.UNSET
    version: ListVersion | msgspec.UnsetType = msgspec.UNSET


class MemberRead(msgspec.Struct, kw_only=True):
    account_id: AccountId
    email: Email
    name: PersonName
    role: RoleLabel


class MemberCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    email: Email
    role: MemberRole = "viewer"


class MemberUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    role: MemberRole
