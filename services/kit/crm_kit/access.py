"""Who may do what: the one table of roles per operation that every service enforces.

A call carries two permissions. The **scope** (``contacts:write``…) says what the calling *app*
may call; the **role** (a realm role of the OpenID Connect provider: ``sales``, ``marketing``…)
says what the *person* it acts for may do — or, for an app calling on its own account (client
credentials), what its service account may do. ``requires(...)`` checks both: the scopes it is
given and the roles this table lists for the route (by method and path template). A route that
authenticates but is missing here is refused to everyone (``test_access_table`` fails first).

``docs/authorization.md`` is generated from this table (``crm-apidocs``); the role × route tests
in ``tests/security/test_roles_every_route.py`` are generated from it too.

Rules that depend on the data, not only on the route, are enforced by the services and listed
in :data:`DATA_RULES` so the document shows them beside the table:
four eyes on discounts, plan steps completed by their assignee or a department head, and acting
for another employee.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

# The realm's roles (deploy/local/keycloak/crm-realm.json holds the same names).
MARKETING: Final = "marketing"
EVENT_STAFF: Final = "event-staff"
SALES: Final = "sales"
SALES_MANAGER: Final = "sales-manager"
DISCOUNT_APPROVER: Final = "discount-approver"
DEPARTMENT_HEAD: Final = "department-head"
MANAGEMENT: Final = "management"
DATA_PROTECTION: Final = "data-protection"
OPERATOR: Final = "operator"
BACKOFFICE: Final = "backoffice"
INTEGRATION: Final = "integration"

ROLE_DESCRIPTIONS: Final[Mapping[str, str]] = {
    MARKETING: "plans programmes and events, invites, keys in questionnaires",
    EVENT_STAFF: "works the events: check-in, preparation tasks, questionnaires",
    SALES: "records contacts, registers clients, works their proposals and plans",
    SALES_MANAGER: "everything sales does, plus curators, the catalogue and sales models",
    DISCOUNT_APPROVER: "approves discounts (never on a proposal they wrote or curate)",
    DEPARTMENT_HEAD: "completes plan steps assigned to their department's people",
    MANAGEMENT: "reads everything, publishes sales models",
    DATA_PROTECTION: (
        "merges duplicates, changes consents on a person's request, erases a person or a "
        "client and exports a person's data"
    ),
    OPERATOR: "runs operations: dead letters, replays, templates, employees",
    BACKOFFICE: "a back-office system: reads, consumes events",
    INTEGRATION: (
        "an internal app trusted to act for the employee it names in the request "
        "(documented per field); never approves discounts"
    ),
}
ROLES: Final = frozenset(ROLE_DESCRIPTIONS)
STAFF: Final = frozenset(ROLES - {BACKOFFICE, INTEGRATION})
"""The roles a person (an employee) holds."""

READERS: Final = ROLES
"""Reads stay open across departments: one client base for all."""

ACTS_FOR_OTHERS: Final = frozenset({INTEGRATION, OPERATOR})
"""May name another employee as the one who did something (``employee_id`` in a body)."""

PERSONAL_DATA: Final = frozenset(
    {
        MARKETING,
        EVENT_STAFF,
        SALES,
        SALES_MANAGER,
        MANAGEMENT,
        DATA_PROTECTION,
        BACKOFFICE,
        INTEGRATION,
    }
)
"""See people's contact details (e-mail, phones, fax, pager), a private person's tax id and
addresses, and the address a notification went to; and find clients by them. The roles whose
work is reaching people; the others (an approver, a department head, an operator) read the
same client base with those fields withheld."""


def sees_personal_data(roles: Iterable[str]) -> bool:
    """Whether a caller holding ``roles`` sees personal fields (:data:`PERSONAL_DATA`)."""
    return not PERSONAL_DATA.isdisjoint(roles)


@dataclass(frozen=True, slots=True)
class Rule:
    roles: frozenset[str]
    why: str = ""


def _rule(*roles: str | Iterable[str], why: str = "") -> Rule:
    flat: set[str] = set()
    for role in roles:
        flat.update([role] if isinstance(role, str) else role)
    unknown = flat - ROLES
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")
    return Rule(frozenset(flat), why)


READ = _rule(READERS)
CLIENT_WORK = _rule(MARKETING, SALES, SALES_MANAGER, INTEGRATION)
EVENT_PLANNING = _rule(MARKETING, INTEGRATION)
EVENT_WORK = _rule(MARKETING, EVENT_STAFF, INTEGRATION)
SALES_WORK = _rule(SALES, SALES_MANAGER, INTEGRATION)
SALES_MANAGEMENT = _rule(SALES_MANAGER, INTEGRATION)
OPERATIONS = _rule(OPERATOR, INTEGRATION)
ANY_STAFF = _rule(STAFF, INTEGRATION)
PERSONAL_DATA_EXPORT = _rule(
    DATA_PROTECTION,
    why="a person's data export (the caller merges the four services' parts); on the audit trail",
)

TABLE: Final[Mapping[str, Mapping[str, Rule]]] = {
    "contacts": {
        "GET /audit/{entity_id}": READ,
        "GET /clients": READ,
        "GET /clients/{client_id}": READ,
        "GET /clients/{client_id}/curator": READ,
        "GET /clients/{client_id}/people": READ,
        "GET /clients/{client_id}/people/{person_id}": READ,
        "GET /clients/{client_id}/timeline": READ,
        "GET /timeline": READ,
        "GET /contacts": READ,
        "GET /contacts/{contact_id}": READ,
        "GET /duplicates": READ,
        "GET /duplicates/dismissals": READ,
        "GET /employees": READ,
        "GET /employees/{employee_id}": READ,
        "POST /clients": CLIENT_WORK,
        "POST /clients/import": _rule(
            SALES_MANAGER,
            DATA_PROTECTION,
            INTEGRATION,
            why="a bulk load of people and their consents: sales management answers for the "
            "client base, data protection for where consents came from",
        ),
        "PATCH /clients/{client_id}": CLIENT_WORK,
        "POST /clients/{client_id}/people": CLIENT_WORK,
        "PATCH /clients/{client_id}/people/{person_id}": CLIENT_WORK,
        "PUT /clients/{client_id}/people/{person_id}/consents/{channel}": _rule(
            CLIENT_WORK.roles, DATA_PROTECTION
        ),
        "POST /clients/{client_id}/status": SALES_WORK,
        "PUT /clients/{client_id}/curator": _rule(
            SALES_MANAGER, INTEGRATION, why="curators are assigned by sales management"
        ),
        "POST /clients/{client_id}/merge": _rule(SALES_MANAGER, DATA_PROTECTION, INTEGRATION),
        "POST /duplicates/dismissals": _rule(SALES_MANAGER, DATA_PROTECTION, INTEGRATION),
        "POST /contacts": _rule(
            MARKETING,
            EVENT_STAFF,
            SALES,
            SALES_MANAGER,
            INTEGRATION,
            why="recorded as the caller; naming a colleague needs a role that acts for others",
        ),
        "POST /contacts/import": _rule(MARKETING, SALES_MANAGER, INTEGRATION),
        "POST /employees": _rule(DEPARTMENT_HEAD, MANAGEMENT, OPERATOR, INTEGRATION),
        "PATCH /employees/{employee_id}": _rule(DEPARTMENT_HEAD, MANAGEMENT, OPERATOR, INTEGRATION),
        "GET /people/{person_id}/personal-data": PERSONAL_DATA_EXPORT,
        "POST /people/{person_id}/erasure": _rule(
            DATA_PROTECTION,
            why="erasure on a person's request: every service forgets them (PersonErased)",
        ),
        "POST /clients/{client_id}/erasure": _rule(
            DATA_PROTECTION, why="erases every person of the client"
        ),
    },
    "campaigns": {
        "GET /audit/{entity_id}": READ,
        "GET /audience/clients/{client_id}": READ,
        "GET /calendar-feeds": READ,
        "GET /events": READ,
        "GET /events.ics": READ,
        "GET /events/{event_id}": READ,
        "GET /events/{event_id}/effectiveness": READ,
        "GET /events/{event_id}/estimate": READ,
        "GET /events/{event_id}/invitations/{run_id}": READ,
        "GET /events/{event_id}/participants": READ,
        "GET /events/{event_id}/participants/{participant_id}": READ,
        "GET /events/{event_id}/participants/{participant_id}/questionnaire-link": READ,
        "GET /events/{event_id}/questionnaire": READ,
        "GET /events/{event_id}/questionnaire/results": READ,
        "GET /events/{event_id}/questionnaire/results/{question_id}/texts": READ,
        "GET /events/{event_id}/tasks": READ,
        "GET /programmes": READ,
        "GET /programmes/{programme_id}": READ,
        "GET /reports/market-needs": READ,
        "GET /task-templates": READ,
        "GET /task-templates/{kind}": READ,
        "GET /tasks": READ,
        "POST /calendar-feeds": ANY_STAFF,
        "DELETE /calendar-feeds/{feed_id}": ANY_STAFF,
        "POST /programmes": EVENT_PLANNING,
        "PUT /programmes/{programme_id}": EVENT_PLANNING,
        "POST /events": EVENT_PLANNING,
        "PATCH /events/{event_id}": EVENT_PLANNING,
        "POST /events/{event_id}/cancel": EVENT_PLANNING,
        "POST /events/{event_id}/complete": EVENT_PLANNING,
        "POST /events/{event_id}/reschedule": EVENT_PLANNING,
        "PUT /events/{event_id}/estimate": EVENT_PLANNING,
        "PUT /events/{event_id}/questionnaire": EVENT_PLANNING,
        "POST /events/{event_id}/invitations": EVENT_PLANNING,
        "POST /events/{event_id}/participants": EVENT_PLANNING,
        "POST /events/{event_id}/participants/by-portrait": EVENT_PLANNING,
        "DELETE /events/{event_id}/participants/{participant_id}": EVENT_PLANNING,
        "PUT /task-templates/{kind}": EVENT_PLANNING,
        "POST /events/{event_id}/attendance": _rule(
            EVENT_STAFF, MARKETING, INTEGRATION, why="event staff check people in"
        ),
        "PATCH /events/{event_id}/tasks/{task_id}": EVENT_WORK,
        "POST /events/{event_id}/questionnaire/responses": EVENT_WORK,
        "POST /events/{event_id}/questionnaire/responses/import": EVENT_WORK,
        "GET /people/{person_id}/personal-data": PERSONAL_DATA_EXPORT,
    },
    "proposals": {
        "GET /audit/{entity_id}": READ,
        "GET /catalog": READ,
        "GET /catalog/{code}": READ,
        "GET /proposals": READ,
        "GET /proposals/{proposal_id}": READ,
        "GET /proposals/{proposal_id}/history": READ,
        "GET /proposals/{proposal_id}/plan": READ,
        "GET /proposals/{proposal_id}/revisions": READ,
        "GET /proposals/{proposal_id}/back-office": READ,
        "GET /proposals/{proposal_id}/revisions/{number}": READ,
        "GET /reports/pipeline": READ,
        "GET /sales-models": READ,
        "GET /sales-models/mined": READ,
        "GET /sales-models/{model_id}": READ,
        "GET /steps": READ,
        "GET /steps/{step_id}": READ,
        "POST /catalog": SALES_MANAGEMENT,
        "PUT /catalog/{code}": SALES_MANAGEMENT,
        "POST /proposals": SALES_WORK,
        "PATCH /proposals/{proposal_id}": SALES_WORK,
        "POST /proposals/{proposal_id}/revisions": SALES_WORK,
        "POST /proposals/{proposal_id}/status": SALES_WORK,
        "POST /proposals/{proposal_id}/loss": SALES_WORK,
        "POST /proposals/{proposal_id}/win": SALES_WORK,
        "PUT /proposals/{proposal_id}/plan": SALES_WORK,
        "POST /proposals/{proposal_id}/plan/steps": SALES_WORK,
        "PUT /steps/{step_id}/assignee": SALES_WORK,
        "POST /steps/{step_id}/block": ANY_STAFF,
        "POST /steps/{step_id}/{action}": _rule(
            STAFF,
            INTEGRATION,
            why="a person completes only their own step or one of their department's (as its "
            "head); an approval step only with discount-approver, never on their own proposal",
        ),
        "POST /sales-models": SALES_MANAGEMENT,
        "POST /sales-models/{model_id}/versions": SALES_MANAGEMENT,
        "POST /sales-models/{model_id}/publish": _rule(SALES_MANAGER, MANAGEMENT, INTEGRATION),
        "POST /sales-models/mined/publish": _rule(SALES_MANAGER, MANAGEMENT, INTEGRATION),
        "GET /people/{person_id}/personal-data": PERSONAL_DATA_EXPORT,
    },
    "notify": {
        "GET /audit/{entity_id}": READ,
        "GET /channels": READ,
        "GET /notifications": READ,
        "GET /notifications/{notification_id}": READ,
        "GET /templates": READ,
        "GET /templates/{kind}/{language}": READ,
        "POST /notifications": _rule(MARKETING, SALES, SALES_MANAGER, OPERATOR, INTEGRATION),
        "PUT /templates/{kind}/{language}": _rule(MARKETING, OPERATOR, INTEGRATION),
        "DELETE /templates/{kind}/{language}": _rule(MARKETING, OPERATOR, INTEGRATION),
        "GET /people/{person_id}/personal-data": PERSONAL_DATA_EXPORT,
    },
}

DATA_RULES: Final[tuple[tuple[str, str], ...]] = (
    (
        "Four eyes on discounts",
        "An approval step of a plan is completed only by a person with `discount-approver` who "
        "is neither the proposal's author (`employee_id`) nor its client's curator. An app "
        "(`integration`) never approves.",
    ),
    (
        "Plan steps",
        "A person completes, skips or starts a step assigned to them, or, as `department-head`, "
        "one assigned to an employee of their department; an unassigned step by anyone "
        "allowed on the route.",
    ),
    (
        "Acting for others",
        "Where a body names the employee who did something (`employee_id` of a contact record), "
        "a person's token may name only its own employee (claim `employee_id`); "
        "`integration` and `operator` may name any employee, and the record keeps both the app "
        "and the employee.",
    ),
    (
        "Personal data",
        "Reads stay open across departments, but personal fields are shown only to roles whose "
        "work is reaching people: "
        + ", ".join(f"`{r}`" for r in sorted(PERSONAL_DATA))
        + ". For anyone else a person's channel addresses, a private person's tax id and "
        "addresses, and a notification's address come back as null and are named in the "
        "response's `hidden` list; a search text that looks like an e-mail or a phone matches "
        "names only.",
    ),
)


def rule_for(service: str, method: str, path: str) -> Rule | None:
    """The rule of ``METHOD path`` (the route's template) in ``service``, if the table has one."""
    return TABLE.get(service, {}).get(f"{method.upper()} {path}")


def render_markdown() -> str:
    """``docs/authorization.md``: the table as people read it."""
    lines = [
        "# Who may do what",
        "",
        "Generated by `uv run crm-apidocs` from `services/kit/crm_kit/access.py`, the table the",
        "services enforce; do not edit by hand. A call needs the route's **scope** (what the app",
        "may call; see each service's OpenAPI document) and one of its **roles** (realm roles of",
        "the OpenID Connect provider, in the token's `realm_access.roles`). A refusal is a 403",
        "problem+json naming the missing scope (`missing_scopes`) or the roles that would do",
        "(`allowed_roles`).",
        "",
        "## Roles",
        "",
        "| Role | Who |",
        "|---|---|",
    ]
    lines += [f"| `{role}` | {text} |" for role, text in sorted(ROLE_DESCRIPTIONS.items())]
    lines += ["", "## Rules that look at the data", ""]
    lines += [f"- **{title}.** {text}" for title, text in DATA_RULES]
    for service, rules in TABLE.items():
        lines += ["", f"## {service}", "", "| Operation | Roles | Note |", "|---|---|---|"]
        for operation, rule in sorted(rules.items(), key=lambda kv: _order(kv[0])):
            roles = (
                "any role"
                if rule.roles == ROLES
                else ", ".join(f"`{r}`" for r in sorted(rule.roles))
            )
            lines.append(f"| `{operation}` | {roles} | {rule.why} |")
    return "\n".join(lines) + "\n"


def _order(operation: str) -> tuple[str, int]:
    method, path = operation.split(" ", 1)
    return path, ["GET", "POST", "PUT", "PATCH", "DELETE"].index(method)
