"""What every controller of the JSON API shares."""

from __future__ import annotations

from litestar import Controller
from litestar.openapi.spec import SecurityRequirement

from webapp.web.openapi import BEARER


class ApiController(Controller):
    """A controller of /api: the document says its routes need the bearer token (so
    Swagger UI's "Authorize" sends it), as the app's guard does."""

    security: list[SecurityRequirement] = [{BEARER: []}]
