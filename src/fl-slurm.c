/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-slurm.h"

#include <string.h>

#include "fl-error.h"
#include "fl-i18n.h"
#include "fl-msg.h"
#include "fl-util.h"

/* what squeue prints for us: id, name, state, reason, nodes; no field can hold a '|' except
 * the name, which is ours and never does */
#define FL_SQUEUE_FORMAT "%i|%j|%T|%r|%N"

void
fl_slurm_job_free(FlSlurmJob *job)
{
	if (job == NULL)
		return;
	g_free(job->id);
	g_free(job->name);
	g_free(job->state);
	g_free(job->reason);
	g_free(job->nodes);
	g_free(job);
}

static gchar *
fl_slurm_field(const gchar *s)
{
	g_autofree gchar *copy = g_strstrip(g_strdup(s));

	/* squeue's words for "nothing here" */
	if (copy[0] == '\0' || g_strcmp0(copy, "None") == 0 || g_strcmp0(copy, "(null)") == 0 ||
	    g_strcmp0(copy, "n/a") == 0)
		return NULL;
	return g_steal_pointer(&copy);
}

FlSlurmJob *
fl_slurm_job_parse(const gchar *line)
{
	g_auto(GStrv) fields = g_strsplit(line, "|", 5);
	FlSlurmJob *job;

	if (g_strv_length(fields) != 5)
		return NULL;
	g_strstrip(fields[0]);
	if (fields[0][0] == '\0' || strspn(fields[0], "0123456789_[]-") != strlen(fields[0]))
		return NULL;
	job = g_new0(FlSlurmJob, 1);
	job->id = g_strdup(fields[0]);
	job->name = fl_slurm_field(fields[1]);
	job->state = fl_slurm_field(fields[2]);
	job->reason = fl_slurm_field(fields[3]);
	job->nodes = fl_slurm_field(fields[4]);
	if (job->state == NULL)
		job->state = g_strdup("UNKNOWN");
	return job;
}

gboolean
fl_slurm_job_is_waiting(const FlSlurmJob *job)
{
	const gchar *waiting[] = {"PENDING",       "REQUEUED",  "REQUEUE_HOLD", "REQUEUE_FED",
				  "RESV_DEL_HOLD", "SUSPENDED", "STOPPED",      NULL};

	return g_strv_contains(waiting, job->state);
}

gboolean
fl_slurm_job_is_finished(const FlSlurmJob *job)
{
	const gchar *finished[] = {"COMPLETED", "FAILED",        "CANCELLED",    "TIMEOUT",
				   "DEADLINE",  "OUT_OF_MEMORY", "NODE_FAIL",    "BOOT_FAIL",
				   "PREEMPTED", "REVOKED",       "SPECIAL_EXIT", NULL};

	return g_strv_contains(finished, job->state);
}

gchar *
fl_slurm_job_name(const gchar *origin, guint session, guint attempt)
{
	return g_strdup_printf("flotilla-%s-%u-%u", origin, session, attempt);
}

/* ------------------------------------------------------------------ running the commands */

typedef struct {
	gint status; /* exit status, -1 when killed by a signal */
	gchar *out;
	gchar *err;
} FlSlurmRun;

static void
fl_slurm_run_free(FlSlurmRun *run)
{
	g_free(run->out);
	g_free(run->err);
	g_free(run);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlSlurmRun, fl_slurm_run_free)

static gchar *
fl_slurm_bytes_str(GBytes *bytes)
{
	gsize len = 0;
	const gchar *data = bytes != NULL ? g_bytes_get_data(bytes, &len) : NULL;

	return g_utf8_make_valid(data != NULL ? data : "", (gssize)len);
}

