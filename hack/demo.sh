#!/usr/bin/env bash
# `make demo`: the quickstart end to end on the local test bed, as docs/walkthrough.md tells it.
# A Benchmark, a ModelIntake and an IterationRun (examples/quickstart, applied unchanged) take
# SmolLM2-135M-Instruct from its baseline through CPU training to a staged candidate; alice
# and bob sign the PromotionGate as themselves; the operator promotes it. MODEL=tiny runs it on
# the ~1 M-parameter test model instead (hack/quickstart_model.py: the intake's model and the
# run's recipe change, nothing else).
#
# Repeatable: a previous demo's namespace and the run's write-once objects in the store are
# removed first. The test bed is reused when it is running and left running at the end
# (`make cluster-stop` stops it); the operator this script starts is stopped on exit.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

NS=modelsmith-demo
RUN=support-triage-run-1
BENCHMARK=support-triage
INTAKE=support-triage
BUCKET=modelsmith
QUICKSTART=examples/quickstart
MODEL=${MODEL:-real}
case $MODEL in
    tiny) model_uri=s3://$BUCKET/models/tiny-support-base/ ;; # where examples/quickstart says
    real) model_uri=s3://$BUCKET/models/smollm2-135m-instruct/ ;;
    *)
        echo "MODEL must be tiny or real, not '$MODEL'" >&2
        exit 2
        ;;
esac
PY=$repo/.venv/bin/python
QUICKSTART_MODEL=("$PY" "$repo/hack/quickstart_model.py")
WATCH=("$PY" "$repo/hack/demo_watch.py")
began=$SECONDS
operator_pid=""

bold="" plain=""
if [[ -t 1 ]]; then
    bold=$'\033[1m' plain=$'\033[0m'
fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
note() { printf '    %s\n' "$*"; }
elapsed() {
    local s=$((SECONDS - began))
    printf '%dm%02ds' $((s / 60)) $((s % 60))
}

stop_operator() {
    if [[ -n $operator_pid ]] && kill -0 "$operator_pid" 2>/dev/null; then
        kill "$operator_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$operator_pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -9 "$operator_pid" 2>/dev/null || true
        wait "$operator_pid" 2>/dev/null || true
    fi
    operator_pid=""
}

# The newest Job pods' output, this demo's only (newer than its operator log): what a trainer
# or evaluator said before it failed.
show_pod_logs() {
    local dir=${testbed_dir:-}/pods/$NS log
    [[ -n ${testbed_dir:-} && -d $dir && -f ${operator_log:-} ]] || return 0
    find "$dir" -mindepth 2 -maxdepth 2 -name '*.log' -newer "$operator_log" -printf '%T@ %p\n' |
        sort -n | tail -n 2 |
        while read -r _ log; do
            printf -- '--- %s (last lines)\n' "${log#"$dir"/}"
            tail -n 8 "$log"
        done
}

# Waits for a resource's Ready condition, then shows it as `kubectl get` does; on failure the
# condition's reason and message say what is missing.
wait_ready() {
    local kind=$1 name=$2
    if ! kubectl -n "$NS" wait --for=condition=Ready --timeout=120s "$kind/$name" >/dev/null; then
        kubectl -n "$NS" get "$kind" "$name" \
            -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}' >&2
        return 1
    fi
    kubectl -n "$NS" get "$kind" "$name"
}

