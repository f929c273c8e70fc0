"""Helpers for the Redis and PostgreSQL tests: real servers on loopback, per-run isolation."""

from __future__ import annotations

from tests.support import free_port

REDIS_URL = "redis://127.0.0.1:6379/0"
POSTGRES_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"

__all__ = ["POSTGRES_ADMIN_DSN", "REDIS_URL", "free_port"]
