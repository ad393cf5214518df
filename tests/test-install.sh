#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# `meson install --destdir ROOT`, then checks that what lands in ROOT works as installed: the
# D-Bus service and systemd unit name the real daemon path, a private bus whose service
# directory holds the installed service file activates the installed flotillad for the
# installed flotilla, sessions run under the installed flotilla-runner, http agents under the
# installed flotilla-http, flotillad does not link libcurl, and the man pages,
# completions and translations are where a desktop looks for them.
#
# The service file says Exec=$libexecdir/flotillad, a path outside ROOT; the bus gets a copy
# whose Exec points into ROOT, after the original is checked. Without systemd in CI, the bus
# starts Exec= itself. Environment (from tests/meson.build): FL_BUILD_ROOT, FL_PREFIX,
# FL_BINDIR, FL_LIBEXECDIR, FL_DATADIR, FL_MANDIR, FL_LOCALEDIR, FL_DBUS_SERVICES_DIR,
# FL_SYSTEMD_USER_UNIT_DIR, FL_BASH_COMPLETION_DIR, FL_ZSH_COMPLETION_DIR, MESON.
set -eu
# Under `meson test --setup valgrind` this shell runs under valgrind, which then reports the
# shell's own allocations; the shell is not what is tested here (the other tests run the
# binaries under valgrind), so continue in a fresh one outside it.
if [ -n "${FL_TEST_VALGRIND:-}" ] && [ -z "${FL_TEST_REEXEC:-}" ]; then
	FL_TEST_REEXEC=1 exec /bin/sh "$0" "$@"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fl-install-XXXXXX")
