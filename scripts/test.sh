#!/bin/sh
# `npm test`: installs what is missing, builds, then runs every test with Node's built-in runner.
set -eu
cd "$(dirname "$0")/.."
sh scripts/ensure-deps.sh
# Unit tests sit next to the code (src/**/x.test.ts), HTTP tests in test/; both compile into dist/.
files=$(find dist/src dist/test -name '*.test.js' | sort)
exec node --test --test-concurrency="${ARC_TEST_CONCURRENCY:-2}" --test-timeout=300000 $files
