"""Background jobs: plain async functions that the arq worker runs (REDIS_URL set) or that the
web process runs itself on the same schedule (the embedded default)."""
