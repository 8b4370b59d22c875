"""A person's data export and erasure, as a data-protection officer runs them.

The export asks each service for what it holds about the person
(``GET /people/{id}/personal-data``, with the caller's token) and merges the four answers into
one document; no service reads another's store, and none asks the others on the caller's
behalf (docs/integration.md). Erasure is one call to contacts, whose ``PersonErased`` the
other services follow.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

SERVICES = ("contacts", "campaigns", "proposals", "notify")
SCOPES = tuple(f"{name}:admin" for name in SERVICES)
"""What the exporting app needs: each service's admin scope (and the person, the
``data-protection`` role)."""


class PersonalDataError(RuntimeError):
    """A service refused or failed its part."""


def _answer(response: httpx.Response) -> Any:
    if response.status_code != 200:
        raise PersonalDataError(
            f"{response.request.method} {response.request.url}: {response.status_code} "
            f"{response.text[:300]}"
        )
    return response.json()


async def export_person(
    person_id: str, services: Mapping[str, httpx.AsyncClient]
) -> dict[str, Any]:
    """One document: every service's part, and whether the person is erased everywhere."""
    parts = {
        name: _answer(await http.get(f"/people/{person_id}/personal-data"))
        for name, http in services.items()
    }
    return {
        "person_id": person_id,
        "exported_at": datetime.now(UTC).isoformat(),
        "erased": all(part["erased"] for part in parts.values()),
        "services": {name: part["records"] for name, part in parts.items()},
    }


async def erase_person(person_id: str, contacts: httpx.AsyncClient) -> dict[str, Any]:
    answer: dict[str, Any] = _answer(await contacts.post(f"/people/{person_id}/erasure"))
    return answer
