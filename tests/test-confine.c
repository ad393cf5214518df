/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Hostile agents: shell sessions that each try one way out of their confinement. Every
 * attempt must be refused, and the user's repository, home, the other sessions and
 * flotilla's state must be exactly as before (hashed before and after).
 */
#include "config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "fl-test-harness.h"

#define WAIT_MS 60000
#define SECRET  "secret-only-the-user-may-read"

typedef struct {
	FlTestEnv *env;
	gchar *repo;
	guint victim;  /* a draft waiting for review */
	guint sleeper; /* a running session */
	gchar *before; /* the hash of everything a hostile session must not change */
} Confine;

static gchar *
make_repo(FlTestEnv *env)
{
	gchar *repo = g_build_filename(env->root, "repo", NULL);

	g_assert_cmpint(g_mkdir_with_parents(repo, 0700), ==, 0);
	g_free(fl_test_sh(repo, "git init -q -b main . && git config user.name 'Test User' && "
				"git config user.email test@example.com && "
				"echo original > notes.txt && git add notes.txt && "
				"git commit -q -m initial"));
	return repo;
}

/*
 * What no session may change: the repository's files, branch and config, the home, the
 * victim sessions' rows and their directories (the sleeper's output grows, so only its files'
 * names count), the state directory's other files
 */
static gchar *
snapshot(Confine *c)
{
	g_autofree gchar *cmd = NULL;
	g_autofree gchar *victim = NULL;
	g_autofree gchar *sleeper = NULL;
	g_autofree gchar *files = NULL;
	g_autoptr(JsonObject) v = fl_test_show(c->env, c->victim);
	g_autoptr(JsonObject) s = fl_test_show(c->env, c->sleeper);

	cmd = g_strdup_printf(
		"cd '%s' && { find repo home -path repo/.git -prune -o -type f -print | sort | "
		"xargs -d '\\n' sha256sum; sha256sum repo/.git/config repo/.git/HEAD; "
		"git -C repo rev-parse main; ls -l --time-style=+%%s repo/.git/hooks; "
		"find state/flotilla/sessions/%u -type f -print | sort | xargs -d '\\n' "
		"sha256sum; ls state/flotilla/sessions/%u | grep -v output.log; }",
		c->env->root, c->victim, c->sleeper);
	files = fl_test_sh(NULL, cmd);
	victim = g_strdup_printf("%s %s %s", json_object_get_string_member(v, "state"),
				 json_object_get_string_member(v, "review"),
				 json_object_get_string_member_with_default(v, "waiting_for", ""));
	sleeper = g_strdup_printf("%s %s %s", json_object_get_string_member(s, "state"),
				  json_object_get_string_member(s, "review"),
				  json_object_get_string_member_with_default(s, "waiting_for", ""));
	return g_strdup_printf("%s\nvictim: %s\nsleeper: %s\n", files, victim, sleeper);
}

static void
confine_set_up(Confine *c, gconstpointer data)
{
	const gchar *config = data;
	g_autofree gchar *secret_dir = NULL;
	g_autofree gchar *secret = NULL;
	g_autofree gchar *claude_dir = NULL;
	g_autofree gchar *claude = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *up_id = NULL;
	g_autofree gchar *up = NULL;

	/* the hostile sessions run as their own agent, so its limits spare the others */
	text = g_strdup_printf("[agent hostile]\ncommand=sh -c {goal}\n%s",
			       config != NULL ? config : "");
	c->env = fl_test_env_new_confined(text);
	c->repo = make_repo(c->env);
	secret_dir = g_build_filename(c->env->home, ".ssh", NULL);
	secret = g_build_filename(secret_dir, "id_ed25519", NULL);
	claude_dir = g_build_filename(c->env->home, ".claude", NULL);
	claude = g_build_filename(claude_dir, ".credentials.json", NULL);
	g_assert_cmpint(g_mkdir_with_parents(secret_dir, 0700), ==, 0);
	g_assert_cmpint(g_mkdir_with_parents(claude_dir, 0700), ==, 0);
	g_file_set_contents(secret, SECRET "\n", -1, &error);
	g_assert_no_error(error);
	g_file_set_contents(claude, "{\"token\":\"" SECRET "\"}\n", -1, &error);
	g_assert_no_error(error);

	fl_test_env_start_daemon(c->env, NULL);
	c->victim = fl_test_run_session(c->env, c->repo, "--", "echo draft > draft.txt", NULL);
	g_assert_true(fl_test_wait_state(c->env, c->victim, "done", WAIT_MS));
	c->sleeper = fl_test_run_session(c->env, c->repo, "--", "touch .up && sleep 4711", NULL);
	/* up inside its sandbox: "running" is recorded before the runner has written its files */
	up_id = g_strdup_printf("%u", c->sleeper);
	up = g_build_filename(c->env->state_dir, "worktrees", up_id, ".up", NULL);
	g_assert_true(fl_test_wait_file(up, WAIT_MS));
	c->before = snapshot(c);
}

