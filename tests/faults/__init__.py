"""The fault suite: the app under load while its database, cache or workers fail.

Run with `make faults`; figures in test-results/faults.json, reported by
`python -m tests.faults.report` into docs/reliability.md.
"""
