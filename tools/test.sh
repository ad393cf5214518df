#!/bin/sh
# The test suite: installs dependencies, builds, runs every test (unit and integration).
# FLOTILLA_SKIP_DEPS=1 skips the install step.
set -eu
cd "$(dirname "$0")/.."
[ "${FLOTILLA_SKIP_DEPS:-0}" = 1 ] || sh tools/install-deps.sh
[ -d build ] || meson setup build
ninja -C build
sh tests/setup-claude.sh build >/dev/null
meson test -C build --print-errorlogs "$@"
# the benchmarks still run (tiny sizes; figures in bench/README.md come from a full run)
FLBENCH_BUILD="$PWD/build" sh bench/run.sh --tiny
