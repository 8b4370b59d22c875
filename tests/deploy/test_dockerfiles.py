"""deploy/Dockerfile, the one image recipe of the four services, checked as text with each
service's build arguments (no Docker engine here to build it)."""

from __future__ import annotations

import importlib
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from crm_kit.settings import ServiceSettings

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "Dockerfile"
SERVICES = {
    "contacts": 8001,
    "campaigns": 8002,
    "proposals": 8003,
    "notify": 8004,
    "console": 8000,
}
SETTINGS = {
    "contacts": "crm_contacts.app:ContactsSettings",
    "campaigns": "crm_campaigns.settings:CampaignsSettings",
    "proposals": "crm_proposals.settings:ProposalsSettings",
    "notify": "crm_notify.settings:NotifySettings",
    "console": "crm_console.settings:ConsoleSettings",
}
SUBSTITUTING = frozenset(
    {"ADD", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"}
)
"""The instructions in which the builder replaces a build argument (RUN's shell form gets it from
the shell); an exec-form CMD or HEALTHCHECK gets it from nobody."""


def written() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) as written, continuation lines joined and comments dropped."""
    logical = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in logical.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        keyword, _, rest = stripped.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def instructions(name: str) -> list[tuple[str, str]]:
    """The instructions as built with ``--build-arg SERVICE=<name> --build-arg PORT=<port>``: an
    argument is replaced only inside a stage that declares it (``ARG``), and only where the
    builder or the shell replaces it."""
    args = {"SERVICE": name, "PORT": str(SERVICES[name])}
    declared: set[str] = set()
    result = []
    for keyword, rest in written():
        if keyword == "FROM":
            declared = set()
        elif keyword == "ARG":
            declared.add(rest.partition("=")[0])
        shell_form = keyword == "RUN" and not rest.startswith("[")
        if keyword in SUBSTITUTING or shell_form:
            for arg in declared & set(args):
                rest = re.sub(rf"\$\{{{arg}\}}|\${arg}\b", args[arg], rest)
        result.append((keyword, rest))
    return result


def stages(name: str) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions(name):
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, rest))
    return result


def environment(stage: list[tuple[str, str]]) -> dict[str, str]:
    words = [word for keyword, rest in stage if keyword == "ENV" for word in shlex.split(rest)]
    return {key: value for key, _, value in (word.partition("=") for word in words)}


def workspace_members() -> list[Path]:
    root = tomllib.loads((REPO / "pyproject.toml").read_text())
    members = []
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        members += [p for p in sorted(REPO.glob(pattern)) if (p / "pyproject.toml").is_file()]
    return members


def test_one_dockerfile_serves_the_four_services() -> None:
    assert [p.relative_to(REPO) for p in sorted(REPO.glob("services/*/Dockerfile"))] == []
    assert ("ARG", "SERVICE") in written()
    assert ("ARG", "PORT") in written()


@pytest.mark.parametrize("name", SERVICES)
def test_the_image_is_multi_stage_and_installs_only_its_service_from_the_lock(name: str) -> None:
    assert len(stages(name)) >= 2
    runs = [rest for keyword, rest in instructions(name) if keyword == "RUN"]
    syncs = [r for r in runs if r.startswith("uv sync")]
    assert syncs, "no uv sync"
    for sync in syncs:
        words = shlex.split(sync)
        assert "--frozen" in words
        assert "--no-dev" in words
        assert words[words.index("--package") + 1] == f"crm-{name}"
    assert any(re.search(r"pip install .*\buv==", r) for r in runs), "uv is not pinned"


def started_script(name: str) -> str:
    """The console script the image's CMD starts, following the links the builder made in the
    virtual environment's bin folder (which the runtime stage copies whole)."""
    runtime = stages(name)[-1]
    assert ("COPY", "--from=builder /app/.venv /app/.venv") in runtime
    [cmd] = [rest for keyword, rest in runtime if keyword == "CMD"]
    [script] = json.loads(cmd)  # exec form: no shell in between
    links = {}
    for keyword, rest in stages(name)[0]:
        if keyword == "RUN" and rest.startswith("ln "):
            words = shlex.split(rest)
            assert words[:2] == ["ln", "-s"], rest
            assert len(words) == 4, rest
            target, link = words[2:]
            assert link.startswith("/app/.venv/bin/"), rest
            assert "/" not in target, rest
            links[link.removeprefix("/app/.venv/bin/")] = target
    while script in links:
        script = links.pop(script)
    return str(script)


