#!/bin/sh
# Installs npm dependencies when they are missing or older than the lock file, then compiles
# TypeScript (incremental, so an up-to-date tree costs about a second). Shared by start.sh and npm test.
set -eu
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1; then
  echo "arc-ts needs Node.js >= 20.18 (not found on PATH). On Debian: apt-get install nodejs npm, or use nodejs.org builds." >&2
  exit 1
fi
node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a < 20 || (a === 20 && b < 18)) { console.error("arc-ts needs Node.js >= 20.18, found " + process.versions.node); process.exit(1) }'

stamp=node_modules/.arc-installed
if [ ! -f "$stamp" ] || [ package.json -nt "$stamp" ] || { [ -f package-lock.json ] && [ package-lock.json -nt "$stamp" ]; }; then
  echo "arc-ts: installing npm dependencies..." >&2
  # Not `npm ci`: registry mirrors that carry only this platform's builds of optional native
  # packages (DuckDB, msgpackr-extract) make it refuse the lock file. `npm install` still follows
  # package-lock.json and leaves it unchanged.
  npm install --no-audit --no-fund >&2
  touch "$stamp"
fi

node node_modules/typescript/bin/tsc -p tsconfig.json
# The web console's bundle (dist/console/); skips at once when it is newer than its sources.
node scripts/build-console.mjs
