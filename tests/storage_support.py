"""A private S3-compatible server for tests: moto in server mode, on a free 127.0.0.1 port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aiobotocore.session import get_session

from tests.processes import free_port, spawn, stop_process

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "campfire-test",
    "AWS_SECRET_ACCESS_KEY": "campfire-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextlib.contextmanager
def moto_server(workdir: Path) -> Iterator[str]:
    """Start moto's S3 server as a child process; yield its endpoint URL; stop it by PID."""
    port = free_port()
    env = {**os.environ, **S3_ENV}
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    # moto imports much of boto: on a loaded machine it takes long to listen.
    process = spawn(command, env, workdir / f"moto-{port}.log", port, timeout=300)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(process, 15, 10)


def create_bucket(endpoint: str, bucket: str) -> None:
    async def make() -> None:
        session = get_session()
        async with session.create_client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
            region_name=S3_ENV["AWS_DEFAULT_REGION"],
        ) as s3:
            await s3.create_bucket(Bucket=bucket)

    # On a thread of its own: the caller may be inside a running event loop (a fixture).
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, make()).result()
