/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The local placement end to end, against the real daemon and runner: a daemon killed at
 * any point of a spawn neither loses nor doubles the session, and a runner killed with
 * SIGKILL leaves no process of its session behind.
 */
#include "config.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "fl-session.h"
#include "fl-store.h"
#include "fl-test-harness.h"

#define WAIT_MS 30000

static void
assert_ended(FlTestEnv *env, guint id, const gchar *state)
{
	g_autofree gchar *got = fl_test_wait_ended(env, id, WAIT_MS);

	g_assert_cmpstr(got, ==, state);
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

static gchar *
session_file(FlTestEnv *env, guint id, const gchar *name)
{
	g_autofree gchar *dir = g_strdup_printf("%u", id);

	return g_build_filename(env->state_dir, "sessions", dir, name, NULL);
}

static gint
runner_pid(FlTestEnv *env, guint id)
{
	g_autofree gchar *path = session_file(env, id, "started.json");
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;

	g_assert_true(fl_test_wait_file(path, WAIT_MS));
	json_parser_load_from_file(parser, path, &error);
	g_assert_no_error(error);
	return (gint)json_object_get_int_member(json_node_get_object(json_parser_get_root(parser)),
						"runner_pid");
}

/* the daemon killed itself at a crash point: reap it */
static void
await_daemon_death(FlTestEnv *env)
{
	g_autoptr(GError) error = NULL;

	g_subprocess_wait(env->daemon, NULL, &error);
	g_assert_no_error(error);
	g_assert_true(g_subprocess_get_if_signaled(env->daemon));
	g_assert_cmpint(g_subprocess_get_term_sig(env->daemon), ==, SIGKILL);
	g_clear_object(&env->daemon);
}

static gchar *
count_lines(const gchar *path)
{
	g_autofree gchar *cmd = g_strdup_printf("wc -l < '%s'", path);
	gchar *out = fl_test_sh(NULL, cmd);

	return g_strstrip(out);
}

/*
 * The daemon dies (SIGKILL, injected) at @point of the first session's spawn. The next
 * daemon must run that session exactly once and lose neither it nor the one queued behind
 * it.
 */
static void
test_crash_at(gconstpointer data)
{
	const gchar *point = data;
	g_autoptr(FlTestEnv) env = fl_test_env_new("[fleet]\nmax-parallel=1\n");
	g_autofree gchar *counter = g_build_filename(env->root, "runs", NULL);
	g_autofree gchar *goal = g_strdup_printf("echo run >> '%s'; echo ran", counter);
	g_autofree gchar *runs = NULL;
	g_autofree gchar *log = NULL;
	g_autofree gchar *ls = NULL;
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;

	env->envp = g_environ_setenv(env->envp, "FL_TEST_CRASH_AT", point, TRUE);
	fl_test_env_start_daemon(env, NULL);
	/* the reply may or may not get out before the daemon dies: the session is recorded
	 * before it is answered, and is number 1 either way */
	fl_test_cli(env, NULL, NULL, NULL, "run", "--", goal, NULL);
	await_daemon_death(env);

	env->envp = g_environ_unsetenv(env->envp, "FL_TEST_CRASH_AT");
	fl_test_env_start_daemon(env, NULL);
	g_assert_cmpuint(fl_test_run_session(env, NULL, "--", goal, NULL), ==, 2);
	assert_ended(env, 1, "done");
	assert_ended(env, 2, "done");
	runs = count_lines(counter);
	g_assert_cmpstr(runs, ==, "2");
	log = fl_test_cli_ok(env, NULL, "log", "1", NULL);
	g_assert_cmpstr(log, ==, "ran\n");

	ls = fl_test_cli_ok(env, NULL, "ls", "--all", "--json", NULL);
	json_parser_load_from_data(parser, ls, -1, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(json_array_get_length(json_node_get_array(json_parser_get_root(parser))),
			 ==, 2);
}

/* what a session leaves running: two background children, one of them a group of its own */
static gchar *
orphan_goal(FlTestEnv *env, const gchar *tag)
{
	g_autofree gchar *ready = g_build_filename(env->root, "ready", NULL);

	return g_strdup_printf("sleep 42%s1 & (set -m; sleep 42%s2 &) ; touch '%s'; wait", tag, tag,
			       ready);
}

static void
assert_no_orphans(const gchar *tag)
{
	g_autofree gchar *a = g_strdup_printf("sleep 42%s1", tag);
	g_autofree gchar *b = g_strdup_printf("sleep 42%s2", tag);

	g_assert_false(process_with_arg_exists(a));
	g_assert_false(process_with_arg_exists(b));
}

static void
kill_runner(FlTestEnv *env, guint id)
{
	g_autofree gchar *cmd = g_strdup_printf("kill -9 %d", runner_pid(env, id));

	g_free(fl_test_sh(NULL, cmd));
}

/* issue 17: the runner dies by SIGKILL while the daemon watches */
static void
test_orphans_runner_killed(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *goal = orphan_goal(env, "61");
	g_autofree gchar *ready = g_build_filename(env->root, "ready", NULL);
	g_autofree gchar *err = NULL;
	g_autoptr(JsonObject) obj = NULL;
	guint id;

	fl_test_env_start_daemon(env, NULL);
	id = fl_test_run_session(env, NULL, "--", goal, NULL);
	g_assert_true(fl_test_wait_file(ready, WAIT_MS));
	g_assert_true(process_with_arg_exists("sleep 42611"));
	g_assert_true(process_with_arg_exists("sleep 42612"));
	kill_runner(env, id);
	/* by the time it is reported ended nothing of it runs any more */
	assert_ended(env, id, "interrupted");
	assert_no_orphans("61");
	obj = fl_test_show(env, id);
	g_assert_nonnull(strstr(json_object_get_string_member(obj, "reason"), "runner"));
	/* and cancel says it ended, which is now true */
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, &err, "cancel", "1", NULL), ==, 1);
	g_assert_nonnull(strstr(err, "already ended"));
}

