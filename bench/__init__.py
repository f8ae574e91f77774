"""Benchmarks of the tradelake jobs (make bench); see docs/benchmarks.md."""
