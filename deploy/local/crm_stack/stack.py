"""`up`, `down`, `status`: the stack as a whole (Kafka broker, mongod, the OIDC provider)."""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from crm_stack import kafka, keycloak, keys, mongod, security
from crm_stack.config import StackConfig, kafka_version
from crm_stack.errors import StackError
from crm_stack.prereqs import require_java, require_tool
from crm_stack.proc import (
    describe_busy_port,
    is_alive,
    owned_pid,
    port_is_free,
    read_pid_file,
    start_detached,
    stop_process,
    write_pid_file,
)

Say = Callable[[str], None]

STOP_TIMEOUT = 30.0


def _print(message: str) -> None:
    print(f"crm-stack: {message}", flush=True)


@contextlib.contextmanager
def _locked(cfg: StackConfig) -> Iterator[None]:
    """One `up`/`down` at a time per state dir."""
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    with cfg.lock_file.open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _print(f"waiting for another crm-stack using {cfg.state_dir}")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Component:
    name: str
    pid_file: Path
    expected_args: list[str]
    ports: dict[str, tuple[int, str]]  # label -> (port, env var that overrides it)
    log: Path

    def pid(self) -> int | None:
        return owned_pid(self.pid_file, self.expected_args)


def _kafka(cfg: StackConfig) -> Component:
    return Component(
        name="kafka",
        pid_file=cfg.kafka_pid_file,
        expected_args=kafka.expected_args(cfg),
        ports={
            "Kafka": (cfg.kafka_port, "CRM_STACK_KAFKA_PORT"),
            "Kafka controller": (cfg.controller_port, "CRM_STACK_CONTROLLER_PORT"),
        },
        log=cfg.kafka_log,
    )


def _mongod(cfg: StackConfig) -> Component:
    return Component(
        name="mongod",
        pid_file=cfg.mongo_pid_file,
        expected_args=mongod.expected_args(cfg),
        ports={"MongoDB": (cfg.mongo_port, "CRM_STACK_MONGO_PORT")},
        log=cfg.mongo_log,
    )


def _keycloak(cfg: StackConfig) -> Component:
    return Component(
        name="keycloak",
        pid_file=cfg.keycloak_pid_file,
        expected_args=keycloak.expected_args(cfg),
        ports={"Keycloak": (cfg.keycloak_port, "CRM_STACK_KEYCLOAK_PORT")},
        log=cfg.keycloak_log,
    )


def _drop_stale_pid_file(comp: Component, say: Say) -> None:
    record = read_pid_file(comp.pid_file)
    if comp.pid_file.exists():
        who = f"pid {record.pid}" if record else "unreadable"
        say(f"{comp.name}: removing stale pid file {comp.pid_file} ({who} is not ours; left alone)")
        comp.pid_file.unlink(missing_ok=True)


def _check_ports(comp: Component) -> None:
    for label, (port, var) in comp.ports.items():
        if not port_is_free(port):
            raise StackError(
                f"port {port} ({label}) is busy: {describe_busy_port(port)}; "
                f"stop it or choose another port with {var}=<port>"
            )


def _init_state(cfg: StackConfig) -> None:
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    cfg.marker_file.write_text("state dir of crm-stack (deploy/local); `crm-stack down --purge`\n")
    for folder in (cfg.logs_dir, cfg.kafka_dir, cfg.mongo_data_dir, cfg.keys_dir, cfg.keycloak_dir):
        folder.mkdir(parents=True, exist_ok=True)


