"""Every response says nosniff; every HTML page gets a strict policy, no framing and no
referrer, unless it set its own policy; the API documents get one that lets them run."""

import re

import httpx
from crm_kit.app import ServiceSpec, create_app
from crm_kit.security_headers import STRICT_CSP, csp_hash, page_csp
from crm_kit.settings import ServiceSettings
from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, PlainTextResponse

router = APIRouter()
OWN_POLICY = page_csp(style_hashes=[csp_hash("body{}")])


@router.get("/page", response_class=HTMLResponse)
async def page() -> str:
    return "<p>hello</p>"


@router.get("/styled", response_class=HTMLResponse)
async def styled() -> HTMLResponse:
    return HTMLResponse("<style>body{}</style>", headers={"Content-Security-Policy": OWN_POLICY})


@router.get("/text")
async def text() -> PlainTextResponse:
    return PlainTextResponse("=1+1")


def _app() -> FastAPI:
    spec = ServiceSpec(name="headers", title="Headers", routers=[router])
    return create_app(spec, ServiceSettings(environment="test"))  # type: ignore[call-arg]


async def _get(path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path)


async def test_an_html_page_gets_the_strict_policy_and_no_framing_or_referrer() -> None:
    response = await _get("/page")
    assert response.headers["content-security-policy"] == STRICT_CSP
    assert "default-src 'none'" in STRICT_CSP
    assert "frame-ancestors 'none'" in STRICT_CSP
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_page_with_its_own_policy_keeps_it() -> None:
    response = await _get("/styled")
    assert response.headers.get_list("content-security-policy") == [OWN_POLICY]
    assert response.headers["x-frame-options"] == "DENY"


async def test_json_text_and_problem_answers_say_nosniff_and_carry_no_page_policy() -> None:
    for path, status in (("/text", 200), ("/healthz", 200), ("/nowhere", 404)):
        response = await _get(path)
        assert response.status_code == status
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "content-security-policy" not in response.headers


async def test_the_api_documents_allow_exactly_their_own_inline_scripts() -> None:
    for path in ("/docs", "/redoc"):
        response = await _get(path)
        assert response.status_code == 200
        assert int(response.headers["content-length"]) == len(response.content)
        policy = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy
        assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
        for script in re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL):
            assert csp_hash(script) in policy
