"""Benchmarks: `python -m bench` runs every figure against its bare baseline (bench/suite.py)."""
