"""The console's provider client when it reaches the provider at another address than the
browser does (inside a cluster, in compose): a fake provider answers on httpx's mock transport."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import pytest
from crm_console.provider import Provider, SignInFailed

PUBLIC = "http://localhost:8180/realms/crm"
INSIDE = "http://keycloak:8080/realms/crm"


def _fake_provider(calls: list[str]) -> httpx.MockTransport:
    """Answers only on the inside address, as the public one is not reachable from a pod."""

    def answer(request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        calls.append(url)
        if not url.startswith(INSIDE):
            return httpx.Response(502, text="not reachable from here")
        if url == f"{INSIDE}/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": PUBLIC,
                    "authorization_endpoint": f"{PUBLIC}/protocol/openid-connect/auth",
                    "token_endpoint": f"{PUBLIC}/protocol/openid-connect/token",
                    "end_session_endpoint": f"{PUBLIC}/protocol/openid-connect/logout",
                    "jwks_uri": f"{PUBLIC}/protocol/openid-connect/certs",
                },
            )
        if url == f"{INSIDE}/protocol/openid-connect/token":
            return httpx.Response(400, json={"error": "invalid_grant"})
        return httpx.Response(404)

    return httpx.MockTransport(answer)


def _provider(calls: list[str], discovery_url: str | None) -> Provider:
    http = httpx.AsyncClient(transport=_fake_provider(calls))
    return Provider(
        PUBLIC,
        "crm-console",
        "http://localhost:8000/auth/callback",
        http,
        "openid",
        discovery_url=discovery_url,
    )


async def test_the_browser_goes_to_the_public_endpoints_and_the_console_calls_the_inside_ones() -> (
    None
):
    calls: list[str] = []
    provider = _provider(calls, INSIDE)

    authorization = await provider.authorization()
    assert urlsplit(authorization.url).netloc == "localhost:8180"
    logout = await provider.end_session_url(None, "http://localhost:8000/")
    assert logout is not None
    assert logout.startswith(f"{PUBLIC}/protocol/openid-connect/logout?")

    # The code exchange goes over the back channel, to the inside address; the fake refuses
    # the code, which is how we see where the call went.
    with pytest.raises(SignInFailed, match="refused \\(400\\)"):
        await provider.exchange("code", "verifier", "nonce", datetime.now(UTC))
    assert calls == [
        f"{INSIDE}/.well-known/openid-configuration",
        f"{INSIDE}/protocol/openid-connect/token",
    ]


async def test_without_an_inside_address_the_provider_is_read_at_its_issuer() -> None:
    calls: list[str] = []
    provider = _provider(calls, None)

    with pytest.raises(httpx.HTTPStatusError):
        await provider.authorization()
    assert calls == [f"{PUBLIC}/.well-known/openid-configuration"]