/* the same while the daemon is down: the next one clears up before recording the end.
 * Unconfined: a confined session's processes die with its runner already (its sandbox's pid
 * namespace goes with it), so only there can orphans wait for the next daemon */
static void
test_orphans_runner_killed_while_down(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new("[fleet]\nconfinement=off\n");
	g_autofree gchar *goal = orphan_goal(env, "62");
	g_autofree gchar *ready = g_build_filename(env->root, "ready", NULL);
	guint id;

	fl_test_env_start_daemon(env, NULL);
	id = fl_test_run_session(env, NULL, "--", goal, NULL);
	g_assert_true(fl_test_wait_file(ready, WAIT_MS));
	fl_test_env_stop_daemon(env, SIGKILL);
	kill_runner(env, id);
	g_assert_true(process_with_arg_exists("sleep 42621"));
	g_assert_true(process_with_arg_exists("sleep 42622"));
	fl_test_env_start_daemon(env, NULL);
	assert_ended(env, id, "interrupted");
	assert_no_orphans("62");
}

/* ------------------------------------------------------------------ compatibility */

/*
 * What the daemon before placements (7fe828a) left for a running session: the store row
 * (running, its worktree), the session directory with output.log and the empty "spawning"
 * marker, and, once its runner got going, that runner's started.json and exit.json. The
 * runner is that version's, built from tests/compat/; the store row is written with the
 * store code, whose schema this change leaves alone.
 */
typedef struct {
	FlTestEnv *env;
	GPtrArray *runners; /* (element-type GSubprocess) */
} OldDaemon;

static guint
old_daemon_add_session(OldDaemon *old, const gchar *goal)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(FlStore) store = fl_store_new(old->env->state_dir, &error);
	g_autoptr(GPtrArray) datas =
		g_ptr_array_new_with_free_func((GDestroyNotify)fl_session_data_free);
	FlSessionData *d = fl_session_data_new();
	g_autofree gchar *id = NULL;
	g_autofree gchar *dir = NULL;

	g_assert_no_error(error);
	d->goal = g_strdup(goal);
	d->agent = g_strdup("shell");
	d->created = g_get_real_time();
	g_ptr_array_add(datas, d);
	fl_store_insert_sessions(store, datas, "cli", NULL, &error);
	g_assert_no_error(error);
	/* as its fl_session_start() recorded it before preparing anything */
	id = g_strdup_printf("%u", d->id);
	d->state = FL_STATE_RUNNING;
	d->started = g_get_real_time();
	d->worktree = g_build_filename(old->env->state_dir, "worktrees", id, NULL);
	fl_store_update_session(store, d, &error);
	g_assert_no_error(error);
	dir = g_build_filename(old->env->state_dir, "sessions", id, NULL);
	g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
	g_assert_cmpint(g_mkdir_with_parents(d->worktree, 0700), ==, 0);
	return d->id;
}

