"""Which fields of which events hold a person's personal data, and how they travel sealed.

Personal fields (a person's name, position, channel addresses, a respondent's free-text
answers, the back office's contact person) are published **sealed**: each is encrypted under a
data key of its own subject (one person, or one questionnaire response whose respondent was not
yet known) and travels as the string ``sealed:v1:<subject>:<base64url(nonce ‖ ciphertext)>``.
The producer's outbox relay seals them (``crm_kit.sealing``); a consumer of this project
unseals them with the key vault before it opens the payload. Erasing a person destroys their
keys: every copy of their events already on the topics (and in a replay of them) then unseals
to :data:`ERASED` (docs/decisions/0074).

A string field stays a string, so the JSON Schemas did not change; the events whose fields are
sealed raised their ``schema_version`` so that a reader can tell (docs/integration.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

SEALED_PREFIX: Final = "sealed:v1:"
"""How a sealed value starts; the subject and the ciphertext follow."""

ERASED: Final = "[erased]"
"""What a sealed value reads as once its subject was erased (its key destroyed)."""

PERSON_SUBJECT: Final = "person"
RESPONSE_SUBJECT: Final = "response"
CLIENT_SUBJECT: Final = "client"
"""A client's own key: it seals a private person's client details (their name is the person's)
and the client name the staff's notices repeat."""


def subject_id(kind: str, value: str) -> str:
    """The key vault's name of one subject's key, e.g. ``person:<person id>``."""
    return f"{kind}:{value}"


@dataclass(frozen=True)
class Sealing:
    """The personal fields of one event type and whose key seals them.

    ``subjects`` are ``(kind, path)`` pairs tried in order: the first path holding a value names
    the subject. ``fields`` are dotted paths; ``[]`` after a name walks every item of a list,
    ``*`` every key of an object. Paths that hold no string are left alone. ``when``, a
    ``(path, value)`` pair, limits the sealing to payloads holding that value there.
    """

    subjects: tuple[tuple[str, str], ...]
    fields: tuple[str, ...]
    when: tuple[str, str] | None = None


_PERSON_FIELDS = (
    "name",
    "position",
    "channels.*",
)

_CLIENT = ((CLIENT_SUBJECT, "client_id"),)
_PRIVATE_CLIENT_FIELDS = (
    "name",
    "tax_id",
    "website",
    "addresses[].text",
    "addresses[].city",
    "addresses[].postal_code",
)

SEALED_FIELDS: Final[Mapping[str, tuple[Sealing, ...]]] = {
    "ClientRegistered": (Sealing(_CLIENT, _PRIVATE_CLIENT_FIELDS, when=("kind", "person")),),
    "ClientUpdated": (Sealing(_CLIENT, _PRIVATE_CLIENT_FIELDS, when=("kind", "person")),),
    "CuratorAssigned": (Sealing(_CLIENT, ("client_name",)),),
    "PersonAdded": (Sealing(((PERSON_SUBJECT, "person_id"),), _PERSON_FIELDS),),
    "PersonUpdated": (Sealing(((PERSON_SUBJECT, "person_id"),), _PERSON_FIELDS),),
    "QuestionnaireSubmitted": (
        Sealing(
            ((PERSON_SUBJECT, "respondent.person_id"), (RESPONSE_SUBJECT, "response_id")),
            (
                "respondent.name",
                "respondent.organisation",
                "respondent.position",
                "respondent.channels.*",
                "answers[].text",
            ),
        ),
    ),
    "PlanStepAssigned": (Sealing(_CLIENT, ("client_name",)),),
    "ProposalWon": (
        Sealing(
            ((PERSON_SUBJECT, "client_contact.person_id"),),
            (
                "client_contact.name",
                "client_contact.position",
                "client_contact.email",
                "client_contact.phone",
                "client_contact.mobile",
            ),
        ),
        Sealing(
            _CLIENT,
            (
                "client_name",
                "client_tax_id",
                "client_legal_address.text",
                "client_legal_address.city",
                "client_legal_address.postal_code",
            ),
            when=("client_kind", "person"),
        ),
    ),
}
"""Every event type that carries a client's person's name, e-mail, phone or address, or a
private person's client details."""
