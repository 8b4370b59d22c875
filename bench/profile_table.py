"""Sums py-spy's collapsed stacks (`bench/fanout.py --profile DIR`) by part of the work.

    uv run python bench/profile_table.py DIR [--cpu campaigns=1.25 --cpu notify-0=4.1]

Each sample goes to the part whose frame is deepest in its stack (a QR code made while
composing a message is the QR code's, a store call made by the outbox is the driver's). With
``--cpu NAME=MS`` (the process's CPU per invitation from the same run) a part's share is also
given in milliseconds per invitation.

A sample whose stack ends in the event loop's ``Runner.run``, with no Python frame above it, is
the loop waiting: py-spy counts uvloop's ``epoll_pwait`` as active (``py-spy --native`` on
notify, 2026-12-07: 90 of 117 such samples were in ``epoll_pwait``, 16 in a socket ``read``,
the rest a few deallocations). Those samples are shown apart and left out of the shares, so
the milliseconds are apportioned over the samples that were work.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("QR code (segno; zxing-cpp and notify's PNG writer)", ("segno/", "zxingcpp", "qr_png (")),
    ("iCalendar entry", ("icalendar/", "crm_notify/ical.py")),
    ("e-mail MIME building (email.*)", ("email/", "build_email")),
    ("SMTP client (crm_notify.smtp, or aiosmtplib before)", ("crm_notify/smtp.py", "aiosmtplib/")),
    ("template rendering (jinja2)", ("jinja2/", "crm_notify/templates.py", "markupsafe/")),
    (
        "signed links (tokens)",
        (
            "crm_kit/tokens.py",
            "crm_campaigns/links.py",
            "crm_notify/links.py",
            "itsdangerous/",
            "hmac",
            "hashlib",
        ),
    ),
    ("store driver (pymongo, bson)", ("pymongo/", "bson/")),
    ("Kafka client (aiokafka)", ("aiokafka/", "kafka/")),
    ("FastStream, fast_depends", ("faststream/", "fast_depends/")),
    ("models, JSON (pydantic, json)", ("pydantic", "json/", "crm_contracts/")),
    ("logging", ("logging/", "crm_kit/logs.py")),
    ("metrics (prometheus_client)", ("prometheus_client/",)),
    ("HTTP (uvicorn, starlette, fastapi)", ("uvicorn/protocols", "starlette/", "fastapi/")),
    ("consumer (crm_kit.consumer, app)", ("crm_kit/consumer.py", "crm_kit/app.py")),
    ("outbox and relay (crm_kit)", ("crm_kit/outbox.py", "crm_kit/relay.py")),
    ("notify: worker, messages, delivery", ("crm_notify/",)),
    ("campaigns: fan-out, reactions", ("crm_campaigns/",)),
    ("asyncio event loop", ("asyncio/", "selectors.py", "uvloop")),
)


WAITING = "(the event loop waiting: not counted)"


def part_of(stack: str) -> str:
    frames = stack.split(";")
    if frames[-1].startswith("Runner.run ("):
        return WAITING
    for frame in reversed(frames):
        for name, needles in PARTS:
            if any(n in frame for n in needles):
                return name
    return "other"


def read(path: Path) -> Counter[str]:
    parts: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            parts[part_of(stack)] += int(count)
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--cpu", action="append", default=[], metavar="NAME=MS")
    args = parser.parse_args()
    cpu = {k: float(v) for k, v in (item.split("=", 1) for item in args.cpu)}
    for path in sorted(args.folder.glob("*.txt")):
        parts = read(path)
        waiting = parts.pop(WAITING, 0)
        total = sum(parts.values())
        per = cpu.get(path.stem)
        print(
            f"\n{path.stem}: {total} samples of work, {waiting} of the loop waiting"
            + (f"; {per:.2f} ms per invitation" if per else "")
        )
        print("| part | share | ms per invitation |\n| --- | --- | --- |")
        for name, n in parts.most_common():
            ms = f"{per * n / total:.2f}" if per else "—"
            print(f"| {name} | {n * 100 / total:.1f} % | {ms} |")


if __name__ == "__main__":
    main()
