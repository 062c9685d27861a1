"""Benchmark scripts (not tests): each prints its figures and exits 0."""
