/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the command line tells a user when something is wrong: flotillad's own reason when it
 * cannot start, a sentence with the fix when there is no session bus, `config check`, `wait`
 * on several sessions, and the bad-usage catalogue as one table (every command × missing,
 * unknown and non-numeric ids, bad flags, wrong state), each row an exit status and one line.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "fl-test-harness.h"

#define WAIT_MS 30000

static gchar *
make_repo(FlTestEnv *env, const gchar *name)
{
	gchar *repo = g_build_filename(env->root, name, NULL);

	g_assert_cmpint(g_mkdir_with_parents(repo, 0700), ==, 0);
	g_free(fl_test_sh(repo, "git init -q -b main . && git config user.name 'Test User' && "
				"git config user.email test@example.com && echo one > notes.txt && "
				"git add notes.txt && git commit -q -m initial"));
	return repo;
}

static void
assert_ended(FlTestEnv *env, guint id, const gchar *state)
{
	g_autofree gchar *got = fl_test_wait_ended(env, id, WAIT_MS);

	g_assert_cmpstr(got, ==, state);
}

/* exactly one line, "flotilla: …" */
static void
assert_one_line(const gchar *err)
{
	g_assert_nonnull(err);
	g_assert_true(g_str_has_prefix(err, "flotilla: "));
	g_assert_nonnull(strchr(err, '\n'));
	g_assert_cmpstr(strchr(err, '\n') + 1, ==, "");
}

static gboolean
daemon_running(FlTestEnv *env)
{
	g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
		env->conn, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
		"NameHasOwner", g_variant_new("(s)", "io.github.flotilla.Flotilla1"),
		G_VARIANT_TYPE("(b)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
	gboolean owned = FALSE;

	g_assert_nonnull(reply);
	g_variant_get(reply, "(b)", &owned);
	return owned;
}

/* ---- flotillad cannot start ---- */

static const struct {
	const gchar *config;
	const gchar *group;
	const gchar *key;
} bad_configs[] = {
	{"[fleet]\nmax-paralel=3\n", "[fleet]", "max-paralel"},
	{"[fleet]\nmax-parallel=lots\n", "[fleet]", "lots"},
	{"[checkin]\ntimes=25:00\n", "[checkin]", "times"},
	{"[flet]\nmax-parallel=3\n", "[flet]", "unknown group"},
	{"[agent two words]\ncommand=x\n", "[agent two words]", "one word"},
	{"[checkin]\nwebhook=ftp://example.com\n", "[checkin]", "webhook"},
	{"max-parallel=3\n", "", ""},
};

static void
test_start_error(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *file = g_build_filename(env->root, "not-a-dir", NULL);
	g_autofree gchar *err = NULL;

	for (guint i = 0; i < G_N_ELEMENTS(bad_configs); i++) {
		g_autofree gchar *e = NULL;

		fl_test_env_write_config(env, bad_configs[i].config);
		/* the CLI starts flotillad itself and reports why it stopped */
		g_assert_cmpint(fl_test_cli(env, NULL, NULL, &e, "status", NULL), ==, 3);
		assert_one_line(e);
		g_assert_nonnull(strstr(e, "flotillad cannot start: "));
		g_assert_nonnull(strstr(e, env->config_path));
		g_assert_nonnull(strstr(e, bad_configs[i].group));
		g_assert_nonnull(strstr(e, bad_configs[i].key));
		g_assert_null(strstr(e, "exited with status"));
		g_assert_false(daemon_running(env));
	}

	/* fixed: the old reason does not come back, the daemon starts */
	fl_test_env_write_config(env, "[fleet]\nmax-parallel=2\n");
	g_free(fl_test_cli_ok(env, NULL, "status", NULL));
	g_assert_true(daemon_running(env));
	g_assert_false(g_file_test(env->state_dir, G_FILE_TEST_IS_REGULAR));

	/* not only the config: a state directory that cannot be one */
	{
		g_autoptr(FlTestEnv) env2 = fl_test_env_new(NULL);
		g_assert_true(g_file_set_contents(file, "", 0, NULL));
		env2->envp = g_environ_setenv(env2->envp, "XDG_STATE_HOME", file, TRUE);
		g_assert_cmpint(fl_test_cli(env2, NULL, NULL, &err, "ls", NULL), ==, 3);
		assert_one_line(err);
		g_assert_nonnull(strstr(err, file));
		g_assert_null(strstr(err, "exited with status"));
	}
}

/*
 * The same in German while flotillad itself runs in C, as under D-Bus activation, where the
 * daemon has the session's environment and not the terminal's: it writes its reason as a
 * message and the CLI renders it in its own language.
 */
static void
test_start_error_german(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *wrapper = g_build_filename(env->root, "flotillad-in-c", NULL);
	g_autofree gchar *script =
		g_strdup_printf("#!/bin/sh\nexec env LC_ALL=C.UTF-8 LANGUAGE= '%s' \"$@\"\n",
				g_getenv("FLOTILLAD"));
	const struct {
		const gchar *config;
		const gchar *german;
	} cases[] = {
		{"[fleet]\nmax-paralel=3\n", "[fleet] max-paralel: unbekannter Schlüssel"},
		{"[flet]\nmax-parallel=3\n", "[flet]: unbekannte Gruppe"},
		{"[agent two words]\ncommand=x\n", "Ein Agentenname muss ein einzelnes Wort sein"},
	};

	g_assert_true(g_file_set_contents(wrapper, script, -1, NULL));
	g_assert_cmpint(g_chmod(wrapper, 0755), ==, 0);
	fl_test_env_use_locales(env);
	env->envp = g_environ_setenv(env->envp, "FLOTILLAD", wrapper, TRUE);
	env->envp = g_environ_setenv(env->envp, "LC_ALL", "de_DE.UTF-8", TRUE);
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *e = NULL;

		fl_test_env_write_config(env, cases[i].config);
		g_assert_cmpint(fl_test_cli(env, NULL, NULL, &e, "status", NULL), ==, 3);
		assert_one_line(e);
		g_assert_nonnull(strstr(e, "flotillad kann nicht starten: "));
		g_assert_nonnull(strstr(e, cases[i].german));
		g_assert_false(daemon_running(env));
	}
}

/* ---- no session bus ---- */

static void
test_no_session_bus(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *address = g_strdup_printf("unix:path=%s/no-bus", env->root);
	const gchar *commands[] = {"status", "ls", "show", NULL};

	env->envp = g_environ_setenv(env->envp, "DBUS_SESSION_BUS_ADDRESS", address, TRUE);
	for (guint i = 0; commands[i] != NULL; i++) {
		const gchar *args[] = {commands[i], i == 2 ? "1" : NULL, NULL};
		g_autofree gchar *err = NULL;

		g_assert_cmpint(fl_test_cliv(env, NULL, args, NULL, &err), ==, 3);
		assert_one_line(err);
		g_assert_nonnull(strstr(err, "session bus"));
		g_assert_nonnull(strstr(err, "dbus-run-session"));
		/* GIO's own words name no remedy */
		g_assert_null(strstr(err, "Could not connect"));
		g_assert_null(strstr(err, "No such file"));
	}
	/* with no address at all GIO would talk of X11 and autolaunch */
	env->envp = g_environ_unsetenv(env->envp, "DBUS_SESSION_BUS_ADDRESS");
	{
		g_autofree gchar *err = NULL;
		g_assert_cmpint(fl_test_cli(env, NULL, NULL, &err, "status", NULL), ==, 3);
		assert_one_line(err);
		g_assert_null(strstr(err, "X11"));
		g_assert_nonnull(strstr(err, "dbus-run-session"));
	}
}

/* ---- config check ---- */

