"""Security headers on every response of every service.

Every response says ``X-Content-Type-Options: nosniff``, so a browser never runs a JSON body
or a CSV export as a script or a page. Every HTML response also carries a strict
Content-Security-Policy, ``X-Frame-Options: DENY`` and ``Referrer-Policy: no-referrer`` (the
public pages hold a signed token in their URL, which must not leak to another site).

A page that needs more than nothing (the campaigns pages' inline stylesheet, by its hash) sets
its own ``Content-Security-Policy`` and the middleware leaves it alone. FastAPI's own API
documents (``/docs``, ``/redoc``) load their scripts from a CDN and start them with an inline
script: they get a policy that names that CDN and the hash of exactly the inline scripts
FastAPI wrote, and ``'unsafe-inline'`` for styles only (Redoc injects ``<style>`` elements at
run time; a style cannot run code). They hold no stored data, only the service's schema.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

STRICT_CSP: Final = (
    "default-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""The policy of an HTML response that declared none: it may load and run nothing."""

_CDN = "https://cdn.jsdelivr.net"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)

_HTML_HEADERS: Final = (
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)


def csp_hash(source: str | bytes) -> str:
    """The CSP source expression allowing exactly this inline script or stylesheet."""
    raw = source.encode() if isinstance(source, str) else source
    return f"'sha256-{base64.b64encode(hashlib.sha256(raw).digest()).decode()}'"


def page_csp(*, style_hashes: Iterable[str] = (), images: str | None = None) -> str:
    """A strict policy for a server-rendered page: nothing but its own inline stylesheets
    (by hash), forms posted back to the service, never framed."""
    parts = ["default-src 'none'"]
    hashes = " ".join(style_hashes)
    if hashes:
        parts.append(f"style-src {hashes}")
    if images:
        parts.append(f"img-src {images}")
    parts += ["form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"]
    return "; ".join(parts)


def docs_csp(body: bytes) -> str:
    """The policy of FastAPI's Swagger UI or Redoc page (``body``): scripts from the CDN and
    the page's own inline scripts, by hash."""
    scripts = " ".join(csp_hash(m.group(1)) for m in _INLINE_SCRIPT.finditer(body))
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {_CDN} {scripts}".strip(),
            f"style-src {_CDN} https://fonts.googleapis.com 'unsafe-inline'",
            "font-src https://fonts.gstatic.com",
            "img-src 'self' https://fastapi.tiangolo.com data:",
            "connect-src 'self'",
            "worker-src blob:",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )


class SecurityHeaders:
    """ASGI middleware adding the headers above; ``docs_paths`` are the API documents."""

    def __init__(self, app: ASGIApp, *, docs_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.docs_paths = frozenset(p for p in docs_paths if p)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in self.docs_paths:
            await self._docs(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = secured(list(message.get("headers", [])), csp=STRICT_CSP)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _docs(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hold the (small) documentation page until its body is known, to hash its scripts."""
        start: Message | None = None
        body = bytearray()

        async def hold(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
                if message.get("more_body", False):
                    return
                assert start is not None
                headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
                headers.append((b"content-length", str(len(body)).encode()))
                start["headers"] = secured(headers, csp=docs_csp(bytes(body)))
                await send(start)
                await send({"type": "http.response.body", "body": bytes(body)})
                return
            await send(message)

        await self.app(scope, receive, hold)


def secured(headers: list[tuple[bytes, bytes]], *, csp: str) -> list[tuple[bytes, bytes]]:
    """``headers`` with nosniff, and for HTML the policy (unless the page set its own),
    frame and referrer headers."""
    names = {k.lower() for k, _ in headers}
    if b"x-content-type-options" not in names:
        headers.append((b"x-content-type-options", b"nosniff"))
    content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
    if content_type.lower().startswith(b"text/html"):
        if b"content-security-policy" not in names:
            headers.append((b"content-security-policy", csp.encode()))
        headers.extend((k, v) for k, v in _HTML_HEADERS if k not in names)
    return headers