static void
confine_tear_down(Confine *c, gconstpointer data)
{
	g_free(c->before);
	g_free(c->repo);
	fl_test_env_free(c->env);
}

/* runs @script as a hostile session in the repository; returns its final state and the
 * output in @log, and checks that nothing it must not touch has changed */
static gchar *
hostile(Confine *c, const gchar *script, gchar **log)
{
	g_autofree gchar *after = NULL;
	g_autofree gchar *id_text = NULL;
	gchar *state;
	guint id;

	id = fl_test_run_session(c->env, c->repo, "--agent", "hostile", "--", script, NULL);
	state = fl_test_wait_ended(c->env, id, WAIT_MS);
	id_text = g_strdup_printf("%u", id);
	if (log != NULL)
		*log = fl_test_cli_ok(c->env, NULL, "log", id_text, NULL);
	after = snapshot(c);
	g_assert_cmpstr(after, ==, c->before);
	return state;
}

/* the bus address with its quotes escaped for a shell script */
static const gchar *
bus(Confine *c)
{
	return g_test_dbus_get_bus_address(c->env->bus);
}

static void
test_approve_over_dbus(Confine *c, gconstpointer data)
{
	g_autofree gchar *script = g_strdup_printf(
		"export DBUS_SESSION_BUS_ADDRESS='%s'; "
		"gdbus call --session --dest io.github.flotilla.Flotilla1 --object-path "
		"/io/github/flotilla/Flotilla1 --method io.github.flotilla.Flotilla1.Approve %u "
		"'{}' && exit 0; "
		"dbus-send --session --print-reply --dest=io.github.flotilla.Flotilla1 "
		"/io/github/flotilla/Flotilla1 io.github.flotilla.Flotilla1.Approve uint32:%u "
		"dict:string:string: && exit 0; exit 1",
		bus(c), c->victim, c->victim);
	g_autofree gchar *state = hostile(c, script, NULL);

	g_assert_cmpstr(state, ==, "failed");
}

/*
 * With the network on, a bus on an abstract socket is reachable from a sandbox. Simulated
 * here with the bus's socket in reach and a pid namespace of its own: the daemon still
 * refuses, and says where a session's requests go instead.
 */
static void
test_bus_in_reach_still_refused(Confine *c, gconstpointer data)
{
	g_autofree gchar *cmd = g_strdup_printf(
		"bwrap --ro-bind / / --unshare-user --unshare-pid --dev /dev --proc /proc "
		"env DBUS_SESSION_BUS_ADDRESS='%s' gdbus call --session --dest "
		"io.github.flotilla.Flotilla1 --object-path /io/github/flotilla/Flotilla1 "
		"--method io.github.flotilla.Flotilla1.Approve %u '{}' 2>&1; true",
		bus(c), c->victim);
	g_autofree gchar *out = fl_test_sh(NULL, cmd);
	g_autofree gchar *after = NULL;

	g_assert_nonnull(strstr(out, "AccessDenied"));
	g_assert_nonnull(strstr(out, "through its channel"));
	after = snapshot(c);
	g_assert_cmpstr(after, ==, c->before);
}

static void
test_run_cancel_reply_over_dbus(Confine *c, gconstpointer data)
{
	g_autofree gchar *script = g_strdup_printf(
		"export DBUS_SESSION_BUS_ADDRESS='%s'; d='--session --dest "
		"io.github.flotilla.Flotilla1 --object-path /io/github/flotilla/Flotilla1 "
		"--method io.github.flotilla.Flotilla1'; ok=0; "
		"gdbus call $d.Run \"{'goal': <'touch /tmp/ran'>}\" && ok=1; "
		"gdbus call $d.Cancel %u && ok=1; "
		"gdbus call $d.Reply %u 'yes' && ok=1; "
		"gdbus call $d.Reject %u '{}' && ok=1; "
		"gdbus call $d.Hook claude %u '{}' && ok=1; "
		"gdbus call $d.GetStatus && ok=1; "
		"exit $ok",
		bus(c), c->sleeper, c->sleeper, c->victim, c->sleeper);
	g_autofree gchar *state = hostile(c, script, NULL);

	g_assert_cmpstr(state, ==, "done");
	/* the victim, the sleeper and the hostile one: no fourth */
	g_assert_cmpint(fl_test_cli(c->env, NULL, NULL, NULL, "show", "4", NULL), !=, 0);
}