static void
test_config_check(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new("[fleet]\nmax-parallel=2\n");
	g_autofree gchar *other = g_build_filename(env->root, "other.conf", NULL);
	g_autofree gchar *missing = g_build_filename(env->root, "missing.conf", NULL);
	g_autofree gchar *out = NULL;
	g_autofree gchar *out2 = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *err2 = NULL;
	g_autofree gchar *err3 = NULL;
	g_autofree gchar *err4 = NULL;

	out = fl_test_cli_ok(env, NULL, "config", "check", NULL);
	g_assert_nonnull(strstr(out, env->config_path));
	g_assert_nonnull(strstr(out, "ok"));

	/* a mistake: exit 1, the file, group and key on one line */
	g_assert_true(g_file_set_contents(other, "[checkin]\nevry=30m\n", -1, NULL));
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, &err, "config", "check", other, NULL), ==, 1);
	assert_one_line(err);
	g_assert_nonnull(strstr(err, other));
	g_assert_nonnull(strstr(err, "[checkin]"));
	g_assert_nonnull(strstr(err, "evry"));

	/* the daemon's file is the default, and FLOTILLA_CONFIG names it as for flotillad */
	env->envp = g_environ_setenv(env->envp, "FLOTILLA_CONFIG", other, TRUE);
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, &err2, "config", "check", NULL), ==, 1);
	g_assert_nonnull(strstr(err2, "evry"));
	env->envp = g_environ_unsetenv(env->envp, "FLOTILLA_CONFIG");

	/* no file at all is fine for flotillad; a file named on the command line must exist */
	g_assert_cmpint(g_unlink(env->config_path), ==, 0);
	out2 = fl_test_cli_ok(env, NULL, "config", "check", NULL);
	g_assert_nonnull(strstr(out2, "defaults"));
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, &err3, "config", "check", missing, NULL), ==,
			2);
	assert_one_line(err3);
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, &err4, "config", "chek", NULL), ==, 2);
	assert_one_line(err4);

	/* checking never starts the daemon */
	g_assert_false(daemon_running(env));
}

/* ---- wait ---- */

static void
test_wait(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new("[fleet]\nmax-parallel=4\n");
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *out = NULL;
	g_autofree gchar *out2 = NULL;
	g_autofree gchar *out3 = NULL;
	g_autofree gchar *out4 = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *sa = NULL;
	g_autofree gchar *sb = NULL;
	g_autofree gchar *sv = NULL;
	g_autofree gchar *sh = NULL;
	g_autofree gchar *trigger = g_build_filename(env->root, "go", NULL);
	g_autofree gchar *goal = NULL;
	guint a, b, v, h;

	fl_test_env_start_daemon(env, NULL);
	a = fl_test_run_session(env, repo, "--", "echo a > a.txt", NULL);
	b = fl_test_run_session(env, repo, "--", "echo b > b.txt", NULL);
	v = fl_test_run_session(env, repo, "--verify", "false", "--", "echo v > v.txt", NULL);
	sa = g_strdup_printf("%u", a);
	sb = g_strdup_printf("%u", b);
	sv = g_strdup_printf("%u", v);

	/* several ids: one line each, 0 when every one is done and verified */
	out = fl_test_cli_ok(env, NULL, "wait", sa, sb, NULL);
	g_assert_nonnull(strstr(out, "done"));
	g_assert_nonnull(strchr(out, '\n'));
	g_assert_nonnull(strchr(strchr(out, '\n') + 1, '\n'));

	/* a draft whose verify failed: `wait V && approve V` must not merge it */
	g_assert_cmpint(fl_test_cli(env, NULL, &out2, NULL, "wait", sv, NULL), ==, 1);
	g_assert_nonnull(strstr(out2, "verify failed"));
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, NULL, "wait", sa, sv, NULL), ==, 1);

	/* --timeout: still running after it, exit 1, the session untouched */
	goal = g_strdup_printf("while [ ! -e '%s' ]; do sleep 0.1; done", trigger);
	h = fl_test_run_session(env, NULL, "--", goal, NULL);
	sh = g_strdup_printf("%u", h);
	g_assert_true(fl_test_wait_state(env, h, "running", WAIT_MS));
	g_assert_cmpint(fl_test_cli(env, NULL, &out3, NULL, "wait", "--timeout", "1s", sh, NULL),
			==, 1);
	g_assert_nonnull(strstr(out3, "still running"));

	/* --all waits for what is active now, not for what has ended */
	g_assert_cmpint(fl_test_cli(env, NULL, &out4, NULL, "wait", "--all", "-t", "1", NULL), ==,
			1);
	g_assert_true(g_str_has_prefix(out4, "session "));
	g_assert_nonnull(strstr(out4, sh));
	g_assert_nonnull(strstr(out4, "still running"));
	/* one line: only the session still running */
	g_assert_cmpstr(strchr(out4, '\n'), ==, "\n");
	g_assert_true(g_file_set_contents(trigger, "", 0, NULL));
	g_free(fl_test_cli_ok(env, NULL, "wait", sh, NULL));
	assert_ended(env, h, "done");

	/* an unknown id among known ones: refused before any waiting */
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, &err, "wait", sa, "42", NULL), ==, 2);
	assert_one_line(err);
	g_assert_nonnull(strstr(err, "42"));
}

/* a queue held by the WIP limit says why in `wait` too */
static void
test_wait_held(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new("[fleet]\nmax-unreviewed=1\n");
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *sc = NULL;
	guint a, c;

	fl_test_env_start_daemon(env, NULL);
	a = fl_test_run_session(env, repo, "--", "echo a > a.txt", NULL);
	assert_ended(env, a, "done");
	c = fl_test_run_session(env, repo, "--", "echo c > c.txt", NULL);
	sc = g_strdup_printf("%u", c);
	g_assert_cmpint(fl_test_cli(env, NULL, &out, &err, "wait", "--timeout", "1", sc, NULL), ==,
			1);
	g_assert_nonnull(strstr(err, "held"));
	g_assert_nonnull(strstr(err, "max-unreviewed"));
	g_assert_nonnull(strstr(out, "still queued"));
}

/* ---- the bad-usage catalogue ---- */

/* placeholders in a row's arguments, replaced by the ids of sessions in those states */
#define DRAFT   "<draft>"    /* done, draft pending review */
#define DECIDED "<decided>"  /* draft rejected */
#define NOCHG   "<nochange>" /* done, made no changes */
#define BLOCKED "<blocked>"  /* blocked on a question */
#define FAILED  "<failed>"   /* exited 1, nothing changed */

typedef struct {
	const gchar *args[8];
	gint status;
	const gchar *needle; /* in the one error line */
	/* the needle is the user's own word (an id, an option, a name), so it stays in German */
	gboolean own;
	const gchar *de; /* in the German line, where the row asserts it */
	/* why the German line still has the English needle (a site not converted to FlMsg yet):
	 * asserted, so that the mark goes when the site is converted */
	const gchar *pending;
} UsageRow;

#define OWN TRUE

