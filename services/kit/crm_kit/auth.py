"""Bearer-token authentication: RS256 JWTs carrying per-service scopes.

Tokens come from the OpenID Connect provider (``oidc_issuer``: its keys are read from its JWKS,
see ``crm_kit.oidc``) or, for development, tests and scripts, from ``crm-token mint`` signed
with the stack's development key (``jwt_public_key_file``, issuer ``jwt_issuer``). The token's
``iss`` says which of the two checks it; both need the audience ``jwt_audience``.

A token names its caller (``sub``) and what it may do (``scope``: space-separated, OAuth2
style, e.g. ``"contacts:read contacts:write"``). Scopes match exactly: ``contacts:admin``
grants nothing but ``contacts:admin``.

The app factory puts a ``TokenVerifier`` on ``app.state.token_verifier``; routes declare the
scopes they need::

    from typing import Annotated
    from fastapi import APIRouter, Depends
    from crm_kit.auth import Principal, requires

    Reader = Annotated[Principal, Depends(requires("contacts:read"))]

    router = APIRouter()

    @router.get("/clients/{client_id}")
    async def get_client(client_id: str, caller: Reader) -> ClientOut: ...

    @router.post("/clients", dependencies=[Depends(requires("contacts:write"))])
    async def register_client(body: RegisterClient) -> ClientOut: ...
"""

import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final

import jwt
from crm_contracts.envelope import Actor
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.serialization import (
    load_pem_private_key,
    load_pem_public_key,
)
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from crm_kit import access
from crm_kit.logs import actor as actor_context
from crm_kit.oidc import ProviderKeys, UnknownSigningKey
from crm_kit.problems import Forbidden, Unauthorized
from crm_kit.settings import ServiceSettings

ALGORITHMS: Final = ["RS256"]
"""The only signature algorithm accepted; it closes ``alg=none`` and HS256-with-public-key."""

REQUIRED_CLAIMS: Final = ["exp", "iat", "iss", "aud", "sub"]
_RESERVED_CLAIMS: Final = frozenset(
    {*REQUIRED_CLAIMS, "jti", "scope", "realm_access", "employee_id"}
)

_bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="An RS256 JWT; `crm-token mint --sub <app> --scope <service>:<action>`.",
)


class AuthConfigurationError(RuntimeError):
    """The service cannot verify tokens: the key is missing, unreadable or not an RSA key."""


class InvalidTokenError(ValueError):
    """The token is malformed, badly signed, expired or not meant for this service."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, and what they may do."""

    subject: str
    scopes: frozenset[str]
    token_id: str | None = None
    roles: frozenset[str] = frozenset()
    """The provider's realm roles (``realm_access.roles``); none in a development token."""
    claims: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def employee_id(self) -> str | None:
        """The employee of contacts this person is (claim ``employee_id``; the provider maps it
        from the user's attribute). None for an app calling on its own account."""
        value = self.claims.get("employee_id")
        return value if isinstance(value, str) and value else None

    @property
    def app(self) -> str:
        """The app that called: the provider's ``azp`` (client id), else the subject."""
        value = self.claims.get("azp")
        return value if isinstance(value, str) and value else self.subject

    @property
    def sees_personal_data(self) -> bool:
        """Whether personal fields are shown to this caller (``crm_kit.access.PERSONAL_DATA``)."""
        return access.sees_personal_data(self.roles)

    def may_act_for(self, employee_id: str | None) -> bool:
        """Whether this caller may say ``employee_id`` did something (see ``crm_kit.access``)."""
        if employee_id is None or employee_id == self.employee_id:
            return True
        return bool(self.roles & access.ACTS_FOR_OTHERS)

    def check_acts_for(self, employee_id: str | None, field_name: str) -> None:
        """403 unless :meth:`may_act_for`: a person records work only as themselves."""
        if not self.may_act_for(employee_id):
            raise Forbidden(
                f"{field_name} names another employee; a person records work as themselves "
                f"(roles {', '.join(sorted(access.ACTS_FOR_OTHERS))} may act for others)",
                extra={"field": field_name, "allowed_roles": sorted(access.ACTS_FOR_OTHERS)},
            )


