"""Channel choice, consent rules, the back-off schedule and the rate limit, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from crm_contracts.values import Channel, FailureKind, Language, RecipientKind
from crm_notify.domain import (
    DeliveryFailure,
    NoUsableChannel,
    Reachability,
    RetryPolicy,
    Status,
    TokenBucket,
    after_failure,
    after_unknown_recipient,
    choose_channel,
    notification_id,
)

ORDER = [Channel.EMAIL, Channel.MOBILE, Channel.PAGER, Channel.FAX]
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def person(
    preferred: Channel | None = Channel.EMAIL,
    consents: dict[Channel, bool] | None = None,
    addresses: dict[Channel, str] | None = None,
) -> Reachability:
    return Reachability(
        kind=RecipientKind.PERSON,
        name="Anna",
        language=Language.RU,
        addresses=addresses
        if addresses is not None
        else {Channel.EMAIL: "anna@example.com", Channel.MOBILE: "+79990000001"},
        preferred=preferred,
        consents=consents if consents is not None else {Channel.EMAIL: True, Channel.MOBILE: True},
    )


def test_the_preferred_channel_is_used_when_consented() -> None:
    assert choose_channel(person(preferred=Channel.MOBILE), configured=ORDER) is Channel.MOBILE


def test_without_consent_on_the_preferred_channel_the_next_consented_in_order_is_used() -> None:
    who = person(consents={Channel.EMAIL: False, Channel.MOBILE: True})
    assert choose_channel(who, configured=ORDER) is Channel.MOBILE


def test_a_channel_without_a_consent_record_is_not_used_for_a_person() -> None:
    who = person(consents={Channel.MOBILE: True})
    assert choose_channel(who, configured=ORDER) is Channel.MOBILE


def test_a_withdrawn_consent_everywhere_leaves_no_usable_channel_and_says_why() -> None:
    who = person(consents={Channel.EMAIL: False, Channel.MOBILE: False})
    with pytest.raises(NoUsableChannel) as caught:
        choose_channel(who, configured=ORDER)
    assert caught.value.reason == (
        "no usable channel (email: no consent; mobile: no consent; pager: no address; "
        "fax: no address)"
    )


def test_a_channel_the_service_does_not_configure_is_skipped() -> None:
    who = person(preferred=Channel.MOBILE)
    assert choose_channel(who, configured=[Channel.EMAIL]) is Channel.EMAIL


def test_the_request_hints_come_before_the_configured_order() -> None:
    who = person(
        preferred=None,
        addresses={Channel.EMAIL: "a@example.com", Channel.PAGER: "555"},
        consents={Channel.EMAIL: True, Channel.PAGER: True},
    )
    assert choose_channel(who, configured=ORDER, hints=[Channel.PAGER]) is Channel.PAGER


def test_employees_are_reached_on_their_channels_without_consent_records() -> None:
    employee = Reachability(
        kind=RecipientKind.EMPLOYEE,
        name="Boris",
        language=Language.EN,
        addresses={Channel.PAGER: "4711"},
        preferred=Channel.EMAIL,
    )
    assert choose_channel(employee, configured=ORDER) is Channel.PAGER


def test_an_inactive_employee_is_not_notified() -> None:
    employee = Reachability(
        kind=RecipientKind.EMPLOYEE,
        name="Boris",
        language=Language.EN,
        addresses={Channel.EMAIL: "b@example.com"},
        active=False,
    )
    with pytest.raises(NoUsableChannel, match="no longer active"):
        choose_channel(employee, configured=ORDER)


def test_back_off_doubles_from_the_base_and_is_capped() -> None:
    policy = RetryPolicy(max_attempts=6, base_s=30, factor=2, cap_s=100)
    delays = [policy.delay_after(n) for n in range(1, 7)]
    assert delays == [
        timedelta(seconds=30),
        timedelta(seconds=60),
        timedelta(seconds=100),
        timedelta(seconds=100),
        timedelta(seconds=100),
        None,
    ]


def test_a_transient_failure_is_retried_after_the_back_off() -> None:
    outcome = after_failure(
        DeliveryFailure("SMTP 451 try later", transient=True), 2, RetryPolicy(base_s=10), NOW
    )
    assert outcome.status is Status.RETRY
    assert outcome.retry_at == NOW + timedelta(seconds=20)


def test_a_permanent_failure_is_final_at_once() -> None:
    outcome = after_failure(
        DeliveryFailure("SMTP 550 no such user", transient=False), 1, RetryPolicy(), NOW
    )
    assert (outcome.status, outcome.failure, outcome.retry_at) == (
        Status.FAILED,
        FailureKind.PERMANENT,
        None,
    )


def test_a_transient_failure_on_the_last_attempt_exhausts_the_retries() -> None:
    outcome = after_failure(
        DeliveryFailure("gateway 503", transient=True), 3, RetryPolicy(max_attempts=3), NOW
    )
    assert (outcome.status, outcome.failure) == (Status.FAILED, FailureKind.RETRIES_EXHAUSTED)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_unknown_recipient_is_waited_for_with_a_growing_back_off_then_fails() -> None:
    policy = RetryPolicy(max_attempts=4, base_s=60, factor=2, cap_s=150)
    waits = []
    for attempt in (1, 2, 3):
        outcome, reason = after_unknown_recipient("employee:e-1", attempt, policy, NOW)
        assert outcome.status is Status.RETRY
        assert outcome.retry_at is not None
        assert reason == "unknown recipient: employee:e-1 is not known yet"
        waits.append(outcome.retry_at - NOW)
    assert waits == [timedelta(seconds=60), timedelta(seconds=120), timedelta(seconds=150)]

    outcome, reason = after_unknown_recipient("employee:e-1", 4, policy, NOW)
    assert (outcome.status, outcome.failure) == (Status.FAILED, FailureKind.RETRIES_EXHAUSTED)
    assert reason == (
        "unknown recipient: employee:e-1 is not known to notify (no registration of it was "
        "received) after 4 attempts"
    )


def test_the_rate_limit_lets_a_burst_through_then_spaces_sends() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=2.0, clock=clock)
    assert [bucket.take(), bucket.take()] == [0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)
    clock.now += 1.5
    assert bucket.take() == 0.0


def test_the_notification_id_depends_on_source_recipient_and_kind_only() -> None:
    first = notification_id("ev-1", "person", "p-1", "invitation")
    assert first == notification_id("ev-1", "person", "p-1", "invitation")
    assert first != notification_id("ev-2", "person", "p-1", "invitation")
    assert first != notification_id("ev-1", "person", "p-2", "invitation")
    assert first != notification_id("ev-1", "person", "p-1", "event_cancelled")
