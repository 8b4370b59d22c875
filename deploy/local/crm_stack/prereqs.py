"""Tools the stack needs on PATH, checked before anything is started."""

from __future__ import annotations

import re
import shutil
import subprocess

from crm_stack.errors import StackError

MIN_JAVA = 17

_INSTALL_HINT = {
    "java": "apt-get install -y openjdk-17-jre-headless",
    "mvn": "apt-get install -y maven",
}

_PURPOSE = {
    "java": "runs the Kafka broker",
    "mvn": "fetches the Kafka jars from Maven Central",
}


def require_tool(name: str) -> str:
    """The absolute path of ``name`` on PATH, or a StackError saying how to install it."""
    path = shutil.which(name)
    if path is None:
        raise StackError(
            f"`{name}` is not on PATH (it {_PURPOSE.get(name, 'is needed')}); "
            f"install it: {_INSTALL_HINT.get(name, name)}"
        )
    return path


def parse_java_major(version_output: str) -> int | None:
    """Major version from ``java -version`` output: 'version "17.0.15"' -> 17, '"1.8.0_1"' -> 8."""
    match = re.search(r'version "([^"]+)"', version_output)
    if match is None:
        return None
    parts = re.split(r"[._+-]", match.group(1))
    try:
        major = int(parts[0])
        if major == 1 and len(parts) > 1:
            major = int(parts[1])
    except ValueError:
        return None
    return major


def require_java() -> str:
    """The java executable, checked to be Java 17 or newer."""
    java = require_tool("java")
    try:
        proc = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackError(f"`{java} -version` failed: {exc}") from None
    output = (proc.stderr or "") + (proc.stdout or "")
    major = parse_java_major(output)
    if major is None:
        first = output.strip().splitlines()[0] if output.strip() else "no output"
        raise StackError(f"could not tell the Java version from `{java} -version`: {first}")
    if major < MIN_JAVA:
        raise StackError(
            f"{java} is Java {major}; Kafka 4 needs Java {MIN_JAVA} or newer "
            f"(apt-get install -y openjdk-17-jre-headless, then put it first on PATH)"
        )
    return java
