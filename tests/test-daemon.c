/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fleet skeleton end to end: the real flotillad on a private bus, driven by the real
 * flotilla CLI, checked the way a user would see it.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "fl-store.h"
#include "fl-test-harness.h"

#define WAIT_MS 30000

static void
assert_ended(FlTestEnv *env, guint id, const gchar *state)
{
	g_autofree gchar *got = fl_test_wait_ended(env, id, WAIT_MS);

	g_assert_cmpstr(got, ==, state);
}

static void
test_run_show_log(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autoptr(JsonObject) obj = NULL;
	g_autofree gchar *log = NULL;
	g_autofree gchar *ls = NULL;
	const gchar *keys[] = {"id",
			       "name",
			       "goal",
			       "agent",
			       "repo",
			       "base",
			       "base_commit",
			       "branch",
			       "worktree",
			       "state",
			       "review",
			       "created",
			       "started",
			       "finished",
			       "exit_code",
			       "signal",
			       "verify",
			       "verify_command",
			       "diffstat",
			       "cost_usd",
			       "turns",
			       "waiting_for",
			       "final_message",
			       "reason",
			       "merge_commit",
			       "held",
			       "placement",
			       "placement_status",
			       NULL};
	guint id;

	/* no daemon yet: the CLI starts it */
	id = fl_test_run_session(env, NULL, "--name", "hello", "--",
				 "echo out; echo err >&2; echo again", NULL);
	g_assert_cmpuint(id, ==, 1);
	assert_ended(env, id, "done");
	obj = fl_test_show(env, id);
	for (guint i = 0; keys[i] != NULL; i++) {
		if (!json_object_has_member(obj, keys[i]))
			g_test_message("missing key %s", keys[i]);
		g_assert_true(json_object_has_member(obj, keys[i]));
	}
	g_assert_cmpint(json_object_get_int_member(obj, "id"), ==, 1);
	g_assert_cmpstr(json_object_get_string_member(obj, "name"), ==, "hello");
	g_assert_cmpstr(json_object_get_string_member(obj, "agent"), ==, "shell");
	g_assert_cmpstr(json_object_get_string_member(obj, "state"), ==, "done");
	g_assert_cmpint(json_object_get_int_member(obj, "exit_code"), ==, 0);
	g_assert_nonnull(json_object_get_string_member(obj, "finished"));
	g_assert_true(json_object_get_null_member(obj, "repo"));
	/* on this machine */
	g_assert_true(json_object_get_null_member(obj, "placement"));

	/* stdout and stderr, in order */
	log = fl_test_cli_ok(env, NULL, "log", "1", NULL);
	g_assert_cmpstr(log, ==, "out\nerr\nagain\n");
	ls = fl_test_cli_ok(env, NULL, "ls", NULL);
	g_assert_nonnull(strstr(ls, "hello"));
}

static void
test_failure_exit_code(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autoptr(JsonObject) obj = NULL;
	guint id;

	fl_test_env_start_daemon(env, NULL);
	id = fl_test_run_session(env, NULL, "--", "echo failing; exit 3", NULL);
	assert_ended(env, id, "failed");
	obj = fl_test_show(env, id);
	g_assert_cmpint(json_object_get_int_member(obj, "exit_code"), ==, 3);
	g_assert_nonnull(strstr(json_object_get_string_member(obj, "reason"), "3"));
	g_assert_nonnull(strstr(json_object_get_string_member(obj, "final_message"), "failing"));
}