on_exit() {
    local rc=$?
    stop_operator
    if ((rc != 0)); then
        printf '\ndemo failed (exit %d) after %s\n' "$rc" "$(elapsed)" >&2
        if [[ -n ${operator_log:-} && -s $operator_log ]]; then
            printf 'operator log, last lines other than handler successes (%s):\n' \
                "$operator_log" >&2
            grep -v "Handler '.*' succeeded" "$operator_log" | tail -n 20 >&2 || true
        fi
        show_pod_logs >&2 || true
        printf 'pod logs: %s/pods/%s/; test bed logs: hack/cluster logs\n' \
            "${testbed_dir:-.testbed}" "$NS" >&2
    fi
    printf 'the test bed is still running (KUBECONFIG=%s); stop it with: make cluster-stop\n' \
        "${KUBECONFIG:-.testbed/kubeconfig}" >&2
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[[ -x $PY ]] || {
    echo "no virtual environment at .venv: run \`make demo\` (it creates one)" >&2
    exit 1
}

# --- the test bed ------------------------------------------------------------------------------
step "Test bed: control plane, node agent and object store (reused when already running)"
hack/cluster start
eval "$(hack/cluster env)"
# kubectl plugins are found on PATH: kubectl-modelsmith lives in the venv.
export PATH="$PATH:$repo/.venv/bin"
testbed_dir=$MODELSMITH_TESTBED_DIR
operator_log=$testbed_dir/logs/demo-operator.log
kubectl get nodes

step "CRDs and the admission policies (who may sign a PromotionGate; which intakes may use a target)"
# --force-conflicts: the checked-in CRDs are the truth, whoever applied them before.
kubectl apply --server-side --force-conflicts -f crds/
kubectl wait --for condition=Established --timeout=60s \
    crd/benchmarks.modelsmith.io crd/modelintakes.modelsmith.io \
    crd/iterationruns.modelsmith.io crd/promotiongates.modelsmith.io \
    crd/executiontargets.modelsmith.io

# --- a clean namespace -------------------------------------------------------------------------
if kubectl get namespace "$NS" >/dev/null 2>&1; then
    step "Removing the previous demo's namespace $NS"
    kubectl delete namespace "$NS" --wait=true --timeout=300s
fi
# No store clean-up: a run's artefacts are keyed by its UID (runs/<ns>/<run>-<key>/), so the
# demo's new run starts on an empty prefix whatever earlier demos left in the bucket.

# --- the operator ------------------------------------------------------------------------------
step "Operator (log: ${operator_log#"$repo"/})"
metrics_port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Watches only the demo namespace, so it never acts on another test's objects in a shared bed.
MODELSMITH_BUCKET=$BUCKET MODELSMITH_METRICS_PORT=$metrics_port MODELSMITH_REQUEUE_SECONDS=2 \
    PYTHONUNBUFFERED=1 "$PY" -m modelsmith.cli operator --namespace "$NS" >"$operator_log" 2>&1 &
operator_pid=$!
for _ in $(seq 1 60); do
    kill -0 "$operator_pid" 2>/dev/null || {
        echo "the operator exited while starting" >&2
        exit 1
    }
    if "$PY" -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" \
        "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null; then
        break
    fi
    sleep 1
done
note "pid $operator_pid, metrics on http://127.0.0.1:$metrics_port/metrics"

# --- the base model ----------------------------------------------------------------------------
if [[ $MODEL == real ]]; then
    step "Real base model: SmolLM2-135M-Instruct from the cache (converted first if absent), uploaded"
else
    step "Tiny base model: built offline from the benchmark's vocabulary, uploaded to the store"
fi
"${QUICKSTART_MODEL[@]}" publish "$MODEL" "$model_uri"

# --- namespace, runner identity, object-store credentials, approvers ----------------------------
step "Namespace $NS: ServiceAccount modelsmith-runner, Secret modelsmith-object-store, approver RBAC"
kubectl create namespace "$NS"
kubectl -n "$NS" create serviceaccount modelsmith-runner
# The Jobs' credential, not the operator's: the store lets it write iteration outputs only.
kubectl -n "$NS" create secret generic modelsmith-object-store \
    --from-literal=AWS_ACCESS_KEY_ID="$MODELSMITH_TESTBED_JOB_ACCESS_KEY_ID" \
    --from-literal=AWS_SECRET_ACCESS_KEY="$MODELSMITH_TESTBED_JOB_SECRET_ACCESS_KEY" \
    --from-literal=AWS_ENDPOINT_URL_S3="$AWS_ENDPOINT_URL_S3" \
    --from-literal=AWS_DEFAULT_REGION="$AWS_DEFAULT_REGION"
# RBAC lets the approvers read runs and sign gates; the admission policy (crds/) still decides
# which role each of them may sign, and only as themselves.
kubectl apply -f - <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: modelsmith-approver
  namespace: $NS
rules:
  - apiGroups: [modelsmith.io]
    resources: [promotiongates]
    verbs: [get, list, watch, patch]
  - apiGroups: [modelsmith.io]
    resources: [iterationruns, modelintakes, benchmarks]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: modelsmith-approvers
  namespace: $NS
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: modelsmith-approver
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}
  - {apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}
  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: domain-owners}
  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: engineering-owners}
EOF

# --- the walkthrough (docs/walkthrough.md), with examples/quickstart applied unchanged ---------
step "1. Define what better means: Benchmark $BENCHMARK (examples/quickstart/benchmark.yaml)"
kubectl apply -f "$QUICKSTART/benchmark.yaml"
wait_ready bench "$BENCHMARK"

