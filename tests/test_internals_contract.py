"""Every python-engineio / python-socketio internal the seam relies on is still there.

The list is `app/realtime/engineio_seam/contract.py` (the seam reads the same list at start-up
and falls back to the stock path when the fast path's entries are broken). An upgrade that
renames, removes or re-signs one of them fails here, naming it.
"""

from __future__ import annotations

import pytest

from app.realtime.engineio_seam import contract
from app.realtime.engineio_seam.contract import CONTRACT, Requirement, problem


@pytest.mark.parametrize("req", CONTRACT, ids=[f"{r.path}:{r.label}" for r in CONTRACT])
def test_the_installed_libraries_keep_what_the_seam_relies_on(req: Requirement) -> None:
    issue = problem(req)
    assert issue is None, f"{issue} -- needed because: {req.why} (path: {req.path})"


def test_a_missing_attribute_is_named() -> None:
    renamed = Requirement(
        "engineio.async_socket:AsyncSocket", "queue_renamed", "attribute", None, "both", "x"
    )
    assert problem(renamed) == "engineio.async_socket.AsyncSocket.queue_renamed is missing"


def test_a_changed_signature_is_named() -> None:
    resigned = Requirement(
        "socketio.async_manager:AsyncManager",
        "get_participants",
        "method",
        ("self", "namespace", "room", "extra"),
        "both",
        "x",
    )
    message = problem(resigned)
    assert message is not None
    assert "socketio.async_manager.AsyncManager.get_participants changed signature" in message
    assert "found (self, namespace, room)" in message


def test_a_broken_fast_path_requirement_makes_the_server_serve_the_stock_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.config import Settings
    from app.realtime.engineio_seam import create_server, is_fast_path

    missing = Requirement(
        "engineio.async_socket:AsyncSocket", "_gone", "attribute", None, "fast", "test"
    )
    monkeypatch.setattr(contract, "CONTRACT", (*CONTRACT, missing))
    contract.fast_path_problems.cache_clear()
    try:
        sio = create_server(Settings(engine_fast_path=True))
        assert not is_fast_path(sio)
    finally:
        monkeypatch.undo()
        contract.fast_path_problems.cache_clear()
    assert is_fast_path(create_server(Settings(engine_fast_path=True)))
    assert not is_fast_path(create_server(Settings(engine_fast_path=False)))
