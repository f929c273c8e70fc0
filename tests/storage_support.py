"""A private S3-compatible server for tests: moto in server mode, on a free 127.0.0.1 port.

A test module takes its `s3_endpoint` fixture from `s3_endpoint_fixture(tag, bucket)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
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


@contextlib.contextmanager
def s3_credentials() -> Iterator[None]:
    """S3_ENV in this process's environment (where the S3 client finds its credentials) for
    the block; what was there before is put back after."""
    saved = {name: os.environ.get(name) for name in S3_ENV}
    os.environ.update(S3_ENV)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def s3_endpoint_fixture(tag: str, bucket: str) -> Any:
    """A module's `s3_endpoint` fixture: a moto server with `bucket` made, and the test
    credentials in the environment, for the module."""

    @pytest.fixture(scope="module", name="s3_endpoint")
    def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
        with s3_credentials(), moto_server(tmp_path_factory.mktemp(tag)) as endpoint:
            create_bucket(endpoint, bucket)
            yield endpoint

    return s3_endpoint
