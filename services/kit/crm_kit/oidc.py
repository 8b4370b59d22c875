"""An OpenID Connect provider's signing keys, for checking the tokens it issues.

The provider is found through its discovery document (``<issuer>/.well-known/openid-configuration``,
whose ``issuer`` must be the configured one) and its keys read from the ``jwks_uri`` it names.
Keys are kept in memory.

The issuer is the provider's public address (what browsers use and tokens name). A service that
cannot reach that address from where it runs (compose's network, a cluster) is given a
``discovery_url`` too: the provider as the service reaches it (``http://keycloak:8080/realms/crm``
for the public ``http://localhost:8180/realms/crm``). The document read there must still name the
configured issuer, so the address only says where to ask, never whom to trust. Its ``jwks_uri``
then names the public host (a provider builds its endpoints from its public address unless told
to answer back-channel calls on the caller's), and is moved onto the discovery URL's base, see
:meth:`ProviderKeys.inside_address`.

A token signed with a key not in the set (the provider rotated its keys) makes the set be read
again, at most once every ``min_refresh_s`` so a flood of tokens with made-up key ids cannot turn
into a flood of requests to the provider; the set is also read again when it is older than
``max_age_s``, so a key the provider withdrew stops being accepted.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
import jwt

from crm_kit.problems import Problem

SIGNING_ALGORITHMS: Final = frozenset({"RS256"})
WELL_KNOWN: Final = "/.well-known/openid-configuration"


def discovery_document_url(address: str) -> str:
    """The discovery document's URL for a provider address: a realm base
    (``http://keycloak:8080/realms/crm``) or the document's own URL."""
    address = address.rstrip("/")
    return address if address.endswith(WELL_KNOWN) else address + WELL_KNOWN


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


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
        discovery_url: str | None = None,
        client: httpx.AsyncClient | None = None,
        min_refresh_s: float = 10.0,
        max_age_s: float = 300.0,
        timeout_s: float = 5.0,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.discovery_url = discovery_document_url(discovery_url or self.issuer)
        """Where the discovery document is read: the issuer's, unless another address is given."""
        self._base = self.discovery_url.removesuffix(WELL_KNOWN)
        self._client = client
        self.min_refresh_s = min_refresh_s
        self.max_age_s = max_age_s
        self.timeout_s = timeout_s
        self._keys: dict[str, Any] = {}
        self._jwks_uri: str | None = None
        self._read_at: float | None = None
        self._lock = asyncio.Lock()

    def inside_address(self, uri: str) -> str:
        """Where this service reaches an endpoint the discovery document names (its
        ``jwks_uri``, or a ``token_endpoint`` called over the back channel).

        With no discovery URL of its own, the address as named. Otherwise the document's URI is
        the provider's endpoint as the public sees it, and the same endpoint is reached where the
        document was: a URI under the issuer is moved under the discovery URL's base
        (``https://id.example.com/realms/crm/protocol/openid-connect/certs`` becomes
        ``http://keycloak:8080/realms/crm/protocol/openid-connect/certs``); one elsewhere on the
        issuer's host keeps its path on the discovery URL's host. A URI on any other host (the
        provider already answered with its inside address, or keeps its keys elsewhere) is read
        as named. The target is only ever the configured address, so a document cannot send the
        service anywhere it was not told to go.
        """
        if self._base == self.issuer:
            return uri
        if uri.startswith(self.issuer + "/"):
            return self._base + uri[len(self.issuer) :]
        public = _origin(self.issuer)
        if _origin(uri) == public:
            return _origin(self._base) + uri[len(public) :]
        return uri

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
                via = "" if self._base == self.issuer else f" (through {self._base})"
                raise KeysUnavailable(
                    f"the signing keys of {self.issuer}{via} could not be read: {exc}"
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
        return self.inside_address(uri)