tmp=$(cd "$tmp" && pwd -P) # /proc/PID/exe shows resolved paths
root=$tmp/root
bus_pid=
daemon_pid=
cleanup() {
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || true
	[ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

fail() {
	echo "FAIL: $*"
	exit 1
}
ok() {
	echo "ok: $*"
}
# expect_eq WHAT ACTUAL EXPECTED
expect_eq() {
	[ "$2" = "$3" ] || fail "$1: expected '$3', got '$2'"
}

# ---- install
"$MESON" install -C "$FL_BUILD_ROOT" --no-rebuild --destdir "$root" >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log"; fail "meson install --destdir failed"; }
ok "meson install --destdir $root"

bin=$root$FL_BINDIR
libexec=$root$FL_LIBEXECDIR
for f in "$bin/flotilla" "$libexec/flotillad" "$libexec/flotilla-runner" "$libexec/flotilla-http"; do
	[ -x "$f" ] || fail "$f is not installed or not executable"
done
[ ! -e "$bin/flotillad" ] || fail "flotillad is in bindir; it belongs in libexecdir"
ok "executables: flotilla in bindir, flotillad, flotilla-runner and flotilla-http in libexecdir"

# libcurl and what it loads would double the daemon's memory: only flotilla-http has it
for f in "$libexec/flotillad" "$bin/flotilla"; do
	if ldd "$f" | grep -q libcurl; then fail "$f links libcurl"; fi
done
ldd "$libexec/flotilla-http" | grep -q libcurl || fail "flotilla-http does not link libcurl"
ok "only flotilla-http links libcurl"

service=$root$FL_DBUS_SERVICES_DIR/io.github.flotilla.Flotilla1.service
[ -f "$service" ] || fail "no D-Bus service file at $service"
grep -qx 'Name=io.github.flotilla.Flotilla1' "$service" || fail "$service: wrong Name="
grep -qx "Exec=$FL_LIBEXECDIR/flotillad" "$service" || fail "$service: Exec= is not $FL_LIBEXECDIR/flotillad"
grep -qx 'SystemdService=flotillad.service' "$service" || fail "$service: no SystemdService="
unit=$root$FL_SYSTEMD_USER_UNIT_DIR/flotillad.service
[ -f "$unit" ] || fail "no systemd user unit at $unit"
grep -qx 'Type=dbus' "$unit" || fail "$unit: not Type=dbus"
grep -qx 'BusName=io.github.flotilla.Flotilla1' "$unit" || fail "$unit: wrong BusName="
grep -qx "ExecStart=$FL_LIBEXECDIR/flotillad" "$unit" || fail "$unit: ExecStart= is not $FL_LIBEXECDIR/flotillad"
grep -qx 'KillMode=process' "$unit" || fail "$unit: sessions would die with the daemon"
grep -qx 'Slice=background.slice' "$unit" || fail "$unit: not in background.slice"
if grep -q '@' "$service" "$unit"; then fail "an unsubstituted @variable@ is left"; fi
ok "D-Bus service and systemd user unit name $FL_LIBEXECDIR/flotillad"

# its id is the bus name, as desktops expect of a D-Bus-activated application
desktop=$root$FL_DATADIR/applications/io.github.flotilla.Flotilla1.desktop
[ -f "$desktop" ] || fail "no desktop file at $desktop"
grep -qx 'NoDisplay=true' "$desktop" || fail "$desktop is shown in menus"
grep -q '^Comment\[de\]=' "$desktop" || fail "$desktop has no German comment"
if command -v desktop-file-validate >/dev/null 2>&1; then
	desktop-file-validate "$desktop" || fail "desktop-file-validate $desktop"
fi
[ -f "$root$FL_DATADIR/doc/flotilla/flotilla.conf.example" ] || fail "no example config"
[ -f "$root$FL_DATADIR/dbus-1/interfaces/io.github.flotilla.Flotilla1.xml" ] ||
	fail "no D-Bus interface description"
ok "desktop file (NoDisplay, translated), example config, D-Bus interface XML"

for page in man1/flotilla.1 man5/flotilla.conf.5 man8/flotillad.8; do
	f=$root$FL_MANDIR/$page
	[ -f "$f" ] || fail "no man page $page"
	if command -v groff >/dev/null 2>&1; then
		# long installed paths may not justify: that is layout, not a mistake in the page
		warnings=$(groff -man -Tutf8 -ww -z "$f" 2>&1 |
			grep -v 'cannot adjust line\|cannot break line' || true)
		[ -z "$warnings" ] || fail "groff warns about $page: $warnings"
	fi
done
grep -q "$FL_LIBEXECDIR/flotillad" "$root$FL_MANDIR/man8/flotillad.8" ||
	fail "flotillad(8) does not name the installed path"
if grep -q '@[a-z_]*@' "$root$FL_MANDIR/man8/flotillad.8"; then fail "flotillad(8): unsubstituted @variable@"; fi
ok "man pages flotilla(1), flotilla.conf(5), flotillad(8)"

mo=$root$FL_LOCALEDIR/de/LC_MESSAGES/flotilla.mo
[ -f "$mo" ] || fail "no German translation at $mo"
if command -v gettext >/dev/null 2>&1; then
	expect_eq "German 'Commands:'" \
		"$(TEXTDOMAINDIR=$root$FL_LOCALEDIR LANGUAGE=de LC_ALL=C.UTF-8 gettext flotilla 'Commands:')" \
		"Befehle:"
	expect_eq "German 'Approve'" \
		"$(TEXTDOMAINDIR=$root$FL_LOCALEDIR LANGUAGE=de LC_ALL=C.UTF-8 gettext flotilla 'Approve')" \
		"Annehmen"
	expect_eq "German start error" \
		"$(TEXTDOMAINDIR=$root$FL_LOCALEDIR LANGUAGE=de LC_ALL=C.UTF-8 gettext flotilla 'flotillad cannot start: %s')" \
		"flotillad kann nicht starten: %s"
fi
ok "German translation installed"

doc=$root$FL_DATADIR/doc/flotilla
for f in README.md COPYING; do
	[ -f "$doc/$f" ] || fail "no $f in $doc"
done
grep -q 'GNU GENERAL PUBLIC LICENSE' "$doc/COPYING" || fail "$doc/COPYING is not the GPL"
ok "README.md and COPYING in $doc"

metainfo=$root$FL_DATADIR/metainfo/io.github.flotilla.Flotilla1.metainfo.xml
[ -f "$metainfo" ] || fail "no AppStream metainfo at $metainfo"
appstreamcli validate --no-net "$metainfo" >"$tmp/appstream.log" 2>&1 ||
	{ cat "$tmp/appstream.log"; fail "appstreamcli validate $metainfo"; }
grep -q '<launchable type="desktop-id">io.github.flotilla.Flotilla1.desktop</launchable>' \
	"$metainfo" || fail "$metainfo does not launch the installed desktop file"
ok "AppStream metainfo validates"

# -Dtests=false: a build without the test suite configures and has no tests
"$MESON" setup -Dtests=false "$tmp/notests" "$FL_SOURCE_ROOT" >"$tmp/notests.log" 2>&1 ||
	{ cat "$tmp/notests.log"; fail "meson setup -Dtests=false failed"; }
expect_eq "tests in a -Dtests=false build" "$("$MESON" introspect --tests "$tmp/notests")" "[]"
ok "-Dtests=false configures without the test suite"

bash_completion=$root$FL_BASH_COMPLETION_DIR/flotilla
zsh_completion=$root$FL_ZSH_COMPLETION_DIR/_flotilla
[ -f "$bash_completion" ] || fail "no bash completion at $bash_completion"
[ -f "$zsh_completion" ] || fail "no zsh completion at $zsh_completion"
head -n1 "$zsh_completion" | grep -qx '#compdef flotilla' || fail "$zsh_completion: no #compdef"
ok "bash and zsh completions"

# ---- a private bus that knows only the installed service
mkdir -p "$tmp/services" "$tmp/home" "$tmp/run" "$tmp/work"
chmod 700 "$tmp/run"
sed "s|^Exec=$FL_LIBEXECDIR/|Exec=$libexec/|" "$service" \
	>"$tmp/services/io.github.flotilla.Flotilla1.service"
cat >"$tmp/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=$tmp</listen>
  <auth>EXTERNAL</auth>
  <servicedir>$tmp/services</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF

# what the bus passes on to the daemon it activates: nothing of the build tree or the user's
unset FLOTILLAD FLOTILLA_RUNNER FLOTILLA_HTTP FLOTILLA_CONFIG FLOTILLA_SESSION DISPLAY WAYLAND_DISPLAY || true
export HOME="$tmp/home" XDG_CONFIG_HOME="$tmp/home/.config" XDG_STATE_HOME="$tmp/home/.local/state"
export XDG_RUNTIME_DIR="$tmp/run" XDG_DATA_DIRS="$root$FL_DATADIR"
export PATH="$bin:$PATH"
# an http agent whose key is missing: flotilla-http says so at once, without a network
mkdir -p "$XDG_CONFIG_HOME/flotilla"
printf '[agent llm]\nurl=http://127.0.0.1:9/v1/messages\nmodel=m\napi-key-env=%s\n' \
	FL_INSTALL_TEST_NO_KEY >"$XDG_CONFIG_HOME/flotilla/flotilla.conf"
dbus-daemon --config-file="$tmp/bus.conf" --fork --print-address=3 --print-pid=4 \
	3>"$tmp/address" 4>"$tmp/bus.pid" 2>"$tmp/bus.log" || { cat "$tmp/bus.log"; fail "dbus-daemon"; }
bus_pid=$(head -n1 "$tmp/bus.pid")
DBUS_SESSION_BUS_ADDRESS=$(head -n1 "$tmp/address")
export DBUS_SESSION_BUS_ADDRESS
cd "$tmp/work"

# ---- a mistake in the config: the daemon the bus activates says why through flotilla
conf=$XDG_CONFIG_HOME/flotilla/flotilla.conf
cp "$conf" "$tmp/good.conf"
printf '[fleet]\nmax-paralel=3\n' >"$conf"
set +e
err=$(flotilla status 2>&1 >/dev/null)
rc=$?
set -e
expect_eq "flotilla status with a bad config: exit status" "$rc" 3
expect_eq "flotilla status with a bad config" "$err" \
	"flotilla: flotillad cannot start: $conf: [fleet] max-paralel: unknown key"
cp "$tmp/good.conf" "$conf"
ok "an activated flotillad that cannot start: flotilla prints its reason"

# ---- the installed flotilla activates the installed flotillad
status_out=$(flotilla status) || fail "flotilla status exited $?"
case $status_out in
"flotillad "*) ;;
*) fail "flotilla status printed: $status_out" ;;
esac
reply=$(gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
	--method org.freedesktop.DBus.GetConnectionUnixProcessID io.github.flotilla.Flotilla1) ||
	fail "nobody owns io.github.flotilla.Flotilla1"