step "2. Select the model and boundary: ModelIntake $INTAKE (examples/quickstart/intake.yaml)"
note "on the platform admin's ExecutionTarget (examples/quickstart/execution-target.yaml): it"
note "admits $NS only, and the intake may only narrow it"
kubectl apply -f "$QUICKSTART/execution-target.yaml"
kubectl apply -f "$QUICKSTART/serving-pointer.yaml"
# The execution-target admission policy resolves its paramKind (the CRD installed above) some
# seconds after the CRD is Established, and refuses every intake until then ("failed to
# configure policy"): that refusal alone is worth another try.
for attempt in $(seq 1 30); do
    if applied=$("${QUICKSTART_MODEL[@]}" patch "$MODEL" "$QUICKSTART/intake.yaml" \
            --uri "$model_uri" | kubectl apply -f - 2>&1); then
        echo "$applied"
        break
    fi
    if [[ $applied != *"failed to configure policy"* || $attempt -eq 30 ]]; then
        echo "$applied" >&2
        exit 1
    fi
    sleep 2
done
wait_ready intake "$INTAKE"

step "3. Run the loop: IterationRun $RUN (examples/quickstart/run.yaml)"
# Admission wants the creating user's name in modelsmith.io/requested-by (they cannot sign).
me=$(kubectl auth whoami -o jsonpath='{.status.userInfo.username}')
"${QUICKSTART_MODEL[@]}" patch "$MODEL" "$QUICKSTART/run.yaml" |
    kubectl annotate --local -f - "modelsmith.io/requested-by=$me" -o yaml |
    kubectl apply -f -
note "following it (UTC times; one line per change in status: phase transitions, training"
note "progress, finished iterations); in another shell: eval \"\$(hack/cluster env)\"; kubectl"
note "get irun -n $NS -w -o wide"
if ! "${WATCH[@]}" run "$RUN" -n "$NS" --benchmark "$BENCHMARK" --intake "$INTAKE" \
    --operator-pid "$operator_pid"; then
    kubectl modelsmith status "$RUN" -n "$NS" || true
    exit 1
fi

gate=$(kubectl -n "$NS" get irun "$RUN" -o jsonpath='{.status.gateName}')
[[ -n $gate ]] || {
    echo "the run is Staged but names no PromotionGate" >&2
    exit 1
}

step "4. Review the evidence: PromotionGate $gate"
kubectl modelsmith status "$RUN" -n "$NS"
echo
kubectl modelsmith evidence "$gate" -n "$NS"

# --- sign-offs ---------------------------------------------------------------------------------
sign() {
    local user=$1 role=$2 digest
    note "kubectl modelsmith approve $gate --role $role --as $user -n $NS"
    if ! kubectl modelsmith approve "$gate" --role "$role" --as "$user" -n "$NS"; then
        digest=$(kubectl -n "$NS" get gate "$gate" -o jsonpath='{.spec.evidence.digest}')
        note "the plugin could not sign; annotating directly as $user"
        kubectl -n "$NS" annotate gate "$gate" --as "$user" --overwrite \
            "approval.modelsmith.io/$role=approved:$user:${digest:7:12}"
    fi
}

step "5. Promote: alice signs as domain-owner (1/2)"
sign alice domain-owner
"${WATCH[@]}" gate "$gate" -n "$NS" --approvals 1

step "5. Promote: bob signs as engineering-owner (2/2)"
sign bob engineering-owner
"${WATCH[@]}" gate "$gate" -n "$NS" --state Promoted

# --- summary -----------------------------------------------------------------------------------
step "Done in $(elapsed): candidate promoted"
aws_flag=()
command -v aws >/dev/null 2>&1 && aws_flag=(--have-aws)
"${WATCH[@]}" summary "$RUN" -n "$NS" --bucket "$BUCKET" "${aws_flag[@]}"
echo
kubectl get modelsmith -n "$NS"
echo
note "ledger and history:  kubectl modelsmith status $RUN -n $NS"
note "evidence:            kubectl modelsmith evidence $gate -n $NS"
note "roll back:           kubectl modelsmith rollback $gate --as bob -n $NS"
note "operator log:        ${operator_log#"$repo"/} (the operator stops with this script)"
note "shell for kubectl:   eval \"\$(hack/cluster env)\"; export PATH=\$PATH:$repo/.venv/bin"
printf '\n%sTotal wall time: %s%s\n' "$bold" "$(elapsed)" "$plain"