static const UsageRow usage_table[] = {
	/* a command that takes one id, without it, with an unknown one, a non-number, a flag */
	{{"show"}, 2, "needs a session id"},
	{{"show", "42"}, 2, "42", OWN},
	{{"show", "abc"}, 2, "neither an id", FALSE, "weder eine Nummer noch der Name"},
	{{"show", "1", "2"}, 2, "unexpected argument"},
	{{"show", "--bogus", "1"}, 2, "--bogus", OWN},
	{{"log"}, 2, "needs a session id"},
	{{"log", "42"}, 2, "42", OWN},
	{{"log", "x1"}, 2, "neither an id"},
	{{"log", "--bogus", "1"}, 2, "--bogus", OWN},
	{{"diff"}, 2, "needs a session id"},
	{{"diff", "42"}, 2, "42", OWN},
	{{"diff", "-3"}, 2, "-3", OWN},
	{{"diff", "--bogus", "1"}, 2, "--bogus", OWN},
	{{"approve"}, 2, "needs a session id"},
	{{"approve", "42"}, 2, "42", OWN},
	{{"approve", "abc"}, 2, "neither an id"},
	{{"approve", "--bogus", "1"}, 2, "--bogus", OWN},
	{{"reject"}, 2, "needs a session id"},
	{{"reject", "42"}, 2, "42", OWN},
	{{"reject", "0"}, 2, "not a session id"},
	{{"reject", "--bogus", "1"}, 2, "--bogus", OWN},
	{{"revert"}, 2, "needs a session id"},
	{{"revert", "42"}, 2, "42", OWN},
	{{"revert", "1.5"}, 2, "not a session id"},
	{{"revert", "#x"}, 2, "not a session id"},
	{{"revert", "--bogus", "1"}, 2, "--bogus", OWN},
	{{"cancel"}, 2, "needs a session id"},
	{{"cancel", "42"}, 2, "42", OWN},
	{{"cancel", "abc"}, 2, "neither an id"},
	{{"cancel", "--bogus", "1"}, 2, "--bogus", OWN},
	{{"reply"}, 2, "needs a session id"},
	{{"reply", "42", "hello"}, 2, "42", OWN},
	{{"reply", "abc", "hello"}, 2, "neither an id"},
	{{"reply", BLOCKED}, 2, "reply is empty"},
	{{"reply", "--bogus", "1", "x"}, 2, "--bogus", OWN},
	{{"wait"}, 2, "needs a session id"},
	{{"wait", "42"}, 2, "42", OWN},
	{{"wait", "abc"}, 2, "neither an id"},
	{{"wait", "--all", "1"}, 2, "--all", OWN},
	{{"wait", "--timeout", "soon", "1"}, 2, "soon", OWN},
	{{"wait", "--bogus", "1"}, 2, "--bogus", OWN},
	/* commands without ids */
	{{"run"}, 2, "goal"},
	{{"run", "--bogus", "--", "x"}, 2, "--bogus", OWN},
	{{"run", "--agent", "nosuch", "--", "x"}, 2, "nosuch", OWN},
	{{"run", "--base", "flotilla/1", "--", "x"}, 2, "draft branch"},
	{{"run", "--scratch", "--base", "main", "--", "x"}, 2, "--base", OWN},
	{{"run", "--repo", "/", "--", "x"}, 2, "--scratch", OWN},
	{{"run", "--agent", "ghost", "--", "x"}, 1, "flotilla-no-such-program", OWN},
	{{"ls", "extra"}, 2, "unexpected argument"},
	{{"ls", "--bogus"}, 2, "--bogus", OWN},
	{{"ls", "--limit", "many"}, 2, "many", OWN},
	{{"status", "extra"}, 2, "unexpected argument"},
	{{"status", "--bogus"}, 2, "--bogus", OWN},
	{{"checkin", "--bogus"}, 2, "--bogus", OWN},
	{{"review", "--bogus"}, 2, "--bogus", OWN},
	{{"retry"}, 2, "needs a session id"},
	{{"retry", "42"}, 2, "42", OWN},
	{{"retry", "--bogus", "1"}, 2, "--bogus", OWN},
	{{"retry", BLOCKED}, 1, "still blocked"},
	{{"pause", "now"}, 2, "unexpected argument"},
	{{"resume", "--bogus"}, 2, "--bogus", OWN},
	{{"set"}, 2, "needs a setting"},
	{{"set", "max-parallel"}, 2, "needs a setting"},
	{{"set", "max-paralel", "2"}, 2, "max-paralel", OWN},
	{{"set", "max-parallel", "two"}, 2, "two", OWN},
	{{"set", "max-parallel", "0"}, 2, "1 to 256"},
	{{"set", "max-unreviewed", "10001"}, 2, "0 to 10000"},
	{{"set", "max-parallel", "2", "3"}, 2, "unexpected argument"},
	{{"run", "--priority", "urgent", "--", "true"}, 2, "urgent", OWN},
	{{"run", "--budget", "lots", "--", "true"}, 2, "lots", OWN},
	{{"run", "--budget", "0", "--", "true"}, 2, "'0'", OWN},
	{{"run", "--budget", "-1", "--", "true"}, 2, "'-1'", OWN},
	{{"run", "--budget", "2.50", "--agent", "shell", "--", "true"}, 2, "claude and http"},
	{{"run", "--priority"}, 2, "--priority", OWN},
	{{"reload", "now"}, 2, "unexpected argument"},
	{{"clean", "now"}, 2, "unexpected argument"},
	{{"clean", "--state", "pending"}, 2, "pending", OWN},
	{{"clean", "--older-than", "soon"}, 2, "soon", OWN},
	{{"clean", "--bogus"}, 2, "--bogus", OWN},
	{{"reload", "--bogus"}, 2, "--bogus", OWN},
	{{"refresh"}, 2, "needs a session id"},
	{{"refresh", "42"}, 2, "42", OWN},
	{{"refresh", "abc"}, 2, "neither an id"},
	{{"refresh", "--bogus", "1"}, 2, "--bogus", OWN},
	{{"dismiss"}, 2, "needs a session id"},
	{{"dismiss", "42"}, 2, "42", OWN},
	{{"dismiss", "abc"}, 2, "neither an id"},
	{{"dismiss", "--bogus", "1"}, 2, "--bogus", OWN},
	{{"retry", "--onto-current", "42"}, 2, "42", OWN},
	{{"approve", "@nosuch"}, 2, "nosuch", OWN},
	{{"reject", "@nosuch"}, 2, "nosuch", OWN},
	{{"show", "@nosuch"}, 2, "nosuch", OWN},
	{{"revert", "@nosuch"}, 2, "member by member"},
	{{"run", "--race", "0", "--", "true"}, 2, "--race", OWN},
	{{"run", "--race", "1", "--", "true"}, 2, "--race", OWN},
	{{"run", "--race", "many", "--", "true"}, 2, "many", OWN},
	{{"run", "--group", "no/slash", "--", "true"}, 2, "no/slash", OWN},
	{{"run", "--after", "42", "--", "true"}, 2, "42", OWN},
	{{"run", "--after", "abc", "--", "true"}, 2, "abc", OWN},
	{{"run", "--after-done", "42", "--", "true"}, 2, "42", OWN},
	{{"pause", "--group"}, 2, "--group", OWN},
	{{"config"}, 2, "check", OWN},
	{{"config", "--bogus"}, 2, "--bogus", OWN},
	{{"help", "nosuch"}, 2, "nosuch", OWN},
	{{"blocked", "question"}, 2, "FLOTILLA_SESSION", OWN},
	{{"nosuch"}, 2, "nosuch", OWN},
	{{"aprove", "1"}, 2, "approve", OWN},
	{{"--bogus"}, 2, "--bogus", OWN},
	/* wrong state: refusals, exit 1, nothing changed */
	{{"approve", BLOCKED}, 1, "blocked"},
	{{"approve", NOCHG},
	 1,
	 "no changes",
	 FALSE,
	 "hat nichts geändert: es gibt nichts anzunehmen"},
	{{"reject", NOCHG}, 1, "no changes"},
	{{"approve", FAILED}, 1, "no changes"},
	{{"reject", DECIDED},
	 1,
	 "already rejected",
	 FALSE,
	 "wurde bereits entschieden (abgelehnt)"},
	{{"approve", DECIDED}, 1, "already rejected"},
	{{"revert", DRAFT}, 1, "not merged", FALSE, "nicht zusammengeführt (Durchsicht: offen)"},
	{{"revert", DECIDED}, 1, "not merged"},
	{{"cancel", DECIDED}, 1, "already ended", FALSE, "ist bereits beendet (fertig)"},
	{{"cancel", FAILED}, 1, "already ended"},
	{{"reply", DRAFT, "more"}, 1, "not waiting for a reply"},
	{{"wait", FAILED}, 1, NULL},
	{{"refresh", DECIDED}, 2, "already rejected", FALSE, "wurde bereits abgelehnt"},
	{{"refresh", NOCHG}, 1, "nothing to refresh"},
	{{"refresh", FAILED}, 1, "nothing to refresh"},
	{{"dismiss", DRAFT}, 1, "reject it instead"},
	{{"dismiss", BLOCKED}, 1, "blocked", FALSE, "blockiert"},
	{{"run", "--after", DECIDED, "--", "true"}, 2, "rejected"},
};

