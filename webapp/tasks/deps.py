"""The task service, as both front doors (API and pages) get it injected."""

from __future__ import annotations

from functools import partial

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.types import Scope

from webapp.accounts.caller import Caller
from webapp.tasks.service import TaskService
from webapp.web.database import request_session


async def provide_task_service(
    state: State, scope: Scope, caller: NamedDependency[Caller]
) -> TaskService:
    # The service opens the request's session (the plugin's, closed after the response)
    # only when it needs the database: a read served from the cache never does.
    return TaskService(
        partial(request_session, state, scope), state.read_cache, caller, state.changes
    )


DEPENDENCIES = {"task_service": Provide(provide_task_service)}