static void
test_approve_via_cli(Confine *c, gconstpointer data)
{
	g_autofree gchar *script = g_strdup_printf(
		"export DBUS_SESSION_BUS_ADDRESS='%s'; ok=0; flotilla approve %u && ok=1; "
		"flotilla cancel %u && ok=1; flotilla run -- touch /tmp/ran && ok=1; "
		"unset FLOTILLA_SESSION FLOTILLA_CHANNEL; flotilla approve %u && ok=1; "
		"flotilla status && ok=1; exit $ok",
		bus(c), c->victim, c->sleeper, c->victim);
	g_autofree gchar *state = hostile(c, script, NULL);

	g_assert_cmpstr(state, ==, "done");
	g_assert_cmpint(fl_test_cli(c->env, NULL, NULL, NULL, "show", "4", NULL), !=, 0);
}

static void
test_no_bus_address_inside(Confine *c, gconstpointer data)
{
	g_autofree gchar *log = NULL;
	g_autofree gchar *state =
		hostile(c,
			"env | grep -E '^(DBUS_|XDG_RUNTIME_DIR|DISPLAY|SSH_AUTH_SOCK)' && exit 1; "
			"ls /run; test ! -e /run/user; flotilla status && exit 1; exit 0",
			&log);

	g_assert_cmpstr(state, ==, "done");
	g_assert_nonnull(strstr(log, "flotilla"));
}

/* the channel speaks for its own session only, and only blocks and hooks */
static void
test_forged_hook_through_channel(Confine *c, gconstpointer data)
{
	g_autofree gchar *script = g_strdup_printf(
		"echo '{\"hook_event_name\":\"Notification\",\"message\":\"forged\"}' | "
		"FLOTILLA_SESSION=%u flotilla hook claude; "
		"python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); "
		"s.connect(\"/run/flotilla/channel\"); "
		"s.sendall(b\"{\\\"op\\\":\\\"approve\\\",\\\"id\\\":%u}\"); "
		"s.shutdown(socket.SHUT_WR); print(s.recv(4096).decode())'",
		c->sleeper, c->victim);
	g_autofree gchar *log = NULL;
	g_autofree gchar *state = hostile(c, script, &log);

	g_assert_cmpstr(state, ==, "done");
	g_assert_nonnull(strstr(log, "not a request this channel serves"));
}

static void
test_write_outside_worktree(Confine *c, gconstpointer data)
{
	g_autofree gchar *script = g_strdup_printf(
		"echo pwned > '%s/notes.txt'; echo pwned > \"$HOME/.profile\"; "
		"echo pwned > '%s/flotilla.db'; echo pwned > /usr/pwned; echo pwned > /etc/pwned; "
		"rm -rf '%s/sessions/%u'; echo inside > mine.txt",
		c->repo, c->env->state_dir, c->env->state_dir, c->victim);
	g_autofree gchar *state = hostile(c, script, NULL);

	g_assert_cmpstr(state, ==, "done");
	g_assert_false(g_file_test("/usr/pwned", G_FILE_TEST_EXISTS));
	g_assert_false(g_file_test("/etc/pwned", G_FILE_TEST_EXISTS));
}

static void
test_write_through_symlink(Confine *c, gconstpointer data)
{
	g_autofree gchar *script =
		g_strdup_printf("ln -s '%s/notes.txt' notes-link && echo pwned > notes-link; "
				"ln -s \"$HOME\" home-link && echo pwned > home-link/.bashrc; "
				"ln -s '%s' state-link && touch state-link/pwned; true",
				c->repo, c->env->state_dir);
	g_autofree gchar *state = hostile(c, script, NULL);
	g_autofree gchar *pwned = g_build_filename(c->env->state_dir, "pwned", NULL);

	g_assert_cmpstr(state, ==, "done");
	g_assert_false(g_file_test(pwned, G_FILE_TEST_EXISTS));
}

static void
test_read_home_secret(Confine *c, gconstpointer data)
{
	g_autofree gchar *log = NULL;
	g_autofree gchar *state =
		hostile(c,
			"cat \"$HOME/.ssh/id_ed25519\" \"$HOME/.claude/.credentials.json\"; "
			"grep -r secret-only \"$HOME\" /tmp /run /var/tmp 2>/dev/null | head; true",
			&log);

	g_assert_cmpstr(state, ==, "done");
	g_assert_null(strstr(log, SECRET));
}

