"""All database queries of the campaigns service, and only here."""

from __future__ import annotations

PROGRAMMES = "programmes"
EVENTS = "events"
TASK_TEMPLATES = "task_templates"
PARTICIPANTS = "participants"
INVITATION_RUNS = "invitation_runs"
EFFECTIVENESS = "effectiveness"
QUESTIONNAIRES = "questionnaires"
RESPONSES = "questionnaire_responses"
EVENT_CONTACTS = "event_contacts"
NEW_CLIENTS = "new_clients"
NEEDS = "needs"
CALENDAR_FEEDS = "calendar_feeds"
PUBLIC_FORM_POSTS = "public_form_posts"
ANONYMOUS_QUOTAS = "anonymous_questionnaire_quotas"

"""The comment on a query whose answer is every document (a report or a selection without a
filter): the one kind of query no index narrows."""
