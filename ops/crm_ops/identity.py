"""Link the provider's people to the employees of contacts, once: ``crm link-employees``.

A person signs in at the OpenID Connect provider; the services need to know which employee of
contacts that person is. The link is the user attribute ``employee_id`` at the provider, which
its ``department`` client scope maps into every token as the claim ``employee_id``
(``crm_kit.auth.Principal.employee_id``). This module sets it for each provider user whose
e-mail address is the e-mail channel of exactly one employee, and reports the rest; running it
again changes nothing. It talks to Keycloak's admin REST API with the provider's administrator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

EMPLOYEE_ATTRIBUTE = "employee_id"


class LinkError(RuntimeError):
    """The provider or contacts refused or could not be reached: one line saying which."""


@dataclass
class LinkReport:
    linked: dict[str, str] = field(default_factory=dict)
    """username → employee id, set by this run."""
    unchanged: dict[str, str] = field(default_factory=dict)
    """username → employee id, already linked."""
    unmatched: list[str] = field(default_factory=list)
    """Usernames whose e-mail is no employee's (or several employees')."""

    def describe(self) -> str:
        return (
            f"{len(self.linked)} people linked to their employees, {len(self.unchanged)} "
            f"already linked, {len(self.unmatched)} without an employee"
            + (f" ({', '.join(sorted(self.unmatched))})" if self.unmatched else "")
        )


def _realm_of(issuer: str) -> tuple[str, str]:
    """(the server's base URL, the realm) of a Keycloak issuer ``<base>/realms/<realm>``."""
    parts = urlsplit(issuer)
    base_path, sep, realm = parts.path.rpartition("/realms/")
    if not sep or not realm or "/" in realm:
        raise LinkError(f"{issuer} is not a Keycloak issuer (<server>/realms/<realm>)")
    return f"{parts.scheme}://{parts.netloc}{base_path}", realm


async def employees_by_email(contacts: httpx.AsyncClient) -> dict[str, list[str]]:
    """Lower-cased e-mail → the ids of the employees of contacts with that e-mail channel."""
    found: dict[str, list[str]] = {}
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        response = await contacts.get("/employees", params=params)
        if response.status_code != 200:
            raise LinkError(f"contacts GET /employees -> {response.status_code}: {response.text}")
        body = response.json()
        for employee in body["items"]:
            email = (employee.get("channels") or {}).get("email")
            if email:
                found.setdefault(email.lower(), []).append(employee["id"])
        cursor = body.get("next_cursor")
        if not cursor:
            return found


async def link_employees(
    issuer: str,
    admin_password: str,
    contacts: httpx.AsyncClient,
    *,
    admin_user: str = "admin",
) -> LinkReport:
    """Set ``employee_id`` on every provider user of ``issuer``'s realm matched by e-mail."""
    base, realm = _realm_of(issuer)
    by_email = await employees_by_email(contacts)
    report = LinkReport()
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        token = await _admin_token(http, admin_user, admin_password)
        headers = {"Authorization": f"Bearer {token}"}
        users = await _users(http, realm, headers)
        for user in users:
            username = str(user["username"])
            matches = by_email.get(str(user.get("email") or "").lower(), [])
            if len(matches) != 1:
                if not user.get("serviceAccountClientId") and not username.startswith(
                    "service-account-"
                ):
                    report.unmatched.append(username)
                continue
            employee_id = matches[0]
            attributes: dict[str, list[str]] = dict(user.get("attributes") or {})
            if attributes.get(EMPLOYEE_ATTRIBUTE) == [employee_id]:
                report.unchanged[username] = employee_id
                continue
            attributes[EMPLOYEE_ATTRIBUTE] = [employee_id]
            await _update(http, realm, headers, user, attributes)
            report.linked[username] = employee_id
    return report


async def _admin_token(http: httpx.AsyncClient, user: str, password: str) -> str:
    try:
        response = await http.post(
            "/realms/master/protocol/openid-connect/token",
            data={
                "client_id": "admin-cli",
                "grant_type": "password",
                "username": user,
                "password": password,
            },
        )
    except httpx.HTTPError as exc:
        raise LinkError(f"the provider at {http.base_url} does not answer: {exc}") from exc
    if response.status_code != 200:
        raise LinkError(f"the provider refused its administrator: {response.status_code}")
    return str(response.json()["access_token"])


async def _users(
    http: httpx.AsyncClient, realm: str, headers: Mapping[str, str]
) -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = []
    while True:
        response = await http.get(
            f"/admin/realms/{realm}/users",
            params={"first": len(users), "max": 100, "briefRepresentation": "false"},
            headers=headers,
        )
        if response.status_code != 200:
            raise LinkError(f"listing the users of {realm} -> {response.status_code}")
        page = response.json()
        users += page
        if len(page) < 100:
            return users


async def _update(
    http: httpx.AsyncClient,
    realm: str,
    headers: Mapping[str, str],
    user: Mapping[str, Any],
    attributes: Mapping[str, list[str]],
) -> None:
    # The provider replaces what it is sent: send the user's profile fields with the attributes.
    body = {key: user[key] for key in ("username", "email", "firstName", "lastName") if key in user}
    body["attributes"] = dict(attributes)
    response = await http.put(
        f"/admin/realms/{realm}/users/{user['id']}", json=body, headers=headers
    )
    if response.status_code != 204:
        raise LinkError(
            f"setting {EMPLOYEE_ATTRIBUTE} of {user['username']} -> {response.status_code}: "
            f"{response.text}"
        )
