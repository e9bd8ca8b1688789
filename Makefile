# Galley entry points. `make up` runs the app; `make test` runs every test; both set up
# everything they need (Rust target, PostgreSQL, Redis, databases) on a fresh Debian/Ubuntu.
SHELL := /bin/bash
.DEFAULT_GOAL := up

# Every crate under functions/ except the shared library is a component.
COMPONENTS := $(filter-out common,$(notdir $(wildcard functions/*)))
# Test-only components the end-to-end harness adds to the manifest it serves (never in spin.toml).
E2E_COMPONENTS := e2e-chain-proxy e2e-misbehave e2e-intruder e2e-config-from-variables
WASM_TARGET := wasm32-wasip2

# The adapters that make the components wasmCloud-ready (wasmcloud/adapters/*, crates adapter-*).
ADAPTERS := $(addprefix adapter-,$(notdir $(wildcard wasmcloud/adapters/*)))

.PHONY: up down reset test soak fuzz build build-components build-native migrate admin bench toolchain deploy-check wasmcloud wasmcloud-adapters wasmcloud-deployment wasmcloud-check

toolchain:
	@rustup target list --installed 2>/dev/null | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

build-components: toolchain
	cargo build --release --target $(WASM_TARGET) $(addprefix -p ,$(COMPONENTS) $(E2E_COMPONENTS))

build-native:
	cargo build --release -p galley -p galley-migrate

build: build-components build-native

# Serve on 127.0.0.1:3000 with the dev services (Postgres 54330, Redis 63790).
# SPIN=spin (or a `spin` on PATH) uses the real Spin CLI instead of galley.
# REPLICAS=N: N galley processes behind nginx on :3000 instead (scripts/services.sh replicas).
up:
	@REPLICAS=$(REPLICAS) scripts/up.sh

down:
	-@scripts/services.sh replicas stop --profile dev
	scripts/services.sh down dev

reset:
	scripts/services.sh reset dev

migrate:
	scripts/services.sh up dev
	target/release/galley-migrate --port 54330 --secrets-file .data/dev/db-secrets.env

test:
	@scripts/test.sh

# The mixed-load soak for 5 minutes (SOAK_SECS=n to change), then the consistency check;
# the report goes to bench/results/soak.md (scripts/soak.sh).
soak:
	@SOAK_SECS=$(SOAK_SECS) scripts/soak.sh

# The HTTP contract fuzzed at length (Schemathesis, 1000 examples per operation and caller;
# FUZZ_MAX_EXAMPLES=n, FUZZ_SEED=n to change); `make test` runs a bounded pass of the same.
fuzz:
	@scripts/fuzz.sh long

# Validate deploy/ (SpinKube manifests) against the SpinApp CRD and Kubernetes' schemas.
deploy-check:
	@scripts/deploy-check.sh

# wasmCloud builds: every component of spin.toml composed with the adapters it needs, in
# target/wasmcloud/<component>.wasm, then checked against what a wasmCloud host provides
# (docs/wasmcloud.md). The Spin build in target/wasm32-wasip2 is left as it is.
wasmcloud: build-components wasmcloud-adapters
	cargo build --release -p galley-wasmcloud
	target/release/galley-wasmcloud compose
	target/release/galley-wasmcloud check

# deploy/wasmcloud/ (the wasmCloud 2.x Kubernetes objects) generated again from spin.toml.
wasmcloud-deployment:
	cargo build --release -p galley-wasmcloud
	target/release/galley-wasmcloud deployment

# The composed components on a local wasmCloud 2.x lattice (wash hosts, NATS, the test Postgres
# and Redis), then the users, catalog and one-order smoke checks. Needs wasmCloud's `wash` 2.x
# (WASH=/path/to/wash): no registry this project installs from has it (docs/wasmcloud.md).
wasmcloud-check:
	@WASH=$(WASH) scripts/wasmcloud-check.sh

wasmcloud-adapters: toolchain
	cargo build --release --target $(WASM_TARGET) $(addprefix -p ,$(ADAPTERS))

# Create an admin in the dev database: make admin ADMIN=alice MOBILE=13800138000
# The password is prompted for (or read from stdin); it is never an argument.
admin: build-native
	@[ -n "$(ADMIN)" ] && [ -n "$(MOBILE)" ] || { echo "usage: make admin ADMIN=<username> MOBILE=<11-digit mobile>"; exit 2; }
	scripts/services.sh up dev
	target/release/galley-migrate --port 54330 --secrets-file .data/dev/db-secrets.env >/dev/null
	target/release/galley-admin --port 54330 --secrets-file .data/dev/db-secrets.env --username "$(ADMIN)" --mobile "$(MOBILE)"

bench:
	@if [ -x bench/run.sh ]; then bench/run.sh; else echo "no benchmark yet (bench/run.sh)"; fi
