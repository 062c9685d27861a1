"""Metrics and structured logs: Django-free, below every app (config → review → chat → guardrails → observability).

``observability.metrics`` defines every Prometheus metric once; ``observability.logs`` holds the
request, conversation and message ids of what is running (contextvars) and the JSON formatter.
"""
