/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fl-proc.h"
#include "fl-test-harness.h"

/* generous: the runner itself is quick, but the test may run under valgrind */
#define RUNNER_TIMEOUT_MS 30000
#define POLL_INTERVAL_MS  20

static const gchar *
runner_path(void)
{
	const gchar *path = g_getenv("FLOTILLA_RUNNER");

	g_assert_nonnull(path);
	return path;
}

/* runner --dir @dir followed by the NULL-terminated rest */
static GStrv
runner_argv(const gchar *dir, ...)
{
	g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
	const gchar *arg;
	va_list ap;

	g_strv_builder_add_many(builder, runner_path(), "--dir", dir, NULL);
	va_start(ap, dir);
	while ((arg = va_arg(ap, const gchar *)) != NULL)
		g_strv_builder_add(builder, arg);
	va_end(ap);
	return g_strv_builder_end(builder);
}

static GSubprocess *
spawn(const gchar *const *argv, GSubprocessFlags flags)
{
	g_autoptr(GError) error = NULL;
	GSubprocess *proc = g_subprocess_newv(argv, flags, &error);

	g_assert_no_error(error);
	return proc;
}

/* the runner's own stdout and stderr go to DIR/runner.log, as the daemon points them at a
 * file too; a runner left behind by a failed assertion then holds none of the test's pipes */
static GSubprocessLauncher *
runner_launcher(const gchar *dir, GSubprocessFlags flags)
{
	g_autofree gchar *path = g_build_filename(dir, "runner.log", NULL);
	GSubprocessLauncher *launcher =
		g_subprocess_launcher_new(flags | G_SUBPROCESS_FLAGS_STDERR_MERGE);

	g_subprocess_launcher_set_stdout_file_path(launcher, path);
	return launcher;
}

static GSubprocess *
spawn_runner(const gchar *dir, GStrv argv)
{
	g_autoptr(GSubprocessLauncher) launcher = runner_launcher(dir, G_SUBPROCESS_FLAGS_NONE);
	g_autoptr(GError) error = NULL;
	GSubprocess *proc =
		g_subprocess_launcher_spawnv(launcher, (const gchar *const *)argv, &error);

	g_assert_no_error(error);
	return proc;
}

static gboolean
flag_is_set(gpointer user_data)
{
	return *(gboolean *)user_data;
}

static void
wait_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GError) error = NULL;

	g_subprocess_wait_finish(G_SUBPROCESS(source), res, &error);
	g_assert_no_error(error);
	*(gboolean *)user_data = TRUE;
}

/* waits for @proc and returns its exit code; a hang or a death by signal fails the test */
static gint
wait_exit_code(GSubprocess *proc)
{
	gboolean done = FALSE;
	gboolean in_time;

	g_subprocess_wait_async(proc, NULL, wait_cb, &done);
	in_time = fl_test_wait_for(flag_is_set, &done, RUNNER_TIMEOUT_MS);
	if (!in_time) {
		g_subprocess_force_exit(proc);
		while (!done)
			g_main_context_iteration(NULL, TRUE);
	}
	g_assert_true(in_time);
	g_assert_true(g_subprocess_get_if_exited(proc));
	return g_subprocess_get_exit_status(proc);
}

/* waits for @proc and returns the signal that killed it */
static gint
wait_exit_code_signaled(GSubprocess *proc)
{
	gboolean done = FALSE;

	g_subprocess_wait_async(proc, NULL, wait_cb, &done);
	g_assert_true(fl_test_wait_for(flag_is_set, &done, RUNNER_TIMEOUT_MS));
	g_assert_true(g_subprocess_get_if_signaled(proc));
	return g_subprocess_get_term_sig(proc);
}

static gboolean
tick_cb(gpointer user_data)
{
	return G_SOURCE_CONTINUE;
}

/* for conditions nothing signals (files written by a process that is not ours, /proc) */
static gboolean
poll_for(gboolean (*cond)(gpointer), gpointer user_data)
{
	guint tick = g_timeout_add(POLL_INTERVAL_MS, tick_cb, NULL);
	gboolean ok = fl_test_wait_for(cond, user_data, RUNNER_TIMEOUT_MS);

	g_source_remove(tick);
	return ok;
}