class TokenVerifier:
    def __init__(
        self,
        public_key_pem: bytes | str | None,
        issuer: str,
        audience: str,
        leeway_s: int = 30,
        *,
        providers: Iterable[ProviderKeys] = (),
    ) -> None:
        self._key = _load_public_key(public_key_pem) if public_key_pem is not None else None
        self._providers = {provider.issuer: provider for provider in providers}
        if self._key is None and not self._providers:
            raise AuthConfigurationError("neither a public key nor a token provider is set")
        self.issuer = issuer
        self.audience = audience
        self.leeway_s = leeway_s
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> "TokenVerifier":
        path = settings.jwt_public_key_file
        providers = (
            [ProviderKeys(settings.oidc_issuer, discovery_url=settings.oidc_discovery_url)]
            if settings.oidc_issuer
            else []
        )
        if path is None and not providers:
            raise AuthConfigurationError(
                "neither oidc_issuer (CRM_OIDC_ISSUER) nor jwt_public_key_file "
                "(CRM_JWT_PUBLIC_KEY_FILE) is set; `crm-token keygen <dir>` makes a "
                "development pair"
            )
        pem: bytes | None = None
        if path is not None:
            try:
                pem = path.read_bytes()
            except OSError as exc:
                raise AuthConfigurationError(
                    f"cannot read the JWT public key {path}: {exc.strerror}"
                ) from exc
        try:
            return cls(pem, settings.jwt_issuer, settings.jwt_audience, providers=providers)
        except AuthConfigurationError as exc:
            raise AuthConfigurationError(f"{path}: {exc}") from exc

    VERIFIED_CACHE_SIZE: Final = 1024
    """How many recently verified tokens are remembered (an internal app reuses its token for
    many requests; the RSA check and claim validation are a measurable share of a simple read)."""

    async def verify_async(self, token: str) -> Principal:
        """As :meth:`verify`, also for tokens of the OpenID Connect provider (whose keys may
        have to be read first: ``KeysUnavailable`` when the provider cannot be reached)."""
        if not self._providers or token in self._verified:
            return self.verify(token)
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(f"the token is invalid: {exc}") from exc
        provider = self._providers.get(issuer) if isinstance(issuer, str) else None
        if provider is None:
            return self.verify(token)
        try:
            key = await provider.key_for(kid if isinstance(kid, str) else None)
        except UnknownSigningKey as exc:
            raise InvalidTokenError(str(exc)) from exc
        principal = self._decode(token, key, provider.issuer)
        self._remember(token, principal)
        return principal

    def verify(self, token: str) -> Principal:
        """The token's principal, or ``InvalidTokenError`` saying why it was refused.

        A token that passed every check is remembered, by its exact text, until it expires: the
        same bytes carry the same signature and claims, so only the expiry can change the answer,
        and it is checked again on every use. A refused token is never remembered.
        """
        known = self._verified.get(token)
        if known is not None:
            principal, expires_at = known
            if time.time() <= expires_at + self.leeway_s:
                self._verified.move_to_end(token)
                return principal
            del self._verified[token]
            raise InvalidTokenError("the token has expired")
        if self._key is None:
            raise InvalidTokenError("the token's issuer is not one this service trusts")
        principal = self._decode(token, self._key, self.issuer)
        self._remember(token, principal)
        return principal

    def _remember(self, token: str, principal: Principal) -> None:
        self._verified[token] = (principal, float(principal.claims["exp"]))
        if len(self._verified) > self.VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)

    def _decode(self, token: str, key: Any, issuer: str) -> Principal:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                issuer=issuer,
                audience=self.audience,
                leeway=self.leeway_s,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidTokenError("the token has expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(f"the token is invalid: {exc}") from exc
        token_id = claims.get("jti")
        return Principal(
            subject=claims["sub"],
            scopes=_scopes_of(claims),
            token_id=str(token_id) if token_id is not None else None,
            roles=_roles_of(claims),
            claims=claims,
        )


def requires(*scopes: str) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency admitting callers whose token holds every one of ``scopes``.

    Use it in ``dependencies=[Depends(requires("contacts:write"))]`` or as a typed parameter
    through an alias: ``Caller = Annotated[Principal, Depends(requires("contacts:read"))]``.
    No or a bad token → 401 with ``WWW-Authenticate: Bearer``; a missing scope → 403.
    """
    needed = frozenset(scopes)

    async def authenticate(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None:
            if request.headers.get("authorization"):
                raise Unauthorized("the Authorization header must be 'Bearer <token>'")
            raise Unauthorized("a bearer token is required")
        try:
            principal = await _verifier_of(request).verify_async(credentials.credentials)
        except InvalidTokenError as exc:
            raise Unauthorized(str(exc), error="invalid_token") from exc
        missing = sorted(needed - principal.scopes)
        if missing:
            raise Forbidden(
                f"the token lacks the scope {', '.join(missing)}",
                extra={"missing_scopes": missing},
                headers={
                    "WWW-Authenticate": (
                        f'Bearer error="insufficient_scope", scope="{" ".join(sorted(needed))}"'
                    )
                },
            )
        _check_roles(request, needed, principal)
        request.state.principal = principal
        # What the request changes is recorded as this caller's (envelope actor, audit trail).
        actor_context.set(Actor(app=principal.app[:200], employee_id=principal.employee_id))
        return principal

    authenticate.required_scopes = needed  # type: ignore[attr-defined]
    return authenticate


def _check_roles(request: Request, scopes: frozenset[str], principal: Principal) -> None:
    """403 unless the caller holds one of the roles ``crm_kit.access`` lists for the route."""
    service = getattr(request.app.state, "service_name", None) or next(
        (scope.split(":", 1)[0] for scope in sorted(scopes)), ""
    )
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    rule = access.rule_for(service, request.method, path) if path else None
    if rule is None:
        raise Forbidden(
            f"{request.method} {path} is not in the authorization table; nobody may call it",
            extra={"allowed_roles": []},
        )
    if principal.roles & rule.roles:
        return
    allowed = sorted(rule.roles)
    held = ", ".join(sorted(principal.roles)) or "none"
    raise Forbidden(
        f"{request.method} {path} needs one of the roles {', '.join(allowed)} (the token holds "
        f"{held})",
        extra={"allowed_roles": allowed, "held_roles": sorted(principal.roles)},
    )


def scopes_required_by(route: Any) -> frozenset[str] | None:
    """The scopes a FastAPI route's ``requires(...)`` dependencies ask for, all together.

    ``None`` when no dependency of the route authenticates (a public route); an empty set when
    it authenticates but needs no particular scope. Lets a test or an audit list every route's
    protection from the app itself rather than from a hand-kept table.
    """
    found: frozenset[str] | None = None
    pending = [getattr(route, "dependant", None)]
    while pending:
        dependant = pending.pop()
        if dependant is None:
            continue
        scopes = getattr(dependant.call, "required_scopes", None)
        if isinstance(scopes, frozenset):
            found = (found or frozenset()) | scopes
        pending.extend(dependant.dependencies)
    return found


def sign_token(
    private_key_pem: bytes | str,
    *,
    subject: str,
    scopes: Iterable[str],
    issuer: str,
    audience: str,
    ttl_s: int = 3600,
    now: datetime | None = None,
    extra_claims: Mapping[str, Any] | None = None,
    roles: Iterable[str] = (),
    employee_id: str | None = None,
) -> str:
    """An RS256 token for ``subject`` with ``scopes``, valid ``ttl_s`` seconds from ``now``.

    ``roles`` go where the provider puts realm roles (``realm_access.roles``); ``employee_id``
    names the employee of contacts the token's person is.
    """
    if ttl_s <= 0:
        raise ValueError("ttl_s must be positive")
    clashing = _RESERVED_CLAIMS.intersection(extra_claims or {})
    if clashing:
        raise ValueError(f"extra_claims may not set {sorted(clashing)}")
    issued_at = now or datetime.now(UTC)
    if issued_at.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    claims: dict[str, Any] = {**(extra_claims or {})}
    if roles:
        claims["realm_access"] = {"roles": sorted(set(roles))}
    if employee_id is not None:
        claims["employee_id"] = employee_id
    claims |= {
        "sub": subject,
        "scope": " ".join(sorted(set(scopes))),
        "iss": issuer,
        "aud": audience,
        "iat": issued_at,
        "exp": issued_at + timedelta(seconds=ttl_s),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, _load_private_key(private_key_pem), algorithm="RS256")


def _verifier_of(request: Request) -> TokenVerifier:
    verifier = getattr(request.app.state, "token_verifier", None)
    if not isinstance(verifier, TokenVerifier):
        raise AuthConfigurationError("app.state.token_verifier is not set to a TokenVerifier")
    return verifier


def _scopes_of(claims: Mapping[str, Any]) -> frozenset[str]:
    scope = claims.get("scope")
    listed = claims.get("scopes")
    if scope is not None and not isinstance(scope, str):
        raise InvalidTokenError("the token's scope claim must be a space-separated string")
    if listed is not None and not (
        isinstance(listed, list) and all(isinstance(item, str) for item in listed)
    ):
        raise InvalidTokenError("the token's scopes claim must be a list of strings")
    return frozenset((scope or "").split()) | frozenset(listed or ())


def _roles_of(claims: Mapping[str, Any]) -> frozenset[str]:
    access = claims.get("realm_access")
    roles = access.get("roles") if isinstance(access, Mapping) else None
    if not isinstance(roles, list):
        return frozenset()
    return frozenset(role for role in roles if isinstance(role, str))


def _as_bytes(pem: bytes | str) -> bytes:
    return pem.encode() if isinstance(pem, str) else pem


def _load_public_key(pem: bytes | str) -> RSAPublicKey:
    try:
        key = load_pem_public_key(_as_bytes(pem))
    except ValueError as exc:
        raise AuthConfigurationError("the public key is not a PEM public key") from exc
    if not isinstance(key, RSAPublicKey):
        raise AuthConfigurationError("the public key is not an RSA key (RS256 needs one)")
    return key


def _load_private_key(pem: bytes | str) -> RSAPrivateKey:
    try:
        key = load_pem_private_key(_as_bytes(pem), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError("the private key is not an unencrypted PEM private key") from exc
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("the private key is not an RSA key (RS256 needs one)")
    return key
