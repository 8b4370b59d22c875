"""Domain errors: each says what rule was broken and, where it helps, which field."""

from __future__ import annotations


class CampaignsError(Exception):
    """A request the campaigns rules refuse (422 unless a subclass says otherwise)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidSchedule(CampaignsError):
    """Dates, time zone or place of an event do not make sense."""


class UnknownEventKind(CampaignsError):
    """The event kind is not one of the configured kinds."""


class InvalidAmount(CampaignsError):
    """A negative amount or quantity, or money in another currency."""


class InvalidQuestionnaire(CampaignsError):
    """A questionnaire definition or a response that does not fit its definition."""


class UnknownPerson(CampaignsError):
    """A person or employee campaigns has not heard of from contacts."""


class StateConflict(CampaignsError):
    """The change clashes with the current state (409)."""


class IllegalEventTransition(StateConflict):
    """The event's lifecycle does not allow this move."""


class EventAlreadyCancelled(IllegalEventTransition):
    pass


class EventAlreadyCompleted(IllegalEventTransition):
    pass


class EventNotStarted(IllegalEventTransition):
    pass


class IllegalTaskTransition(StateConflict):
    pass


class EventAtCapacity(StateConflict):
    """Adding these participants would go over the event's capacity."""


class ParticipantNotInvited(StateConflict):
    pass


class AlreadyAnswered(StateConflict):
    """The participant answered before; a second answer changes nothing."""


class AlreadyResponded(StateConflict):
    """This participant's questionnaire was already submitted."""


class QuestionnaireFull(StateConflict):
    """The event's anonymous questionnaire link took all the answers it may take."""


class Missing(CampaignsError):
    """Something the request refers to does not exist (404)."""


class UnknownParticipant(Missing):
    pass


class UnknownTask(Missing):
    pass


class NoQuestionnaire(Missing):
    pass


class NoFreeTextQuestion(Missing):
    """The questionnaire has no free-text question of that id."""
