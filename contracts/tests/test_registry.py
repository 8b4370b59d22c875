from typing import ClassVar

import pytest
from crm_contracts import EVENT_TYPES, event_class
from crm_contracts.base import ContractEvent
from crm_contracts.examples import example_events
from crm_contracts.registry import DuplicateEventType, InvalidContract, UnknownEventType
from crm_contracts.topics import BACKOFFICE, CONTACTS, TOPICS

ARCHITECTURE_EVENTS = {
    CONTACTS: [
        "ClientRegistered",
        "ClientUpdated",
        "ClientStatusChanged",
        "PersonAdded",
        "PersonUpdated",
        "EmployeeRegistered",
        "CuratorAssigned",
        "ContactRecorded",
        "ConsentChanged",
        "ClientsMerged",
    ],
    "crm.campaigns.v1": [
        "ProgrammeDefined",
        "EventScheduled",
        "EventRescheduled",
        "EventCancelled",
        "EventCompleted",
        "PreparationTaskCreated",
        "TaskAssigned",
        "TaskCompleted",
        "ParticipantsAdded",
        "InvitationRequested",
        "InvitationAnswered",
        "AttendanceRecorded",
        "QuestionnaireSubmitted",
        "NeedsIdentified",
    ],
    "crm.proposals.v1": [
        "CatalogItemChanged",
        "ProposalRegistered",
        "ProposalRevised",
        "PlanGenerated",
        "PlanStepAssigned",
        "PlanStepCompleted",
        "ProposalWon",
        "ProposalLost",
        "SalesModelPublished",
    ],
    "crm.notify.v1": ["NotificationDelivered", "NotificationFailed"],
    BACKOFFICE: ["ContractSigned", "OrderPlaced", "PaymentReceived", "DealRefused"],
}
REQUIRED = [(topic, name) for topic, names in ARCHITECTURE_EVENTS.items() for name in names]


@pytest.mark.parametrize(("topic", "event_type"), REQUIRED)
def test_every_event_named_in_the_architecture_is_registered_on_its_topic(
    topic: str, event_type: str
) -> None:
    assert event_class(event_type).topic == topic


def test_each_registered_class_claims_its_own_event_type() -> None:
    classes = list(EVENT_TYPES.values())
    assert len({cls.event_type for cls in classes}) == len(classes)
    assert all(EVENT_TYPES[cls.event_type] is cls for cls in classes)


@pytest.mark.parametrize("cls", EVENT_TYPES.values(), ids=lambda cls: cls.event_type)
def test_every_event_is_published_on_a_crm_topic(cls: type[ContractEvent]) -> None:
    assert cls.topic in TOPICS


@pytest.mark.parametrize("cls", EVENT_TYPES.values(), ids=lambda cls: cls.event_type)
def test_every_event_documents_the_fact_it_states(cls: type[ContractEvent]) -> None:
    assert cls.__doc__
    assert cls.__doc__.strip()


def test_every_registered_event_has_an_example_with_a_key() -> None:
    examples = {event.event_type: event for event in example_events()}
    assert set(examples) == set(EVENT_TYPES)
    assert all(event.aggregate_key() for event in examples.values())


def test_registering_a_second_class_under_a_taken_event_type_is_refused() -> None:
    with pytest.raises(DuplicateEventType, match="ClientRegistered"):

        class Impostor(ContractEvent):
            event_type: ClassVar[str] = "ClientRegistered"
            topic: ClassVar[str] = CONTACTS

            def aggregate_key(self) -> str:
                return "x"

    assert EVENT_TYPES["ClientRegistered"].__name__ == "ClientRegistered"


def test_an_event_on_an_unknown_topic_is_refused() -> None:
    with pytest.raises(InvalidContract, match="topic"):

        class Stray(ContractEvent):
            event_type: ClassVar[str] = "StrayHappened"
            topic: ClassVar[str] = "crm.elsewhere.v1"

            def aggregate_key(self) -> str:
                return "x"

    assert "StrayHappened" not in EVENT_TYPES


def test_looking_up_an_unknown_event_type_raises_unknown_event_type() -> None:
    with pytest.raises(UnknownEventType, match="NoSuchThing"):
        event_class("NoSuchThing")
