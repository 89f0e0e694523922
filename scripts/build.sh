#!/usr/bin/env bash
# Builds the console with cargo and wasm-bindgen alone: the browser bundle, the site, the server.
# Usage: scripts/build.sh [--release]
#   (default) debug bundle and server, as `make run` and `make test` serve them
#   --release the bundle as users should get it (profile wasm-release, then wasm-opt -Oz when
#             end2end's npm packages are installed) and a release server, as `make bench` serves
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wxpush-target}"
# The server bakes the bundle's base name in at compile time: without it, it would ask for
# `<name>_bg.wasm`. The name on disk is hashed (scripts/pack-site.mjs) and read at start.
export LEPTOS_OUTPUT_NAME=wxpush

release=false
case "${1:-}" in
  "") ;;
  --release) release=true ;;
  *) echo "usage: scripts/build.sh [--release]" >&2; exit 2 ;;
esac

# Cargo writes the dev profile to debug/.
if $release; then
  wasm_profile=wasm-release; wasm_dir=wasm-release; server_flags=(--release); best=--best
else
  wasm_profile=dev; wasm_dir=debug; server_flags=(); best=
fi
wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/$wasm_dir/app.wasm"
site=target/site
stamp="$site/pkg/site.json"

cargo build -p app --lib --target wasm32-unknown-unknown --no-default-features --features hydrate \
  --profile "$wasm_profile"

# wasm-bindgen, wasm-opt and compression take a while on a debug bundle: only when something
# went into the site since it was last laid out.
if [ ! -f "$stamp" ] || [ "$wasm" -nt "$stamp" ] || [ style/main.css -nt "$stamp" ] \
  || [ -n "$(find public -newer "$stamp" -print -quit)" ] \
  || ! grep -q "\"profile\": \"$wasm_profile\"" "$stamp"; then
  staging=$(mktemp -d)
  trap 'rm -rf "$staging"' EXIT
  wasm-bindgen --target web --no-typescript --out-dir "$staging" --out-name wxpush "$wasm"
  wasm_opt=end2end/node_modules/.bin/wasm-opt
  if $release && [ -x "$wasm_opt" ]; then
    echo "build: wasm-opt -Oz (a few minutes on 2 cores)"
    # The features rustc enables for wasm32 today; wasm-opt refuses the module without them.
    "$wasm_opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
      --enable-mutable-globals --enable-reference-types --enable-multivalue \
      "$staging/wxpush_bg.wasm" -o "$staging/wxpush_bg.opt.wasm"
    mv "$staging/wxpush_bg.opt.wasm" "$staging/wxpush_bg.wasm"
  elif $release; then
    echo "build: no wasm-opt (scripts/setup.sh --e2e installs it): the bundle is not minified" >&2
  fi
  node scripts/pack-site.mjs --staging "$staging" --style style/main.css --public public \
    --site "$site" --profile "$wasm_profile" $best
fi

cargo build -p wxpush --bin wxpush --no-default-features "${server_flags[@]}"
