"""`make run` / `make up` / `make down` for the services, with stand-in service programs.

The real services listen on fixed ports (8001-8004); here each stand-in listens on a free port
of its own, and the stack's `up`/`down` are replaced by recorders, so what is checked is
crm-stack's own part: start, wait until ready, report, and stop exactly what it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from crm_stack import cli, keycloak, services, stack
from crm_stack.config import StackConfig
from crm_stack.proc import is_alive

pytestmark = pytest.mark.timeout(60)

# Listens on the port it is given (so it counts as ready), or exits at once with "exit".
FAKE_SERVICE = """#!{python}
import socket, sys, time
if sys.argv[1] == "exit":
    print("stand-in service refuses to start", flush=True)
    sys.exit(3)
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen()
time.sleep(120)
"""


@dataclass(frozen=True)
class StandIn(services.Service):
    program: Path = field(default=Path("/nonexistent"))
    refuse: bool = False

    @property
    def script(self) -> Path:
        return self.program

    def argv(self, cfg: StackConfig) -> list[str]:
        return [str(self.program), "exit" if self.refuse else str(self.port)]


@pytest.fixture
def stand_ins(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[StandIn, ...]:
    program = sandbox.script("crm-standin", FAKE_SERVICE)
    fakes = tuple(
        StandIn(name, sandbox.free_port(), http_ready=False, program=program)
        for name in ("contacts", "campaigns")
    )
    monkeypatch.setattr(services, "SERVICES", fakes)
    StackConfig.from_env().state_dir.mkdir(parents=True)
    return fakes


@pytest.fixture
def stack_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr(stack, "up", lambda *a, **k: calls.append("stack up"))
    monkeypatch.setattr(stack, "down", lambda *a, **k: calls.append("stack down"))
    return calls


@pytest.mark.parametrize("stack_was_running", [False, True])
def test_run_stops_on_ctrl_c_what_it_started(
    sandbox: Any,
    stand_ins: tuple[StandIn, ...],
    stack_calls: list[str],
    monkeypatch: pytest.MonkeyPatch,
    stack_was_running: bool,
) -> None:
    monkeypatch.setattr(stack, "is_running", lambda *a: stack_was_running)
    cfg = StackConfig.from_env()
    said: list[str] = []
    pids: dict[str, int | None] = {}

    def say(line: str) -> None:
        said.append(line)
        if line.startswith("running;"):
            pids.update({svc.name: services.service_pid(cfg, svc) for svc in stand_ins})
            os.kill(os.getpid(), signal.SIGINT)  # the user's Ctrl-C

    services.run(cfg, say=say)

    assert len(pids) == 2
    assert all(pid is not None for pid in pids.values())
    assert not any(is_alive(pid) for pid in pids.values() if pid is not None)
    assert sandbox.live_processes() == []
    assert not list(cfg.state_dir.glob("*.pid"))
    # the stack too, unless it was running before `run`
    assert stack_calls == (["stack up"] if stack_was_running else ["stack up", "stack down"])
    assert "running; press Ctrl-C to stop" in said
    assert {f"stopped {name} (pid {pid})" for name, pid in pids.items()} <= set(said)


def test_run_prints_the_provider_and_every_demo_user_with_password_and_roles(
    sandbox: Any,
    stand_ins: tuple[StandIn, ...],
    stack_calls: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stack, "is_running", lambda *a: True)
    cfg = StackConfig.from_env()
    said: list[str] = []

    def say(line: str) -> None:
        said.append(line)
        if line.startswith("running;"):
            os.kill(os.getpid(), signal.SIGINT)

    services.run(cfg, say=say)

    shown = "\n".join(said[: said.index("running; press Ctrl-C to stop")])
    assert f"keycloak   {cfg.keycloak_url}  issuer {cfg.oidc_issuer}" in shown
    people = keycloak.demo_people()
    assert len(people) == len(keycloak.demo_users()) > 0
    for person in people:
        line = next(x for x in said if x.split()[:1] == [person.username])
        assert person.password in line
        assert ", ".join(person.roles) in line
    assert "vdirektorov  dev-only-vdirektorov  data-protection, department-head" in shown
    assert "crm-backoffice / dev-only-crm-backoffice-secret" in shown
    assert not any(line.startswith("console") for line in said)  # none yet


def test_the_console_is_printed_first_once_there_is_one(
    sandbox: Any, stand_ins: tuple[StandIn, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    console = StandIn("console", 8000, program=Path("/nonexistent"))
    monkeypatch.setattr(services, "SERVICES", (console, *stand_ins))

    lines = services.summary(StackConfig.from_env())

    assert lines[0].startswith("console    http://127.0.0.1:8000")
    assert not any(line.startswith("console") for line in lines[1:])


def test_up_with_services_then_down_stops_exactly_them(
    sandbox: Any,
    stand_ins: tuple[StandIn, ...],
    stack_calls: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = StackConfig.from_env()
    foreign = subprocess.Popen(["sleep", "60"], executable="/bin/sleep")
    try:
        assert cli.main(["up", "--with-services"]) == 0
        pids = [services.service_pid(cfg, svc) for svc in stand_ins]
        assert None not in pids
        assert len(sandbox.live_processes()) == 2

        assert cli.main(["down", "--with-services"]) == 0
        assert sandbox.live_processes() == []
        assert foreign.poll() is None  # not ours: untouched
        assert stack_calls == ["stack up", "stack down"]
    finally:
        foreign.kill()
        foreign.wait()
    out = capsys.readouterr().out
    for svc, pid in zip(stand_ins, pids, strict=True):
        assert f"stopped {svc.name} (pid {pid})" in out


@pytest.mark.parametrize("stack_was_running", [False, True])
def test_a_service_that_dies_at_start_is_named_and_the_others_are_stopped(
    sandbox: Any,
    stand_ins: tuple[StandIn, ...],
    stack_calls: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    stack_was_running: bool,
) -> None:
    monkeypatch.setattr(stack, "is_running", lambda *a: stack_was_running)
    healthy, _ = stand_ins
    dying = StandIn(
        "campaigns", sandbox.free_port(), http_ready=False, program=healthy.program, refuse=True
    )
    monkeypatch.setattr(services, "SERVICES", (healthy, dying))
    assert cli.main(["up", "--with-services"]) == 1
    err = capsys.readouterr().err
    [line] = [x for x in err.splitlines() if x.startswith("crm-stack: error:")]
    assert "campaigns exited during start-up" in line
    assert "stand-in service refuses to start" in err  # the log's last lines
    assert sandbox.live_processes() == []
    assert not list(StackConfig.from_env().state_dir.glob("*.pid"))
    # the stack too, unless it was running before the command
    assert stack_calls == (["stack up"] if stack_was_running else ["stack up", "stack down"])
