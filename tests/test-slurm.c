/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Sessions on Slurm, against a real single-node cluster (munged, slurmctld, slurmd from the
 * Debian packages) that tests/doubles/slurm-cluster.sh starts in a temporary directory for
 * this test alone: the client's submit, lookup by name, cancel with grace and limits first.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "fl-error.h"
#include "fl-placement-slurm.h"
#include "fl-slurm.h"
#include "fl-test-harness.h"

#define WAIT_MS 60000

static gchar *cluster_dir; /* the running cluster, shared by all tests of this binary */

static gint
cluster(const gchar *command)
{
	g_autofree gchar *script =
		g_build_filename(g_getenv("G_TEST_SRCDIR"), "doubles", "slurm-cluster.sh", NULL);
	const gchar *argv[] = {"sh", script, cluster_dir, command, NULL};
	g_autofree gchar *err = NULL;
	gint rc = fl_test_run(NULL, argv, NULL, &err);

	if (rc != 0)
		g_test_message("slurm-cluster.sh %s: %s", command, err);
	return rc;
}

/*
 * A test that fails aborts, and daemons it started would run on: a watcher in a session of
 * its own stops the cluster once this process is gone, however it went
 */
static void
watch_over_cluster(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *script =
		g_build_filename(g_getenv("G_TEST_SRCDIR"), "doubles", "slurm-cluster.sh", NULL);
	g_autofree gchar *dir = g_shell_quote(cluster_dir);
	g_autofree gchar *quoted = g_shell_quote(script);
	g_autofree gchar *cmd = g_strdup_printf(
		"tail --pid=%d -f /dev/null; [ -d %s ] || exit 0; sh %s %s stop; rm -rf %s",
		(gint)getpid(), dir, quoted, dir, dir);
	const gchar *argv[] = {"setsid", "sh", "-c", cmd, NULL};

	g_spawn_async(NULL, (gchar **)argv, NULL,
		      G_SPAWN_SEARCH_PATH | G_SPAWN_STDIN_FROM_DEV_NULL |
			      G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
		      NULL, NULL, NULL, &error);
	g_assert_no_error(error);
}

static gboolean
cluster_has_limits(void)
{
	g_autofree gchar *path = g_build_filename(cluster_dir, "limits", NULL);
	g_autofree gchar *limits = NULL;

	g_file_get_contents(path, &limits, NULL, NULL);
	return g_strcmp0(limits, "cgroup\n") == 0;
}

/* a directory the job (running as us, on "another machine") and the test both see */
static gchar *
shared_dir_new(void)
{
	g_autofree gchar *name = g_strdup_printf("shared-%u", g_random_int());
	gchar *dir = g_build_filename(cluster_dir, name, NULL);

	g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
	return dir;
}

static gchar *
write_script(const gchar *dir, const gchar *name, const gchar *body)
{
	g_autoptr(GError) error = NULL;
	gchar *path = g_build_filename(dir, name, NULL);
	g_autofree gchar *text = g_strdup_printf("#!/bin/sh\n%s\n", body);

	g_file_set_contents(path, text, -1, &error);
	g_assert_no_error(error);
	g_assert_cmpint(g_chmod(path, 0700), ==, 0);
	return path;
}

/* ------------------------------------------------------------------ async plumbing */

typedef struct {
	GAsyncResult *res;
} Wait;

static void
wait_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	Wait *w = user_data;

	w->res = g_object_ref(res);
}

static gboolean
wait_done(gpointer user_data)
{
	return ((Wait *)user_data)->res != NULL;
}

static GAsyncResult *
wait_result(Wait *w)
{
	g_assert_true(fl_test_wait_for(wait_done, w, WAIT_MS));
	return w->res;
}

static gchar *
submit(const FlSlurmSubmit *spec, GError **error)
{
	Wait w = {NULL};
	gchar *id;

	fl_slurm_submit_async(spec, NULL, wait_cb, &w);
	id = fl_slurm_submit_finish(wait_result(&w), error);
	g_object_unref(w.res);
	return id;
}

static GPtrArray *
list(const gchar *name, const gchar *prefix, GError **error)
{
	Wait w = {NULL};
	GPtrArray *jobs;

	fl_slurm_list_async(name, prefix, NULL, wait_cb, &w);
	jobs = fl_slurm_list_finish(wait_result(&w), error);
	g_object_unref(w.res);
	return jobs;
}

static FlSlurmJob *
find(const gchar *name)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) jobs = list(name, NULL, &error);

	g_assert_no_error(error);
	g_assert_cmpuint(jobs->len, <=, 1);
	return jobs->len == 0 ? NULL : g_ptr_array_steal_index(jobs, 0);
}

static gboolean
cancel(const gchar *id, gint signum, GError **error)
{
	Wait w = {NULL};
	gboolean ok;

	if (signum != 0)
		fl_slurm_signal_async(id, signum, NULL, wait_cb, &w);
	else
		fl_slurm_cancel_async(id, NULL, wait_cb, &w);
	ok = fl_slurm_cancel_finish(wait_result(&w), error);
	g_object_unref(w.res);
	return ok;
}

static gchar *
ping(const gchar *partition, GError **error)
{
	Wait w = {NULL};
	gchar *text;

	fl_slurm_ping_async(partition, NULL, wait_cb, &w);
	text = fl_slurm_ping_finish(wait_result(&w), error);
	g_object_unref(w.res);
	return text;
}

/*
 * Slurm offers nothing to wait on but its own state: ask again every 200 ms (the job's
 * files are watched instead where the test has them)
 */
typedef struct {
	const gchar *name;
	gboolean (*test)(const FlSlurmJob *job);
	gboolean timed_out;
} Poll;

static void
poll_timeout_cb(gpointer user_data)
{
	((Poll *)user_data)->timed_out = TRUE;
}

static void
tick_cb(gpointer user_data)
{
	*(gboolean *)user_data = TRUE;
}

static FlSlurmJob *
wait_job(const gchar *name, gboolean (*test)(const FlSlurmJob *job))
{
	Poll poll = {name, test, FALSE};
	guint timeout = g_timeout_add_once(WAIT_MS, poll_timeout_cb, &poll);

	while (!poll.timed_out) {
		g_autoptr(FlSlurmJob) job = find(name);
		gboolean tick = FALSE;

		if (job != NULL && test(job)) {
			g_source_remove(timeout);
			return g_steal_pointer(&job);
		}
		g_timeout_add_once(200, tick_cb, &tick);
		while (!tick)
			g_main_context_iteration(NULL, TRUE);
	}
	g_test_message("job %s did not get there in time", name);
	g_assert_not_reached();
	return NULL;
}

