"""What composing one invitation e-mail costs notify in CPU: ``messages.compose`` (template,
unsubscribe link, QR code, calendar entry) and ``channels.build_email`` (the MIME message),
with no store, broker or network.

    uv run python bench/notify_compose_cost.py [--count 2000] [--rounds 3] [--forever]

Each message is an invitation to a person by e-mail as notify's consumer stores it (every one
with its own notification id, check-in code and calendar UID; English and Russian in turn),
composed with the shipped templates and signed unsubscribe links, as the delivery worker
does. Prints the CPU (``time.process_time``) per message of each step, round by round, with
the load average. ``--forever`` composes until stopped, for a sampling profiler
(``py-spy record --pid``). Figures only; never part of pass/fail.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from crm_contracts.values import Channel, Language, NotificationKind, RecipientKind
from crm_notify.channels import Outgoing, build_email
from crm_notify.domain import Reachability
from crm_notify.links import UnsubscribeLinks
from crm_notify.messages import compose
from crm_notify.settings import NotifySettings

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def invitation(n: int) -> dict[str, Any]:
    starts = NOW + timedelta(days=14)
    answer_url = f"https://crm.example.com/i/{os.urandom(24).hex()}"
    place = "Конференц-зал «Север», ул. Тверская, 7, Москва"
    return {
        "_id": f"ntf-{n:08d}-{os.urandom(8).hex()}",
        "kind": NotificationKind.INVITATION.value,
        "recipient": {"kind": "person", "id": f"per-{n:08d}", "client_id": f"cli-{n % 97:04d}"},
        "correlation_id": os.urandom(16).hex(),
        "variables": {
            "event_title": "Встреча клиентов: итоги года",
            "event_kind": "conference",
            "event_topic": "Планы на 2027 год",
            "place": place,
            "starts_at": "2026-12-21 12:00",
            "ends_at": "2026-12-21 15:00",
            "timezone": "Europe/Moscow",
            "answer_url": answer_url,
            "check_in_code": os.urandom(4).hex().upper(),
            "role": "guest",
        },
        "calendar": {
            "method": "REQUEST",
            "uid": f"evt-1.par-{n:08d}@crm",
            "sequence": 0,
            "title": "Встреча клиентов: итоги года",
            "starts_at": starts,
            "ends_at": starts + timedelta(hours=3),
            "location": place,
            "url": answer_url,
        },
    }


def person(n: int) -> Reachability:
    return Reachability(
        kind=RecipientKind.PERSON,
        name=f"Анна Петрова {n}" if n % 2 else f"Anna Petrova {n}",
        language=Language.RU if n % 2 else Language.EN,
        addresses={Channel.EMAIL: f"anna.petrova.{n}@example.com"},
        consents={Channel.EMAIL: True},
        client_id=f"cli-{n % 97:04d}",
    )


def one_round(count: int, settings: NotifySettings, links: UnsubscribeLinks) -> tuple[float, float]:
    work = [(invitation(n), person(n)) for n in range(count)]
    start = time.process_time()
    composed: list[Outgoing] = [
        compose(doc, who, Channel.EMAIL, {}, mail_from=settings.mail_from, now=NOW, links=links)
        for doc, who in work
    ]
    middle = time.process_time()
    for message in composed:
        build_email(settings, message)
    end = time.process_time()
    return (middle - start) / count * 1000, (end - middle) / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--forever", action="store_true")
    args = parser.parse_args()
    settings = NotifySettings()
    links = UnsubscribeLinks(settings.link_secret, settings.public_base_url)
    one_round(50, settings, links)  # imports, caches, compiled templates
    rounds = 0
    while args.forever or rounds < args.rounds:
        load = os.getloadavg()[0]
        composing, building = one_round(args.count, settings, links)
        rounds += 1
        print(
            f"{time.strftime('%H:%M:%S', time.gmtime())} load {load:.1f} → "
            f"{os.getloadavg()[0]:.1f}: compose {composing:.3f} ms, build_email "
            f"{building:.3f} ms, together {composing + building:.3f} ms a message "
            f"({args.count} messages)",
            flush=True,
        )


if __name__ == "__main__":
    main()
