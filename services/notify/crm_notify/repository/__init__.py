"""Every query of the notify service, and only here: notifications and their delivery, the
recipient projection, the event audience, template overrides."""

from __future__ import annotations

from crm_contracts.values import RecipientKind

NOTIFICATIONS = "notifications"
RECIPIENTS = "recipients"
INVITEES = "event_invitees"
TASKS = "event_tasks"
TEMPLATES = "templates"
"""The comment on a query whose answer is every document of a small collection (the template
overrides): the one kind of query no index narrows."""


def recipient_key(kind: RecipientKind | str, recipient_id: str) -> str:
    return f"{RecipientKind(kind).value}:{recipient_id}"