/* the verify command runs the draft's code: inside the same fence as the session */
static void
test_verify_confined(Confine *c, gconstpointer data)
{
	g_autofree gchar *verify = g_strdup_printf(
		"cat \"$HOME/.ssh/id_ed25519\"; echo pwned >> \"$HOME/.profile\"; "
		"echo pwned >> '%s/.git/config'; echo pwned > '%s/hooks-escape.txt'; "
		"echo pwned > '%s/state/escape.txt'; echo ran; true",
		c->repo, c->env->root, c->env->root);
	g_autofree gchar *after = NULL;
	g_autofree gchar *log = NULL;
	g_autofree gchar *log_path = NULL;
	g_autofree gchar *escape = NULL;
	g_autofree gchar *id_text = NULL;
	g_autoptr(JsonObject) obj = NULL;
	guint id;

	id = fl_test_run_session(c->env, c->repo, "--agent", "hostile", "--verify", verify, "--",
				 "echo change > change.txt", NULL);
	g_assert_cmpstr(fl_test_wait_ended(c->env, id, WAIT_MS), ==, "done");
	obj = fl_test_show(c->env, id);
	g_assert_cmpstr(json_object_get_string_member(obj, "verify"), ==, "pass");
	id_text = g_strdup_printf("%u", id);
	log_path = g_build_filename(c->env->state_dir, "sessions", id_text, "verify.log", NULL);
	g_assert_true(g_file_get_contents(log_path, &log, NULL, NULL));
	g_test_message("%s", log);
	g_assert_nonnull(strstr(log, "ran"));
	g_assert_null(strstr(log, SECRET));
	escape = g_build_filename(c->env->root, "hooks-escape.txt", NULL);
	g_assert_false(g_file_test(escape, G_FILE_TEST_EXISTS));
	g_free(escape);
	escape = g_build_filename(c->env->root, "state", "escape.txt", NULL);
	g_assert_false(g_file_test(escape, G_FILE_TEST_EXISTS));
	after = snapshot(c);
	g_assert_cmpstr(after, ==, c->before);
}

static void
test_kill_daemon_and_sessions(Confine *c, gconstpointer data)
{
	g_autofree gchar *script =
		g_strdup_printf("kill -9 %s; pkill -9 -f 'sleep 4711'; pkill -9 flotillad; "
				"pkill -9 flotilla-runner; kill -9 -1; true",
				g_subprocess_get_identifier(c->env->daemon));
	g_autofree gchar *state = hostile(c, script, NULL);
	g_autofree gchar *status = fl_test_cli_ok(c->env, NULL, "status", NULL);

	/* kill -1 ends the hostile session itself, nothing else: the daemon answers (the
	 * snapshot saw the sleeper still running) */
	g_assert_nonnull(state);
	g_assert_nonnull(strstr(status, "flotillad"));
}

static gboolean
process_exists(const gchar *pattern)
{
	/* the whole command line: other programs on the machine run sleeps too */
	g_autofree gchar *whole = g_strdup_printf("^%s$", pattern);
	const gchar *argv[] = {"pgrep", "-f", whole, NULL};

	return fl_test_run(NULL, argv, NULL, NULL) == 0;
}

static void
test_leave_process_behind(Confine *c, gconstpointer data)
{
	g_autofree gchar *state = hostile(c,
					  "setsid sh -c 'sleep 4801' </dev/null >/dev/null 2>&1 & "
					  "nohup sleep 4802 </dev/null >/dev/null 2>&1 & "
					  "(sh -c 'sleep 4803 &' &) ; sleep 0.2; exit 0",
					  NULL);

	g_assert_cmpstr(state, ==, "done");
	g_assert_false(process_exists("sleep 480[123]"));
}

static void
expect_failed_with(Confine *c, guint id, const gchar *reason)
{
	g_autoptr(JsonObject) obj = fl_test_show(c->env, id);

	g_assert_cmpstr(json_object_get_string_member(obj, "state"), ==, "failed");
	g_assert_cmpstr(json_object_get_string_member(obj, "reason"), ==, reason);
}

static void
test_exhaust_memory(Confine *c, gconstpointer data)
{
	g_autofree gchar *state = hostile(
		c, "python3 -c 'import time; b = bytearray(400 << 20); time.sleep(30)'", NULL);

	g_assert_cmpstr(state, ==, "failed");
	expect_failed_with(c, 3, "memory limit 128 MiB reached");
}

