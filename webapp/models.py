"""Every mapped model, imported in one place so that Alembic sees the whole schema."""

from webapp.restore.models import RestoreJob, RestoreJobItem
from webapp.tasks.models import Task

__all__ = ["RestoreJob", "RestoreJobItem", "Task"]
