from __future__ import annotations

from stream.dead_letter import dead_letter, sanitize
from stream.records import InboundRecord, SourcePosition


def test_dead_letter_keeps_original_bytes_and_appends_headers() -> None:
    original = InboundRecord(
        key=b"\x00author",
        value=b'{"broken":',
        headers=(("trace-id", b"t1"), ("trace-id", b"t2")),
        source=SourcePosition("messages", 3, 1234, 1.0),
    )
    out = dead_letter(
        original,
        topic="messages.dlq",
        stage="decode",
        reason="invalid_json",
        error_class="DecodeError",
        message="invalid JSON at byte 10",
    )
    assert out.topic == "messages.dlq"
    assert out.key == original.key
    assert out.value == original.value
    assert out.headers[:2] == original.headers
    added = dict(out.headers[2:])
    assert added["vigil.source.topic"] == b"messages"
    assert added["vigil.source.partition"] == b"3"
    assert added["vigil.source.offset"] == b"1234"
    assert added["vigil.error.stage"] == b"decode"
    assert added["vigil.error.reason"] == b"invalid_json"
    assert added["vigil.error.class"] == b"DecodeError"
    assert added["vigil.error.message"] == b"invalid JSON at byte 10"
    assert added["vigil.failed_at"].endswith(b"+00:00")


def test_dead_letter_of_null_value_and_key() -> None:
    original = InboundRecord(None, None, (), SourcePosition("messages", 0, 0, None))
    out = dead_letter(
        original, topic="dlq", stage="decode", reason="empty_value", error_class="E", message="m"
    )
    assert out.key is None
    assert out.value is None


def test_sanitize_removes_content_and_control_characters_and_caps_length() -> None:
    content = "buy cheap pills at example.com"
    assert content not in sanitize(f"failed on {content!r}", content)
    assert "\n" not in sanitize("line1\nline2")
    assert len(sanitize("x" * 1000)) == 256
