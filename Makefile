# icephone: make demo (install, build, run a real call with ICE and audio), make test (everything).
SHELL := /bin/bash
NODE_DEPS := node_modules/.package-lock.json

.PHONY: all deps system-deps build demo test unit typecheck clean bench lab

all: build

$(NODE_DEPS): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $(NODE_DEPS)

deps: $(NODE_DEPS)

# Debian packages the interop tests need (baresip, sipp, coturn, iproute2, iptables, ...).
system-deps:
	bash scripts/install-deps.sh

build: deps
	npx tsc -p tsconfig.json

demo: build
	node dist/scripts/demo.js

typecheck: deps
	npx tsc -p tsconfig.json --noEmit

unit: deps
	npx mocha 'test/**/*.test.ts' --exclude 'test/interop/**' --exclude 'test/e2e/**' --exclude 'test/lab/**'

test: deps system-deps build
	npx mocha 'test/**/*.test.ts'

clean:
	rm -rf dist

# The NAT lab (draft-rosenberg-sipping-ice-01 §9 on namespaces, netfilter NATs, coturn, kamailio; root):
# every scenario in scenarios/lab, clean / 5% WAN loss / TURN stopped, then the result table.
# LAB_ARGS='--signalling direct --only 9.1.1' etc. (see scripts/lab/run.ts).
lab: deps system-deps
	npx tsx scripts/lab/run.ts $(LAB_ARGS)

# Performance benchmarks (not part of the timed tests; `make test` runs them once at a tiny size
# through test/bench/bench.test.ts). Prints one table and writes bench/results.json.
bench: deps system-deps build
	npx tsx scripts/bench/run.ts
