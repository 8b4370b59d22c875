"""An OpenID Connect provider's signing keys, for checking the tokens it issues.

The provider is found through its discovery document (``<issuer>/.well-known/openid-configuration``,
whose ``issuer`` must be the configured one) and its keys read from the ``jwks_uri`` it names.
Keys are kept in memory. A token signed with a key not in the set (the provider rotated its
keys) makes the set be read again, at most once every ``min_refresh_s`` so a flood of tokens
with made-up key ids cannot turn into a flood of requests to the provider; the set is also read
again when it is older than ``max_age_s``, so a key the provider withdrew stops being accepted.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final

import httpx
import jwt

from crm_kit.problems import Problem

SIGNING_ALGORITHMS: Final = frozenset({"RS256"})


class KeysUnavailable(Problem):
    """The provider's keys could not be read: the caller may retry (not the token's fault)."""

    status = 503
    title = "Token keys unavailable"
    slug = "token-keys-unavailable"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.headers["Retry-After"] = "5"


class UnknownSigningKey(ValueError):
    """The token names a key the provider does not publish."""


class ProviderKeys:
    """The signing keys of one issuer, read from its JWKS and refreshed on rotation."""

    def __init__(
        self,
        issuer: str,
        *,
        client: httpx.AsyncClient | None = None,
        min_refresh_s: float = 10.0,
        max_age_s: float = 300.0,
        timeout_s: float = 5.0,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self._client = client
        self.min_refresh_s = min_refresh_s
        self.max_age_s = max_age_s
        self.timeout_s = timeout_s
        self._keys: dict[str, Any] = {}
        self._jwks_uri: str | None = None
        self._read_at: float | None = None
        self._lock = asyncio.Lock()

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    async def key_for(self, kid: str | None) -> Any:
        """The public key the token's ``kid`` names (reading the set when needed)."""
        now = time.monotonic()
        stale = self._read_at is None or now - self._read_at > self.max_age_s
        if stale or (kid not in self._keys and self._may_refresh(now)):
            await self._refresh(force=not stale)
        key = self._keys.get(kid or "") if kid else self._only_key()
        if key is None:
            raise UnknownSigningKey(f"the token's signing key {kid!r} is not the provider's")
        return key

    def _may_refresh(self, now: float) -> bool:
        return self._read_at is None or now - self._read_at >= self.min_refresh_s

    def _only_key(self) -> Any:
        return next(iter(self._keys.values())) if len(self._keys) == 1 else None

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            now = time.monotonic()
            # Another request refreshed while this one waited for the lock.
            if self._read_at is not None and now - self._read_at < self.min_refresh_s:
                return
            if not force and self._read_at is not None and now - self._read_at <= self.max_age_s:
                return
            try:
                self._keys = await self._read()
            except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
                if self._keys and self._read_at is not None:
                    # Keep serving the keys we have while the provider is away.
                    self._read_at = now - self.max_age_s + self.min_refresh_s
                    return
                raise KeysUnavailable(
                    f"the signing keys of {self.issuer} could not be read: {exc}"
                ) from exc
            self._read_at = time.monotonic()

    async def _read(self) -> dict[str, Any]:
        own = self._client is None
        client = self._client or httpx.AsyncClient(timeout=self.timeout_s)
        try:
            if self._jwks_uri is None:
                self._jwks_uri = await self._discover(client)
            answer = await client.get(self._jwks_uri)
            answer.raise_for_status()
            keys = jwt.PyJWKSet.from_dict(answer.json())
        finally:
            if own:
                await client.aclose()
        found = {
            str(key.key_id): key.key
            for key in keys.keys
            if key.key_id
            and key.public_key_use in (None, "sig")
            and key.algorithm_name in SIGNING_ALGORITHMS
        }
        if not found:
            raise ValueError(f"{self._jwks_uri} publishes no RS256 signing key")
        return found

    async def _discover(self, client: httpx.AsyncClient) -> str:
        answer = await client.get(self.discovery_url)
        answer.raise_for_status()
        document = answer.json()
        if not isinstance(document, dict) or document.get("issuer") != self.issuer:
            raise ValueError(
                f"{self.discovery_url} names the issuer {document.get('issuer')!r}, "
                f"not {self.issuer!r}"
                if isinstance(document, dict)
                else f"{self.discovery_url} is not a discovery document"
            )
        uri = document.get("jwks_uri")
        if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
            raise ValueError(f"{self.discovery_url} names no jwks_uri")
        return uri