static void
fl_slurm_run_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	GSubprocess *proc = G_SUBPROCESS(source);
	g_autoptr(GBytes) out = NULL;
	g_autoptr(GBytes) err = NULL;
	g_autoptr(GError) error = NULL;
	FlSlurmRun *run;

	if (!g_subprocess_communicate_finish(proc, res, &out, &err, &error)) {
		g_subprocess_force_exit(proc);
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	run = g_new0(FlSlurmRun, 1);
	run->status = g_subprocess_get_if_exited(proc) ? g_subprocess_get_exit_status(proc) : -1;
	run->out = fl_slurm_bytes_str(out);
	run->err = fl_slurm_bytes_str(err);
	g_task_return_pointer(task, run, (GDestroyNotify)fl_slurm_run_free);
}

/*
 * What the Slurm commands get of the daemon's environment. sbatch hands its whole environment
 * to the job and the controller records it for every administrator to read, so secrets (API
 * keys) must not be in it. --export=NONE would do that too, but then slurmd loads the user's
 * login environment for every job, seconds each on a desktop's shell setup.
 */
static gchar **
fl_slurm_environ(void)
{
	const gchar *keep[] = {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", NULL};
	g_auto(GStrv) all = g_get_environ();
	g_autoptr(GPtrArray) env = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; all[i] != NULL; i++) {
		const gchar *eq = strchr(all[i], '=');
		g_autofree gchar *name = eq != NULL ? g_strndup(all[i], eq - all[i]) : NULL;

		/* SLURM_CONF and the like choose the cluster and how its commands behave */
		if (name != NULL &&
		    (g_strv_contains(keep, name) || g_str_has_prefix(name, "SLURM_")))
			g_ptr_array_add(env, g_strdup(all[i]));
	}
	g_ptr_array_add(env, NULL);
	return (gchar **)g_ptr_array_free(g_steal_pointer(&env), FALSE);
}

/* runs a Slurm command; the task finishes with an FlSlurmRun (any exit status) */
static void
fl_slurm_run(GTask *task, GAsyncReadyCallback callback, const gchar *const *argv)
{
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GError) error = NULL;
	GTask *run_task = g_task_new(NULL, g_task_get_cancellable(task), callback, task);

	g_auto(GStrv) env = fl_slurm_environ();

	/* every descriptor of the daemon is close-on-exec: GLib can posix_spawn() then */
	launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE |
					     G_SUBPROCESS_FLAGS_STDERR_PIPE |
					     G_SUBPROCESS_FLAGS_INHERIT_FDS);
	g_subprocess_launcher_set_environ(launcher, env);
	proc = g_subprocess_launcher_spawnv(launcher, argv, &error);
	if (proc == NULL) {
		/* no Slurm client on this machine is a setup problem, not a passing outage */
		fl_task_return_new_error(run_task, FL_ERROR_FAILED, N_("cannot run %s: %s"),
					 argv[0], error->message);
		g_object_unref(run_task);
		return;
	}
	g_subprocess_communicate_async(proc, NULL, g_task_get_cancellable(task), fl_slurm_run_cb,
				       run_task);
}

static FlSlurmRun *
fl_slurm_run_finish(GAsyncResult *res, GError **error)
{
	return g_task_propagate_pointer(G_TASK(res), error);
}

/* the last line Slurm wrote to stderr, without its "sbatch: error: " prefix */
static gchar *
fl_slurm_message(const FlSlurmRun *run)
{
	g_auto(GStrv) lines = g_strsplit(run->err, "\n", -1);
	const gchar *last = NULL;
	const gchar *p;

	for (guint i = 0; lines[i] != NULL; i++) {
		g_strstrip(lines[i]);
		if (lines[i][0] != '\0')
			last = lines[i];
	}
	if (last == NULL)
		return g_strdup_printf(_("exit status %d"), run->status);
	p = strstr(last, "error: ");
	return g_strdup(p != NULL ? p + strlen("error: ") : last);
}

