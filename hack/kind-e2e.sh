#!/usr/bin/env bash
# The quickstart end to end on the kind cluster hack/kind-up.sh made, for people with Docker.
# (CI and `make demo` run the same story on the local control plane; this script is not run by
# CI.) Applies examples/quickstart, waits until the run is Staged, signs the PromotionGate off
# as alice (domain-owner) and bob (engineering-owner) through `kubectl modelsmith approve --as`,
# and checks the gate reaches Promoted and the serving pointer names the candidate.
#
# Needs: kubectl on PATH, the repository's .venv (for the tiny base model, the upload and the
# kubectl-modelsmith plugin; set PYTHON to use another interpreter with the package installed).
#
#   hack/kind-up.sh && hack/kind-e2e.sh
#
# The base model: hack/tiny_model.py builds the tiny support model offline; set
# MODELSMITH_BASE_MODEL_DIR to upload a model folder you already have instead.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cluster=${KIND_CLUSTER_NAME:-modelsmith}
namespace=${MODELSMITH_NAMESPACE:-modelsmith-system}
demo=modelsmith-demo # examples/quickstart names this namespace
bucket=${MODELSMITH_BUCKET:-modelsmith}
timeout_minutes=${MODELSMITH_E2E_TIMEOUT_MINUTES:-45}
python=${PYTHON:-$repo/.venv/bin/python}
[[ -x $python ]] || python=python3
context="kind-$cluster"
run=support-triage-run-1
quickstart=$repo/examples/quickstart

log() { printf '[kind-e2e %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
kc() { kubectl --context "$context" "$@"; }
plugin() { "$python" -m modelsmith.cli.kubectl_plugin "$@" --context "$context" -n "$demo"; }

command -v kubectl >/dev/null || die "kubectl is not on PATH"
kc get deployment -n "$namespace" -l app.kubernetes.io/name=modelsmith -o name | grep -q . \
  || die "no Modelsmith operator in $namespace on $context: run hack/kind-up.sh first"
[[ -f $quickstart/benchmark.yaml ]] || die "examples/quickstart/benchmark.yaml is missing"

# --- the quickstart's prerequisites: runner ServiceAccount, base model in the bucket ---------
kc create namespace "$demo" --dry-run=client -o yaml | kc apply -f - >/dev/null
kc -n "$demo" create serviceaccount modelsmith-runner --dry-run=client -o yaml \
  | kc apply -f - >/dev/null
kc -n "$demo" get secret modelsmith-object-store >/dev/null \
  || die "Secret $demo/modelsmith-object-store is missing: run hack/kind-up.sh"

work=$(mktemp -d)
forward=""
cleanup() {
  [[ -n $forward ]] && kill "$forward" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

model_dir=${MODELSMITH_BASE_MODEL_DIR:-}
if [[ -z $model_dir ]]; then
  log "building the tiny base model"
  model_dir=$work/tiny-support-base
  "$python" "$repo/hack/tiny_model.py" --output "$model_dir"
fi
[[ -d $model_dir ]] || die "base model folder $model_dir does not exist"

# The base model goes in with the operator's credential: the Jobs' may write iteration outputs only.
secret() { kc -n "$namespace" get secret modelsmith-operator-object-store -o jsonpath="{.data.$1}" | base64 -d; }
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
kc -n "$namespace" port-forward svc/minio "$port:9000" >/dev/null 2>&1 &
forward=$!
log "uploading the base model to s3://$bucket/models/tiny-support-base/"
AWS_ACCESS_KEY_ID=$(secret AWS_ACCESS_KEY_ID) AWS_SECRET_ACCESS_KEY=$(secret AWS_SECRET_ACCESS_KEY) \
AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT_URL_S3="http://127.0.0.1:$port" \
  "$python" - "$model_dir" "s3://$bucket/models/tiny-support-base/" <<'EOF'
import sys
import time
from pathlib import Path

from botocore.exceptions import EndpointConnectionError

from modelsmith.contract import objectstore

source, target = Path(sys.argv[1]), sys.argv[2]
deadline = time.monotonic() + 30
while True:  # the port-forward takes a moment to listen
    try:
        objectstore.upload_dir(source, target)
        break
    except EndpointConnectionError:
        if time.monotonic() > deadline:
            raise
        time.sleep(1)
EOF

# --- run the loop ----------------------------------------------------------------------------
log "applying the quickstart"
# The ExecutionTarget first: it is the platform admin's, and the intake names it.
kc apply -f "$quickstart/execution-target.yaml"
kc apply -f "$quickstart/benchmark.yaml" -f "$quickstart/serving-pointer.yaml" \
  -f "$quickstart/intake.yaml"
# Admission wants the creating user's name in modelsmith.io/requested-by (they cannot sign).
me=$(kc auth whoami -o jsonpath='{.status.userInfo.username}')
kc annotate --local -f "$quickstart/run.yaml" "modelsmith.io/requested-by=$me" -o yaml |
  kc apply -f -

phase() { kc -n "$demo" get irun "$run" -o jsonpath='{.status.phase}'; }
deadline=$((SECONDS + timeout_minutes * 60))
last=""
while :; do
  current=$(phase)
  if [[ $current != "$last" ]]; then
    log "run phase: ${current:-<none yet>}"
    last=$current
  fi
  case $current in
    Staged) break ;;
    Plateaued | Failed | Stopped)
      plugin status "$run" || true
      die "the run ended $current instead of Staged" ;;
  esac
  if ((SECONDS > deadline)); then
    plugin status "$run" || true
    die "the run did not reach Staged within $timeout_minutes minutes"
  fi
  sleep 10
done
plugin status "$run"

# --- sign off and promote --------------------------------------------------------------------
gate=$(kc -n "$demo" get irun "$run" -o jsonpath='{.status.gateName}')
[[ -n $gate ]] || die "the Staged run names no PromotionGate"
plugin evidence "$gate"

# The kind admin may impersonate; the admission policy sees alice and bob, as it would if they
# ran the command with their own credentials. Order matters: the domain owner signs first.
plugin approve "$gate" --role domain-owner --as alice --as-group domain-owners
plugin approve "$gate" --role engineering-owner --as bob --as-group engineering-owners

state() { kc -n "$demo" get gate "$gate" -o jsonpath='{.status.state}'; }
deadline=$((SECONDS + 300))
until [[ $(state) == Promoted ]]; do
  if ((SECONDS > deadline)); then
    plugin evidence "$gate" || true
    die "gate $gate is $(state), not Promoted, five minutes after both approvals"
  fi
  sleep 5
done
plugin evidence "$gate"

serving=$(kc -n "$demo" get configmap support-triage-serving -o jsonpath='{.data.model}')
candidate=$(kc -n "$demo" get gate "$gate" -o jsonpath='{.spec.candidate.label}')
[[ $serving == *"$candidate"* ]] || die "the serving pointer reads '$serving', not the candidate $candidate"
log "promoted: $candidate is served (ConfigMap $demo/support-triage-serving)"