/* sessions block themselves with `flotilla blocked`, which holds them until a reply */
static void
test_queue_cap_fifo(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new("[fleet]\nmax-parallel=2\n");
	g_autofree gchar *status = NULL;
	g_autofree gchar *out = NULL;
	g_autoptr(JsonObject) obj = NULL;
	guint a, b, c, d;

	fl_test_env_start_daemon(env, NULL);
	a = fl_test_run_session(env, NULL, "--", "r=$(flotilla blocked 'first?'); echo \"a:$r\"",
				NULL);
	b = fl_test_run_session(env, NULL, "--", "r=$(flotilla blocked 'second?'); echo \"b:$r\"",
				NULL);
	c = fl_test_run_session(env, NULL, "--", "r=$(flotilla blocked 'third?'); echo \"c:$r\"",
				NULL);
	d = fl_test_run_session(env, NULL, "--", "echo d", NULL);
	g_assert_true(fl_test_wait_state(env, a, "blocked", WAIT_MS));
	g_assert_true(fl_test_wait_state(env, b, "blocked", WAIT_MS));
	/* the cap holds: c and d wait, in order */
	obj = fl_test_show(env, c);
	g_assert_cmpstr(json_object_get_string_member(obj, "state"), ==, "queued");
	g_clear_pointer(&obj, json_object_unref);
	obj = fl_test_show(env, b);
	g_assert_cmpstr(json_object_get_string_member(obj, "waiting_for"), ==, "second?");
	status = fl_test_cli_ok(env, NULL, "status", "--json", NULL);
	g_assert_nonnull(strstr(status, "\"queued\" : 2"));

	/* a reply resumes a; its slot goes to c (FIFO), not d */
	g_free(fl_test_cli_ok(env, NULL, "reply", "1", "yes", "please", NULL));
	assert_ended(env, a, "done");
	out = fl_test_cli_ok(env, NULL, "log", "1", NULL);
	g_assert_cmpstr(out, ==, "a:yes please\n");
	g_assert_true(fl_test_wait_state(env, c, "blocked", WAIT_MS));
	g_clear_pointer(&obj, json_object_unref);
	obj = fl_test_show(env, d);
	g_assert_cmpstr(json_object_get_string_member(obj, "state"), ==, "queued");

	g_free(fl_test_cli_ok(env, NULL, "reply", "2", "ok", NULL));
	assert_ended(env, d, "done");
	g_free(fl_test_cli_ok(env, NULL, "cancel", "3", NULL));
	assert_ended(env, c, "cancelled");
}

/* log --follow prints output as it comes and ends with the session */
static void
test_log_follow(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
		G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
	g_autoptr(GSubprocess) follow = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *out = NULL;
	guint id;

	fl_test_env_start_daemon(env, NULL);
	id = fl_test_run_session(env, NULL, "--",
				 "echo before; r=$(flotilla blocked 'go on?'); echo \"after:$r\"",
				 NULL);
	g_assert_true(fl_test_wait_state(env, id, "blocked", WAIT_MS));
	g_subprocess_launcher_set_environ(launcher, env->envp);
	follow = g_subprocess_launcher_spawn(launcher, &error, g_getenv("FLOTILLA"), "log", "1",
					     "--follow", NULL);
	g_assert_no_error(error);
	g_free(fl_test_cli_ok(env, NULL, "reply", "1", "yes", NULL));
	g_subprocess_communicate_utf8(follow, NULL, NULL, &out, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(out, ==, "before\nafter:yes\n");
	g_assert_true(g_subprocess_get_if_exited(follow));
	g_assert_cmpint(g_subprocess_get_exit_status(follow), ==, 0);
}

static gboolean
process_with_arg_exists(const gchar *needle)
{
	g_autoptr(GDir) dir = g_dir_open("/proc", 0, NULL);
	const gchar *name;

	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *path = g_build_filename("/proc", name, "cmdline", NULL);
		g_autofree gchar *cmdline = NULL;
		gsize len = 0;
		if (!g_ascii_isdigit(name[0]))
			continue;
		if (!g_file_get_contents(path, &cmdline, &len, NULL))
			continue;
		for (gsize i = 0; i + 1 < len; i++) {
			if (cmdline[i] == '\0')
				cmdline[i] = ' ';
		}
		if (len > 0 && strstr(cmdline, needle) != NULL)
			return TRUE;
	}
	return FALSE;
}

static void
test_cancel_kills_group(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new("[fleet]\ncancel-grace=1\n");
	g_autofree gchar *started = NULL;
	guint id;

	fl_test_env_start_daemon(env, NULL);
	/* a child in the background, one that ignores SIGTERM, and one that escapes with setsid */
	id = fl_test_run_session(env, NULL, "--",
				 "sleep 4241 & (trap '' TERM; sleep 4242) & setsid sleep 4243 & "
				 "flotilla blocked ready",
				 NULL);
	g_assert_true(fl_test_wait_state(env, id, "blocked", WAIT_MS));
	g_assert_true(process_with_arg_exists("sleep 4241"));
	g_assert_true(process_with_arg_exists("sleep 4242"));
	g_assert_true(process_with_arg_exists("sleep 4243"));
	g_free(fl_test_cli_ok(env, NULL, "cancel", "1", NULL));
	assert_ended(env, id, "cancelled");
	g_assert_false(process_with_arg_exists("sleep 4241"));
	g_assert_false(process_with_arg_exists("sleep 4242"));
	g_assert_false(process_with_arg_exists("sleep 4243"));
	/* cancelling again says so */
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, NULL, "cancel", "1", NULL), ==, 1);
}

