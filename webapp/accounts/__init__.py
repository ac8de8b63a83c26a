"""Accounts: who is asking. Sign-up, log-in, sessions, personal API tokens, invites and
the admin's page; every other domain scopes its data by the account it gets here."""
