"""The way in and out: sign-up (also through an invite link), log-in and log-out.

Plain forms, no htmx: each answers with a page (the form again, with what was wrong) or a
303. The log-in form is CSRF-protected like every other (the token comes with the page).
"""

from __future__ import annotations

from typing import Annotated

from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect
from litestar.status_codes import (
    HTTP_303_SEE_OTHER,
    HTTP_404_NOT_FOUND,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_429_TOO_MANY_REQUESTS,
)

from webapp.accounts import invites
from webapp.accounts.auth import LOGIN_PATH
from webapp.accounts.deps import DEPENDENCIES
from webapp.accounts.forms import LoginForm, SignUpForm
from webapp.accounts.schemas import SignUp
from webapp.accounts.service import AccountService
from webapp.accounts.sessions import end_session, start_session
from webapp.errors import InvalidInput, TooManyAttempts
from webapp.settings import Registration
from webapp.tasks.forms import FormBody
from webapp.web.pages import HOME, PageController, page_error_handlers, take_toasts
from webapp.web.security import PUBLIC, local_path
from webapp.web.templating import html, render, sentence

SIGNUP_PATH = "/signup"


def _client(request: HTMXRequest) -> str:
    return request.client.host if request.client else "unknown"


class AccountEntry(PageController):
    """Sign-up, log-in, log-out."""

    dependencies = DEPENDENCIES
    exception_handlers = page_error_handlers("There is nothing here.")

    async def _signup_page(
        self,
        request: HTMXRequest,
        service: AccountService,
        form: SignUpForm,
        *,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response[str]:
        first = not await service.any_account()
        open_to_all = service.registration is Registration.OPEN
        body = render(
            request,
            "accounts/signup.html",
            section="signup",
            toasts=take_toasts(request),
            first=first,
            may_sign_up=first or open_to_all or bool(form.invite),
            form=form,
            errors=errors or {},
        )
        return html(body, status_code=status_code)

    @get(SIGNUP_PATH, opt=PUBLIC)
    async def signup_page(
        self, request: HTMXRequest, account_service: NamedDependency[AccountService]
    ) -> Response[str] | Redirect:
        if request.scope.get("user") is not None:
            return Redirect(path=HOME, status_code=HTTP_303_SEE_OTHER)
        return await self._signup_page(request, account_service, SignUpForm())

    @get(f"{invites.INVITE_PATH}{{secret:str}}", opt=PUBLIC)
    async def invite_link(
        self,
        request: HTMXRequest,
        account_service: NamedDependency[AccountService],
        secret: FromPath[str],
    ) -> Response[str] | Redirect:
        """An invite link: the sign-up form, carrying the invite, if it can still be used."""
        if request.scope.get("user") is not None:
            return Redirect(path=HOME, status_code=HTTP_303_SEE_OTHER)
        try:
            await invites.usable(account_service.session, secret)
        except InvalidInput as error:
            return html(
                render(
                    request,
                    "error.html",
                    section="",
                    toasts=[],
                    status=HTTP_404_NOT_FOUND,
                    title="Invite not valid",
                    message=sentence(error.errors["invite"]),
                    back=LOGIN_PATH,
                ),
                status_code=HTTP_404_NOT_FOUND,
            )
        return await self._signup_page(request, account_service, SignUpForm(invite=secret))

    @post(SIGNUP_PATH, opt=PUBLIC)
    async def sign_up(
        self,
        request: HTMXRequest,
        account_service: NamedDependency[AccountService],
        data: Annotated[SignUpForm, FormBody],
    ) -> Response[str] | Redirect:
        try:
            account = await account_service.sign_up(
                SignUp(email=data.email, password=data.password, name=data.name, invite=data.invite)
            )
        except InvalidInput as error:
            return await self._signup_page(
                request,
                account_service,
                data,
                errors=error.errors,
                status_code=HTTP_422_UNPROCESSABLE_ENTITY,
            )
        start_session(request, account.id, epoch=1)
        return Redirect(path=HOME, status_code=HTTP_303_SEE_OTHER)

    def _login_page(
        self,
        request: HTMXRequest,
        form: LoginForm,
        *,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response[str]:
        body = render(
            request,
            "accounts/login.html",
            section="login",
            toasts=take_toasts(request),
            form=form,
            errors=errors or {},
        )
        return html(body, status_code=status_code, headers=headers)

    @get(LOGIN_PATH, opt=PUBLIC)
    async def login_page(
        self, request: HTMXRequest, account_service: NamedDependency[AccountService]
    ) -> Response[str] | Redirect:
        if request.scope.get("user") is not None:
            return Redirect(path=HOME, status_code=HTTP_303_SEE_OTHER)
        if not await account_service.any_account():
            return Redirect(path=SIGNUP_PATH, status_code=HTTP_303_SEE_OTHER)
        next_page = local_path(request.query_params.get("next")) or ""
        return self._login_page(request, LoginForm(next=next_page))

    @post(LOGIN_PATH, opt=PUBLIC)
    async def log_in(
        self,
        request: HTMXRequest,
        account_service: NamedDependency[AccountService],
        data: Annotated[LoginForm, FormBody],
    ) -> Response[str] | Redirect:
        # The password is never sent back into the form.
        shown = LoginForm(email=data.email, next=local_path(data.next) or "")
        try:
            account, epoch = await account_service.log_in(
                data.email, data.password, client=_client(request)
            )
        except InvalidInput as error:
            return self._login_page(
                request, shown, errors=error.errors, status_code=HTTP_422_UNPROCESSABLE_ENTITY
            )
        except TooManyAttempts as error:
            return self._login_page(
                request,
                shown,
                errors={"password": error.detail},
                status_code=HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(error.retry_after)},
            )
        start_session(request, account.id, epoch)
        # Only ever a path on this site: a crafted ?next= cannot send anyone elsewhere.
        return Redirect(path=local_path(data.next) or HOME, status_code=HTTP_303_SEE_OTHER)

    @post("/logout")
    async def log_out(self, request: HTMXRequest) -> Redirect:
        end_session(request)
        return Redirect(path=LOGIN_PATH, status_code=HTTP_303_SEE_OTHER)
