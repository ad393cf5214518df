#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs the pinned Claude Code CLI from npm into BUILDDIR/claude-code (idempotent) and prints
# the path of its `claude` binary alone on stdout; everything else goes to stderr.
#
#   tests/setup-claude.sh [BUILDDIR]     (default: build)
#
# tests/test-claude.c runs this binary (env FL_CLAUDE) against a scripted model API.
set -eu

VERSION=2.1.328
PACKAGE=@anthropic-ai/claude-code

builddir=${1:-build}
mkdir -p "$builddir"
prefix=$(cd "$builddir" && pwd)/claude-code
bin=$prefix/node_modules/.bin/claude

works() {
	[ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -qx "$VERSION (Claude Code)"
}

if ! works; then
	if ! command -v npm >/dev/null 2>&1; then
		echo "setup-claude.sh: npm is missing (apt-get install npm)" >&2
		exit 1
	fi
	echo "setup-claude.sh: installing $PACKAGE@$VERSION into $prefix" >&2
	npm install --prefix "$prefix" --no-audit --no-fund --no-save "$PACKAGE@$VERSION" >&2
	# the package's postinstall copies the platform binary over a placeholder; npm versions
	# that hold install scripts back leave the placeholder, so run it ourselves then
	if ! works; then
		(cd "$prefix/node_modules/$PACKAGE" && node install.cjs) >&2
	fi
	if ! works; then
		echo "setup-claude.sh: $bin does not report version $VERSION" >&2
		exit 1
	fi
fi
echo "$bin"