/* the controller is down or unreachable: worth trying again later, unlike a refusal */
static gboolean
fl_slurm_is_unreachable(const FlSlurmRun *run)
{
	const gchar *signs[] = {"Unable to contact slurm controller",
				"Socket timed out",
				"Zero Bytes were transmitted",
				"Connection refused",
				"Communication connection failure",
				"Munge encode failed",
				"authentication failure",
				NULL};

	for (guint i = 0; signs[i] != NULL; i++) {
		if (strstr(run->err, signs[i]) != NULL)
			return TRUE;
	}
	return FALSE;
}

static GError *
fl_slurm_run_error(const gchar *what, const FlSlurmRun *run)
{
	g_autofree gchar *msg = fl_slurm_message(run);

	if (fl_slurm_is_unreachable(run))
		return g_error_new(G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, "%s", msg);
	return g_error_new(FL_ERROR, FL_ERROR_FAILED, "%s: %s", what, msg);
}

/* ------------------------------------------------------------------ submit */

static void
fl_slurm_submit_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(FlSlurmRun) run = fl_slurm_run_finish(res, &error);
	g_auto(GStrv) parts = NULL;

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
	} else if (run->status != 0) {
		g_task_return_error(task, fl_slurm_run_error("sbatch", run));
	} else {
		/* --parsable: "ID" or "ID;CLUSTER" */
		parts = g_strsplit(g_strstrip(run->out), ";", 2);
		if (parts[0] == NULL || parts[0][0] == '\0' ||
		    strspn(parts[0], "0123456789") != strlen(parts[0]))
			fl_task_return_new_error(task, FL_ERROR_FAILED,
						 N_("sbatch answered '%s' instead of a job id"),
						 run->out);
		else
			g_task_return_pointer(task, g_strdup(parts[0]), g_free);
	}
	g_object_unref(task);
}

void
fl_slurm_submit_async(const FlSlurmSubmit *spec, GCancellable *cancellable,
		      GAsyncReadyCallback callback, gpointer user_data)
{
	GTask *task = g_task_new(NULL, cancellable, callback, user_data);
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);

	g_task_set_source_tag(task, fl_slurm_submit_async);
	g_ptr_array_add(argv, g_strdup("sbatch"));
	g_ptr_array_add(argv, g_strdup("--parsable"));
	g_ptr_array_add(argv, g_strdup_printf("--job-name=%s", spec->name));
	g_ptr_array_add(argv, g_strdup_printf("--chdir=%s", spec->workdir));
	g_ptr_array_add(argv, g_strdup_printf("--output=%s", spec->output));
	/* a job must run once: requeued after a node failure it would redo the agent's work
	 * over a half-written worktree */
	g_ptr_array_add(argv, g_strdup("--no-requeue"));
	if (spec->partition != NULL)
		g_ptr_array_add(argv, g_strdup_printf("--partition=%s", spec->partition));
	if (spec->memory_mb > 0)
		g_ptr_array_add(argv,
				g_strdup_printf("--mem=%" G_GUINT64_FORMAT "M", spec->memory_mb));
	if (spec->time_minutes > 0)
		g_ptr_array_add(argv, g_strdup_printf("--time=%u", spec->time_minutes));
	g_ptr_array_add(argv, g_strdup_printf("--cpus-per-task=%u", MAX(spec->cpus, 1)));
	g_ptr_array_add(argv, g_strdup(spec->script));
	g_ptr_array_add(argv, NULL);
	fl_slurm_run(task, fl_slurm_submit_cb, (const gchar *const *)argv->pdata);
}

gchar *
fl_slurm_submit_finish(GAsyncResult *res, GError **error)
{
	return g_task_propagate_pointer(G_TASK(res), error);
}

/* ------------------------------------------------------------------ list */