static JsonObject *
try_load_json(const gchar *dir, const gchar *name)
{
	g_autofree gchar *path = g_build_filename(dir, name, NULL);
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonNode *root;

	if (!json_parser_load_from_file(parser, path, NULL))
		return NULL;
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
		return NULL;
	return json_object_ref(json_node_get_object(root));
}

static JsonObject *
load_json(const gchar *dir, const gchar *name)
{
	g_autofree gchar *path = g_build_filename(dir, name, NULL);
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	JsonNode *root;

	json_parser_load_from_file(parser, path, &error);
	g_assert_no_error(error);
	root = json_parser_get_root(parser);
	g_assert_nonnull(root);
	g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
	return json_object_ref(json_node_get_object(root));
}

static gint64
get_int(JsonObject *obj, const gchar *name)
{
	if (!json_object_has_member(obj, name))
		g_test_message("missing member %s", name);
	g_assert_true(json_object_has_member(obj, name));
	return json_object_get_int_member(obj, name);
}

static const gchar *
get_string(JsonObject *obj, const gchar *name)
{
	if (!json_object_has_member(obj, name))
		g_test_message("missing member %s", name);
	g_assert_true(json_object_has_member(obj, name));
	return json_object_get_string_member(obj, name);
}

static void
assert_iso8601(const gchar *text)
{
	g_autoptr(GDateTime) dt = g_date_time_new_from_iso8601(text, NULL);

	g_assert_nonnull(dt);
}

