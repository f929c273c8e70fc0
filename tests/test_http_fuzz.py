"""Hostile HTTP, beyond what the OpenAPI document describes (test_openapi_fuzz.py covers that).

Hypothesis writes raw requests to a live `campfire serve` over a plain socket: wrong and broken
content types, odd JSON (deep nesting, NaN, huge numbers, duplicate keys, BOMs, other encodings,
non-UTF-8 bytes), bodies that are chunked, truncated or dribbled in slowly, oversized bodies,
huge and non-ASCII headers, odd methods and query strings. The rules: never a 5xx; every error
the application answers is JSON `{error, code}` with a protocol code and the security headers;
and nothing reaches the server log as an unhandled error.

The one exception is a request that aiohttp's HTTP parser refuses before the application sees
it (a header line over 8190 bytes, a malformed method): that is a plain-text 400 from aiohttp
(see docs/api.md), still never a 5xx.
"""

from __future__ import annotations

import http.client
import json
import math
import socket
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import ErrorCode
from tests.processes import ServerProcess
from tests.support import ADMIN_EMAIL, PASSWORD, UNLIMITED, create_admin

# Bounded: about 20 s on a quiet machine; slow bodies pause at most 3 x 50 ms.
MAX_EXAMPLES = 120
BODY_TIMEOUT = 2  # seconds: the server's CAMPFIRE_BODY_TIMEOUT_SECONDS here
SOCKET_TIMEOUT = 30.0
PARSER_LIMIT = 8190  # aiohttp's max_line_size and max_field_size
CODES = {code.value for code in ErrorCode}
STANDARD_METHODS = {"GET", "POST", "PATCH", "DELETE", "PUT", "OPTIONS"}
# Bytes that HTTP forbids in a header value (tab is allowed).
CONTROL = set(range(0x20)) - {0x09} | {0x7F}


@dataclass
class Target:
    server: ServerProcess
    token: str
    user_id: str
    room_id: str


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    env = {**UNLIMITED, "CAMPFIRE_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT)}
    server = ServerProcess(workdir=tmp_path_factory.mktemp("http-fuzz"), env=env)
    create_admin(server)
    server.start()
    try:
        session = post_json(
            server.url + "/api/session", {"email_address": ADMIN_EMAIL, "password": PASSWORD}
        )
        token = session["token"]
        room = post_json(server.url + "/api/rooms", {"name": "fuzzed", "kind": "open"}, token)[
            "room"
        ]
        yield Target(server, token, session["user"]["id"], room["id"])
    finally:
        server.stop()


def post_json(url: str, body: object, token: str | None = None) -> dict:  # type: ignore[type-arg]
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=SOCKET_TIMEOUT) as response:
        return json.loads(response.read())


# ---- the requests -----------------------------------------------------------------------


@dataclass
class Case:
    method: str
    path: str
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    framing: str = "length"  # length | chunked | truncated | bad-chunk
    pieces: int = 1
    pause: float = 0.0

    @property
    def parser_may_refuse(self) -> bool:
        """aiohttp's parser, not the application, may answer this one."""
        return (
            self.method not in STANDARD_METHODS
            or not self.path.isascii()
            or any(len(n) + len(v) + 2 > PARSER_LIMIT for n, v in self.headers)
            or any(CONTROL & set(v) for _, v in self.headers)
            or self.framing == "bad-chunk"
        )


