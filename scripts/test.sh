#!/usr/bin/env bash
# The test suite against real local stand-ins: starts them, runs
# `cargo test` (arguments are passed on), stops them whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh
# The tests' status is the script's, whatever stopping the services returns.
trap 'status=$?; set +e; stop_services; exit $status' EXIT
start_services
cargo test "$@"
