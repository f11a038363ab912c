"""SSE parsing, error mapping and retry helpers shared by the HTTP backends."""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
import pytest

from bot.errors import BackendUnavailable, GenerationTimeout, InferenceError
from bot.inference.http.errors import (
    PromptTooLong,
    ServerError,
    error_for_status,
    extract_server_message,
    map_transport_error,
    redact,
)
from bot.inference.http.limits import HttpTimeouts, RetryPolicy
from bot.inference.http.requests import server_label
from bot.inference.http.sse import SseEvent, _SseParser
from bot.inference.http.streaming import stream_with_retries


def parse_all(chunks: list[bytes]) -> list[SseEvent]:
    parser = _SseParser()
    events: list[SseEvent] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    return events + parser.feed(b"", final=True)


def test_sse_events_split_anywhere_parse_the_same() -> None:
    body = 'event: message\ndata: {"token": "h\xe9"}\n\n: keep-alive\ndata: [DONE]\n\n'.encode()
    whole = parse_all([body])
    bytewise = parse_all([body[i : i + 1] for i in range(len(body))])
    assert (
        whole
        == bytewise
        == [
            SseEvent("message", '{"token": "h\xe9"}'),
            SseEvent("message", "[DONE]"),
        ]
    )


def test_sse_crlf_multiline_data_and_unterminated_last_event() -> None:
    body = b"event: custom\r\ndata: a\r\ndata: b\r\n\r\ndata: [DONE]"
    assert parse_all([body[:20], body[20:]]) == [
        SseEvent("custom", "a\nb"),
        SseEvent("message", "[DONE]"),
    ]


def test_sse_cr_split_from_lf_is_one_line_break() -> None:
    assert parse_all([b"data: x\r", b"\n\r\n"]) == [SseEvent("message", "x")]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"error": {"message": "prompt is too long", "code": 400}}', "prompt is too long"),
        ('{"object": "error", "message": "bad top_p"}', "bad top_p"),
        ('{"detail": {"msg": "Server is busy", "type": "service_unavailable"}}', "Server is busy"),
        ('{"detail": [{"loc": ["body"], "msg": "field required"}]}', "field required"),
        ("plain words\n  here", "plain words here"),
        ("<html><body>502 Bad Gateway</body></html>", ""),
    ],
)
def test_server_messages_are_extracted(body: str, expected: str) -> None:
    assert extract_server_message(body) == expected


def test_long_server_messages_are_trimmed() -> None:
    assert len(extract_server_message("x" * 5000)) <= 300


def test_status_mapping() -> None:
    assert isinstance(error_for_status(401, "", "http://h:1"), BackendUnavailable)
    assert "API key" in error_for_status(403, "", "http://h:1").user_message
    server_error = error_for_status(503, "busy", "http://h:1")
    assert isinstance(server_error, ServerError) and server_error.status == 503
    client_error = error_for_status(422, '{"message": "nope"}', "http://h:1")
    assert type(client_error) is InferenceError and "nope" in client_error.detail
    too_long = error_for_status(400, '{"message": "maximum context length is 2048"}', "http://h:1")
    assert isinstance(too_long, PromptTooLong)


def test_members_read_a_short_sentence_and_the_log_gets_the_redacted_detail(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = (
        '{"error": {"message": "failed to load /srv/models/secret.gguf from '
        'http://admin:hunter2@10.0.0.7:9000/v1 (api_key=sk-abc123)"}}'
    )
    with caplog.at_level(logging.INFO, logger="bot.inference.http.errors"):
        error = error_for_status(500, body, "http://10.0.0.7:9000")
    shown = error.user_message
    for leak in ("/srv/models", "10.0.0.7", "hunter2", "admin", "sk-abc123", "http"):
        assert leak not in shown
    assert "/srv/models/secret.gguf" in error.detail and "10.0.0.7" in error.detail
    assert "hunter2" not in error.detail and "sk-abc123" not in error.detail
    assert "hunter2" not in caplog.text and "/srv/models/secret.gguf" in caplog.text
    assert redact("Bearer abc.def x") == "Bearer *** x"


def test_label_hides_credentials_and_path() -> None:
    assert server_label("http://user:secret@example.com:8000/v1?key=x") == (
        "http://example.com:8000"
    )


def test_retry_delay_is_exponential_and_capped() -> None:
    policy = RetryPolicy(max_retries=5, base_delay=0.5, max_delay=1.5)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 1.5, 1.5]


async def test_retry_only_before_text_and_with_a_fresh_stop_matcher() -> None:
    attempts: list[int] = []

    async def attempt():  # first try: a held-back stop prefix, then a 500
        attempts.append(1)
        if len(attempts) == 1:
            yield "\nYo"
            raise ServerError("boom", 500)
        yield "Hi"
        yield "\nYou:"

    policy = RetryPolicy(max_retries=2, base_delay=0)
    pieces = [p async for p in stream_with_retries(attempt, ["\nYou:"], policy, "x")]
    assert pieces == ["Hi"] and len(attempts) == 2


async def test_no_retry_after_text() -> None:
    attempts: list[int] = []

    async def attempt():
        attempts.append(1)
        yield "Hello"
        raise ServerError("boom", 500)

    pieces: list[str] = []
    with pytest.raises(ServerError):
        async for piece in stream_with_retries(attempt, [], RetryPolicy(base_delay=0), "x"):
            pieces.append(piece)
    assert pieces == ["Hello"] and len(attempts) == 1


def test_transport_errors_map_to_user_errors() -> None:
    timeouts = HttpTimeouts(connect=2, total=30, read=5)
    label = "http://h:1"

    def mapped(error: BaseException) -> object:
        return map_transport_error(error, label, timeouts)

    assert isinstance(mapped(aiohttp.ConnectionTimeoutError()), BackendUnavailable)
    silence = mapped(aiohttp.SocketTimeoutError())
    assert isinstance(silence, GenerationTimeout) and "5 seconds" in silence.user_message
    total = mapped(TimeoutError())
    assert isinstance(total, GenerationTimeout) and "30 seconds" in total.user_message
    cut = mapped(aiohttp.ClientPayloadError("incomplete"))
    assert type(cut) is InferenceError and "could not read" in cut.user_message
    assert "could not read" in mapped(json.JSONDecodeError("x", "{", 0)).user_message
    assert mapped(asyncio.CancelledError()) is None  # never swallowed
    assert mapped(RuntimeError("a bug")) is None  # bugs are not dressed up as server errors
