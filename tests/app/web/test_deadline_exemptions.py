"""Which routes outlast the request deadline (webapp.web.deadline): those whose answer
streams for as long as the client takes (live updates, downloads: cut at the deadline a
download would end early with a 200, a truncated file) and the uploads (up to 20 MiB from
a slow client). Each of their statements keeps its own deadline. Read from the app's
route table, so that a route opting out by mistake, or one forgetting to, fails here."""

from __future__ import annotations

from litestar import Litestar
from litestar.routes import HTTPRoute

from webapp.web.deadline import EXEMPT_OPT_KEY

OUTLAST_THE_DEADLINE = {
    ("GET", "/events"),
    ("GET", "/api/export"),
    ("GET", "/transfer/export"),
    ("POST", "/api/imports"),
    ("POST", "/transfer/imports"),
}


def test_only_streams_and_uploads_outlast_the_request_deadline(app: Litestar) -> None:
    exempt = set()
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if handler.opt.get(EXEMPT_OPT_KEY):
                exempt |= {(method, route.path) for method in handler.http_methods - {"HEAD"}}
    assert exempt == OUTLAST_THE_DEADLINE