static void
test_usage_table(void)
{
	g_autoptr(FlTestEnv) env =
		fl_test_env_new("[agent ghost]\ncommand=flotilla-no-such-program {goal}\n");
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *ids[5] = {NULL};
	const gchar *names[] = {DRAFT, DECIDED, NOCHG, BLOCKED, FAILED};
	g_autofree gchar *before = NULL;
	g_autofree gchar *after = NULL;
	g_autofree gchar *lc_all = NULL;
	gchar *english[G_N_ELEMENTS(usage_table)] = {NULL};
	g_autoptr(GString) failed_rows = g_string_new(NULL);
	guint draft, decided, nochg, blocked, failed;

	/* the daemon speaks C; the second run below asks it in German */
	fl_test_env_use_locales(env);
	fl_test_env_start_daemon(env, NULL);
	draft = fl_test_run_session(env, repo, "--", "echo d > d.txt", NULL);
	decided = fl_test_run_session(env, repo, "--", "echo r > r.txt", NULL);
	nochg = fl_test_run_session(env, repo, "--", "true", NULL);
	failed = fl_test_run_session(env, repo, "--", "exit 1", NULL);
	blocked = fl_test_run_session(env, repo, "--", "flotilla blocked 'which one?'", NULL);
	assert_ended(env, draft, "done");
	assert_ended(env, decided, "done");
	assert_ended(env, nochg, "done");
	assert_ended(env, failed, "failed");
	g_assert_true(fl_test_wait_state(env, blocked, "blocked", WAIT_MS));
	g_free(fl_test_cli_ok(env, NULL, "reject", (ids[1] = g_strdup_printf("%u", decided)),
			      NULL));
	ids[0] = g_strdup_printf("%u", draft);
	ids[2] = g_strdup_printf("%u", nochg);
	ids[3] = g_strdup_printf("%u", blocked);
	ids[4] = g_strdup_printf("%u", failed);
	before = fl_test_cli_ok(env, NULL, "ls", "--all", "--json", NULL);

	for (guint i = 0; i < G_N_ELEMENTS(usage_table); i++) {
		const UsageRow *row = &usage_table[i];
		const gchar *args[G_N_ELEMENTS(row->args) + 1] = {NULL};
		g_autofree gchar *line = NULL;
		g_autofree gchar *out = NULL;
		gint status;

		for (guint j = 0; row->args[j] != NULL; j++) {
			args[j] = row->args[j];
			for (guint k = 0; k < G_N_ELEMENTS(names); k++) {
				if (g_strcmp0(row->args[j], names[k]) == 0)
					args[j] = ids[k];
			}
		}
		line = g_strjoinv(" ", (gchar **)args);
		status = fl_test_cliv(env, NULL, args, &out, &english[i]);
		if (status != row->status ||
		    (row->needle != NULL && strstr(english[i], row->needle) == NULL))
			g_error("flotilla %s: exit %d, stderr '%s'; expected exit %d and '%s'",
				line, status, english[i], row->status, row->needle);
		if (row->needle != NULL) {
			assert_one_line(english[i]);
			g_assert_cmpstr(out, ==, "");
		}
	}

	/* the same in German, from a CLI in German to the same daemon: every line the user
	 * reads is German (the CLI's own and the daemon's), with the same exit status */
	lc_all = g_strdup(g_environ_getenv(env->envp, "LC_ALL"));
	env->envp = g_environ_setenv(env->envp, "LC_ALL", "de_DE.UTF-8", TRUE);
	for (guint i = 0; i < G_N_ELEMENTS(usage_table); i++) {
		const UsageRow *row = &usage_table[i];
		const gchar *args[G_N_ELEMENTS(row->args) + 1] = {NULL};
		g_autofree gchar *line = NULL;
		g_autofree gchar *out = NULL;
		g_autofree gchar *err = NULL;
		gint status;

		for (guint j = 0; row->args[j] != NULL; j++) {
			args[j] = row->args[j];
			for (guint k = 0; k < G_N_ELEMENTS(names); k++) {
				if (g_strcmp0(row->args[j], names[k]) == 0)
					args[j] = ids[k];
			}
		}
		line = g_strjoinv(" ", (gchar **)args);
		status = fl_test_cliv(env, NULL, args, &out, &err);
		if (row->needle == NULL) {
			g_assert_cmpint(status, ==, row->status);
			continue;
		}
		/* every row is checked and all that fail are named at once */
		g_strchomp(err);
		g_strchomp(english[i]);
		if (status != row->status || g_strcmp0(err, english[i]) == 0 ||
		    (!row->own && (strstr(err, row->needle) != NULL) == (row->pending == NULL)) ||
		    (row->de != NULL && strstr(err, row->de) == NULL) ||
		    strchr(err, '\n') != NULL || g_strcmp0(out, "") != 0)
			g_string_append_printf(failed_rows,
					       "\nflotilla %s: exit %d (want %d) '%s'; "
					       "in English '%s'",
					       line, status, row->status, err, english[i]);
	}
	if (failed_rows->len > 0)
		g_error("not in German:%s", failed_rows->str);
	for (guint i = 0; i < G_N_ELEMENTS(usage_table); i++)
		g_free(english[i]);

	/* nothing changed: the same sessions in the same states, read in the same language as
	 * before (a reason is in the reader's) */
	env->envp = lc_all != NULL ? g_environ_setenv(env->envp, "LC_ALL", lc_all, TRUE)
				   : g_environ_unsetenv(env->envp, "LC_ALL");
	after = fl_test_cli_ok(env, NULL, "ls", "--all", "--json", NULL);
	g_assert_cmpstr(before, ==, after);
}

/* ---- what a session is doing now ---- */

static void
test_activity(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *go = g_build_filename(env->root, "go", NULL);
	g_autofree gchar *go2 = g_build_filename(env->root, "go2", NULL);
	g_autofree gchar *log =
		g_build_filename(env->state_dir, "sessions", "1", "output.log", NULL);
	g_autofree gchar *goal = g_strdup_printf(
		"echo compiling; echo step two; echo; "
		"while [ ! -e '%s' ]; do sleep 0.1; done; "
		"echo '{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"tool_use\","
		"\"name\":\"Bash\"}]}}'; echo '{\"type\":\"system\"}'; "
		"while [ ! -e '%s' ]; do sleep 0.1; done",
		go, go2);
	g_autofree gchar *show = NULL;
	g_autofree gchar *show2 = NULL;
	g_autofree gchar *ls = NULL;
	guint id;

	fl_test_env_start_daemon(env, NULL);
	id = fl_test_run_session(env, NULL, "--", goal, NULL);
	g_assert_true(fl_test_wait_state(env, id, "running", WAIT_MS));
	g_assert_true(fl_test_wait_file(log, WAIT_MS));
	/* the last line that says something, and how long ago */
	while (show == NULL || strstr(show, "now: step two") == NULL) {
		g_free(show);
		show = fl_test_cli_ok(env, NULL, "show", "1", NULL);
	}
	g_assert_nonnull(strstr(show, " ago)"));
	ls = fl_test_cli_ok(env, NULL, "ls", NULL);
	g_assert_nonnull(strstr(ls, "\tstep two ("));
	/* an agent's stream-json: its current tool, not the raw JSON */
	g_assert_true(g_file_set_contents(go, "", 0, NULL));
	while (show2 == NULL || strstr(show2, "now: tool Bash") == NULL) {
		g_free(show2);
		show2 = fl_test_cli_ok(env, NULL, "show", "1", NULL);
		g_assert_null(strstr(show2, "now: {"));
	}
	g_assert_true(g_file_set_contents(go2, "", 0, NULL));
	assert_ended(env, id, "done");
}

