"""What every response shares for safety: security headers, the CSP, safe redirect targets.

The pages load only files served from /static (no inline script or style), so they run
under `default-src 'self'`. The Swagger page at /docs is rendered by Litestar with an
inline bootstrap script and style, so it gets its own, looser policy.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from litestar.config.csrf import CSRFConfig
from litestar.datastructures import Headers, MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.exceptions import PermissionDeniedException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

# Programs call /api without cookies, so there is no token cookie to check a form token
# against; CrossSiteApiGuard keeps other sites' pages out of it instead. Static files,
# probes and the API docs change nothing and need neither the token nor the session.
NO_BROWSER_STATE = ["^/api/", "^/api$", "^/static/", "^/docs", "^/health$", "^/ready$"]
CSRF_HEADER = "x-csrftoken"

_SHARED_DIRECTIVES = (
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "object-src 'none'",
)
CONTENT_SECURITY_POLICY = "; ".join(
    ("default-src 'self'", "img-src 'self' data:", *_SHARED_DIRECTIVES)
)
DOCS_CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        *_SHARED_DIRECTIVES,
    )
)
DOCS_PATH = "/docs"

_COMMON_HEADERS = (
    ("x-content-type-options", "nosniff"),
    # Same-origin requests keep their Referer (a fallback redirect target for forms);
    # other sites never learn which page linked to them.
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
)


async def add_security_headers(message: Message, scope: Scope) -> None:
    """A `before_send` hook: the CSP and the other security headers on every response, and
    `Cache-Control: no-store` on every answer to a signed-in request.

    A hook rather than a middleware, so that answers made before any route is found (an
    unknown path's 404, a 405) carry them too.
    """
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    for name, value in _COMMON_HEADERS:
        if name not in headers:
            headers[name] = value
    if scope.get("user") is not None and "cache-control" not in headers:
        # Someone's own data: no cache may keep it, and after logging out the browser's
        # Back button asks the server again (which asks to log in) instead of showing it.
        headers["cache-control"] = "no-store"
    if "content-security-policy" not in headers:
        path: str = scope["path"]
        is_docs = path == DOCS_PATH or path.startswith(DOCS_PATH + "/")
        headers["content-security-policy"] = (
            DOCS_CONTENT_SECURITY_POLICY if is_docs else CONTENT_SECURITY_POLICY
        )


# The routes anyone may use without signing in carry this opt (webapp.accounts.auth's
# guard lets them through): sign-up, log-in, the invite link, probes, static files, docs.
PUBLIC_OPT_KEY = "public"
PUBLIC = {PUBLIC_OPT_KEY: True}

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
API_PREFIX = "/api"


def is_cross_site(headers: Headers) -> bool:
    """Whether a browser says this request comes from another site.

    Browsers send `Sec-Fetch-Site` (modern ones) or at least `Origin` with every POST;
    programs (curl, scripts) send neither, so they are never taken for another site.
    """
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in {"same-origin", "none"}
    origin = headers.get("origin")
    if origin is None:
        return False
    return origin == "null" or urlsplit(origin).netloc != headers.get("host")


class CrossSiteApiGuard(ASGIMiddleware):
    """Refuses writes to the JSON API that a browser makes on behalf of another site.

    The API is exempt from the CSRF token (programs have no cookie to pair it with), yet
    a page elsewhere can make a visitor's browser send it a form: a body-less POST such
    as /api/tasks/{id}/complete, or JSON typed as text/plain. Such requests say where
    they come from, so they are answered 403 and change nothing.
    """

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        path: str = scope["path"]
        if (
            scope.get("method") not in SAFE_METHODS
            and (path == API_PREFIX or path.startswith(API_PREFIX + "/"))
            and is_cross_site(Headers.from_scope(scope))
        ):
            raise PermissionDeniedException(
                "requests to /api from another site's pages are refused"
            )
        await next_app(scope, receive, send)


def local_path(candidate: str | None) -> str | None:
    """`candidate` if it is a path on this site (e.g. "/?filter=active"), else None.

    Forms say where to go back to in a `next` field; anything that could lead off the
    site (a scheme, a host, "//host", a backslash some browsers read as a slash, control
    characters) is refused, so a crafted form cannot redirect to another site.
    """
    if not candidate or len(candidate) > 2000 or not candidate.startswith("/"):
        return None
    if candidate.startswith(("//", "/\\")) or any(c in candidate for c in "\\\r\n\t\0"):
        return None
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc:
        return None
    return candidate


def same_origin_path(url: str | None, host: str | None) -> str | None:
    """The path and query of `url` when it points at `host` (a Referer), else None."""
    if not url or not host:
        return None
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or parts.netloc != host:
        return None
    return local_path(parts.path + (f"?{parts.query}" if parts.query else ""))


def csrf_config(secret_key: str, *, secure: bool) -> CSRFConfig:
    """Litestar's CSRF check on every state-changing request outside NO_BROWSER_STATE.

    The token travels in a cookie and, with each POST, in the form's `_csrf_token` field
    or (htmx) the X-CSRFToken header; a POST without a matching one gets 403.
    """
    return CSRFConfig(
        secret=hashlib.sha256(b"tasks-csrf:" + secret_key.encode()).hexdigest(),
        cookie_name="tasks_csrf",
        cookie_httponly=True,  # pages read the token from a <meta>, never from the cookie
        cookie_samesite="lax",
        cookie_secure=secure,
        header_name=CSRF_HEADER,
        exclude=NO_BROWSER_STATE,
    )
