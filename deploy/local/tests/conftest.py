"""Fixtures for crm-stack's unit tests: an isolated state dir, cache, ports and fake tools."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# A stand-in for `java`: answers -version, the StorageTool calls, and runs a "broker" that never
# answers (or dies at once with FAKE_KAFKA=exit). Written in Python so its command line keeps
# the arguments (kafka.Kafka <server.properties>) that `down` checks.
FAKE_JAVA = """#!{python}
import os, sys, time
args = sys.argv[1:]
if "-version" in args:
    version = os.environ.get("FAKE_JAVA_VERSION", "17.0.15")
    sys.stderr.write('openjdk version "%s" 2025-04-15\\n' % version)
    sys.exit(0)
if "random-uuid" in args:
    print("q1Sh-9_ISia_zwGINzRvyQ")
    sys.exit(0)
if "format" in args:
    print("Formatting (fake)")
    sys.exit(0)
if "kafka.Kafka" in args:
    if os.environ.get("FAKE_KAFKA") == "exit":
        print("Exception in thread main: fake broker refuses to start", flush=True)
        sys.exit(1)
    time.sleep(120)
sys.exit(0)
"""

# `mvn` must not be reached in unit tests: fail loudly if it is.
FAKE_FAIL = """#!/bin/sh
echo "fake $0 must not run in unit tests" >&2
exit 99
"""

# A mongod stand-in that listens nowhere (so ping never answers) and keeps its arguments.
FAKE_MONGOD = """#!{python}
import time
time.sleep(120)
"""


# A Keycloak stand-in (its kc.sh) that listens nowhere and keeps its arguments.
FAKE_KC = """#!{python}
import time
time.sleep(120)
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_script(path: Path, text: str) -> Path:
    path.write_text(text.replace("{python}", sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@dataclass
class Sandbox:
    root: Path
    state: Path
    cache: Path
    bin: Path
    kafka_port: int
    controller_port: int
    mongo_port: int
    keycloak_port: int

    free_port = staticmethod(free_port)

    def script(self, name: str, text: str) -> Path:
        """An executable in the sandbox's ``bin`` (``{python}`` stands for this interpreter)."""
        return write_script(self.bin / name, text)

    def live_processes(self) -> list[int]:
        """Live processes whose command line mentions this sandbox (fakes a test started)."""
        return _leftovers(self.root)


def _fake_keycloak(box: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """The provider's archive counts as fetched and unpacks into a stand-in kc.sh; its Java
    is whatever the test's `java` is (the real search looks through /usr/lib/jvm)."""
    from crm_stack import keycloak
    from crm_stack.config import StackConfig

    def unpack(cfg: StackConfig, archive: Path) -> Path:
        home = keycloak.home(cfg)
        (home / "bin").mkdir(parents=True, exist_ok=True)
        write_script(home / "bin" / "kc.sh", FAKE_KC)
        return home

    monkeypatch.setattr(keycloak, "require_java_home", lambda: box.bin.parent)
    monkeypatch.setattr(keycloak, "archive_ready", lambda cfg: True)
    monkeypatch.setattr(keycloak, "ensure_archive", lambda cfg, say: box.root / "kc.tar.gz")
    monkeypatch.setattr(keycloak, "ensure_home", unpack)


def _leftovers(root: Path) -> list[int]:
    """Processes whose command line mentions ``root`` (fakes a test started)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        try:
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if str(root) in cmdline and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """Env pointing crm-stack at a private state dir, cache, free ports and fake java/mvn/mongod."""
    box = Sandbox(
        root=tmp_path,
        state=tmp_path / "state",
        cache=tmp_path / "cache",
        bin=tmp_path / "bin",
        kafka_port=free_port(),
        controller_port=free_port(),
        mongo_port=free_port(),
        keycloak_port=free_port(),
    )
    box.bin.mkdir()
    write_script(box.bin / "java", FAKE_JAVA)
    write_script(box.bin / "mvn", FAKE_FAIL)
    monkeypatch.setenv("CRM_STACK_MONGOD", str(write_script(box.bin / "mongod", FAKE_MONGOD)))
    monkeypatch.setenv("PATH", str(box.bin))
    monkeypatch.setenv("CRM_STACK_DIR", str(box.state))
    monkeypatch.setenv("CRM_STACK_CACHE", str(box.cache))
    monkeypatch.setenv("CRM_STACK_KAFKA_PORT", str(box.kafka_port))
    monkeypatch.setenv("CRM_STACK_CONTROLLER_PORT", str(box.controller_port))
    monkeypatch.setenv("CRM_STACK_MONGO_PORT", str(box.mongo_port))
    monkeypatch.setenv("CRM_STACK_KEYCLOAK_PORT", str(box.keycloak_port))
    monkeypatch.setenv("CRM_STACK_KEYCLOAK_TIMEOUT", "2")
    _fake_keycloak(box, monkeypatch)
    for var in ("CRM_STACK_KAFKA_TIMEOUT", "CRM_STACK_MONGO_TIMEOUT", "FAKE_KAFKA"):
        monkeypatch.delenv(var, raising=False)
    yield box
    for pid in _leftovers(tmp_path):  # safety net: never leave a fake behind
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
