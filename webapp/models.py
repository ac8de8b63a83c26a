"""Every mapped model, imported in one place so that Alembic sees the whole schema."""

from webapp.accounts.models import Account, ApiToken, Invite
from webapp.idempotency.models import IdempotencyRecord
from webapp.jobs.models import Job, JobItem, JobPart
from webapp.lists.models import ListMember, TaskList
from webapp.tasks.models import Task

__all__ = [
    "Account",
    "ApiToken",
    "IdempotencyRecord",
    "Invite",
    "Job",
    "JobItem",
    "JobPart",
    "ListMember",
    "Task",
    "TaskList",
]