static void
touch(const gchar *path)
{
	g_autoptr(GError) error = NULL;

	g_file_set_contents(path, "", 0, &error);
	g_assert_no_error(error);
}

static void
test_restart_survival(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new("[fleet]\nmax-parallel=3\n");
	g_autofree gchar *gate_a = NULL;
	g_autofree gchar *gate_b = NULL;
	g_autofree gchar *goal_a = NULL;
	g_autofree gchar *goal_b = NULL;
	g_autofree gchar *exit_a = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *ls = NULL;
	g_autofree gchar *started_c = NULL;
	g_autofree gchar *cmd = NULL;
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	guint a, b, c, done, queued;

	gate_a = g_build_filename(env->root, "gate-a", NULL);
	gate_b = g_build_filename(env->root, "gate-b", NULL);
	goal_a = g_strdup_printf("while [ ! -e '%s' ]; do sleep 0.05; done; echo a survived",
				 gate_a);
	goal_b = g_strdup_printf("while [ ! -e '%s' ]; do sleep 0.05; done; echo b survived",
				 gate_b);
	fl_test_env_start_daemon(env, NULL);
	done = fl_test_run_session(env, NULL, "--", "echo finished before", NULL);
	assert_ended(env, done, "done");
	a = fl_test_run_session(env, NULL, "--", goal_a, NULL);
	b = fl_test_run_session(env, NULL, "--", goal_b, NULL);
	c = fl_test_run_session(env, NULL, "--", "sleep 4244", NULL);
	g_assert_true(fl_test_wait_state(env, c, "running", WAIT_MS));
	/* one more than the cap: it must start exactly once, after the restart */
	queued = fl_test_run_session(env, NULL, "--", "echo queued ran", NULL);

	started_c = g_build_filename(env->state_dir, "sessions", "4", "started.json", NULL);
	g_assert_true(fl_test_wait_file(started_c, WAIT_MS));

	/* the daemon dies hard; a ends while it is gone, b after it is back, c's runner is
	 * lost altogether */
	fl_test_env_stop_daemon(env, SIGKILL);
	touch(gate_a);
	exit_a = g_build_filename(env->state_dir, "sessions", "2", "exit.json", NULL);
	g_assert_true(fl_test_wait_file(exit_a, WAIT_MS));
	cmd = g_strdup_printf("pid=$(sed -n 's/.*\"runner_pid\": *\\([0-9]*\\).*/\\1/p' '%s'); "
			      "kill -9 -- -$pid $pid; pkill -9 -f 'sleep 424[4]'; true",
			      started_c);
	g_free(fl_test_sh(NULL, cmd));

	fl_test_env_start_daemon(env, NULL);
	assert_ended(env, a, "done");
	g_assert_true(fl_test_wait_state(env, b, "running", WAIT_MS));
	touch(gate_b);
	assert_ended(env, b, "done");
	assert_ended(env, c, "interrupted");
	assert_ended(env, queued, "done");

	out = fl_test_cli_ok(env, NULL, "log", "2", NULL);
	g_assert_cmpstr(out, ==, "a survived\n");
	g_free(out);
	out = fl_test_cli_ok(env, NULL, "log", "3", NULL);
	g_assert_cmpstr(out, ==, "b survived\n");
	g_free(out);
	out = fl_test_cli_ok(env, NULL, "log", "5", NULL);
	g_assert_cmpstr(out, ==, "queued ran\n");

	/* nothing lost or duplicated */
	ls = fl_test_cli_ok(env, NULL, "ls", "--all", "--json", NULL);
	json_parser_load_from_data(parser, ls, -1, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(json_array_get_length(json_node_get_array(json_parser_get_root(parser))),
			 ==, 5);
}

static void
test_bad_ids(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	const gchar *bad[] = {"abc", "-1", "0", "1x", "99999999999999999999", "", NULL};
	g_autofree gchar *err = NULL;

	fl_test_env_start_daemon(env, NULL);
	for (guint i = 0; bad[i] != NULL; i++) {
		g_autofree gchar *e = NULL;
		g_assert_cmpint(fl_test_cli(env, NULL, NULL, &e, "show", bad[i], NULL), ==, 2);
		g_assert_nonnull(strstr(e, "flotilla: "));
		g_assert_null(strchr(strchr(e, '\n') + 1, '\n')); /* one line */
	}
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, &err, "show", "42", NULL), ==, 2);
	g_assert_nonnull(strstr(err, "42"));
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, NULL, "cancel", "42", NULL), ==, 2);
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, NULL, "log", "42", NULL), ==, 2);
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, NULL, "approve", "42", NULL), ==, 2);
}

