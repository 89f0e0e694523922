#!/usr/bin/env bash
# `make bench`: prints one figure per line as `bench NAME VALUE UNIT`.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wxpush-target}"

# The hydrate bundle of a release build (profile wasm-release: opt-level z, LTO), built the way
# cargo-leptos builds it. wasm-opt is not run: cargo-leptos would download it from GitHub, which
# is unreachable here, and Debian's binaryen is too old for today's rustc output. So these are
# the bytes wasm-bindgen emits; wasm-opt would shave some more.
cargo build -p app --lib --target wasm32-unknown-unknown --no-default-features --features hydrate \
  --profile wasm-release --target-dir "$CARGO_TARGET_DIR/front" >&2
out=$(mktemp -d)
wasm-bindgen --target web --no-typescript --out-dir "$out" --out-name wxpush \
  "$CARGO_TARGET_DIR/front/wasm32-unknown-unknown/wasm-release/app.wasm"
wasm="$out/wxpush_bg.wasm"
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
awk -v r="$raw" -v g="$gz" 'BEGIN { printf "bench wasm_raw_kb %.1f KB\nbench wasm_gz_kb %.1f KB\n", r / 1024, g / 1024 }'
rm -rf "$out"
