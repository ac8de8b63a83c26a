"""Idempotency keys: a POST to /api sent again with the same `Idempotency-Key` gets the
first answer again, and changes nothing twice."""
