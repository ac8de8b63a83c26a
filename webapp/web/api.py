"""What every controller of the JSON API shares."""

from __future__ import annotations

import re
from typing import Annotated

from litestar import Controller
from litestar.openapi.spec import Example, SecurityRequirement
from litestar.params import HeaderParameter

from webapp.errors import InvalidInput
from webapp.web.openapi import BEARER


class ApiController(Controller):
    """A controller of /api: the document says its routes need the bearer token (so
    Swagger UI's "Authorize" sends it), as the app's guard does."""

    security: list[SecurityRequirement] = [{BEARER: []}]


# An If-Match header (RFC 9110): * or a list of entity-tags, weak or strong. This API's
# ETags are versions of a task or a list ("3"); any other well-formed tag simply matches no
# version. A version without its quotes (3), which clients send too, is taken as that one.
_TAG = r'(W/)?"[!#-~\x80-\xff]*"|[0-9]{1,9}'
IF_MATCH_PATTERN = rf"^[ \t]*(\*|({_TAG})([ \t]*,[ \t]*({_TAG}))*)[ \t]*$"
_ENTITY_TAG = re.compile(r'(?:W/)?"([!#-~\x80-\xff]*)"|([0-9]{1,9})')


def parse_if_match(value: str) -> frozenset[int] | None:
    """The versions an If-Match header names, or None for `*` (any). A tag that is not a
    version of this API's ("abc") names none: the request then fails its precondition."""
    if value.strip() == "*":
        return None
    if not re.fullmatch(IF_MATCH_PATTERN, value):
        raise InvalidInput({"If-Match": 'must be an ETag of this API, e.g. "3"'})
    # isascii too: "²".isdigit() is true, and int("²") fails.
    return frozenset(
        int(tag)
        for quoted, bare in _ENTITY_TAG.findall(value)
        if (tag := quoted or bare).isascii() and tag.isdigit() and len(tag) <= 9
    )


# A string (not str | None): a document that said "string or null" led clients (and the
# fuzzer) to send the header as the text "null".
IfMatch = Annotated[
    str,
    HeaderParameter(
        name="If-Match",
        required=False,
        pattern=IF_MATCH_PATTERN,
        description='The version you edited, as its ETag: "3" (or W/"3"); * for any',
        examples=[Example(summary="version 3", value='"3"')],
    ),
]
