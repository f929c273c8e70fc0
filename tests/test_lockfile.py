"""uv.lock must match pyproject.toml: a dependency added without `uv lock` fails CI here.

`make test` installs with `uv sync --locked`, which refuses a stale lock too; this test says so
by name, and also covers a run of `.venv/bin/pytest` straight after editing pyproject.toml.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def uv() -> str:
    # The Makefile's pinned uv first, then one on PATH (developers' machines).
    pinned = ROOT / ".tools" / "bin" / "uv"
    found = str(pinned) if pinned.exists() else shutil.which("uv")
    assert found, "uv is not installed: `make test` installs it into .tools/"
    return found


def lock_check(project: Path, *, offline: bool = True) -> subprocess.CompletedProcess[str]:
    # --offline: a lock that matches is a comparison, it must not depend on reaching the index.
    return subprocess.run(
        [uv(), "lock", "--check", *(["--offline"] if offline else []), "--directory", str(project)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_lockfile_matches_pyproject() -> None:
    result = lock_check(ROOT)
    assert result.returncode == 0, (
        "uv.lock does not match pyproject.toml; run `uv lock` and commit uv.lock\n" + result.stderr
    )


def test_lock_check_refuses_a_changed_requirement(tmp_path: Path) -> None:
    # The check above can fail: the same lock is stale once a requirement is added, even one
    # (attrs, through aiohttp) that the lock already holds.
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(ROOT / name, tmp_path / name)
    pyproject = tmp_path / "pyproject.toml"
    text = pyproject.read_text()
    assert "dependencies = [\n" in text
    pyproject.write_text(text.replace("dependencies = [\n", 'dependencies = [\n    "attrs",\n', 1))
    # Online: telling what changed means resolving the new requirement, and offline that
    # depends on what uv's cache happens to hold (the index pages are not part of the lock).
    result = lock_check(tmp_path, offline=False)
    assert result.returncode != 0
    assert "needs to be updated" in result.stderr