/* calls @method with @args; returns the error's message (the call must fail) */
static gchar *
call_fails(FlTestEnv *env, const gchar *method, GVariant *args)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
		env->conn, "io.github.flotilla.Flotilla1", "/io/github/flotilla/Flotilla1",
		"io.github.flotilla.Flotilla1", method, args, NULL, G_DBUS_CALL_FLAGS_NONE, 10000,
		NULL, &error);

	g_assert_null(reply);
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error->message, "InvalidArgument"));
	return g_strdup(error->message);
}

/* an options key the method does not know, or of the wrong type, is named, and nothing
 * happens: no digest is delivered, no draft decided */
static void
test_bad_options(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *unknown = NULL;
	g_autofree gchar *preview = NULL;
	g_autofree gchar *typed = NULL;
	g_autofree gchar *note = NULL;
	g_autofree gchar *state = NULL;
	g_autoptr(JsonObject) obj = NULL;
	guint id;

	fl_test_env_start_daemon(env, NULL);
	id = fl_test_run_session(env, NULL, "--", "echo hi > hi.txt", NULL);
	state = fl_test_wait_ended(env, id, WAIT_MS);
	g_assert_cmpstr(state, ==, "done");

	unknown = call_fails(env, "ListSessions", g_variant_new_parsed("({'bogus': <true>},)"));
	g_assert_nonnull(strstr(unknown, "unknown option 'bogus'"));
	/* older CLIs sent "preview", which never did anything */
	preview = call_fails(env, "Checkin", g_variant_new_parsed("({'preview': <true>},)"));
	g_assert_nonnull(strstr(preview, "unknown option 'preview'"));
	typed = call_fails(env, "ListSessions", g_variant_new_parsed("({'limit': <'5'>},)"));
	g_assert_nonnull(strstr(typed, "option 'limit' must be of type 'u'"));
	note = call_fails(env, "Approve", g_variant_new_parsed("(%u, {'note': <5>})", (guint32)id));
	g_assert_nonnull(strstr(note, "option 'note' must be of type 's'"));
	obj = fl_test_show(env, id);
	g_assert_cmpstr(json_object_get_string_member(obj, "review"), !=, "approved");
	/* the CLI's own `checkin --preview` still works */
	g_free(fl_test_cli_ok(env, NULL, "checkin", "--preview", NULL));
}