/* ---- retry ---- */

static void
test_retry(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *flag = g_build_filename(env->root, "ready", NULL);
	g_autofree gchar *goal = g_strdup_printf("test -e '%s' && echo fixed > fix.txt", flag);
	g_autofree gchar *old_id = NULL;
	g_autofree gchar *new_id = NULL;
	g_autofree gchar *history = NULL;
	g_autofree gchar *history2 = NULL;
	g_autoptr(JsonObject) old = NULL;
	g_autoptr(JsonObject) retry = NULL;
	guint a, b;

	fl_test_env_start_daemon(env, NULL);
	a = fl_test_run_session(env, repo, "--name", "fixer", "--verify", "test -e fix.txt", "--",
				goal, NULL);
	assert_ended(env, a, "failed");
	g_assert_true(g_file_set_contents(flag, "", 0, NULL));
	/* from anywhere: the retry keeps the repository, agent, name and verify */
	old_id = g_strdup_printf("%u", a);
	new_id = fl_test_cli_ok(env, NULL, "retry", old_id, NULL);
	b = (guint)g_ascii_strtoull(new_id, NULL, 10);
	g_assert_cmpuint(b, ==, a + 1);
	assert_ended(env, b, "done");
	old = fl_test_show(env, a);
	retry = fl_test_show(env, b);
	g_assert_cmpstr(json_object_get_string_member(retry, "goal"), ==, goal);
	g_assert_cmpstr(json_object_get_string_member(retry, "repo"), ==,
			json_object_get_string_member(old, "repo"));
	g_assert_cmpstr(json_object_get_string_member(retry, "agent"), ==, "shell");
	g_assert_cmpstr(json_object_get_string_member(retry, "verify"), ==, "pass");
	g_assert_cmpstr(json_object_get_string_member(old, "state"), ==, "failed");
	/* linked both ways in their histories */
	history = fl_test_cli_ok(env, NULL, "show", old_id, NULL);
	g_assert_nonnull(strstr(history, "retried-as"));
	g_assert_nonnull(strstr(history, g_strstrip(new_id)));
	history2 = fl_test_cli_ok(env, NULL, "show", new_id, NULL);
	g_assert_nonnull(strstr(history2, "retry-of"));
}

/* ---- sessions by name ---- */

static void
test_names(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *show = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *err2 = NULL;
	guint a;

	fl_test_env_start_daemon(env, NULL);
	a = fl_test_run_session(env, NULL, "--name", "docs", "--", "echo hello docs", NULL);
	fl_test_run_session(env, NULL, "--name", "twin", "--", "true", NULL);
	fl_test_run_session(env, NULL, "--name", "twin", "--", "true", NULL);
	/* a unique name stands for the id, in every command that takes one */
	out = fl_test_cli_ok(env, NULL, "wait", "docs", NULL);
	g_assert_cmpstr(out, ==, "session 1: done (exit 0)\n");
	show = fl_test_cli_ok(env, NULL, "log", "docs", NULL);
	g_assert_nonnull(strstr(show, "hello docs"));
	g_assert_cmpuint(a, ==, 1);
	/* two of that name: which one is not guessed */
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, &err, "show", "twin", NULL), ==, 2);
	assert_one_line(err);
	g_assert_nonnull(strstr(err, "2 sessions are named 'twin'"));
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, &err2, "cancel", "nobody", NULL), ==, 2);
	assert_one_line(err2);
}

/* ---- queue controls ---- */

static gboolean
status_paused(FlTestEnv *env)
{
	g_autofree gchar *out = fl_test_cli_ok(env, NULL, "status", "--json", NULL);
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonObject *obj;

	g_assert_true(json_parser_load_from_data(parser, out, -1, NULL));
	obj = json_node_get_object(json_parser_get_root(parser));
	return json_object_get_boolean_member(obj, "paused");
}

static void
test_pause_set(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new("# my limits\n[fleet]\n# how many at once\n"
						   "max-parallel=3\n");
	g_autofree gchar *status = NULL;
	g_autofree gchar *conf = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	g_autoptr(JsonObject) held = NULL;
	g_autoptr(JsonObject) ran = NULL;
	guint a, b;

	fl_test_env_start_daemon(env, NULL);
	g_free(fl_test_cli_ok(env, NULL, "pause", NULL));
	g_assert_true(status_paused(env));
	a = fl_test_run_session(env, NULL, "--", "echo a", NULL);

	/* queued and saying why, in status, show and wait */
	status = fl_test_cli_ok(env, NULL, "status", NULL);
	g_assert_nonnull(strstr(status, "paused"));
	held = fl_test_show(env, a);
	g_assert_cmpstr(json_object_get_string_member(held, "state"), ==, "queued");
	g_assert_nonnull(strstr(json_object_get_string_member(held, "held"), "flotilla resume"));
	g_assert_cmpint(fl_test_cli(env, NULL, &out, &err, "wait", "-t", "1", "1", NULL), ==, 1);
	g_assert_nonnull(strstr(err, "paused"));

	/* a restart keeps it paused */
	fl_test_env_stop_daemon(env, SIGTERM);
	fl_test_env_start_daemon(env, NULL);
	g_assert_true(status_paused(env));
	{
		g_autoptr(JsonObject) again = fl_test_show(env, a);
		g_assert_cmpstr(json_object_get_string_member(again, "state"), ==, "queued");
	}

	g_free(fl_test_cli_ok(env, NULL, "resume", NULL));
	assert_ended(env, a, "done");
	g_assert_false(status_paused(env));

	/* set: now, and in the file with the user's comments kept */
	g_free(fl_test_cli_ok(env, NULL, "set", "max-parallel", "1", NULL));
	g_assert_true(g_file_get_contents(env->config_path, &conf, NULL, NULL));
	g_assert_nonnull(strstr(conf, "max-parallel=1"));
	g_assert_nonnull(strstr(conf, "# how many at once"));
	g_assert_nonnull(strstr(conf, "# my limits"));
	g_free(fl_test_cli_ok(env, NULL, "config", "check", NULL));
	{
		g_autofree gchar *json = fl_test_cli_ok(env, NULL, "status", "--json", NULL);
		g_assert_nonnull(strstr(json, "\"max_parallel\" : 1"));
	}
	b = fl_test_run_session(env, NULL, "--", "echo b", NULL);
	assert_ended(env, b, "done");
	ran = fl_test_show(env, b);
	g_assert_cmpstr(json_object_get_string_member(ran, "state"), ==, "done");
	/* the next start reads what was set */
	fl_test_env_stop_daemon(env, SIGTERM);
	fl_test_env_start_daemon(env, NULL);
	{
		g_autofree gchar *json = fl_test_cli_ok(env, NULL, "status", "--json", NULL);
		g_assert_nonnull(strstr(json, "\"max_parallel\" : 1"));
	}
	g_free(fl_test_cli_ok(env, NULL, "set", "max-unreviewed", "0", NULL));
}

