"""Benchmarks for osq-esf (``make bench`` / ``python -m bench``): P1-P5 of docs/performance.md."""
