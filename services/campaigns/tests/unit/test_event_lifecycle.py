"""The marketing event's lifecycle, its generated tasks and their re-planning."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from crm_campaigns.domain.errors import (
    EventAlreadyCancelled,
    EventAlreadyCompleted,
    EventNotStarted,
    IllegalTaskTransition,
    InvalidSchedule,
    UnknownEventKind,
)
from crm_campaigns.domain.events import EventStatus, MarketingEvent, Place, Slot
from crm_campaigns.domain.tasks import (
    DEFAULT_KINDS,
    TaskCategory,
    TaskStatus,
    TaskTemplate,
    TemplateItem,
    default_template,
)

NOW = datetime(2031, 1, 1, 9, 0, tzinfo=UTC)
START = datetime(2031, 3, 10, 7, 0, tzinfo=UTC)


def slot(start: datetime = START, hours: int = 4, tz: str = "Europe/Moscow") -> Slot:
    return Slot(start, start + timedelta(hours=hours), tz)


def schedule(template: TaskTemplate | None = None, **over: object) -> MarketingEvent:
    ids = (f"t{n}" for n in itertools.count())
    fields: dict[str, object] = {
        "event_id": "e1",
        "kind": "seminar",
        "known_kinds": frozenset(DEFAULT_KINDS),
        "title": "Pumps",
        "place": Place(venue="Hall"),
        "slot": slot(),
        "template": template or default_template("seminar"),
        "now": NOW,
        "new_id": lambda: next(ids),
        "responsible_employee_ids": ("emp-1",),
    }
    fields.update(over)
    return MarketingEvent.schedule(**fields)  # type: ignore[arg-type]


def test_every_default_kind_ships_a_task_for_each_item_the_source_names() -> None:
    wanted = {
        TaskCategory.VENUE,
        TaskCategory.PRESS_ADVERTISING,
        TaskCategory.COST_ESTIMATE,
        TaskCategory.EQUIPMENT,
        TaskCategory.SPECIALISTS,
        TaskCategory.PROGRAMME,
    }
    for kind in DEFAULT_KINDS:
        categories = {item.category for item in default_template(kind).items}
        assert wanted <= categories, kind


def test_scheduling_generates_tasks_due_before_the_local_start_day() -> None:
    event = schedule(
        TaskTemplate("seminar", (TemplateItem("hall", "Book", TaskCategory.VENUE, 10),))
    )
    assert [(t.title, t.due_on, t.assignee_id, t.status) for t in event.tasks] == [
        ("Book", date(2031, 2, 28), "emp-1", TaskStatus.OPEN)
    ]


def test_a_template_items_default_assignee_wins_over_the_responsible_employee() -> None:
    item = TemplateItem("hall", "Book", TaskCategory.VENUE, 1, default_assignee_id="emp-9")
    event = schedule(TaskTemplate("seminar", (item,)))
    assert event.tasks[0].assignee_id == "emp-9"


def test_an_event_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(InvalidSchedule) as refused:
        Slot(START, START - timedelta(minutes=1), "UTC")
    assert refused.value.field == "ends_at"


def test_an_unknown_time_zone_or_kind_is_refused() -> None:
    with pytest.raises(InvalidSchedule):
        Slot(START, START + timedelta(hours=1), "Mars/Olympus")
    with pytest.raises(UnknownEventKind):
        schedule(kind="picnic")


def test_rescheduling_moves_open_tasks_by_the_same_days_and_leaves_done_ones() -> None:
    event = schedule()
    done_id = event.tasks[0].task_id
    event.move_task(done_id, TaskStatus.DONE, now=NOW)
    before = {t.task_id: t.due_on for t in event.tasks}
    change = event.reschedule(slot(START + timedelta(days=7)), reason="hall busy")
    after = {t.task_id: t.due_on for t in event.tasks}
    assert after[done_id] == before[done_id]
    moved = {t.task_id for t, _ in change.moved_tasks}
    assert done_id not in moved
    assert all(after[t] - before[t] == timedelta(days=7) for t in moved)
    assert len(moved) == len(event.tasks) - 1
    assert change.previous.starts_at == START


def test_cancelling_an_event_cancels_its_open_tasks() -> None:
    event = schedule()
    event.move_task(event.tasks[0].task_id, TaskStatus.IN_PROGRESS, now=NOW)
    event.move_task(event.tasks[1].task_id, TaskStatus.DONE, now=NOW)
    change = event.cancel(now=NOW, reason="flood")
    assert event.status == EventStatus.CANCELLED
    assert len(change.cancelled_tasks) == len(event.tasks) - 1
    assert [t.status for t in event.tasks].count(TaskStatus.DONE) == 1


def test_a_cancelled_event_cannot_be_cancelled_rescheduled_or_completed() -> None:
    event = schedule()
    event.cancel(now=NOW)
    with pytest.raises(EventAlreadyCancelled):
        event.cancel(now=NOW)
    with pytest.raises(EventAlreadyCancelled):
        event.reschedule(slot())
    with pytest.raises(EventAlreadyCancelled):
        event.complete(now=START + timedelta(days=1))


def test_an_event_completes_only_once_it_has_started() -> None:
    event = schedule()
    with pytest.raises(EventNotStarted):
        event.complete(now=START - timedelta(seconds=1))
    event.complete(now=START)
    assert event.status == EventStatus.COMPLETED
    with pytest.raises(EventAlreadyCompleted):
        event.reschedule(slot())


def test_tasks_follow_their_path_and_overdue_open_ones_are_flagged() -> None:
    event = schedule()
    task = event.tasks[0]
    assert task.overdue(task.due_on + timedelta(days=1))
    assert not task.overdue(task.due_on)
    done = event.move_task(task.task_id, TaskStatus.DONE, now=NOW, by="emp-1")
    assert done.completed_by == "emp-1"
    assert not done.overdue(done.due_on + timedelta(days=30))
    with pytest.raises(IllegalTaskTransition):
        event.move_task(task.task_id, TaskStatus.OPEN, now=NOW)


def test_an_amendment_changes_what_the_event_is_but_not_when() -> None:
    from crm_campaigns.domain.events import Amendment
    from crm_campaigns.domain.money import Money

    e = schedule(capacity=10)
    before_slot, before_tasks = e.slot, list(e.tasks)
    e.amend(
        Amendment(
            title="  Pumps, second edition ",
            set_topic=True,
            place=Place(venue="Hall 5"),
            capacity=20,
            set_capacity=True,
            budget=Money(1_000, "RUB"),
            set_budget=True,
            responsible_employee_ids=("emp-7",),
        ),
        seats_taken=3,
    )
    assert (e.title, e.topic, e.place.venue, e.capacity) == ("Pumps, second edition", None,
                                                              "Hall 5", 20)  # fmt: skip
    assert e.budget == Money(1_000, "RUB")
    assert e.responsible_employee_ids == ("emp-7",)
    assert (e.slot, e.tasks) == (before_slot, before_tasks)
    e.amend(Amendment(capacity=None, set_capacity=True), seats_taken=3)
    assert e.capacity is None
    e.amend(Amendment(), seats_taken=3)  # nothing given, nothing changes
    assert e.title == "Pumps, second edition"


def test_an_amendment_is_refused_below_the_seats_taken_or_once_the_event_is_over() -> None:
    from crm_campaigns.domain.errors import EventAtCapacity, InvalidAmount
    from crm_campaigns.domain.events import Amendment
    from crm_campaigns.domain.money import Money

    e = schedule(capacity=10)
    with pytest.raises(EventAtCapacity) as below:
        e.amend(Amendment(capacity=2, set_capacity=True), seats_taken=3)
    assert below.value.field == "capacity"
    with pytest.raises(InvalidAmount):
        e.amend(Amendment(title="New", budget=Money(-1, "RUB"), set_budget=True), seats_taken=0)
    with pytest.raises(InvalidSchedule):
        e.amend(Amendment(title="  "), seats_taken=0)
    assert (e.capacity, e.title, e.budget) == (10, "Pumps", None)
    e.cancel(now=NOW)
    with pytest.raises(EventAlreadyCancelled):
        e.amend(Amendment(title="Too late"), seats_taken=0)
