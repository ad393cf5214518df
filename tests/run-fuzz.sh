#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds tests/fuzz-sse.c with libFuzzer + ASan + UBSan and fuzzes the SSE parser for a
# bounded time. FUZZ_SECONDS (default 30) bounds the run; crashes are saved in the current
# directory as crash-*, leak-* or timeout-* files prefixed fuzz-sse-
set -eu

srcdir=$(cd "$(dirname "$0")/.." && pwd)
seconds=${FUZZ_SECONDS:-30}

if ! command -v clang >/dev/null 2>&1; then
  echo "run-fuzz.sh: clang is needed for libFuzzer; install it with: apt-get install -y clang" >&2
  exit 77 # "skipped" for meson and automake
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/fl-fuzz-XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

# the sources include config.h first; the parser needs nothing from it
: >"$work/config.h"
# shellcheck disable=SC2046 # pkg-config output is meant to split into words
clang -g -O1 -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$work" -I"$srcdir/src" $(pkg-config --cflags glib-2.0 gio-2.0) \
  "$srcdir/tests/fuzz-sse.c" "$srcdir/src/fl-sse.c" "$srcdir/src/fl-error.c" \
  $(pkg-config --libs glib-2.0 gio-2.0) \
  -o "$work/fuzz-sse"

# new inputs go to the scratch corpus (first directory), never into the source tree
mkdir "$work/corpus"
"$work/fuzz-sse" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -max_len=4096 -print_final_stats=1 -artifact_prefix=./fuzz-sse- \
  "$work/corpus" "$srcdir/tests/fuzz-corpus/sse"