PATHS = [
    "/api/session",
    "/api/session",
    "/api/rooms",
    "/api/rooms/{room}/messages",
    "/api/rooms/{room}/messages",
    "/api/me",
    "/api/users",
    "/api/rooms",
    "/api/rooms/{room}",
    "/api/rooms/{room}/members",
    "/api/rooms/{room}/members/{user}",
    "/api/rooms/{room}/messages",
    "/api/rooms/{room}/presence",
    "/api/rooms/{odd}/messages",
    "/api/rooms/{room}/members/{odd}",
    "/healthz",
    "/",
    "/no/such/path",
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
# Objects shaped like the API's bodies, with odd values in the known fields.
shaped = st.fixed_dictionaries(
    {},
    optional={
        key: json_values
        for key in (
            "content",
            "client_message_id",
            "email_address",
            "password",
            "name",
            "kind",
            "member_ids",
            "user_id",
            "role",
        )
    },
)


def dumps(value: object) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


bodies = st.one_of(
    st.just(b""),
    json_values.map(dumps),
    shaped.map(dumps),
    st.binary(max_size=200),
    st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),  # nesting past any parser's limit
    st.integers(1, 3000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.integers(100, 20_000).map(lambda n: b'{"content": ' + b"9" * n + b"}"),
    st.just(b'{"name": "a", "name": 1, "kind": "open", "kind": []}'),
    shaped.map(lambda v: b"\xef\xbb\xbf" + dumps(v)),  # UTF-8 BOM
    shaped.map(lambda v: json.dumps(v).encode("utf-16")),
    st.just(b'{"content": "\\ud800 lone surrogate", "name": "\\udfff"}'),
    st.just(b"[" + b"1," * 600_000 + b"1]"),  # over the 1 MiB body limit
)

content_types = st.sampled_from(
    [
        None,
        b"application/json",
        b"application/json; charset=utf-16",
        b"application/json; charset=no-such-charset",
        b"text/plain",
        b"text/html",
        b"multipart/form-data; boundary=xyz",
        b"multipart/form-data",
        b"application/x-www-form-urlencoded",
        b"application/octet-stream",
        b"\x01\x02 weird/\xff",
        b"",
    ]
)

header_values = st.one_of(
    st.binary(min_size=0, max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
    st.integers(100, 20_000).map(lambda n: b"x" * n),
    st.text(max_size=20).map(lambda t: t.encode("utf-8", "surrogatepass")),
)


@st.composite
def cases(draw: st.DrawFn, room_id: str, user_id: str, token: str) -> Case:
    method = draw(
        # Weighted towards the methods that carry a body to a handler that reads it.
        st.sampled_from(["POST"] * 5 + ["PATCH"] * 2 + ["GET", "DELETE", "PUT", "OPTIONS", "FOO"])
    )
    odd = draw(
        st.sampled_from(["x", "00000000-0000-0000-0000-000000000000", "%00", "é", "1" * 300])
    )
    path = draw(st.sampled_from(PATHS)).format(room=room_id, user=user_id, odd=odd)
    query = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["limit", "before", "after", "since", "x", "limit[]"]),
                st.sampled_from(["1", "-1", "0", "abc", "1e9", "9" * 40, "", "%ff", "1_000"]),
            ),
            max_size=3,
        )
    )
    if query:
        path += "?" + "&".join(f"{k}={v}" for k, v in query)
    headers: list[tuple[bytes, bytes]] = [(b"Host", b"127.0.0.1")]
    # Mostly a valid token: most handlers check it before they read the body.
    auth = draw(
        st.sampled_from(["valid"] * 6 + ["none", "garbage", "latin1", "huge", "basic", "empty"])
    )
    auth_value = {
        "none": None,
        "valid": f"Bearer {token}".encode(),
        "garbage": b"Bearer not-a-token",
        "latin1": b"Bearer \xe9\xe8\xff",
        "huge": b"Bearer " + b"A" * draw(st.integers(1000, 12_000)),
        "basic": b"Basic YWxhZGRpbjpvcGVuc2VzYW1l",
        "empty": b"",
    }[auth]
    if method == "DELETE" and path.startswith("/api/session") and auth == "valid":
        auth_value = b"Bearer not-a-token"  # signing out would make every later case a 401
    if auth_value is not None:
        headers.append((b"Authorization", auth_value))
    content_type = draw(content_types)
    if content_type is not None:
        headers.append((b"Content-Type", content_type))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2, 3]))):
        name = draw(
            st.sampled_from([b"X-Fuzz", b"Accept", b"Cookie", b"X-Forwarded-For", b"Origin"])
        )
        headers.append((name, draw(header_values)))
    body = draw(bodies) if method not in {"GET", "OPTIONS"} or draw(st.booleans()) else b""
    framing = draw(st.sampled_from(["length", "length", "chunked", "truncated", "bad-chunk"]))
    pieces = draw(st.integers(1, 3))
    pause = draw(st.sampled_from([0.0, 0.0, 0.05]))
    return Case(method, path, headers, body, framing, pieces, pause)


# ---- one exchange over a raw socket --------------------------------------------------------


@dataclass
class Answer:
    status: int
    content_type: str
    headers: http.client.HTTPMessage
    body: bytes


