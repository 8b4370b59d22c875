"""Dead letters always fit the broker; which broker refusals are final; the size settings."""

from __future__ import annotations

from typing import ClassVar

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
    TopicAuthorizationFailedError,
)
from crm_kit.dead_letters import (
    DLQ_ERROR,
    DLQ_HEADERS_DROPPED,
    DLQ_KEY_TRUNCATED,
    DLQ_ORIGINAL_SIZE,
    DLQ_SOURCE_OFFSET,
    DLQ_SOURCE_PARTITION,
    DLQ_SOURCE_TIMESTAMP,
    DLQ_SOURCE_TOPIC,
    DLQ_TRUNCATED,
    KEY_MAX_BYTES,
    PREVIEW_BYTES,
    OversizedRecord,
    RecordInfo,
    build_dead_letter,
)
from crm_kit.records import (
    DEFAULT_EVENT_MAX_BYTES,
    KAFKA_DEFAULT_MAX_MESSAGE_BYTES,
    is_permanent,
    record_size,
)
from crm_kit.settings import ServiceSettings
from pydantic import ValidationError

THREE_MB = 3 * 1024 * 1024


def _letter_size(raw: bytes, record: RecordInfo, error: BaseException) -> int:
    letter = build_dead_letter(
        raw, record, error, group="crm-x", attempts=3, body_max_bytes=DEFAULT_EVENT_MAX_BYTES
    )
    return record_size(letter.key, letter.value, letter.headers)


def test_a_three_megabyte_record_is_dead_lettered_as_a_flagged_preview_with_its_coordinates() -> (
    None
):
    raw = b"x" * THREE_MB
    record = RecordInfo("crm.contacts.v1", 4, 1234, b"client-1", 1_765_000_000_000, (("h", b"v"),))
    letter = build_dead_letter(
        raw,
        record,
        OversizedRecord(len(raw), DEFAULT_EVENT_MAX_BYTES),
        group="crm-x",
        attempts=0,
        body_max_bytes=DEFAULT_EVENT_MAX_BYTES,
    )
    assert letter.value == raw[:PREVIEW_BYTES]
    assert letter.truncated
    assert letter.key == b"client-1"
    assert letter.headers[DLQ_TRUNCATED] == "true"
    assert letter.headers[DLQ_ORIGINAL_SIZE] == str(THREE_MB)
    assert (
        letter.headers[DLQ_SOURCE_TOPIC],
        letter.headers[DLQ_SOURCE_PARTITION],
        letter.headers[DLQ_SOURCE_OFFSET],
        letter.headers[DLQ_SOURCE_TIMESTAMP],
    ) == ("crm.contacts.v1", "4", "1234", "1765000000000")
    assert letter.headers["h"] == "v"
    assert "3145728 bytes" in letter.headers[DLQ_ERROR]


def test_a_record_no_larger_than_an_event_is_dead_lettered_byte_for_byte() -> None:
    raw = bytes(range(256)) * (DEFAULT_EVENT_MAX_BYTES // 256)
    assert len(raw) <= DEFAULT_EVENT_MAX_BYTES
    record = RecordInfo("t", 0, 1, b"k", None, (("x-dlq-error", b"forged"), ("trace", b"\xff")))
    letter = build_dead_letter(
        raw, record, ValueError("bad"), group="g", attempts=3, body_max_bytes=len(raw)
    )
    assert letter.value == raw
    assert not letter.truncated
    assert letter.headers[DLQ_TRUNCATED] == "false"
    assert letter.headers[DLQ_ERROR] == "ValueError: bad"  # the original's x-dlq-* is dropped
    assert letter.headers["trace"] == "\ufffd"
    assert letter.headers[DLQ_HEADERS_DROPPED] == "1"


def test_the_largest_dead_letter_fits_under_kafkas_default_limit_whatever_came_in() -> None:
    # The worst case: a whole value at the event limit, a huge key, thousands of large
    # headers, an error message of 4-byte characters.
    raw = b"v" * DEFAULT_EVENT_MAX_BYTES
    headers = tuple((f"header-{i}", b"h" * 5000) for i in range(2000))
    record = RecordInfo("crm.contacts.v1", 5, 2**62, b"k" * 100_000, 2**62, headers)
    error = RuntimeError("\U0001f600" * 100_000)
    size = _letter_size(raw, record, error)
    assert size < KAFKA_DEFAULT_MAX_MESSAGE_BYTES
    letter = build_dead_letter(
        raw, record, error, group="g", attempts=3, body_max_bytes=DEFAULT_EVENT_MAX_BYTES
    )
    assert len(letter.key) == KEY_MAX_BYTES
    assert letter.headers[DLQ_KEY_TRUNCATED] == "100000"
    assert int(letter.headers[DLQ_HEADERS_DROPPED]) > 1900


def test_without_its_body_a_dead_letter_keeps_only_its_own_headers() -> None:
    record = RecordInfo("t", 0, 1, b"k", None, (("trace", b"abc"),))
    letter = build_dead_letter(
        b"{}", record, ValueError("bad"), group="g", attempts=1, body_max_bytes=1000
    )
    bare = letter.without_body()
    assert (bare.value, bare.truncated, bare.key) == (b"", True, b"k")
    assert "trace" not in bare.headers
    assert bare.headers[DLQ_SOURCE_TOPIC] == "t"


@pytest.mark.parametrize(
    "error",
    [
        MessageSizeTooLargeError(),
        TopicAuthorizationFailedError(),
    ],
)
def test_a_refusal_of_the_record_itself_is_permanent(error: Exception) -> None:
    assert is_permanent(error)


@pytest.mark.parametrize(
    "error",
    [
        KafkaConnectionError(),
        KafkaTimeoutError(),
        RequestTimedOutError(),
        NotLeaderForPartitionError(),
        RuntimeError("anything else"),
    ],
)
def test_the_broker_away_or_slow_is_transient(error: Exception) -> None:
    assert not is_permanent(error)


class _Settings(ServiceSettings):
    service_name: ClassVar[str] = "sizes"


def test_events_are_kept_a_margin_under_the_brokers_limit_by_default() -> None:
    settings = _Settings()
    assert settings.kafka_max_message_bytes == 1_048_576
    assert settings.event_max_bytes == 1_048_576 - 64 * 1024


def test_an_event_limit_too_close_to_the_brokers_is_refused() -> None:
    with pytest.raises(ValidationError, match="event_max_bytes"):
        _Settings(event_max_bytes=1_040_000)