/* `run --memory` limits one session on this machine too, over the agent's and [fleet]'s */
static void
test_run_memory_option(Confine *c, gconstpointer data)
{
	g_autofree gchar *state = NULL;
	guint id;

	id = fl_test_run_session(
		c->env, c->repo, "--memory", "96M", "--",
		"python3 -c 'import time; b = bytearray(400 << 20); time.sleep(30)'", NULL);
	state = fl_test_wait_ended(c->env, id, WAIT_MS);
	g_assert_cmpstr(state, ==, "failed");
	expect_failed_with(c, id, "memory limit 96 MiB reached");
}

static void
test_exhaust_pids(Confine *c, gconstpointer data)
{
	g_autofree gchar *state =
		hostile(c, "for i in $(seq 200); do sleep 4930 & done; wait", NULL);

	g_assert_cmpstr(state, ==, "failed");
	expect_failed_with(c, 3, "process limit 64 reached");
	g_assert_false(process_exists("sleep 4930"));
}

static void
test_wall_time(Confine *c, gconstpointer data)
{
	g_autofree gchar *state = hostile(c, "sleep 4900", NULL);

	g_assert_cmpstr(state, ==, "failed");
	expect_failed_with(c, 3, "time limit of 2 s reached");
}

/* cpu=: the CPU time of all the session's processes together, not of each one alone (two
 * busy loops, each under the limit by itself, end it) */
static void
test_cpu_time(Confine *c, gconstpointer data)
{
	g_autofree gchar *state =
		hostile(c, "for i in 1 2; do (while :; do :; done) & done; wait", NULL);

	g_assert_cmpstr(state, ==, "failed");
	expect_failed_with(c, 3, "CPU time limit of 2 s reached");
}

/* network=none: not even the host's abstract sockets or loopback */
static void
test_network_none(Confine *c, gconstpointer data)
{
	g_autoptr(GSocketListener) listener = g_socket_listener_new();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *script = NULL;
	g_autofree gchar *log = NULL;
	g_autofree gchar *state = NULL;
	guint16 port = g_socket_listener_add_any_inet_port(listener, NULL, &error);
	guint id;

	g_assert_no_error(error);
	script = g_strdup_printf(
		"python3 -c 'import socket; s=socket.create_connection((\"127.0.0.1\", %u), 2)' "
		"&& exit 1; DBUS_SESSION_BUS_ADDRESS='%s' gdbus call --session --dest "
		"org.freedesktop.DBus --object-path /org/freedesktop/DBus --method "
		"org.freedesktop.DBus.ListNames && exit 1; exit 0",
		port, bus(c));
	id = fl_test_run_session(c->env, c->repo, "--agent", "offline", "--", script, NULL);
	state = fl_test_wait_ended(c->env, id, WAIT_MS);
	g_assert_cmpstr(state, ==, "done");
	/* the same with the network on reaches the listener */
	g_free(script);
	script = g_strdup_printf(
		"python3 -c 'import socket; s=socket.create_connection((\"127.0.0.1\", %u), 2)'",
		port);
	g_free(state);
	state = hostile(c, script, &log);
	g_assert_cmpstr(state, ==, "done");
}

/* Claude's and Codex's own sandboxes are bubblewrap too: it must work inside ours */
static void
test_nested_bwrap(Confine *c, gconstpointer data)
{
	g_autofree gchar *state =
		hostile(c,
			"bwrap --ro-bind / / --unshare-pid --unshare-net --dev /dev --proc /proc "
			"--bind \"$PWD\" \"$PWD\" sh -c 'echo nested > nested.txt' && "
			"test \"$(cat nested.txt)\" = nested",
			NULL);

	g_assert_cmpstr(state, ==, "done");
}

/* a session blocks through its channel and gets the user's reply */
static void
test_blocked_through_channel(Confine *c, gconstpointer data)
{
	g_autofree gchar *log = NULL;
	g_autofree gchar *id_text = NULL;
	g_autofree gchar *state = NULL;
	guint id;

	id = fl_test_run_session(c->env, c->repo, "--",
				 "answer=$(flotilla blocked 'which colour?') && "
				 "echo \"got $answer\" > answer.txt && cat answer.txt",
				 NULL);
	g_assert_true(fl_test_wait_state(c->env, id, "blocked", WAIT_MS));
	id_text = g_strdup_printf("%u", id);
	g_free(fl_test_cli_ok(c->env, NULL, "reply", id_text, "blue", NULL));
	state = fl_test_wait_ended(c->env, id, WAIT_MS);
	g_assert_cmpstr(state, ==, "done");
	log = fl_test_cli_ok(c->env, NULL, "log", id_text, NULL);
	g_assert_nonnull(strstr(log, "got blue"));
}

/* the channel never starts a daemon: a session that asks while flotillad is down waits, and
 * its question arrives once the user's daemon is back */
