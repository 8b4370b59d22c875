"""`crm-stack up|down|status|env|logs`: local Kafka, MongoDB and OIDC provider, without Docker."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from crm_stack import security, services, stack
from crm_stack.config import StackConfig
from crm_stack.errors import EXIT_ERROR, EXIT_NOT_RUNNING, StackError
from crm_stack.proc import tail_lines


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crm-stack",
        description=(
            "Local Kafka 4 broker (KRaft, from Maven Central jars) and MongoDB 6.0.5 (mongod from "
            "a PyPI wheel, a single-node replica set) and Keycloak (the OpenID Connect "
            "provider, from Maven Central), no Docker. State in $CRM_STACK_DIR "
            "(default <repo>/.stack), downloads in $CRM_STACK_CACHE (default "
            "~/.cache/crm-stack); ports from "
            "CRM_STACK_KAFKA_PORT, CRM_STACK_CONTROLLER_PORT, CRM_STACK_MONGO_PORT, "
            "CRM_STACK_KEYCLOAK_PORT."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p_up = sub.add_parser("up", help="start the stack (fetch/build once) and wait until ready")
    p_up.add_argument(
        "--kafka-timeout",
        type=float,
        default=None,
        help="seconds to wait for the broker (default 120, or $CRM_STACK_KAFKA_TIMEOUT)",
    )
    p_up.add_argument(
        "--mongo-timeout",
        type=float,
        default=None,
        help="seconds to wait for mongod (default 60, or $CRM_STACK_MONGO_TIMEOUT)",
    )

    p_up.add_argument(
        "--with-services", action="store_true", help="also start the four services and the console"
    )

    p_down = sub.add_parser("down", help="stop what `up` started")
    p_down.add_argument("--purge", action="store_true", help="also delete the data, logs and keys")
    p_down.add_argument(
        "--with-services",
        action="store_true",
        help="also stop the four services and the console first",
    )

    p_status = sub.add_parser(
        "status", help="show what runs; exit 0 if all is up and ready, 3 otherwise"
    )
    p_status.add_argument("--with-services", action="store_true", help="include the services")
    sub.add_parser(
        "run",
        help="stack, the four services and the console in the foreground; Ctrl-C stops them all",
    )
    sub.add_parser("env", help="print `export` lines for the services and tests")
    p_acls = sub.add_parser("acls", help="print the broker ACLs derived from the services' specs")
    p_acls.add_argument(
        "--write",
        action="store_true",
        help="write them for compose (deploy/compose/kafka-acls.txt) and k8s "
        "(deploy/k8s/base/kafka-users/users.yaml)",
    )

    p_realm = sub.add_parser(
        "realm-import",
        help="print the k8s overlays' realm imports made from deploy/local/keycloak/crm-realm.json",
    )
    p_realm.add_argument(
        "--write",
        action="store_true",
        help="write them (deploy/k8s/overlays/<overlay>/realm-import.yaml)",
    )
    p_realm.add_argument(
        "--overlay", choices=["dev", "prod"], default=None, help="print only this overlay's"
    )

    p_logs = sub.add_parser("logs", help="print the tail of a log")
    p_logs.add_argument(
        "component", nargs="?", choices=["kafka", "mongod", "keycloak"], default=None
    )
    p_logs.add_argument("-n", "--lines", type=int, default=50, help="how many lines (default 50)")
    return parser


def _logs(cfg: StackConfig, component: str | None, count: int) -> int:
    files = {
        "kafka": [cfg.kafka_log, cfg.kafka_console_log],
        "mongod": [cfg.mongo_log],
        "keycloak": [cfg.keycloak_log],
    }
    names = [component] if component else ["kafka", "mongod", "keycloak"]
    for name in names:
        for path in files[name]:
            lines = tail_lines(path, count)
            if not lines and path == cfg.kafka_console_log:
                continue  # the JVM console is usually empty; the broker logs to kafka-server.log
            print(f"==> {path} <==")
            print("\n".join(lines) if lines else "(empty or missing)")
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    """The CLI without the exception-to-message wrapping (raises StackError)."""
    args = _parser().parse_args(argv)
    cfg = StackConfig.from_env()
    if args.command == "up":
        timeouts = {"kafka_timeout": args.kafka_timeout, "mongo_timeout": args.mongo_timeout}
        if args.with_services:
            services.up_with_stack(cfg, **timeouts)
        else:
            stack.up(cfg, **timeouts)
        return 0
    if args.command == "down":
        if args.with_services:
            services.down(cfg)
        stack.down(cfg, purge=args.purge)
        return 0
    if args.command == "run":
        services.run(cfg)
        return 0
    if args.command == "status":
        states = stack.status(cfg)
        for state in states:
            print(state.line())
        for label, path in cfg.whereabouts().items():
            print(f"{label:<9} {path}")
        ok = all(s.ok for s in states)
        if args.with_services:
            lines, services_ok = services.status_lines(cfg)
            print("\n".join(lines))
            ok = ok and services_ok
        return 0 if ok else EXIT_NOT_RUNNING
    if args.command == "env":
        # The stack's own folder too, so that a shell which evaluates this finds the same
        # stack from any folder (make token, crm, crm-stack status).
        print(f"export CRM_STACK_DIR={shlex.quote(str(cfg.state_dir))}")
        for key, value in security.client_env(cfg).items():
            print(f"export {key}={shlex.quote(value)}")
        for label, path in cfg.whereabouts().items():
            print(f"# {label}: {path}")
        return 0
    if args.command == "acls":
        from crm_stack import manifests

        if args.write:
            for written in manifests.write():
                print(f"wrote {written}")
        else:
            print(manifests.compose_acls(), end="")
        return 0
    if args.command == "realm-import":
        from crm_stack import realm_import

        if args.write:
            for written in realm_import.write():
                print(f"wrote {written}")
        else:
            for name in [args.overlay] if args.overlay else list(realm_import.OVERLAYS):
                print(realm_import.render(name), end="")
        return 0
    if args.command == "logs":
        return _logs(cfg, args.component, args.lines)
    raise AssertionError(args.command)  # argparse rejects anything else


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: a failure becomes one line on stderr (plus log tails) and exit 1."""
    try:
        return run(argv)
    except StackError as exc:
        print(f"crm-stack: error: {exc.message}", file=sys.stderr, flush=True)
        for line in exc.details:
            print(f"    {line}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:  # e.g. a state dir that cannot be written
        print(f"crm-stack: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("crm-stack: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