@pytest.mark.parametrize("name", SERVICES)
def test_the_runtime_stage_runs_the_console_script_as_a_non_root_user(name: str) -> None:
    runtime = stages(name)[-1]
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users, "the runtime stage has no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert started_script(name) == f"crm-{name}"
    project = tomllib.loads((REPO / "services" / name / "pyproject.toml").read_text())
    assert project["project"]["scripts"][f"crm-{name}"] == f"crm_{name}.app:main"


class Healthz(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def answering(status: int) -> Iterator[int]:
    """A local server whose ``/healthz`` answers ``status`` (any other path 200); yields its
    port."""
    handler = type("Answering", (Healthz,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def health_check(command: list[str], port: int) -> int:
    """The exit status of the image's health check run here against ``127.0.0.1:<port>``."""
    env = {**os.environ, "CRM_HTTP_PORT": str(port)}
    python = [sys.executable] if command[0] == "python" else command[:1]
    return subprocess.run([*python, *command[1:]], env=env, timeout=30, check=False).returncode


@pytest.mark.parametrize("name", SERVICES)
def test_the_image_exposes_its_port_and_checks_healthz_with_python(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = stages(name)[-1]
    port = SERVICES[name]
    assert ("EXPOSE", str(port)) in runtime
    env = environment(runtime)
    assert env["CRM_HTTP_HOST"] == "0.0.0.0"
    assert env["CRM_HTTP_PORT"] == str(port)
    # The service listens where the image says: CRM_HTTP_PORT reaches its settings.
    monkeypatch.delenv(f"CRM_{name.upper()}_HTTP_PORT", raising=False)
    monkeypatch.setenv("CRM_HTTP_PORT", env["CRM_HTTP_PORT"])
    module, _, cls = SETTINGS[name].partition(":")
    settings = getattr(importlib.import_module(module), cls)
    assert issubclass(settings, ServiceSettings)
    assert settings.service_name == name
    assert settings().http_port == port

    [check] = [rest for keyword, rest in runtime if keyword == "HEALTHCHECK"]
    command = json.loads(check[check.index("CMD ") + 4 :])  # exec form: no shell in between
    assert command[:2] == ["python", "-c"]
    assert "urllib.request" in check
    assert "curl" not in check
    # Run here with CRM_HTTP_PORT naming a local server: it passes on a 200 from /healthz and
    # fails on a 503 from /healthz though every other path answers 200.
    with answering(200) as listening:
        assert health_check(command, listening) == 0
    with answering(503) as listening:
        assert health_check(command, listening) != 0


@pytest.mark.parametrize("name", SERVICES)
def test_every_copied_path_exists_and_every_workspace_member_is_declared(name: str) -> None:
    copies = [shlex.split(rest) for keyword, rest in instructions(name) if keyword == "COPY"]
    sources = [src for words in copies if not words[0].startswith("--from") for src in words[:-1]]
    assert f"services/{name}/crm_{name}" in sources
    for src in sources:
        assert (REPO / src).exists(), src
    # uv reads the whole workspace even for one package: each member's pyproject must be there.
    for member in workspace_members():
        assert str((member / "pyproject.toml").relative_to(REPO)) in sources, member


def test_the_dockerignore_keeps_secrets_state_and_caches_out_of_the_context() -> None:
    ignored = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for entry in ("**/.venv", "**/.git", ".stack", "**/__pycache__", "**/*.pem"):
        assert entry in ignored, entry
    # Nothing a Dockerfile copies may be ignored.
    assert "uv.lock" not in ignored
    assert "services" not in ignored
    assert "deploy" not in ignored
