"""Benchmarks and corpus generators (not part of the runtime packages)."""