static void
test_bad_goals(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new("[agent echo]\ncommand=printf '%s\\n' {goal}\n");
	g_autofree gchar *huge = g_malloc(1024 * 1024 + 1);
	g_autofree gchar *err = NULL;
	g_autofree gchar *ls = NULL;
	g_autofree gchar *log = NULL;
	g_autofree gchar *pwned = g_build_filename(env->root, "pwned", NULL);
	g_autofree gchar *hostile = NULL;
	const gchar *bad_utf8 = "fix \xff\xfe bug";
	guint id;

	fl_test_env_start_daemon(env, NULL);
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, NULL, "run", "--", "", NULL), ==, 2);
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, NULL, "run", "--", "   ", NULL), ==, 2);
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, NULL, "run", NULL), ==, 2);
	/* over the limit on the command line (an argument may hold at most 128 KiB) */
	memset(huge, 'x', 1024 * 1024);
	huge[100000] = '\0';
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, &err, "run", "--", huge, NULL), ==, 2);
	g_assert_nonnull(strstr(err, "65536"));
	/* 1 MiB from a file, and straight over D-Bus: the daemon enforces it too */
	huge[100000] = 'x';
	huge[1024 * 1024] = '\0';
	{
		g_autofree gchar *file = g_build_filename(env->root, "huge-goal", NULL);
		g_autofree gchar *err2 = NULL;
		g_autoptr(GError) error = NULL;
		g_autoptr(GVariant) reply = NULL;
		GVariantBuilder b;
		g_assert_true(g_file_set_contents(file, huge, -1, NULL));
		g_assert_cmpint(fl_test_cli(env, NULL, NULL, &err2, "run", "--from", file, NULL),
				==, 2);
		g_assert_nonnull(strstr(err2, "65536"));
		g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
		g_variant_builder_add(&b, "{sv}", "goal", g_variant_new_string(huge));
		reply = g_dbus_connection_call_sync(
			env->conn, "io.github.flotilla.Flotilla1", "/io/github/flotilla/Flotilla1",
			"io.github.flotilla.Flotilla1", "Run", g_variant_new("(a{sv})", &b), NULL,
			G_DBUS_CALL_FLAGS_NONE, 10000, NULL, &error);
		g_assert_null(reply);
		g_assert_nonnull(strstr(error->message, "65536"));
		g_assert_nonnull(strstr(error->message, "LimitExceeded"));
	}
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, NULL, "run", "--", bad_utf8, NULL), ==, 2);
	g_assert_cmpint(
		fl_test_cli(env, NULL, NULL, NULL, "run", "--agent", "nope", "--", "x", NULL), ==,
		2);
	/* nothing was queued by any of that */
	ls = fl_test_cli_ok(env, NULL, "ls", "--all", "--json", NULL);
	g_assert_cmpstr(g_strstrip(ls), ==, "[]");

	/* a goal full of shell syntax reaches a non-shell agent as one literal argument */
	hostile = g_strdup_printf("$(touch %s); `touch %s` | rm -rf / ; echo \"'\" && exit 1",
				  pwned, pwned);
	id = fl_test_run_session(env, NULL, "--agent", "echo", "--", hostile, NULL);
	assert_ended(env, id, "done");
	log = fl_test_cli_ok(env, NULL, "log", "1", NULL);
	g_assert_cmpstr(g_strchomp(log), ==, hostile);
	g_assert_false(g_file_test(pwned, G_FILE_TEST_EXISTS));
}

static void
test_invalid_utf8_output(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *show = NULL;
	g_autofree gchar *ls = NULL;
	g_autofree gchar *human = NULL;
	g_autoptr(JsonObject) obj = NULL;
	guint id;

	fl_test_env_start_daemon(env, NULL);
	id = fl_test_run_session(env, NULL, "--",
				 "printf 'bad \\377\\376 bytes \\033[31mred\\n'; exit 1", NULL);
	assert_ended(env, id, "failed");
	show = fl_test_cli_ok(env, NULL, "show", "1", "--json", NULL);
	g_assert_true(g_utf8_validate(show, -1, NULL));
	ls = fl_test_cli_ok(env, NULL, "ls", "--json", NULL);
	g_assert_true(g_utf8_validate(ls, -1, NULL));
	human = fl_test_cli_ok(env, NULL, "show", "1", NULL);
	g_assert_true(g_utf8_validate(human, -1, NULL));
	/* no terminal escape reaches the user's terminal */
	g_assert_null(strchr(human, '\033'));
	obj = fl_test_show(env, id);
	g_assert_nonnull(strstr(json_object_get_string_member(obj, "final_message"), "bytes"));
}

/*
 * One text, one rule set: what an agent writes with a colour code and a right-to-left override
 * reads the same in `show --json`, in `ls` and in the check-in digest, without either
 */
