"""The realm the stack imports names the roles the services enforce, and maps what they read."""

from __future__ import annotations

import json
from typing import Any

from crm_kit import access
from crm_stack.config import KEYCLOAK_REALM_FILE


def _realm() -> dict[str, Any]:
    realm: dict[str, Any] = json.loads(KEYCLOAK_REALM_FILE.read_text(encoding="utf-8"))
    return realm


def test_the_realms_roles_are_the_authorization_tables_roles() -> None:
    assert {role["name"] for role in _realm()["roles"]["realm"]} == set(access.ROLES)


def test_every_person_holds_only_staff_roles_and_every_app_only_app_roles() -> None:
    for user in _realm()["users"]:
        roles = set(user.get("realmRoles", []))
        if user.get("serviceAccountClientId"):
            assert roles <= {access.BACKOFFICE, access.INTEGRATION}, user["username"]
        else:
            assert roles, user["username"]
            assert roles <= access.STAFF, user["username"]


def test_tokens_carry_roles_department_and_employee_id() -> None:
    scopes = {scope["name"]: scope for scope in _realm()["clientScopes"]}
    claims = {
        mapper["config"].get("claim.name")
        for name in ("roles", "department")
        for mapper in scopes[name]["protocolMappers"]
    }
    assert {"realm_access.roles", "department", "employee_id"} <= claims
    console = next(c for c in _realm()["clients"] if c["clientId"] == "crm-console")
    assert {"roles", "department", "crm-audience"} <= set(console["defaultClientScopes"])


def test_the_user_profile_keeps_department_and_employee_id_editable_by_admins_only() -> None:
    [provider] = _realm()["components"]["org.keycloak.userprofile.UserProfileProvider"]
    profile = json.loads(provider["config"]["kc.user.profile.config"][0])
    attributes = {a["name"]: a for a in profile["attributes"]}
    for name in ("department", "employee_id"):
        assert attributes[name]["permissions"]["edit"] == ["admin"], name
