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

# The NAT lab (test/lab: namespaces only, no host ports) runs beside the rest: both mostly wait on
# calls, not on the CPU; one after the other the suite took 22 minutes on a quiet machine (budget: 20).
# Its output is printed after the rest's; the target fails if either fails.
test: deps system-deps build
	@lablog=$$(mktemp); LAB_CONCURRENCY=2 npx mocha 'test/lab/**/*.test.ts' > "$$lablog" 2>&1 & labpid=$$!; \
	npx mocha 'test/**/*.test.ts' --exclude 'test/lab/**'; rest=$$?; \
	wait $$labpid; lab=$$?; echo; echo '--- NAT lab (test/lab, run beside the rest) ---'; cat "$$lablog"; rm -f "$$lablog"; \
	echo "make test: rest exit $$rest, NAT lab exit $$lab"; test $$rest -eq 0 -a $$lab -eq 0

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
