#!/usr/bin/env bash
# Builds kube-apiserver, kubectl, kube-controller-manager, etcd, etcdctl and helm (and, when
# asked, promtool, krew and krew's manifest validator) from the Go module proxy into a cache
# outside the repository, keyed by version, and prints the directory that holds them: one line per distinct directory of the
# components asked for (`kube etcd helm` share one; `promtool` and `krew` have their own, so a
# pin moving for one never rebuilds the others).
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
# Prometheus tags its Go module v0.3MM.P for release 3.MM.P; promtool checks and unit-tests the
# chart's alerting rules.
PROMTOOL_VERSION=${PROMTOOL_VERSION:-v0.316.0}
# krew and its validate-krew-manifest install and check the plugin's krew manifest.
KREW_VERSION=${KREW_VERSION:-v0.4.3}
CACHE=${SECRETKMS_CACHE:-$HOME/.cache/secretkms}
BIN=$CACHE/bin/k8s-$K8S_VERSION.etcd-$ETCD_VERSION.helm-$HELM_VERSION
WHAT=${*:-kube etcd helm}

export GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
export GOMODCACHE=${GOMODCACHE_OVERRIDE:-$CACHE/gomod} GOCACHE=$CACHE/gocache

die() { echo "control-plane-bins: $*" >&2; exit 1; }
command -v go >/dev/null || die "go is not installed; install Go 1.26 (Debian: apt-get install golang) and re-run"

# Where each component's binaries live, and which binaries it is made of.
dir_of() {
  case $1 in
    kube | etcd | helm) echo "$BIN" ;;
    promtool) echo "$CACHE/bin/promtool-$PROMTOOL_VERSION" ;;
    krew) echo "$CACHE/bin/krew-$KREW_VERSION" ;;
  esac
}
files_of() {
  case $1 in
    # kube-controller-manager runs the StorageVersionMigrator (with the garbage collector it
    # needs) for `rewrite --via storage-version-migration`.
    kube) echo kube-apiserver kubectl kube-controller-manager ;;
    etcd) echo etcd etcdctl ;;
    helm) echo helm ;;
    promtool) echo promtool ;;
    # kubectl finds krew as the plugin `kubectl-krew`: a link to the same binary.
    krew) echo krew kubectl-krew validate-krew-manifest ;;
  esac
}
built() {
  local dir f
  dir=$(dir_of "$1")
  for f in $(files_of "$1"); do [[ -x $dir/$f ]] || return 1; done
}
print_dirs() {
  local w
  for w in $WHAT; do dir_of "$w"; done | awk '!seen[$0]++'
}

for w in $WHAT; do
  case $w in
    kube | etcd | helm | promtool | krew) ;;
    *) die "unknown component '$w' (expected kube, etcd, helm, promtool or krew)" ;;
  esac
done

# Fast path without the lock: everything requested already built.
all_built() {
  local w
  for w in $WHAT; do built "$w" || return 1; done
}
if all_built; then print_dirs; exit 0; fi

for w in $WHAT; do mkdir -p "$(dir_of "$w")"; done
mkdir -p "$CACHE/src" "$CACHE/logs"

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
  go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" "k8s.io/kubernetes/cmd/kubectl@$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kube-controller-manager@$K8S_VERSION"
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
  go build -trimpath -tags=selinux,notest -ldflags="$ld" -o "$BIN/.kube-controller-manager.tmp" k8s.io/kubernetes/cmd/kube-controller-manager
  mv "$BIN/.kube-apiserver.tmp" "$BIN/kube-apiserver"; mv "$BIN/.kubectl.tmp" "$BIN/kubectl"
  mv "$BIN/.kube-controller-manager.tmp" "$BIN/kube-controller-manager"
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

# promtool's module has no replace lines, so `go install pkg@version` builds it as released.
# `remove_all_sd` leaves out the service-discovery plugins (cloud SDKs, client-go), which rule
# checks and rule unit tests never use: a cold build takes about 8 minutes on 2 cores instead
# of about 40.
promtool_build() {
  local out v=${PROMTOOL_VERSION#v0.}
  out=$(dir_of promtool)
  v="${v:0:1}.${v:1}"
  GOBIN=$out go install -trimpath -tags remove_all_sd -ldflags "-s -w -X github.com/prometheus/common/version.Version=$v \
    -X github.com/prometheus/common/version.Branch=release-${v%.*} -X github.com/prometheus/common/version.BuildDate=19700101-00:00:00" \
    "github.com/prometheus/prometheus/cmd/promtool@$PROMTOOL_VERSION"
}

krew_build() {
  local out
  out=$(dir_of krew)
  GOBIN=$out go install -trimpath -ldflags "-s -w -X sigs.k8s.io/krew/internal/version.gitTag=$KREW_VERSION" \
    "sigs.k8s.io/krew/cmd/krew@$KREW_VERSION" "sigs.k8s.io/krew/cmd/validate-krew-manifest@$KREW_VERSION"
  ln -sf krew "$out/kubectl-krew"
}

for w in $WHAT; do
  built "$w" && continue
  case $w in
    kube) scratch "kube-$K8S_VERSION"; step kube-module kube_module; step kube-build kube_build ;;
    etcd) scratch "etcd-$ETCD_VERSION"; step etcd-build etcd_build ;;
    helm) step helm-build helm_build ;;
    promtool) step promtool-build promtool_build ;;
    krew) step krew-build krew_build ;;
  esac
done
print_dirs
