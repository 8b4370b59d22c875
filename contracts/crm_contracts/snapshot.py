"""Committed JSON Schema snapshots of every contract, and the check that keeps them honest.

    python -m crm_contracts.snapshot            # write snapshots (refused if a change breaks)
    python -m crm_contracts.snapshot --check    # fail on a missing, stale or breaking snapshot

One file per event and schema version, ``schemas/<topic>/<EventType>.v<N>.json``, plus
``schemas/envelope.json``. Snapshots of earlier versions stay, and the current contract is
checked against each of them, so a contract can only ever grow.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crm_contracts.base import ContractEvent
from crm_contracts.compat import check_schema
from crm_contracts.envelope import Envelope
from crm_contracts.registry import EVENT_TYPES

SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"
ENVELOPE_FILE = "envelope.json"
WRITE_COMMAND = "uv run python -m crm_contracts.snapshot"
_SNAPSHOT_NAME = re.compile(r"^(?P<event_type>[A-Za-z0-9_]+)\.v(?P<version>\d+)\.json$")


def event_schema(cls: type[ContractEvent]) -> dict[str, Any]:
    """The payload's JSON Schema, tagged with its event type, topic and version."""
    schema = cls.model_json_schema()
    schema["x-event-type"] = cls.event_type
    schema["x-topic"] = cls.topic
    schema["x-schema-version"] = cls.schema_version
    return schema


def envelope_schema() -> dict[str, Any]:
    return Envelope.model_json_schema()


def render(schema: dict[str, Any]) -> str:
    """Stable text: sorted keys, two-space indent, a trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def snapshot_path(cls: type[ContractEvent], root: Path = SCHEMAS_DIR) -> Path:
    return root / cls.topic / f"{cls.event_type}.v{cls.schema_version}.json"


def expected_files(root: Path = SCHEMAS_DIR) -> dict[Path, str]:
    """Every snapshot file the current contracts call for, with its content."""
    files = {root / ENVELOPE_FILE: render(envelope_schema())}
    for cls in sorted(EVENT_TYPES.values(), key=lambda c: (c.topic, c.event_type)):
        files[snapshot_path(cls, root)] = render(event_schema(cls))
    return files


def stale_problems(root: Path = SCHEMAS_DIR) -> list[str]:
    """Snapshots that are missing or differ from the current contracts."""
    problems = []
    for path, text in expected_files(root).items():
        name = path.relative_to(root)
        if not path.exists():
            problems.append(f"{name}: no snapshot committed; run `{WRITE_COMMAND}` and commit it")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(
                f"{name}: snapshot is stale (the contract changed); "
                f"run `{WRITE_COMMAND}` and commit it"
            )
    return problems


def breaking_problems(root: Path = SCHEMAS_DIR) -> list[str]:
    """Non-additive changes of the current contracts against every committed snapshot."""
    problems: list[str] = []
    envelope_file = root / ENVELOPE_FILE
    if envelope_file.exists():
        problems += check_schema(_load(envelope_file), envelope_schema(), "Envelope")
    for path in sorted(root.glob("*/*.json")):
        match = _SNAPSHOT_NAME.match(path.name)
        if match is None:
            problems.append(f"{path.relative_to(root)}: not named <EventType>.v<N>.json")
            continue
        event_type, version = match["event_type"], int(match["version"])
        label = f"{event_type} (against its v{version} snapshot)"
        cls = EVENT_TYPES.get(event_type)
        if cls is None:
            problems.append(f"{label}: event class removed; a published contract must stay")
        elif cls.topic != path.parent.name:
            problems.append(f"{label}: moved from topic {path.parent.name} to {cls.topic}")
        elif version > cls.schema_version:
            problems.append(f"{label}: schema_version went back to {cls.schema_version}")
        else:
            problems += check_schema(_load(path), event_schema(cls), label)
    return problems


def check(root: Path = SCHEMAS_DIR) -> list[str]:
    return breaking_problems(root) + stale_problems(root)


def write(root: Path = SCHEMAS_DIR) -> list[Path]:
    """Write the snapshots that changed; refuse, writing nothing, if any change breaks."""
    problems = breaking_problems(root)
    if problems:
        raise BreakingChange(problems)
    written = []
    for path, text in expected_files(root).items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


class BreakingChange(Exception):
    """A contract changed in a way its committed snapshot does not allow."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _load(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON Schema object")
    return data


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crm_contracts.snapshot", description=__doc__)
    parser.add_argument("--check", action="store_true", help="verify instead of writing")
    parser.add_argument("--dir", type=Path, default=SCHEMAS_DIR, help="snapshot directory")
    args = parser.parse_args(argv)
    root: Path = args.dir
    if args.check:
        problems = check(root)
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"{len(EVENT_TYPES)} contracts checked, {len(problems)} problem(s)")
        return 1 if problems else 0
    try:
        written = write(root)
    except BreakingChange as error:
        print("refused: not additive (publish a new event class instead):", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path.relative_to(root)}")
    print(f"{len(EVENT_TYPES)} contracts, {len(written)} snapshot(s) written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
