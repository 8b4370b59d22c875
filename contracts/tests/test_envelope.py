from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest
from crm_contracts import Envelope, UnknownEventType
from crm_contracts.base import ContractEvent
from crm_contracts.contacts import ClientRegistered, ConsentChanged
from crm_contracts.envelope import Actor, EventTypeMismatch
from crm_contracts.examples import example_events
from pydantic import ValidationError

EXAMPLES = example_events()


def _client_registered() -> ClientRegistered:
    return next(e for e in EXAMPLES if isinstance(e, ClientRegistered))


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda event: event.event_type)
def test_an_event_survives_the_trip_through_bytes_and_back(event: ContractEvent) -> None:
    envelope = Envelope.wrap(event, producer="test", correlation_id="req-1")

    received = Envelope.from_bytes(envelope.to_bytes())

    assert received == envelope
    assert received.open() == event
    assert received.key == event.aggregate_key()
    assert received.event_type == event.event_type
    assert received.schema_version == event.schema_version


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda event: event.event_type)
def test_a_producer_writing_the_event_once_sends_the_same_bytes_as_wrapping_it(
    event: ContractEvent,
) -> None:
    actor = Actor(app="crm-console", employee_id="emp-7")

    head, raw = Envelope.wrap_to_bytes(
        event, producer="test", correlation_id="req-1", causation_id="c-1", actor=actor
    )

    wrapped = Envelope.wrap(
        event,
        producer="test",
        correlation_id="req-1",
        causation_id="c-1",
        actor=actor,
        event_id=head.event_id,
        occurred_at=head.occurred_at,
    )
    assert raw == wrapped.to_bytes()
    assert head == wrapped.model_copy(update={"payload": {}})


def test_a_producer_writing_the_event_once_is_refused_an_empty_key() -> None:
    with pytest.raises(ValidationError, match="key"):
        Envelope.wrap_to_bytes(_client_registered(), producer="contacts", key="")


def test_wrapping_fills_identity_and_time_unless_given() -> None:
    event_id = uuid4()
    at = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=3)))

    envelope = Envelope.wrap(
        _client_registered(), producer="contacts", key="k", event_id=event_id, occurred_at=at
    )

    assert envelope.event_id == event_id
    assert envelope.key == "k"
    assert envelope.occurred_at == at
    assert envelope.occurred_at.tzinfo == UTC


def test_the_message_value_is_utf8_json_with_the_payload_as_an_object() -> None:
    event = _client_registered().model_copy(update={"name": "Müller & Söhne"})

    raw = Envelope.wrap(event, producer="contacts", causation_id="c-1").to_bytes()

    text = raw.decode("utf-8")
    assert '"name":"Müller & Söhne"' in text
    assert '"causation_id":"c-1"' in text


def test_an_envelope_with_a_naive_occurred_at_is_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        Envelope(
            event_id=uuid4(),
            event_type="ClientRegistered",
            schema_version=1,
            occurred_at=datetime(2026, 1, 1, 12),
            producer="contacts",
            key="c1",
            payload={},
        )


def test_wrapping_with_a_naive_occurred_at_is_refused() -> None:
    with pytest.raises(ValidationError):
        Envelope.wrap(
            _client_registered(),
            producer="contacts",
            occurred_at=datetime(2026, 1, 1, 12),
        )


def test_opening_an_unknown_event_type_raises_unknown_event_type() -> None:
    envelope = Envelope.wrap(_client_registered(), producer="contacts")
    foreign = envelope.model_copy(update={"event_type": "InvoicePaid"})

    with pytest.raises(UnknownEventType, match="InvoicePaid"):
        foreign.open()


def test_opening_a_payload_that_breaks_its_contract_raises_a_validation_error() -> None:
    envelope = Envelope.wrap(_client_registered(), producer="contacts")
    broken = envelope.model_copy(update={"payload": {**envelope.payload, "status": "vip"}})

    with pytest.raises(ValidationError, match="status"):
        broken.open()


def test_an_envelope_with_an_unknown_field_is_refused() -> None:
    raw = Envelope.wrap(_client_registered(), producer="contacts").model_dump(mode="json")

    with pytest.raises(ValidationError, match="extra"):
        Envelope.model_validate({**raw, "priority": "high"})


def test_a_payload_with_fields_added_by_a_newer_producer_still_opens() -> None:
    envelope = Envelope.wrap(_client_registered(), producer="contacts")
    newer = envelope.model_copy(update={"payload": {**envelope.payload, "vat_group": "A"}})

    assert newer.open() == _client_registered()


def test_opening_as_the_wrong_class_is_refused() -> None:
    envelope = Envelope.wrap(_client_registered(), producer="contacts")

    assert envelope.open_as(ClientRegistered) == _client_registered()
    with pytest.raises(EventTypeMismatch):
        envelope.open_as(ConsentChanged)
