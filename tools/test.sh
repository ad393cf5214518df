#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The test suite: installs dependencies, checks the format, builds with warnings as errors,
# runs every test (unit and integration).
# FLOTILLA_SKIP_DEPS=1 skips the install step.
set -eu
cd "$(dirname "$0")/.."
[ "${FLOTILLA_SKIP_DEPS:-0}" = 1 ] || sh tools/install-deps.sh
# the tree stays in clang-format's style (.clang-format; clang-format 14 as on Debian 12)
clang-format --dry-run --Werror src/*.[ch] tests/*.[ch]
# a warning is a build failure (a build directory of your own keeps its own setting)
[ -d build ] || meson setup --werror build
ninja -C build
sh tests/setup-claude.sh build >/dev/null
sh tests/setup-gemini.sh build >/dev/null
meson test -C build --print-errorlogs "$@"
# the benchmarks still run (tiny sizes; figures in bench/README.md come from a full run)
FLBENCH_BUILD="$PWD/build" sh bench/run.sh --tiny
# one plain closing line: how many tests passed, failed and were skipped
/usr/bin/python3 - <<'PY'
import json
counts = {"passed": 0, "failed": 0, "skipped": 0}
with open("build/meson-logs/testlog.json") as log:
    for line in log:
        result = json.loads(line)["result"]
        key = {"OK": "passed", "SKIP": "skipped", "EXPECTEDFAIL": "passed"}.get(result, "failed")
        counts[key] += 1
print("tests: %(passed)d passed, %(failed)d failed, %(skipped)d skipped" % counts)
PY