static void
assert_mode_0600(const gchar *dir, const gchar *name)
{
	g_autofree gchar *path = g_build_filename(dir, name, NULL);
	GStatBuf st;

	g_assert_cmpint(g_stat(path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 07777, ==, 0600);
}

static void
assert_exit_json(const gchar *dir, const gchar *status, gint64 code, gint64 sig, gboolean cancelled)
{
	g_autoptr(JsonObject) obj = load_json(dir, "exit.json");
	g_autofree gchar *runner_log = g_build_filename(dir, "runner.log", NULL);
	g_autofree gchar *runner_text = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_cmpint(get_int(obj, "v"), ==, 1);
	g_assert_cmpstr(get_string(obj, "status"), ==, status);
	g_assert_cmpint(get_int(obj, "code"), ==, code);
	g_assert_cmpint(get_int(obj, "signal"), ==, sig);
	g_assert_true(json_object_has_member(obj, "cancelled"));
	g_assert_cmpint(json_object_get_boolean_member(obj, "cancelled"), ==, cancelled);
	assert_iso8601(get_string(obj, "finished_at"));
	assert_mode_0600(dir, "exit.json");

	/* the runner had nothing to complain about */
	g_file_get_contents(runner_log, &runner_text, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(runner_text, ==, "");
}

static gchar *
read_log(const gchar *dir)
{
	g_autofree gchar *path = g_build_filename(dir, "output.log", NULL);
	g_autoptr(GError) error = NULL;
	gchar *contents = NULL;

	g_file_get_contents(path, &contents, NULL, &error);
	g_assert_no_error(error);
	return contents;
}

typedef struct {
	const gchar *dir;
	const gchar *needle;
} LogWait;

static gboolean
log_contains(gpointer user_data)
{
	LogWait *wait = user_data;
	g_autofree gchar *path = g_build_filename(wait->dir, "output.log", NULL);
	g_autofree gchar *contents = NULL;

	if (!g_file_get_contents(path, &contents, NULL, NULL))
		return FALSE;
	return strstr(contents, wait->needle) != NULL;
}

static void
wait_for_log(const gchar *dir, const gchar *needle)
{
	LogWait wait = {dir, needle};

	g_assert_true(poll_for(log_contains, &wait));
}

static gboolean
started_exists(gpointer user_data)
{
	g_autoptr(JsonObject) obj = try_load_json(user_data, "started.json");

	return obj != NULL;
}

/* the runner's only child, the agent, once it has forked it */
static gboolean
runner_has_child(gpointer user_data)
{
	gint *pids = user_data;
	g_autofree gchar *path = g_strdup_printf("/proc/%d/task/%d/children", pids[0], pids[0]);
	g_autofree gchar *children = NULL;

	if (!g_file_get_contents(path, &children, NULL, NULL))
		return FALSE;
	pids[1] = atoi(children);
	return pids[1] > 0;
}

/* started.json, with "pgid" added: the agent's group, led by the runner's child */
static JsonObject *
wait_started(const gchar *dir)
{
	JsonObject *obj;
	gint pids[2] = {0, 0};

	g_assert_true(poll_for(started_exists, (gpointer)dir));
	obj = load_json(dir, "started.json");
	pids[0] = (gint)json_object_get_int_member(obj, "runner_pid");
	g_assert_true(poll_for(runner_has_child, pids));
	json_object_set_int_member(obj, "pgid", pids[1]);
	return obj;
}

typedef struct {
	gchar state;
	gint ppid;
	gint pgid;
	gint sid;
	guint64 starttime;
} ProcStat;

static gboolean
read_proc_stat(gint pid, ProcStat *ps)
{
	g_autofree gchar *path = g_strdup_printf("/proc/%d/stat", pid);
	g_autofree gchar *contents = NULL;
	g_auto(GStrv) fields = NULL;
	const gchar *rparen;

	if (!g_file_get_contents(path, &contents, NULL, NULL))
		return FALSE;
	rparen = strrchr(contents, ')');
	g_assert_nonnull(rparen);
	/* fields[0] is field 3 of proc(5) */
	fields = g_strsplit(rparen + 2, " ", -1);
	g_assert_cmpuint(g_strv_length(fields), >, 20);
	ps->state = fields[0][0];
	ps->ppid = atoi(fields[1]);
	ps->pgid = atoi(fields[2]);
	ps->sid = atoi(fields[3]);
	ps->starttime = g_ascii_strtoull(fields[19], NULL, 10);
	return TRUE;
}

static gboolean
proc_alive(gint pid)
{
	ProcStat ps;

	return read_proc_stat(pid, &ps) && ps.state != 'Z';
}

/* live (not zombie) processes in process group @pgid */
static guint
count_group(gint pgid)
{
	g_autoptr(GDir) proc = g_dir_open("/proc", 0, NULL);
	const gchar *name;
	guint count = 0;

	g_assert_nonnull(proc);
	while ((name = g_dir_read_name(proc)) != NULL) {
		guint64 pid = 0;
		ProcStat ps;

		if (!g_ascii_string_to_unsigned(name, 10, 1, G_MAXINT, &pid, NULL))
			continue;
		if (read_proc_stat((gint)pid, &ps) && ps.pgid == pgid && ps.state != 'Z')
			count++;
	}
	return count;
}

typedef struct {
	gint pgid;
	guint count;
} GroupWait;

static gboolean
group_has_members(gpointer user_data)
{
	GroupWait *wait = user_data;

	return count_group(wait->pgid) >= wait->count;
}

static gboolean
pid_gone(gpointer user_data)
{
	return !proc_alive(GPOINTER_TO_INT(user_data));
}

static gboolean
file_exists(gpointer user_data)
{
	return g_file_test(user_data, G_FILE_TEST_EXISTS);
}

static void
test_runner_output_and_exit(void)
{
	g_autofree gchar *dir = fl_test_mkdtemp();
	g_autofree gchar *log_path = g_build_filename(dir, "output.log", NULL);
	g_autofree gchar *log = NULL;
	g_autofree gchar *boot_id = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) started = NULL;
	g_autoptr(GSubprocess) proc = NULL;
	g_auto(GStrv) argv = runner_argv(dir, "--", "sh", "-c",
					 "echo out1; echo err1 >&2; echo out2; "
					 "echo err2 >&2; printf tail; exit 3",
					 NULL);
	gint runner_pid;

	/* a resumed session appends to the log of its earlier run */
	g_file_set_contents(log_path, "from an earlier run\n", -1, &error);
	g_assert_no_error(error);

	proc = spawn_runner(dir, argv);
	runner_pid = atoi(g_subprocess_get_identifier(proc));
	g_assert_cmpint(wait_exit_code(proc), ==, 0);

	log = read_log(dir);
	g_assert_cmpstr(log, ==, "from an earlier run\nout1\nerr1\nout2\nerr2\ntail");
	assert_exit_json(dir, "exited", 3, 0, FALSE);

	started = load_json(dir, "started.json");
	g_assert_cmpint(get_int(started, "v"), ==, 1);
	g_assert_cmpint(get_int(started, "runner_pid"), ==, runner_pid);
	g_assert_cmpint(get_int(started, "runner_starttime"), >, 0);
	assert_iso8601(get_string(started, "started_at"));
	g_file_get_contents("/proc/sys/kernel/random/boot_id", &boot_id, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(get_string(started, "boot_id"), ==, g_strstrip(boot_id));
	assert_mode_0600(dir, "started.json");

	fl_test_rm_rf(dir);
}

static void
test_runner_cwd_env_stdin(void)
{
	g_autofree gchar *dir = fl_test_mkdtemp();
	g_autofree gchar *work = g_build_filename(dir, "work", NULL);
	g_autofree gchar *work_real = NULL;
	g_autofree gchar *expected = NULL;
	g_autofree gchar *log = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GSubprocess) proc = NULL;
	g_auto(GStrv) argv = runner_argv(dir, "--cwd", work, "--env", "FOO=bar", "--env", "EQ=a=b",
					 "--", "sh", "-c",
					 "pwd -P; echo \"FOO=$FOO\"; echo \"EQ=$EQ\"; "
					 "echo \"KEPT=$KEPT\"; readlink /proc/self/fd/0; cat; "
					 "echo cat-done",
					 NULL);
	char resolved[PATH_MAX];

	g_assert_cmpint(g_mkdir(work, 0700), ==, 0);
	g_assert_nonnull(realpath(work, resolved));
	work_real = g_strdup(resolved);

	/* the runner's stdin is a pipe we keep open: a child reading it would hang */
	launcher = runner_launcher(dir, G_SUBPROCESS_FLAGS_STDIN_PIPE);
	g_subprocess_launcher_setenv(launcher, "FOO", "overridden", TRUE);
	g_subprocess_launcher_setenv(launcher, "KEPT", "inherited", TRUE);
	proc = g_subprocess_launcher_spawnv(launcher, (const gchar *const *)argv, &error);
	g_assert_no_error(error);
	g_assert_cmpint(wait_exit_code(proc), ==, 0);

	assert_exit_json(dir, "exited", 0, 0, FALSE);
	log = read_log(dir);
	expected = g_strdup_printf("%s\nFOO=bar\nEQ=a=b\nKEPT=inherited\n/dev/null\ncat-done\n",
				   work_real);
	g_assert_cmpstr(log, ==, expected);
	assert_mode_0600(dir, "output.log");

	fl_test_rm_rf(dir);
}

/* a cluster job's command and environment come from 0600 files, never its command line */
static void
test_runner_argv_env_files(void)
{
	g_autofree gchar *dir = fl_test_mkdtemp();
	g_autofree gchar *argv_file = g_build_filename(dir, "job.argv", NULL);
	g_autofree gchar *env_file = g_build_filename(dir, "job.env", NULL);
	g_autofree gchar *log = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GSubprocess) proc = NULL;
	const gchar command[] = "sh\0-c\0echo \"$1|$SECRET|$MULTI\"\0zero\0two words\nand a line";
	const gchar environment[] = "SECRET=s3cret\0MULTI=a=b";
	g_auto(GStrv) argv =
		runner_argv(dir, "--env-file", env_file, "--argv-file", argv_file, NULL);

	g_file_set_contents(argv_file, command, sizeof(command) - 1, &error);
	g_assert_no_error(error);
	/* without a final NUL the last string ends at the end of the file */
	g_file_set_contents(env_file, environment, sizeof(environment) - 1, &error);
	g_assert_no_error(error);
	proc = spawn_runner(dir, argv);
	g_assert_cmpint(wait_exit_code(proc), ==, 0);
	assert_exit_json(dir, "exited", 0, 0, FALSE);
	log = read_log(dir);
	g_assert_cmpstr(log, ==, "two words\nand a line|s3cret|a=b\n");
	fl_test_rm_rf(dir);
}