static gboolean
is_running(const FlSlurmJob *job)
{
	return g_strcmp0(job->state, "RUNNING") == 0;
}

static gboolean
is_pending(const FlSlurmJob *job)
{
	return g_strcmp0(job->state, "PENDING") == 0;
}

/* ------------------------------------------------------------------ pure parts */

static void
test_parse(void)
{
	g_autoptr(FlSlurmJob) job = fl_slurm_job_parse("17|flotilla-a-1-1|PENDING|Resources|");
	g_autoptr(FlSlurmJob) done = fl_slurm_job_parse("18|x|OUT_OF_MEMORY|OutOfMemory|vm");
	g_autoptr(FlSlurmJob) none = fl_slurm_job_parse("19|x|RUNNING|None|vm");
	g_autofree gchar *name = fl_slurm_job_name("host", 12, 3);
	guint64 mb = 0;
	guint minutes = 0;

	g_assert_nonnull(job);
	g_assert_cmpstr(job->id, ==, "17");
	g_assert_cmpstr(job->name, ==, "flotilla-a-1-1");
	g_assert_cmpstr(job->reason, ==, "Resources");
	g_assert_null(job->nodes);
	g_assert_true(fl_slurm_job_is_waiting(job));
	g_assert_false(fl_slurm_job_is_finished(job));
	g_assert_true(fl_slurm_job_is_finished(done));
	g_assert_null(none->reason);
	g_assert_cmpstr(name, ==, "flotilla-host-12-3");
	/* garbage is no job */
	g_assert_null(fl_slurm_job_parse(""));
	g_assert_null(fl_slurm_job_parse("squeue: error: x"));
	g_assert_null(fl_slurm_job_parse("abc|x|RUNNING|None|vm"));

	g_assert_true(fl_slurm_parse_memory("4G", &mb));
	g_assert_cmpuint(mb, ==, 4096);
	g_assert_true(fl_slurm_parse_memory("512M", &mb));
	g_assert_cmpuint(mb, ==, 512);
	g_assert_true(fl_slurm_parse_memory("100", &mb));
	g_assert_cmpuint(mb, ==, 100);
	g_assert_true(fl_slurm_parse_memory("2gb", &mb));
	g_assert_cmpuint(mb, ==, 2048);
	g_assert_false(fl_slurm_parse_memory("", &mb));
	g_assert_false(fl_slurm_parse_memory("4X", &mb));
	g_assert_false(fl_slurm_parse_memory("-1G", &mb));
	g_assert_false(fl_slurm_parse_memory("0", &mb));
	g_assert_false(fl_slurm_parse_memory("99999999999T", &mb));
	g_assert_true(fl_slurm_parse_minutes("2h", &minutes));
	g_assert_cmpuint(minutes, ==, 120);
	g_assert_true(fl_slurm_parse_minutes("1h30m", &minutes));
	g_assert_cmpuint(minutes, ==, 90);
	g_assert_true(fl_slurm_parse_minutes("45s", &minutes));
	g_assert_cmpuint(minutes, ==, 1);
	g_assert_true(fl_slurm_parse_minutes("15", &minutes));
	g_assert_cmpuint(minutes, ==, 15);
	g_assert_false(fl_slurm_parse_minutes("", &minutes));
	g_assert_false(fl_slurm_parse_minutes("h", &minutes));
	g_assert_false(fl_slurm_parse_minutes("2x", &minutes));
	g_assert_false(fl_slurm_parse_minutes("0m", &minutes));
	g_assert_false(fl_slurm_parse_minutes("400d", &minutes));
}

/* ------------------------------------------------------------------ the client on a cluster */

