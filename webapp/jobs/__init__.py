"""Background jobs, whatever they do: the broker, the queue that sends them, and what a
worker needs to run them (its own engine and cache, retries, re-sending lost jobs).

A kind of job (`JobKind`, e.g. a bulk restore) says how one job is run, failed and
re-sent; this package knows nothing else about it.
"""