static void
test_runner_cannot_exec(void)
{
	const gchar *programs[] = {"/nonexistent/flotilla-test-program",
				   "flotilla-test-no-such-program"};

	for (guint i = 0; i < G_N_ELEMENTS(programs); i++) {
		g_autofree gchar *dir = fl_test_mkdtemp();
		g_autofree gchar *log = NULL;
		g_autofree gchar *expected = g_strdup_printf(
			"flotilla-runner: cannot run %s: No such file or directory\n", programs[i]);
		g_autoptr(GSubprocess) proc = NULL;
		g_auto(GStrv) argv = runner_argv(dir, "--", programs[i], "arg", NULL);

		proc = spawn_runner(dir, argv);
		g_assert_cmpint(wait_exit_code(proc), ==, 0);
		assert_exit_json(dir, "exited", 127, 0, FALSE);
		log = read_log(dir);
		g_assert_cmpstr(log, ==, expected);
		fl_test_rm_rf(dir);
	}
}

static void
test_runner_bad_cwd(void)
{
	g_autofree gchar *dir = fl_test_mkdtemp();
	g_autofree gchar *log = NULL;
	g_autoptr(GSubprocess) proc = NULL;
	g_auto(GStrv) argv =
		runner_argv(dir, "--cwd", "/nonexistent/flotilla-test-dir", "--", "true", NULL);

	proc = spawn_runner(dir, argv);
	g_assert_cmpint(wait_exit_code(proc), ==, 0);
	assert_exit_json(dir, "exited", 127, 0, FALSE);
	log = read_log(dir);
	g_assert_cmpstr(log, ==,
			"flotilla-runner: cannot change directory to "
			"/nonexistent/flotilla-test-dir: No such file or directory\n");
	fl_test_rm_rf(dir);
}

