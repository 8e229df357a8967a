#!/usr/bin/env bash
# `make test-cluster`: the operator image (image.sh), the one-node cluster (cluster.sh up; reused when
# already up), then the chart e2e suite and the pod-level suite (test/cluster/*.test.ts) against the
# chart's real Deployment. Arguments go to jest (.ci/run passes --json --outputFile=...).
# CLUSTER_DOWN=1 stops the cluster afterwards; SKIP_IMAGE=1 reuses the last image.
set -euo pipefail
cd "$(dirname "$0")/../.."
IMAGE=${IMAGE:-gochive.local/gochive:cluster}
export IMAGE

t0=$(date +%s)
if [ "${SKIP_IMAGE:-0}" != 1 ]; then bash test/cluster/image.sh; fi
t_image=$(date +%s)
bash test/cluster/cluster.sh up # jest's globalSetup (test/cluster/jest-global-setup.ts) would too
t_up=$(date +%s)

export GOCHIVE_E2E_IMAGE=$IMAGE
rc=0
node --experimental-vm-modules node_modules/jest/bin/jest.js --config test/cluster/jest.config.js --runInBand "$@" || rc=$?
t_suite=$(date +%s)
echo "cluster: image $((t_image - t0))s, cluster-up $((t_up - t_image))s, suites $((t_suite - t_up))s" >&2
if [ "${CLUSTER_DOWN:-0}" = 1 ]; then bash test/cluster/cluster.sh down; fi
exit "$rc"
