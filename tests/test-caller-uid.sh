#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Only the user who owns flotillad may call it. A bus that lets any user connect, the real
# daemon, and a call from another uid (setpriv; needs root, which CI has): AccessDenied,
# and nothing queued. The owner's own call still works.
set -eu
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null 2>&1; then
	echo "needs root and setpriv to call as another user"
	exit 77
fi
dir=$(mktemp -d /tmp/flotilla-uid-XXXXXX)
chmod 755 "$dir"
daemon_pid=
bus_pid=
cleanup() {
	# the daemon first, and wait for it: it may still be writing below $dir
	if [ -n "$daemon_pid" ]; then
		kill "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
	fi
	[ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
cat >"$dir/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$dir/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF
dbus-daemon --config-file="$dir/bus.conf" --nofork --print-address=1 >"$dir/address" 2>/dev/null &
bus_pid=$!
while [ ! -s "$dir/address" ]; do sleep 0.05; done
chmod 666 "$dir/bus"
export DBUS_SESSION_BUS_ADDRESS="unix:path=$dir/bus"
export XDG_STATE_HOME="$dir/state" XDG_CONFIG_HOME="$dir/config" HOME="$dir"
"$FLOTILLAD" 2>"$dir/flotillad.log" &
daemon_pid=$!
call() {
	"$@" gdbus call --session -d io.github.flotilla.Flotilla1 -o /io/github/flotilla/Flotilla1 \
		-m io.github.flotilla.Flotilla1.Run "{'goal': <'touch $dir/pwned'>}" 2>&1
}
# no event to wait on from a shell: ask the bus until the daemon owns its name
for _ in $(seq 200); do
	gdbus call --session -d org.freedesktop.DBus -o /org/freedesktop/DBus \
		-m org.freedesktop.DBus.NameHasOwner io.github.flotilla.Flotilla1 | grep -q true && break
	sleep 0.05
done
out=$(call setpriv --reuid=65534 --regid=65534 --clear-groups || true)
case "$out" in
*AccessDenied*) echo "another uid: $out" ;;
*) echo "FAIL: a call from uid 65534 was not refused: $out"; exit 1 ;;
esac
n=$("$FLOTILLA" ls --all --json | grep -c '"id"' || true)
[ "$n" -eq 0 ] || { echo "FAIL: the refused call queued a session"; exit 1; }
# in a scratch directory of our own (no repository: no git work left running after the
# session ends), so the session never touches the project's checkout
mkdir "$dir/scratch"
id=$(cd "$dir/scratch" && "$FLOTILLA" run -- true) || { echo "FAIL: the owner's own call failed"; exit 1; }
# the session writes below $dir until it ends: wait for it before the teardown removes $dir
"$FLOTILLA" wait "$id" >/dev/null || { echo "FAIL: session $id did not finish"; exit 1; }
echo "ok: only uid $(id -u) may use flotillad"
