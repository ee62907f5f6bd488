"""Helpers for hack/bench/bench_operator.py: identities, workload, the phases, observation, the
table."""
