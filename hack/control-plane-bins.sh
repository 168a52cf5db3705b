#!/usr/bin/env bash
# Builds kube-apiserver, kubectl, etcd, etcdctl and helm from the Go module proxy into a cache
# outside the repository, keyed by version, and prints the directory that holds them.
#
# Why a scratch module: k8s.io/kubernetes requires its staging modules at v0.0.0 and maps them with
# replace lines, which Go ignores in dependencies; `go install pkg@version` refuses such modules. So we
# make our own main module, copy upstream's go/godebug lines and map every staging module to its
# published v0.X.Y, derived from the go.mod the proxy serves (never a hard-coded list).
#
# Idempotent and safe to run concurrently (flock); a warm run returns in well under a second.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.36.3}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
HELM_VERSION=${HELM_VERSION:-v3.21.4}
CACHE=${SECRETKMS_CACHE:-$HOME/.cache/secretkms}
BIN=$CACHE/bin/k8s-$K8S_VERSION.etcd-$ETCD_VERSION.helm-$HELM_VERSION
WHAT=${*:-kube etcd helm}

export GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
export GOMODCACHE=${GOMODCACHE_OVERRIDE:-$CACHE/gomod} GOCACHE=$CACHE/gocache

die() { echo "control-plane-bins: $*" >&2; exit 1; }
command -v go >/dev/null || die "go is not installed; install Go 1.26 (Debian: apt-get install golang) and re-run"

mkdir -p "$BIN" "$CACHE/src" "$CACHE/logs"
have() { for f in "$@"; do [[ -x $BIN/$f ]] || return 1; done; }

# Fast path without the lock: everything requested already built.
all_built() {
  for w in $WHAT; do
    case $w in
      kube) have kube-apiserver kubectl || return 1 ;;
      etcd) have etcd etcdctl || return 1 ;;
      helm) have helm || return 1 ;;
    esac
  done
}
if all_built; then echo "$BIN"; exit 0; fi

exec 9>"$CACHE/.lock"
flock 9

scratch() {
  rm -rf "$CACHE/src/$1"; mkdir -p "$CACHE/src/$1"; cd "$CACHE/src/$1"
  go mod init "secretkms.invalid/$1" >/dev/null 2>&1
}

# Runs a build step with its output in a log; on failure prints the tail and what to do.
step() {
  local name=$1; shift
  local log=$CACHE/logs/$name.log
  echo "control-plane-bins: $name ..." >&2
  local t0=$SECONDS
  if ! "$@" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "$name failed (full log: $log). If the Go module proxy is unreachable, check GOPROXY ($(go env GOPROXY)) and the network; then re-run"
  fi
  echo "control-plane-bins: $name done in $((SECONDS - t0))s" >&2
}

kube_module() {
  local stg=v0.${K8S_VERSION#v1.} mod
  mod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  [[ -f $mod ]] || { echo "no go.mod for k8s.io/kubernetes@$K8S_VERSION from the proxy"; return 1; }
  go mod edit -go="$(sed -n 's/^go //p' "$mod")"
  sed -n 's/^godebug //p' "$mod" | while read -r kv; do go mod edit -godebug="$kv"; done
  local n=0
  while read -r m; do go mod edit -replace="$m=$m@$stg"; n=$((n + 1)); done < <(
    sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\) => \./staging/.*#\1#p' "$mod")
  echo "replaced $n staging modules with $stg"
  [[ $n -gt 20 ]] || { echo "expected the staging replace block in $mod"; return 1; }
  go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" "k8s.io/kubernetes/cmd/kubectl@$K8S_VERSION"
}

kube_build() {
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  local ld="-s -w" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ld+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  go build -trimpath -tags=selinux,notest -ldflags="$ld" -o "$BIN/.kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  go build -trimpath -tags=selinux,notest -ldflags="$ld" -o "$BIN/.kubectl.tmp" k8s.io/kubernetes/cmd/kubectl
  mv "$BIN/.kube-apiserver.tmp" "$BIN/kube-apiserver"; mv "$BIN/.kubectl.tmp" "$BIN/kubectl"
}

etcd_build() {
  go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION" "go.etcd.io/etcd/etcdctl/v3@$ETCD_VERSION"
  local ld="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION"
  go build -trimpath -ldflags="$ld" -o "$BIN/.etcd.tmp" go.etcd.io/etcd/server/v3
  go build -trimpath -ldflags="$ld" -o "$BIN/.etcdctl.tmp" go.etcd.io/etcd/etcdctl/v3
  mv "$BIN/.etcd.tmp" "$BIN/etcd"; mv "$BIN/.etcdctl.tmp" "$BIN/etcdctl"
}

helm_build() {
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  GOBIN=$BIN go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
}

for w in $WHAT; do
  case $w in
    kube) have kube-apiserver kubectl || { scratch "kube-$K8S_VERSION"; step kube-module kube_module; step kube-build kube_build; } ;;
    etcd) have etcd etcdctl || { scratch "etcd-$ETCD_VERSION"; step etcd-build etcd_build; } ;;
    helm) have helm || { step helm-build helm_build; } ;;
    *) die "unknown component '$w' (expected kube, etcd or helm)" ;;
  esac
done
echo "$BIN"