static void
fl_slurm_list_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	const gchar *prefix = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlSlurmRun) run = fl_slurm_run_finish(res, &error);
	g_autoptr(GPtrArray) jobs = NULL;
	g_auto(GStrv) lines = NULL;

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		g_object_unref(task);
		return;
	}
	if (run->status != 0) {
		g_task_return_error(task, fl_slurm_run_error("squeue", run));
		g_object_unref(task);
		return;
	}
	jobs = g_ptr_array_new_with_free_func((GDestroyNotify)fl_slurm_job_free);
	lines = g_strsplit(run->out, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		FlSlurmJob *job = fl_slurm_job_parse(lines[i]);

		if (job == NULL)
			continue;
		if (prefix != NULL &&
		    !g_str_has_prefix(job->name != NULL ? job->name : "", prefix)) {
			fl_slurm_job_free(job);
			continue;
		}
		g_ptr_array_add(jobs, job);
	}
	g_task_return_pointer(task, g_steal_pointer(&jobs), (GDestroyNotify)g_ptr_array_unref);
	g_object_unref(task);
}

void
fl_slurm_list_async(const gchar *name, const gchar *prefix, GCancellable *cancellable,
		    GAsyncReadyCallback callback, gpointer user_data)
{
	GTask *task = g_task_new(NULL, cancellable, callback, user_data);
	g_autofree gchar *name_arg = name != NULL ? g_strdup_printf("--name=%s", name) : NULL;
	const gchar *argv[] = {
		"squeue", "--me", "--noheader", "--states=all", "--format=" FL_SQUEUE_FORMAT,
		name_arg, NULL};

	g_task_set_source_tag(task, fl_slurm_list_async);
	g_task_set_task_data(task, g_strdup(prefix), g_free);
	fl_slurm_run(task, fl_slurm_list_cb, argv);
}

GPtrArray *
fl_slurm_list_finish(GAsyncResult *res, GError **error)
{
	return g_task_propagate_pointer(G_TASK(res), error);
}

/* ------------------------------------------------------------------ signal and cancel */

static void
fl_slurm_cancel_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(FlSlurmRun) run = fl_slurm_run_finish(res, &error);

	if (run == NULL)
		g_task_return_error(task, g_steal_pointer(&error));
	else if (run->status != 0 && strstr(run->err, "already completing or completed") == NULL &&
		 strstr(run->err, "Invalid job id") == NULL)
		g_task_return_error(task, fl_slurm_run_error("scancel", run));
	else
		/* a job that is over or forgotten needs no cancelling */
		g_task_return_boolean(task, TRUE);
	g_object_unref(task);
}

void
fl_slurm_signal_async(const gchar *job_id, gint signum, GCancellable *cancellable,
		      GAsyncReadyCallback callback, gpointer user_data)
{
	GTask *task = g_task_new(NULL, cancellable, callback, user_data);
	g_autofree gchar *sig = g_strdup_printf("--signal=%d", signum);
	const gchar *argv[] = {"scancel", "--batch", sig, job_id, NULL};

	g_task_set_source_tag(task, fl_slurm_signal_async);
	fl_slurm_run(task, fl_slurm_cancel_cb, argv);
}

void
fl_slurm_cancel_async(const gchar *job_id, GCancellable *cancellable, GAsyncReadyCallback callback,
		      gpointer user_data)
{
	GTask *task = g_task_new(NULL, cancellable, callback, user_data);
	const gchar *argv[] = {"scancel", job_id, NULL};

	g_task_set_source_tag(task, fl_slurm_cancel_async);
	fl_slurm_run(task, fl_slurm_cancel_cb, argv);
}

gboolean
fl_slurm_cancel_finish(GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}

/* ------------------------------------------------------------------ ping */

