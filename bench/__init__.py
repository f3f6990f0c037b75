"""Benchmarks: the webhook load driver (`python -m bench.webhook_load`) and its baseline."""
