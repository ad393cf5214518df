#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs what building, testing and the demo need on Debian 12 or newer.
set -eu
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
	build-essential meson ninja-build pkg-config gettext git clang-format \
	libglib2.0-dev libglib2.0-bin libnotify-dev libcurl4-openssl-dev libjson-glib-dev \
	libsqlite3-dev libdbus-1-dev dbus dbus-daemon python3 python3-dbusmock zsh bubblewrap util-linux \
	dunst xvfb xauth x11-apps imagemagick libnotify-bin valgrind procps tmux \
	task-spooler appstream locales libglib2.0-data \
	munge slurmctld slurmd slurm-client bubblewrap
# the real Claude Code and Gemini CLIs for the agent tests come from npm
# (tests/setup-claude.sh, tests/setup-gemini.sh)
command -v npm >/dev/null 2>&1 || $SUDO apt-get install -y -q --no-install-recommends nodejs npm