static void
test_hostile_text_same_everywhere(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	const gchar *hostile = "printf '\\033[31mALERT\\033[0m \\342\\200\\256gnp.exe\\n'";
	const gchar *clean = "ALERT gnp.exe";
	g_autofree gchar *blocks = g_strdup_printf("flotilla blocked \"$(%s)\"", hostile);
	g_autofree gchar *fails = g_strdup_printf("%s; exit 1", hostile);
	g_autofree gchar *ls = NULL;
	g_autofree gchar *ls_json = NULL;
	g_autofree gchar *digest = NULL;
	g_autofree gchar *human = NULL;
	g_autofree gchar *line = NULL;
	g_autofree gchar *asks = NULL;
	g_autoptr(JsonObject) blocked = NULL;
	g_autoptr(JsonObject) failed = NULL;
	guint a, b;

	fl_test_env_start_daemon(env, NULL);
	a = fl_test_run_session(env, NULL, "--name", "asks", "--", blocks, NULL);
	g_assert_true(fl_test_wait_state(env, a, "blocked", WAIT_MS));
	b = fl_test_run_session(env, NULL, "--name", "says", "--", fails, NULL);
	assert_ended(env, b, "failed");

	blocked = fl_test_show(env, a);
	g_assert_cmpstr(json_object_get_string_member(blocked, "waiting_for"), ==, clean);
	failed = fl_test_show(env, b);
	g_assert_cmpstr(json_object_get_string_member(failed, "final_message"), ==, clean);
	ls_json = fl_test_cli_ok(env, NULL, "ls", "--json", NULL);
	g_assert_nonnull(strstr(ls_json, clean));
	/* `ls` into a pipe: "ID STATE REVIEW TITLE NOTE", the note being what it asks */
	ls = fl_test_cli_ok(env, NULL, "ls", NULL);
	line = g_strdup_printf("%u\tblocked\tnone\tasks\t%s\n", a, clean);
	g_assert_nonnull(strstr(ls, line));
	digest = fl_test_cli_ok(env, NULL, "checkin", "--preview", NULL);
	asks = g_strdup_printf("asks: %s", clean);
	g_assert_nonnull(strstr(digest, asks));
	human = fl_test_cli_ok(env, NULL, "show", "2", NULL);
	g_assert_nonnull(strstr(human, clean));
	/* (the goals hold "\\033[31m" as text: the exact fields above show none of it is left) */
	for (const gchar *out[] = {ls, ls_json, digest, human}, **p = out; p < out + 4; p++) {
		g_assert_null(strchr(*p, '\033'));
		g_assert_null(strstr(*p, "\xe2\x80\xae"));
	}
	fl_test_cli_ok(env, NULL, "cancel", "1", NULL);
	assert_ended(env, a, "cancelled");
}

static guint64
daemon_rss_kb(FlTestEnv *env)
{
	g_autofree gchar *path =
		g_strdup_printf("/proc/%s/status", g_subprocess_get_identifier(env->daemon));
	g_autofree gchar *status = NULL;
	const gchar *line;

	g_assert_true(g_file_get_contents(path, &status, NULL, NULL));
	line = strstr(status, "VmRSS:");
	g_assert_nonnull(line);
	return g_ascii_strtoull(line + 6, NULL, 10);
}

static void
test_huge_output_flat_memory(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *log = NULL;
	g_autoptr(JsonObject) obj = NULL;
	guint64 before, after;
	struct stat st;
	guint id;

	if (g_getenv("FL_TEST_VALGRIND") != NULL) {
		g_test_skip("500 MB under valgrind takes too long; the default setup runs it");
		return;
	}
	fl_test_env_start_daemon(env, NULL);
	before = daemon_rss_kb(env);
	id = fl_test_run_session(env, NULL, "--",
				 "yes 'a line of output that repeats' | head -c 500000000", NULL);
	assert_ended(env, id, "done");
	after = daemon_rss_kb(env);
	g_test_message("daemon RSS %" G_GUINT64_FORMAT " kB before, %" G_GUINT64_FORMAT
		       " kB after 500 MB of output",
		       before, after);
	g_assert_cmpuint(after, <, before + 16 * 1024);
	log = g_build_filename(env->state_dir, "sessions", "1", "output.log", NULL);
	g_assert_cmpint(g_stat(log, &st), ==, 0);
	g_assert_cmpint(st.st_size, ==, 500000000);
	obj = fl_test_show(env, id);
	g_assert_cmpuint(strlen(json_object_get_string_member(obj, "final_message")), <=, 4096);
	g_unlink(log);
}

static gint
run_daemon_direct(FlTestEnv *env, gchar **err)
{
	const gchar *argv[] = {g_getenv("FLOTILLAD"), NULL};
	g_autoptr(GError) error = NULL;
	gint status = 0;

	g_spawn_sync(env->root, (gchar **)argv, env->envp, G_SPAWN_DEFAULT, NULL, NULL, NULL, err,
		     &status, &error);
	g_assert_no_error(error);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
test_bad_config(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new("[fleet]\nmax-paralel=3\n");
	g_autofree gchar *err = NULL;
	g_autofree gchar *err2 = NULL;
	g_autofree gchar *err3 = NULL;

	g_assert_cmpint(run_daemon_direct(env, &err), ==, 1);
	g_assert_nonnull(strstr(err, env->config_path));
	g_assert_nonnull(strstr(err, "[fleet]"));
	g_assert_nonnull(strstr(err, "max-paralel"));
	fl_test_env_write_config(env, "[fleet]\nmax-parallel=lots\n");
	g_assert_cmpint(run_daemon_direct(env, &err2), ==, 1);
	g_assert_nonnull(strstr(err2, "max-parallel"));
	g_assert_nonnull(strstr(err2, "lots"));
	fl_test_env_write_config(env, "[checkin]\ntimes=25:00\n");
	g_assert_cmpint(run_daemon_direct(env, &err3), ==, 1);
	g_assert_nonnull(strstr(err3, "times"));
	/* the CLI says it cannot reach the daemon */
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, NULL, "status", NULL), ==, 3);
}

