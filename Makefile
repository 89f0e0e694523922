# wxpush: `make run` starts the console, `make test` runs every test. Both install what is missing.
SHELL := /bin/bash
.DEFAULT_GOAL := run

# A target directory outside the clone survives between CI runs and fresh clones.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/wxpush-target
# The server is built with this set (scripts/build.sh); exporting it keeps `cargo test` and
# clippy from rebuilding every Leptos crate.
export LEPTOS_OUTPUT_NAME := wxpush
WXPUSH_BIN := $(CARGO_TARGET_DIR)/debug/wxpush
SITE_ROOT := $(CURDIR)/target/site

.PHONY: setup setup-e2e build run test test-rust test-e2e lint bench clean

setup:
	@scripts/setup.sh

setup-e2e:
	@scripts/setup.sh --e2e

# cargo and wasm-bindgen build the bundle; scripts/pack-site.mjs hashes and compresses it.
build: setup
	@scripts/build.sh

run: build
	WXPUSH_SITE_ROOT=$(SITE_ROOT) $(WXPUSH_BIN) serve --sandbox auto

test: setup-e2e build test-rust test-e2e

test-rust:
	cargo test --workspace --no-fail-fast

# The suite runs on SQLite, then again on PostgreSQL when WXPUSH_TEST_POSTGRES_URL is set (CI).
test-e2e:
	cd end2end && WXPUSH_BIN=$(WXPUSH_BIN) WXPUSH_SITE_ROOT=$(SITE_ROOT) npx playwright test
	@if [ -n "$$WXPUSH_TEST_POSTGRES_URL" ]; then \
		echo "e2e: again on PostgreSQL"; \
		cd end2end && E2E_POSTGRES_URL="$$WXPUSH_TEST_POSTGRES_URL" WXPUSH_BIN=$(WXPUSH_BIN) \
			WXPUSH_SITE_ROOT=$(SITE_ROOT) npx playwright test; \
	elif [ -n "$$CI" ]; then \
		echo "CI needs WXPUSH_TEST_POSTGRES_URL: the PostgreSQL e2e run must not be skipped"; exit 1; \
	fi

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p app --features hydrate --target wasm32-unknown-unknown -- -D warnings

bench: setup-e2e
	@scripts/bench.sh

clean:
	rm -rf target/site data end2end/.state

# Fuzzing, not part of `make test` or CI: runs each cargo-fuzz target in fuzz/ for FUZZ_SECS
# seconds (README "Fuzzing"). Stable Rust: RUSTC_BOOTSTRAP=1 lets cargo-fuzz use its nightly
# flags; no sanitizer (it would need a nightly standard library).
FUZZ_SECS ?= 60
FUZZ_TARGETS := template callback csv_import login_next
FUZZ_TARGET_DIR ?= $(HOME)/.cache/wxpush-fuzz-target
.PHONY: fuzz
fuzz:
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	@set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/corpus/$$t; \
		echo "fuzz $$t: $(FUZZ_SECS) s"; \
		RUSTC_BOOTSTRAP=1 cargo fuzz run $$t fuzz/corpus/$$t fuzz/seeds/$$t --sanitizer none \
			--target-dir $(FUZZ_TARGET_DIR) -- -max_total_time=$(FUZZ_SECS) -timeout=10 -rss_limit_mb=2048; \
	done