daemon_pid=$(echo "$reply" | tr -cd '0-9 ' | awk '{print $NF}')
expect_eq "the daemon that owns the name" "$(readlink "/proc/$daemon_pid/exe")" "$libexec/flotillad"
[ ! -e "$XDG_STATE_HOME/flotilla/flotillad.log" ] ||
	fail "flotilla started the daemon itself instead of D-Bus activation"
ok "flotilla status activated $libexec/flotillad over D-Bus"

# ---- sessions run under the installed runner; wait reports their outcome
# (confined, the session cannot see its runner: it blocks through its channel, and the runner
# is looked at from outside meanwhile)
id=$(flotilla run -- 'flotilla blocked hold') || fail "flotilla run exited $?"
expect_eq "first id" "$id" 1
i=0
until flotilla show "$id" --json | grep -Eq '"state" ?: ?"blocked"'; do
	i=$((i + 1))
	[ "$i" -lt 300 ] || fail "session $id never blocked"
	sleep 0.1
done
runner_pid=$(sed -n 's/.*"runner_pid": *\([0-9]*\).*/\1/p' "$XDG_STATE_HOME/flotilla/sessions/$id/started.json")
expect_eq "the session's supervisor" "$(readlink "/proc/$runner_pid/exe")" "$libexec/flotilla-runner"
flotilla reply "$id" go >/dev/null || fail "flotilla reply $id exited $?"
out=$(flotilla wait "$id") || fail "flotilla wait $id exited $? ($out)"
expect_eq "flotilla wait $id" "$out" "session 1: done (exit 0)"
expect_eq "what the session got through its channel" "$(flotilla log "$id")" "go"
id=$(flotilla run -- 'exit 3')
set +e
out=$(flotilla wait "$id")
rc=$?
set -e
expect_eq "flotilla wait on a failing session: exit status" "$rc" 1
expect_eq "flotilla wait $id" "$out" "session 2: failed (exit 3)"
ok "sessions run under $libexec/flotilla-runner; wait exits with their outcome"

