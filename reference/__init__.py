"""Oracles and baselines written from other people's code; the platform never uses them (tests and benchmarks do)."""
