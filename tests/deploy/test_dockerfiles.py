"""services/<name>/Dockerfile, checked as text (no Docker engine here to build them)."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICES = {"contacts": 8001, "campaigns": 8002, "proposals": 8003, "notify": 8004}


def instructions(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = (REPO / "services" / name / "Dockerfile").read_text()
    logical = re.sub(r"\\\n", " ", text)
    result = []
    for line in logical.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        keyword, _, rest = stripped.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def stages(name: str) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions(name):
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, rest))
    return result


def workspace_members() -> list[Path]:
    root = tomllib.loads((REPO / "pyproject.toml").read_text())
    members = []
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        members += [p for p in sorted(REPO.glob(pattern)) if (p / "pyproject.toml").is_file()]
    return members


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


@pytest.mark.parametrize("name", SERVICES)
def test_the_runtime_stage_runs_the_console_script_as_a_non_root_user(name: str) -> None:
    runtime = stages(name)[-1]
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users, "the runtime stage has no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    [cmd] = [rest for keyword, rest in runtime if keyword == "CMD"]
    assert json.loads(cmd) == [f"crm-{name}"]
    project = tomllib.loads((REPO / "services" / name / "pyproject.toml").read_text())
    assert project["project"]["scripts"][f"crm-{name}"] == f"crm_{name}.app:main"


@pytest.mark.parametrize("name", SERVICES)
def test_the_image_exposes_its_port_and_checks_healthz_with_python(name: str) -> None:
    runtime = stages(name)[-1]
    port = SERVICES[name]
    assert ("EXPOSE", str(port)) in runtime
    [check] = [rest for keyword, rest in runtime if keyword == "HEALTHCHECK"]
    command = json.loads(check[check.index("CMD ") + 4 :])  # exec form: no shell in between
    assert command[:2] == ["python", "-c"]
    assert "urllib.request" in check
    assert f"http://127.0.0.1:{port}/healthz" in check
    assert "curl" not in check
    env = " ".join(rest for keyword, rest in runtime if keyword == "ENV")
    assert "CRM_HTTP_HOST=0.0.0.0" in env


@pytest.mark.parametrize("name", SERVICES)
def test_every_copied_path_exists_and_every_workspace_member_is_declared(name: str) -> None:
    copies = [shlex.split(rest) for keyword, rest in instructions(name) if keyword == "COPY"]
    sources = [src for words in copies if not words[0].startswith("--from") for src in words[:-1]]
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
