#!/usr/bin/env bash
# Installs what building and testing wxpush needs, skipping whatever is already there.
# Usage: scripts/setup.sh [--e2e]   (--e2e adds Debian Chromium and the end2end npm packages)
set -euo pipefail
cd "$(dirname "$0")/.."

# scripts/build.sh runs the wasm-bindgen on PATH: it must match the crate in Cargo.lock exactly.
WASM_BINDGEN_VERSION=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  echo "setup: adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  echo "setup: installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

# Node lays out the site (scripts/pack-site.mjs: hashing and brotli without other packages).
if ! command -v node >/dev/null; then
  echo "setup: installing Node.js from Debian"
  SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq nodejs
fi

if [ "${1:-}" = "--e2e" ]; then
  if [ ! -x /usr/bin/chromium ]; then
    echo "setup: installing Chromium from Debian"
    SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq chromium
  fi
  if [ ! -d end2end/node_modules/@playwright/test ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
    echo "setup: installing the end2end npm packages"
    # Browsers are never downloaded: the tests drive Debian's /usr/bin/chromium. binaryen
    # brings wasm-opt for release bundles (`make bench`).
    (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
  fi
fi
