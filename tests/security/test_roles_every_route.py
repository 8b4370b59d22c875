"""The role × route matrix, generated from the authorization table (``crm_kit.access``).

For every operation that authenticates and every realm role: a token holding every scope of the
service and only that role is refused with a 403 problem naming the roles that would do when the
table does not list the role, and is let through to the route's own checks (its validation, its
lookups: anything but 401 and 403) when it does. The table and the apps' routes are the same set,
so a route added without a row, or a row left behind by a removed route, fails here.
"""

from __future__ import annotations

from typing import Any

import pytest
from crm_kit import access
from crm_kit.problems import PROBLEM_MEDIA_TYPE
from crm_kit.testing import JwtKeys, bearer

from .conftest import PROTECTED, SERVICES, Operation, by_id, service_scopes

pytestmark = pytest.mark.integration


def test_the_table_and_the_routes_are_the_same_operations() -> None:
    for service in SERVICES:
        routes = {f"{op.method} {op.path}" for op in PROTECTED if op.service == service}
        assert routes == set(access.TABLE[service]), service


@pytest.mark.parametrize("op", list(by_id(PROTECTED)))
async def test_each_role_is_let_through_or_refused_as_the_table_says(
    op: Operation, services: dict[str, Any], jwt_keys: JwtKeys
) -> None:
    rule = access.rule_for(op.service, op.method, op.path)
    assert rule is not None, op.id
    api = services[op.service].api
    scopes = sorted(service_scopes(op.service))
    failures: list[str] = []
    for role in sorted(access.ROLES):
        headers = bearer(jwt_keys, *scopes, roles=(role,), employee_id="matrix-employee")
        headers["If-Match"] = '"1"'
        kwargs: dict[str, Any] = {"headers": headers}
        if op.json_body_schema() is not None:
            kwargs["json"] = {}
        response = await api.request(op.method, op.url(), **kwargs)
        if role in rule.roles:
            if response.status_code in (401, 403):
                failures.append(f"{role}: allowed by the table, got {response.status_code}")
            continue
        if response.status_code != 403:
            failures.append(f"{role}: refused by the table, got {response.status_code}")
            continue
        body = response.json()
        if response.headers["content-type"] != PROBLEM_MEDIA_TYPE:
            failures.append(f"{role}: 403 is not problem+json")
        elif body.get("allowed_roles") != sorted(rule.roles):
            failures.append(f"{role}: 403 names {body.get('allowed_roles')}")
    assert not failures, f"{op.id}:\n  " + "\n  ".join(failures)