def head_bytes(case: Case) -> bytes:
    lines = [f"{case.method} {case.path} HTTP/1.1".encode()]
    lines += [name + b": " + value for name, value in case.headers]
    if case.framing in {"chunked", "bad-chunk"}:
        lines.append(b"Transfer-Encoding: chunked")
    elif case.framing == "truncated":
        lines.append(f"Content-Length: {len(case.body) + 10}".encode())
    else:
        lines.append(f"Content-Length: {len(case.body)}".encode())
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def body_pieces(case: Case) -> list[bytes]:
    size = max(1, math.ceil(len(case.body) / case.pieces))
    parts = [case.body[i : i + size] for i in range(0, len(case.body), size)] or [b""]
    if case.framing == "chunked":
        return [f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in parts if p] + [b"0\r\n\r\n"]
    if case.framing == "bad-chunk":
        return [b"zz\r\n" + case.body + b"\r\n0\r\n\r\n"]
    return parts


def exchange(port: int, case: Case) -> Answer | None:
    """Send the case, slowly if it says so; None if the server closed without answering."""
    with socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT) as sock:
        try:
            sock.sendall(head_bytes(case))
            for piece in body_pieces(case):
                sock.sendall(piece)
                if case.pause:
                    time.sleep(case.pause)  # a slow client is the input here, not a wait
            if case.framing == "truncated":
                sock.shutdown(socket.SHUT_WR)  # the promised last 10 bytes never come
        except OSError:
            pass  # the server answered early (413, a parser error) and closed: read that
        response = http.client.HTTPResponse(sock, method=case.method)
        try:
            response.begin()
            body = response.read()
        except (http.client.RemoteDisconnected, ConnectionResetError):
            return None
        return Answer(
            response.status,
            response.headers.get_content_type(),
            response.headers,
            body,
        )


def check(case: Case, answer: Answer | None) -> None:
    if answer is None:
        # Only a client that hung up mid-body may go unanswered (nobody is left to read it).
        assert case.framing == "truncated" or case.parser_may_refuse, case
        return
    assert answer.status < 500, (case, answer.status, answer.body[:300])
    if answer.content_type != "application/json" and answer.status >= 400:
        assert case.parser_may_refuse and answer.status == 400, (case, answer)
        return
    assert answer.headers.get("X-Content-Type-Options") == "nosniff", answer.headers
    assert "frame-ancestors 'none'" in answer.headers.get("Content-Security-Policy", "")
    if answer.status >= 400:
        data = json.loads(answer.body)
        assert isinstance(data, dict) and set(data) == {"error", "code"}, data
        assert data["code"] in CODES and isinstance(data["error"], str) and data["error"], data


def unhandled_errors(log_path: Path) -> list[str]:
    text = log_path.read_text(errors="replace")
    return [line for line in text.splitlines() if "unhandled error" in line or "Traceback" in line]


@pytest.mark.timeout(300)  # a safety net for a loaded machine; ~20 s on a quiet one
def test_hostile_requests_get_a_json_refusal_never_a_server_error(target: Target) -> None:
    server = target.server
    before = unhandled_errors(server.log_path)

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case=cases(target.room_id, target.user_id, target.token))
    def fuzz(case: Case) -> None:
        check(case, exchange(server.port, case))

    # Each framing on each kind of body-reading route, whatever Hypothesis draws.
    auth = [(b"Host", b"127.0.0.1"), (b"Authorization", f"Bearer {target.token}".encode())]
    for method, path in [
        ("POST", "/api/session"),
        ("POST", "/api/rooms"),
        ("POST", f"/api/rooms/{target.room_id}/messages"),
        ("PATCH", f"/api/rooms/{target.room_id}"),
    ]:
        for framing in ("length", "chunked", "truncated", "bad-chunk"):
            for body in (b'{"content": "x", "name": "y"}', b"[" * 2000, b"\xff\xfe"):
                case = Case(method, path, auth, body, framing, pieces=2, pause=0.01)
                check(case, exchange(server.port, case))
    fuzz()
    assert unhandled_errors(server.log_path) == before
    assert server.running


def test_a_stalled_body_is_refused_with_408_json(target: Target) -> None:
    """Headers, half a body, then nothing: refused after the body timeout, not held forever."""
    credentials = {"email_address": ADMIN_EMAIL, "password": PASSWORD}
    token = post_json(target.server.url + "/api/session", credentials)["token"]
    body = json.dumps({"content": "never finished"}).encode()
    head = (
        f"POST /api/rooms/{target.room_id}/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", target.server.port), timeout=SOCKET_TIMEOUT) as s:
        s.sendall(head + body[:10])
        response = http.client.HTTPResponse(s, method="POST")
        response.begin()  # blocks until the server gives up on the rest of the body
        data = json.loads(response.read())
    assert response.status == 408
    assert data["code"] == "invalid_message_format" and "did not arrive" in data["error"]