static void
test_runner_cancel_kills_group(void)
{
	g_autofree gchar *dir = fl_test_mkdtemp();
	g_autoptr(JsonObject) started = NULL;
	g_autoptr(GSubprocess) proc = NULL;
	g_auto(GStrv) argv =
		runner_argv(dir, "--", "sh", "-c", "sleep 1000 & sleep 1000 & wait", NULL);
	GroupWait group = {0, 3};
	ProcStat runner_stat;
	gint runner_pid;

	proc = spawn_runner(dir, argv);
	started = wait_started(dir);
	runner_pid = get_int(started, "runner_pid");
	group.pgid = get_int(started, "pgid");
	g_assert_cmpint(runner_pid, ==, atoi(g_subprocess_get_identifier(proc)));
	g_assert_cmpint(group.pgid, !=, runner_pid);

	/* what the daemon relies on to recognise the runner after a restart */
	g_assert_true(read_proc_stat(runner_pid, &runner_stat));
	g_assert_cmpuint(runner_stat.starttime, ==, (guint64)get_int(started, "runner_starttime"));
	g_assert_cmpint(runner_stat.sid, ==, runner_pid);

	/* sh and both sleeps */
	g_assert_true(poll_for(group_has_members, &group));

	g_subprocess_send_signal(proc, SIGTERM);
	g_assert_cmpint(wait_exit_code(proc), ==, 0);
	assert_exit_json(dir, "signaled", -1, SIGTERM, TRUE);
	g_assert_cmpuint(count_group(group.pgid), ==, 0);

	fl_test_rm_rf(dir);
}

static void
test_runner_cancel_grace(void)
{
	g_autofree gchar *dir = fl_test_mkdtemp();
	g_autoptr(JsonObject) started = NULL;
	g_autoptr(GSubprocess) proc = NULL;
	g_auto(GStrv) argv = runner_argv(dir, "--grace", "1", "--", "sh", "-c",
					 "trap '' TERM; echo ready; sleep 1000", NULL);
	gint64 signalled_at;
	gint pgid;

	proc = spawn_runner(dir, argv);
	started = wait_started(dir);
	pgid = get_int(started, "pgid");
	wait_for_log(dir, "ready\n");

	signalled_at = g_get_monotonic_time();
	g_subprocess_send_signal(proc, SIGTERM);
	g_assert_cmpint(wait_exit_code(proc), ==, 0);
	/* the group ignored SIGTERM, so only the SIGKILL after the grace period ended it */
	g_assert_cmpint(g_get_monotonic_time() - signalled_at, >=, 900 * 1000);
	assert_exit_json(dir, "signaled", -1, SIGKILL, TRUE);
	g_assert_cmpuint(count_group(pgid), ==, 0);

	fl_test_rm_rf(dir);
}