/* reload: a broken file is reported and changes nothing; a good one takes effect at once */
static void
test_reload(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new("[fleet]\nmax-parallel=1\n");
	g_autofree gchar *err = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *log = NULL;
	g_autofree gchar *json = NULL;
	g_autoptr(JsonObject) held = NULL;
	guint a, b, c;

	fl_test_env_start_daemon(env, NULL);
	a = fl_test_run_session(env, NULL, "--", "r=$(flotilla blocked 'go?'); echo \"a:$r\"",
				NULL);
	g_assert_true(fl_test_wait_state(env, a, "blocked", WAIT_MS));
	b = fl_test_run_session(env, NULL, "--", "echo b", NULL);

	/* a mistake: its reason on one line, exit 1, and the old limit still holds b back */
	fl_test_env_write_config(env, "[fleet]\nmax-parallel=many\n");
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, &err, "reload", NULL), ==, 1);
	assert_one_line(err);
	g_assert_nonnull(strstr(err, env->config_path));
	g_assert_nonnull(strstr(err, "[fleet] max-parallel"));
	held = fl_test_show(env, b);
	g_assert_cmpstr(json_object_get_string_member(held, "state"), ==, "queued");
	json = fl_test_cli_ok(env, NULL, "status", "--json", NULL);
	g_assert_nonnull(strstr(json, "\"max_parallel\" : 1"));

	/* SIGHUP with the same broken file: flotillad lives on */
	g_subprocess_send_signal(env->daemon, SIGHUP);
	g_free(fl_test_cli_ok(env, NULL, "status", NULL));

	/* SIGHUP with a good file: the new limit starts b while a still waits for its answer */
	fl_test_env_write_config(env, "[fleet]\nmax-parallel=2\ndefault-agent=echoer\n"
				      "confinement=off\n"
				      "[agent echoer]\ncommand=sh -c 'echo via-echoer: \"$1\"' sh "
				      "{goal}\n[checkin]\ntimes=03:17\n");
	g_subprocess_send_signal(env->daemon, SIGHUP);
	assert_ended(env, b, "done");
	g_assert_nonnull(g_subprocess_get_identifier(env->daemon));
	g_clear_pointer(&json, g_free);
	json = fl_test_cli_ok(env, NULL, "status", "--json", NULL);
	g_assert_nonnull(strstr(json, "\"max_parallel\" : 2"));
	/* the check-in schedule too */
	g_assert_nonnull(strstr(json, "T03:17:00"));
	/* confinement is what it was at the start, and reload says so */
	g_assert_null(strstr(json, "\"confinement\" : \"off\""));
	out = fl_test_cli_ok(env, NULL, "reload", NULL);
	g_assert_nonnull(strstr(out, "reloaded"));
	g_assert_nonnull(strstr(out, "confinement= takes effect when flotillad restarts"));

	/* the new default agent runs new sessions; the running one was not disturbed */
	c = fl_test_run_session(env, NULL, "--", "hello", NULL);
	assert_ended(env, c, "done");
	log = fl_test_cli_ok(env, NULL, "log", "3", NULL);
	g_assert_nonnull(strstr(log, "via-echoer: hello"));
	g_free(fl_test_cli_ok(env, NULL, "reply", "1", "yes", NULL));
	assert_ended(env, a, "done");
}

/* run --priority: high before normal before low, first in first out within each, across a
 * restart; the one slot is held by a blocked session until the queue is complete */
static void
test_priority(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new("[fleet]\nmax-parallel=1\n");
	g_autofree gchar *order = g_build_filename(env->root, "order", NULL);
	g_autofree gchar *got = NULL;
	g_autofree gchar *plain = NULL;
	g_autoptr(JsonObject) high = NULL;
	g_autoptr(JsonObject) normal = NULL;
	const struct {
		const gchar *priority; /* NULL: not given */
		const gchar *tag;
	} runs[] = {{"low", "l1"},    {NULL, "n1"},   {"high", "h1"},
		    {"normal", "n2"}, {"high", "h2"}, {"low", "l2"}};
	guint ids[G_N_ELEMENTS(runs)];
	guint a;

	fl_test_env_start_daemon(env, NULL);
	a = fl_test_run_session(env, NULL, "--", "r=$(flotilla blocked 'go?'); echo \"a:$r\"",
				NULL);
	g_assert_true(fl_test_wait_state(env, a, "blocked", WAIT_MS));
	for (guint i = 0; i < G_N_ELEMENTS(runs); i++) {
		g_autofree gchar *goal = g_strdup_printf("echo %s >> '%s'", runs[i].tag, order);
		ids[i] = runs[i].priority != NULL
				 ? fl_test_run_session(env, NULL, "--priority", runs[i].priority,
						       "--", goal, NULL)
				 : fl_test_run_session(env, NULL, "--", goal, NULL);
	}
	high = fl_test_show(env, ids[2]);
	g_assert_cmpstr(json_object_get_string_member(high, "priority"), ==, "high");
	normal = fl_test_show(env, ids[1]);
	g_assert_cmpstr(json_object_get_string_member(normal, "priority"), ==, "normal");
	plain = fl_test_cli_ok(env, NULL, "ls", NULL);
	g_assert_nonnull(strstr(plain, "\thigh priority\n"));
	g_assert_nonnull(strstr(plain, "\tlow priority\n"));

	/* the order is stored, not only held in memory */
	fl_test_env_stop_daemon(env, SIGTERM);
	fl_test_env_start_daemon(env, NULL);
	g_free(fl_test_cli_ok(env, NULL, "reply", "1", "go", NULL));
	for (guint i = 0; i < G_N_ELEMENTS(runs); i++)
		assert_ended(env, ids[i], "done");
	g_assert_true(g_file_get_contents(order, &got, NULL, NULL));
	g_assert_cmpstr(got, ==, "h1\nh2\nn1\nn2\nl1\nl2\n");
}

/* a session started in a subdirectory of the repository runs in that subdirectory of its
 * worktree, confined or not; one that is not in the draft, or leads out of the worktree
 * there, starts at the top */
static void
check_subdir(gboolean confined)
{
	g_autoptr(FlTestEnv) env =
		confined ? fl_test_env_new_confined(NULL) : fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *deep = g_build_filename(repo, "src", "deep", NULL);
	g_autofree gchar *untracked = g_build_filename(repo, "build", NULL);
	g_autofree gchar *esc = g_build_filename(repo, "esc", NULL);
	const gchar *dirs[] = {deep, untracked, esc};
	const gchar *expect[] = {"/src/deep", "", ""};

	g_free(fl_test_sh(repo, "mkdir -p src/deep && echo x > src/deep/f && ln -s / esc && "
				"git add src esc && git commit -q -m more && "
				"rm esc && mkdir esc build"));
	fl_test_env_start_daemon(env, NULL);
	for (guint i = 0; i < G_N_ELEMENTS(dirs); i++) {
		guint id = fl_test_run_session(env, dirs[i], "--", "pwd -P", NULL);
		g_autoptr(JsonObject) obj = NULL;
		g_autofree gchar *log = NULL;
		g_autofree gchar *top = NULL;
		g_autofree gchar *want = NULL;
		g_autofree gchar *ids = g_strdup_printf("%u", id);

		assert_ended(env, id, "done");
		obj = fl_test_show(env, id);
		/* a session that changed nothing has no worktree left: its parent tells the path */
		{
			const gchar *worktree = json_object_get_string_member(obj, "worktree");
			g_autofree gchar *parent = g_path_get_dirname(worktree);
			g_autofree gchar *base = g_path_get_basename(worktree);
			g_autofree gchar *real = realpath(parent, NULL);

			g_assert_nonnull(real);
			top = g_build_filename(real, base, NULL);
		}
		log = fl_test_cli_ok(env, NULL, "log", ids, NULL);
		want = g_strdup_printf("%s%s\n", top, expect[i]);
		g_assert_true(g_str_has_suffix(log, want));
		/* starting at the top is said, not silent */
		if (expect[i][0] == '\0')
			g_assert_nonnull(strstr(log, "is not a directory of"));
		else
			g_assert_cmpstr(log, ==, want);
	}
}

