"""The list service, as both front doors (API and pages) get it injected."""

from __future__ import annotations

from functools import partial

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.types import Scope

from webapp.accounts.caller import Caller
from webapp.lists.service import ListService
from webapp.web.database import request_session


async def provide_list_service(
    state: State, scope: Scope, caller: NamedDependency[Caller]
) -> ListService:
    return ListService(
        partial(request_session, state, scope), state.read_cache, caller, state.changes
    )


DEPENDENCIES = {"list_service": Provide(provide_list_service)}
