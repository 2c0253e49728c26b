"""Benchmarks of the run engine, run with `make bench` (see bench/README.md)."""