/* its fl_session_spawn(): the marker, then the runner with the log as stdout and stderr */
static void
old_daemon_spawn(OldDaemon *old, guint id, const gchar *goal, gboolean run)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autofree gchar *name = g_strdup_printf("%u", id);
	g_autofree gchar *dir = g_build_filename(old->env->state_dir, "sessions", name, NULL);
	g_autofree gchar *worktree = g_build_filename(old->env->state_dir, "worktrees", name, NULL);
	g_autofree gchar *log = g_build_filename(dir, "output.log", NULL);
	g_autofree gchar *spawning = g_build_filename(dir, "spawning", NULL);
	g_autofree gchar *env_id = g_strdup_printf("FLOTILLA_SESSION=%u", id);
	const gchar *argv[] = {g_getenv("FLOTILLA_RUNNER_7FE828A"),
			       "--dir",
			       dir,
			       "--cwd",
			       worktree,
			       "--grace",
			       "10",
			       "--env",
			       env_id,
			       "--",
			       "sh",
			       "-c",
			       goal,
			       NULL};
	gint fd = g_open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	g_assert_cmpint(fd, >=, 0);
	g_file_set_contents(spawning, "", 0, &error);
	g_assert_no_error(error);
	if (!run) {
		close(fd);
		return;
	}
	launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDERR_MERGE |
					     G_SUBPROCESS_FLAGS_INHERIT_FDS);
	g_subprocess_launcher_take_stdout_fd(launcher, fd);
	g_ptr_array_add(old->runners, g_subprocess_launcher_spawnv(launcher, argv, &error));
	g_assert_no_error(error);
}

static void
touch(const gchar *path)
{
	g_autoptr(GError) error = NULL;

	g_file_set_contents(path, "", 0, &error);
	g_assert_no_error(error);
}

static gchar *
gate_goal(const gchar *gate, const gchar *counter, const gchar *text)
{
	return g_strdup_printf("while [ ! -e '%s' ]; do sleep 0.02; done; echo run >> '%s'; "
			       "echo %s",
			       gate, counter, text);
}

static void
test_compat_previous_daemon(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autoptr(GPtrArray) runners = g_ptr_array_new_with_free_func(g_object_unref);
	OldDaemon old = {env, runners};
	g_autofree gchar *gate_a = g_build_filename(env->root, "gate-a", NULL);
	g_autofree gchar *gate_b = g_build_filename(env->root, "gate-b", NULL);
	g_autofree gchar *counter = g_build_filename(env->root, "runs", NULL);
	g_autofree gchar *ready = g_build_filename(env->root, "ready", NULL);
	g_autofree gchar *goal_a = gate_goal(gate_a, counter, "a finished without a daemon");
	g_autofree gchar *goal_b = gate_goal(gate_b, counter, "b finished under the new one");
	g_autofree gchar *goal_d = g_strdup_printf("echo run >> '%s'; echo d ran", counter);
	g_autofree gchar *goal_e = orphan_goal(env, "63");
	g_autofree gchar *exit_a = NULL;
	g_autofree gchar *log = NULL;
	g_autofree gchar *runs = NULL;
	guint a, b, c, d, e;

	/* a: its runner ends while no daemon runs; b: still running when the new daemon
	 * starts; c: the old daemon died between its marker and the runner's started.json;
	 * d: it died before spawning anything; e: its runner was killed, its agent's children
	 * live on */
	a = old_daemon_add_session(&old, goal_a);
	b = old_daemon_add_session(&old, goal_b);
	c = old_daemon_add_session(&old, "echo c must not run");
	d = old_daemon_add_session(&old, goal_d);
	e = old_daemon_add_session(&old, goal_e);
	old_daemon_spawn(&old, a, goal_a, TRUE);
	old_daemon_spawn(&old, b, goal_b, TRUE);
	old_daemon_spawn(&old, c, "echo c must not run", FALSE);
	old_daemon_spawn(&old, e, goal_e, TRUE);
	touch(gate_a);
	exit_a = session_file(env, a, "exit.json");
	g_assert_true(fl_test_wait_file(exit_a, WAIT_MS));
	g_assert_true(fl_test_wait_file(ready, WAIT_MS));
	kill_runner(env, e);
	g_assert_true(process_with_arg_exists("sleep 42631"));

	fl_test_env_start_daemon(env, NULL);
	assert_ended(env, a, "done");
	g_assert_true(fl_test_wait_state(env, b, "running", WAIT_MS));
	assert_ended(env, c, "interrupted");
	assert_ended(env, d, "done");
	assert_ended(env, e, "interrupted");
	assert_no_orphans("63");
	touch(gate_b);
	assert_ended(env, b, "done");

	log = fl_test_cli_ok(env, NULL, "log", "1", NULL);
	g_assert_cmpstr(log, ==, "a finished without a daemon\n");
	g_free(log);
	log = fl_test_cli_ok(env, NULL, "log", "2", NULL);
	g_assert_cmpstr(log, ==, "b finished under the new one\n");
	g_free(log);
	log = fl_test_cli_ok(env, NULL, "log", "4", NULL);
	g_assert_cmpstr(log, ==, "d ran\n");
	/* a, b and d once each; c never */
	runs = count_lines(counter);
	g_assert_cmpstr(runs, ==, "3");
	for (guint i = 0; i < runners->len; i++)
		g_subprocess_wait(g_ptr_array_index(runners, i), NULL, NULL);
}