# ---- ls: plain tab-separated lines into a pipe, a table with colour on a terminal
flotilla ls >"$tmp/ls"
tab=$(printf '\t')
expect_eq "ls lines" "$(wc -l <"$tmp/ls" | tr -d ' ')" 2
expect_eq "ls line 1" "$(sed -n 1p "$tmp/ls" | cut -f1,2,4,5)" \
	"2${tab}failed${tab}exit 3${tab}exited with status 3"
expect_eq "ls fields" "$(sed -n 2p "$tmp/ls" | awk -F"$tab" '{print NF}')" 5
if grep -q "$(printf '\033')" "$tmp/ls"; then fail "escape sequences in piped ls"; fi
if command -v script >/dev/null 2>&1; then
	COLUMNS=80 TERM=xterm NO_COLOR= script -qec 'flotilla ls' /dev/null >"$tmp/ls-tty" </dev/null
	grep -q 'Recently finished' "$tmp/ls-tty" || fail "no grouped table on a terminal: $(cat "$tmp/ls-tty")"
	grep -q "$(printf '\033')\\[" "$tmp/ls-tty" || fail "no colour on a terminal"
	COLUMNS=80 TERM=xterm NO_COLOR=1 script -qec 'flotilla ls' /dev/null >"$tmp/ls-tty" </dev/null
	if grep -q "$(printf '\033')" "$tmp/ls-tty"; then fail "colour despite NO_COLOR"; fi
fi
ok "ls: plain lines into a pipe; table, and colour unless NO_COLOR, on a terminal"

# ---- help for every command, suggestions for typos
flotilla help >"$tmp/help"
commands=$(sed -n '/^Commands:/,/^$/p' "$tmp/help" | sed -n 's/^  \([a-z][a-z-]*\).*/\1/p')
[ -n "$commands" ] || fail "flotilla help lists no commands"
for c in $commands; do
	flotilla help "$c" >"$tmp/help-$c" || fail "flotilla help $c exited $?"
	grep -q "flotilla $c" "$tmp/help-$c" || fail "flotilla help $c: no usage line"
	flotilla "$c" --help >"$tmp/help2-$c" || fail "flotilla $c --help exited $?"
	cmp -s "$tmp/help-$c" "$tmp/help2-$c" || fail "flotilla $c --help differs from flotilla help $c"
done
set +e
flotilla stauts >/dev/null 2>"$tmp/typo"
rc=$?
set -e
expect_eq "exit status of a typo" "$rc" 2
grep -q "did you mean 'status'" "$tmp/typo" || fail "no suggestion for 'stauts': $(cat "$tmp/typo")"
ok "help for every command ($(echo $commands)), a suggestion for a typo"

