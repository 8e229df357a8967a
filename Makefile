# gochive developer entry points. Every target is safe to run on a fresh clone.
SHELL := /bin/bash
NODE_BIN := node_modules/.bin

# The test MongoDB server for testenv-up, test, demo, chaos and the benchmarks: MONGO=ferretdb2 picks
# FerretDB 2 over PostgreSQL + DocumentDB (it uses indexes); FerretDB 1.x on SQLite is the default.
# See docs/testing.md#ferretdb-2.
ifdef MONGO
export GOCHIVE_MONGO := $(MONGO)
endif

.PHONY: install build lint format test test-unit test-integration generate testenv-up testenv-down testenv-status chaos chaos-short

node_modules: package-lock.json
	npm ci
	@touch node_modules

install: node_modules

build: node_modules
	npm run build --silent

lint: node_modules
	npm run lint

format: node_modules
	npm run format

generate: node_modules
	npm run generate --silent

# Extra jest flags, e.g. make test JEST_ARGS='--json --outputFile=out.json' (used by .ci/run).
test: node_modules
	npm test -- $(JEST_ARGS)

test-unit: node_modules
	npm run test:unit

test-integration: node_modules
	npm run test:integration

# The test servers (test/env). launch.mjs runs the CLI from its sources (swc), without the full tsc build.
testenv-up: node_modules
	node test/env/launch.mjs up

testenv-down: node_modules
	node test/env/launch.mjs down

testenv-status: node_modules
	node test/env/launch.mjs status

# ---- demo -----------------------------------------------------------------------------------------
# The README's first command: a local stack, a seeded event-log collection, the chart with one
# original-style policy (test/demo/values.yaml), the operator, the policy's status until its backlog is
# archived, the bundles (gochive ls), a summary; then it stops everything it started, also on Ctrl-C.
# Settings: DEMO_TIMEOUT=40m (default 20m), DEMO_DOCS=N (default 100000), DEMO_KEEP=1 (leave it running).
.PHONY: demo
demo: node_modules
	@export DEMO_T0=$$(node -p 'Date.now()'); \
	printf '\n==> [1/8] Building gochive (npm run build)\n'; \
	npm run build --silent && node dist/test/demo/demo.js

# ---- chart and image ------------------------------------------------------------------------------
# Registry and tag of the operator image, e.g. for AWS ECR as the original documented:
#   make image-push REGISTRY=<account>.dkr.ecr.ap-northeast-2.amazonaws.com TAG=1.0.0
REGISTRY ?= ghcr.io/gochive
IMAGE_NAME ?= gochive
TAG ?= $(shell node -p "require('./package.json').version" 2>/dev/null || echo dev)
PLATFORMS ?= linux/amd64,linux/arm64
IMAGE ?= $(REGISTRY)/$(IMAGE_NAME):$(TAG)

.PHONY: image image-push kind-e2e chart-test

# Builds the multi-platform image (kept in the buildx cache; use PLATFORMS=linux/amd64 BUILDX_FLAGS=--load
# to load a single-platform image into the local Docker engine).
image:
	docker buildx build --platform $(PLATFORMS) --tag $(IMAGE) $(BUILDX_FLAGS) --file Dockerfile .

# Builds and pushes the multi-platform image (log in to the registry first).
image-push:
	docker buildx build --platform $(PLATFORMS) --tag $(IMAGE) --push $(BUILDX_FLAGS) --file Dockerfile .

# The chart e2e suite on a kind cluster with the real image (needs Docker and kind; not possible on the
# project's own machines, which have no Docker engine).
kind-e2e: node_modules
	bash test/kind/run.sh

# The chart's tests only (render, values schema, helm lint, API server, e2e with a local operator).
chart-test: node_modules
	npm run build --silent
	node --experimental-vm-modules node_modules/jest/bin/jest.js test/integration/chart --selectProjects integration

# Soak and fault campaign (test/chaos/README.md): `make chaos` runs 10 minutes of faults (DURATION=20m
# to change it), `make chaos-short` about 60 s (what CI runs through test/integration/chaos). Extra
# flags go through CHAOS_ARGS, e.g. make chaos CHAOS_ARGS='--seed=123 --keep'.
CHAOS_DURATION_FLAG = $(if $(DURATION),--duration=$(DURATION),)

chaos: build
	node dist/test/chaos/main.js --full $(CHAOS_DURATION_FLAG) $(CHAOS_ARGS)

chaos-short: build
	node dist/test/chaos/main.js --short $(CHAOS_DURATION_FLAG) $(CHAOS_ARGS)

# ---- one-node cluster -----------------------------------------------------------------------------
# A real one-node Kubernetes cluster on this machine (root; containerd, runc, CNI plugins, iptables):
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy, a kubelet with containerd,
# FerretDB and versitygw, all inside the network namespace gochive-cluster. See docs/testing.md#the-one-node-cluster.
.PHONY: cluster-up cluster-down cluster-status cluster-image test-cluster

cluster-up: node_modules
	bash test/cluster/cluster.sh up

cluster-down:
	bash test/cluster/cluster.sh down

cluster-status:
	bash test/cluster/cluster.sh status

# The operator image from the Dockerfile (buildah, locally made node base image), for the cluster.
cluster-image: node_modules
	bash test/cluster/image.sh

# The in-cluster suite: image, cluster (left up unless CLUSTER_DOWN=1), chart e2e with the real
# Deployment. Extra jest flags through JEST_ARGS (.ci/run writes a JSON report).
test-cluster: node_modules
	bash test/cluster/run.sh $(JEST_ARGS)
