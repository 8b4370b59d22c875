"""The four services and the staff console as local processes next to the stack: start,
wait, stop, run in front.

Each service runs from its own console script (`crm-contacts`, …) in this environment, with the
stack's endpoints in its environment, a pid file and a log in the state dir, exactly like the
stack's own parts. ``run`` keeps them in the foreground until Ctrl-C and then stops everything
it started.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from crm_stack import keycloak, security, stack
from crm_stack.config import HOST, StackConfig
from crm_stack.errors import StackError
from crm_stack.proc import (
    describe_busy_port,
    owned_pid,
    port_answers,
    port_is_free,
    start_detached,
    stop_process,
    tail_lines,
    write_pid_file,
)

Say = Callable[[str], None]


@dataclass(frozen=True)
class Service:
    name: str
    port: int
    script_name: str = ""
    http_ready: bool = True
    """Ready when /readyz answers 200; otherwise when the port accepts connections."""
    kafka_user: bool = True
    """Connects to the broker as its own Kafka user (the console talks to no broker)."""

    @property
    def script(self) -> Path:
        return Path(sys.executable).parent / (self.script_name or f"crm-{self.name}")

    def argv(self, cfg: StackConfig) -> list[str]:
        if self.name == "mail":
            return [
                str(self.script),
                "--smtp-port",
                str(self.port),
                "--http-port",
                str(GATEWAY_PORT),
                "--maildir",
                str(cfg.state_dir / "mail"),
                "--gateway-log",
                str(cfg.state_dir / "gateway.jsonl"),
            ]
        return [str(self.script)]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


GATEWAY_PORT = 8025
CONSOLE = "console"
"""The staff console's service name: once it is one of :data:`SERVICES`, `make run` prints its
address first (the realm's console client expects http://127.0.0.1:8000)."""

SERVICES: tuple[Service, ...] = (
    # The mail catcher and SMS/pager gateway sink notify delivers to on the local stack:
    # messages land in <state>/mail (a Maildir) and <state>/gateway.jsonl.
    Service("mail", 1025, script_name="crm-notify-devservers", http_ready=False),
    Service("contacts", 8001),
    Service("campaigns", 8002),
    Service("proposals", 8003),
    Service("notify", 8004),
    # The staff console: people sign in at the stack's provider (its crm-console client sends
    # them back to 127.0.0.1:8000) and it calls the four services above.
    Service("console", 8000, kafka_user=False),
)
READY_TIMEOUT = 60.0


def _pid_file(cfg: StackConfig, svc: Service) -> Path:
    return cfg.state_dir / f"{svc.name}.pid"


def _log(cfg: StackConfig, svc: Service) -> Path:
    return cfg.logs_dir / f"{svc.name}.log"


def service_pid(cfg: StackConfig, svc: Service) -> int | None:
    return owned_pid(_pid_file(cfg, svc), [str(svc.script)])


def _ready(svc: Service) -> bool:
    if not svc.http_ready:
        return port_answers(svc.port)
    try:
        with urllib.request.urlopen(f"{svc.url}/readyz", timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _environment(cfg: StackConfig, svc: Service) -> dict[str, str]:
    # Each service connects as its own Kafka user: the admin's and the operator's credentials
    # (exported by `crm-stack env` into the developer's shell) are not handed down.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CRM_KAFKA_", "CRM_OPS_KAFKA_"))
        and not (k.startswith("CRM_") and "_KAFKA_" in k)
    }
    env.update(cfg.client_env())
    if svc.http_ready and svc.kafka_user:
        env.update(security.service_env(cfg, svc.name))
    env.setdefault("CRM_ENVIRONMENT", "development")
    if svc.http_ready:
        env[f"CRM_{svc.name.upper()}_HTTP_PORT"] = str(svc.port)
    return env


def up(cfg: StackConfig, say: Say = print, timeout: float = READY_TIMEOUT) -> list[Service]:
    """Start every service not already running; wait until each answers /readyz."""
    started: list[Service] = []
    try:
        for svc in SERVICES:
            if service_pid(cfg, svc) is not None:
                continue
            if not svc.script.exists():
                raise StackError(f"{svc.script} is missing: run `make install` first")
            if not port_is_free(svc.port):
                raise StackError(
                    f"port {svc.port} ({svc.name}) is busy: {describe_busy_port(svc.port)}"
                )
            proc = start_detached(
                svc.argv(cfg), _log(cfg, svc), cwd=cfg.state_dir, env=_environment(cfg, svc)
            )
            write_pid_file(_pid_file(cfg, svc), proc.pid)
            started.append(svc)
        deadline = time.monotonic() + timeout
        for svc in SERVICES:
            while not _ready(svc):
                if service_pid(cfg, svc) is None:
                    raise StackError(
                        f"{svc.name} exited during start-up; see {_log(cfg, svc)}",
                        tail_lines(_log(cfg, svc), 15),
                    )
                if time.monotonic() > deadline:
                    raise StackError(
                        f"{svc.name} did not become ready within {timeout:.0f}s; "
                        f"see {_log(cfg, svc)}",
                        tail_lines(_log(cfg, svc), 15),
                    )
                time.sleep(0.3)
    except BaseException:
        _stop(cfg, started, say)
        raise
    for line in summary(cfg):
        say(line)
    return started


def summary(cfg: StackConfig) -> list[str]:
    """Where everything is, for a person: the console (once there is one), each service's API
    documents, the mail catcher, the OpenID Connect provider and the demo users."""
    lines = [
        f"{svc.name:<10} {svc.url}   (sign in as a demo user below)"
        for svc in SERVICES
        if svc.name == CONSOLE
    ]
    lines += [
        f"{svc.name:<10} {svc.url}/docs   (events: {svc.url}/asyncapi)"
        for svc in SERVICES
        if svc.http_ready and svc.name != CONSOLE
    ]
    lines.append(
        f"mail       sent messages in {cfg.state_dir / 'mail'}, SMS/pager in "
        f"{cfg.state_dir / 'gateway.jsonl'}"
    )
    return lines + keycloak.sign_in_lines(cfg)


def _stop(cfg: StackConfig, services: Sequence[Service], say: Say) -> None:
    for svc in services:
        pid = service_pid(cfg, svc)
        if pid is not None:
            stop_process(pid, timeout=15.0)
            say(f"stopped {svc.name} (pid {pid})")
        _pid_file(cfg, svc).unlink(missing_ok=True)


def down(cfg: StackConfig, say: Say = print) -> None:
    _stop(cfg, SERVICES, say)


def status_lines(cfg: StackConfig) -> tuple[list[str], bool]:
    lines: list[str] = []
    ok = True
    for svc in SERVICES:
        pid = service_pid(cfg, svc)
        if pid is None:
            lines.append(f"{svc.name:<9} stopped  {svc.url}")
            ok = False
            continue
        ready = _ready(svc)
        ok = ok and ready
        lines.append(
            f"{svc.name:<9} running  pid {pid:<8} {svc.url}  {'ready' if ready else 'NOT READY'}"
        )
    return lines, ok


def up_with_stack(
    cfg: StackConfig,
    say: Say = print,
    *,
    kafka_timeout: float | None = None,
    mongo_timeout: float | None = None,
) -> list[Service]:
    """`up --with-services`: the stack, then the services. If a service does not start, the
    services this call started are stopped (by :func:`up`) and so is the stack, unless it was
    running before: a failed command leaves nothing of its own behind."""
    stack_was_running = stack.is_running(cfg)
    stack.up(cfg, kafka_timeout=kafka_timeout, mongo_timeout=mongo_timeout)
    try:
        return up(cfg, say)
    except BaseException:
        if not stack_was_running:
            say("stopping the stack this command started")
            stack.down(cfg)
        raise


def run(cfg: StackConfig, say: Say = print) -> None:
    """`make run`: stack and services in the foreground; Ctrl-C stops what this started."""
    stack_was_running = stack.is_running(cfg)
    stack.up(cfg)
    started: list[Service] = []
    stopping = False

    def _interrupt(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    # Both handled explicitly: a shell may start a background job with SIGINT ignored.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        started = up(cfg, say)
        say("running; press Ctrl-C to stop")
        while not stopping:
            for svc in started:
                if service_pid(cfg, svc) is None:
                    raise StackError(
                        f"{svc.name} stopped unexpectedly; see {_log(cfg, svc)}",
                        tail_lines(_log(cfg, svc), 15),
                    )
            time.sleep(0.5)
    finally:
        say("stopping…")
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop(cfg, started, say)
        if not stack_was_running:
            stack.down(cfg)