static void
test_subdir(void)
{
	check_subdir(FALSE);
}

static void
test_subdir_confined(void)
{
	check_subdir(TRUE);
}

/* [fleet] daily-budget: once today's sessions cost it, the queue waits (saying why) while
 * running sessions go on; a reload with a higher budget starts it again */
static void
test_daily_budget(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *fixture =
		g_test_build_filename(G_TEST_DIST, "doubles", "gemini-recorded.jsonl", NULL);
	g_autofree gchar *copy = g_build_filename(env->root, "recorded.jsonl", NULL);
	g_autofree gchar *data = NULL;
	g_autofree gchar *config = NULL;
	g_autofree gchar *status = NULL;
	g_autofree gchar *plain = NULL;
	g_autofree gchar *err = NULL;
	g_autoptr(JsonObject) spender = NULL;
	g_autoptr(JsonObject) held = NULL;
	guint a, s, b;

	/* a gemini agent that replays a recorded run: $0.00525 at these prices */
	g_assert_true(g_file_get_contents(fixture, &data, NULL, NULL));
	g_assert_true(g_file_set_contents(copy, data, -1, NULL));
	config = g_strdup_printf("[fleet]\nmax-parallel=3\ndaily-budget=0.005\n"
				 "[agent spender]\nkind=gemini\ncommand=sh -c 'cat \"$0\"' %s\n"
				 "[prices]\ngemini-2.5-pro=1.25;10\n",
				 copy);
	fl_test_env_write_config(env, config);
	fl_test_env_start_daemon(env, NULL);
	a = fl_test_run_session(env, NULL, "--", "r=$(flotilla blocked 'go?'); echo \"a:$r\"",
				NULL);
	g_assert_true(fl_test_wait_state(env, a, "blocked", WAIT_MS));
	s = fl_test_run_session(env, NULL, "--agent", "spender", "--", "spend", NULL);
	assert_ended(env, s, "done");
	spender = fl_test_show(env, s);
	g_assert_cmpfloat_with_epsilon(json_object_get_double_member(spender, "cost_usd"), 0.00525,
				       1e-9);

	/* spent: a new session waits though slots are free, and everything says why */
	b = fl_test_run_session(env, NULL, "--", "echo b", NULL);
	held = fl_test_show(env, b);
	g_assert_cmpstr(json_object_get_string_member(held, "state"), ==, "queued");
	g_assert_nonnull(strstr(json_object_get_string_member(held, "held"), "daily-budget"));
	status = fl_test_cli_ok(env, NULL, "status", NULL);
	g_assert_nonnull(strstr(status, "Spent today: $0.01 of daily-budget $0.01"));
	g_assert_nonnull(strstr(status, "daily-budget"));
	plain = fl_test_cli_ok(env, NULL, "ls", NULL);
	g_assert_nonnull(strstr(plain, "the queue starts again tomorrow"));
	/* the check-in digest, where a user who only reads notifications learns it */
	g_clear_pointer(&plain, g_free);
	plain = fl_test_cli_ok(env, NULL, "checkin", "--preview", NULL);
	g_assert_nonnull(strstr(plain, "Queue held: today's sessions cost $0.01"));

	/* the running session goes on to its end; the queue still waits */
	g_free(fl_test_cli_ok(env, NULL, "reply", "1", "go", NULL));
	assert_ended(env, a, "done");
	g_clear_pointer(&held, json_object_unref);
	held = fl_test_show(env, b);
	g_assert_cmpstr(json_object_get_string_member(held, "state"), ==, "queued");

	/* a budget for a session of an agent that cannot keep one is refused */
	g_assert_cmpint(
		fl_test_cli(env, NULL, NULL, &err, "run", "--budget", "1", "--", "true", NULL), ==,
		2);
	assert_one_line(err);

	/* more for today, by reload: b starts */
	g_clear_pointer(&config, g_free);
	config = g_strdup_printf("[fleet]\nmax-parallel=3\ndaily-budget=1\n"
				 "[agent spender]\nkind=gemini\ncommand=sh -c 'cat \"$0\"' %s\n"
				 "[prices]\ngemini-2.5-pro=1.25;10\n",
				 copy);
	fl_test_env_write_config(env, config);
	g_free(fl_test_cli_ok(env, NULL, "reload", NULL));
	assert_ended(env, b, "done");
}

/* the session directories and worktrees that exist now, "sessions/3" and "worktrees/3" */
static GPtrArray *
clean_list(FlTestEnv *env)
{
	GPtrArray *found = g_ptr_array_new_with_free_func(g_free);
	const gchar *kinds[] = {"sessions", "worktrees"};

	for (guint k = 0; k < G_N_ELEMENTS(kinds); k++) {
		g_autofree gchar *dir = g_build_filename(env->state_dir, kinds[k], NULL);
		g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
		const gchar *name;

		while (d != NULL && (name = g_dir_read_name(d)) != NULL)
			g_ptr_array_add(found,
					g_build_filename(env->state_dir, kinds[k], name, NULL));
	}
	return found;
}

static gboolean
clean_intent_gone(gpointer path)
{
	return !g_file_test(path, G_FILE_TEST_EXISTS);
}

/*
 * clean removes exactly what it prints, of ended sessions only: never a pending draft, never
 * a branch; rows and history stay; a daemon killed mid-clean leaves it to the next one, which
 * finishes it
 */
