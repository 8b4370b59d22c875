"""All database queries of the campaigns service, and only here."""

from __future__ import annotations

PROGRAMMES = "programmes"
EVENTS = "events"
TASK_TEMPLATES = "task_templates"
PARTICIPANTS = "participants"
INVITATION_RUNS = "invitation_runs"
INVITATION_CHUNKS = "invitation_run_chunks"
EFFECTIVENESS = "effectiveness"
QUESTIONNAIRES = "questionnaires"
RESPONSES = "questionnaire_responses"
EVENT_CONTACTS = "event_contacts"
NEW_CLIENTS = "new_clients"
NEEDS = "needs"
CALENDAR_FEEDS = "calendar_feeds"

PARTICIPANT_KEYS = "participant_keys"
KEYS_KEPT = "participant_keys_kept"
"""Set on an event document made since participant keys are kept: a key missing for such an
event means no such participant, without a scan."""
WAITING = "waitlisted_count"
"""The field of an event document that counts its waiting list (see ``Seats``)."""

OUTBOX_COLLECTIONS = (PROGRAMMES, EVENTS, PARTICIPANTS, RESPONSES, EVENT_CONTACTS)
