"""The local test bed: a real Kubernetes control plane, a node agent and an S3 server on loopback.

`hack/cluster` drives it from a shell; `tests/conftest.py` drives it from pytest.
"""
