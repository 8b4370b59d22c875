"""Kafka records: how big one may be, and which refusals by the broker are final.

Kafka refuses a record larger than the topic's ``max.message.bytes`` (1 MiB unless configured),
and the producer refuses one larger than its ``max_request_size`` before sending it. The kit
sends three kinds of record: events (bounded when they are written, ``crm_kit.outbox``), dead
letters (bounded when they are built, ``crm_kit.dead_letters``) and nothing else; each stays
under the limit with a margin for the key, headers and record framing.

A per-record refusal (too large, a corrupt or invalid record, no right to write the topic) is
final: sending the same record again gets the same answer. Anything else (the broker away, a
timeout, a leader moving) is transient and worth retrying.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiokafka.errors import (
    CorruptRecordException,
    InvalidProducerEpoch,
    InvalidTimestampError,
    InvalidTopicError,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumber,
    PolicyViolationError,
    ProducerFenced,
    RecordListTooLargeError,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
    UnknownProducerId,
    UnsupportedForMessageFormatError,
)
from aiokafka.record.default_records import DefaultRecordBatchBuilder

KAFKA_DEFAULT_MAX_MESSAGE_BYTES = 1_048_576
"""Kafka's default ``max.message.bytes`` (topic) and aiokafka's ``max_request_size``: 1 MiB."""
RECORD_MARGIN_BYTES = 64 * 1024
"""Kept free under the broker's limit for what is not the value: key, headers, framing."""
DEFAULT_EVENT_MAX_BYTES = KAFKA_DEFAULT_MAX_MESSAGE_BYTES - RECORD_MARGIN_BYTES
"""The largest encoded event (envelope plus key) the kit writes by default: 960 KiB."""

PERMANENT_RECORD_ERRORS: tuple[type[Exception], ...] = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    CorruptRecordException,  # also aiokafka's InvalidMessageError (Kafka's INVALID_RECORD)
    InvalidTopicError,
    InvalidTimestampError,
    TopicAuthorizationFailedError,
    UnsupportedForMessageFormatError,
    PolicyViolationError,
)

PRODUCER_OUT_OF_STEP: tuple[type[Exception], ...] = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    ProducerFenced,
)
"""What an idempotent producer is answered once its sequence numbers no longer match the
broker's (after a refused batch): not the record's fault; a fresh producer sends it."""


def is_permanent(error: BaseException) -> bool:
    """True when the broker (or the producer on its behalf) refused this record for good."""
    return isinstance(error, PERMANENT_RECORD_ERRORS)


def record_size(key: bytes | None, value: bytes | None, headers: Mapping[str, str]) -> int:
    """The bytes a record takes in a batch, as the producer counts them against its limit."""
    encoded = [(name, text.encode()) for name, text in headers.items()]
    size: int = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, encoded)
    return size