static void
test_runner_kill_at_once(void)
{
	g_autofree gchar *dir = fl_test_mkdtemp();
	g_autoptr(JsonObject) started = NULL;
	g_autoptr(GSubprocess) proc = NULL;
	g_auto(GStrv) argv =
		runner_argv(dir, "--", "sh", "-c", "trap '' TERM; echo ready; sleep 1000", NULL);
	gint64 signalled_at;
	gint pgid;

	proc = spawn_runner(dir, argv);
	started = wait_started(dir);
	pgid = get_int(started, "pgid");
	wait_for_log(dir, "ready\n");

	signalled_at = g_get_monotonic_time();
	g_subprocess_send_signal(proc, SIGUSR1);
	g_assert_cmpint(wait_exit_code(proc), ==, 0);
	/* well inside the default 10 s grace period */
	g_assert_cmpint(g_get_monotonic_time() - signalled_at, <, 5 * G_USEC_PER_SEC);
	assert_exit_json(dir, "signaled", -1, SIGKILL, TRUE);
	g_assert_cmpuint(count_group(pgid), ==, 0);

	fl_test_rm_rf(dir);
}

static void
test_runner_forwarded_signals(void)
{
	/* the trap names the signal the group received and exits cleanly, before any SIGKILL;
	 * the shell waits in the wait builtin, which a trapped signal interrupts at any time */
	struct {
		gint sent;
		const gchar *script;
		const gchar *log;
		gint code;
	} cases[] = {
		{SIGINT, "trap 'echo got-INT; exit 5' INT; sleep 1000 & echo ready; wait",
		 "got-INT\n", 5},
		{SIGHUP, "trap 'echo got-TERM; exit 6' TERM; sleep 1000 & echo ready; wait",
		 "got-TERM\n", 6},
		{SIGTERM, "trap 'echo got-TERM; exit 7' TERM; sleep 1000 & echo ready; wait",
		 "got-TERM\n", 7},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *dir = fl_test_mkdtemp();
		g_autofree gchar *log = NULL;
		g_autoptr(JsonObject) started = NULL;
		g_autoptr(GSubprocess) proc = NULL;
		g_auto(GStrv) argv = runner_argv(dir, "--", "sh", "-c", cases[i].script, NULL);

		proc = spawn_runner(dir, argv);
		started = wait_started(dir);
		wait_for_log(dir, "ready\n");
		g_subprocess_send_signal(proc, cases[i].sent);
		g_assert_cmpint(wait_exit_code(proc), ==, 0);
		assert_exit_json(dir, "exited", cases[i].code, 0, TRUE);
		log = read_log(dir);
		g_assert_true(g_str_has_suffix(log, cases[i].log));
		g_assert_cmpuint(count_group(get_int(started, "pgid")), ==, 0);
		fl_test_rm_rf(dir);
	}
}

static gint
read_pid_file(const gchar *dir, const gchar *name)
{
	g_autofree gchar *path = g_build_filename(dir, name, NULL);
	g_autofree gchar *text = NULL;
	g_autoptr(GError) error = NULL;
	gint pid;

	g_file_get_contents(path, &text, NULL, &error);
	g_assert_no_error(error);
	pid = atoi(text);
	g_assert_cmpint(pid, >, 0);
	return pid;
}

static void
test_runner_leftovers_killed(void)
{
	g_autofree gchar *dir = fl_test_mkdtemp();
	g_autofree gchar *work = g_build_filename(dir, "work", NULL);
	g_autoptr(GSubprocess) proc = NULL;
	/* one process stays in the group, one leaves for a session of its own; the main child
	 * exits as soon as the escapee has said who it is */
	g_auto(GStrv) argv =
		runner_argv(dir, "--cwd", work, "--", "sh", "-c",
			    "sleep 1000 & echo $! > background.pid; "
			    "setsid sh -c 'echo $$ > escaped.tmp && mv escaped.tmp escaped.pid && "
			    "exec sleep 1000' & "
			    "while [ ! -s escaped.pid ]; do sleep 0.01; done",
			    NULL);

	g_assert_cmpint(g_mkdir(work, 0700), ==, 0);
	proc = spawn_runner(dir, argv);
	g_assert_cmpint(wait_exit_code(proc), ==, 0);
	assert_exit_json(dir, "exited", 0, 0, FALSE);

	g_assert_false(proc_alive(read_pid_file(work, "background.pid")));
	g_assert_false(proc_alive(read_pid_file(work, "escaped.pid")));

	fl_test_rm_rf(dir);
}

