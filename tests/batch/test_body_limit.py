"""PLANFEED_MAX_BODY_BYTES holds for every body kind, and is enforced while the body streams in."""

import asyncio

import orjson
import pytest
from fastapi.testclient import TestClient

from planfeed.accounts.models import Role
from planfeed.config import Settings
from planfeed.http.app import create_app
from support import TEST_SECRET

LIMIT = 1000
CHUNK = 100
BOUNDARY = "planfeed-test-boundary"


@pytest.fixture
def small_app(db, tmp_path):
    settings = Settings(
        database_url=db.url,
        data_dir=tmp_path,
        secret_key=TEST_SECRET,
        run_worker=False,
        max_body_bytes=LIMIT,
    )
    return create_app(settings, engine=db.engine)


@pytest.fixture
def key(make_tenant):
    tenant = make_tenant("acme")
    tenant.user("root", Role.SUPER_ADMIN)
    return tenant.key("root")


def multipart(payload: bytes, *, field: bytes = b"") -> bytes:
    """A form with an optional text field first, then the file part."""
    parts = b""
    if field:
        parts += (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="note"\r\n\r\n'.encode()
            + field
            + b"\r\n"
        )
    parts += (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="u.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n".encode()
        + payload
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    return parts


FORM = f"multipart/form-data; boundary={BOUNDARY}"


def post_streamed(app, key, body: bytes, content_type: str) -> tuple[int, dict, int]:
    """POST ``body`` to the ASGI app in CHUNK-byte messages without a Content-Length.

    Returns the status, the JSON answer and how many body bytes the app pulled.
    """
    pulled = 0
    chunks = [body[i : i + CHUNK] for i in range(0, len(body), CHUNK)]
    sent: list[dict] = []

    async def receive():
        nonlocal pulled
        if not chunks:
            return {"type": "http.disconnect"}
        chunk = chunks.pop(0)
        pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/progressupdates/big",
        "raw_path": b"/api/progressupdates/big",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"authorization", f"API-KEY {key}".encode()),
            (b"content-type", content_type.encode()),
            (b"transfer-encoding", b"chunked"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body_out = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], orjson.loads(body_out), pulled


@pytest.mark.parametrize("field", [b"", b"n" * 5000], ids=["file-only", "big-field-first"])
def test_oversized_multipart_stops_reading_at_the_limit(small_app, key, field):
    body = multipart(b"EXT-1,On Track,,2025-01-01\n" * 4000, field=field)  # ~100 KB
    status, answer, pulled = post_streamed(small_app, key, body, FORM)
    assert status == 413
    assert answer["error"] == "body_too_large"
    assert f"{LIMIT} bytes" in answer["message"]
    assert pulled <= LIMIT + CHUNK  # it stopped, instead of spooling the whole upload
    assert pulled < len(body) // 10


def test_oversized_raw_body_stops_reading_at_the_limit(small_app, key):
    body = b"EXT-1,On Track,,2025-01-01\n" * 4000
    status, answer, pulled = post_streamed(small_app, key, body, "application/octet-stream")
    assert status == 413
    assert f"{LIMIT} bytes" in answer["message"]
    assert pulled <= LIMIT + CHUNK


def test_multipart_at_the_limit_is_accepted(small_app, key):
    overhead = len(multipart(b""))
    body = multipart(b"x" * (LIMIT - overhead))
    assert len(body) == LIMIT
    status, answer, pulled = post_streamed(small_app, key, body, FORM)
    assert status == 200, answer
    assert answer.keys() == {"jobId"}
    assert pulled == LIMIT
    status, answer, _ = post_streamed(
        small_app, key, multipart(b"x" * (LIMIT - overhead + 1)), FORM
    )
    assert status == 413


def test_multipart_through_the_client_with_and_without_a_length(small_app, key):
    headers = {"Authorization": f"API-KEY {key}"}
    files = {"file": ("u.csv", b"EXT-1,On Track,,2025-01-01\n" * 100, "text/csv")}
    with TestClient(small_app) as client:
        declared = client.post("/api/progressupdates/u", files=files, headers=headers)
        assert declared.status_code == 413
        assert f"{LIMIT} bytes" in declared.json()["message"]
        body = multipart(b"EXT-1,On Track,,2025-01-01\n" * 100)
        streamed = client.post(
            "/api/progressupdates/u",
            content=iter([body[i : i + CHUNK] for i in range(0, len(body), CHUNK)]),
            headers={**headers, "Content-Type": FORM},
        )
        assert streamed.status_code == 413
        assert f"{LIMIT} bytes" in streamed.json()["message"]


def test_bad_multipart_bodies_get_a_clear_400(small_app, key):
    headers = {"Authorization": f"API-KEY {key}"}
    with TestClient(small_app) as client:
        no_boundary = client.post(
            "/api/progressupdates/u",
            content=b"whatever",
            headers={**headers, "Content-Type": "multipart/form-data"},
        )
        assert no_boundary.status_code == 400
        assert no_boundary.json()["error"] == "invalid_multipart"
        assert "-F file=@" in no_boundary.json()["message"]
        no_file = client.post(
            "/api/progressupdates/u",
            content=f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n'
            f"--{BOUNDARY}--\r\n".encode(),
            headers={**headers, "Content-Type": FORM},
        )
        assert no_file.status_code == 400
        assert no_file.json()["error"] == "no_file"
