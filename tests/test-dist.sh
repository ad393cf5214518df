#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# `meson dist` of the committed tree gives a release tarball that builds on its own: every
# source the build needs is in it (a file left out of git, or one the build generates in the
# source tree, fails here rather than for a packager), and nothing of a build or of git is.
# Argument: the source root (a git checkout; a tree unpacked from a tarball has nothing to
# make a release from, and says so by skipping).
set -eu
src=$1
if [ ! -e "$src/.git" ]; then
	echo "SKIP: $src is not a git checkout"
	exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fl-dist-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

fail() {
	echo "FAIL: $*"
	exit 1
}

# a clone of what is committed, as a release manager would make it
git clone -q "$src" "$tmp/clone"
meson setup -Dtests=false "$tmp/clone/build" "$tmp/clone" >"$tmp/setup.log" 2>&1 ||
	fail "meson setup of the clone failed: $(tail -n 1 "$tmp/setup.log")"
meson dist -C "$tmp/clone/build" --no-tests --formats xztar >"$tmp/dist.log" 2>&1 ||
	fail "meson dist failed: $(tail -n 1 "$tmp/dist.log")"
version=$(meson introspect --projectinfo "$tmp/clone/build" |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
tarball=$tmp/clone/build/meson-dist/flotilla-$version.tar.xz
[ -f "$tarball" ] || fail "no $tarball"
(cd "$(dirname "$tarball")" && sha256sum -c --quiet "flotilla-$version.tar.xz.sha256sum") ||
	fail "the tarball does not match its checksum file"

# everything under one top directory, nothing of git or of a build
tar -tf "$tarball" >"$tmp/list"
grep -v "^flotilla-$version/" "$tmp/list" && fail "files outside flotilla-$version/"
grep -E '/\.git/|/build/|\.o$|/meson-private/' "$tmp/list" && fail "build or git output in the tarball"
for f in COPYING README.md meson.build src/fl-daemon.c po/de.po data/io.github.flotilla.Flotilla1.xml; do
	grep -qx "flotilla-$version/$f" "$tmp/list" || fail "$f is missing from the tarball"
done

# the unpacked tarball builds with its tests, away from git
mkdir "$tmp/unpacked"
tar -C "$tmp/unpacked" -xf "$tarball"
tree=$tmp/unpacked/flotilla-$version
meson setup "$tree/build" "$tree" >"$tmp/setup2.log" 2>&1 ||
	fail "the tarball does not configure: $(tail -n 1 "$tmp/setup2.log")"
ninja -C "$tree/build" >"$tmp/build.log" 2>&1 ||
	fail "the tarball does not build: $(grep -m 1 -i error "$tmp/build.log")"
for program in src/flotilla src/flotillad src/flotilla-runner src/flotilla-http; do
	[ -x "$tree/build/$program" ] || fail "$program was not built from the tarball"
done
"$tree/build/src/flotilla" --version | grep -q "$version" || fail "flotilla --version does not say $version"
echo "ok: flotilla-$version.tar.xz builds on its own"
