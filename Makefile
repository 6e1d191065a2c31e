# icephone: make demo (install, build, run a real call with ICE and audio), make test (everything).
SHELL := /bin/bash
NODE_DEPS := node_modules/.package-lock.json

.PHONY: all deps system-deps build demo test unit typecheck clean bench lab fuzz

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

# Two mocha processes side by side: the suite mostly waits on calls and peers, not on the CPU (one
# after the other it took 22-23 minutes on these 2-core machines; budget 20). Foreground: test/e2e
# except the gateway site. Beside it, one after the other: every other folder (unit, interop, gateway,
# bench, fuzz), the gateway site (test/e2e/gateway-site.test.ts, network namespaces) and the NAT lab
# (test/lab: namespaces only, no host ports). Tests that share fixed ports or addresses are in the
# same process (interop's and the e2e's namespaced peers have namespaces of their own). The side's
# output is printed after the foreground's; the target fails if any part fails.
SIDE_E2E := test/e2e/gateway-site.test.ts
test: deps system-deps build
	@sidelog=$$(mktemp); \
	( npx mocha 'test/**/*.test.ts' --exclude 'test/e2e/**' --exclude 'test/lab/**'; a=$$?; \
	  npx mocha $(SIDE_E2E); b=$$?; \
	  LAB_CONCURRENCY=2 npx mocha 'test/lab/**/*.test.ts'; c=$$?; \
	  echo "side: other folders exit $$a, gateway site exit $$b, NAT lab exit $$c"; test $$a -eq 0 -a $$b -eq 0 -a $$c -eq 0 ) > "$$sidelog" 2>&1 & sidepid=$$!; \
	npx mocha 'test/e2e/**/*.test.ts' --exclude $(SIDE_E2E); e2e=$$?; \
	wait $$sidepid; side=$$?; echo; echo '--- beside test/e2e: other folders, the gateway site, the NAT lab ---'; cat "$$sidelog"; rm -f "$$sidelog"; \
	echo "make test: test/e2e exit $$e2e, the rest exit $$side"; test $$e2e -eq 0 -a $$side -eq 0

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

# Parser fuzzing (issue 13): every parser of network bytes (SIP, SDP, STUN, TURN ChannelData, RTP,
# RTCP; scripts/fuzz/targets) on 10^6 inputs each, two worker threads; fails on any exception other
# than the typed ParseError, or an input over 100 ms. `make test` runs 2,000 inputs each
# (test/fuzz/fuzz.test.ts). FUZZ_ARGS='--only stun --seed 7 --jobs 1' etc. (see scripts/fuzz/run.ts).
fuzz: deps
	npx tsx scripts/fuzz/run.ts --inputs 1000000 $(FUZZ_ARGS)