static void
test_runner_outlives_parent(void)
{
	g_autofree gchar *dir = fl_test_mkdtemp();
	g_autofree gchar *go_path = g_build_filename(dir, "go", NULL);
	g_autofree gchar *exit_path = g_build_filename(dir, "exit.json", NULL);
	g_autofree gchar *log = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) started = NULL;
	g_autoptr(GSubprocess) parent = NULL;
	/* the parent shell backgrounds the runner and exits at once, as a crashing daemon would */
	const gchar *argv[] = {"sh",
			       "-c",
			       "\"$0\" --dir \"$1\" --cwd \"$1\" -- sh -c "
			       "'while [ ! -e go ]; do sleep 0.02; done; echo finished' "
			       ">\"$1/runner.log\" 2>&1 </dev/null &",
			       runner_path(),
			       dir,
			       NULL};
	ProcStat runner_stat;
	gint parent_pid;
	gint runner_pid;

	parent = spawn(argv, G_SUBPROCESS_FLAGS_NONE);
	parent_pid = atoi(g_subprocess_get_identifier(parent));
	g_assert_cmpint(wait_exit_code(parent), ==, 0);

	started = wait_started(dir);
	runner_pid = get_int(started, "runner_pid");
	g_assert_true(read_proc_stat(runner_pid, &runner_stat));
	g_assert_cmpint(runner_stat.ppid, !=, parent_pid);
	g_assert_false(g_file_test(exit_path, G_FILE_TEST_EXISTS));

	g_file_set_contents(go_path, "", -1, &error);
	g_assert_no_error(error);
	g_assert_true(poll_for(file_exists, exit_path));
	assert_exit_json(dir, "exited", 0, 0, FALSE);
	log = read_log(dir);
	g_assert_cmpstr(log, ==, "finished\n");

	/* leave nothing running behind the test */
	g_assert_true(poll_for(pid_gone, GINT_TO_POINTER(runner_pid)));
	fl_test_rm_rf(dir);
}

static gboolean
lock_is_held(const gchar *path)
{
	gint fd = g_open(path, O_RDWR | O_CLOEXEC, 0);
	gboolean held;

	g_assert_cmpint(fd, >=, 0);
	held = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return held;
}

/*
 * --lock-fd: the runner holds the lock the daemon handed it for exactly its own life; the
 * agent does not inherit it, so a free lock means "no runner", whatever the agent does
 */
static void
test_runner_lock_fd(void)
{
	g_autofree gchar *dir = fl_test_mkdtemp();
	g_autofree gchar *lock = g_build_filename(dir, "runner.lock", NULL);
	g_autoptr(GSubprocessLauncher) launcher = runner_launcher(dir, G_SUBPROCESS_FLAGS_NONE);
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(JsonObject) started = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *up = g_build_filename(dir, "agent-up", NULL);
	/* no child of its own (touch would be one, still exiting when the file appears): the
	 * count below is the agent alone */
	g_autofree gchar *script = g_strdup_printf(": > '%s'; exec sleep 4281", up);
	g_auto(GStrv) argv = runner_argv(dir, "--lock-fd", "3", "--", "sh", "-c", script, NULL);
	gint fd = g_open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	gint pid;

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(flock(fd, LOCK_EX | LOCK_NB), ==, 0);
	g_subprocess_launcher_take_fd(launcher, fd, 3);
	proc = g_subprocess_launcher_spawnv(launcher, (const gchar *const *)argv, &error);
	g_assert_no_error(error);
	g_clear_object(&launcher); /* closes our copy */
	started = wait_started(dir);
	pid = (gint)get_int(started, "runner_pid");
	g_assert_true(lock_is_held(lock));
	/* the agent has exec'd: between fork and exec it shares the runner's descriptors */
	g_assert_true(fl_test_wait_file(up, RUNNER_TIMEOUT_MS));

	/* the runner dies hard; its agent lives on (the daemon's business), without the lock */
	kill(pid, SIGKILL);
	g_assert_cmpint(wait_exit_code_signaled(proc), ==, SIGKILL);
	g_assert_false(lock_is_held(lock));
	g_assert_cmpuint(fl_proc_kill_session(pid, 0), ==, 1);
	fl_test_rm_rf(dir);
}

