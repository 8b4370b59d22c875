"""Who may open each screen of the console and press each of its buttons.

The console's own table, in the words of ``crm_kit.access``: reading screens are open to every
member of staff (reads stay open across departments there too); an action needs the roles the
service's route it calls needs, taken from that table, so the console never offers a button the
service would refuse by role. The services still decide (data rules such as four eyes are
theirs alone): the console only hides what cannot succeed, and shows their refusal otherwise.

A route missing here is refused to everyone (``tests/console_unit/test_access.py`` checks the table
against the app's routes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from crm_kit.access import DISCOUNT_APPROVER, STAFF, rule_for


def _service_rule(service: str, method: str, path: str) -> frozenset[str]:
    rule = rule_for(service, method, path)
    if rule is None:
        raise LookupError(f"{service} has no rule for {method} {path}")
    return rule.roles & STAFF


ANY_STAFF: Final = frozenset(STAFF)

ROUTES: Final[Mapping[str, frozenset[str]]] = {
    "GET /": ANY_STAFF,
    "POST /seen": ANY_STAFF,
    "POST /settings/language": ANY_STAFF,
    "POST /signout": ANY_STAFF,
    "GET /clients": ANY_STAFF,
    "GET /clients/{client_id}": ANY_STAFF,
    "GET /clients/duplicates": ANY_STAFF,
    "POST /clients/duplicates/merge": _service_rule(
        "contacts", "POST", "/clients/{client_id}/merge"
    ),
    "POST /clients/duplicates/dismiss": _service_rule("contacts", "POST", "/duplicates/dismissals"),
    "POST /clients/{client_id}/invite": _service_rule(
        "campaigns", "POST", "/events/{event_id}/participants"
    ),
    "GET /clients/{client_id}/contacts/new": _service_rule("contacts", "POST", "/contacts"),
    "POST /clients/{client_id}/contacts/new": _service_rule("contacts", "POST", "/contacts"),
    "GET /proposals": ANY_STAFF,
    "GET /proposals/new": _service_rule("proposals", "POST", "/proposals"),
    "POST /proposals/new": _service_rule("proposals", "POST", "/proposals"),
    "POST /proposals/preview": _service_rule("proposals", "POST", "/proposals"),
    "GET /proposals/{proposal_id}": ANY_STAFF,
    "GET /proposals/{proposal_id}/revisions": ANY_STAFF,
    # A draft is edited in place, a presented proposal revised: both need the same roles.
    "GET /proposals/{proposal_id}/edit": _service_rule(
        "proposals", "PATCH", "/proposals/{proposal_id}"
    ),
    "POST /proposals/{proposal_id}/edit": _service_rule(
        "proposals", "POST", "/proposals/{proposal_id}/revisions"
    ),
    "POST /proposals/{proposal_id}/approval": _service_rule(
        "proposals", "PUT", "/proposals/{proposal_id}/plan"
    ),
    "POST /proposals/{proposal_id}/status": _service_rule(
        "proposals", "POST", "/proposals/{proposal_id}/win"
    ),
    "POST /proposals/{proposal_id}/loss": _service_rule(
        "proposals", "POST", "/proposals/{proposal_id}/loss"
    ),
    "POST /proposals/{proposal_id}/plan": _service_rule(
        "proposals", "PUT", "/proposals/{proposal_id}/plan"
    ),
    # Who completes which step is the service's rule (the assignee, their head, anyone for an
    # unassigned one); the route is open to every staff role there.
    "POST /proposals/{proposal_id}/steps/{step_id}/complete": _service_rule(
        "proposals", "POST", "/steps/{step_id}/{action}"
    ),
    # Four eyes is the service's rule; the role is what the console can know beforehand.
    "POST /proposals/{proposal_id}/steps/{step_id}/approve": frozenset({DISCOUNT_APPROVER}),
    "GET /events": ANY_STAFF,
    "GET /events/calendar.ics": ANY_STAFF,
    "POST /events/calendar-feed": _service_rule("campaigns", "POST", "/calendar-feeds"),
    "GET /events/new": _service_rule("campaigns", "POST", "/events"),
    "POST /events/new": _service_rule("campaigns", "POST", "/events"),
    "GET /events/{event_id}": ANY_STAFF,
    "GET /events/{event_id}/questionnaire/results.csv": ANY_STAFF,
    "GET /events/{event_id}/questionnaire/{question_id}/texts": ANY_STAFF,
    "GET /programmes": ANY_STAFF,
    "GET /programmes/{programme_id}": ANY_STAFF,
    "GET /programmes/new": _service_rule("campaigns", "POST", "/programmes"),
    "POST /programmes/new": _service_rule("campaigns", "POST", "/programmes"),
    "POST /programmes/{programme_id}": _service_rule(
        "campaigns", "PUT", "/programmes/{programme_id}"
    ),
    "POST /events/{event_id}/participants/by-portrait": _service_rule(
        "campaigns", "POST", "/events/{event_id}/participants/by-portrait"
    ),
    "POST /events/{event_id}/invitations": _service_rule(
        "campaigns", "POST", "/events/{event_id}/invitations"
    ),
    "GET /events/{event_id}/invitations/{run_id}": ANY_STAFF,
    # Reports read across departments, as the services' report routes do.
    "GET /analysis": ANY_STAFF,
    "GET /analysis/{report}": ANY_STAFF,
    "GET /analysis/{report}/csv": ANY_STAFF,
    "POST /events/{event_id}/check-in": _service_rule(
        "campaigns", "POST", "/events/{event_id}/attendance"
    ),
}

PUBLIC: Final = frozenset(
    {
        "GET /signin",
        "GET /auth/callback",
        "GET /signed-out",
        "GET /healthz",
        "GET /readyz",
    }
)
"""Routes served without a session: signing in and the probes (and ``/static``)."""


def roles_for(method: str, path: str) -> frozenset[str] | None:
    return ROUTES.get(f"{method.upper()} {path}")


def allows(method: str, path: str, roles: Iterable[str]) -> bool:
    wanted = roles_for(method, path)
    return wanted is not None and not wanted.isdisjoint(roles)