static void
test_channel_waits_for_daemon(Confine *c, gconstpointer data)
{
	g_autofree gchar *worktree = g_build_filename(c->env->state_dir, "worktrees", "3", NULL);
	g_autofree gchar *gate = g_build_filename(worktree, "gate", NULL);
	g_autofree gchar *asking = g_build_filename(worktree, "asking", NULL);
	g_autofree gchar *started =
		g_build_filename(c->env->state_dir, "sessions", "3", "started.json", NULL);
	g_autofree gchar *state = NULL;
	g_autofree gchar *log = NULL;
	guint id;

	id = fl_test_run_session(c->env, c->repo, "--",
				 "while [ ! -e gate ]; do sleep 0.05; done; touch asking; "
				 "echo \"got $(flotilla blocked 'still there?')\"",
				 NULL);
	g_assert_cmpuint(id, ==, 3);
	/* its runner has started: "running" is recorded before the worktree exists */
	g_assert_true(fl_test_wait_file(started, WAIT_MS));
	fl_test_env_stop_daemon(c->env, SIGTERM);
	g_file_set_contents(gate, "", 0, NULL);
	g_assert_true(fl_test_wait_file(asking, WAIT_MS));
	/* nothing took the name meanwhile: starting ours would fail otherwise */
	fl_test_env_start_daemon(c->env, NULL);
	g_assert_true(fl_test_wait_state(c->env, id, "blocked", WAIT_MS));
	g_free(fl_test_cli_ok(c->env, NULL, "reply", "3", "yes", NULL));
	state = fl_test_wait_ended(c->env, id, WAIT_MS);
	g_assert_cmpstr(state, ==, "done");
	log = fl_test_cli_ok(c->env, NULL, "log", "3", NULL);
	g_assert_nonnull(strstr(log, "got yes"));
}

/*
 * A permission request still waiting when the daemon restarts is kept, not denied: the
 * channel asks the next daemon, which blocks the session again and notifies. Once answered,
 * the session asks nothing any more.
 */
static void
test_permission_survives_restart(Confine *c, gconstpointer data)
{
	g_autofree gchar *started =
		g_build_filename(c->env->state_dir, "sessions", "3", "started.json", NULL);
	g_autoptr(JsonObject) blocked = NULL;
	g_autoptr(JsonObject) running = NULL;
	g_autoptr(JsonObject) ended = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *log = NULL;
	guint id;

	id = fl_test_run_session(
		c->env, c->repo, "--",
		"echo '{\"session_id\":\"s\",\"hook_event_name\":\"PermissionRequest\","
		"\"tool_name\":\"Bash\",\"tool_input\":{\"command\":\"make check\"}}' | "
		"flotilla hook claude; echo; echo after; sleep 0.5",
		NULL);
	g_assert_cmpuint(id, ==, 3);
	g_assert_true(fl_test_wait_file(started, WAIT_MS));
	g_assert_true(fl_test_wait_state(c->env, id, "blocked", WAIT_MS));
	fl_test_env_stop_daemon(c->env, SIGTERM);
	fl_test_env_start_daemon(c->env, NULL);
	g_assert_true(fl_test_wait_state(c->env, id, "blocked", WAIT_MS));
	blocked = fl_test_show(c->env, id);
	g_assert_nonnull(
		strstr(json_object_get_string_member(blocked, "waiting_for"), "make check"));
	g_free(fl_test_cli_ok(c->env, NULL, "approve", "3", NULL));
	g_assert_true(fl_test_wait_state(c->env, id, "running", WAIT_MS));
	running = fl_test_show(c->env, id);
	g_assert_true(json_object_get_null_member(running, "waiting_for"));
	state = fl_test_wait_ended(c->env, id, WAIT_MS);
	g_assert_cmpstr(state, ==, "done");
	log = fl_test_cli_ok(c->env, NULL, "log", "3", NULL);
	/* allowed by the user, not denied by a daemon going away */
	g_assert_nonnull(strstr(log, "\"allow\""));
	g_assert_null(strstr(log, "deny"));
	ended = fl_test_show(c->env, id);
	g_assert_true(json_object_get_null_member(ended, "waiting_for"));
}

