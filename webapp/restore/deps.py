"""The restore job service, as both front doors (API and pages) get it injected."""

from __future__ import annotations

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.types import Scope

from webapp.accounts.caller import Caller
from webapp.restore.service import RestoreJobService
from webapp.web.database import request_session


async def provide_restore_job_service(
    state: State, scope: Scope, caller: NamedDependency[Caller]
) -> RestoreJobService:
    return RestoreJobService(
        request_session(state, scope), state.read_cache, caller, state.job_queue
    )


DEPENDENCIES = {"restore_job_service": Provide(provide_restore_job_service)}
