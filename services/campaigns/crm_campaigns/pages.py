"""HTML rendering of the public pages and the report (Jinja2, autoescaped)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

_env = Environment(
    loader=PackageLoader("crm_campaigns", "templates"),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
)


def render(template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = _env.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def message(title: str, text: str, *, status_code: int = 200, error: bool = False) -> HTMLResponse:
    return render(
        "message.html",
        status_code=status_code,
        title=title,
        message=text,
        tone="error" if error else "notice",
    )
