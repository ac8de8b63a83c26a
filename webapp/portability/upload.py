"""An upload as both doors read it: the multipart form's file and options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

from litestar.datastructures import UploadFile
from litestar.exceptions import HTTPException

from webapp.errors import InvalidInput, Unprocessable
from webapp.portability.service import MAX_UPLOAD_BYTES

# The request may hold the form around the file too.
MAX_REQUEST_BYTES: Final = MAX_UPLOAD_BYTES + 256 * 1024
TRUE_VALUES: Final = frozenset({"true", "1", "on", "yes"})


class FileTooLarge(HTTPException):
    status_code = 413


@dataclass(frozen=True, slots=True)
class Upload:
    data: bytes
    filename: str | None
    list_id: UUID | None
    valid_only: bool


async def read_upload(form: Any) -> Upload:
    """The form's `file` (at most MAX_UPLOAD_BYTES: 413 above), `list` (a list id; empty
    or absent: the lists the file names) and `valid_only`."""
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise Unprocessable({"file": "send the file to import in the multipart field `file`"})
    data = await upload.read(MAX_UPLOAD_BYTES + 1)
    await upload.close()
    if len(data) > MAX_UPLOAD_BYTES:
        raise FileTooLarge(
            detail=f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB, "
            "the most one import takes; split it and import the parts"
        )
    raw_list = str(form.get("list") or "").strip()
    try:
        list_id = UUID(raw_list) if raw_list else None
    except ValueError:
        raise InvalidInput({"list": "is not a list id"}) from None
    valid_only = str(form.get("valid_only") or "").strip().lower() in TRUE_VALUES
    return Upload(
        data=data, filename=upload.filename or None, list_id=list_id, valid_only=valid_only
    )
