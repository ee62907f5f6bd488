"""Helpers for hack/bench/bench_operator.py: identities, workload, observation, the table."""
