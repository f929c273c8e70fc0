"""Fuzz the live server against the OpenAPI document it serves (schemathesis 4, Python API).

Each operation gets schema-valid requests and, where it has inputs, schema-invalid ones,
authenticated as an admin who owns a room (half of the valid cases aim at that room, so that
code past the 404 runs too). Every answer must: not be a 5xx; have a documented status,
content type, headers and body; accept valid data (no 400/422 for it); refuse invalid data;
and, where the operation needs a token, be 401 without one.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import load_all_checks

from app.http.openapi import openapi_document
from tests.support import ADMIN_EMAIL, PASSWORD, UNLIMITED, ServerProcess, create_admin

load_all_checks()
from schemathesis.specs.openapi import checks as openapi_checks  # noqa: E402

# Bounded: 25 examples per operation and mode, about a minute in all on a quiet machine.
MAX_EXAMPLES = 25

CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.negative_data_rejection,
    openapi_checks.positive_data_acceptance,
    openapi_checks.ignored_auth,
]


def _operations() -> list[tuple[str, str, bool]]:
    """(operationId, label, whether it has inputs that can be made invalid), from the document."""
    found = []
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            has_inputs = bool(operation.get("parameters") or operation.get("requestBody"))
            found.append((operation["operationId"], f"{method.upper()} {path}", has_inputs))
    return sorted(found)


# Not fuzzed: logging out would revoke the token every other case uses (tests/test_http_api.py
# covers it), and schemathesis leaves out the document's own operation.
# Nor: deleting a room (it would delete the fixture's room that half the cases aim at);
# uploading an avatar (any bytes fit "binary", few are an image; tests/test_people.py covers
# it); and bots' webhook URLs, whose acceptance depends on DNS and the address they resolve
# to (tests/test_bots.py covers them).
# Unknown query parameters are ignored (as on every GET); schemathesis's negative mode counts
# an extra one as invalid data that should have been refused.
IGNORES_EXTRA_QUERY = {"search"}
UNFUZZED = {"logout", "openapi", "deleteRoom", "putAvatar", "createBot", "updateBot"}
# Operations whose schema-valid input can still be refused with 422 because of stored state or
# configuration, as PROTOCOL.md demands (markRead: a seq past the room's last message;
# subscribePush: an http:// endpoint without CAMPFIRE_PUSH_ALLOW_HTTP, or a private host).
STATE_CHECKED = {"markRead", "subscribePush"}
CASES = [
    pytest.param(operation_id, mode, id=f"{operation_id}-{mode.value}")
    for operation_id, _, has_inputs in _operations()
    if operation_id not in UNFUZZED
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if has_inputs or mode is GenerationMode.POSITIVE
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A live server of this module's own, not the session's shared one: as an admin the
    fuzzer changes what it may (it made its room `auto_join`, say, and every user created
    afterwards joined it), which must not reach the tests that share a server."""
    workdir = tmp_path_factory.mktemp("fuzz-server")
    process = ServerProcess(workdir=workdir, env=dict(UNLIMITED))
    create_admin(process)
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def fuzz_session(server: ServerProcess) -> Iterator[dict[str, Any]]:
    """An admin's token and a room of theirs with a message, on the module's live server."""
    with requests.Session() as http:
        answer = http.post(
            server.url + "/api/session",
            json={"email_address": ADMIN_EMAIL, "password": PASSWORD},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        headers = {"Authorization": f"Bearer {answer.json()['token']}"}
        user_id = answer.json()["user"]["id"]
        answer = http.post(
            server.url + "/api/rooms",
            json={"name": "fuzzing", "kind": "open"},
            headers=headers,
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        room_id = answer.json()["room"]["id"]
        answer = http.post(
            server.url + f"/api/rooms/{room_id}/messages",
            json={"content": "seed", "client_message_id": str(uuid.uuid4())},
            headers=headers,
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        yield {"headers": headers, "room_id": room_id, "user_id": user_id}


@pytest.fixture(scope="module")
def api_schema(server: ServerProcess) -> Any:
    # Loaded over HTTP from the server itself: the document under test is the one it serves.
    return schemathesis.openapi.from_url(server.url + "/api/openapi.json", timeout=30)


def test_the_document_loads_with_every_operation(api_schema: Any) -> None:
    loaded = {result.ok().label for result in api_schema.get_all_operations()}
    documented = {label for operation_id, label, _ in _operations() if operation_id != "openapi"}
    assert loaded == documented


@pytest.mark.parametrize("operation_id, mode", CASES)
def test_the_server_keeps_its_openapi_document(
    api_schema: Any,
    fuzz_session: dict[str, Any],
    server: ServerProcess,
    operation_id: str,
    mode: GenerationMode,
) -> None:
    operation = api_schema.find_operation_by_id(operation_id)
    aims_at_room = "{room_id}" in operation.path and mode is GenerationMode.POSITIVE
    turn = itertools.count()
    seen: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        if aims_at_room and next(turn) % 2 == 0:
            case.path_parameters["room_id"] = fuzz_session["room_id"]
        if mode is GenerationMode.POSITIVE and isinstance(case.body, dict):
            # Mentions must name members of the room (PROTOCOL.md 9.1), which no schema can
            # say: valid cases mention the one member the fuzzer's room has.
            if case.body.get("mention_ids"):
                case.body["mention_ids"] = [fuzz_session["user_id"]]
        checks = CHECKS
        if operation_id in STATE_CHECKED:
            checks = [c for c in CHECKS if c is not openapi_checks.positive_data_acceptance]
        if operation_id in IGNORES_EXTRA_QUERY:
            checks = [c for c in checks if c is not openapi_checks.negative_data_rejection]
        response = case.call_and_validate(
            headers=fuzz_session["headers"], checks=checks, timeout=30
        )
        seen.append(response.status_code)

    log_start = server.log_path.stat().st_size
    try:
        run()
    except BaseException:
        # The server's side of a failure (a traceback behind a 500, say), for the report.
        print(server.log_path.read_text(errors="replace")[log_start:][-4000:])
        raise
    # The run really reached the server (a generator that gives up would pass vacuously).
    assert seen, "no request was made"
