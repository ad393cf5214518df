#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The Flotilla demo: a small fleet on the embedded shell agent in a throw-away git repository,
# showing the queue and the cap, cancel, survival of a daemon crash, a check-in digest as a
# real desktop notification (dunst under Xvfb) and approval from the notification itself.
# Everything runs on a private session bus with a temporary HOME: nothing of yours is touched.
# FLOTILLA_SKIP_DEPS=1 skips installing packages.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${FLOTILLA_DEMO_INNER:-}" ]; then
	[ "${FLOTILLA_SKIP_DEPS:-0}" = 1 ] || sh "$top/tools/install-deps.sh"
	[ -d "$top/build" ] || meson setup "$top/build" >/dev/null
	ninja -C "$top/build" >/dev/null
	out="$top/demo-output"
	mkdir -p "$out"
	FLOTILLA_DEMO_INNER=1 FLOTILLA_DEMO_OUT="$out" exec dbus-run-session -- "$0" "$@" 2> >(grep -v 'fd limit' >&2)
fi

out=$FLOTILLA_DEMO_OUT
demo=$(mktemp -d /tmp/flotilla-demo-XXXXXX)
export HOME=$demo/home XDG_STATE_HOME=$demo/state XDG_CONFIG_HOME=$demo/config
export PATH="$top/build/src:$PATH" NO_COLOR=1
mkdir -p "$HOME" "$XDG_CONFIG_HOME/flotilla"
pids=()
cleanup() {
	flotilla_pid=$(gdbus call --session -d org.freedesktop.DBus -o /org/freedesktop/DBus \
		-m org.freedesktop.DBus.GetConnectionUnixProcessID io.github.flotilla.Flotilla1 \
		2>/dev/null | sed -n 's/.*uint32 \([0-9]*\).*/\1/p')
	[ -n "$flotilla_pid" ] && kill "$flotilla_pid" 2>/dev/null || true
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$demo"
}
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

# sessions run confined: the file the demo opens the gate with must be one they may read
mkdir -p "$demo/gates"
cat > "$XDG_CONFIG_HOME/flotilla/flotilla.conf" <<CONF
[fleet]
read-only=$demo/gates
max-parallel=2
cancel-grace=2
[checkin]
every=30m
review-command=true
CONF

say "A repository to work on"
repo=$demo/api
mkdir -p "$repo" && cd "$repo"
git init -q -b main . && git config user.name Demo && git config user.email demo@example.com
printf 'check:\n\t@grep -q users api.txt && echo "checks pass"\n' > Makefile
printf 'GET /v1/items\n' > api.txt
git add . && git commit -qm "initial"
git log --oneline

say "Four goals; at most two run at once, the rest wait in the queue"
gate=$demo/gates/gate
run flotilla run --name users --verify 'make check' -- "sleep 1; echo 'GET /v2/users' >> api.txt"
run flotilla run --name docs -- "while [ ! -e $gate ]; do sleep 0.2; done; mkdir -p docs; echo '# Usage' > docs/USAGE.md"
run flotilla run --name runaway -- "sleep 600"
run flotilla run --name changelog -- "echo '- v2 users endpoint' > CHANGES"
run flotilla ls
run flotilla status

say "Cancel the runaway session (its whole process group goes)"
flotilla wait 1 >/dev/null || true
run flotilla cancel 3
flotilla wait 3 >/dev/null || true
run flotilla ls

say "The daemon crashes while 'docs' still runs; the session does not care"
# the daemon on this demo's private bus, whatever else runs on the machine
daemon_pid() {
	gdbus call --session -d org.freedesktop.DBus -o /org/freedesktop/DBus \
		-m org.freedesktop.DBus.GetConnectionUnixProcessID io.github.flotilla.Flotilla1 \
		2>/dev/null | sed -n 's/.*uint32 \([0-9]*\).*/\1/p'
}
daemon=$(daemon_pid)
run kill -9 "$daemon"
touch "$gate"
sleep 1
echo "(daemon gone; 'docs' finished meanwhile)"
run flotilla status
flotilla wait 2 >/dev/null || true
flotilla wait 4 >/dev/null || true
run flotilla ls

say "Check-in: one digest as a desktop notification (dunst under Xvfb)"
Xvfb :77 -screen 0 1024x400x24 -nolisten tcp >/dev/null 2>&1 & pids+=($!)
export DISPLAY=:77
for _ in $(seq 50); do [ -S /tmp/.X11-unix/X77 ] && break; sleep 0.1; done
cat > "$demo/dunstrc" <<DUNST
[global]
    font = Monospace 10
    width = 560
    height = 300
    origin = top-right
    offset = 10x10
    markup = full
    format = "<b>%s</b>\n%b"
    dmenu = $demo/pick-approve.sh
[urgency_low]
    timeout = 0
[urgency_normal]
    timeout = 0
[urgency_critical]
    timeout = 0
DUNST
printf '#!/bin/sh\ngrep -m1 ",approve:"\n' > "$demo/pick-approve.sh"
chmod +x "$demo/pick-approve.sh"
dunst -config "$demo/dunstrc" >/dev/null 2>&1 & pids+=($!)
# wait for dunst on the bus without asking D-Bus to activate anything
for _ in $(seq 50); do
	gdbus call --session -d org.freedesktop.DBus -o /org/freedesktop/DBus \
		-m org.freedesktop.DBus.NameHasOwner org.freedesktop.Notifications | grep -q true && break
	sleep 0.1
done
run flotilla checkin --now
for _ in $(seq 50); do [ "$(dunstctl count displayed 2>/dev/null || echo 0)" -ge 1 ] && break; sleep 0.1; done
sleep 0.5
xwd -root -silent | convert xwd:- "$out/digest.png"
echo "screenshot of the digest: $out/digest.png"

say "Approve the current draft from the notification itself"
gdbus call --session -d org.freedesktop.Notifications -o /org/freedesktop/Notifications \
	-m org.dunstproject.cmd0.ContextMenuCall >/dev/null
for _ in $(seq 100); do [ "$(git -C "$repo" rev-list --merges --count main)" -ge 1 ] && break; sleep 0.1; done
run git -C "$repo" log --oneline --graph -5
sleep 0.5
xwd -root -silent | convert xwd:- "$out/after-approve.png"
echo "screenshot after the decision: $out/after-approve.png"

say "Decide the rest from the terminal"
run flotilla ls
for id in $(flotilla ls --json | python3 -c 'import json,sys; print(" ".join(str(s["id"]) for s in json.load(sys.stdin) if s["review"] == "pending"))'); do
	run flotilla diff "$id" | head -20
	run flotilla approve "$id" --note "demo"
done
run flotilla revert 4
run git -C "$repo" log --oneline -8
run flotilla ls --all
say "Done: the digest screenshot is in $out/"
