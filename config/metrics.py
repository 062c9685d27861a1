"""``/metrics``: every metric of this host's processes in Prometheus text format.

With ``PROMETHEUS_MULTIPROC_DIR`` set, the values of every process that writes there (web
processes, Celery workers) are summed at each scrape; otherwise this process's registry is
served. The review queue figures are read from the database (``review.metrics``). Open when
``METRICS_TOKEN`` is unset (keep the endpoint off the public network), else only with
``Authorization: Bearer <METRICS_TOKEN>``.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from review.metrics import QueueCollector

_queue = QueueCollector()


def registry() -> CollectorRegistry:
    """What one scrape serves: all processes' files (multiprocess) or this process, plus the queue."""
    scrape = CollectorRegistry()
    if settings.PROMETHEUS_MULTIPROC_DIR:
        # prometheus_client leaves this constructor unannotated.
        multiprocess.MultiProcessCollector(scrape, path=settings.PROMETHEUS_MULTIPROC_DIR)  # type: ignore[no-untyped-call]
    else:
        scrape.register(_Default())
    scrape.register(_queue)
    return scrape


class _Default(Collector):
    """The process's default registry as one collector (so the queue collector can join it)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def _authorized(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        return True
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _authorized(request):
        response = HttpResponse("Send Authorization: Bearer <METRICS_TOKEN>.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
