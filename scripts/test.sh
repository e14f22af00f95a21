#!/bin/sh
# `npm test`: installs what is missing, builds, then runs every test with Node's built-in runner.
set -eu
cd "$(dirname "$0")/.."
sh scripts/ensure-deps.sh
# The console's browser tests drive Debian's Chromium (no browser download); ./start.sh does not need it.
if [ ! -x "${ARC_TEST_CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "arc-ts: installing chromium for the console's browser tests..." >&2
  if command -v apt-get >/dev/null 2>&1; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 ||
      echo "arc-ts: could not install chromium (apt-get install -y chromium); the console browser tests (test/console*.test.ts) will fail" >&2
  fi
fi
# The console's TypeScript is bundled by esbuild, which does not type-check: tsc does, without emitting.
node node_modules/typescript/bin/tsc -p console/tsconfig.json
# Unit tests sit next to the code (src/**/x.test.ts), HTTP tests in test/; both compile into dist/.
files=$(find dist/src dist/test -name '*.test.js' | sort)
exec node --test --test-concurrency="${ARC_TEST_CONCURRENCY:-2}" --test-timeout=300000 $files
