"""The restore job service, as both front doors (API and pages) get it injected."""

from __future__ import annotations

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.types import Scope

from webapp.restore.service import RestoreJobService


async def provide_restore_job_service(state: State, scope: Scope) -> RestoreJobService:
    db_config: SQLAlchemyAsyncConfig = state.db_config
    return RestoreJobService(
        db_config.provide_session(state, scope), state.read_cache, state.job_queue
    )


DEPENDENCIES = {"restore_job_service": Provide(provide_restore_job_service)}
