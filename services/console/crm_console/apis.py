"""The four services' HTTP APIs, called with the signed-in person's access token.

The console never reads another service's database: what it shows comes from here. A refusal
or failure of a service becomes an :class:`ApiProblem` carrying the service's own problem
detail (title, detail, the rule or the roles that would do, the offending fields), so a page
can say in words what went wrong; a service that cannot be reached is a 503 of the same kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from crm_kit.logs import CORRELATION_HEADER, current_correlation_id

Params = Mapping[str, str | int | bool | None]


def _headers(token: str) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    # The page's correlation id goes on to the services: one request, one id in every log.
    correlation = current_correlation_id()
    if correlation:
        headers[CORRELATION_HEADER] = correlation
    return headers


@dataclass
class ApiProblem(Exception):
    status: int
    title: str
    detail: str = ""
    service: str = ""
    rule: str | None = None
    allowed_roles: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.service}: {self.status} {self.title}: {self.detail}"

    @classmethod
    def of(cls, service: str, response: httpx.Response) -> ApiProblem:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return cls(response.status_code, response.reason_phrase or "Error", "", service)
        errors = body.get("errors")
        roles = body.get("allowed_roles")
        return cls(
            status=response.status_code,
            title=str(body.get("title") or response.reason_phrase or "Error"),
            detail=str(body.get("detail") or ""),
            service=service,
            rule=str(body["rule"]) if body.get("rule") else None,
            allowed_roles=[str(r) for r in roles] if isinstance(roles, list) else [],
            errors=[e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else [],
        )


@dataclass(frozen=True)
class Answer:
    body: Any
    etag: str | None


class Apis:
    """One pooled HTTP client for the four services; each call names the service."""

    def __init__(self, http: httpx.AsyncClient, urls: Mapping[str, str]) -> None:
        self.http = http
        self.urls = dict(urls)

    async def get(self, token: str, service: str, path: str, params: Params | None = None) -> Any:
        return (await self.call(token, "GET", service, path, params=params)).body

    async def call(
        self,
        token: str,
        method: str,
        service: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        if_match: str | None = None,
    ) -> Answer:
        headers = _headers(token)
        if if_match is not None:
            headers["If-Match"] = if_match
        query = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            response = await self.http.request(
                method, f"{self.urls[service]}{path}", params=query, json=json, headers=headers
            )
        except httpx.HTTPError as exc:
            raise ApiProblem(
                503, "Service unavailable", f"{service} could not be reached ({exc})", service
            ) from exc
        if response.status_code >= 400:
            raise ApiProblem.of(service, response)
        if 300 <= response.status_code < 400:
            # A merged client's id answers 301 with the survivor's address.
            raise ApiProblem(
                response.status_code, "Moved", response.headers.get("location", ""), service
            )
        if response.headers.get("content-type", "").startswith(("application/json",)):
            return Answer(response.json(), response.headers.get("etag"))
        return Answer(response.text, response.headers.get("etag"))

    async def raw(
        self,
        token: str,
        service: str,
        path: str,
        params: Params | None = None,
        *,
        accept: str = "text/calendar",
    ) -> httpx.Response:
        """A non-JSON document (the iCalendar plan-schedule, a CSV), passed on as the service
        sent it."""
        query = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            response = await self.http.get(
                f"{self.urls[service]}{path}",
                params=query,
                headers=_headers(token) | {"Accept": accept},
            )
        except httpx.HTTPError as exc:
            raise ApiProblem(
                503, "Service unavailable", f"{service} could not be reached ({exc})", service
            ) from exc
        if response.status_code >= 400:
            raise ApiProblem.of(service, response)
        return response
