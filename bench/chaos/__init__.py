"""Chaos harness: many runs on the production Lambda path under host kills, duplicate
deliveries and injected AWS faults, then recovery, then a check of every run's log.

    .venv/bin/python -m bench.chaos [--runs 100] [--hosts 3] [--chaos-seconds 60] [--json-only]

See `bench/chaos/driver.py` for what it does and what the report means.
"""
