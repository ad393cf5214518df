#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Reproduces the figures in bench/README.md, peers measured in the same run.
#
#   bench/run.sh [--tiny] [--only throughput,idle,memory,startup,view,checkin,worktrees,overlaps,slurm,confine] [--keep]
#
# --tiny runs every benchmark on sizes of ~10 (under a minute; what CI checks). Results go to
# bench/results/<date>-<mode>/ (results.json, summary.md); the summary table is printed too.
# Everything runs on a private session bus with a temporary HOME, XDG_STATE_HOME and
# XDG_CONFIG_HOME, so the user's own flotilla is never touched. Only loopback is used.
#
# FLBENCH_BUILD overrides the build directory (default: build-bench, created when missing);
# TMPDIR says where the temporary tree goes (it should be on the disk you want measured).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
build=${FLBENCH_BUILD:-$top/build-bench}
mode=full
for arg in "$@"; do
	case "$arg" in
	--tiny) mode=tiny ;;
	--only | --only=* | --keep) ;;
	-h | --help)
		sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	esac
done

# peers and the harness's own needs, from Debian packages
missing=
have_tsp() {
	for t in tsp ts; do
		command -v "$t" >/dev/null 2>&1 && "$t" -V 2>&1 | grep -qi spooler && return 0
	done
	return 1
}
have_tsp || missing="$missing task-spooler"
command -v dbus-run-session >/dev/null 2>&1 || missing="$missing dbus-daemon"
command -v git >/dev/null 2>&1 || missing="$missing git"
command -v bwrap >/dev/null 2>&1 || missing="$missing bubblewrap"
/usr/bin/python3 -c 'import dbus' 2>/dev/null || missing="$missing python3-dbus"
/usr/bin/python3 -c 'import dbusmock' 2>/dev/null || missing="$missing python3-dbusmock"
if [ -n "$missing" ]; then
	echo "bench: installing$missing" >&2
	if [ "$(id -u)" -ne 0 ]; then
		echo "bench: not root; install$missing by hand (apt-get install -y$missing)" >&2
		exit 1
	fi
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >&2 ||
		{ apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >&2; }
fi

# the build: the project's default build type (debugoptimized), as users get it
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$top" >&2
fi
ninja -C "$build" src/flotilla src/flotillad src/flotilla-runner src/flotilla-http >&2

out="$here/results/$(date +%Y%m%d-%H%M%S)-$mode"
mkdir -p "$out"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/flotilla-bench-home.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
trap 'exit 130' INT TERM
mkdir -p "$scratch/home" "$scratch/state" "$scratch/config" "$scratch/runtime"
chmod 0700 "$scratch/runtime"

status=0
# a private bus; HOME and XDG dirs of our own (each flotillad gets its own below these)
env HOME="$scratch/home" XDG_STATE_HOME="$scratch/state" XDG_CONFIG_HOME="$scratch/config" \
	XDG_RUNTIME_DIR="$scratch/runtime" FLBENCH_PRIVATE=1 LC_ALL=C.UTF-8 \
	dbus-run-session -- /usr/bin/python3 "$here/flbench.py" --build "$build" --out "$out" \
	--tmpdir "${TMPDIR:-/tmp}" "$@" || status=$?
echo "bench: results in $out" >&2
exit $status
