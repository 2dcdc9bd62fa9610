#!/usr/bin/env bash
# The test suite against real local stand-ins: starts them, runs
# `cargo test` (arguments are passed on), stops them whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh
trap stop_services EXIT
start_services
cargo test "$@"
