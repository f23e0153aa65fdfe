"""Benchmarks that print figures (see docs/benchmarks.md); none asserts on time."""
