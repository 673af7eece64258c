"""Benchmarks of the course: ``make bench`` (``python -m benchmarks``) writes results.json and BENCHMARKS.md."""
