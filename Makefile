# gochive developer entry points. Every target is safe to run on a fresh clone.
SHELL := /bin/bash
NODE_BIN := node_modules/.bin

.PHONY: install build lint format test test-unit test-integration generate testenv-up testenv-down testenv-status

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

testenv-up: build
	node dist/test/env/cli.js up

testenv-down: build
	node dist/test/env/cli.js down

testenv-status: build
	node dist/test/env/cli.js status
