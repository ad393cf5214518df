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

#include "fl-error.h"
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

	/* world-readable: munged and the job (as another "machine") must reach into it */
	cluster_dir = fl_test_mkdtemp();
	g_assert_cmpint(g_chmod(cluster_dir, 0755), ==, 0);
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
