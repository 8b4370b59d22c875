"""The public unsubscribe pages, in the person's language (Jinja2, autoescaped).

Each page carries a strict Content-Security-Policy: it loads nothing, runs no script, its one
inline stylesheet is allowed by its hash, and its form posts back to the service. The kit adds
``X-Frame-Options``, ``Referrer-Policy: no-referrer`` (the token is in the URL) and
``nosniff``.
"""

from __future__ import annotations

import functools

from crm_contracts.values import Channel, Language
from crm_kit.security_headers import csp_hash, page_csp
from fastapi.responses import HTMLResponse
from jinja2 import Environment

_CSS = (
    "body{font-family:system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2430}"
    "main{max-width:36rem;margin:0 auto;padding:1.25rem}"
    ".card{background:#fff;border-radius:12px;padding:1.25rem 1.5rem}"
    "h1{font-size:1.4rem;margin:0 0 .75rem}"
    "button{font:inherit;padding:.8rem 1.4rem;border-radius:8px;border:0;"
    "background:#1f4fa8;color:#fff;cursor:pointer}"
)
_PAGE = """<!doctype html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{ title }}</title>
<style>{{ css|safe }}</style>
</head>
<body><main><div class="card">
<h1>{{ title }}</h1>
<p>{{ text }}</p>
{% if button %}<form method="post" action="">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<input type="hidden" name="via" value="page">
<button type="submit">{{ button }}</button>
</form>{% endif %}
</div></main></body>
</html>
"""
_env = Environment(autoescape=True, auto_reload=False)

_CHANNELS = {
    Language.EN: {
        Channel.EMAIL: "by e-mail",
        Channel.MOBILE: "by SMS",
        Channel.PHONE: "by phone",
        Channel.PAGER: "by pager",
        Channel.FAX: "by fax",
    },
    Language.RU: {
        Channel.EMAIL: "по электронной почте",
        Channel.MOBILE: "по SMS",
        Channel.PHONE: "по телефону",
        Channel.PAGER: "на пейджер",
        Channel.FAX: "по факсу",
    },
}
_TEXTS = {
    Language.EN: {
        "confirm_title": "Unsubscribe",
        "confirm": "Stop receiving our messages {channel}?",
        "button": "Unsubscribe",
        "done_title": "You are unsubscribed",
        "done": "You will receive no more of our messages {channel}.",
        "invalid_title": "This link is not valid",
        "invalid": "We could not recognise this link. Please open it exactly as it was sent.",
    },
    Language.RU: {
        "confirm_title": "Отписка",
        "confirm": "Больше не получать наши сообщения {channel}?",
        "button": "Отписаться",
        "done_title": "Вы отписаны",
        "done": "Вы больше не будете получать наши сообщения {channel}.",
        "invalid_title": "Ссылка недействительна",
        "invalid": "Мы не узнали эту ссылку. Откройте её точно так, как она была прислана.",
    },
}


@functools.cache
def policy() -> str:
    return page_csp(style_hashes=[csp_hash(_CSS)])


def _render(
    language: Language, title: str, text: str, button: str | None, status_code: int
) -> HTMLResponse:
    html = _env.from_string(_PAGE).render(
        lang=language.value, title=title, text=text, button=button, css=_CSS
    )
    return HTMLResponse(
        html,
        status_code=status_code,
        headers={"Cache-Control": "no-store", "Content-Security-Policy": policy()},
    )


def confirm(language: Language, channel: Channel) -> HTMLResponse:
    t = _TEXTS[language]
    text = t["confirm"].format(channel=_CHANNELS[language][channel])
    return _render(language, t["confirm_title"], text, t["button"], 200)


def done(language: Language, channel: Channel) -> HTMLResponse:
    t = _TEXTS[language]
    text = t["done"].format(channel=_CHANNELS[language][channel])
    return _render(language, t["done_title"], text, None, 200)


def invalid(language: Language) -> HTMLResponse:
    t = _TEXTS[language]
    return _render(language, t["invalid_title"], t["invalid"], None, 404)