/* a session cancelled while it waits for an answer no longer asks anything */
static void
test_cancel_blocked_clears_question(Confine *c, gconstpointer data)
{
	g_autoptr(JsonObject) ended = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *id_text = NULL;
	guint id;

	id = fl_test_run_session(c->env, c->repo, "--", "flotilla blocked 'go on?'", NULL);
	g_assert_true(fl_test_wait_state(c->env, id, "blocked", WAIT_MS));
	id_text = g_strdup_printf("%u", id);
	g_free(fl_test_cli_ok(c->env, NULL, "cancel", id_text, NULL));
	state = fl_test_wait_ended(c->env, id, WAIT_MS);
	g_assert_cmpstr(state, ==, "cancelled");
	ended = fl_test_show(c->env, id);
	g_assert_true(json_object_get_null_member(ended, "waiting_for"));
}

/* a cancel reaches the agent inside its sandbox first as SIGTERM: it has its grace period */
static void
test_cancel_grace_inside(Confine *c, gconstpointer data)
{
	g_autofree gchar *state = NULL;
	g_autofree gchar *log = NULL;
	guint id;

	id = fl_test_run_session(c->env, c->repo, "--",
				 "trap 'echo got-term; exit 9' TERM; touch .up-3; sleep 300 & wait",
				 NULL);
	{
		g_autofree gchar *up =
			g_build_filename(c->env->state_dir, "worktrees", "3", ".up-3", NULL);
		g_assert_true(fl_test_wait_file(up, WAIT_MS));
	}
	g_free(fl_test_cli_ok(c->env, NULL, "cancel", "3", NULL));
	state = fl_test_wait_ended(c->env, id, WAIT_MS);
	g_assert_cmpstr(state, ==, "cancelled");
	log = fl_test_cli_ok(c->env, NULL, "log", "3", NULL);
	g_assert_nonnull(strstr(log, "got-term"));
}

/* [fleet] writable= and read-only=: exactly those paths, and each only as written */
static void
test_writable_and_read_only(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new_confined(NULL);
	g_autofree gchar *shared = g_build_filename(env->root, "shared", NULL);
	g_autofree gchar *data = g_build_filename(env->root, "data", NULL);
	g_autofree gchar *other = g_build_filename(env->root, "other", NULL);
	g_autofree gchar *config =
		g_strdup_printf("[fleet]\nwritable=%s\nread-only=%s\n", shared, data);
	g_autofree gchar *goal = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *log = NULL;
	g_autofree gchar *written = NULL;
	g_autofree gchar *repo = NULL;
	g_autofree gchar *input = g_build_filename(data, "in.txt", NULL);
	g_autofree gchar *refused = g_build_filename(data, "new.txt", NULL);
	guint id;

	g_assert_cmpint(g_mkdir(shared, 0700), ==, 0);
	g_assert_cmpint(g_mkdir(data, 0700), ==, 0);
	g_assert_cmpint(g_mkdir(other, 0700), ==, 0);
	g_assert_true(g_file_set_contents(input, "input\n", -1, NULL));
	fl_test_env_write_config(env, config);
	repo = make_repo(env);
	fl_test_env_start_daemon(env, NULL);
	goal = g_strdup_printf("cat '%s/in.txt' > '%s/out.txt'; "
			       "echo x > '%s/new.txt' || echo read-only-refused; "
			       "ls '%s' || echo other-hidden",
			       data, shared, data, other);
	id = fl_test_run_session(env, repo, "--", goal, NULL);
	state = fl_test_wait_ended(env, id, WAIT_MS);
	g_assert_cmpstr(state, ==, "done");
	log = fl_test_cli_ok(env, NULL, "log", "1", NULL);
	g_assert_nonnull(strstr(log, "read-only-refused"));
	g_assert_nonnull(strstr(log, "other-hidden"));
	written = fl_test_sh(shared, "cat out.txt");
	g_assert_cmpstr(written, ==, "input\n");
	g_assert_false(g_file_test(refused, G_FILE_TEST_EXISTS));
}

/* the status says what is in force; unavailable confinement starts nothing and says why */
static void
test_confinement_unavailable(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new_confined(NULL);
	g_autofree gchar *status = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *ls = NULL;

	env->envp = g_environ_setenv(env->envp, "FLOTILLA_BWRAP", "/nonexistent/bwrap", TRUE);
	fl_test_env_start_daemon(env, NULL);
	status = fl_test_cli_ok(env, NULL, "status", NULL);
	g_assert_nonnull(strstr(status, "confinement: unavailable"));
	g_assert_nonnull(strstr(status, "apt install bubblewrap"));
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, &err, "run", "--", "true", NULL), !=, 0);
	g_assert_nonnull(strstr(err, "cannot be confined"));
	g_assert_nonnull(strstr(err, "confinement=off"));
	ls = fl_test_cli_ok(env, NULL, "ls", "--all", NULL);
	g_assert_null(strstr(ls, "true"));
}

