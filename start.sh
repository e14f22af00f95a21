#!/bin/sh
# ./start.sh native — install what is missing, build, then run the server in this process (exec),
# so SIGTERM/SIGINT reach it directly. Extra arguments are passed to `arc serve`.
set -eu
cd "$(dirname "$0")"
mode="${1:-native}"
case "$mode" in
  native) [ $# -gt 0 ] && shift ;;
  -h|--help)
    echo "usage: ./start.sh native [arc serve options]   (config: arc.toml and ARC_* environment variables)"
    exit 0 ;;
  *)
    echo "start.sh: unknown mode '$mode' (arc-ts runs natively: ./start.sh native)" >&2
    exit 2 ;;
esac
sh scripts/ensure-deps.sh
exec node --max-semi-space-size=4 dist/src/cli/arc.js serve "$@"
