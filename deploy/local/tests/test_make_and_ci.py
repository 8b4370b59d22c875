"""The README's two commands, `make test`'s script and `.ci/run`, driven with stand-in tools.

`deploy/local/test.sh` is what `make test` runs after installing: it lints, starts the stack
unless it runs already, runs pytest with the stack's settings, and stops only what it started.
Here `uv` is a stand-in (first on the script's PATH, in ``$HOME/.local/bin``) that logs every
call and answers as told, so each branch is seen without a real stack or a real test run.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
TEST_SH = REPO / "deploy" / "local" / "test.sh"
CI_RUN = REPO / ".ci" / "run"

pytestmark = pytest.mark.timeout(120)

FAKE_UV = """#!/usr/bin/env bash
echo "$*" >> "$FAKE_LOG"
case "$*" in
  *"crm-stack status"*) exit "${FAKE_STATUS:-3}" ;;
  *"crm-stack up"*)
    if [ "${FAKE_UP:-0}" != 0 ]; then
      echo "crm-stack: error: port 9092 (Kafka) is busy" >&2
    fi
    exit "${FAKE_UP:-0}" ;;
  *"crm-stack env"*) echo "export CRM_KAFKA_BOOTSTRAP=127.0.0.1:19" ;;
  *"crm-stack down"*) exit 0 ;;
  *pytest*)
    echo "pytest sees CRM_KAFKA_BOOTSTRAP=${CRM_KAFKA_BOOTSTRAP:-unset}" >> "$FAKE_LOG"
    echo "${UV_PYTHON:-unset}" > "$FAKE_LOG.python"
    exit "${FAKE_PYTEST:-0}" ;;
  *ruff\\ check*) exit "${FAKE_RUFF:-0}" ;;
esac
exit 0
"""


def write_script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


LINT = ["run --frozen ruff check .", "run --frozen ruff format --check .", "run --frozen mypy"]


def run_test_sh(tmp_path: Path, **answers: str) -> tuple[int, str, list[str]]:
    home = tmp_path / "home"
    write_script(home / ".local" / "bin" / "uv", FAKE_UV)
    log = tmp_path / "uv.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "FAKE_", "UV_"))}
    env.update(HOME=str(home), FAKE_LOG=str(log), **answers)
    proc = subprocess.run(
        ["bash", str(TEST_SH)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return proc.returncode, proc.stdout + proc.stderr, calls


def test_a_stack_that_cannot_start_fails_the_run_before_any_test(tmp_path: Path) -> None:
    code, output, calls = run_test_sh(tmp_path, FAKE_STATUS="3", FAKE_UP="1")
    assert code != 0
    assert "port 9092 (Kafka) is busy" in output
    assert calls == [*LINT, "run --frozen crm-stack status", "run --frozen crm-stack up"]


def test_a_run_that_collects_no_tests_fails(tmp_path: Path) -> None:
    code, output, calls = run_test_sh(tmp_path, FAKE_STATUS="0", FAKE_PYTEST="5")
    assert code == 1
    assert "pytest collected no tests: failing" in output
    assert "run --frozen pytest" in calls


def test_it_starts_the_stack_passes_its_settings_to_pytest_and_stops_what_it_started(
    tmp_path: Path,
) -> None:
    code, _, calls = run_test_sh(tmp_path, FAKE_STATUS="3")
    assert code == 0
    assert calls == [
        *LINT,
        "run --frozen crm-stack status",
        "run --frozen crm-stack up",
        "run --frozen crm-stack env",
        "run --frozen pytest",
        "pytest sees CRM_KAFKA_BOOTSTRAP=127.0.0.1:19",
        "run --frozen crm-stack down",
    ]


def test_a_stack_already_running_is_used_and_left_running(tmp_path: Path) -> None:
    code, _, calls = run_test_sh(tmp_path, FAKE_STATUS="0")
    assert code == 0
    assert not [c for c in calls if "crm-stack up" in c or "crm-stack down" in c]
    assert "run --frozen pytest" in calls


def test_failing_tests_fail_the_run_and_the_stack_it_started_is_still_stopped(
    tmp_path: Path,
) -> None:
    code, _, calls = run_test_sh(tmp_path, FAKE_STATUS="3", FAKE_PYTEST="1")
    assert code == 1
    assert calls[-1] == "run --frozen crm-stack down"


def test_a_lint_failure_fails_the_run_before_the_stack_and_tests(tmp_path: Path) -> None:
    code, _, calls = run_test_sh(tmp_path, FAKE_RUFF="1")
    assert code != 0
    assert calls == [LINT[0]]


def system_python(tmp_path: Path, version: str) -> Path:
    """A stand-in for the system's interpreter that answers the version check as ``version``."""
    wanted = tuple(int(p) for p in version.split("."))
    script = f'#!/bin/sh\nexec python3 -c "import sys; sys.exit({wanted} < (3, 11))"\n'
    return write_script(tmp_path / "system" / "python3", script)


