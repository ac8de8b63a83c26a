"""AccountService: sign-up, log-in, an account's own settings, and the admin's powers.

Who may sign up is REGISTRATION's call (`Registration`): the very first account needs no
invite and becomes the admin, and it claims whatever tasks and jobs the database held from
before accounts existed. Admin-only actions answer NotFound to anyone else, as if there
were nothing there.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.accounts import invites, passwords
from webapp.accounts.caller import Caller
from webapp.accounts.models import EMAIL_MAX_LENGTH, NAME_MAX_LENGTH, Account
from webapp.accounts.schemas import AccountRead, SignUp
from webapp.accounts.throttle import LoginThrottle
from webapp.clock import utcnow
from webapp.errors import Conflict, InvalidInput, NotFound
from webapp.idempotency.models import IdempotencyRecord
from webapp.jobs.models import Job
from webapp.lists.models import TaskList
from webapp.settings import Registration
from webapp.tasks.models import Task
from webapp.text import control_character, is_visible

WRONG_CREDENTIALS = "Email or password is wrong."
EMAIL_TAKEN = "an account with this email exists already"
DISABLED = "This account is disabled; ask the admin."


def to_read(account: Account) -> AccountRead:
    return AccountRead(
        id=account.id,
        email=account.email,
        name=account.name,
        is_admin=account.is_admin,
        disabled=account.disabled_at is not None,
        created_at=account.created_at,
    )


def clean_email(email: str) -> str:
    """The stored form of an email: trimmed and lower-cased, so that Ada@Example.com and
    ada@example.com are one account."""
    email = email.strip()
    if not email:
        raise InvalidInput({"email": "must not be empty"})
    if len(email) > EMAIL_MAX_LENGTH:
        raise InvalidInput({"email": f"must be at most {EMAIL_MAX_LENGTH} characters"})
    try:
        # Self-hosted: addresses on a home network's own domain (bob@nas) are fine.
        checked = validate_email(email, check_deliverability=False, globally_deliverable=False)
    except EmailNotValidError as error:
        raise InvalidInput({"email": f"is not an email address: {error}"}) from None
    return checked.normalized.lower()


def clean_name(name: str) -> str:
    """A name shown instead of the email: optional, but if given, something visible."""
    name = name.strip()
    if name and not is_visible(name):
        raise InvalidInput({"name": "must show something (or be left empty)"})
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidInput({"name": f"must be at most {NAME_MAX_LENGTH} characters"})
    if refused := control_character(name):
        raise InvalidInput({"name": f"must not hold control characters (found {refused})"})
    return name


class AccountService:
    """Accounts. One instance per request (one session)."""

    def __init__(
        self,
        session: AsyncSession,
        *,
        registration: Registration = Registration.CLOSED,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self.session = session
        self.registration = registration
        self.throttle = throttle

    # ------------------------------------------------------------ sign-up

    async def any_account(self) -> bool:
        """Whether anyone has signed up yet (before that, every page leads to sign-up)."""
        return bool(await self.session.scalar(select(exists().where(Account.id.is_not(None)))))

    async def sign_up(self, request: SignUp) -> AccountRead:
        """Create an account. The first one needs nothing more and is the admin; later
        ones need an open REGISTRATION or a valid invite. Bad input changes nothing."""
        return await self._create(request, admin=False, by_operator=False)

    async def _create(self, request: SignUp, *, admin: bool, by_operator: bool) -> AccountRead:
        errors: dict[str, str] = {}

        def checked(clean: Callable[[str], str], value: str) -> str:
            # Every field is checked, so that the form shows all that is wrong at once.
            try:
                return clean(value)
            except InvalidInput as error:
                errors.update(error.errors)
                return ""

        email = checked(clean_email, request.email)
        checked(passwords.check_new_password, request.password)
        name = checked(clean_name, request.name)
        if errors:
            raise InvalidInput(errors)
        first = not await self.any_account()
        invite = None
        needs_invite = bool(request.invite) or self.registration is not Registration.OPEN
        if not first and not by_operator and needs_invite:
            invite = await invites.usable(self.session, request.invite)
        if await self._email_taken(email):
            raise InvalidInput({"email": EMAIL_TAKEN})
        password_hash = await passwords.hash_password(request.password)
        now = utcnow()
        account = Account(
            email=email,
            name=name,
            password_hash=password_hash,
            is_admin=first or admin,
            first_account=True if first else None,
            session_epoch=1,
            created_at=now,
            updated_at=now,
        )
        self.session.add(account)
        try:
            await self.session.flush()
        except IntegrityError:
            await self.session.rollback()
            if first and not await self._email_taken(email):
                # Another sign-up was first by a moment (first_account is unique): this
                # one is an ordinary sign-up, with what that needs.
                return await self._create(request, admin=admin, by_operator=by_operator)
            raise InvalidInput({"email": EMAIL_TAKEN}) from None
        if invite is not None:
            await invites.use(self.session, invite, account.id, now)
        inbox = TaskList.inbox_for(account.id)
        self.session.add(inbox)
        await self.session.flush()
        if first:
            await self._claim_unowned(account.id, inbox.id)
        created = to_read(account)
        await self.session.commit()
        return created

    async def _email_taken(self, email: str) -> bool:
        found = await self.session.scalar(select(exists().where(Account.email == email)))
        return bool(found)

    async def _claim_unowned(self, account_id: UUID, inbox_id: UUID) -> None:
        # Tasks and jobs from before accounts existed belong to the first account; the
        # tasks go to its Inbox.
        await self.session.execute(
            update(Task)
            .where(Task.owner_id.is_(None))
            .values(owner_id=account_id, list_id=inbox_id)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(
            update(Job)
            .where(Job.owner_id.is_(None))
            .values(owner_id=account_id)
            .execution_options(synchronize_session=False)
        )

    # ------------------------------------------------------------ log-in

    async def log_in(self, email: str, password: str, *, client: str) -> tuple[AccountRead, int]:
        """The account these credentials open, and its session epoch.

        An unknown email and a wrong password get the same answer (WRONG_CREDENTIALS),
        after the same work (a hash is checked either way). Attempts are counted per
        account and per client address before the check; past the limit,
        TooManyAttempts, and no check at all.
        """
        try:
            email = clean_email(email)
        except InvalidInput:
            email = email.strip().lower()  # matches no account; still costs a check
        if self.throttle is not None:
            await self.throttle.attempt(email, client)
        account = await self.session.scalar(select(Account).where(Account.email == email))
        valid = await passwords.verify_password(
            account.password_hash if account else None, password
        )
        if account is None or not valid:
            raise InvalidInput({"password": WRONG_CREDENTIALS})
        if account.disabled_at is not None:
            raise InvalidInput({"email": DISABLED})
        if self.throttle is not None:
            await self.throttle.succeeded(email, client)
        if passwords.needs_rehash(account.password_hash):
            account.password_hash = await passwords.hash_password(password)
            await self.session.commit()
        return to_read(account), account.session_epoch

    # ------------------------------------------------------------ one's own account

    async def _own(self, caller: Caller) -> Account:
        account = await self.session.get(Account, caller.account_id, populate_existing=True)
        if account is None or account.disabled_at is not None:
            raise NotFound("this account no longer exists")
        return account

    async def get(self, caller: Caller) -> AccountRead:
        return to_read(await self._own(caller))

    async def rename(self, caller: Caller, name: str) -> AccountRead:
        account = await self._own(caller)
        account.name = clean_name(name)
        account.updated_at = utcnow()
        renamed = to_read(account)
        await self.session.commit()
        return renamed

    async def _check_password(self, account: Account, password: str, field: str) -> None:
        if not await passwords.verify_password(account.password_hash, password):
            raise InvalidInput({field: "is not the password of this account"})

    async def change_password(self, caller: Caller, current: str, new: str) -> int:
        """Set a new password; returns the new session epoch, which ends every session
        made before (the caller's own is carried over by the door)."""
        account = await self._own(caller)
        passwords.check_new_password(new, field="new_password")
        await self._check_password(account, current, "current_password")
        account.password_hash = await passwords.hash_password(new)
        account.session_epoch += 1
        account.updated_at = utcnow()
        epoch = account.session_epoch
        await self.session.commit()
        return epoch

    async def delete(self, caller: Caller, password: str) -> None:
        """Delete the caller's account and everything it owns (tasks, jobs, tokens and
        invites go with it by foreign key), after checking its password."""
        account = await self._own(caller)
        await self._check_password(account, password, "password")
        await self._delete(account)

    async def _delete(self, account: Account) -> None:
        if account.is_admin and await self._admins() == 1:
            raise Conflict(
                "the only admin's account cannot be deleted; make another admin first "
                "(python -m webapp create-user EMAIL --admin)"
            )
        await self.session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.caller == account.id.hex)
        )
        await self.session.delete(account)
        await self.session.commit()

    async def _admins(self) -> int:
        count = await self.session.scalar(
            select(func.count()).select_from(Account).where(Account.is_admin.is_(True))
        )
        return int(count or 0)

    # ------------------------------------------------------------ the admin's

    async def _as_admin(self, caller: Caller) -> None:
        admin = await self.session.get(Account, caller.account_id)
        if admin is None or not admin.is_admin or admin.disabled_at is not None:
            raise NotFound("there is nothing here")

    async def _other(self, caller: Caller, account_id: UUID) -> Account:
        await self._as_admin(caller)
        if account_id == caller.account_id:
            raise Conflict("use your account page to change your own account")
        account = await self.session.get(Account, account_id, populate_existing=True)
        if account is None:
            raise NotFound(f"account {account_id} does not exist")
        return account

    async def list_accounts(self, caller: Caller) -> list[AccountRead]:
        """Every account, oldest first (admin only)."""
        await self._as_admin(caller)
        rows = await self.session.scalars(select(Account).order_by(Account.created_at))
        return [to_read(account) for account in rows]

    async def set_disabled(self, caller: Caller, account_id: UUID, disabled: bool) -> AccountRead:
        """Disable an account (it can no longer log in, and its sessions and tokens stop
        working) or enable it again (admin only)."""
        account = await self._other(caller, account_id)
        if (account.disabled_at is not None) != disabled:
            account.disabled_at = utcnow() if disabled else None
            account.updated_at = utcnow()
        changed = to_read(account)
        await self.session.commit()
        return changed

    async def delete_other(self, caller: Caller, account_id: UUID) -> None:
        """Delete another account and everything it owns (admin only)."""
        await self._delete(await self._other(caller, account_id))

    # ------------------------------------------------------------ the command line

    async def create(
        self, email: str, password: str, *, name: str = "", admin: bool = False
    ) -> AccountRead:
        """An account made by the operator (no invite needed), admin if asked."""
        request = SignUp(email=email, password=password, name=name)
        return await self._create(request, admin=admin, by_operator=True)

    async def reset_password(self, email: str, password: str) -> None:
        """Set a password by email (the operator's way back in); ends every session."""
        passwords.check_new_password(password)
        account = await self.session.scalar(
            select(Account).where(Account.email == clean_email(email))
        )
        if account is None:
            raise NotFound(f"no account has the email {email.strip()}")
        account.password_hash = await passwords.hash_password(password)
        account.session_epoch += 1
        account.updated_at = utcnow()
        await self.session.commit()
