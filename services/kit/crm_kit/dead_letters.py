"""The dead-letter record: a message the consumer gave up on, in a form that always fits.

A dead letter goes to ``<topic>.dlq.<group>`` (``crm_contracts.topics.dead_letter_topic``):

- **key**: the original record's key (cut to ``KEY_MAX_BYTES``; ``x-dlq-key-truncated`` then
  holds its original length).
- **value**: the original bytes, unchanged, when they are no larger than an event may be
  (``event_max_bytes``): anything a service of this system produced is kept whole and can be
  replayed. A larger record (nothing here produces one: an attacker's, or a foreign producer's)
  keeps only its first ``PREVIEW_BYTES``, with ``x-dlq-truncated: true``; ``crm dlq replay``
  refuses such a letter.
- **headers**: the error (``x-dlq-error``, ``x-dlq-error-type``), attempts, the source
  coordinates (topic, partition, offset, timestamp in ms, the group), when it was
  dead-lettered, ``x-dlq-truncated`` (``true``/``false``) and ``x-dlq-original-size`` (bytes of
  the original value), then the original record's own headers as text (invalid UTF-8
  replaced), each value cut to ``HEADER_VALUE_MAX_BYTES`` and all of them to
  ``ORIGINAL_HEADERS_MAX_BYTES``; ``x-dlq-headers-dropped`` counts those left out. Original
  headers named ``x-dlq-*`` are dropped: the dead letter's own are the ones that count.

With the defaults the largest dead letter is under 1,010,000 bytes: below Kafka's default
1 MiB, whatever came in.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

DLQ_PREFIX = "x-dlq-"
DLQ_ERROR = "x-dlq-error"
DLQ_ERROR_TYPE = "x-dlq-error-type"
DLQ_ATTEMPTS = "x-dlq-attempts"
DLQ_SOURCE_TOPIC = "x-dlq-source-topic"
DLQ_SOURCE_PARTITION = "x-dlq-source-partition"
DLQ_SOURCE_OFFSET = "x-dlq-source-offset"
DLQ_SOURCE_TIMESTAMP = "x-dlq-source-timestamp"
DLQ_GROUP = "x-dlq-group"
DLQ_AT = "x-dlq-at"
DLQ_TRUNCATED = "x-dlq-truncated"
DLQ_ORIGINAL_SIZE = "x-dlq-original-size"
DLQ_KEY_TRUNCATED = "x-dlq-key-truncated"
DLQ_HEADERS_DROPPED = "x-dlq-headers-dropped"

PREVIEW_BYTES = 64 * 1024
"""What a dead letter keeps of a value too large to keep whole: enough to see what it was."""
KEY_MAX_BYTES = 1024
ERROR_MAX_BYTES = 4000
HEADER_VALUE_MAX_BYTES = 1024
ORIGINAL_HEADERS_MAX_BYTES = 16 * 1024


class OversizedRecord(ValueError):
    """A consumed record larger than any event may be: dead-lettered without being parsed."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"the record's value is {size} bytes, more than the {limit} an event may be"
        )
        self.size = size
        self.limit = limit


@dataclass(frozen=True)
class RecordInfo:
    """Where a consumed record came from, and what came with it besides its value."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    timestamp_ms: int | None = None
    headers: Sequence[tuple[str, bytes]] = field(default=())


@dataclass(frozen=True)
class DeadLetter:
    """What is published to the dead-letter topic."""

    key: bytes
    value: bytes
    headers: dict[str, str]

    @property
    def truncated(self) -> bool:
        return self.headers.get(DLQ_TRUNCATED) == "true"

    def without_body(self) -> DeadLetter:
        """The same letter with no value and none of the original headers: the last resort
        when the broker refuses even the bounded form (a topic limit set lower than 1 MiB)."""
        own = {k: v for k, v in self.headers.items() if k.startswith(DLQ_PREFIX)}
        own[DLQ_TRUNCATED] = "true"
        return DeadLetter(self.key, b"", own)


def describe_error(error: BaseException) -> str:
    """The error as one text of at most ``ERROR_MAX_BYTES`` UTF-8 bytes."""
    text = "".join(traceback.format_exception_only(type(error), error)).strip()
    return text.encode()[:ERROR_MAX_BYTES].decode(errors="ignore")


def build_dead_letter(
    raw: bytes,
    record: RecordInfo,
    error: BaseException,
    *,
    group: str,
    attempts: int,
    body_max_bytes: int,
    now: datetime | None = None,
) -> DeadLetter:
    """The dead letter of ``raw``: whole if it is no larger than ``body_max_bytes``."""
    key = record.key or b""
    headers: dict[str, str] = {
        DLQ_ERROR: describe_error(error),
        DLQ_ERROR_TYPE: type(error).__name__[:200],
        DLQ_ATTEMPTS: str(attempts),
        DLQ_SOURCE_TOPIC: record.topic,
        DLQ_SOURCE_PARTITION: str(record.partition),
        DLQ_SOURCE_OFFSET: str(record.offset),
        DLQ_GROUP: group,
        DLQ_AT: (now or datetime.now(UTC)).isoformat(),
        DLQ_TRUNCATED: "false",
        DLQ_ORIGINAL_SIZE: str(len(raw)),
    }
    if record.timestamp_ms is not None:
        headers[DLQ_SOURCE_TIMESTAMP] = str(record.timestamp_ms)
    if len(key) > KEY_MAX_BYTES:
        headers[DLQ_KEY_TRUNCATED] = str(len(key))
        key = key[:KEY_MAX_BYTES]
    value = raw
    if len(raw) > body_max_bytes:
        headers[DLQ_TRUNCATED] = "true"
        value = raw[: min(PREVIEW_BYTES, body_max_bytes)]
    _add_original_headers(headers, record.headers)
    return DeadLetter(key, value, headers)


def _add_original_headers(into: dict[str, str], original: Sequence[tuple[str, bytes]]) -> None:
    budget = ORIGINAL_HEADERS_MAX_BYTES
    dropped = 0
    for name, raw_value in original:
        if name.lower().startswith(DLQ_PREFIX) or name in into:
            dropped += 1
            continue
        text = _text(raw_value)
        cost = len(name.encode()) + len(text.encode())
        if len(name) > 256 or cost > budget:
            dropped += 1
            continue
        into[name] = text
        budget -= cost
    if dropped:
        into[DLQ_HEADERS_DROPPED] = str(dropped)


def _text(value: bytes | str | None) -> str:
    """A header value as text, cut to ``HEADER_VALUE_MAX_BYTES`` on a character boundary."""
    if value is None:
        return ""
    raw = value.encode() if isinstance(value, str) else bytes(value)
    return raw[:HEADER_VALUE_MAX_BYTES].decode(errors="replace")
