"""deploy/observability: the Grafana dashboard asks only for metrics the kit exposes, and
Prometheus scrapes all four services."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
OBSERVABILITY = REPO / "deploy" / "observability"
DASHBOARD = OBSERVABILITY / "grafana" / "crm-dashboard.json"
PORTS = {"contacts": 8001, "campaigns": 8002, "proposals": 8003, "notify": 8004}

METRICS = {
    "crm_http_request_duration_seconds": {"service", "method", "route", "status"},
    "crm_events_published_total": {"service", "topic"},
    "crm_events_consumed_total": {"service", "group", "outcome"},
    "crm_events_dead_lettered_total": {"service", "group", "topic"},
    "crm_event_handler_retries_total": {"service", "group"},
    "crm_outbox_backlog_documents": {"service"},
}
"""What crm_kit.metrics exposes, with its labels."""
HISTOGRAMS = {"crm_http_request_duration_seconds"}

SERIES = {
    **{f"{h}_{suffix}": METRICS[h] | {"le"} for h in HISTOGRAMS for suffix in ("bucket",)},
    **{f"{h}_{suffix}": METRICS[h] for h in HISTOGRAMS for suffix in ("count", "sum")},
    **{m: labels for m, labels in METRICS.items() if m not in HISTOGRAMS},
}
"""Series names a query may use: a histogram only through its _bucket, _count and _sum."""

PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "and", "or", "unless", "offset",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The series an expression selects: identifiers that are neither functions, keywords,
    label names in matchers or groupings, nor parts of strings or durations."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', " ", expr)  # strings
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word, rest = match.group(), text[match.end() :].lstrip()
        if rest.startswith("(") or word in PROMQL_WORDS or word.startswith("$"):
            continue
        if text[max(match.start() - 1, 0)] == "$":
            continue
        names.add(word)
    return names


def grouping_labels(expr: str) -> set[str]:
    labels = set()
    for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        labels |= {label.strip() for label in group.split(",") if label.strip()}
    return labels


def expressions(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and templating query."""

    def walk(panels: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
        for panel in panels:
            for target in panel.get("targets", []):
                yield panel["title"], target["expr"]
            yield from walk(panel.get("panels", []))

    yield from walk(dashboard["panels"])
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            query = query["query"] if isinstance(query, dict) else query
            # label_values(<series selector>, <label>): the selector is the PromQL part.
            inner = re.fullmatch(r"label_values\((.*),\s*\w+\)", query)
            yield f"variable {variable['name']}", (inner.group(1) if inner else query)


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def test_every_query_names_only_metrics_the_services_expose(dashboard: dict[str, Any]) -> None:
    problems = []
    for where, expr in expressions(dashboard):
        names = metric_names(expr)
        if not names:
            problems.append(f"{where}: selects no metric: {expr}")
        for name in names - set(SERIES):
            problems.append(f"{where}: unknown metric {name}")
        allowed = set().union(*(SERIES.get(n, set()) for n in names))
        for label in grouping_labels(expr) - allowed:
            problems.append(f"{where}: groups by {label}, which {sorted(names)} lack")
    assert problems == []


def test_the_dashboard_shows_every_metric(dashboard: dict[str, Any]) -> None:
    used = set().union(*(metric_names(expr) for _, expr in expressions(dashboard)))
    for metric in METRICS:
        assert any(name == metric or name.startswith(metric + "_") for name in used), metric


def test_the_dashboard_shows_latency_percentiles_by_route_and_the_5xx_rate(
    dashboard: dict[str, Any],
) -> None:
    exprs = [expr for _, expr in expressions(dashboard)]
    for quantile in ("0.5", "0.99"):
        assert any(
            f"histogram_quantile({quantile}," in e and "route" in grouping_labels(e) for e in exprs
        ), quantile
    assert any('status=~"5.."' in e for e in exprs)


def test_the_metric_name_check_rejects_an_unknown_metric() -> None:
    assert metric_names('sum by (service) (rate(crm_http_requests_total{a="b"}[5m]))') == {
        "crm_http_requests_total"
    }
    assert metric_names(
        "histogram_quantile(0.99, sum by (le) (rate(crm_http_request_duration_seconds_bucket"
        "[$__rate_interval])))"
    ) == {"crm_http_request_duration_seconds_bucket"}


def test_local_prometheus_scrapes_the_four_services() -> None:
    config = yaml.safe_load((OBSERVABILITY / "prometheus.yml").read_text())
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    assert targets == {f"127.0.0.1:{port}" for port in PORTS.values()}
    assert all(
        job.get("metrics_path", "/metrics") == "/metrics" for job in config["scrape_configs"]
    )


def test_kubernetes_prometheus_discovers_the_four_services_pods() -> None:
    config = yaml.safe_load((OBSERVABILITY / "prometheus-k8s.yml").read_text())
    [job] = config["scrape_configs"]
    assert job["kubernetes_sd_configs"][0]["role"] == "pod"
    keep = [r for r in job["relabel_configs"] if r.get("action") == "keep"]
    names = next(r for r in keep if "app_kubernetes_io_name" in r["source_labels"][0])
    assert set(names["regex"].split("|")) == set(PORTS)
