"""What every HTML page route shares: where to send the browser back to, whether to answer
with partials or a whole page, one-time messages (toasts), and errors rendered as a toast
or a small page, never JSON."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec
from litestar import Controller, Request, Response
from litestar.datastructures import ResponseHeader
from litestar.exceptions import HTTPException, PermissionDeniedException
from litestar.plugins.flash import flash, get_flashes
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER

from webapp.errors import DomainError, NotFound
from webapp.web.problems import problem_for, problem_headers
from webapp.web.security import local_path, same_origin_path
from webapp.web.templating import html, render

HOME = "/"


class Toast(msgspec.Struct, kw_only=True):
    """A one-time message; `undo` names a task the message offers to restore."""

    text: str
    undo: str | None = None
    error: bool = False


def back_to(request: HTMXRequest, candidate: str, default: str = HOME) -> str:
    """Where to send the browser back to: the form's `next`, else the Referer, else home."""
    return (
        local_path(candidate)
        or same_origin_path(request.headers.get("referer"), request.headers.get("host"))
        or default
    )


def current_page(request: HTMXRequest) -> str:
    """The page an htmx request was made from (HX-Current-URL), as a local path."""
    return same_origin_path(request.htmx.current_url, request.headers.get("host")) or HOME


def is_partial(request: HTMXRequest) -> bool:
    # A history restore asks for a whole page even though htmx sent it.
    return bool(request.htmx) and not request.htmx.history_restore_request


def oob(request: HTMXRequest, template: str, **context: Any) -> str:
    return render(request, template, oob=True, **context)


def partials(*parts: str, status_code: int = 200) -> Response[str]:
    return html("".join(parts), status_code=status_code)


def take_toasts(request: HTMXRequest) -> list[Toast]:
    toasts = []
    for entry in get_flashes({"request": request}):
        try:
            toasts.append(msgspec.convert(entry["message"], Toast))
        except (KeyError, TypeError, msgspec.ValidationError):
            continue  # a message written by an older release: drop it
    return toasts


def flash_toast(request: HTMXRequest, toast: Toast) -> None:
    flash(request, msgspec.to_builtins(toast), category="error" if toast.error else "info")


def see_other(request: HTMXRequest, where: str, toast: Toast | None = None) -> Redirect:
    if toast is not None:
        flash_toast(request, toast)
    return Redirect(path=where, status_code=HTTP_303_SEE_OTHER)


def htmx_redirect(
    request: HTMXRequest, where: str, toast: Toast | None = None, *, status_code: int = 200
) -> Response[str]:
    """Send an htmx request's browser to another page (a 303 would be followed by htmx
    and swapped in where the request aimed). htmx follows HX-Redirect whatever the
    status, so a refusal keeps its own (a 404 for what is gone)."""
    if toast is not None:
        flash_toast(request, toast)
    return html("", status_code=status_code, headers={"HX-Redirect": where})


async def reply(
    request: HTMXRequest,
    here: str,
    parts: Callable[[], Awaitable[Sequence[str]]],
    *,
    toast: Toast | None = None,
    reload_toast: Toast | None = None,
) -> Response[str] | Redirect:
    """The answer to a form post, the one place the two ways of answering part.

    htmx: the partials `parts()` renders (the first swapped where the request aimed, the
    others out of band), then `toast` out of band. Without JS: a 303 back to `here`
    with `toast`, or else `reload_toast`: a message only a reloaded page needs, where the
    change itself is not seen happening.
    """
    if not is_partial(request):
        return see_other(request, here, toast or reload_toast)
    rendered = list(await parts())
    if toast is not None:
        rendered.append(oob(request, "_toasts.html", toasts=[toast], here=here))
    return partials(*rendered)


EXPIRED_FORM = (
    "This form has expired or did not come from this site. Reload the page and try again."
)

PageErrorHandler = Callable[[Request[Any, Any, Any], Exception], Response[str]]


def page_error_handlers(not_found: str) -> dict[type[Exception] | int, PageErrorHandler]:
    """Exception handlers for page routes: a toast for htmx, a small page otherwise, never
    JSON. `not_found` says in the page's own words what is missing. Every key the app
    maps to problem+json is overridden, or its JSON handler would win for that type."""

    def page_error(plain_request: Request[Any, Any, Any], exc: Exception) -> Response[str]:
        request = (
            plain_request
            if isinstance(plain_request, HTMXRequest)
            else HTMXRequest(plain_request.scope, plain_request.receive)
        )
        problem = problem_for(request, exc)
        if isinstance(exc, PermissionDeniedException):
            message = EXPIRED_FORM
        elif isinstance(exc, NotFound):
            message = not_found
        else:
            message = problem.detail
        headers = problem_headers(exc, problem)
        if is_partial(request):
            # Swap nothing where the request aimed; only the toast, out of band.
            toast = Toast(text=message, error=True)
            body = oob(request, "_toasts.html", toasts=[toast], here=current_page(request))
            headers["HX-Reswap"] = "none"
            return html(body, status_code=problem.status, headers=headers)
        body = render(
            request,
            "error.html",
            section="",
            toasts=[],
            status=problem.status,
            title=problem.title,
            message=message,
            back=back_to(request, ""),
        )
        return html(body, status_code=problem.status, headers=headers)

    return {HTTPException: page_error, DomainError: page_error, Exception: page_error}


class PageController(Controller):
    """A controller of HTML pages: kept out of the OpenAPI schema, and its answers depend
    on HX-Request (partials for htmx, whole pages otherwise), which caches must know."""

    include_in_schema = False
    response_headers = [ResponseHeader(name="Vary", value="HX-Request")]
