"""The Jinja environment the pages render with, and how a handler renders partials."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from litestar import MediaType, Request, Response
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template import TemplateConfig
from litestar.template.base import csrf_token

from webapp.settings import PROJECT_ROOT

TEMPLATES_DIR = PROJECT_ROOT / "templates"


def plural(word: str, count: int) -> str:
    """`word` as it goes with `count`: "1 task", "2 tasks" (the filter `plural` too)."""
    return word if count == 1 else f"{word}s"


def sentence(text: str) -> str:
    """A service's message ("must not be empty") as a sentence: capital, full stop."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def jinja_environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        # Every value is HTML-escaped unless a template marks it safe: a task titled
        # `<img src=x onerror=alert(1)>` is shown as text.
        autoescape=True,
        # A misspelt variable fails loudly in the tests instead of rendering as "".
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates change only with a deploy (or a restart locally); not checking each
        # file's mtime on every render keeps the list page cheap.
        auto_reload=False,
    )
    environment.filters["plural"] = plural
    environment.filters["sentence"] = sentence
    return environment


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(jinja_environment()))


def render(request: Request[Any, Any, Any], template: str, **context: Any) -> str:
    """One template (a full page or a partial) as HTML, with the request's CSRF token."""
    engine = request.app.template_engine
    assert isinstance(engine, JinjaTemplateEngine)
    context.setdefault("csrf", csrf_token({"request": request}))
    # The signed-in account (webapp.accounts.auth.SignedIn), for the header: its name, and
    # the admin's link. None on the public pages for visitors.
    signed_in = request.scope.get("user")
    context.setdefault("me", getattr(signed_in, "account", None))
    # Partials render as page parts unless asked to be swapped out of band.
    context.setdefault("oob", False)
    return str(engine.get_template(template).render(**context))


def html(
    body: str, *, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response[str]:
    return Response(body, status_code=status_code, media_type=MediaType.HTML, headers=headers)