static void
test_clean(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *intent = g_build_filename(env->state_dir, "clean-intent", NULL);
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *branches = NULL;
	g_autoptr(GPtrArray) before = NULL;
	g_autoptr(GPtrArray) after = NULL;
	g_autoptr(JsonObject) cleaned = NULL;
	guint pending, rejected, failed, approved, failed2;

	fl_test_env_start_daemon(env, NULL);
	pending = fl_test_run_session(env, repo, "--", "echo a > a.txt", NULL);
	rejected = fl_test_run_session(env, repo, "--", "echo b > b.txt", NULL);
	failed = fl_test_run_session(env, repo, "--", "exit 3", NULL);
	approved = fl_test_run_session(env, repo, "--", "echo d > d.txt", NULL);
	assert_ended(env, pending, "done");
	assert_ended(env, rejected, "done");
	assert_ended(env, failed, "failed");
	assert_ended(env, approved, "done");
	g_free(fl_test_cli_ok(env, NULL, "reject", "2", NULL));
	g_free(fl_test_cli_ok(env, NULL, "approve", "4", NULL));

	/* --dry-run: the list, and nothing goes */
	branches = fl_test_sh(repo, "git branch --list 'flotilla/*' --format='%(refname:short)'");
	before = clean_list(env);
	out = fl_test_cli_ok(env, NULL, "clean", "--dry-run", NULL);
	g_assert_nonnull(strstr(out, "session 3: would remove"));
	g_assert_null(strstr(out, "session 1:"));
	after = clean_list(env);
	g_assert_cmpuint(after->len, ==, before->len);
	g_clear_pointer(&after, g_ptr_array_unref);
	g_clear_pointer(&out, g_free);

	/* --state failed: only the failure, and every path it names is gone */
	out = fl_test_cli_ok(env, NULL, "clean", "--state", "failed", NULL);
	g_assert_nonnull(strstr(out, "session 3: removed"));
	g_assert_null(strstr(out, "session 2:"));
	after = clean_list(env);
	for (guint i = 0; i < before->len; i++) {
		const gchar *path = before->pdata[i];
		g_autofree gchar *line = g_strdup_printf("removed %s\n", path);
		gboolean printed = strstr(out, line) != NULL;
		gboolean kept = g_ptr_array_find_with_equal_func(after, path, g_str_equal, NULL);

		g_assert_true(printed != kept);
	}
	cleaned = fl_test_show(env, failed);
	g_assert_true(json_object_has_member(cleaned, "cleaned"));
	g_assert_cmpstr(json_object_get_string_member(cleaned, "goal"), ==, "exit 3");
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, &err, "log", "3", NULL), ==, 1);
	assert_one_line(err);
	g_assert_nonnull(strstr(err, "cleaned"));
	g_clear_pointer(&out, g_free);
	out = fl_test_cli_ok(env, NULL, "show", "3", NULL);
	g_assert_nonnull(strstr(out, "cleaned"));
	g_clear_pointer(&out, g_free);

	/* everything else that ended; the pending draft stays whole, and so do all branches */
	out = fl_test_cli_ok(env, NULL, "clean", NULL);
	g_assert_null(strstr(out, "session 1:"));
	g_assert_nonnull(strstr(out, "session 2:"));
	g_assert_nonnull(strstr(out, "session 4:"));
	{
		g_autofree gchar *dir1 = g_build_filename(env->state_dir, "sessions", "1", NULL);
		g_autofree gchar *wt1 = g_build_filename(env->state_dir, "worktrees", "1", NULL);
		g_autofree gchar *patch = g_build_filename(dir1, "draft.patch", NULL);

		g_assert_true(g_file_test(patch, G_FILE_TEST_IS_REGULAR));
		g_assert_true(g_file_test(wt1, G_FILE_TEST_IS_DIR));
	}
	{
		g_autofree gchar *now = fl_test_sh(
			repo, "git branch --list 'flotilla/*' --format='%(refname:short)'");

		g_assert_nonnull(strstr(now, "flotilla/1\n"));
		g_assert_cmpstr(now, ==, branches);
	}
	g_clear_pointer(&out, g_free);
	out = fl_test_cli_ok(env, NULL, "clean", NULL);
	g_assert_cmpstr(out, ==, "Nothing to clean.\n");

	/* kill -9 after the rows say cleaned, before a file went: the next daemon finishes */
	failed2 = fl_test_run_session(env, repo, "--", "exit 4", NULL);
	assert_ended(env, failed2, "failed");
	fl_test_env_stop_daemon(env, SIGTERM);
	env->envp = g_environ_setenv(env->envp, "FL_TEST_CRASH_AT", "clean:marked:1", TRUE);
	fl_test_env_start_daemon(env, NULL);
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, NULL, "clean", "--state", "failed", NULL), !=,
			0);
	fl_test_env_stop_daemon(env, SIGKILL);
	env->envp = g_environ_unsetenv(env->envp, "FL_TEST_CRASH_AT");
	g_assert_true(g_file_test(intent, G_FILE_TEST_EXISTS));
	{
		g_autofree gchar *dir5 = g_build_filename(env->state_dir, "sessions", "5", NULL);
		g_autoptr(GFile) state = g_file_new_for_path(env->state_dir);
		g_autoptr(GFileMonitor) monitor =
			g_file_monitor_directory(state, G_FILE_MONITOR_NONE, NULL, NULL);

		g_assert_true(g_file_test(dir5, G_FILE_TEST_IS_DIR));
		fl_test_env_start_daemon(env, NULL);
		g_assert_true(fl_test_wait_for(clean_intent_gone, intent, WAIT_MS));
		g_assert_false(g_file_test(dir5, G_FILE_TEST_EXISTS));
	}
	g_clear_pointer(&cleaned, json_object_unref);
	cleaned = fl_test_show(env, failed2);
	g_assert_true(json_object_has_member(cleaned, "cleaned"));
	g_clear_pointer(&out, g_free);
	out = fl_test_cli_ok(env, NULL, "clean", NULL);
	g_assert_cmpstr(out, ==, "Nothing to clean.\n");
}

/* ---- defaults that fit ---- */

static const gchar *
show_str(JsonObject *obj, const gchar *key)
{
	return json_object_has_member(obj, key) && !json_object_get_null_member(obj, key)
		       ? json_object_get_string_member(obj, key)
		       : NULL;
}

static void
test_defaults(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(
		"[fleet]\ndefault-agent=echoer\n"
		"[agent echoer]\ncommand=sh -c 'echo via-echoer: \"$1\"' sh {goal}\n");
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *plain = g_build_filename(env->root, "plain", NULL);
	g_autofree gchar *here = g_build_filename(plain, "here", NULL);
	g_autofree gchar *log = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *ls = NULL;
	g_autoptr(JsonObject) a = NULL;
	g_autoptr(JsonObject) b = NULL;
	g_autoptr(JsonObject) c = NULL;
	guint ia, ib, ic;

	g_assert_cmpint(g_mkdir_with_parents(plain, 0700), ==, 0);
	fl_test_env_start_daemon(env, NULL);

	/* no --agent: the configured default, not the shell */
	ia = fl_test_run_session(env, repo, "--", "write the docs", NULL);
	assert_ended(env, ia, "done");
	a = fl_test_show(env, ia);
	g_assert_cmpstr(show_str(a, "agent"), ==, "echoer");
	log = fl_test_cli_ok(env, NULL, "log", "1", NULL);
	g_assert_nonnull(strstr(log, "via-echoer: write the docs"));

	/* a --repo that is no repository: refused, nothing queued; with --scratch it runs */
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, &err, "run", "--repo", plain, "--agent",
				    "shell", "--", "touch here", NULL),
			==, 2);
	assert_one_line(err);
	g_assert_nonnull(strstr(err, plain));
	g_assert_nonnull(strstr(err, "--scratch"));
	ls = fl_test_cli_ok(env, NULL, "ls", "--all", NULL);
	/* one line a session in a pipe: still only the first */
	g_assert_cmpstr(strchr(ls, '\n'), ==, "\n");
	ib = fl_test_run_session(env, NULL, "--repo", plain, "--scratch", "--agent", "shell", "--",
				 "touch here", NULL);
	assert_ended(env, ib, "done");
	b = fl_test_show(env, ib);
	g_assert_null(show_str(b, "repo"));
	/* the scratch directory is a fresh one, not the directory named */
	g_assert_false(g_file_test(here, G_FILE_TEST_EXISTS));

	/* --scratch inside a repository: an empty directory, no branch */
	ic = fl_test_run_session(env, repo, "--scratch", "--agent", "shell", "--",
				 "test ! -e notes.txt", NULL);
	assert_ended(env, ic, "done");
	c = fl_test_show(env, ic);
	g_assert_null(show_str(c, "repo"));
	g_assert_null(show_str(c, "branch"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/cli/start-error", test_start_error);
	g_test_add_func("/cli/start-error-german", test_start_error_german);
	g_test_add_func("/cli/no-session-bus", test_no_session_bus);
	g_test_add_func("/cli/config-check", test_config_check);
	g_test_add_func("/cli/wait", test_wait);
	g_test_add_func("/cli/wait-held", test_wait_held);
	g_test_add_func("/cli/usage-table", test_usage_table);
	g_test_add_func("/cli/defaults", test_defaults);
	g_test_add_func("/cli/names", test_names);
	g_test_add_func("/cli/retry", test_retry);
	g_test_add_func("/cli/activity", test_activity);
	g_test_add_func("/cli/pause-set", test_pause_set);
	g_test_add_func("/cli/reload", test_reload);
	g_test_add_func("/cli/priority", test_priority);
	g_test_add_func("/cli/daily-budget", test_daily_budget);
	g_test_add_func("/cli/clean", test_clean);
	g_test_add_func("/cli/subdir", test_subdir);
	g_test_add_func("/cli/subdir-confined", test_subdir_confined);
	return g_test_run();
}
