#!/usr/bin/env bash
# Builds the local control plane's binaries (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, etcd, helm, and Kueue's and JobSet's managers with their CRDs) from
# their Go modules into a cache outside the checkout, keyed by version, and prints the bin folder.
# A second run, or CI in another clone on the same machine, finds them there and builds nothing.
# `build.sh seaweedfs` builds only SeaweedFS's server the same way and prints its binary.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${MODELSMITH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelsmith}
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod

log() { printf '[controlplane %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

build_into() { # <dir> <description> <command...>: builds into dir/bin atomically, once
  local dir=$1 what=$2; shift 2
  if [[ -f $dir/.complete ]]; then log "$what: cached in $dir"; return; fi
  log "$what: building (several minutes on 2 cores the first time)"
  local tmp; tmp=$(mktemp -d "$cache/.build.XXXXXX")
  local start=$SECONDS
  # Go's module and build caches for one component are several GB (SeaweedFS's alone: ~5 GB) and
  # are of no use once its binary is cached; kept apart and removed, a cold `make test` needs the
  # disk of the largest component at a time, not of all of them together.
  gotmp=$(mktemp -d "$cache/.go.XXXXXX")
  trap 'chmod -R u+w "$gotmp"; rm -rf "$gotmp"' EXIT
  GOMODCACHE=$gotmp/mod GOCACHE=$gotmp/build "$@" "$tmp/bin"
  chmod -R u+w "$gotmp"; rm -rf "$gotmp"; trap - EXIT
  touch "$tmp/.complete"
  rm -rf "$dir"; mv "$tmp" "$dir"
  log "$what: built in $((SECONDS - start))s"
}

# Bump when the recipe below changes, so cached binaries built the old way are rebuilt.
KUBE_RECIPE=2
build_kube() {
  local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*} flags="-s -w"
  # component-base carries the servers' /version; client-go the User-Agent every client sends.
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=clean"
  done
  (cd "$here/kube" && go build -trimpath -o "$1/" -ldflags "$flags" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
}
build_etcd() { (cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$1/etcd" .); }
# Kueue's CRDs and webhook registrations come from the same module version as its manager, so the
# three always agree (hack/testbed/kueue.py reads them from the bin folder's kueue-config/).
build_kueue() {
  GOBIN=$1 go install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/kueue/pkg/version.GitVersion=$KUEUE_VERSION" \
    "sigs.k8s.io/kueue/cmd/kueue@$KUEUE_VERSION"
  local src config=$1/../config
  src=$(go mod download -json "sigs.k8s.io/kueue@$KUEUE_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  mkdir -p "$config/crds"
  cp "$src"/config/components/crd/bases/*.yaml "$config/crds/"
  cp "$src/config/components/webhook/manifests.yaml" "$config/webhooks.yaml"
}
# JobSet's CRD and webhook registrations likewise, for hack/testbed/jobset.py (bin/jobset-config/).
# Built inside its downloaded module rather than by `go install module@version`, which also asks
# the proxy for the module's version list (refused for JobSet by some proxies).
build_jobset() {
  local src config=$1/../config
  src=$(go mod download -json "sigs.k8s.io/jobset@$JOBSET_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  (cd "$src" && GOFLAGS=-mod=readonly go build -trimpath -o "$1/jobset" \
    -ldflags "-s -w -X sigs.k8s.io/jobset/pkg/version.GitVersion=$JOBSET_VERSION" .)
  mkdir -p "$config/crds"
  cp "$src"/config/components/crd/bases/*.yaml "$config/crds/"
  cp "$src/config/components/webhook/manifests.yaml" "$config/webhooks.yaml"
}
# SeaweedFS's `weed`, for the tests of per-Job store credentials (hack/testbed/seaweedfs.py).
build_seaweedfs() {
  local src
  src=$(go mod download -json "github.com/seaweedfs/seaweedfs@$SEAWEEDFS_VERSION" \
    | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  (cd "$src" && GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w" -o "$1/weed" ./weed)
}
build_helm() { GOBIN=$1 go install -trimpath -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"; }

mkdir -p "$cache"
if [[ ${1:-} == seaweedfs ]]; then
  # Its own lock: a control plane starting meanwhile does not wait for this build.
  exec 8>"$cache/.build-seaweedfs.lock"
  flock 8
  build_into "$cache/seaweedfs-$SEAWEEDFS_VERSION" "seaweedfs $SEAWEEDFS_VERSION" build_seaweedfs
  echo "$cache/seaweedfs-$SEAWEEDFS_VERSION/bin/weed"
  exit 0
fi
# Two test sessions starting cold at once (parallel pytest runs, CI beside a developer) would
# build the same thing twice on a small machine; the second waits for the first and finds it cached.
exec 9>"$cache/.build.lock"
flock 9
build_into "$cache/etcd-$ETCD_VERSION" "etcd $ETCD_VERSION" build_etcd
build_into "$cache/helm-$HELM_VERSION" "helm $HELM_VERSION" build_helm
build_into "$cache/kube-$KUBE_VERSION-r$KUBE_RECIPE" "kubernetes $KUBE_VERSION" build_kube
build_into "$cache/kueue-$KUEUE_VERSION" "kueue $KUEUE_VERSION" build_kueue
build_into "$cache/jobset-$JOBSET_VERSION" "jobset $JOBSET_VERSION" build_jobset

# One folder per combination, never repointed, so a running test bed keeps its binaries.
bin="$cache/bin-$KUBE_VERSION-r$KUBE_RECIPE-$ETCD_VERSION-$HELM_VERSION-kueue-$KUEUE_VERSION"
bin+="-jobset-$JOBSET_VERSION"
mkdir -p "$bin"
for d in "kube-$KUBE_VERSION-r$KUBE_RECIPE" "etcd-$ETCD_VERSION" "helm-$HELM_VERSION" \
    "kueue-$KUEUE_VERSION" "jobset-$JOBSET_VERSION"; do
  for f in "$cache/$d/bin/"*; do ln -sf "$f" "$bin/$(basename "$f")"; done
done
ln -sfn "$cache/kueue-$KUEUE_VERSION/config" "$bin/kueue-config"
ln -sfn "$cache/jobset-$JOBSET_VERSION/config" "$bin/jobset-config"
echo "$bin"