static void
test_runner_bad_usage(void)
{
	g_autofree gchar *dir = fl_test_mkdtemp();
	g_autofree gchar *missing = g_build_filename(dir, "missing", NULL);
	g_autofree gchar *file = g_build_filename(dir, "file", NULL);
	g_autoptr(GError) error = NULL;
	const gchar *runner = runner_path();
	const gchar *const cases[][10] = {
		{runner, NULL},
		{runner, "--", "true", NULL},
		{runner, "--dir", dir, NULL},
		{runner, "--dir", dir, "--", NULL},
		{runner, "--dir", dir, "true", NULL},
		{runner, "--dir", dir, "--bogus", "--", "true", NULL},
		{runner, "--dir", dir, "--grace", "-1", "--", "true", NULL},
		{runner, "--dir", dir, "--grace", "soon", "--", "true", NULL},
		{runner, "--dir", dir, "--env", "NOVALUE", "--", "true", NULL},
		{runner, "--dir", dir, "--cwd", NULL},
		{runner, "--dir", dir, "--cwd", dir, "--subdir", "../up", "--", "true", NULL},
		{runner, "--dir", dir, "--cwd", dir, "--subdir", "/etc", "--", "true", NULL},
		{runner, "--dir", dir, "--cwd", dir, "--subdir", "", "--", "true", NULL},
		{runner, "--dir", dir, "--lock-fd", "2", "--", "true", NULL},
		{runner, "--dir", dir, "--lock-fd", "999", "--", "true", NULL},
		{runner, "--dir", dir, "--lock-fd", "three", "--", "true", NULL},
		{runner, "--dir", missing, "--", "true", NULL},
		{runner, "--dir", file, "--", "true", NULL},
		{runner, "--dir", dir, "--argv-file", missing, NULL},
		{runner, "--dir", dir, "--env-file", missing, "--", "true", NULL},
		{runner, "--dir", dir, "--argv-file", file, "--", "true", NULL},
		{runner, "--dir", dir, "--env-file", file, "--", "true", NULL},
	};

	g_file_set_contents(file, "not a directory", -1, &error);
	g_assert_no_error(error);

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GSubprocess) proc = NULL;
		g_autoptr(GDir) entries = NULL;
		g_autofree gchar *err = NULL;
		const gchar *name;

		proc = spawn(cases[i], G_SUBPROCESS_FLAGS_STDERR_PIPE);
		g_subprocess_communicate_utf8(proc, NULL, NULL, NULL, &err, &error);
		g_assert_no_error(error);
		g_assert_true(g_subprocess_get_if_exited(proc));
		g_assert_cmpint(g_subprocess_get_exit_status(proc), ==, 2);

		/* exactly one line */
		g_assert_nonnull(err);
		g_assert_true(g_str_has_prefix(err, "flotilla-runner: "));
		g_assert_nonnull(strchr(err, '\n'));
		g_assert_cmpstr(strchr(err, '\n'), ==, "\n");

		entries = g_dir_open(dir, 0, &error);
		g_assert_no_error(error);
		while ((name = g_dir_read_name(entries)) != NULL)
			g_assert_cmpstr(name, ==, "file");
	}

	fl_test_rm_rf(dir);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/runner/output-and-exit", test_runner_output_and_exit);
	g_test_add_func("/runner/cwd-env-stdin", test_runner_cwd_env_stdin);
	g_test_add_func("/runner/argv-env-files", test_runner_argv_env_files);
	g_test_add_func("/runner/cannot-exec", test_runner_cannot_exec);
	g_test_add_func("/runner/bad-cwd", test_runner_bad_cwd);
	g_test_add_func("/runner/cancel-kills-group", test_runner_cancel_kills_group);
	g_test_add_func("/runner/cancel-grace", test_runner_cancel_grace);
	g_test_add_func("/runner/kill-at-once", test_runner_kill_at_once);
	g_test_add_func("/runner/forwarded-signals", test_runner_forwarded_signals);
	g_test_add_func("/runner/leftovers-killed", test_runner_leftovers_killed);
	g_test_add_func("/runner/outlives-parent", test_runner_outlives_parent);
	g_test_add_func("/runner/bad-usage", test_runner_bad_usage);
	g_test_add_func("/runner/lock-fd", test_runner_lock_fd);
	return g_test_run();
}