# ---- completion: commands as the CLI has them, ids from the daemon (filtered per command:
# only a session that has not ended can be waited for)
running=$(flotilla run -- 'exec sleep 300')
expect_eq "third id" "$running" 3
complete_bash() {
	# complete_bash WORD... : what bash completes for the last word
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _flotilla; echo "${COMPREPLY[*]}"' \
		sh "$bash_completion" "$@"
}
if command -v bash >/dev/null 2>&1; then
	expect_eq "bash: flotilla <tab>" "$(complete_bash flotilla '' | tr ' ' '\n' | sort | tr '\n' ' ')" \
		"$(echo $commands | tr ' ' '\n' | sort | tr '\n' ' ')"
	expect_eq "bash: flotilla sta<tab>" "$(complete_bash flotilla sta)" "status"
	expect_eq "bash: flotilla show <tab>" "$(complete_bash flotilla show '' | tr ' ' '\n' | sort | tr '\n' ' ')" "1 2 3 "
	expect_eq "bash: flotilla approve <tab>" "$(complete_bash flotilla approve '')" ""
	expect_eq "bash: flotilla run --ag<tab>" "$(complete_bash flotilla run --ag)" "--agent="
	expect_eq "bash: flotilla log 1 <tab>" "$(complete_bash flotilla log 1 '')" ""
	expect_eq "bash: flotilla wait <tab>" "$(complete_bash flotilla wait '')" "3"
	# the agents run --agent accepts: presets and the config's own, no kinds like "http"
	expect_eq "bash: flotilla run --agent <tab>" \
		"$(complete_bash flotilla run --agent '' | tr ' ' '\n' | sort | tr '\n' ' ')" \
		"aider claude codex gemini llm shell "
	ok "bash completion: commands, options, session ids"
fi
for c in $commands; do
	grep -q "^    '$c:" "$zsh_completion" || fail "zsh completion lacks the command $c"
done
if command -v zsh >/dev/null 2>&1; then
	zsh -n "$zsh_completion" || fail "zsh -n $zsh_completion"
	# an interactive zsh on a pty: each line is typed with a Tab, then ^A and "echo " turn
	# what completion made of it into output; zle handles keys in order, so no waiting
	mkdir -p "$tmp/zfunc"
	cp "$zsh_completion" "$tmp/zfunc/"
	cat >"$tmp/complete.zsh" <<'EOF'
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PS1='RE''ADY> '; fpath=($1 \$fpath); autoload -Uz compinit; compinit -u -d $1/dump"
zpty -r z out '*READY> '
shift
for input in "$@"; do
  zpty -w -n z "$input"$'\t\C-aecho \n'
  zpty -r z out '*READY> '
  print -r -- "$out" | tr -d '\r' | grep -a "^$input" | tail -n 1
done
zpty -d z
EOF
	# (the "=" zsh appends to --agent is removed again by the ^A that follows)
	timeout 60 zsh -f "$tmp/complete.zsh" "$tmp/zfunc" "flotilla sta" "flotilla wait " \
		"flotilla run --ag" "flotilla run --agent=sh" >"$tmp/zsh-out" ||
		fail "zsh completion under zpty: $(cat "$tmp/zsh-out")"
	expect_eq "zsh completions" "$(cat "$tmp/zsh-out")" \
		"$(printf 'flotilla status\nflotilla wait 3\nflotilla run --agent\nflotilla run --agent=shell')"
fi
ok "zsh completion: every command; subcommands, options and ids in a real zsh"
flotilla cancel "$running" >/dev/null
set +e
out=$(flotilla wait "$running")
set -e
expect_eq "flotilla wait $running" "$out" "session 3: cancelled (signal 15)"
expect_eq "__complete-ids wait (nothing running)" "$(flotilla __complete-ids wait)" ""

# ---- http agents run the installed flotilla-http under the installed runner
id=$(flotilla run --agent llm -- 'say hello')
set +e
out=$(flotilla wait "$id")
set -e
expect_eq "flotilla wait $id" "$out" "session $id: failed (exit 1)"
expect_eq "the reason flotilla-http gave" "$(flotilla ls | grep "^$id$tab" | cut -f5)" \
	"the environment variable FL_INSTALL_TEST_NO_KEY is not set: agent llm needs it for its API key"
ok "http agents run $libexec/flotilla-http"

# ---- without a daemon, completion must not start one
kill "$daemon_pid"
# not our child, so nothing to wait on: poll, with a deadline
i=0
while kill -0 "$daemon_pid" 2>/dev/null; do
	i=$((i + 1))
	[ "$i" -le 100 ] || fail "flotillad did not exit on SIGTERM within 10 s"
	sleep 0.1
done
daemon_pid=
expect_eq "__complete-ids without a daemon" "$(flotilla __complete-ids show)" ""
if gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
	--method org.freedesktop.DBus.GetConnectionUnixProcessID io.github.flotilla.Flotilla1 \
	>/dev/null 2>&1; then
	fail "__complete-ids started flotillad"
fi
ok "completion never starts flotillad"
