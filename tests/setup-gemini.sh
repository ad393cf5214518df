#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs the pinned Gemini CLI from npm into BUILDDIR/gemini-cli (idempotent) and prints the
# path of its `gemini` binary alone on stdout; everything else goes to stderr.
#
#   tests/setup-gemini.sh [BUILDDIR]     (default: build)
#
# tests/test-gemini.c runs this binary (env FL_GEMINI) against a scripted model API.
set -eu

VERSION=0.61.0
PACKAGE=@google/gemini-cli

builddir=${1:-build}
mkdir -p "$builddir"
prefix=$(cd "$builddir" && pwd)/gemini-cli
bin=$prefix/node_modules/.bin/gemini

works() {
	[ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -qx "$VERSION"
}

if ! works; then
	if ! command -v npm >/dev/null 2>&1; then
		echo "setup-gemini.sh: npm is missing (apt-get install npm)" >&2
		exit 1
	fi
	echo "setup-gemini.sh: installing $PACKAGE@$VERSION into $prefix" >&2
	npm install --prefix "$prefix" --no-audit --no-fund --no-save "$PACKAGE@$VERSION" >&2
	if ! works; then
		echo "setup-gemini.sh: $bin does not report version $VERSION" >&2
		exit 1
	fi
fi
echo "$bin"