def test_the_environment_is_made_with_the_system_python_when_it_is_new_enough(
    tmp_path: Path,
) -> None:
    system = system_python(tmp_path, "3.11")
    code, _, _ = run_test_sh(tmp_path, FAKE_STATUS="0", CRM_SYSTEM_PYTHON=str(system))
    assert code == 0
    assert (tmp_path / "uv.log.python").read_text().strip() == str(system)


def test_an_older_system_python_is_left_to_uv_and_a_chosen_one_is_kept(tmp_path: Path) -> None:
    system = system_python(tmp_path, "3.10")
    code, _, _ = run_test_sh(tmp_path, FAKE_STATUS="0", CRM_SYSTEM_PYTHON=str(system))
    assert code == 0
    assert (tmp_path / "uv.log.python").read_text().strip() == "unset"
    newer = system_python(tmp_path / "newer", "3.12")
    chosen = "/opt/python3.13/bin/python3"
    code, _, _ = run_test_sh(
        tmp_path, FAKE_STATUS="0", CRM_SYSTEM_PYTHON=str(newer), UV_PYTHON=chosen
    )
    assert code == 0
    assert (tmp_path / "uv.log.python").read_text().strip() == chosen


def test_make_passes_the_chosen_python_to_uv(tmp_path: Path) -> None:
    system = system_python(tmp_path, "3.12")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "CRM_"))}
    env["CRM_SYSTEM_PYTHON"] = str(system)
    proc = subprocess.run(
        ["make", "-s", "-C", str(REPO), "-f", "Makefile", "-f", "-", "show-python"],
        input='show-python:\n\t@echo "$$UV_PYTHON"\n',
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert proc.stdout.strip() == str(system)


def test_ci_runs_make_test_and_keeps_its_exit_status(tmp_path: Path) -> None:
    assert os.access(CI_RUN, os.X_OK)
    bin_dir = tmp_path / "bin"
    write_script(bin_dir / "make", '#!/bin/sh\necho "$PWD $*" >> "$FAKE_LOG"\nexit "$FAKE_MAKE"\n')
    log = tmp_path / "make.log"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_LOG": str(log)}
    for status in (0, 2):
        proc = subprocess.run(
            [str(CI_RUN)], env={**env, "FAKE_MAKE": str(status)}, timeout=30, check=False
        )
        assert proc.returncode == status
    assert log.read_text().splitlines() == [f"{REPO} test", f"{REPO} test"]


@pytest.mark.parametrize(
    ("target", "wanted"),
    [
        ("test", ["bash deploy/local/bootstrap.sh", "bash deploy/local/test.sh"]),
        ("run", ["bash deploy/local/bootstrap.sh", "crm-stack run"]),
        ("up", ["bash deploy/local/bootstrap.sh", "crm-stack up --with-services"]),
        ("down", ["crm-stack down --with-services"]),
        ("status", ["crm-stack status --with-services"]),
    ],
)
def test_make_targets_install_then_drive_crm_stack(target: str, wanted: list[str]) -> None:
    proc = subprocess.run(
        ["make", "-n", "-C", str(REPO), target],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    lines = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
    found = [next((i for i, line in enumerate(lines) if line.endswith(w)), -1) for w in wanted]
    assert -1 not in found, f"{wanted} not all in {lines}"
    assert found == sorted(found)  # in this order: install first


def test_the_readme_first_screen_shows_the_two_commands() -> None:
    first_screen = (REPO / "README.md").read_text(encoding="utf-8").splitlines()[:24]
    fence = [i for i, line in enumerate(first_screen) if line.startswith("```")]
    assert len(fence) >= 2, "no code block on the README's first screen"
    block = first_screen[fence[0] + 1 : fence[1]]
    assert [line.split("#")[0].strip() for line in block] == ["make run", "make test"]


@pytest.mark.parametrize(
    ("args", "wanted"),
    [
        (["demo", "ARGS=--clients 5"], "run --frozen crm demo load --clients 5"),
        (["crm", "ARGS=dlq list"], "run --frozen crm dlq list"),
        (
            ["token", "SCOPES=contacts:read"],
            "run --frozen crm-token mint --sub dev-cli --scope contacts:read",
        ),
    ],
)
def test_the_readmes_make_commands_find_uv_from_a_new_terminal(
    tmp_path: Path, args: list[str], wanted: str
) -> None:
    """A new terminal's PATH lacks the folder uv was installed into; the targets add it."""
    home = tmp_path / "home"
    write_script(home / ".local" / "bin" / "uv", FAKE_UV)
    stand_ins = write_script(tmp_path / "bin" / "apt-get", "#!/bin/sh\nexit 0\n").parent
    log = tmp_path / "uv.log"
    # `uv run` exports UV (its own path), which the Makefile would take over its search.
    dropped = ("CRM_", "FAKE_", "UV_", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if k != "UV" and not k.startswith(dropped)}
    env.update(HOME=str(home), FAKE_LOG=str(log), PATH=f"{stand_ins}:/usr/local/bin:/usr/bin:/bin")
    proc = subprocess.run(
        ["make", "-s", "-C", str(REPO), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = log.read_text().splitlines()
    assert wanted in calls, calls
    assert "run --frozen crm-stack env" in calls  # the stack's settings, wherever it keeps them
