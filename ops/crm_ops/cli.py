"""`crm`: the operator's command line.

crm stack up|down|status|run|env|logs    the local stack (see `crm-stack --help`)
crm token mint --sub APP --scope S …     mint a token for an internal app
crm topics [--prefix P]                  topics, partitions and messages held
crm lag [--group G]                      consumer-group lag per partition
crm dlq list [TOPIC]                     dead-letter topics, or the letters in one
crm dlq replay TOPIC [--dry-run]         send dead letters back to their source topic
crm rebuild SERVICE [--apply]            replay the topics a service reads into a scratch
                                         database and compare its projections with the live
                                         ones (--apply: replace them, service stopped); any of
                                         contacts, campaigns, proposals, notify; publishes
                                         and sends nothing
crm demo load [--clients N] [--seed S]   load a demo data set into the running services
                                         (and link the provider's people to its employees)
crm link-employees                       link the provider's people to the employees of
                                         contacts by e-mail (the token's employee_id claim)
crm personal-data export PERSON_ID       everything the four services hold about a person,
                                         as one JSON document (needs data-protection)
crm personal-data erase PERSON_ID        erase a person: every service forgets them and their
                                         events on the topics read as erased
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx
from crm_kit.app import ServiceSpec
from crm_kit.settings import ServiceSettings

from crm_ops import kafka

SERVICES = ("contacts", "campaigns", "proposals", "notify")


def _bootstrap(args: argparse.Namespace) -> str:
    value: str = args.bootstrap or os.environ.get("CRM_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crm", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bootstrap", help="Kafka bootstrap (default $CRM_KAFKA_BOOTSTRAP)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("stack", help="the local stack: up, down, status, run, env, logs")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p = sub.add_parser("token", help="mint a token (crm token mint --sub app --scope s)")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p = sub.add_parser("topics", help="topics with partitions and messages held")
    p.add_argument("--prefix", default="", help="only topics whose name starts with this")
    p = sub.add_parser("lag", help="consumer-group lag")
    p.add_argument("--group", help="one group (default: every crm-* group)")
    p = sub.add_parser("dlq", help="dead letters")
    dlq = p.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    p = dlq.add_parser("list", help="dead-letter topics, or the letters of one")
    p.add_argument("topic", nargs="?")
    p = dlq.add_parser("replay", help="republish dead letters to their source topic")
    p.add_argument("topic")
    p.add_argument("--dry-run", action="store_true", help="only show what would be sent")
    p = sub.add_parser(
        "rebuild",
        help="rebuild a service's projections from its topics and compare them with the live ones",
        description="Replay every record on the topics SERVICE reads through its own handlers "
        "into a scratch database (a copy of its other collections), and compare each projection "
        "it declares with the live one: EQUAL or DIFFERENT. Nothing is published or sent. "
        "Exit status 0 when all are equal (or replaced), 1 otherwise.",
    )
    p.add_argument("service", choices=SERVICES)
    p.add_argument(
        "--apply",
        action="store_true",
        help="replace the live projections by the rebuilt ones (stop the service first)",
    )
    p = sub.add_parser("demo", help="demo data")
    demo = p.add_subparsers(dest="demo_command", required=True, metavar="ACTION")
    p = demo.add_parser("load", help="load a demo data set through the services' APIs")
    p.add_argument("--clients", type=int, default=300, help="how many clients (default 300)")
    p.add_argument("--seed", type=int, default=7, help="the same seed, the same data (default 7)")
    p.add_argument("--key", help="private key to sign with (default $CRM_JWT_PRIVATE_KEY_FILE)")
    for name, port in (("contacts", 8001), ("campaigns", 8002), ("proposals", 8003)):
        p.add_argument(
            f"--{name}", default=f"http://127.0.0.1:{port}", help=f"{name} base URL", metavar="URL"
        )
    p = sub.add_parser(
        "link-employees", help="link the provider's people to contacts' employees by e-mail"
    )
    p.add_argument("--key", help="private key to sign with (default $CRM_JWT_PRIVATE_KEY_FILE)")
    p.add_argument("--contacts", default="http://127.0.0.1:8001", help="contacts base URL")
    p.add_argument("--issuer", help="the provider's issuer (default $CRM_OIDC_ISSUER)")
    p = sub.add_parser("personal-data", help="a person's data export and erasure")
    action = p.add_subparsers(dest="personal_command", required=True, metavar="ACTION")
    for name, text in (("export", "one JSON document from all services"), ("erase", "erase")):
        q = action.add_parser(name, help=text)
        q.add_argument("person_id")
        q.add_argument(
            "--token",
            help="a data-protection officer's access token (default $CRM_TOKEN; on the local "
            "stack one is minted with the development key)",
        )
        for service, port in zip(SERVICES, (8001, 8002, 8003, 8004), strict=True):
            q.add_argument(
                f"--{service}", default=f"http://127.0.0.1:{port}", help=f"{service} base URL"
            )
    return parser


def service_spec(name: str) -> tuple[ServiceSpec, ServiceSettings]:
    module = importlib.import_module(f"crm_{name}.app")
    spec: ServiceSpec = module.SPEC
    settings_cls: type[ServiceSettings] = getattr(module, f"{name.capitalize()}Settings")
    return spec, settings_cls()


async def _run(args: argparse.Namespace) -> int:
    bootstrap = _bootstrap(args)
    if args.command == "topics":
        for info in await kafka.topics(bootstrap, prefix=args.prefix):
            print(f"{info.name:<48} partitions {info.partitions:>3}   messages {info.messages:>9}")
        return 0
    if args.command == "lag":
        names = (
            [args.group]
            if args.group
            else [g for g in await kafka.groups(bootstrap) if g.startswith("crm-")]
        )
        for group in names:
            rows = await kafka.lag(bootstrap, group)
            total = sum(r.lag for r in rows)
            print(f"{group}: lag {total}")
            for r in rows:
                print(f"  {r.topic}[{r.partition}] committed {r.committed} end {r.end} lag {r.lag}")
        return 0
    if args.command == "dlq" and args.dlq_command == "list":
        if not args.topic:
            for name in await kafka.dead_letter_topics(bootstrap):
                letters = await kafka.list_dead_letters(bootstrap, name)
                print(f"{name:<60} {len(letters):>6} dead letters")
            return 0
        for letter in await kafka.list_dead_letters(bootstrap, args.topic):
            print(json.dumps(letter.describe(), ensure_ascii=False))
        return 0
    if args.command == "dlq" and args.dlq_command == "replay":
        result = await kafka.replay_all(bootstrap, args.topic, dry_run=args.dry_run)
        verb = "would replay" if args.dry_run else "replayed"
        print(f"{verb} {len(result.replayed)} dead letters from {args.topic}")
        for letter in result.replayed:
            print(json.dumps(letter.describe(), ensure_ascii=False))
        if result.refused:
            print(
                f"refused {len(result.refused)} truncated dead letters: only the start of their "
                "record was kept (it was larger than an event may be), so they cannot be replayed"
            )
            for letter in result.refused:
                print(json.dumps(letter.describe(), ensure_ascii=False))
        return 0
    if args.command == "rebuild":
        from crm_kit.rebuild import rebuild

        spec, settings = service_spec(args.service)
        if not spec.projections:
            print(f"{args.service} declares no projections to rebuild")
            return 0
        report = await rebuild(spec, settings, apply=args.apply)
        print(
            f"{report.service}: {report.records_read} records read, "
            f"{report.events_applied} events applied, {len(report.failures)} failures; "
            f"{report.held_back} events the handlers wrote held back, unsent"
        )
        for c in report.collections:
            same = "EQUAL" if c.equal else "DIFFERENT"
            print(f"  {c.name}: live {c.live_count} docs, rebuilt {c.rebuilt_count} docs: {same}")
        for failure in report.failures[:20]:
            print(f"  failed: {failure}")
        if report.applied:
            print("  live projections replaced by the rebuilt ones")
        return 0 if report.equal or report.applied else 1
    raise AssertionError(args.command)


def _demo(args: argparse.Namespace) -> int:
    from crm_stack.config import StackConfig

    from crm_ops import demo

    if args.clients < 1:
        print("crm: error: --clients must be at least 1", file=sys.stderr)
        return 2
    cfg = StackConfig.from_env()
    key = Path(args.key or os.environ.get("CRM_JWT_PRIVATE_KEY_FILE") or cfg.jwt_private_key)
    if not key.exists():
        print(f"crm: error: no private key at {key}: start the stack first", file=sys.stderr)
        return 1
    issuer = os.environ.get("CRM_JWT_ISSUER", "crm-local")
    audience = os.environ.get("CRM_JWT_AUDIENCE", "crm")
    headers = demo.bearer(key.read_bytes(), issuer, audience)
    approver = demo.approver_bearer(key.read_bytes(), issuer, audience)
    urls = {name: getattr(args, name) for name in ("contacts", "campaigns", "proposals")}
    try:
        asyncio.run(
            demo.load_over_http(
                urls, headers, n_clients=args.clients, seed=args.seed, approver=approver
            )
        )
    except demo.AlreadyLoaded as exc:
        print(f"crm: {exc}", file=sys.stderr)
        return 3
    except demo.DemoError as exc:
        print(f"crm: error: {exc}", file=sys.stderr)
        return 1
    except httpx.TransportError as exc:
        print(f"crm: error: a service does not answer ({exc}); is `make run` up?", file=sys.stderr)
        return 1
    if os.environ.get("CRM_OIDC_ISSUER"):
        return _link(args, headers)
    return 0


def _link(args: argparse.Namespace, headers: dict[str, str] | None = None) -> int:
    """``crm link-employees`` (and the end of ``crm demo load``) on the local stack."""
    from crm_stack import keycloak
    from crm_stack.config import StackConfig

    from crm_ops import demo, identity

    cfg = StackConfig.from_env()
    issuer = getattr(args, "issuer", None) or os.environ.get("CRM_OIDC_ISSUER") or cfg.oidc_issuer
    if headers is None:
        key = Path(args.key or os.environ.get("CRM_JWT_PRIVATE_KEY_FILE") or cfg.jwt_private_key)
        if not key.exists():
            print(f"crm: error: no private key at {key}: start the stack first", file=sys.stderr)
            return 1
        headers = demo.bearer(
            key.read_bytes(),
            os.environ.get("CRM_JWT_ISSUER", "crm-local"),
            os.environ.get("CRM_JWT_AUDIENCE", "crm"),
        )

    async def run() -> identity.LinkReport:
        async with httpx.AsyncClient(
            base_url=args.contacts, headers=headers, timeout=30
        ) as contacts:
            return await identity.link_employees(issuer, keycloak.admin_password(cfg), contacts)

    try:
        report = asyncio.run(run())
    except identity.LinkError as exc:
        print(f"crm: error: {exc}", file=sys.stderr)
        return 1
    except httpx.TransportError as exc:
        print(f"crm: error: contacts does not answer ({exc})", file=sys.stderr)
        return 1
    print(f"provider: {report.describe()}")
    return 0


def _personal(args: argparse.Namespace) -> int:
    """``crm personal-data export|erase`` with the caller's token."""
    from crm_ops import personal_data

    token = args.token or os.environ.get("CRM_TOKEN")
    if not token:
        from crm_kit.auth import sign_token
        from crm_stack.config import StackConfig

        key = Path(
            os.environ.get("CRM_JWT_PRIVATE_KEY_FILE") or StackConfig.from_env().jwt_private_key
        )
        if not key.exists():
            print("crm: error: give --token (or $CRM_TOKEN)", file=sys.stderr)
            return 1
        token = sign_token(
            key.read_bytes(),
            subject="crm-cli",
            scopes=personal_data.SCOPES,
            roles=("data-protection",),
            issuer=os.environ.get("CRM_JWT_ISSUER", "crm-local"),
            audience=os.environ.get("CRM_JWT_AUDIENCE", "crm"),
        )
    headers = {"Authorization": f"Bearer {token}"}

    async def run() -> object:
        clients = {
            name: httpx.AsyncClient(base_url=getattr(args, name), headers=headers, timeout=30)
            for name in SERVICES
        }
        try:
            if args.personal_command == "erase":
                return await personal_data.erase_person(args.person_id, clients["contacts"])
            return await personal_data.export_person(args.person_id, clients)
        finally:
            for client in clients.values():
                await client.aclose()

    try:
        print(json.dumps(asyncio.run(run()), ensure_ascii=False, indent=2))
    except (personal_data.PersonalDataError, httpx.TransportError) as exc:
        print(f"crm: error: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "personal-data":
        return _personal(args)
    if args.command == "stack":
        from crm_stack.cli import main as stack_main

        return stack_main(args.rest)
    if args.command == "token":
        from crm_kit.tokens import main as token_main

        return token_main(args.rest)
    if args.command == "link-employees":
        return _link(args)
    if args.command == "demo":
        try:
            return _demo(args)
        except KeyboardInterrupt:
            return 130
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # an operator gets one line, not a traceback
        print(f"crm: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
