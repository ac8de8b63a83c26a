"""Bulk restore: a job restores many tasks from the trash, in batches, on a Dramatiq worker."""
