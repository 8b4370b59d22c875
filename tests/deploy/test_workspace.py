"""The workspace: each package installs and runs alone from its own pyproject.

A service imports nothing its own dependency closure does not bring (so installing that one
package is enough), does not import another service, and starts from its own console script.
"""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("contacts", "campaigns", "proposals", "notify", "console")
PACKAGES = {
    "crm-contracts": REPO / "contracts" / "crm_contracts",
    "crm-kit": REPO / "services" / "kit" / "crm_kit",
    **{f"crm-{s}": REPO / "services" / s / f"crm_{s}" for s in SERVICES},
}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _name(requirement: str) -> str | None:
    """The distribution a requirement brings here, or None (an extra, another platform)."""
    req = Requirement(requirement)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        return None
    return _norm(req.name)


def _closure(dist: str) -> set[str]:
    """The distribution and everything it requires, transitively (extras left out)."""
    seen: set[str] = set()
    todo = [dist]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for req in metadata.requires(name) or []:
            dep = _name(req)
            if dep is not None:
                todo.append(dep)
    return seen


TEST_HELPERS = {"testing.py", "conformance.py"}
"""crm_kit.testing (pytest fixtures) and crm_kit.conformance (the OpenAPI response check):
imported by tests only (their libraries are dev dependencies)."""


def _imported_top_levels(package: Path) -> set[str]:
    names: set[str] = set()
    for source in package.rglob("*.py"):
        if source.name in TEST_HELPERS:
            continue
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("dist", sorted(PACKAGES))
def test_every_import_is_brought_by_the_packages_own_dependencies(dist: str) -> None:
    closure = _closure(dist)
    providers = dict(metadata.packages_distributions())
    # workspace members are editable installs, which packages_distributions() does not map
    providers.update({path.name: [name] for name, path in PACKAGES.items()})
    missing = {}
    for module in sorted(_imported_top_levels(PACKAGES[dist])):
        if module in sys.stdlib_module_names or module == PACKAGES[dist].name:
            continue
        owners = {_norm(d) for d in providers.get(module, [])}
        assert owners, f"{dist} imports {module}, which no installed distribution provides"
        if not owners & closure:
            missing[module] = sorted(owners)
    assert missing == {}, f"{dist} imports modules its pyproject does not bring: {missing}"


@pytest.mark.parametrize("dist", sorted(PACKAGES))
def test_no_runtime_module_imports_the_test_helpers(dist: str) -> None:
    for source in PACKAGES[dist].rglob("*.py"):
        if source.name not in TEST_HELPERS:
            assert "crm_kit.testing" not in source.read_text(encoding="utf-8"), source


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_no_other_service(service: str) -> None:
    others = {f"crm_{s}" for s in SERVICES if s != service}
    assert _imported_top_levels(PACKAGES[f"crm-{service}"]) & others == set()


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_its_own_pyproject_and_console_script(service: str) -> None:
    project = tomllib.loads((REPO / "services" / service / "pyproject.toml").read_text())
    assert project["project"]["name"] == f"crm-{service}"
    assert project["project"]["requires-python"] == ">=3.11"
    target = project["project"]["scripts"][f"crm-{service}"]
    [entry] = [
        e for e in metadata.entry_points(group="console_scripts") if e.name == f"crm-{service}"
    ]
    assert entry.value == target
    assert callable(entry.load())
    assert (Path(sys.executable).parent / f"crm-{service}").is_file()  # installed


def test_the_workspace_is_locked_for_python_3_11() -> None:
    root = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert root["project"]["requires-python"] == ">=3.11"
    assert root["tool"]["mypy"]["strict"] is True
    assert "lint" in root["tool"]["ruff"]
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    locked = {p["name"] for p in lock["package"]}
    assert set(PACKAGES) <= locked
