#!/usr/bin/env bash
# `make kind-e2e`: the chart e2e suite (test/integration/chart/e2e.test.ts) on a kind cluster, with the
# operator running from the real image as the chart's Deployment. Needs docker, kind, kubectl and helm
# on PATH, and network access to pull mongo and minio images. It cannot run on the project's own
# machines (no Docker engine there); the same suite runs locally against the test control plane with
# `make test-integration`.
#
# Variables: KIND_CLUSTER (default gochive-e2e), KEEP_CLUSTER=1 to leave the cluster running,
# E2E_IMAGE (default gochive:e2e).
set -euo pipefail

cd "$(dirname "$0")/../.."
KIND_CLUSTER=${KIND_CLUSTER:-gochive-e2e}
E2E_IMAGE=${E2E_IMAGE:-gochive:e2e}
DEPS_NS=gochive-e2e-deps

step() { printf '\n==> %s\n' "$*"; }
need() { command -v "$1" >/dev/null || { echo "kind-e2e: '$1' is not on PATH ($2)" >&2; exit 2; }; }
need docker "install Docker"
need kind "https://kind.sigs.k8s.io: go install sigs.k8s.io/kind@latest"
need kubectl "install kubectl"
need helm "install helm 3"
docker info >/dev/null 2>&1 || { echo "kind-e2e: no Docker engine is reachable" >&2; exit 2; }

workdir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [[ "${KEEP_CLUSTER:-0}" != 1 ]]; then
    step "deleting kind cluster $KIND_CLUSTER (KEEP_CLUSTER=1 keeps it)"
    kind delete cluster --name "$KIND_CLUSTER" || true
  fi
  rm -rf "$workdir"
}
trap cleanup EXIT

step "kind cluster $KIND_CLUSTER"
if ! kind get clusters | grep -qx "$KIND_CLUSTER"; then
  kind create cluster --name "$KIND_CLUSTER" --wait 120s
fi
export KUBECONFIG="$workdir/kubeconfig"
kind get kubeconfig --name "$KIND_CLUSTER" >"$KUBECONFIG"

step "building $E2E_IMAGE and loading it into the cluster"
docker build --tag "$E2E_IMAGE" --file Dockerfile .
kind load docker-image "$E2E_IMAGE" --name "$KIND_CLUSTER"

step "MongoDB and MinIO in namespace $DEPS_NS"
kubectl apply -f test/kind/deps.yaml
kubectl -n "$DEPS_NS" rollout status deployment/mongodb --timeout=300s
kubectl -n "$DEPS_NS" rollout status deployment/minio --timeout=300s

# The test seeds and checks through port-forwards; the operator uses the in-cluster Service names.
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
forward() { # service port -> local port
  local lp; lp=$(free_port)
  kubectl -n "$DEPS_NS" port-forward "svc/$1" "$lp:$2" >"$workdir/pf-$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$lp") 2>/dev/null; then echo "$lp"; return 0; fi
    sleep 0.2
  done
  echo "kind-e2e: port-forward to $1 did not come up: $(cat "$workdir/pf-$1.log")" >&2
  return 1
}
step "port-forwarding MongoDB and MinIO"
mongo_port=$(forward mongodb 27017)
s3_port=$(forward minio 9000)

export MONGODB_URI="mongodb://root:gochive-e2e@127.0.0.1:${mongo_port}/?authSource=admin&directConnection=true"
export AWS_ENDPOINT_URL_S3="http://127.0.0.1:${s3_port}"
export AWS_ACCESS_KEY_ID=gochive-e2e
export AWS_SECRET_ACCESS_KEY=gochive-e2e-secret
export AWS_REGION=us-east-1
export GOCHIVE_E2E_IN_CLUSTER=1
export GOCHIVE_E2E_IMAGE="$E2E_IMAGE"
export GOCHIVE_E2E_CLUSTER_MONGODB_HOST="mongodb.${DEPS_NS}.svc.cluster.local:27017"
export GOCHIVE_E2E_CLUSTER_S3_ENDPOINT="http://minio.${DEPS_NS}.svc.cluster.local:9000"

step "chart e2e suite against the kind cluster"
node --experimental-vm-modules node_modules/jest/bin/jest.js --config test/kind/jest.config.js --runInBand
