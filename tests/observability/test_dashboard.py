"""Every metric the provisioned Grafana dashboard queries exists at /metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
# PromQL words that are not metric names.
PROMQL = {"sum", "rate", "increase", "histogram_quantile", "max", "min", "avg", "by", "without", "le", "count"}
_NAME = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*=)")


def queried_metrics(dashboard: dict[str, Any]) -> set[str]:
    """Metric names in the panels' exprs: identifiers that are not functions, labels or numbers."""
    names = set()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", target["expr"])  # label matchers, ranges
            expr = re.sub(r"\b(?:by|without)\s*\([^)]*\)", "", expr)  # grouping labels
            names |= {n for n in _NAME.findall(expr) if n not in PROMQL and not n[0].isdigit()}
    return names


SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def exposed_names() -> set[str]:
    """Sample names /metrics serves, or would once a labelled series has its first value (a
    family's HELP and TYPE lines come before any sample)."""
    body = Client().get("/metrics").content.decode()
    names = set()
    for family in text_string_to_metric_families(body):
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
        names |= {s.name for s in family.samples}
    return names


@pytest.mark.django_db
def test_every_dashboard_metric_is_served():
    assert DASHBOARDS, "no dashboard in deploy/grafana/dashboards"
    served = exposed_names()
    for path in DASHBOARDS:
        wanted = queried_metrics(json.loads(path.read_text()))
        assert len(wanted) >= 10, wanted
        assert wanted <= served, f"{path.name} queries metrics /metrics does not serve: {sorted(wanted - served)}"


def test_the_provisioning_points_at_the_dashboards_and_prometheus():
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/dashboards.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    source = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    (datasource,) = source["datasources"]
    uids = {
        t["datasource"]["uid"]
        for p in DASHBOARDS
        for panel in json.loads(p.read_text())["panels"]
        for t in panel["targets"]
    }
    assert uids == {datasource["uid"]}
    scrape = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    assert scrape["scrape_configs"][0]["metrics_path"] == "/metrics"
