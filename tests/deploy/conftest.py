"""Shared fixtures for the deployment checks: a pinned kustomize, built once into a cache.

No Docker engine and no cluster here, so the manifests are rendered with kustomize and checked
offline. kustomize comes from the Go module proxy (``go install``) into
``$CRM_STACK_CACHE/tools/kustomize-<version>/`` (default ``~/.cache/crm-stack``), outside git;
``CRM_KUSTOMIZE`` names a binary to use instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

KUSTOMIZE_VERSION = "v5.8.2"
"""The newest kustomize whose go.mod accepts this machine's Go 1.26 (v5.8.3 needs Go 1.27)."""
KUSTOMIZE_MODULE = "sigs.k8s.io/kustomize/kustomize/v5"

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")

Render = Callable[[Path], list[dict[str, Any]]]


def _cache_dir() -> Path:
    root = os.environ.get("CRM_STACK_CACHE") or Path.home() / ".cache" / "crm-stack"
    return Path(root) / "tools" / f"kustomize-{KUSTOMIZE_VERSION}"


def _build_kustomize(target: Path) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.fail(
            f"kustomize {KUSTOMIZE_VERSION} is not cached at {target} and `go` is not on PATH "
            "to build it (apt-get install golang, or set CRM_KUSTOMIZE to a kustomize binary)"
        )
    target.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "GOBIN": str(target),
        # Fail rather than fetch another Go toolchain: this version builds with Go 1.26.
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-buildvcs=false",
    }
    try:
        done = subprocess.run(
            [go, "install", f"{KUSTOMIZE_MODULE}@{KUSTOMIZE_VERSION}"],
            env=env,
            cwd=target,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"building kustomize {KUSTOMIZE_VERSION} took over 10 minutes")
    binary = target / "kustomize"
    if done.returncode != 0 or not binary.is_file():
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        pytest.fail(
            f"could not build kustomize {KUSTOMIZE_VERSION} with {go} "
            f"(exit {done.returncode}); needs the Go module proxy once:\n{tail}"
        )
    return binary


@pytest.fixture(scope="session")
def kustomize() -> Path:
    override = os.environ.get("CRM_KUSTOMIZE")
    if override:
        return Path(override)
    binary = _cache_dir() / "kustomize"
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    return _build_kustomize(_cache_dir())


@pytest.fixture(scope="session")
def render(kustomize: Path) -> Render:
    """``kustomize build`` a directory into its objects; a build error fails the test."""

    def build(directory: Path) -> list[dict[str, Any]]:
        done = subprocess.run(
            [str(kustomize), "build", str(directory)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"kustomize build {directory} failed:\n{done.stderr.strip()}")
        return [doc for doc in yaml.safe_load_all(done.stdout) if doc]

    return build


@pytest.fixture(scope="session")
def rendered(render: Render) -> dict[str, list[dict[str, Any]]]:
    """Every overlay, rendered once per test session."""
    return {overlay: render(K8S / "overlays" / overlay) for overlay in OVERLAYS}