def up(
    config: StackConfig | None = None,
    *,
    kafka_timeout: float | None = None,
    mongo_timeout: float | None = None,
    say: Say = _print,
) -> None:
    """Bring the stack up (fetching/building once) and wait until every part answers.

    Idempotent: parts already running are kept. Raises StackError on failure, after stopping
    whatever this call started.
    """
    cfg = config or StackConfig.from_env()
    k_timeout = kafka_timeout if kafka_timeout is not None else cfg.kafka_timeout
    m_timeout = mongo_timeout if mongo_timeout is not None else cfg.mongo_timeout
    started_at = time.monotonic()
    with _locked(cfg):
        _init_state(cfg)
        k, f, o = _kafka(cfg), _mongod(cfg), _keycloak(cfg)
        k_pid, f_pid, o_pid = k.pid(), f.pid(), o.pid()
        for comp, pid in ((k, k_pid), (f, f_pid), (o, o_pid)):
            if pid is None:
                _drop_stale_pid_file(comp, say)
        security.ensure_passwords(cfg)
        if k_pid is not None and not kafka.runs_current_config(cfg):
            # An older crm-stack started it (without authentication, say): restart it with
            # today's settings; its data dir is kept.
            say(f"kafka pid {k_pid} runs an older configuration; restarting it")
            stop_process(k_pid, timeout=STOP_TIMEOUT)
            k.pid_file.unlink(missing_ok=True)
            k_pid = None

        if (
            k_pid is not None
            and f_pid is not None
            and o_pid is not None
            and kafka.is_ready(cfg)
            and mongod.is_ready(cfg)
            and keycloak.is_ready(cfg)
        ):
            security.apply(cfg, require_java(), kafka.ensure_jars(cfg, say), say)
            kafka.ensure_topics(cfg)
            keys.ensure_dev_keys(cfg)
            say(
                f"already running and healthy: kafka pid {k_pid} on {cfg.kafka_bootstrap}, "
                f"mongod pid {f_pid} on {cfg.mongo_uri}, keycloak pid {o_pid} on {cfg.keycloak_url}"
            )
            return

        # 1. prerequisites, before anything is fetched or started
        java = require_java() if k_pid is None else ""
        if k_pid is None and not kafka.jars_ready(cfg):
            require_tool("mvn")
        binary = mongod.binary_path() if f_pid is None else None
        java_home = keycloak.require_java_home() if o_pid is None else None
        if o_pid is None and not keycloak.archive_ready(cfg):
            require_tool("mvn")
        for comp, pid in ((k, k_pid), (f, f_pid), (o, o_pid)):
            if pid is None:
                _check_ports(comp)

        # 2. fetch / build once
        libs = kafka.ensure_jars(cfg, say) if k_pid is None else None
        kc_home = (
            keycloak.ensure_home(cfg, keycloak.ensure_archive(cfg, say)) if o_pid is None else None
        )

        started: list[Component] = []
        try:
            # 3. start (mongod first: it is ready in about a second)
            if binary is not None:
                _check_ports(f)
                proc = start_detached(mongod.command(cfg, binary), cfg.mongo_log, cwd=cfg.state_dir)
                write_pid_file(f.pid_file, proc.pid)
                started.append(f)
                f_pid = proc.pid
                say(f"mongod started (pid {proc.pid}), log {cfg.mongo_log}")
            if libs is not None:
                kafka.write_server_properties(cfg)
                kafka.ensure_formatted(cfg, java, libs, say)
                _check_ports(k)
                proc = start_detached(
                    kafka.broker_command(cfg, java, libs), cfg.kafka_console_log, cwd=cfg.state_dir
                )
                write_pid_file(k.pid_file, proc.pid)
                started.append(k)
                k_pid = proc.pid
                say(f"kafka {kafka_version()} started (pid {proc.pid}), log {cfg.kafka_log}")
            if kc_home is not None and java_home is not None:
                # Started before the waits: it takes the longest, and starts while they run.
                keycloak.prepare_realm(cfg, kc_home, say)
                _check_ports(o)
                proc = start_detached(
                    keycloak.command(cfg, kc_home),
                    cfg.keycloak_log,
                    cwd=cfg.keycloak_dir,
                    env=keycloak.environment(cfg, java_home),
                )
                write_pid_file(o.pid_file, proc.pid)
                started.append(o)
                o_pid = proc.pid
                say(f"keycloak {keycloak.VERSION} started (pid {proc.pid}), log {cfg.keycloak_log}")

            # 4. wait until every part answers
            assert f_pid is not None
            assert k_pid is not None
            assert o_pid is not None
            fp, kp, op = f_pid, k_pid, o_pid
            done = mongod.wait_ready(cfg, m_timeout, lambda: is_alive(fp))
            if done:
                say(done)
            say(f"mongod ready (primary) on {cfg.mongo_uri}")
            if libs is not None:
                # Users and ACLs first: on a data dir an older crm-stack formatted, the admin
                # has no SCRAM credential until now (the tool goes through the controller).
                security.apply(cfg, java, libs, say)
            kafka.wait_ready(cfg, k_timeout, lambda: is_alive(kp))
            kafka.wait_group_coordinator(cfg, k_timeout)
            say(f"kafka ready on {cfg.kafka_bootstrap} (group coordinator loaded)")
            keycloak.wait_ready(cfg, cfg.keycloak_timeout, lambda: is_alive(op))
            say(f"keycloak ready on {cfg.keycloak_url}, issuer {cfg.oidc_issuer}")
            users = keycloak.demo_users()
            say(
                f"keycloak: {len(users)} demo employees sign in with the password "
                f"dev-only-<username>: {', '.join(users)}; the provider's own console "
                f"{cfg.keycloak_url}/admin is user admin, password in "
                f"{cfg.keycloak_dir / 'admin-password'}"
            )

            # 5. users and ACLs (if the broker was running already), topics and keys
            if libs is None:
                security.apply(cfg, require_java(), kafka.ensure_jars(cfg, say), say)
            counts = kafka.ensure_topics(cfg)
            say("topics: " + ", ".join(f"{t} ({n} partitions)" for t, n in counts.items()))
        except BaseException:
            for comp in reversed(started):
                pid = comp.pid()
                if pid is not None:
                    stop_process(pid, timeout=10.0)
                comp.pid_file.unlink(missing_ok=True)
            if started:
                say("stopped what this `up` had started: " + ", ".join(c.name for c in started))
            raise
        if keys.ensure_dev_keys(cfg):
            say(f"development JWT key pair written to {cfg.keys_dir}")
        elapsed = time.monotonic() - started_at
        say(f"stack up in {elapsed:.1f} s; `crm-stack env` prints the settings")


