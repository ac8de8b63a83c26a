"""Tasks: a small self-hosted task manager."""
