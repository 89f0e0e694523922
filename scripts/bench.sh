#!/usr/bin/env bash
# `make bench`: prints one figure per line as `bench NAME VALUE UNIT`.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wxpush-target}"

# The hydrate bundle of a release build (opt-level z, LTO). wasm-opt is not run: Debian's
# binaryen is too old for today's rustc output, so these are the bytes wasm-bindgen emits.
site=$(mktemp -d)
LEPTOS_SITE_ROOT="$site" cargo leptos build --release --frontend-only >&2
wasm=$(find "$site" -name '*.wasm' | head -n 1)
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
awk -v r="$raw" -v g="$gz" 'BEGIN { printf "bench wasm_raw_kb %.1f KB\nbench wasm_gz_kb %.1f KB\n", r / 1024, g / 1024 }'
rm -rf "$site"
