"""HTML rendering of the public pages and the report (Jinja2, autoescaped everywhere).

Each page carries a strict Content-Security-Policy: it loads nothing, runs no script, and its
one stylesheet (``templates/pages.css``, inlined) is allowed by its hash. Links to addresses
that were stored (an event's online address) are live only when they are http(s): anything
else (``javascript:``, ``data:``…) is shown as plain text, whatever was accepted when it was
saved. The kit adds ``X-Frame-Options``, ``Referrer-Policy`` and ``nosniff``.
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import urlsplit

import segno
from crm_kit.security_headers import csp_hash, page_csp
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from crm_campaigns.domain.participants import check_in_qr_text

WEB_SCHEMES = frozenset({"http", "https"})


def web_link(value: object) -> str | None:
    """``value`` when it is an absolute http(s) URL with a host, else None (not a link)."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in WEB_SCHEMES or not parts.hostname:
        return None
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return None
    return url


_env = Environment(
    loader=PackageLoader("crm_campaigns", "templates"),
    # Every .html template is escaped; the stylesheet (pages.css) is included as it is.
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
)
_env.filters["web_link"] = web_link


def check_in_qr(code: str | None) -> Markup | None:
    """The QR code of a check-in code as inline SVG (an element of the page, not a resource
    it loads, so the page's policy needs no ``img-src``). segno writes only the code's modules
    as a path: no text of ours is in it."""
    if not code:
        return None
    svg = segno.make(check_in_qr_text(code), micro=False).svg_inline(scale=5)
    return Markup(svg)  # noqa: S704 - made by segno from the modules alone, nothing to escape


@functools.cache
def policy() -> str:
    """The pages' policy: the stylesheet base.html inlines, allowed by the hash of exactly
    the text it renders to."""
    return page_csp(style_hashes=[csp_hash(_env.get_template("pages.css").render())])


def render(template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = _env.get_template(template).render(**context)
    return HTMLResponse(
        html,
        status_code=status_code,
        headers={"Cache-Control": "no-store", "Content-Security-Policy": policy()},
    )


def message(
    title: str,
    text: str,
    *,
    status_code: int = 200,
    error: bool = False,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    page = render(
        "message.html",
        status_code=status_code,
        title=title,
        message=text,
        tone="error" if error else "notice",
    )
    page.headers.update(headers or {})
    return page
