"""The import and export services, as both front doors (API and pages) get them."""

from __future__ import annotations

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.types import Scope

from webapp.accounts.caller import Caller
from webapp.portability.export import ExportService
from webapp.portability.service import ImportService
from webapp.web.database import request_session


async def provide_import_service(
    state: State, scope: Scope, caller: NamedDependency[Caller]
) -> ImportService:
    return ImportService(request_session(state, scope), state.read_cache, caller, state.job_queue)


async def provide_export_service(
    state: State, scope: Scope, caller: NamedDependency[Caller]
) -> ExportService:
    return ExportService(request_session(state, scope), caller)


DEPENDENCIES = {
    "import_service": Provide(provide_import_service),
    "export_service": Provide(provide_export_service),
}