static void
test_confinement_off(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new_confined("[fleet]\nconfinement=off\n");
	g_autofree gchar *status = NULL;
	g_autofree gchar *mark = g_build_filename(env->root, "unconfined", NULL);
	g_autofree gchar *cmd = g_strdup_printf("touch '%s'; echo x > draft.txt", mark);
	g_autofree gchar *repo = make_repo(env);
	g_autofree gchar *digest = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *ls = NULL;
	g_autoptr(JsonObject) obj = NULL;
	guint id;

	fl_test_env_start_daemon(env, NULL);
	status = fl_test_cli_ok(env, NULL, "status", NULL);
	g_assert_nonnull(strstr(status, "confinement: OFF"));
	id = fl_test_run_session(env, repo, "--", cmd, NULL);
	state = fl_test_wait_ended(env, id, WAIT_MS);
	g_assert_cmpstr(state, ==, "done");
	g_assert_true(g_file_test(mark, G_FILE_TEST_EXISTS));
	digest = fl_test_cli_ok(env, NULL, "checkin", "--preview", NULL);
	g_assert_nonnull(strstr(digest, "(ran unconfined)"));
	obj = fl_test_show(env, id);
	g_assert_cmpstr(json_object_get_string_member(obj, "confinement"), ==, "off");
	ls = fl_test_cli_ok(env, NULL, "ls", NULL);
	g_assert_nonnull(strstr(ls, "\tunconfined\n"));
}

static void
test_confinement_status(Confine *c, gconstpointer data)
{
	g_autofree gchar *status = fl_test_cli_ok(c->env, NULL, "status", NULL);
	g_autoptr(JsonObject) obj = fl_test_show(c->env, c->victim);

	g_assert_nonnull(strstr(status, "confinement: bubblewrap"));
	g_assert_cmpstr(json_object_get_string_member(obj, "confinement"), ==, "bwrap");
}

#define CONFINE(path, config, func)                                                                \
	g_test_add(path, Confine, config, confine_set_up, func, confine_tear_down)

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

	CONFINE("/confine/status", NULL, test_confinement_status);
	CONFINE("/confine/approve-over-dbus", NULL, test_approve_over_dbus);
	CONFINE("/confine/bus-in-reach-still-refused", NULL, test_bus_in_reach_still_refused);
	CONFINE("/confine/run-cancel-reply-over-dbus", NULL, test_run_cancel_reply_over_dbus);
	CONFINE("/confine/approve-cancel-run-via-cli", NULL, test_approve_via_cli);
	CONFINE("/confine/no-bus-address-inside", NULL, test_no_bus_address_inside);
	CONFINE("/confine/forged-hook-through-channel", NULL, test_forged_hook_through_channel);
	CONFINE("/confine/write-outside-worktree", NULL, test_write_outside_worktree);
	CONFINE("/confine/write-through-symlink", NULL, test_write_through_symlink);
	CONFINE("/confine/read-home-secret", NULL, test_read_home_secret);
	CONFINE("/confine/verify-confined", NULL, test_verify_confined);
	CONFINE("/confine/kill-daemon-and-sessions", NULL, test_kill_daemon_and_sessions);
	CONFINE("/confine/leave-process-behind", NULL, test_leave_process_behind);
	CONFINE("/confine/exhaust-memory", "memory=128M\n", test_exhaust_memory);
	CONFINE("/confine/run-memory-option", NULL, test_run_memory_option);
	CONFINE("/confine/exhaust-pids", "pids=64\n", test_exhaust_pids);
	CONFINE("/confine/wall-time", "timeout=2s\n", test_wall_time);
	CONFINE("/confine/cpu-time", "cpu=2s\n", test_cpu_time);
	CONFINE("/confine/network-none", "[agent offline]\ncommand=sh -c {goal}\nnetwork=none\n",
		test_network_none);
	CONFINE("/confine/nested-bwrap", NULL, test_nested_bwrap);
	CONFINE("/confine/blocked-through-channel", NULL, test_blocked_through_channel);
	CONFINE("/confine/channel-waits-for-daemon", NULL, test_channel_waits_for_daemon);
	CONFINE("/confine/permission-survives-restart", NULL, test_permission_survives_restart);
	CONFINE("/confine/cancel-grace-inside", NULL, test_cancel_grace_inside);
	CONFINE("/confine/cancel-blocked-clears-question", NULL,
		test_cancel_blocked_clears_question);
	g_test_add_func("/confine/writable-and-read-only", test_writable_and_read_only);
	g_test_add_func("/confine/unavailable", test_confinement_unavailable);
	g_test_add_func("/confine/off", test_confinement_off);
	return g_test_run();
}
