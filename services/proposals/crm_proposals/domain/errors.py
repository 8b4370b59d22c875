"""The proposals domain's refusals. Each names the offending input where there is one."""

from __future__ import annotations


class ProposalsError(Exception):
    """Base of every refusal; ``field`` is the request path of the offending value, if any."""

    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidValue(ProposalsError):
    """A value breaks a rule of the domain (a price, a date, a discount...)."""


class UnknownReference(ProposalsError):
    """The input names a client, employee, catalogue item or step that does not exist."""


class DependencyCycle(ProposalsError):
    """The steps' dependencies form a cycle; a plan is a graph without cycles."""


class StateConflict(ProposalsError):
    """The request clashes with the current state (an illegal move, a closed proposal)."""


class IllegalTransition(StateConflict):
    pass


class ProposalClosed(StateConflict):
    pass


class DependenciesOpen(StateConflict):
    pass


class ApprovalRequired(StateConflict):
    pass


class NoCurator(StateConflict):
    pass


class ClientNotEligible(StateConflict):
    """The client's status in contacts rules out a new proposal (a former client)."""
