#!/usr/bin/env bash
# Modelsmith on a kind cluster, for people with Docker. (The tests and `make demo` use the local
# control plane in hack/cluster instead and need no Docker; this script is not run by CI.)
#
# Needs: docker, kind, kubectl, helm on PATH, and a Python with boto3 (the repository's .venv
# after `make venv`, or set PYTHON). Idempotent: a second run rebuilds the images, reloads them
# and upgrades the release.
#
#   hack/kind-up.sh            # cluster "modelsmith", operator in namespace modelsmith-system
#   hack/kind-e2e.sh           # then: the quickstart end to end, through approval to promotion
#
# What it does:
#   1. creates the kind cluster (KIND_CLUSTER_NAME, default modelsmith) unless it exists;
#   2. builds the three images with the tags the chart and the quickstart name:
#        modelsmith/operator:0.1.0   from operator/Dockerfile
#        modelsmith/trainer:0.1.0    from trainer-image/Dockerfile
#        modelsmith/evaluator:0.1.0  from evaluator-image/Dockerfile
#      and loads them into the cluster's nodes (no registry involved);
#   3. runs MinIO (one pod, emptyDir storage: a demo store, not a production one) as the S3
#      server, with credentials generated here and kept only in Secrets, creates the versioned
#      bucket and two MinIO users: the operator's and the Jobs' (iteration outputs only);
#   4. helm-installs charts/modelsmith with the object-store endpoint and the approver groups the
#      quickstart uses (domain-owners, engineering-owners).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cluster=${KIND_CLUSTER_NAME:-modelsmith}
namespace=${MODELSMITH_NAMESPACE:-modelsmith-system}
demo_namespace=${MODELSMITH_DEMO_NAMESPACE:-modelsmith-demo}
tag=${MODELSMITH_TAG:-0.1.0}
bucket=${MODELSMITH_BUCKET:-modelsmith}
minio_image=${MINIO_IMAGE:-quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z}
python=${PYTHON:-$repo/.venv/bin/python}
[[ -x $python ]] || python=python3
context="kind-$cluster"

