"""The OpenAPI document at /docs: Swagger UI from our own files, and the body schemas as
strict as the app is.

msgspec refuses unknown fields of a struct declared with `forbid_unknown_fields=True`,
but Litestar's schema for it does not say so: `additionalProperties: false` is added here,
so that clients (and the fuzzer) know. A struct may also state what its fields' types
cannot (which combinations are valid) as JSON Schema, in a class variable
`openapi_one_of`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Router
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, OpenAPIType, Schema, SecurityScheme
from litestar.typing import FieldDefinition

from webapp.web.problems import PROBLEM_JSON
from webapp.web.security import PUBLIC

BEARER = "bearer"

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator


class StrictStructSchemas(StructSchemaPlugin):
    """Litestar's schemas of msgspec structs, plus what they refuse."""

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        struct = field_definition.type_
        if (
            getattr(struct, "__struct_config__", None)
            and struct.__struct_config__.forbid_unknown_fields
        ):
            schema.additional_properties = False
        if one_of := getattr(struct, "openapi_one_of", None):
            schema.one_of = [_schema(alternative) for alternative in one_of]
        return schema


def _schema(json_schema: dict[str, Any]) -> Schema:
    """A Schema object from a JSON Schema dict (camelCase keys, as in the document)."""
    aliases = Schema.field_aliases()
    fields: dict[str, Any] = {}
    for key, value in json_schema.items():
        name = aliases.get(key, key)
        if name == "properties":
            value = {prop: _schema(sub) for prop, sub in value.items()}
        elif name == "type":
            value = OpenAPIType(value)
        fields[name] = value
    return Schema(**fields)


def openapi_config() -> OpenAPIConfig:
    # Swagger UI's files are served from /static (vendored), never from a CDN.
    swagger = SwaggerRenderPlugin(
        path="/",
        js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
        css_url="/static/vendor/swagger-ui/swagger-ui.css",
        standalone_preset_js_url="/static/vendor/swagger-ui/swagger-ui-standalone-preset.js",
        # Litestar's default favicon is a CDN URL; an empty data: icon also spares the
        # browser a request for /favicon.ico.
        favicon="<link rel='icon' href='data:,'>",
    )
    return OpenAPIConfig(
        title="Tasks API",
        version="1.0.0",
        description=(
            "Tasks and the trash of the account whose personal API token is sent as "
            "`Authorization: Bearer <token>` (make one on the account page; Authorize "
            "here takes it). Errors on /api share one shape "
            f"({PROBLEM_JSON}): status, title, detail, errors[field, message]."
        ),
        path="/docs",
        render_plugins=[swagger],
        # The document and Swagger UI are public (and not part of what they describe).
        openapi_router=Router(path="/docs", route_handlers=[], opt=PUBLIC, include_in_schema=False),
        components=Components(
            security_schemes={
                BEARER: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="A personal API token (tsk_...), made on the account page.",
                )
            }
        ),
    )
