"""The pages' rendering without I/O: only http(s) addresses become links, every page carries
the policy that allows exactly its stylesheet, and the anonymous link's bound."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from crm_campaigns import pages
from crm_campaigns.domain.questionnaires import anonymous_answers_bound
from crm_kit.security_headers import csp_hash


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        " JaVaScRiPt:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox(1)",
        "//evil.example/x",
        "http:///no-host",
        "https://a b.example/",
        "ftp://files.example/",
        "",
    ],
)
def test_anything_but_an_http_address_is_no_link(url: str) -> None:
    assert pages.web_link(url) is None


@pytest.mark.parametrize("url", ["https://meet.example/r/1?x=2", "HTTP://Meet.example"])
def test_an_http_address_is_a_link(url: str) -> None:
    assert pages.web_link(url) == url


def _invitation(online_url: str) -> str:
    event = SimpleNamespace(
        title="Pumps",
        topic=None,
        place=SimpleNamespace(venue="Hall", address=None, online_url=online_url),
    )
    participant = SimpleNamespace(name="Olga", check_in_code=None, answer=None)
    page = pages.render(
        "invitation.html", title="Pumps", event=event, participant=participant, when="today"
    )
    return bytes(page.body).decode()


def test_a_script_address_is_shown_as_text_and_a_web_address_as_a_link() -> None:
    hostile = _invitation('javascript:alert("x")')
    assert "<a " not in hostile
    assert "javascript:alert(&#34;x&#34;)" in hostile
    safe = _invitation("https://meet.example/r?a=1&b=2")
    assert '<a href="https://meet.example/r?a=1&amp;b=2" rel="noopener noreferrer">' in safe


def test_every_page_allows_exactly_its_inline_stylesheet_and_nothing_else() -> None:
    page = pages.message("Hello <b>", "A <script>alert(1)</script> text")
    html = bytes(page.body).decode()
    policy = page.headers["content-security-policy"]
    (stylesheet,) = re.findall(r"<style>(.*?)</style>", html, re.DOTALL)
    assert policy == (
        f"default-src 'none'; style-src {csp_hash(stylesheet)}; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Hello &lt;b&gt;" in html


@pytest.mark.parametrize(
    ("capacity", "bound"), [(50, 100), (None, 1000), (0, 1000), (10_000, 1000)]
)
def test_the_anonymous_link_takes_a_few_answers_per_seat_within_the_service_bound(
    capacity: int | None, bound: int
) -> None:
    assert anonymous_answers_bound(capacity, per_seat=2, most=1000) == bound