static void
test_bad_state_dir(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *file = g_build_filename(env->root, "not-a-dir", NULL);
	g_autofree gchar *err = NULL;
	g_autofree gchar *err2 = NULL;
	g_autofree gchar *db = NULL;
	g_autofree gchar *before = NULL;
	g_autofree gchar *after = NULL;
	g_autofree gchar *cmd = NULL;
	g_autofree gchar *state_home = NULL;

	touch(file);
	env->envp = g_environ_setenv(env->envp, "XDG_STATE_HOME", file, TRUE);
	g_assert_cmpint(run_daemon_direct(env, &err), ==, 1);
	g_assert_nonnull(strstr(err, file));

	/* a database written by a newer flotillad is refused and left untouched */
	state_home = g_path_get_dirname(env->state_dir);
	env->envp = g_environ_setenv(env->envp, "XDG_STATE_HOME", state_home, TRUE);
	g_assert_cmpint(g_mkdir_with_parents(env->state_dir, 0700), ==, 0);
	db = g_build_filename(env->state_dir, "flotilla.db", NULL);
	cmd = g_strdup_printf("%s -c \"import sqlite3; c = sqlite3.connect('%s'); "
			      "c.execute('PRAGMA user_version = 99'); c.execute('CREATE TABLE "
			      "future(x)'); c.commit()\"",
			      g_getenv("FL_TEST_PYTHON"), db);
	g_free(fl_test_sh(NULL, cmd));
	g_file_get_contents(db, &before, NULL, NULL);
	g_assert_cmpint(run_daemon_direct(env, &err2), ==, 1);
	g_assert_nonnull(strstr(err2, "newer"));
	g_file_get_contents(db, &after, NULL, NULL);
	g_assert_cmpmem(before, 8192, after, 8192);
}

/* ids of `ls --all --json` output, in the order printed */
static GArray *
ls_json_ids(FlTestEnv *env, const gchar *limit)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *out = NULL;
	GArray *ids = g_array_new(FALSE, FALSE, sizeof(guint));
	JsonArray *array;

	if (limit != NULL)
		out = fl_test_cli_ok(env, NULL, "ls", "--all", "--json", "--limit", limit, NULL);
	else
		out = fl_test_cli_ok(env, NULL, "ls", "--all", "--json", NULL);
	json_parser_load_from_data(parser, out, -1, &error);
	g_assert_no_error(error);
	array = json_node_get_array(json_parser_get_root(parser));
	for (guint i = 0; i < json_array_get_length(array); i++) {
		JsonObject *obj = json_array_get_object_element(array, i);
		guint id = (guint)json_object_get_int_member(obj, "id");
		g_autofree gchar *goal = g_strdup_printf("stored %u", id);
		g_assert_cmpstr(json_object_get_string_member(obj, "goal"), ==, goal);
		g_array_append_val(ids, id);
	}
	return ids;
}