static void
fl_slurm_ping_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	const gchar *partition = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlSlurmRun) run = fl_slurm_run_finish(res, &error);
	g_autoptr(GString) text = NULL;
	g_auto(GStrv) lines = NULL;
	gboolean any = FALSE;

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		g_object_unref(task);
		return;
	}
	if (run->status != 0) {
		g_task_return_error(task, fl_slurm_run_error("sinfo", run));
		g_object_unref(task);
		return;
	}
	/* one line per partition and node state: "up|1|idle" */
	text = g_string_new(NULL);
	lines = g_strsplit(run->out, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		g_auto(GStrv) f = g_strsplit(lines[i], "|", 3);
		guint64 n = 0;

		if (g_strv_length(f) != 3)
			continue;
		g_strstrip(f[0]);
		g_strstrip(f[2]);
		/* the partition's availability ("up", "down") once, then its nodes */
		if (!any)
			g_string_append(text, f[0]);
		any = TRUE;
		g_ascii_string_to_unsigned(g_strstrip(f[1]), 10, 0, G_MAXUINT, &n, NULL);
		/* TRANSLATORS: a count of cluster nodes in a state Slurm names (idle, down, …) */
		g_string_append_printf(text, ngettext(", %u node %s", ", %u nodes %s", (gulong)n),
				       (guint)n, f[2]);
	}
	if (!any) {
		fl_task_return_new_error(task, FL_ERROR_NOT_FOUND, N_("no partition '%s'"),
					 partition != NULL ? partition : "(default)");
		g_object_unref(task);
		return;
	}
	g_task_return_pointer(task, g_string_free(g_steal_pointer(&text), FALSE), g_free);
	g_object_unref(task);
}

void
fl_slurm_ping_async(const gchar *partition, GCancellable *cancellable, GAsyncReadyCallback callback,
		    gpointer user_data)
{
	GTask *task = g_task_new(NULL, cancellable, callback, user_data);
	g_autofree gchar *part =
		partition != NULL ? g_strdup_printf("--partition=%s", partition) : NULL;
	const gchar *argv[] = {"sinfo", "--noheader", "--format=%a|%D|%T", part, NULL};

	g_task_set_source_tag(task, fl_slurm_ping_async);
	g_task_set_task_data(task, g_strdup(partition), g_free);
	fl_slurm_run(task, fl_slurm_ping_cb, argv);
}

gchar *
fl_slurm_ping_finish(GAsyncResult *res, GError **error)
{
	return g_task_propagate_pointer(G_TASK(res), error);
}

/* ------------------------------------------------------------------ limits */

gboolean
fl_slurm_parse_memory(const gchar *text, guint64 *megabytes)
{
	gchar *end = NULL;
	guint64 n;
	guint64 scale = 1;

	if (text == NULL || !g_ascii_isdigit(text[0]))
		return FALSE;
	n = g_ascii_strtoull(text, &end, 10);
	switch (g_ascii_toupper(*end)) {
	case '\0':
		break;
	case 'M':
		end++;
		break;
	case 'G':
		scale = 1024;
		end++;
		break;
	case 'T':
		scale = 1024 * 1024;
		end++;
		break;
	default:
		return FALSE;
	}
	/* "4G" and "4GB" alike; more than a petabyte is a typo */
	if (g_ascii_toupper(*end) == 'B')
		end++;
	if (*end != '\0' || n == 0 || n > G_MAXUINT32 / scale)
		return FALSE;
	*megabytes = n * scale;
	return TRUE;
}

gboolean
fl_slurm_parse_minutes(const gchar *text, guint *minutes)
{
	const gchar *p = text;
	guint64 seconds = 0;
	gboolean any = FALSE;

	if (text == NULL || text[0] == '\0')
		return FALSE;
	while (*p != '\0') {
		gchar *end = NULL;
		guint64 n;

		if (!g_ascii_isdigit(*p))
			return FALSE;
		n = g_ascii_strtoull(p, &end, 10);
		if (n > 1000000)
			return FALSE;
		switch (*end) {
		case 'd':
			n *= 86400;
			break;
		case 'h':
			n *= 3600;
			break;
		case 'm':
		case '\0':
			n *= 60;
			break;
		case 's':
			break;
		default:
			return FALSE;
		}
		seconds += n;
		any = TRUE;
		p = *end != '\0' ? end + 1 : end;
	}
	/* a year is enough for anything a session does */
	if (!any || seconds == 0 || seconds > 366 * 86400)
		return FALSE;
	*minutes = (guint)((seconds + 59) / 60);
	return TRUE;
}
