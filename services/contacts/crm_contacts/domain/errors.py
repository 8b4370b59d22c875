"""The contacts domain's refusals. Each names the offending input field when there is one."""

from __future__ import annotations


class ContactsError(Exception):
    """Base of the contacts domain's refusals; ``field`` names the offending input if any."""

    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidInputError(ContactsError):
    """A value that can never be right whatever the state (422)."""


class InvalidTaxId(InvalidInputError):
    pass


class InvalidChannel(InvalidInputError):
    """A malformed e-mail address or phone number."""


class ChannelWithoutAddress(InvalidInputError):
    """A preferred channel or a consent given for a channel the person has no address for."""


class StateConflict(ContactsError):
    """The request clashes with the current state (409)."""


class IllegalStatusChange(StateConflict):
    pass


class NotEligibleCurator(StateConflict):
    pass


class AlreadyCurator(StateConflict):
    pass


class PersonAlreadyErased(StateConflict):
    """The person was erased: nothing about them is kept, so nothing can change."""


class ClientAlreadyMerged(StateConflict):
    """The client was merged into another; ``survivor_id`` is where it lives on."""

    def __init__(self, client_id: str, survivor_id: str) -> None:
        super().__init__(f"client {client_id} was merged into {survivor_id}", field=None)
        self.client_id = client_id
        self.survivor_id = survivor_id


class CannotMergeIntoItself(StateConflict):
    pass


class InactiveEmployee(StateConflict):
    pass


class UnknownReference(ContactsError):
    """A referenced entity does not exist (404 on a path, 422 in a body field)."""


class PersonNotFound(UnknownReference):
    pass