log() { printf '[kind-up %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
kc() { kubectl --context "$context" "$@"; }

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || die "$tool is not on PATH (this script is for machines with Docker)"
done
"$python" -c 'import boto3' 2>/dev/null || die "$python cannot import boto3 (run make venv, or set PYTHON)"

# --- 1. cluster ------------------------------------------------------------------------------
if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  log "kind cluster $cluster exists"
else
  log "creating kind cluster $cluster"
  kind create cluster --name "$cluster" --wait 120s
fi

# --- 2. images -------------------------------------------------------------------------------
build_and_load() { # <image> <dockerfile>
  local image=$1 dockerfile=$2
  [[ -f $repo/$dockerfile ]] || die "$dockerfile is missing"
  log "building $image from $dockerfile"
  docker build --file "$repo/$dockerfile" --tag "$image" "$repo"
  log "loading $image into $cluster"
  kind load docker-image "$image" --name "$cluster"
}
build_and_load "modelsmith/operator:$tag" operator/Dockerfile
build_and_load "modelsmith/trainer:$tag" trainer-image/Dockerfile
build_and_load "modelsmith/evaluator:$tag" evaluator-image/Dockerfile

# --- 3. object store -------------------------------------------------------------------------
kc create namespace "$namespace" --dry-run=client -o yaml | kc apply -f - >/dev/null
kc create namespace "$demo_namespace" --dry-run=client -o yaml | kc apply -f - >/dev/null

if ! kc -n "$namespace" get secret minio-root >/dev/null 2>&1; then
  log "generating object-store credentials"
  kc -n "$namespace" create secret generic minio-root \
    --from-literal=MINIO_ROOT_USER="modelsmith-$(openssl rand -hex 4)" \
    --from-literal=MINIO_ROOT_PASSWORD="$(openssl rand -hex 24)" >/dev/null
fi
access_key=$(kc -n "$namespace" get secret minio-root -o jsonpath='{.data.MINIO_ROOT_USER}' | base64 -d)
secret_key=$(kc -n "$namespace" get secret minio-root -o jsonpath='{.data.MINIO_ROOT_PASSWORD}' | base64 -d)
endpoint="http://minio.$namespace.svc.cluster.local:9000"

log "running MinIO ($minio_image)"
kc -n "$namespace" apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: minio
  labels: {app.kubernetes.io/name: minio}
spec:
  replicas: 1
  selector:
    matchLabels: {app.kubernetes.io/name: minio}
  template:
    metadata:
      labels: {app.kubernetes.io/name: minio}
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
        fsGroup: 1000
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: minio
          image: $minio_image
          args: [server, /data, --address, ":9000"]
          envFrom:
            - secretRef: {name: minio-root}
          ports:
            - {name: s3, containerPort: 9000}
          readinessProbe:
            httpGet: {path: /minio/health/ready, port: s3}
          securityContext:
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
          volumeMounts:
            - {name: data, mountPath: /data}
      volumes:
        - name: data
          emptyDir: {}
---
apiVersion: v1
kind: Service
metadata:
  name: minio
spec:
  selector: {app.kubernetes.io/name: minio}
  ports:
    - {name: s3, port: 9000, targetPort: s3}
EOF
kc -n "$namespace" rollout status deployment/minio --timeout=180s

# Two credentials (docs/security.md): the operator's, which may write every run's ledger/ and
# evidence/, and the Jobs', which MinIO lets write iteration outputs only. Each is a MinIO user
# with the policy `modelsmith store-policy` prints; the root credentials stay in minio-root.
# mc runs inside the MinIO pod (its image ships it), reaching the server on loopback.
mc() { kc -n "$namespace" exec -i deploy/minio -- env MC_CONFIG_DIR=/tmp/mc \
  MC_HOST_local="http://$access_key:$secret_key@127.0.0.1:9000" mc "$@"; }
store_user() { # <user> <policy: operator|jobs> <secret name> <secret namespace>
  local user=$1 policy=$2 name=$3 ns=$4 password
  password=$(kc -n "$ns" get secret "$name" -o jsonpath='{.data.AWS_SECRET_ACCESS_KEY}' 2>/dev/null \
    | base64 -d || true)
  [[ -n $password ]] || password=$(openssl rand -hex 24)
  PYTHONPATH="$repo/operator" "$python" -m modelsmith.cli store-policy "$policy" --bucket "$bucket" \
    | mc admin policy create local "modelsmith-$policy" /dev/stdin >/dev/null
  mc admin user add local "$user" "$password" >/dev/null
  mc admin policy attach local "modelsmith-$policy" --user "$user" >/dev/null 2>&1 || true
  kc -n "$ns" create secret generic "$name" \
    --from-literal=AWS_ACCESS_KEY_ID="$user" \
    --from-literal=AWS_SECRET_ACCESS_KEY="$password" \
    --from-literal=AWS_ENDPOINT_URL_S3="$endpoint" \
    --from-literal=AWS_DEFAULT_REGION=us-east-1 \
    --dry-run=client -o yaml | kc apply -f - >/dev/null
}

log "creating bucket $bucket (through a port-forward)"
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
kc -n "$namespace" port-forward svc/minio "$port:9000" >/dev/null 2>&1 &
forward=$!
trap 'kill "$forward" 2>/dev/null || true' EXIT
AWS_ACCESS_KEY_ID=$access_key AWS_SECRET_ACCESS_KEY=$secret_key AWS_DEFAULT_REGION=us-east-1 \
  "$python" - "http://127.0.0.1:$port" "$bucket" <<'EOF'
import sys
import time

import boto3
from botocore.exceptions import ClientError, EndpointConnectionError

endpoint, bucket = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=endpoint)
deadline = time.monotonic() + 60
while True:
    try:
        s3.create_bucket(Bucket=bucket)
        break
    except ClientError as e:
        if e.response["Error"]["Code"] in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            break
        raise
    except EndpointConnectionError:
        if time.monotonic() > deadline:
            raise
        time.sleep(1)
print(f"bucket {bucket} ready", file=sys.stderr)
EOF
log "versioning on for $bucket; the operator's and the Jobs' MinIO users and policies"
mc version enable "local/$bucket" >/dev/null
store_user modelsmith-operator operator modelsmith-operator-object-store "$namespace"
store_user modelsmith-jobs jobs modelsmith-object-store "$demo_namespace"

# --- 4. the chart ----------------------------------------------------------------------------
log "installing the chart into $namespace"
helm --kube-context "$context" upgrade --install modelsmith "$repo/charts/modelsmith" \
  --namespace "$namespace" \
  --set image.tag="$tag" \
  --set jobImages.trainer="modelsmith/trainer:$tag" \
  --set jobImages.evaluator="modelsmith/evaluator:$tag" \
  --set objectStore.bucket="$bucket" \
  --set objectStore.endpoint="$endpoint" \
  --set objectStore.existingSecret=modelsmith-operator-object-store \
  --set "rbac.approvers.groups={domain-owners,engineering-owners}" \
  --set "operator.workloadNamespaces={modelsmith-demo}" \
  --wait --timeout 5m

kc -n "$namespace" get pods -l app.kubernetes.io/name=modelsmith
log "ready: kubectl config use-context $context; then hack/kind-e2e.sh for the quickstart"