def down(config: StackConfig | None = None, *, purge: bool = False, say: Say = _print) -> None:
    """Stop exactly the processes `up` started (pid files checked against /proc) and wait.

    With ``purge`` the state dir (data, logs, keys) is deleted too.
    """
    cfg = config or StackConfig.from_env()
    if not cfg.state_dir.exists():
        say(f"nothing to stop: {cfg.state_dir} does not exist")
        return
    with _locked(cfg):
        for comp in (_keycloak(cfg), _kafka(cfg), _mongod(cfg)):
            pid = comp.pid()
            if pid is None:
                if comp.pid_file.exists():
                    _drop_stale_pid_file(comp, say)
                else:
                    say(f"{comp.name}: not running")
                continue
            say(f"{comp.name}: stopping pid {pid}")
            clean = stop_process(pid, timeout=STOP_TIMEOUT)
            comp.pid_file.unlink(missing_ok=True)
            say(
                f"{comp.name}: stopped" + ("" if clean else f" (killed after {STOP_TIMEOUT:.0f} s)")
            )
        if purge:
            _purge(cfg, say)


def _purge(cfg: StackConfig, say: Say) -> None:
    if not cfg.marker_file.exists():
        raise StackError(
            f"not purging {cfg.state_dir}: it has no {cfg.marker_file.name} file, so it may not "
            "be crm-stack's"
        )
    for entry in cfg.state_dir.iterdir():
        if entry == cfg.lock_file:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    say(f"purged {cfg.state_dir}")


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    endpoint: str
    ready: bool

    @property
    def ok(self) -> bool:
        return self.pid is not None and self.ready

    def line(self) -> str:
        if self.pid is None:
            return f"{self.name:<9} stopped  {self.endpoint}"
        state = "ready" if self.ready else "NOT READY"
        return f"{self.name:<9} running  pid {self.pid:<8} {self.endpoint}  {state}"


def status(config: StackConfig | None = None) -> list[ComponentStatus]:
    cfg = config or StackConfig.from_env()
    k_pid = _kafka(cfg).pid()
    f_pid = _mongod(cfg).pid()
    o_pid = _keycloak(cfg).pid()
    return [
        ComponentStatus(
            "kafka",
            k_pid,
            f"{cfg.kafka_bootstrap} (controller {cfg.controller_port})",
            k_pid is not None and kafka.is_ready(cfg),
        ),
        ComponentStatus(
            "mongod",
            f_pid,
            cfg.mongo_uri,
            f_pid is not None and mongod.is_ready(cfg),
        ),
        ComponentStatus(
            "keycloak",
            o_pid,
            f"{cfg.keycloak_url} (issuer {cfg.oidc_issuer})",
            o_pid is not None and keycloak.is_ready(cfg),
        ),
    ]


def broker_pid(config: StackConfig | None = None) -> int | None:
    """The pid of the Kafka broker this stack started, if it runs (fault-injection tests)."""
    return _kafka(config or StackConfig.from_env()).pid()


def is_running(config: StackConfig | None = None) -> bool:
    """True if every part runs (pid files ours) and answers."""
    return all(s.ok for s in status(config))


def store_pid(config: StackConfig | None = None) -> int | None:
    """The pid of the mongod this stack started, if it runs (fault-injection tests, benches)."""
    return _mongod(config or StackConfig.from_env()).pid()
