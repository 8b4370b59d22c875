"""The console's table of roles covers exactly its routes, and its actions need the roles the
services' routes they call need."""

from __future__ import annotations

from crm_console import access
from crm_console.app import create
from crm_console.settings import ConsoleSettings
from crm_kit.access import DISCOUNT_APPROVER, EVENT_STAFF, MARKETING, SALES
from fastapi.routing import iter_route_contexts


def _routes() -> set[str]:
    app = create(ConsoleSettings(oidc_issuer="http://127.0.0.1:9/realms/crm", log_json=False))
    found = set()
    for route in iter_route_contexts(app.routes):
        if route.path_format.startswith("/static"):
            continue
        found |= {f"{m} {route.path_format}" for m in route.methods or () if m != "HEAD"}
    return found


def test_every_route_is_in_the_table_or_public_and_nothing_else_is() -> None:
    assert _routes() == set(access.ROUTES) | set(access.PUBLIC)


def test_only_a_discount_approver_may_post_an_approval() -> None:
    route = "/proposals/{proposal_id}/steps/{step_id}/approve"
    assert access.allows("POST", route, {DISCOUNT_APPROVER})
    assert not access.allows("POST", route, {SALES, MARKETING})


def test_check_in_follows_the_campaigns_rule() -> None:
    route = "/events/{event_id}/check-in"
    assert access.allows("POST", route, {EVENT_STAFF})
    assert not access.allows("POST", route, {SALES})


def test_a_route_missing_from_the_table_is_refused_to_everyone() -> None:
    assert not access.allows("POST", "/nowhere", {DISCOUNT_APPROVER, SALES})