/* submit, find by name (also after it ended), state and reason, the job's own exit status */
static void
test_client_submit(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *shared = shared_dir_new();
	g_autofree gchar *name = g_strdup_printf("flotilla-test-%u-1", g_random_int());
	g_autofree gchar *script = write_script(shared, "job.sh", "echo \"hello $SECRET\"\nexit 7");
	g_autofree gchar *output = g_build_filename(shared, "slurm.out", NULL);
	g_autofree gchar *text = NULL;
	g_autofree gchar *id = NULL;
	g_autoptr(FlSlurmJob) job = NULL;
	g_autoptr(GPtrArray) ours = NULL;
	FlSlurmSubmit spec = {.name = name,
			      .script = script,
			      .workdir = shared,
			      .output = output,
			      .partition = "agents",
			      .memory_mb = 64,
			      .time_minutes = 5,
			      .cpus = 1};

	/* nothing of ours travels in the job's environment */
	g_setenv("SECRET", "s3cret", TRUE);
	g_assert_null(find(name));
	id = submit(&spec, &error);
	g_assert_no_error(error);
	g_assert_nonnull(id);
	job = wait_job(name, fl_slurm_job_is_finished);
	g_assert_cmpstr(job->id, ==, id);
	g_assert_cmpstr(job->state, ==, "FAILED");
	g_assert_cmpstr(job->reason, ==, "NonZeroExitCode");
	g_file_get_contents(output, &text, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(text, ==, "hello \n");

	/* listing by prefix finds it among all our jobs */
	ours = list(NULL, "flotilla-test-", &error);
	g_assert_no_error(error);
	g_assert_cmpuint(ours->len, >=, 1);
	for (guint i = 0; i < ours->len; i++)
		g_assert_true(
			g_str_has_prefix(((FlSlurmJob *)ours->pdata[i])->name, "flotilla-test-"));
}

/* Slurm's refusals are errors with Slurm's words, not "unreachable" */
static void
test_client_refused(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *shared = shared_dir_new();
	g_autofree gchar *script = write_script(shared, "job.sh", "true");
	g_autofree gchar *output = g_build_filename(shared, "out", NULL);
	g_autofree gchar *id = NULL;
	g_autofree gchar *text = NULL;
	FlSlurmSubmit spec = {.name = "flotilla-test-refused-1",
			      .script = script,
			      .workdir = shared,
			      .output = output,
			      .partition = "nosuch"};

	id = submit(&spec, &error);
	g_assert_null(id);
	g_assert_error(error, FL_ERROR, FL_ERROR_FAILED);
	g_assert_nonnull(strstr(error->message, "partition"));
	g_clear_error(&error);
	text = ping("nosuch", &error);
	g_assert_error(error, FL_ERROR, FL_ERROR_NOT_FOUND);
	g_clear_error(&error);
	g_free(text);
	text = ping("agents", &error);
	g_assert_no_error(error);
	g_assert_true(g_str_has_prefix(text, "up, 1 node"));
}

/* the batch script alone gets the signal and hands it on; the job ends when it chooses */
static void
test_client_cancel_grace(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *shared = shared_dir_new();
	g_autofree gchar *name = g_strdup_printf("flotilla-test-%u-1", g_random_int());
	g_autofree gchar *done = g_build_filename(shared, "cleaned-up", NULL);
	g_autofree gchar *started = g_build_filename(shared, "started", NULL);
	g_autofree gchar *body = g_strdup_printf(
		"trap 'echo term > %s; exit 3' TERM\ntouch %s\nsleep 300 & wait", done, started);
	g_autofree gchar *script = write_script(shared, "job.sh", body);
	g_autofree gchar *output = g_build_filename(shared, "out", NULL);
	g_autofree gchar *id = NULL;
	g_autoptr(FlSlurmJob) job = NULL;
	FlSlurmSubmit spec = {.name = name, .script = script, .workdir = shared, .output = output};

	id = submit(&spec, &error);
	g_assert_no_error(error);
	g_assert_true(fl_test_wait_file(started, WAIT_MS));
	g_assert_true(cancel(id, SIGTERM, &error));
	g_assert_no_error(error);
	g_assert_true(fl_test_wait_file(done, WAIT_MS));
	job = wait_job(name, fl_slurm_job_is_finished);
	g_assert_cmpstr(job->state, ==, "FAILED");
	/* cancelling what is over is no error */
	g_assert_true(cancel(id, 0, &error));
	g_assert_no_error(error);
}

/* a job over its memory limit is killed by the cgroup and Slurm says so */
static void
test_client_memory(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *shared = shared_dir_new();
	g_autofree gchar *name = g_strdup_printf("flotilla-test-%u-1", g_random_int());
	g_autofree gchar *script = write_script(
		shared, "job.sh",
		"python3 -c 'a = bytearray(300 * 1024 * 1024); import time; time.sleep(2)'");
	g_autofree gchar *output = g_build_filename(shared, "out", NULL);
	g_autofree gchar *id = NULL;
	g_autoptr(FlSlurmJob) job = NULL;
	FlSlurmSubmit spec = {.name = name,
			      .script = script,
			      .workdir = shared,
			      .output = output,
			      .memory_mb = 100};

	if (!cluster_has_limits()) {
		g_test_skip("no writable cgroup v1 memory hierarchy here: jobs run unlimited");
		return;
	}
	id = submit(&spec, &error);
	g_assert_no_error(error);
	job = wait_job(name, fl_slurm_job_is_finished);
	g_assert_cmpstr(job->state, ==, "OUT_OF_MEMORY");
}

/* a job that cannot start says why; a controller that is away is "not connected" */
static void
test_client_node_down(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *shared = shared_dir_new();
	g_autofree gchar *name = g_strdup_printf("flotilla-test-%u-1", g_random_int());
	g_autofree gchar *script = write_script(shared, "job.sh", "true");
	g_autofree gchar *output = g_build_filename(shared, "out", NULL);
	g_autofree gchar *id = NULL;
	g_autofree gchar *text = NULL;
	g_autoptr(FlSlurmJob) job = NULL;
	g_autoptr(GPtrArray) jobs = NULL;
	FlSlurmSubmit spec = {.name = name, .script = script, .workdir = shared, .output = output};

	g_assert_cmpint(cluster("node-drain"), ==, 0);
	id = submit(&spec, &error);
	g_assert_no_error(error);
	job = wait_job(name, is_pending);
	g_assert_nonnull(job->reason);
	g_test_message("pending because %s", job->reason);
	text = ping(NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(strstr(text, "drain"));
	g_clear_pointer(&text, g_free);

	g_assert_cmpint(cluster("stop-ctld"), ==, 0);
	jobs = list(name, NULL, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
	g_assert_null(jobs);
	g_clear_error(&error);
	text = ping(NULL, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
	g_clear_error(&error);
	g_assert_null(submit(&spec, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
	g_clear_error(&error);

	/* back: the job waited through all of it and runs now */
	g_assert_cmpint(cluster("start-ctld"), ==, 0);
	g_assert_cmpint(cluster("node-up"), ==, 0);
	g_clear_pointer(&job, fl_slurm_job_free);
	job = wait_job(name, fl_slurm_job_is_finished);
	g_assert_cmpstr(job->state, ==, "COMPLETED");
	g_assert_cmpstr(job->id, ==, id);
}

/* the client's jobs live through restarts of both Slurm daemons */
static void
test_client_restarts(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *shared = shared_dir_new();
	g_autofree gchar *name = g_strdup_printf("flotilla-test-%u-1", g_random_int());
	g_autofree gchar *go = g_build_filename(shared, "go", NULL);
	g_autofree gchar *started = g_build_filename(shared, "started", NULL);
	g_autofree gchar *body = g_strdup_printf(
		"touch %s\nwhile [ ! -e %s ]; do sleep 0.2; done\nexit 4", started, go);
	g_autofree gchar *script = write_script(shared, "job.sh", body);
	g_autofree gchar *output = g_build_filename(shared, "out", NULL);
	g_autofree gchar *id = NULL;
	g_autoptr(FlSlurmJob) job = NULL;
	FlSlurmSubmit spec = {.name = name, .script = script, .workdir = shared, .output = output};

	id = submit(&spec, &error);
	g_assert_no_error(error);
	g_assert_true(fl_test_wait_file(started, WAIT_MS));
	g_assert_cmpint(cluster("restart-ctld"), ==, 0);
	g_assert_cmpint(cluster("restart-slurmd"), ==, 0);
	job = find(name);
	g_assert_nonnull(job);
	g_assert_true(is_running(job));
	g_assert_true(g_file_set_contents(go, "", 0, NULL));
	g_clear_pointer(&job, fl_slurm_job_free);
	job = wait_job(name, fl_slurm_job_is_finished);
	g_assert_cmpstr(job->state, ==, "FAILED");
	g_assert_cmpstr(job->id, ==, id);
}

/* ------------------------------------------------------------------ sessions on the cluster */

static gchar *
make_repo(FlTestEnv *env)
{
	gchar *repo = g_build_filename(env->root, "repo", NULL);

	g_assert_cmpint(g_mkdir_with_parents(repo, 0700), ==, 0);
	g_free(fl_test_sh(repo, "git init -q -b main . && git config user.name 'Test User' && "
				"git config user.email test@example.com && "
				"echo one > notes.txt && git add notes.txt && "
				"git commit -q -m initial"));
	return repo;
}

/* a world whose config has [cluster lab] on the test's cluster; @confined: sessions do not
 * get the test's directory shared with them (see fl_test_env_new_confined) */
static FlTestEnv *
lab_env_new_full(const gchar *extra, gboolean confined)
{
	g_autofree gchar *shared = g_build_filename(cluster_dir, "shared", NULL);
	g_autofree gchar *config =
		g_strdup_printf("[fleet]\ncancel-grace=2\n%s\n[cluster lab]\nkind=slurm\n"
				"partition=agents\nshared-dir=%s\ntime=10m\n",
				extra != NULL ? extra : "", shared);
	FlTestEnv *env = confined ? fl_test_env_new_confined(config) : fl_test_env_new(config);

	/* an API key in the daemon's environment must reach neither Slurm nor the script */
	env->envp =
		g_environ_setenv(env->envp, "ANTHROPIC_API_KEY", "sk-test-never-in-slurm", TRUE);
	fl_test_env_start_daemon(env, NULL);
	return env;
}

static FlTestEnv *
lab_env_new(const gchar *extra)
{
	return lab_env_new_full(extra, FALSE);
}

static gchar *
job_dir(FlTestEnv *env, guint id)
{
	g_autofree gchar *shared = g_build_filename(cluster_dir, "shared", NULL);
	g_autofree gchar *name = g_strdup_printf("%u", id);
	g_autofree gchar *session_dir = g_build_filename(env->state_dir, "sessions", name, NULL);

	return fl_placement_slurm_job_dir(shared, session_dir, id);
}

/* all jobs Slurm knows for session @id of @env, any attempt */
static guint
count_jobs(FlTestEnv *env, guint id)
{
	g_autofree gchar *dir = job_dir(env, id);
	g_autofree gchar *parent = g_path_get_dirname(dir);
	g_autofree gchar *origin = g_path_get_basename(parent);
	g_autofree gchar *prefix = g_strdup_printf("flotilla-%s-%u-", origin, id);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) jobs = list(NULL, prefix, &error);

	g_assert_no_error(error);
	return jobs->len;
}

static void
assert_ended(FlTestEnv *env, guint id, const gchar *state)
{
	g_autofree gchar *got = fl_test_wait_ended(env, id, WAIT_MS);

	if (g_strcmp0(got, state) != 0) {
		g_autoptr(JsonObject) obj = fl_test_show(env, id);
		g_test_message("session %u: %s (%s)", id, got,
			       json_object_get_string_member_with_default(obj, "reason", ""));
	}
	g_assert_cmpstr(got, ==, state);
}

/* waits until `show` says what Slurm says matches @needle */
typedef struct {
	FlTestEnv *env;
	guint id;
	const gchar *needle;
} StatusWait;

static gboolean
status_matches(gpointer user_data)
{
	StatusWait *w = user_data;
	g_autoptr(JsonObject) obj = fl_test_show(w->env, w->id);
	const gchar *status =
		json_object_get_string_member_with_default(obj, "placement_status", NULL);

	return status != NULL && strstr(status, w->needle) != NULL;
}

static void
wait_status(FlTestEnv *env, guint id, const gchar *needle)
{
	StatusWait w = {env, id, needle};

	/* every SessionChanged wakes the loop; the status changes come with one */
	if (!fl_test_wait_for(status_matches, &w, WAIT_MS)) {
		g_autoptr(JsonObject) obj = fl_test_show(env, id);
		g_test_message("placement_status: %s", json_object_get_string_member_with_default(
							       obj, "placement_status", "(none)"));
		g_assert_not_reached();
	}
}

static gboolean
tree_contains(const gchar *dir, const gchar *needle)
{
	g_autofree gchar *cmd = g_strdup_printf("grep -rqa -- '%s' '%s'", needle, dir);
	const gchar *argv[] = {"sh", "-c", cmd, NULL};

	return fl_test_run(NULL, argv, NULL, NULL) == 0;
}

/* a shell session on the cluster, to a draft and an approval, like a local one */
static void
test_session_draft(void)
{
	g_autoptr(FlTestEnv) env = lab_env_new(NULL);
	g_autofree gchar *repo = make_repo(env);
	g_autofree gchar *dir = NULL;
	g_autofree gchar *script = NULL;
	g_autofree gchar *log = NULL;
	g_autofree gchar *notes = NULL;
	g_autofree gchar *state = g_build_filename(cluster_dir, "state", NULL);
	g_autoptr(JsonObject) obj = NULL;
	GStatBuf st;
	guint id;

	id = fl_test_run_session(
		env, repo, "--on", "lab", "--",
		"echo two >> notes.txt; "
		"echo new > new.txt; git add new.txt; git commit -qm 'agent commit'; "
		"echo left > left.txt; echo finished-on-$SLURMD_NODENAME",
		NULL);
	assert_ended(env, id, "done");
	obj = fl_test_show(env, id);
	g_assert_cmpstr(json_object_get_string_member(obj, "review"), ==, "pending");
	g_assert_cmpstr(json_object_get_string_member(obj, "placement"), ==, "lab");
	g_assert_nonnull(strstr(json_object_get_string_member(obj, "diffstat"), "3 files"));
	/* the log came back and is read on this machine */
	log = fl_test_cli_ok(env, NULL, "log", "1", NULL);
	g_assert_nonnull(strstr(log, "finished-on-"));
	g_assert_null(strstr(log, "finished-on-\n"));

	/* the job's script names files only: no goal, no key; Slurm's records hold no key */
	dir = job_dir(env, id);
	script = g_build_filename(dir, "job.sh", NULL);
	g_assert_false(tree_contains(script, "left.txt"));
	g_assert_false(tree_contains(state, "sk-test-never-in-slurm"));
	g_assert_false(tree_contains(script, "sk-test-never-in-slurm"));
	g_assert_cmpint(g_stat(dir, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0700);
	{
		g_autofree gchar *env_file = g_build_filename(dir, "job.env", NULL);
		g_assert_cmpint(g_stat(env_file, &st), ==, 0);
		g_assert_cmpint(st.st_mode & 0777, ==, 0600);
		/* the agent got it from there */
		g_assert_true(tree_contains(env_file, "sk-test-never-in-slurm"));
	}

	/* the user's repository: untouched until the approval merges the draft */
	notes = fl_test_sh(repo, "git status --porcelain; git branch --list 'flotilla/*'");
	g_assert_cmpstr(notes, ==, "+ flotilla/1\n");
	g_free(fl_test_cli_ok(env, NULL, "approve", "1", NULL));
	g_free(notes);
	notes = fl_test_sh(repo, "git show main:notes.txt; git show main:new.txt main:left.txt");
	g_assert_cmpstr(notes, ==, "one\ntwo\nnew\nleft\n");
	g_assert_cmpuint(count_jobs(env, id), ==, 1);
}

/*
 * An agent that sets up its clone on the node to run a program in whatever git runs there
 * next: the job's own git after it (commit, bundle) runs none of them, and the work still
 * comes back as the draft
 */
static void
test_session_clone_hostile(void)
{
	g_autoptr(FlTestEnv) env = lab_env_new(NULL);
	g_autofree gchar *repo = make_repo(env);
	g_autofree gchar *marks = g_build_filename(env->root, "marks", NULL);
	g_autofree gchar *goal = NULL;
	g_autofree gchar *files = NULL;
	g_autofree gchar *diff = NULL;
	g_autoptr(GDir) dir = NULL;
	guint id;

	g_assert_cmpint(g_mkdir(marks, 0755), ==, 0);
	goal = g_strdup_printf(
		"m=%s; for h in pre-commit post-commit reference-transaction; "
		"do "
		"printf '#!/bin/sh\\ntouch %%s/hook-%%s\\n' $m $h > .git/hooks/$h; "
		"chmod +x .git/hooks/$h; done; "
		"git config core.fsmonitor \"touch $m/fsmonitor\"; "
		"git config filter.evil.clean \"touch $m/filter; cat\"; "
		"git config filter.evil.required true; "
		"git config remote.origin.uploadpack \"touch $m/uploadpack; false\"; "
		"git config core.hooksPath .git/hooks; "
		"echo '* filter=evil' > .gitattributes; echo changed >> notes.txt",
		marks);
	id = fl_test_run_session(env, repo, "--on", "lab", "--", goal, NULL);
	assert_ended(env, id, "done");

	dir = g_dir_open(marks, 0, NULL);
	g_assert_nonnull(dir);
	g_assert_null(g_dir_read_name(dir));
	/* the work came back whole, .gitattributes too */
	diff = fl_test_cli_ok(env, NULL, "diff", "1", NULL);
	g_assert_nonnull(strstr(diff, "+changed"));
	g_assert_nonnull(strstr(diff, "+* filter=evil"));
	g_free(fl_test_cli_ok(env, NULL, "approve", "1", NULL));
	files = fl_test_sh(repo, "git show main:notes.txt");
	g_assert_cmpstr(files, ==, "one\nchanged\n");
}

/* an agent that swaps its clone's .git for a pointer elsewhere: its commits are not taken
 * from there, its files are */
static void
test_session_clone_swapped(void)
{
	g_autoptr(FlTestEnv) env = lab_env_new(NULL);
	g_autofree gchar *repo = make_repo(env);
	g_autofree gchar *files = NULL;
	guint id;

	id = fl_test_run_session(env, repo, "--on", "lab", "--",
				 "echo more >> notes.txt; rm -rf .git; "
				 "echo 'gitdir: /nonexistent' > .git",
				 NULL);
	assert_ended(env, id, "done");
	g_free(fl_test_cli_ok(env, NULL, "approve", "1", NULL));
	files = fl_test_sh(repo, "git show main:notes.txt; git show main:.git 2>&1 | head -c 5");
	g_assert_cmpstr(files, ==, "one\nmore\nfatal");
}

/*
 * The node confines a session as this machine does: the job's own git directory and
 * scripts, the other jobs in the shared directory and the home beyond what the agent kind
 * needs are out of its reach; the work directory is its own, and what it did there comes
 * back as the draft
 */
static void
test_session_confined(void)
{
	g_autoptr(FlTestEnv) env = lab_env_new_full(NULL, TRUE);
	g_autofree gchar *repo = make_repo(env);
	g_autofree gchar *secret = g_build_filename(env->home, "secret.txt", NULL);
	g_autofree gchar *other = NULL;
	g_autofree gchar *goal = NULL;
	g_autofree gchar *dir = NULL;
	g_autofree gchar *head = NULL;
	g_autofree gchar *got = NULL;
	g_autoptr(JsonObject) obj = NULL;
	guint first;
	guint id;

	g_assert_true(g_file_set_contents(secret, "the user's secret\n", -1, NULL));
	/* another session's job directory, finished, next to this one */
	first = fl_test_run_session(env, repo, "--on", "lab", "--", "echo first > first.txt", NULL);
	assert_ended(env, first, "done");
	other = job_dir(env, first);
	goal = g_strdup_printf("t() { printf '%%s%%s\\n' tam pered > \"$1\" 2>/dev/null; }; "
			       "cat %s > seen.txt 2>&1; t ../git/HEAD; t ../job.sh; t %s/job.sh; "
			       "ls %s >> seen.txt 2>&1; t %s/escape.txt; echo work > work.txt",
			       secret, other, other, env->home);
	id = fl_test_run_session(env, repo, "--on", "lab", "--", goal, NULL);
	assert_ended(env, id, "done");
	obj = fl_test_show(env, id);
	g_assert_cmpstr(json_object_get_string_member(obj, "confinement"), ==, "bwrap");

	dir = job_dir(env, id);
	head = g_build_filename(dir, "git", "HEAD", NULL);
	g_assert_true(g_file_get_contents(head, &got, NULL, NULL));
	g_assert_cmpstr(got, ==, "ref: refs/heads/draft\n");
	g_clear_pointer(&got, g_free);
	g_assert_false(tree_contains(dir, "tampered"));
	g_assert_false(tree_contains(other, "tampered"));
	g_assert_false(tree_contains(env->home, "tampered"));
	/* what it saw: neither the secret nor the other job */
	got = fl_test_cli_ok(env, NULL, "diff", "2", NULL);
	g_test_message("%s", got);
	g_assert_null(strstr(got, "the user's secret"));
	g_assert_null(strstr(got, "job.sh"));
	g_assert_nonnull(strstr(got, "+work"));
	g_free(fl_test_cli_ok(env, NULL, "approve", "2", NULL));
	g_free(got);
	got = fl_test_sh(repo, "git show main:work.txt");
	g_assert_cmpstr(got, ==, "work\n");
}

/* --on and limits with what cannot work: clear errors, exit 2, nothing queued */
static void
test_session_bad_input(void)
{
	g_autoptr(FlTestEnv) env = lab_env_new(NULL);
	g_autofree gchar *repo = make_repo(env);
	g_autofree gchar *scratch = g_build_filename(env->root, "scratch", NULL);
	const gchar *cases[][6] = {
		{"--on", "nosuch", "--", "true", NULL},
		{"--memory", "lots", "--", "true", NULL},
		{"--timeout", "soon", "--", "true", NULL},
		{"--on", "lab", "--memory", "lots", "--", "true"},
		{"--on", "lab", "--timeout", "soon", "--", "true"},
	};

	g_assert_cmpint(g_mkdir(scratch, 0700), ==, 0);
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GStrvBuilder) b = g_strv_builder_new();
		g_auto(GStrv) args = NULL;
		g_autofree gchar *err = NULL;

		g_strv_builder_add(b, "run");
		for (guint j = 0; j < G_N_ELEMENTS(cases[i]) && cases[i][j] != NULL; j++)
			g_strv_builder_add(b, cases[i][j]);
		args = g_strv_builder_end(b);
		g_assert_cmpint(fl_test_cliv(env, repo, (const gchar *const *)args, NULL, &err), ==,
				2);
		g_test_message("%s", err);
		/* one line */
		g_assert_cmpstr(strchr(err, '\n'), ==, "\n");
	}
	{
		g_autofree gchar *err = NULL;
		g_assert_cmpint(fl_test_cli(env, scratch, NULL, &err, "run", "--on", "lab", "--",
					    "true", NULL),
				==, 2);
		g_assert_nonnull(strstr(err, "git repository"));
	}
	{
		g_autofree gchar *ls = fl_test_cli_ok(env, NULL, "ls", "--all", NULL);
		g_assert_cmpstr(ls, ==, "");
	}
}

/* cancel: the agent gets SIGTERM through scancel and the batch script, and it ends cancelled */
static void
test_session_cancel(void)
{
	g_autoptr(FlTestEnv) env = lab_env_new(NULL);
	g_autofree gchar *repo = make_repo(env);
	g_autoptr(GSubprocessLauncher) launcher =
		g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE);
	g_autoptr(GSubprocess) follow = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *followed = NULL;
	g_autofree gchar *started = g_build_filename(env->root, "started", NULL);
	g_autofree gchar *goal = g_strdup_printf(
		"trap 'echo got-term; exit 9' TERM; echo started-on-node; touch '%s'; "
		"sleep 300 & wait",
		started);
	guint id;

	id = fl_test_run_session(env, repo, "--on", "lab", "--", goal, NULL);
	wait_status(env, id, "running on lab");
	/* the log streams from the shared directory while the job runs, to its end */
	g_subprocess_launcher_set_environ(launcher, env->envp);
	follow = g_subprocess_launcher_spawn(launcher, &error, g_getenv("FLOTILLA"), "log", "1",
					     "--follow", NULL);
	g_assert_no_error(error);
	g_assert_true(fl_test_wait_file(started, WAIT_MS));
	g_free(fl_test_cli_ok(env, NULL, "cancel", "1", NULL));
	assert_ended(env, id, "cancelled");
	g_subprocess_communicate_utf8(follow, NULL, NULL, &followed, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(strstr(followed, "started-on-node"));
	g_assert_nonnull(strstr(followed, "got-term"));
	{
		g_autofree gchar *log = fl_test_cli_ok(env, NULL, "log", "1", NULL);
		g_assert_nonnull(strstr(log, "got-term"));
	}
}

/* over the memory limit: the cgroup kills it, and the session says why */
static void
test_session_memory(void)
{
	g_autoptr(FlTestEnv) env = lab_env_new(NULL);
	g_autofree gchar *repo = make_repo(env);
	g_autoptr(JsonObject) obj = NULL;
	guint id;

	if (!cluster_has_limits()) {
		g_test_skip("no writable cgroup v1 memory hierarchy here: jobs run unlimited");
		return;
	}
	id = fl_test_run_session(env, repo, "--on", "lab", "--memory", "100M", "--",
				 "python3 -c 'a = bytearray(300 * 1024 * 1024); "
				 "import time; time.sleep(2)'",
				 NULL);
	assert_ended(env, id, "failed");
	obj = fl_test_show(env, id);
	g_assert_nonnull(strstr(json_object_get_string_member(obj, "reason"), "memory limit"));
	g_assert_nonnull(strstr(json_object_get_string_member(obj, "reason"), "100 MB"));
}

/* over its wall time (`run --timeout`): Slurm stops the job, the session ends failed and
 * says which limit; the draft branch is not made from a half-finished job */
static void
test_session_time_limit(void)
{
	g_autoptr(FlTestEnv) env = lab_env_new(NULL);
	g_autofree gchar *repo = make_repo(env);
	g_autoptr(JsonObject) obj = NULL;
	g_autofree gchar *state = NULL;
	const gchar *reason;
	guint id;

	/* Slurm counts whole minutes and looks at running jobs' limits every 30 s */
	id = fl_test_run_session(env, repo, "--on", "lab", "--timeout", "1m", "--",
				 "echo partial > partial.txt; sleep 600", NULL);
	state = fl_test_wait_ended(env, id, 3 * WAIT_MS);
	g_assert_cmpstr(state, ==, "failed");
	obj = fl_test_show(env, id);
	reason = json_object_get_string_member(obj, "reason");
	g_test_message("%s", reason);
	g_assert_nonnull(strstr(reason, "time limit (1 min)"));
	g_assert_nonnull(strstr(reason, "lab"));
	g_assert_cmpuint(count_jobs(env, id), ==, 1);
}

/* the daemon killed right after sbatch, before it recorded the job id: found by name */
static void
test_session_crash_at(gconstpointer data)
{
	const gchar *point = data;
	g_autoptr(FlTestEnv) env = lab_env_new(NULL);
	g_autofree gchar *repo = make_repo(env);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) obj = NULL;

	fl_test_env_stop_daemon(env, SIGTERM);
	env->envp = g_environ_setenv(env->envp, "FL_TEST_CRASH_AT", point, TRUE);
	fl_test_env_start_daemon(env, NULL);
	fl_test_cli(env, repo, NULL, NULL, "run", "--on", "lab", "--", "echo ran >> runs.txt",
		    NULL);
	g_subprocess_wait(env->daemon, NULL, &error);
	g_assert_no_error(error);
	g_assert_true(g_subprocess_get_if_signaled(env->daemon));
	g_clear_object(&env->daemon);

	env->envp = g_environ_unsetenv(env->envp, "FL_TEST_CRASH_AT");
	fl_test_env_start_daemon(env, NULL);
	assert_ended(env, 1, "done");
	/* once, not twice, and not lost */
	g_assert_cmpuint(count_jobs(env, 1), ==, 1);
	obj = fl_test_show(env, 1);
	g_assert_nonnull(strstr(json_object_get_string_member(obj, "diffstat"), "1 file"));
	{
		g_autofree gchar *runs = fl_test_sh(repo, "git show flotilla/1:runs.txt");
		g_assert_cmpstr(runs, ==, "ran\n");
	}
}

/* the daemon killed while the job runs, and gone until it ended: the draft is not lost */
static void
test_session_daemon_killed(void)
{
	g_autoptr(FlTestEnv) env = lab_env_new(NULL);
	g_autofree gchar *repo = make_repo(env);
	g_autofree gchar *go = g_build_filename(env->root, "go", NULL);
	g_autofree gchar *goal = g_strdup_printf(
		"while [ ! -e '%s' ]; do sleep 0.2; done; echo after > after.txt", go);
	guint id;

	id = fl_test_run_session(env, repo, "--on", "lab", "--", goal, NULL);
	wait_status(env, id, "running on lab");
	fl_test_env_stop_daemon(env, SIGKILL);
	g_assert_true(g_file_set_contents(go, "", 0, NULL));
	{
		/* the job ends while no daemon watches */
		g_autofree gchar *dir = job_dir(env, id);
		g_autofree gchar *result = g_build_filename(dir, "result.json", NULL);
		g_assert_true(fl_test_wait_file(result, WAIT_MS));
	}
	fl_test_env_start_daemon(env, NULL);
	assert_ended(env, id, "done");
	g_assert_cmpuint(count_jobs(env, id), ==, 1);
	{
		g_autofree gchar *after = fl_test_sh(repo, "git show flotilla/1:after.txt");
		g_assert_cmpstr(after, ==, "after\n");
	}
}

/* slurmctld and slurmd restart under a running job: it goes on and its draft comes back */
static void
test_session_slurm_restarts(void)
{
	g_autoptr(FlTestEnv) env = lab_env_new(NULL);
	g_autofree gchar *repo = make_repo(env);
	g_autofree gchar *go = g_build_filename(env->root, "go", NULL);
	g_autofree gchar *goal = g_strdup_printf(
		"while [ ! -e '%s' ]; do sleep 0.2; done; echo after > after.txt", go);
	guint id;

	id = fl_test_run_session(env, repo, "--on", "lab", "--", goal, NULL);
	wait_status(env, id, "running on lab");
	g_assert_cmpint(cluster("restart-ctld"), ==, 0);
	g_assert_cmpint(cluster("restart-slurmd"), ==, 0);
	g_assert_true(g_file_set_contents(go, "", 0, NULL));
	assert_ended(env, id, "done");
	g_assert_cmpuint(count_jobs(env, id), ==, 1);
}

/* the node marked down under a running job: Slurm kills it, and the session says so instead
 * of waiting for it forever or pretending it finished */
static void
test_session_node_down_running(void)
{
	g_autofree gchar *state = NULL;
	g_autoptr(FlTestEnv) env = lab_env_new(NULL);
	g_autofree gchar *repo = make_repo(env);
	g_autoptr(JsonObject) obj = NULL;
	guint id;

	id = fl_test_run_session(env, repo, "--on", "lab", "--", "sleep 300", NULL);
	wait_status(env, id, "running on lab");
	g_assert_cmpint(cluster("node-down"), ==, 0);
	/* Slurm fails the job only after slurmctld's next look at the node: on a loaded
	 * machine that took longer than a minute once */
	state = fl_test_wait_ended(env, id, 3 * WAIT_MS);
	g_assert_cmpstr(state, ==, "interrupted");
	obj = fl_test_show(env, id);
	g_test_message("%s", json_object_get_string_member(obj, "reason"));
	g_assert_nonnull(strstr(json_object_get_string_member(obj, "reason"), "lab"));
	g_assert_cmpint(cluster("node-up"), ==, 0);
	g_assert_cmpuint(count_jobs(env, id), ==, 1);
}

/* a node out of service: the job waits, the session says why; a controller that is away:
 * the session waits for it; `status` says both */
static void
test_session_cluster_down(void)
{
	g_autoptr(FlTestEnv) env = lab_env_new(NULL);
	g_autofree gchar *repo = make_repo(env);
	g_autofree gchar *status = NULL;
	g_autofree gchar *ls = NULL;
	guint first;
	guint second;

	g_assert_cmpint(cluster("node-down"), ==, 0);
	first = fl_test_run_session(env, repo, "--on", "lab", "--", "echo a > a.txt", NULL);
	wait_status(env, first, "queued on lab: ");
	ls = fl_test_cli_ok(env, NULL, "ls", NULL);
	g_test_message("%s", ls);
	g_assert_nonnull(strstr(ls, "queued on lab"));
	status = fl_test_cli_ok(env, NULL, "status", NULL);
	g_assert_nonnull(strstr(status, "cluster lab: reachable"));
	g_assert_nonnull(strstr(status, "1 session there"));
	g_clear_pointer(&status, g_free);

	g_assert_cmpint(cluster("stop-ctld"), ==, 0);
	second = fl_test_run_session(env, repo, "--on", "lab", "--", "echo b > b.txt", NULL);
	wait_status(env, second, "unreachable");
	wait_status(env, first, "unreachable");
	status = fl_test_cli_ok(env, NULL, "status", NULL);
	g_assert_nonnull(strstr(status, "cluster lab: unreachable"));

	g_assert_cmpint(cluster("start-ctld"), ==, 0);
	g_assert_cmpint(cluster("node-up"), ==, 0);
	assert_ended(env, first, "done");
	assert_ended(env, second, "done");
	g_assert_cmpuint(count_jobs(env, first), ==, 1);
	g_assert_cmpuint(count_jobs(env, second), ==, 1);
}

typedef struct {
	FlTestEnv *env;
	guint id;
	const gchar *final;
} FinalWait;

static gboolean
final_message_is(gpointer user_data)
{
	FinalWait *w = user_data;
	g_autoptr(JsonObject) obj = fl_test_show(w->env, w->id);

	return g_strcmp0(json_object_get_string_member_with_default(obj, "final_message", NULL),
			 w->final) == 0;
}

/* a Claude session on the cluster: the real CLI against the scripted model API, to a draft
 * with its final message and cost, a reply that resumes it there, and an approval */
static void
test_session_claude(void)
{
	const gchar *claude = g_getenv("FL_CLAUDE");
	g_autoptr(GError) error = NULL;
	g_autofree gchar *double_py =
		g_test_build_filename(G_TEST_DIST, "doubles", "anthropic-double.py", NULL);
	g_autofree gchar *config = NULL;
	g_autofree gchar *script = NULL;
	g_autofree gchar *requests = NULL;
	g_autofree gchar *work = NULL;
	g_autofree gchar *dir = NULL;
	g_autofree gchar *base_url = NULL;
	g_autofree gchar *line = NULL;
	g_autofree gchar *shared = g_build_filename(cluster_dir, "shared", NULL);
	g_autofree gchar *merged = NULL;
	g_autoptr(GString) text = NULL;
	g_autoptr(GDataInputStream) out = NULL;
	g_autoptr(GSubprocess) model = NULL;
	g_autoptr(FlTestEnv) env = NULL;
	g_autoptr(JsonObject) obj = NULL;
	g_autofree gchar *repo = NULL;
	g_autofree gchar *asked = NULL;
	g_auto(GStrv) lines = NULL;
	FinalWait fw = {0};
	guint id;

	if (claude == NULL || !g_file_test(claude, G_FILE_TEST_IS_EXECUTABLE)) {
		g_test_skip("the Claude Code CLI is not installed: run tests/setup-claude.sh");
		return;
	}
	config = g_strdup_printf("[agent claude]\nkind=claude\ncommand=%s\n[cluster lab]\n"
				 "kind=slurm\nshared-dir=%s\n",
				 claude, shared);
	env = fl_test_env_new(config);
	repo = make_repo(env);
	/* the agent works in the job's clone, on the "node" */
	dir = job_dir(env, 1);
	work = g_build_filename(dir, "work", NULL);
	text = g_string_new("[{\"text\": \"Writing.\", \"tool_use\": {\"name\": \"Write\", "
			    "\"input\": {\"file_path\": \"WORK/hello.txt\", \"content\": "
			    "\"hello from the node\\n\"}}}, {\"text\": \"Wrote hello.txt\"}, "
			    "{\"text\": \"And bye.\", \"tool_use\": {\"name\": \"Write\", "
			    "\"input\": {\"file_path\": \"WORK/bye.txt\", \"content\": "
			    "\"bye from the node\\n\"}}}, {\"text\": \"Said bye too.\"}]");
	g_string_replace(text, "WORK", work, 0);
	script = g_build_filename(env->root, "script.json", NULL);
	requests = g_build_filename(env->root, "requests.jsonl", NULL);
	g_file_set_contents(script, text->str, -1, &error);
	g_assert_no_error(error);
	model = g_subprocess_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE,
				 &error, g_getenv("FL_TEST_PYTHON"), double_py, script, requests,
				 NULL);
	g_assert_no_error(error);
	out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(model));
	line = g_data_input_stream_read_line(out, NULL, NULL, &error);
	g_assert_no_error(error);
	base_url = g_strdup_printf("http://127.0.0.1:%s", line);
	env->envp = g_environ_setenv(env->envp, "ANTHROPIC_BASE_URL", base_url, TRUE);
	env->envp = g_environ_setenv(env->envp, "ANTHROPIC_API_KEY", "dummy-key", TRUE);
	env->envp =
		g_environ_setenv(env->envp, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1", TRUE);
	fl_test_env_start_daemon(env, NULL);

	id = fl_test_run_session(env, repo, "--on", "lab", "--agent", "claude", "--",
				 "say hello in a file", NULL);
	assert_ended(env, id, "done");
	obj = fl_test_show(env, id);
	g_assert_cmpstr(json_object_get_string_member(obj, "review"), ==, "pending");
	g_assert_cmpstr(json_object_get_string_member(obj, "final_message"), ==, "Wrote hello.txt");
	g_assert_cmpfloat(json_object_get_double_member(obj, "cost_usd"), >, 0);
	g_assert_cmpint(json_object_get_int_member(obj, "turns"), >=, 2);

	/* a reply resumes the same Claude conversation on the node, in the work it left */
	g_free(fl_test_cli_ok(env, NULL, "reply", "1", "also say bye", NULL));
	fw.env = env;
	fw.id = id;
	fw.final = "Said bye too.";
	g_assert_true(fl_test_wait_for(final_message_is, &fw, WAIT_MS));
	assert_ended(env, id, "done");
	g_file_get_contents(requests, &asked, NULL, &error);
	g_assert_no_error(error);
	lines = g_strsplit(g_strstrip(asked), "\n", -1);
	g_assert_cmpuint(g_strv_length(lines), ==, 4);
	/* the resumed request carries the first exchange, then the reply */
	g_assert_nonnull(strstr(lines[2], "say hello in a file"));
	g_assert_nonnull(strstr(lines[2], "Wrote hello.txt"));
	g_assert_nonnull(strstr(lines[2], "also say bye"));

	g_free(fl_test_cli_ok(env, NULL, "approve", "1", NULL));
	merged = fl_test_sh(repo, "git show main:hello.txt");
	g_assert_cmpstr(merged, ==, "hello from the node\n");
	g_free(merged);
	merged = fl_test_sh(repo, "git show main:bye.txt");
	g_assert_cmpstr(merged, ==, "bye from the node\n");
	g_subprocess_force_exit(model);
	g_subprocess_wait(model, NULL, NULL);
}

int
main(int argc, char **argv)
{
	g_autofree gchar *conf = NULL;
	gint rc;

	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/slurm/parse", test_parse);
	g_test_add_func("/slurm/client/submit", test_client_submit);
	g_test_add_func("/slurm/client/refused", test_client_refused);
	g_test_add_func("/slurm/client/cancel-grace", test_client_cancel_grace);
	g_test_add_func("/slurm/client/memory", test_client_memory);
	g_test_add_func("/slurm/client/node-down", test_client_node_down);
	g_test_add_func("/slurm/client/restarts", test_client_restarts);
	g_test_add_func("/slurm/session/draft", test_session_draft);
	g_test_add_func("/slurm/session/bad-input", test_session_bad_input);
	g_test_add_func("/slurm/session/clone-hostile", test_session_clone_hostile);
	g_test_add_func("/slurm/session/clone-swapped", test_session_clone_swapped);
	g_test_add_func("/slurm/session/confined", test_session_confined);
	g_test_add_func("/slurm/session/claude", test_session_claude);
	g_test_add_func("/slurm/session/cancel", test_session_cancel);
	g_test_add_func("/slurm/session/memory", test_session_memory);
	g_test_add_func("/slurm/session/time-limit", test_session_time_limit);
	g_test_add_data_func("/slurm/session/crash-after-intent", "placement:intent:1",
			     test_session_crash_at);
	g_test_add_data_func("/slurm/session/crash-after-sbatch", "slurm:submitted:1",
			     test_session_crash_at);
	g_test_add_func("/slurm/session/daemon-killed", test_session_daemon_killed);
	g_test_add_func("/slurm/session/slurm-restarts", test_session_slurm_restarts);
	g_test_add_func("/slurm/session/cluster-down", test_session_cluster_down);
	g_test_add_func("/slurm/session/node-down-running", test_session_node_down_running);

	/* world-readable: munged and the job (as another "machine") must reach into it */
	cluster_dir = fl_test_mkdtemp();
	g_assert_cmpint(g_chmod(cluster_dir, 0755), ==, 0);
	watch_over_cluster();
	conf = g_build_filename(cluster_dir, "slurm.conf", NULL);
	g_setenv("SLURM_CONF", conf, TRUE);
	if (cluster("start") != 0) {
		g_printerr("cannot start the test's Slurm cluster (see above)\n");
		cluster("stop");
		return 1;
	}
	rc = g_test_run();
	cluster("stop");
	fl_test_rm_rf(cluster_dir);
	return rc;
}