/* a long history is listed in pages; the output is one list, nothing lost or repeated */
static void
test_ls_all_pages(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autoptr(FlStore) store = NULL;
	g_autoptr(GPtrArray) datas =
		g_ptr_array_new_with_free_func((GDestroyNotify)fl_session_data_free);
	g_autoptr(GArray) all = NULL;
	g_autoptr(GArray) limited = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GVariant) page = NULL;
	g_autofree gchar *plain = NULL;
	g_auto(GStrv) lines = NULL;
	const guint total = 1234;

	/* written as an earlier flotillad would have left them */
	store = fl_store_new(env->state_dir, &error);
	g_assert_no_error(error);
	for (guint i = 1; i <= total; i++) {
		FlSessionData *d = fl_session_data_new();
		d->goal = g_strdup_printf("stored %u", i);
		d->agent = g_strdup("shell");
		d->state = FL_STATE_DONE;
		d->created = d->started = d->finished = g_get_real_time();
		g_ptr_array_add(datas, d);
	}
	g_assert_true(fl_store_insert_sessions(store, datas, NULL, NULL, &error));
	g_assert_no_error(error);
	g_clear_object(&store);
	fl_test_env_start_daemon(env, NULL);

	all = ls_json_ids(env, NULL);
	g_assert_cmpuint(all->len, ==, total);
	for (guint i = 0; i < all->len; i++)
		g_assert_cmpuint(g_array_index(all, guint, i), ==, total - i);
	/* a limit that ends inside the second page */
	limited = ls_json_ids(env, "501");
	g_assert_cmpuint(limited->len, ==, 501);
	g_assert_cmpuint(g_array_index(limited, guint, 500), ==, total - 500);

	/* the same as lines */
	plain = fl_test_cli_ok(env, NULL, "ls", "--all", NULL);
	lines = g_strsplit(plain, "\n", -1);
	g_assert_cmpuint(g_strv_length(lines), ==, total + 1);
	g_assert_true(g_str_has_prefix(lines[0], "1234\tdone\t"));
	g_assert_true(g_str_has_prefix(lines[total - 1], "1\tdone\t"));

	/* the page the CLI asks for: older than an id */
	reply = g_dbus_connection_call_sync(
		env->conn, "io.github.flotilla.Flotilla1", "/io/github/flotilla/Flotilla1",
		"io.github.flotilla.Flotilla1", "ListSessions",
		g_variant_new_parsed("({'all': <true>, 'before': <@u 10>, 'limit': <@u 3>},)"),
		G_VARIANT_TYPE("(aa{sv})"), G_DBUS_CALL_FLAGS_NO_AUTO_START, 5000, NULL, &error);
	g_assert_no_error(error);
	page = g_variant_get_child_value(reply, 0);
	g_assert_cmpuint(g_variant_n_children(page), ==, 3);
	for (guint i = 0; i < 3; i++) {
		g_autoptr(GVariant) session = g_variant_get_child_value(page, i);
		guint id = 0;
		g_assert_true(g_variant_lookup(session, "id", "u", &id));
		g_assert_cmpuint(id, ==, 9 - i);
	}
}

static void
test_second_daemon(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *err = NULL;
	g_autoptr(GSubprocess) first = NULL;
	g_autofree gchar *gate = g_build_filename(env->root, "gate", NULL);
	g_autofree gchar *goal =
		g_strdup_printf("while [ ! -e '%s' ]; do sleep 0.05; done; echo ok", gate);
	guint id;

	fl_test_env_start_daemon(env, NULL);
	id = fl_test_run_session(env, NULL, "--", goal, NULL);
	g_assert_true(fl_test_wait_state(env, id, "running", WAIT_MS));
	/* without --replace the newcomer steps back */
	g_assert_cmpint(run_daemon_direct(env, &err), ==, 1);
	g_assert_nonnull(strstr(err, "--replace"));
	/* with --replace it takes over and adopts the running session */
	first = g_object_ref(env->daemon);
	fl_test_env_start_daemon(env, "--replace");
	g_subprocess_wait(first, NULL, NULL);
	g_assert_true(g_subprocess_get_if_exited(first));
	g_assert_cmpint(g_subprocess_get_exit_status(first), ==, 0);
	touch(gate);
	assert_ended(env, id, "done");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/daemon/run-show-log", test_run_show_log);
	g_test_add_func("/daemon/failure-exit-code", test_failure_exit_code);
	g_test_add_func("/daemon/queue-cap-fifo", test_queue_cap_fifo);
	g_test_add_func("/daemon/log-follow", test_log_follow);
	g_test_add_func("/daemon/cancel-kills-group", test_cancel_kills_group);
	g_test_add_func("/daemon/restart-survival", test_restart_survival);
	g_test_add_func("/daemon/bad-ids", test_bad_ids);
	g_test_add_func("/daemon/bad-goals", test_bad_goals);
	g_test_add_func("/daemon/bad-options", test_bad_options);
	g_test_add_func("/daemon/invalid-utf8-output", test_invalid_utf8_output);
	g_test_add_func("/daemon/hostile-text-same-everywhere", test_hostile_text_same_everywhere);
	g_test_add_func("/daemon/huge-output-flat-memory", test_huge_output_flat_memory);
	g_test_add_func("/daemon/bad-config", test_bad_config);
	g_test_add_func("/daemon/bad-state-dir", test_bad_state_dir);
	g_test_add_func("/daemon/second-daemon", test_second_daemon);
	g_test_add_func("/daemon/ls-all-pages", test_ls_all_pages);
	return g_test_run();
}