/*
 * A daemon died after recording its intent, while its runner was alive but not yet past
 * started.json (the test holds the runner's lock in its place). The next daemon must wait:
 * not run the session a second time, not call it interrupted; once the lock is free and
 * still no started.json, the agent provably never ran and is started, once.
 */
static void
test_adopt_waits_for_locked_runner(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autoptr(GPtrArray) runners = g_ptr_array_new_with_free_func(g_object_unref);
	OldDaemon old = {env, runners};
	g_autofree gchar *counter = g_build_filename(env->root, "runs", NULL);
	g_autofree gchar *goal = g_strdup_printf("echo run >> '%s'; echo ran", counter);
	g_autofree gchar *intent = NULL;
	g_autofree gchar *lock = NULL;
	g_autofree gchar *runs = NULL;
	g_autofree gchar *log = NULL;
	g_autofree gchar *ls = NULL;
	g_autoptr(JsonObject) obj = NULL;
	g_autoptr(GError) error = NULL;
	guint later;
	guint id;
	gint fd;

	id = old_daemon_add_session(&old, goal);
	intent = session_file(env, id, "placement.json");
	g_file_set_contents(intent,
			    "{\"v\":1,\"kind\":\"local\",\"name\":\"local\",\"attempt\":1,"
			    "\"job\":\"flotilla-1-1\"}",
			    -1, &error);
	g_assert_no_error(error);
	lock = session_file(env, id, "runner.lock");
	fd = g_open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(flock(fd, LOCK_EX | LOCK_NB), ==, 0);

	fl_test_env_start_daemon(env, NULL);
	/* a session queued after it runs to its end meanwhile: the daemon is not stuck */
	later = fl_test_run_session(env, NULL, "--", "echo later", NULL);
	assert_ended(env, later, "done");
	g_assert_true(fl_test_wait_state(env, id, "running", WAIT_MS));
	g_assert_false(g_file_test(counter, G_FILE_TEST_EXISTS));
	/* and says why it is running without output */
	obj = fl_test_show(env, id);
	g_assert_cmpstr(json_object_get_string_member(obj, "placement_status"), ==,
			"waiting for its runner to start");
	ls = fl_test_cli_ok(env, NULL, "show", "1", NULL);
	g_assert_nonnull(strstr(ls, "waiting for its runner to start"));

	close(fd);
	assert_ended(env, id, "done");
	g_clear_pointer(&obj, json_object_unref);
	obj = fl_test_show(env, id);
	g_assert_true(json_object_get_null_member(obj, "placement_status"));
	runs = count_lines(counter);
	g_assert_cmpstr(runs, ==, "1");
	log = fl_test_cli_ok(env, NULL, "log", "1", NULL);
	g_assert_cmpstr(log, ==, "ran\n");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_data_func("/placement/crash/after-intent", "placement:intent:1", test_crash_at);
	g_test_add_data_func("/placement/crash/after-spawn", "placement:spawned:1", test_crash_at);
	g_test_add_func("/placement/orphans/runner-killed", test_orphans_runner_killed);
	g_test_add_func("/placement/orphans/runner-killed-while-down",
			test_orphans_runner_killed_while_down);
	g_test_add_func("/placement/compat/previous-daemon", test_compat_previous_daemon);
	g_test_add_func("/placement/adopt/waits-for-locked-runner",
			test_adopt_waits_for_locked_runner);
	return g_test_run();
}
