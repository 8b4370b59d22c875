"""crm-stack's behaviour without a real stack: prerequisites, ports, pid files, properties."""

from __future__ import annotations

import itertools
import json
import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crm_stack import cli, kafka, keycloak, mongod, security
from crm_stack.config import StackConfig, kafka_version
from crm_stack.keys import DEV_MARKER
from crm_stack.prereqs import parse_java_major
from crm_stack.proc import group_members, proc_stat, write_pid_file

pytestmark = pytest.mark.timeout(60)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("crm-stack: error:")]


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A process that is not crm-stack's (and must survive `down`)."""
    proc = subprocess.Popen(["sleep", "60"], executable="/bin/sleep")
    yield proc
    proc.kill()
    proc.wait()


def _prepare_cache(box: Any) -> StackConfig:
    """Pretend the jars were fetched (so `up` goes on to start things)."""
    cfg = StackConfig.from_env()
    libs = kafka.libs_dir(cfg)
    libs.mkdir(parents=True)
    (libs / f"kafka_2.13-{kafka_version()}.jar").write_bytes(b"")
    kafka.complete_marker(cfg).write_text(kafka.pom_digest() + "\n")
    return cfg


# --- prerequisites ------------------------------------------------------------------------


def test_missing_java_gives_one_clear_line(
    sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (sandbox.bin / "java").unlink()
    code, _, err = run_cli(capsys, "up")
    assert code != 0
    [line] = error_lines(err)
    assert "`java` is not on PATH" in line
    assert "openjdk-17-jre-headless" in line
    assert "Traceback" not in err
    assert sandbox.live_processes() == []


def test_missing_java_via_console_entry_has_no_traceback(sandbox: Any) -> None:
    (sandbox.bin / "java").unlink()
    proc = subprocess.run(
        [sys.executable, "-m", "crm_stack", "up"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=dict(os.environ),
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "crm-stack: error: `java` is not on PATH (it runs the Kafka broker); "
        "install it: apt-get install -y openjdk-17-jre-headless"
    ]


def test_missing_maven_is_named_when_the_jars_are_needed(
    sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (sandbox.bin / "mvn").unlink()
    code, _, err = run_cli(capsys, "up")
    assert code == 1
    [line] = error_lines(err)
    assert "`mvn` is not on PATH" in line
    assert "apt-get install -y maven" in line


def test_a_mongod_override_that_is_not_a_program_is_named(
    sandbox: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_STACK_MONGOD", str(sandbox.root / "no-such-mongod"))
    code, _, err = run_cli(capsys, "up")
    assert code == 1
    [line] = error_lines(err)
    assert "CRM_STACK_MONGOD=" in line
    assert "is not an executable file" in line
    assert sandbox.live_processes() == []


def test_without_an_override_mongod_comes_from_the_locked_wheel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CRM_STACK_MONGOD", raising=False)
    binary = mongod.binary_path()
    assert binary.name == "mongod"
    assert "fiftyone" in binary.parts
    version = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=True
    )
    assert "db version v6.0.5" in version.stdout


def test_old_java_is_refused(
    sandbox: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_JAVA_VERSION", "1.8.0_392")
    code, _, err = run_cli(capsys, "up")
    assert code == 1
    [line] = error_lines(err)
    assert "is Java 8; Kafka 4 needs Java 17 or newer" in line


@pytest.mark.parametrize(
    ("text", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_392"', 8),
        ('openjdk version "25-ea" 2025-09-16', 25),
        ("garbage", None),
    ],
)
def test_parse_java_major(text: str, major: int | None) -> None:
    assert parse_java_major(text) == major


# --- ports --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("var", "label"),
    [
        ("CRM_STACK_KAFKA_PORT", "(Kafka)"),
        ("CRM_STACK_CONTROLLER_PORT", "(Kafka controller)"),
        ("CRM_STACK_MONGO_PORT", "(MongoDB)"),
    ],
)
def test_busy_port_is_named(
    sandbox: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    var: str,
    label: str,
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        monkeypatch.setenv(var, str(port))
        code, _, err = run_cli(capsys, "up")
    assert code == 1
    [line] = error_lines(err)
    assert f"port {port} {label} is busy" in line
    assert f"pid {os.getpid()}" in line  # who listens there, found through /proc
    assert "listens there" in line
    assert var in line
    assert "Traceback" not in err
    assert sandbox.live_processes() == []  # nothing was started


def test_same_port_twice_is_refused(
    sandbox: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_STACK_MONGO_PORT", str(sandbox.kafka_port))
    code, _, err = run_cli(capsys, "status")
    assert code == 1
    assert "ports must differ" in error_lines(err)[0]


def test_bad_port_value(
    sandbox: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_STACK_KAFKA_PORT", "nine")
    code, _, err = run_cli(capsys, "env")
    assert code == 1
    assert "CRM_STACK_KAFKA_PORT='nine' is not a port number" in err


# --- down and pid files -------------------------------------------------------------------


def test_down_leaves_a_foreign_pid_alone_and_drops_the_stale_pid_file(
    sandbox: Any, capsys: pytest.CaptureFixture[str], sleeper: subprocess.Popen[bytes]
) -> None:
    cfg = StackConfig.from_env()
    cfg.state_dir.mkdir(parents=True)
    cfg.kafka_pid_file.write_text(f"{sleeper.pid}\n")  # bare pid
    write_pid_file(cfg.mongo_pid_file, sleeper.pid)  # full record, but not mongod's cmdline
    code, out, _ = run_cli(capsys, "down")
    assert code == 0
    time.sleep(0.2)
    assert sleeper.poll() is None, "down signalled a process that is not crm-stack's"
    assert not cfg.kafka_pid_file.exists()
    assert not cfg.mongo_pid_file.exists()
    assert f"pid {sleeper.pid} is not ours; left alone" in out


def _fake_broker(cfg: StackConfig) -> subprocess.Popen[bytes]:
    """A process whose command line looks like this state dir's broker."""
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", *kafka.expected_args(cfg)],
        start_new_session=True,
    )


def test_down_ignores_a_recycled_pid(sandbox: Any, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = StackConfig.from_env()
    cfg.state_dir.mkdir(parents=True)
    proc = _fake_broker(cfg)
    try:
        write_pid_file(cfg.kafka_pid_file, proc.pid)
        text = cfg.kafka_pid_file.read_text()
        st = proc_stat(proc.pid)
        assert st is not None
        # same pid and command line, but another start time: a different process
        cfg.kafka_pid_file.write_text(
            text.replace(f'"start_time": {st.start_time}', f'"start_time": {st.start_time - 1}')
        )
        code, _, _ = run_cli(capsys, "down")
        assert code == 0
        assert proc.poll() is None
        assert not cfg.kafka_pid_file.exists()
    finally:
        proc.kill()
        proc.wait()


def test_down_stops_its_own_process_group(sandbox: Any, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = StackConfig.from_env()
    cfg.state_dir.mkdir(parents=True)
    # a "broker" with a child in its process group: both must go
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, time; subprocess.Popen(['/bin/sleep', '60']); time.sleep(60)",
            *kafka.expected_args(cfg),
        ],
        start_new_session=True,
    )
    time.sleep(0.5)
    write_pid_file(cfg.kafka_pid_file, proc.pid)
    code, out, _ = run_cli(capsys, "down")
    assert code == 0
    proc.wait(timeout=5)  # (down reaped it already, as it is this test's child)
    assert proc_stat(proc.pid) is None
    assert "kafka: stopped" in out
    assert not cfg.kafka_pid_file.exists()
    assert group_members(proc.pid) == []  # the child went with it


def test_status_exits_3_when_nothing_runs(sandbox: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "status")
    assert code == 3
    assert "kafka     stopped" in out
    assert "mongod    stopped" in out
    assert "keycloak  stopped" in out
    assert f"state     {sandbox.state}" in out
    assert f"mail      {sandbox.state / 'mail'}" in out


# --- failures during start-up -------------------------------------------------------------


def test_mongod_timeout_names_it_and_stops_what_up_started(
    sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _prepare_cache(sandbox)
    code, out, err = run_cli(capsys, "up", "--mongo-timeout", "1")
    assert code == 1
    [line] = error_lines(err)
    assert f"mongod did not answer on {cfg.mongo_uri} within 1 s" in line
    assert str(cfg.mongo_log) in line
    assert "stopped what this `up` had started: mongod, kafka, keycloak" in out
    assert sandbox.live_processes() == []
    assert not cfg.kafka_pid_file.exists()
    assert not cfg.mongo_pid_file.exists()


def test_kafka_dying_after_mongod_started_stops_mongod(
    sandbox: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _prepare_cache(sandbox)
    monkeypatch.setenv("FAKE_KAFKA", "exit")
    monkeypatch.setattr(mongod, "is_ready", lambda _cfg: True)
    monkeypatch.setattr(mongod, "wait_ready", lambda *_args: None)
    code, out, err = run_cli(capsys, "up", "--kafka-timeout", "20")
    assert code == 1
    [line] = error_lines(err)
    assert "the Kafka broker exited during start-up" in line
    assert str(cfg.kafka_log) in line
    assert "fake broker refuses to start" in err  # the console log's last lines are shown
    assert "mongod" in out
    assert "stopped what this `up` had started" in out
    assert sandbox.live_processes() == []


def test_kafka_timeout_names_the_broker_and_its_log(
    sandbox: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _prepare_cache(sandbox)
    monkeypatch.setattr(mongod, "is_ready", lambda _cfg: True)
    monkeypatch.setattr(mongod, "wait_ready", lambda *_args: None)
    code, _, err = run_cli(capsys, "up", "--kafka-timeout", "2")
    assert code == 1
    [line] = error_lines(err)
    assert f"the Kafka broker did not answer on {cfg.kafka_bootstrap} within 2 s" in line
    assert f"see {cfg.kafka_log}" in line
    assert sandbox.live_processes() == []


def test_download_failure_shows_the_tool_output(
    sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "up")
    assert code == 1
    [line] = error_lines(err)
    assert "fetching the Kafka" in line
    assert "mvn exit 99" in line
    assert "must not run in unit tests" in err  # the tool's last lines
    cfg = StackConfig.from_env()
    assert not kafka.jars_ready(cfg)  # no completed-marker after a failed fetch


# --- cache markers ------------------------------------------------------------------------


def test_half_finished_download_is_not_ready(sandbox: Any) -> None:
    cfg = StackConfig.from_env()
    libs = kafka.libs_dir(cfg)
    libs.mkdir(parents=True)
    (libs / "kafka_2.13-x.jar").write_bytes(b"")
    assert not kafka.jars_ready(cfg)  # no marker: redo
    kafka.complete_marker(cfg).write_text("digest of another pom\n")
    assert not kafka.jars_ready(cfg)
    kafka.complete_marker(cfg).write_text(kafka.pom_digest() + "\n")
    assert kafka.jars_ready(cfg)


# --- generated configuration --------------------------------------------------------------


def _properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


def test_server_properties_are_single_node_kraft(tmp_path: Path) -> None:
    cfg = StackConfig(
        state_dir=tmp_path / "st",
        cache_dir=tmp_path / "c",
        kafka_port=19092,
        controller_port=19093,
        mongo_port=37017,
    )
    props = _properties(kafka.render_server_properties(cfg))
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:19093"
    assert "controller.quorum.voters" not in props  # --standalone refuses it
    assert props["listeners"] == "BROKER://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["inter.broker.listener.name"] == "BROKER"
    assert props["listener.security.protocol.map"] == (
        "BROKER:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"
    )
    log_dirs = Path(props["log.dirs"])
    assert log_dirs.is_absolute()
    assert log_dirs.is_relative_to(cfg.state_dir.resolve())
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.replication.factor",
        "share.coordinator.state.topic.min.isr",
    ):
        assert props[key] == "1", key
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["num.partitions"] == "6"


def test_server_properties_authenticate_and_authorise(tmp_path: Path) -> None:
    """SCRAM-SHA-512 for clients, the admin the only super user, nothing allowed without an ACL;
    the controller takes the admin alone (PLAIN with its static password)."""
    cfg = StackConfig(state_dir=tmp_path / "st", cache_dir=tmp_path / "c")
    props = _properties(kafka.render_server_properties(cfg))
    admin_password = security.ensure_passwords(cfg)[security.ADMIN]
    assert props["authorizer.class.name"] == (
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    )
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:crm-stack-admin"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["listener.name.broker.sasl.enabled.mechanisms"] == "SCRAM-SHA-512,PLAIN"
    assert props["listener.name.controller.sasl.enabled.mechanisms"] == "PLAIN"
    assert props["sasl.mechanism.controller.protocol"] == "PLAIN"
    # the static PLAIN users know the admin alone
    for key in ("listener.name.broker.plain", "listener.name.controller.plain"):
        jaas = props[f"{key}.sasl.jaas.config"]
        assert jaas.count("user_") == 1
        assert f'user_crm-stack-admin="{admin_password}"' in jaas
    # what holds a password is its owner's alone
    kafka.write_server_properties(cfg)
    assert cfg.server_properties.stat().st_mode & 0o777 == 0o600
    assert cfg.kafka_users_file.stat().st_mode & 0o777 == 0o600


def test_passwords_are_made_once_and_new_users_added(tmp_path: Path) -> None:
    cfg = StackConfig(state_dir=tmp_path / "st", cache_dir=tmp_path / "c")
    first = security.ensure_passwords(cfg)
    assert set(first) == {
        "crm-stack-admin",
        "crm-contacts",
        "crm-campaigns",
        "crm-proposals",
        "crm-notify",
        "crm-backoffice",
        "crm-ops",
    }
    assert len(set(first.values())) == len(first)
    assert all(p.startswith("dev-only-") for p in first.values())
    # a stack made before a user existed gets that user, the others keep theirs
    kept = {k: v for k, v in first.items() if k != "crm-ops"}
    cfg.kafka_users_file.write_text(json.dumps(kept))
    again = security.ensure_passwords(cfg)
    assert {k: again[k] for k in kept} == kept
    assert again["crm-ops"].startswith("dev-only-")
    assert cfg.kafka_users_file.stat().st_mode & 0o777 == 0o600


def test_env_exports_the_admin_and_services_get_their_own_user(tmp_path: Path) -> None:
    cfg = StackConfig(state_dir=tmp_path / "st", cache_dir=tmp_path / "c")
    passwords = security.ensure_passwords(cfg)
    env = security.client_env(cfg)
    assert env["CRM_KAFKA_USERNAME"] == "crm-stack-admin"
    assert env["CRM_KAFKA_PASSWORD"] == passwords["crm-stack-admin"]
    assert env["CRM_KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
    assert env["CRM_OPS_KAFKA_USERNAME"] == "crm-ops"
    own = security.service_env(cfg, "campaigns")
    assert own["CRM_CAMPAIGNS_KAFKA_USERNAME"] == "crm-campaigns"
    assert own["CRM_CAMPAIGNS_KAFKA_PASSWORD"] == passwords["crm-campaigns"]


def test_broker_command_uses_log4j2_file_and_bounded_g1_heap(tmp_path: Path) -> None:
    cfg = StackConfig(state_dir=tmp_path / "st", cache_dir=tmp_path / "c")
    argv = kafka.broker_command(cfg, "/usr/bin/java", tmp_path / "libs")
    assert "-XX:+UseG1GC" in argv
    assert "-Xmx768m" in argv
    assert any(
        a.startswith("-Dlog4j2.configurationFile=") and a.endswith(".properties") for a in argv
    )
    assert argv[-2:] == ["kafka.Kafka", str(cfg.server_properties)]


def test_pom_pins_kafka_4_and_the_slf4j_binding() -> None:
    from crm_stack.config import KAFKA_POM

    pom = KAFKA_POM.read_text()
    assert kafka_version().startswith("4.")
    assert "<artifactId>kafka_2.13</artifactId>" in pom
    assert "<artifactId>log4j-slf4j-impl</artifactId>" in pom  # slf4j-api 1.7.x binding
    assert "<artifactId>log4j-core</artifactId>" in pom


# --- env and keys -------------------------------------------------------------------------


def test_env_prints_exports(sandbox: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "env")
    assert code == 0
    lines = out.splitlines()
    exports = dict(line.removeprefix("export ").split("=", 1) for line in lines if "=" in line)
    assert all(line.startswith(("export ", "# ")) for line in lines)
    assert exports["CRM_STACK_DIR"] == str(sandbox.state)
    assert exports["CRM_OIDC_ISSUER"] == f"http://127.0.0.1:{sandbox.keycloak_port}/realms/crm"
    # where a person finds what the stack keeps, as shell comments
    assert f"# state: {sandbox.state}" in lines
    assert f"# mail: {sandbox.state / 'mail'}" in lines
    assert f"# token key: {sandbox.state / 'keys' / 'jwt-private.pem'}" in lines
    uri = f"mongodb://127.0.0.1:{sandbox.mongo_port}/?replicaSet=rs0"
    assert exports["CRM_MONGO_URI"] == shlex.quote(uri)
    assert exports["CRM_KAFKA_BOOTSTRAP"] == f"127.0.0.1:{sandbox.kafka_port}"
    assert exports["CRM_JWT_PUBLIC_KEY_FILE"] == str(sandbox.state / "keys" / "jwt-public.pem")
    assert exports["CRM_JWT_PRIVATE_KEY_FILE"] == str(sandbox.state / "keys" / "jwt-private.pem")
    assert exports["CRM_JWT_ISSUER"] == "crm-local"
    assert exports["CRM_JWT_AUDIENCE"] == "crm"


def test_dev_keys_are_made_once(sandbox: Any) -> None:
    from crm_stack.keys import ensure_dev_keys
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    cfg = StackConfig.from_env()
    assert ensure_dev_keys(cfg) is True
    first = cfg.jwt_private_key.read_bytes()
    key = load_pem_private_key(first, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048
    assert cfg.jwt_public_key.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert (cfg.keys_dir / DEV_MARKER).read_bytes() == b""
    assert cfg.jwt_private_key.stat().st_mode & 0o077 == 0
    assert ensure_dev_keys(cfg) is False
    assert cfg.jwt_private_key.read_bytes() == first


def test_purge_refuses_a_dir_that_is_not_ours(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = tmp_path / "precious"
    victim.mkdir()
    (victim / "keep.txt").write_text("keep")
    monkeypatch.setenv("CRM_STACK_DIR", str(victim))
    code, _, err = run_cli(capsys, "down", "--purge")
    assert code == 1
    assert "not purging" in err
    assert (victim / "keep.txt").exists()


def test_defaults_are_the_documented_loopback_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CRM_STACK_KAFKA_PORT", "CRM_STACK_CONTROLLER_PORT", "CRM_STACK_MONGO_PORT"):
        monkeypatch.delenv(var, raising=False)
    cfg = StackConfig.from_env()
    assert (cfg.kafka_port, cfg.controller_port, cfg.mongo_port) == (9092, 9093, 27017)
    assert cfg.kafka_bootstrap == "127.0.0.1:9092"
    assert cfg.mongo_uri == "mongodb://127.0.0.1:27017/?replicaSet=rs0"


def test_mongod_is_a_replica_set_on_loopback_with_bounded_memory_and_state_dir_data(
    tmp_path: Path,
) -> None:
    cfg = StackConfig(state_dir=tmp_path / "st", cache_dir=tmp_path / "c", mongo_port=37017)
    argv = mongod.command(cfg, tmp_path / "mongod")
    option = {a: b for a, b in itertools.pairwise(argv) if a.startswith("--")}
    assert (option["--bind_ip"], option["--port"]) == ("127.0.0.1", "37017")
    assert option["--replSet"] == "rs0"
    assert Path(option["--dbpath"]).is_relative_to(cfg.state_dir.resolve())
    assert float(option["--wiredTigerCacheSizeGB"]) <= 1  # not half the machine's memory
    assert cfg.mongo_uri == "mongodb://127.0.0.1:37017/?replicaSet=rs0"


def test_the_store_cache_size_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from crm_stack.errors import StackError

    monkeypatch.setenv("CRM_STACK_MONGO_CACHE_GB", "lots")
    with pytest.raises(StackError, match="not a number of gigabytes"):
        StackConfig.from_env()
    monkeypatch.setenv("CRM_STACK_MONGO_CACHE_GB", "0.5")
    assert StackConfig.from_env().mongo_cache_gb == "0.5"


def test_a_provider_that_never_answers_is_named_with_its_log_and_everything_is_stopped(
    sandbox: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _prepare_cache(sandbox)
    monkeypatch.setattr(mongod, "is_ready", lambda _cfg: True)
    monkeypatch.setattr(mongod, "wait_ready", lambda *_args: None)
    monkeypatch.setattr(kafka, "wait_ready", lambda *_args: None)
    monkeypatch.setattr(kafka, "wait_group_coordinator", lambda *_args: None)
    code, out, err = run_cli(capsys, "up")
    assert code == 1
    [line] = error_lines(err)
    assert f"keycloak did not answer {cfg.oidc_issuer}/.well-known/openid-configuration" in line
    assert "within 2 s (CRM_STACK_KEYCLOAK_TIMEOUT)" in line
    assert str(cfg.keycloak_log) in line
    assert "stopped what this `up` had started: mongod, kafka, keycloak" in out
    assert sandbox.live_processes() == []
    assert not cfg.keycloak_pid_file.exists()


def test_the_provider_needs_java_21_and_says_which_javas_it_found(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.undo()  # the real search, over a Java 17 only
    java = sandbox.bin / "java"
    monkeypatch.setenv("PATH", str(sandbox.bin))
    monkeypatch.setattr(keycloak, "_java_candidates", lambda: [java])
    with pytest.raises(keycloak.StackError) as caught:
        keycloak.require_java_home()
    assert f"needs Java 21 or newer and none was found ({java} (Java 17))" in str(caught.value)
    assert "CRM_STACK_KEYCLOAK_JAVA_HOME" in str(caught.value)


def test_realm_import_prints_each_overlays_realm_made_from_the_repositorys(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from crm_stack import realm_import

    code, out, _ = run_cli(capsys, "realm-import", "--overlay", "prod")

    assert code == 0
    assert out == realm_import.render("prod")
    assert "kind: KeycloakRealmImport" in out
    assert "dev-only-" not in out


@pytest.mark.parametrize(
    "answer",
    [b"garbage that is no status line\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{"],
    ids=["a broken status line", "a body cut short"],
)
def test_a_provider_answering_badly_while_it_starts_is_not_ready_yet(
    tmp_path: Path, answer: bytes
) -> None:
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer_once() -> None:
        connection, _ = server.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(answer)

    answering = threading.Thread(target=answer_once, daemon=True)
    answering.start()
    cfg = StackConfig(state_dir=tmp_path, cache_dir=tmp_path, keycloak_port=port)
    try:
        assert keycloak.is_ready(cfg) is False
    finally:
        answering.join(timeout=5)
        server.close()
