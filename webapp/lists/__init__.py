"""Lists: every task is in one; an account's lists, and those shared with it."""
