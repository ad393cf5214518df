/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-placement-slurm.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "fl-error.h"
#include "fl-i18n.h"
#include "fl-msg.h"
#include "fl-runner-protocol.h"
#include "fl-slurm.h"
#include "fl-util.h"
#include "fl-worktree.h"

/* how often a job is looked at; Slurm has nothing to wait on */
#define FL_SLURM_POLL_SECONDS 1
/* after the grace period, how long the batch script gets to send its draft back before the
 * job is ended the hard way */
#define FL_SLURM_CANCEL_MARGIN_SECONDS 15

/* how long after result.json appears the daemon waits for Slurm to say how the job ended */
#define FL_SLURM_RESULT_SETTLE_SECONDS 30

/* the files of a job directory (see fl-placement-slurm.h) */
#define FL_SLURM_FILE_SCRIPT        "job.sh"
#define FL_SLURM_FILE_ARGV          "job.argv"
#define FL_SLURM_FILE_ENV           "job.env"
#define FL_SLURM_FILE_COMMIT        "job.commit"
#define FL_SLURM_FILE_REPO          "repo.bundle"
#define FL_SLURM_FILE_RESULT        "result.json"
#define FL_SLURM_FILE_RESULT_BUNDLE "result.bundle"
#define FL_SLURM_FILE_SLURM_OUT     "slurm.out"
#define FL_SLURM_DIR_WORK           "work"

/* what the intent records besides the base class's */
#define FL_SLURM_RECORD_JOB_ID "slurm_job_id"
#define FL_SLURM_RECORD_CANCEL "cancel_requested"

struct _FlPlacementSlurm {
	FlPlacement parent_instance;
	const FlClusterConfig *cluster; /* (unowned) lives as long as the config */
	guint64 memory_mb;
	guint time_minutes;
	gchar *job_dir;     /* (owned) SHARED/<origin>/<session> */
	gchar *origin;      /* (owned) */
	gchar *worktree;    /* (owned) (nullable) this machine's worktree the draft returns to */
	gchar *job_id;      /* (owned) (nullable) once sbatch answered or the job was found */
	FlSlurmJob *last;   /* (owned) (nullable) the job as last seen */
	gchar *unreachable; /* (owned) (nullable) why the last look at the cluster failed */
	gchar *shown;       /* (owned) (nullable) the status text last announced */
	guint poll_id;
	guint hard_cancel_id;
	gboolean polling;   /* a squeue is under way */
	gint64 result_seen; /* monotonic µs when result.json was first seen, 0: not yet */
	gboolean cancel_requested;
	gboolean cancel_sent;
	gboolean finishing;
	GCancellable *cancellable; /* (owned) */
};

G_DEFINE_TYPE(FlPlacementSlurm, fl_placement_slurm, FL_TYPE_PLACEMENT)

static void
fl_placement_slurm_poll(FlPlacementSlurm *self);
static gchar *
fl_placement_slurm_get_status(FlPlacement *placement);

/* tells the session when what `flotilla ls` would say about the job changed */
static void
fl_placement_slurm_notify(FlPlacementSlurm *self)
{
	g_autofree gchar *status = fl_placement_slurm_get_status(FL_PLACEMENT(self));

	if (g_strcmp0(status, self->shown) == 0)
		return;
	g_free(self->shown);
	self->shown = g_steal_pointer(&status);
	fl_placement_status_changed(FL_PLACEMENT(self));
}

static gchar *
fl_placement_slurm_file(FlPlacementSlurm *self, const gchar *name)
{
	return g_build_filename(self->job_dir, name, NULL);
}

/*
 * Which daemon a job belongs to: the host name (readable in squeue) and a hash of host and
 * state directory, so that two users, two machines or two state directories sharing one
 * cluster and one shared-dir never take each other's jobs for their own
 */
static gchar *
fl_placement_slurm_origin(const gchar *session_dir)
{
	g_autofree gchar *sessions = g_path_get_dirname(session_dir);
	g_autofree gchar *state_dir = g_path_get_dirname(sessions);
	g_autofree gchar *key = g_strdup_printf("%s\n%s", g_get_host_name(), state_dir);
	g_autofree gchar *hash = g_compute_checksum_for_string(G_CHECKSUM_SHA256, key, -1);
	g_autofree gchar *host = g_ascii_strdown(g_get_host_name(), -1);
	gchar *dot = strchr(host, '.');

	if (dot != NULL)
		*dot = '\0';
	for (gchar *c = host; *c != '\0'; c++) {
		if (!g_ascii_isalnum(*c))
			*c = '_';
	}
	if (strlen(host) > 24)
		host[24] = '\0';
	return g_strdup_printf("%s-%.8s", host, hash);
}

gchar *
fl_placement_slurm_job_dir(const gchar *shared_dir, const gchar *session_dir, guint session)
{
	g_autofree gchar *origin = fl_placement_slurm_origin(session_dir);
	g_autofree gchar *id = g_strdup_printf("%u", session);

	return g_build_filename(shared_dir, origin, id, NULL);
}

static gchar *
fl_placement_slurm_job_name(FlPlacementSlurm *self)
{
	FlPlacement *placement = FL_PLACEMENT(self);

	return fl_slurm_job_name(self->origin, fl_placement_get_session_id(placement),
				 fl_placement_get_attempt(placement));
}

static void
fl_placement_slurm_stop_polling(FlPlacementSlurm *self)
{
	g_clear_handle_id(&self->poll_id, g_source_remove);
	g_clear_handle_id(&self->hard_cancel_id, g_source_remove);
}

static gchar *
fl_placement_slurm_cluster_name(FlPlacementSlurm *self)
{
	return g_strdup(fl_placement_get_name(FL_PLACEMENT(self)));
}

static void
fl_placement_slurm_set_job(FlPlacementSlurm *self, FlSlurmJob *job)
{
	g_clear_pointer(&self->last, fl_slurm_job_free);
	self->last = job;
}

/* ------------------------------------------------------------------ the end */

/* what Slurm's own end of the job means for the session, when it is more than the exit */
static gchar *
fl_placement_slurm_end_reason(FlPlacementSlurm *self, const FlSlurmJob *job)
{
	const gchar *name = fl_placement_get_name(FL_PLACEMENT(self));

	if (job == NULL)
		return NULL;
	if (g_strcmp0(job->state, "OUT_OF_MEMORY") == 0) {
		if (self->memory_mb > 0) {
			g_autofree gchar *mb =
				g_strdup_printf("%" G_GUINT64_FORMAT, self->memory_mb);
			return fl_msg_stored(N_("killed on %s: over its memory limit of %s MB"),
					     name, mb);
		}
		return fl_msg_stored(N_("killed on %s: over its memory limit"), name);
	}
	if (g_strcmp0(job->state, "TIMEOUT") == 0 || g_strcmp0(job->state, "DEADLINE") == 0) {
		if (self->time_minutes > 0)
			return fl_msg_stored(
				N_("stopped on %s: its time limit (%u min) was reached"), name,
				self->time_minutes);
		return fl_msg_stored(N_("stopped on %s: its time limit was reached"), name);
	}
	if (g_strcmp0(job->state, "NODE_FAIL") == 0 || g_strcmp0(job->state, "BOOT_FAIL") == 0)
		return fl_msg_stored(N_("the node of %s running it failed (%s)"), name, job->state);
	if (g_strcmp0(job->state, "PREEMPTED") == 0)
		return fl_msg_stored(N_("preempted on %s"), name);
	if (g_strcmp0(job->state, "CANCELLED") == 0 && !self->cancel_requested)
		return fl_msg_stored(N_("cancelled on %s (scancel or an administrator)"), name);
	return NULL;
}

typedef struct {
	FlPlacementSlurm *self; /* (owned) */
	FlPlacementEnd end;
	gchar *reason; /* (owned) (nullable) */
} FlSlurmEndCtx;

static void
fl_placement_slurm_end_ctx_free(FlSlurmEndCtx *ctx)
{
	g_object_unref(ctx->self);
	g_free(ctx->reason);
	g_free(ctx);
}

static void
fl_placement_slurm_report(FlSlurmEndCtx *ctx)
{
	FlPlacementSlurm *self = ctx->self;

	ctx->end.reason = ctx->reason;
	ctx->end.cancelled = ctx->end.cancelled || self->cancel_requested;
	g_debug("session %u: job on %s ended", fl_placement_get_session_id(FL_PLACEMENT(self)),
		fl_placement_get_name(FL_PLACEMENT(self)));
	fl_placement_emit_ended(FL_PLACEMENT(self), &ctx->end);
	fl_placement_slurm_end_ctx_free(ctx);
}

static void
fl_placement_slurm_log_copied_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	FlSlurmEndCtx *ctx = user_data;
	g_autoptr(GError) error = NULL;

	/* a finished session's log, final message and cost are read from the local copy; the
	 * shared one stays where it is for the record */
	if (!g_file_copy_finish(G_FILE(source), res, &error))
		g_warning("session %u: no local copy of its log: %s",
			  fl_placement_get_session_id(FL_PLACEMENT(ctx->self)), error->message);
	fl_placement_slurm_report(ctx);
}

static void
fl_placement_slurm_copy_log(FlSlurmEndCtx *ctx)
{
	g_autofree gchar *shared = fl_placement_slurm_file(ctx->self, FL_RUNNER_FILE_LOG);
	g_autofree gchar *local =
		fl_placement_get_file(FL_PLACEMENT(ctx->self), FL_RUNNER_FILE_LOG);
	g_autoptr(GFile) from = g_file_new_for_path(shared);
	g_autoptr(GFile) to = g_file_new_for_path(local);

	if (!g_file_test(shared, G_FILE_TEST_EXISTS)) {
		fl_placement_slurm_report(ctx);
		return;
	}
	g_file_copy_async(from, to, G_FILE_COPY_OVERWRITE, G_PRIORITY_DEFAULT, NULL, NULL, NULL,
			  fl_placement_slurm_log_copied_cb, ctx);
}

static void
fl_placement_slurm_fetched_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	FlSlurmEndCtx *ctx = user_data;
	g_autoptr(GError) error = NULL;

	if (!fl_worktree_fetch_bundle_finish(res, &error)) {
		/* the agent's work is in the shared directory, not lost: say where */
		g_autofree gchar *bundle =
			fl_placement_slurm_file(ctx->self, FL_SLURM_FILE_RESULT_BUNDLE);
		g_free(ctx->reason);
		ctx->reason = fl_msg_stored(N_("the draft could not be brought back from %s: %s"),
					    bundle, error->message);
		ctx->end.kind = FL_PLACEMENT_END_LOST;
	}
	fl_placement_slurm_copy_log(ctx);
}

/* exit.json as the runner on the node wrote it; FALSE when there is none */
static gboolean
fl_placement_slurm_read_exit(FlPlacementSlurm *self, FlPlacementEnd *end)
{
	g_autofree gchar *path = fl_placement_slurm_file(self, FL_RUNNER_FILE_EXIT);
	g_autoptr(JsonObject) exit = fl_read_json_object(path, NULL);
	const gchar *status;

	if (exit == NULL)
		return FALSE;
	status = json_object_get_string_member_with_default(exit, FL_RUNNER_KEY_STATUS, "");
	end->code = (gint)json_object_get_int_member_with_default(exit, FL_RUNNER_KEY_CODE, -1);
	end->signal = (gint)json_object_get_int_member_with_default(exit, FL_RUNNER_KEY_SIGNAL, 0);
	end->cancelled =
		json_object_get_boolean_member_with_default(exit, FL_RUNNER_KEY_CANCELLED, FALSE);
	end->kind = g_strcmp0(status, FL_RUNNER_STATUS_EXITED) == 0 ? FL_PLACEMENT_END_EXITED
								    : FL_PLACEMENT_END_SIGNALED;
	return TRUE;
}

/* the job is over (result.json is there, or Slurm says so or forgot it): its end, its draft */
static void
fl_placement_slurm_finish(FlPlacementSlurm *self)
{
	FlSlurmEndCtx *ctx;
	g_autofree gchar *result_path = fl_placement_slurm_file(self, FL_SLURM_FILE_RESULT);
	g_autofree gchar *name = fl_placement_slurm_cluster_name(self);
	g_autoptr(JsonObject) result = NULL;
	g_autofree gchar *slurm_reason = NULL;
	const gchar *head;
	const gchar *error;

	if (self->finishing)
		return;
	self->finishing = TRUE;
	fl_placement_slurm_stop_polling(self);
	ctx = g_new0(FlSlurmEndCtx, 1);
	ctx->self = g_object_ref(self);
	ctx->end.kind = FL_PLACEMENT_END_LOST;
	ctx->end.code = -1;
	result = fl_read_json_object(result_path, NULL);
	slurm_reason = fl_placement_slurm_end_reason(self, self->last);
	error = fl_json_get_string(result, "error");
	if (self->last != NULL && (g_strcmp0(self->last->state, "NODE_FAIL") == 0 ||
				   g_strcmp0(self->last->state, "BOOT_FAIL") == 0 ||
				   g_strcmp0(self->last->state, "PREEMPTED") == 0)) {
		/* the agent did not end, its node did: interrupted, whatever the runner managed
		 * to write while it was being killed */
		ctx->reason = g_steal_pointer(&slurm_reason);
	} else if (fl_placement_slurm_read_exit(self, &ctx->end)) {
		if (slurm_reason != NULL) {
			/* Slurm stopped it (a limit, a failed node): that is the story, not the
			 * SIGTERM the runner saw, nor an agent that exited 0 on it */
			ctx->reason = g_steal_pointer(&slurm_reason);
			ctx->end.cancelled = FALSE;
			if (ctx->end.kind == FL_PLACEMENT_END_EXITED && ctx->end.code == 0) {
				ctx->end.kind = FL_PLACEMENT_END_SIGNALED;
				ctx->end.code = -1;
				ctx->end.signal = SIGTERM;
			}
		}
	} else if (error != NULL) {
		/* the batch script could not even start the runner */
		ctx->end.kind = FL_PLACEMENT_END_EXITED;
		ctx->end.code = FL_RUNNER_EXIT_CANNOT_RUN;
		ctx->reason = fl_msg_stored(N_("the job on %s could not start: %s"), name, error);
	} else if (slurm_reason != NULL) {
		ctx->reason = g_steal_pointer(&slurm_reason);
	} else {
		ctx->reason =
			fl_msg_stored(N_("the job on %s (%s) ended without an exit status"), name,
				      self->last != NULL ? self->last->state
							 : fl_msg_word(N_("forgotten by Slurm")));
	}
	head = fl_json_get_string(result, "head");
	if (json_object_get_boolean_member_with_default(result, "bundle", FALSE) && head != NULL &&
	    self->worktree != NULL) {
		g_autofree gchar *bundle =
			fl_placement_slurm_file(self, FL_SLURM_FILE_RESULT_BUNDLE);
		fl_worktree_fetch_bundle_async(self->worktree, bundle, head, NULL,
					       fl_placement_slurm_fetched_cb, ctx);
		return;
	}
	fl_placement_slurm_copy_log(ctx);
}

/* ------------------------------------------------------------------ watching */

static void
fl_placement_slurm_signalled_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(FlPlacementSlurm) self = user_data;
	g_autoptr(GError) error = NULL;

	/* a failure is tried again at the next look */
	if (!fl_slurm_cancel_finish(res, &error)) {
		g_debug("session %u: scancel: %s", fl_placement_get_session_id(FL_PLACEMENT(self)),
			error->message);
		self->cancel_sent = FALSE;
	}
}

static gboolean
fl_placement_slurm_hard_cancel_cb(gpointer user_data)
{
	FlPlacementSlurm *self = user_data;

	self->hard_cancel_id = 0;
	if (self->job_id != NULL && !self->finishing)
		fl_slurm_cancel_async(self->job_id, self->cancellable,
				      fl_placement_slurm_signalled_cb, g_object_ref(self));
	return G_SOURCE_REMOVE;
}

/*
 * The cancel of a submitted job: SIGTERM to the batch script alone, which hands it to the
 * runner, which gives the agent the grace period and then the script sends the draft back;
 * scancel once all that had its time. A job still waiting for a node just goes.
 */
static void
fl_placement_slurm_send_cancel(FlPlacementSlurm *self)
{
	const FlConfig *config = fl_placement_get_config(FL_PLACEMENT(self));

	if (self->cancel_sent || self->job_id == NULL || self->finishing)
		return;
	self->cancel_sent = TRUE;
	if (self->last != NULL && fl_slurm_job_is_waiting(self->last)) {
		fl_slurm_cancel_async(self->job_id, self->cancellable,
				      fl_placement_slurm_signalled_cb, g_object_ref(self));
		return;
	}
	fl_slurm_signal_async(self->job_id, SIGTERM, self->cancellable,
			      fl_placement_slurm_signalled_cb, g_object_ref(self));
	if (self->hard_cancel_id == 0)
		self->hard_cancel_id =
			g_timeout_add_seconds(config->cancel_grace + FL_SLURM_CANCEL_MARGIN_SECONDS,
					      fl_placement_slurm_hard_cancel_cb, self);
}

static gboolean
fl_placement_slurm_poll_cb(gpointer user_data)
{
	FlPlacementSlurm *self = user_data;

	self->poll_id = 0;
	fl_placement_slurm_poll(self);
	return G_SOURCE_REMOVE;
}

static void
fl_placement_slurm_schedule_poll(FlPlacementSlurm *self)
{
	if (self->poll_id == 0 && !self->finishing)
		self->poll_id = g_timeout_add_seconds(FL_SLURM_POLL_SECONDS,
						      fl_placement_slurm_poll_cb, self);
}

static gboolean
fl_placement_slurm_has_file(FlPlacementSlurm *self, const gchar *name)
{
	g_autofree gchar *path = fl_placement_slurm_file(self, name);

	return g_file_test(path, G_FILE_TEST_EXISTS);
}

/* result.json has been there long enough that Slurm's word on the end is not coming */
static gboolean
fl_placement_slurm_result_settled(FlPlacementSlurm *self)
{
	if (!fl_placement_slurm_has_file(self, FL_SLURM_FILE_RESULT))
		return FALSE;
	if (self->result_seen == 0)
		self->result_seen = g_get_monotonic_time();
	return g_get_monotonic_time() - self->result_seen >=
	       FL_SLURM_RESULT_SETTLE_SECONDS * G_USEC_PER_SEC;
}

static void
fl_placement_slurm_listed_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(FlPlacementSlurm) self = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) jobs = fl_slurm_list_finish(res, &error);
	FlSlurmJob *job = NULL;
	guint chosen = 0;

	self->polling = FALSE;
	if (self->finishing || g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	if (jobs == NULL) {
		/* a cluster that does not answer decides nothing: look again later */
		g_free(self->unreachable);
		self->unreachable = g_strdup(error->message);
		/* the files tell the end without Slurm, only less about why */
		if (fl_placement_slurm_result_settled(self)) {
			fl_placement_slurm_finish(self);
			return;
		}
		fl_placement_slurm_notify(self);
		fl_placement_slurm_schedule_poll(self);
		return;
	}
	g_clear_pointer(&self->unreachable, g_free);
	for (guint i = 0; i < jobs->len; i++) {
		FlSlurmJob *candidate = g_ptr_array_index(jobs, i);
		/* never submitted twice, but should it ever be, the recorded one is ours */
		if (job == NULL || g_strcmp0(candidate->id, self->job_id) == 0) {
			job = candidate;
			chosen = i;
		}
	}
	if (job != NULL) {
		job = g_ptr_array_steal_index(jobs, chosen);
		fl_placement_slurm_set_job(self, job);
		if (self->job_id == NULL) {
			g_autoptr(GError) record_error = NULL;
			/* found by name after a daemon died before recording it */
			self->job_id = g_strdup(job->id);
			if (!fl_placement_record(FL_PLACEMENT(self), FL_SLURM_RECORD_JOB_ID,
						 job->id, &record_error))
				g_warning("%s", record_error->message);
		}
	}
	if (job != NULL && fl_slurm_job_is_finished(job)) {
		fl_placement_slurm_finish(self);
		return;
	}
	/* the script writes result.json just before it exits; how the job ended (over its
	 * memory, out of time) Slurm says a moment later, unless its slurmd is away */
	if (job != NULL && fl_placement_slurm_result_settled(self)) {
		fl_placement_slurm_finish(self);
		return;
	}
	if (job == NULL) {
		/*
		 * No job of that name. Never submitted (the daemon died between recording the
		 * intent and sbatch) only when nothing at all says otherwise: no job id, no
		 * trace of a start. Else Slurm forgot a job that ended without its result.
		 */
		if (self->job_id == NULL &&
		    !fl_placement_slurm_has_file(self, FL_RUNNER_FILE_STARTED) &&
		    !fl_placement_slurm_has_file(self, FL_SLURM_FILE_SLURM_OUT)) {
			FlPlacementEnd end = {FL_PLACEMENT_END_NOT_STARTED, -1, 0, FALSE,
					      _("the job was never submitted")};
			self->finishing = TRUE;
			fl_placement_emit_ended(FL_PLACEMENT(self), &end);
			return;
		}
		fl_placement_slurm_finish(self);
		return;
	}
	if (self->cancel_requested)
		fl_placement_slurm_send_cancel(self);
	fl_placement_slurm_notify(self);
	fl_placement_slurm_schedule_poll(self);
}

static void
fl_placement_slurm_poll(FlPlacementSlurm *self)
{
	g_autofree gchar *name = NULL;

	if (self->polling || self->finishing)
		return;
	self->polling = TRUE;
	name = fl_placement_slurm_job_name(self);
	fl_slurm_list_async(name, NULL, self->cancellable, fl_placement_slurm_listed_cb,
			    g_object_ref(self));
}

/* ------------------------------------------------------------------ spawn */

/*
 * The batch script. It names files and nothing else: Slurm keeps a copy that its
 * administrators read, so the goal and the environment (with API keys) stay in 0600 files.
 * Signals: scancel --batch reaches this shell alone; it hands SIGTERM to the runner, which
 * gives the agent the grace period, and then the script still sends back what was done.
 *
 * The job's own git directory ($d/git) is where the draft is made; the agent works in its
 * own clone ($d/work, with its .git). After the agent, the script never runs git in that
 * clone — its config could name an fsmonitor, a filter or an upload-pack program — it
 * fetches the clone's HEAD as a remote would (upload-pack runs no hook and reads no such
 * setting), takes it only when it builds on the draft, then commits what is left in the
 * files with its own git directory and config.
 */
static gchar *
fl_placement_slurm_script(FlPlacementSlurm *self, const gchar *confine)
{
	FlPlacement *placement = FL_PLACEMENT(self);
	const FlConfig *config = fl_placement_get_config(placement);
	g_autofree gchar *dir = g_shell_quote(self->job_dir);
	g_autofree gchar *runner = g_shell_quote(fl_placement_get_runner_path(placement));

	return g_strdup_printf(
		"#!/bin/sh\n"
		"# flotilla session %u on %s, attempt %u: written by flotillad, holds no secrets\n"
		"# (the command and its environment are in job.argv and job.env, mode 0600)\n"
		"d=%s\n"
		"runner=%s\n"
		"umask 077\n"
		"cd \"$d\" || exit 1\n"
		"g() { git -c core.hooksPath=/dev/null -c core.fsmonitor=false "
		"-c commit.gpgSign=false -c gc.auto=0 --git-dir=\"$d/git\" --work-tree=\"$d/work\" "
		"\"$@\"; }\n"
		"fail() {\n"
		"\tprintf 'flotilla: %%s\\n' \"$1\" >>output.log\n"
		"\tprintf '{\"v\":1,\"error\":\"%%s\"}\\n' \"$1\" >result.json.tmp &&\n"
		"\t\tmv result.json.tmp result.json\n"
		"\texit 1\n"
		"}\n"
		"# a resumed session goes on from the draft and in the work directory it left\n"
		"if [ ! -d git ]; then\n"
		"\trm -rf git.tmp work && git init -q --bare git.tmp &&\n"
		"\t\tgit --git-dir=git.tmp config core.bare false &&\n"
		"\t\tgit --git-dir=git.tmp fetch -q \"$d/repo.bundle\" +HEAD:refs/heads/draft &&\n"
		"\t\tgit --git-dir=git.tmp symbolic-ref HEAD refs/heads/draft && mv git.tmp git "
		"||\n"
		"\t\tfail 'cannot unpack repo.bundle on '\"$(hostname)\"\n"
		"fi\n"
		"if [ ! -d work ]; then\n"
		"\trm -rf work.tmp && git clone -q --no-hardlinks -b draft \"$d/git\" work.tmp &&\n"
		"\t\tmv work.tmp work || fail 'cannot make the work directory on '\"$(hostname)\"\n"
		"fi\n"
		"base=$(g rev-parse HEAD) || fail 'no commit in the work directory'\n"
		"\"$runner\" --dir \"$d\" --cwd \"$d/work\" --grace %u --env-file \"$d/job.env\" "
		"--argv-file \"$d/job.argv\"%s &\n"
		"pid=$!\n"
		"trap 'kill -TERM $pid 2>/dev/null' TERM INT\n"
		"# wait returns early for every trapped signal\n"
		"while :; do wait $pid; kill -0 $pid 2>/dev/null || break; done\n"
		"trap '' TERM INT\n"
		"if [ -d work/.git ] && [ ! -L work/.git ] &&\n"
		"\tg fetch -q --no-tags --no-write-fetch-head \"file://$d/work\"/.git "
		"+HEAD:refs/heads/agent 2>/dev/null &&\n"
		"\tg merge-base --is-ancestor HEAD agent; then\n"
		"\tg update-ref refs/heads/draft agent\n"
		"fi\n"
		"g read-tree HEAD && g add -A && { g diff --cached --quiet || "
		"GIT_AUTHOR_NAME=Flotilla "
		"GIT_AUTHOR_EMAIL=flotilla@localhost GIT_COMMITTER_NAME=Flotilla "
		"GIT_COMMITTER_EMAIL=flotilla@localhost g commit -q --no-verify -F "
		"\"$d/job.commit\"; "
		"} || fail 'cannot record the work on '\"$(hostname)\"\n"
		"head=$(g rev-parse HEAD)\n"
		"bundle=false\n"
		"rm -f result.bundle\n"
		"if [ \"$head\" != \"$base\" ]; then\n"
		"\tg bundle create -q \"$d/result.bundle.tmp\" \"$base..HEAD\" &&\n"
		"\t\tmv result.bundle.tmp result.bundle && bundle=true\n"
		"fi\n"
		"printf '{\"v\":1,\"base\":\"%%s\",\"head\":\"%%s\",\"bundle\":%%s}\\n' \"$base\" "
		"\"$head\" $bundle >result.json.tmp && mv result.json.tmp result.json\n",
		fl_placement_get_session_id(placement), fl_placement_get_name(placement),
		fl_placement_get_attempt(placement), dir, runner, config->cancel_grace, confine);
}

/* NUL-separated strings: an argv or an environment, any bytes but NUL, no quoting */
static gboolean
fl_placement_slurm_write_strv(FlPlacementSlurm *self, const gchar *name, GPtrArray *items,
			      GError **error)
{
	g_autofree gchar *path = fl_placement_slurm_file(self, name);
	g_autoptr(GString) text = g_string_new(NULL);

	for (guint i = 0; i < items->len; i++)
		g_string_append_len(text, g_ptr_array_index(items, i),
				    (gssize)strlen(g_ptr_array_index(items, i)) + 1);
	return fl_write_file_durable(path, text->str, (gssize)text->len, error);
}

/*
 * The agent's environment on the node: what the session sets, and of this machine's
 * environment what an agent needs and the node cannot know: home, locale, and the API
 * settings and keys the agents read. Nothing else of the desktop (its bus, its display).
 */
static GPtrArray *
fl_placement_slurm_env(const FlPlacementCommand *cmd)
{
	const gchar *keep[] = {"HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "PATH", NULL};
	const gchar *prefixes[] = {"ANTHROPIC_", "OPENAI_", "CLAUDE_CODE_", "CODEX_", NULL};
	g_auto(GStrv) all = g_get_environ();
	GPtrArray *env = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GHashTable) set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	for (guint i = 0; cmd->env != NULL && cmd->env[i] != NULL; i++) {
		const gchar *eq = strchr(cmd->env[i], '=');
		if (eq == NULL)
			continue;
		g_hash_table_add(set, g_strndup(cmd->env[i], eq - cmd->env[i]));
		g_ptr_array_add(env, g_strdup(cmd->env[i]));
	}
	for (guint i = 0; all[i] != NULL; i++) {
		const gchar *eq = strchr(all[i], '=');
		g_autofree gchar *name = eq != NULL ? g_strndup(all[i], eq - all[i]) : NULL;
		gboolean wanted;

		if (name == NULL || g_hash_table_contains(set, name))
			continue;
		wanted = g_strv_contains(keep, name) || g_str_has_suffix(name, "_API_KEY");
		for (guint j = 0; !wanted && prefixes[j] != NULL; j++)
			wanted = g_str_has_prefix(name, prefixes[j]);
		if (wanted)
			g_ptr_array_add(env, g_strdup(all[i]));
	}
	return env;
}

/* the previous run's outcome, which would make the next one look finished at once */
static void
fl_placement_slurm_forget_files(FlPlacementSlurm *self)
{
	const gchar *files[] = {FL_RUNNER_FILE_EXIT,     FL_RUNNER_FILE_STARTED,
				FL_SLURM_FILE_RESULT,    FL_SLURM_FILE_RESULT_BUNDLE,
				FL_SLURM_FILE_SLURM_OUT, NULL};

	for (guint i = 0; files[i] != NULL; i++) {
		g_autofree gchar *path = fl_placement_slurm_file(self, files[i]);
		g_unlink(path);
	}
}

/*
 * A file of the session directory the command names (Claude's settings, an http agent's
 * request) is on this machine only: it travels into the job directory, and the command names
 * the copy. @copy stays NULL for any other argument.
 */
static gboolean
fl_placement_slurm_ship_file(FlPlacementSlurm *self, const gchar *arg, gchar **copy, GError **error)
{
	const gchar *dir = fl_placement_get_dir(FL_PLACEMENT(self));
	g_autofree gchar *prefix = g_strconcat(dir, "/", NULL);
	g_autofree gchar *contents = NULL;
	g_autofree gchar *base = NULL;
	g_autofree gchar *target = NULL;
	gsize len = 0;

	*copy = NULL;
	if (!g_str_has_prefix(arg, prefix) || strchr(arg + strlen(prefix), '/') != NULL ||
	    !g_file_test(arg, G_FILE_TEST_IS_REGULAR))
		return TRUE;
	if (!g_file_get_contents(arg, &contents, &len, error))
		return FALSE;
	base = g_path_get_basename(arg);
	target = fl_placement_slurm_file(self, base);
	if (!fl_write_file_durable(target, contents, (gssize)len, error))
		return FALSE;
	*copy = g_steal_pointer(&target);
	return TRUE;
}

static gboolean
fl_placement_slurm_prepare(FlPlacementSlurm *self, const FlPlacementCommand *cmd, GError **error)
{
	FlPlacement *placement = FL_PLACEMENT(self);
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) env = fl_placement_slurm_env(cmd);
	g_autofree gchar *commit = fl_placement_slurm_file(self, FL_SLURM_FILE_COMMIT);
	g_autofree gchar *script = fl_placement_slurm_file(self, FL_SLURM_FILE_SCRIPT);
	g_autofree gchar *script_text = NULL;
	g_autofree gchar *message = NULL;
	g_autoptr(GString) confine = g_string_new(NULL);

	if (!fl_ensure_dir(self->job_dir, error))
		return FALSE;
	fl_placement_slurm_forget_files(self);
	for (guint i = 0; cmd->argv[i] != NULL; i++) {
		g_autofree gchar *copy = NULL;

		if (!fl_placement_slurm_ship_file(self, cmd->argv[i], &copy, error))
			return FALSE;
		/* confined, the copy is all the sandbox shows of the job directory */
		if (copy != NULL && cmd->confine) {
			g_autofree gchar *quoted = g_shell_quote(copy);
			g_string_append_printf(confine, " " FL_RUNNER_OPT_RO_BIND " %s", quoted);
		}
		g_ptr_array_add(argv,
				copy != NULL ? g_steal_pointer(&copy) : g_strdup(cmd->argv[i]));
	}
	/* the runner on the node builds the same sandbox as a local one, around the work
	 * directory; paths of this machine (the repository's git dir) do not exist there */
	if (cmd->confine) {
		const struct {
			const gchar *option;
			const gchar *const *values;
		} lists[] = {{FL_RUNNER_OPT_HOME_RO, cmd->home_ro},
			     {FL_RUNNER_OPT_HOME_RW, cmd->home_rw},
			     {FL_RUNNER_OPT_BIND, cmd->user_binds},
			     {FL_RUNNER_OPT_RO_BIND, cmd->user_ro_binds}};

		g_string_append(confine, " " FL_RUNNER_OPT_CONFINE " bwrap " FL_RUNNER_OPT_NETWORK);
		g_string_append(confine, cmd->no_network ? " none" : " on");
		for (guint l = 0; l < G_N_ELEMENTS(lists); l++) {
			for (guint i = 0; lists[l].values != NULL && lists[l].values[i] != NULL;
			     i++) {
				g_autofree gchar *quoted = g_shell_quote(lists[l].values[i]);
				g_string_append_printf(confine, " %s %s", lists[l].option, quoted);
			}
		}
	}
	/* the work directory on the node is a clone of the worktree: the same subdirectory */
	if (cmd->subdir != NULL) {
		g_autofree gchar *quoted = g_shell_quote(cmd->subdir);
		g_string_append_printf(confine, " " FL_RUNNER_OPT_SUBDIR " %s", quoted);
	}
	message = g_strdup_printf("flotilla #%u: left uncommitted on %s\n",
				  fl_placement_get_session_id(placement),
				  fl_placement_get_name(placement));
	script_text = fl_placement_slurm_script(self, confine->str);
	if (!fl_placement_slurm_write_strv(self, FL_SLURM_FILE_ARGV, argv, error) ||
	    !fl_placement_slurm_write_strv(self, FL_SLURM_FILE_ENV, env, error) ||
	    !fl_write_file_durable(commit, message, -1, error) ||
	    !fl_write_file_durable(script, script_text, -1, error))
		return FALSE;
	if (g_chmod(script, 0700) != 0) {
		fl_set_error(error, FL_ERROR_FAILED, N_("cannot make %s executable: %s"), script,
			     g_strerror(errno));
		return FALSE;
	}
	/* adopt() needs to know where the draft returns to */
	return fl_placement_record(placement, "worktree", cmd->cwd, error);
}

static void
fl_placement_slurm_submit(GTask *task);

static gboolean
fl_placement_slurm_retry_cb(gpointer user_data)
{
	GTask *task = user_data;
	FlPlacementSlurm *self = g_task_get_source_object(task);

	if (self->cancel_requested) {
		fl_task_return_new_error(task, FL_ERROR_FAILED,
					 N_("cancelled before it reached %s"),
					 fl_placement_get_name(FL_PLACEMENT(self)));
		g_object_unref(task);
		return G_SOURCE_REMOVE;
	}
	fl_placement_slurm_submit(task);
	return G_SOURCE_REMOVE;
}

/* the end of a submission: @id, or @error; consumes @task */
static void
fl_placement_slurm_submitted(GTask *task, gchar *id, GError *error)
{
	FlPlacementSlurm *self = g_task_get_source_object(task);
	g_autoptr(GError) record_error = NULL;

	if (id == NULL && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED)) {
		/* the cluster is away: the session waits for it, it does not fail */
		g_free(self->unreachable);
		self->unreachable = g_strdup(error->message);
		g_error_free(error);
		fl_placement_slurm_notify(self);
		g_timeout_add_seconds(FL_SLURM_POLL_SECONDS * 2, fl_placement_slurm_retry_cb, task);
		return;
	}
	if (id == NULL) {
		g_task_return_error(task, error);
		g_object_unref(task);
		return;
	}
	fl_crash_point("slurm:submitted");
	g_clear_pointer(&self->unreachable, g_free);
	g_free(self->job_id);
	self->job_id = id;
	if (!fl_placement_record(FL_PLACEMENT(self), FL_SLURM_RECORD_JOB_ID, self->job_id,
				 &record_error))
		/* the job runs; a later daemon finds it by name */
		g_warning("%s", record_error->message);
	g_debug("session %u: Slurm job %s", fl_placement_get_session_id(FL_PLACEMENT(self)),
		self->job_id);
	g_task_return_boolean(task, TRUE);
	g_object_unref(task);
	fl_placement_slurm_notify(self);
	if (self->cancel_requested)
		fl_placement_slurm_send_cancel(self);
	fl_placement_slurm_poll(self);
}

static void
fl_placement_slurm_submitted_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GError *error = NULL;
	gchar *id = fl_slurm_submit_finish(res, &error);

	fl_placement_slurm_submitted(user_data, id, error);
}

static void
fl_placement_slurm_lookup_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	FlPlacementSlurm *self = g_task_get_source_object(task);
	GError *error = NULL;
	g_autoptr(GPtrArray) jobs = fl_slurm_list_finish(res, &error);
	g_autofree gchar *name = fl_placement_slurm_job_name(self);
	g_autofree gchar *script = fl_placement_slurm_file(self, FL_SLURM_FILE_SCRIPT);
	g_autofree gchar *output = fl_placement_slurm_file(self, FL_SLURM_FILE_SLURM_OUT);
	FlSlurmSubmit spec = {0};

	if (jobs == NULL) {
		fl_placement_slurm_submitted(task, NULL, error);
		return;
	}
	if (jobs->len > 0) {
		/* an earlier sbatch got through though its answer did not */
		FlSlurmJob *job = g_ptr_array_index(jobs, 0);
		fl_placement_slurm_submitted(task, g_strdup(job->id), NULL);
		return;
	}
	spec.name = name;
	spec.script = script;
	spec.workdir = self->job_dir;
	spec.output = output;
	spec.partition = self->cluster->partition;
	spec.memory_mb = self->memory_mb;
	spec.time_minutes = self->time_minutes;
	spec.cpus = self->cluster->cpus;
	fl_slurm_submit_async(&spec, NULL, fl_placement_slurm_submitted_cb, task);
}

/* sbatch, but first a look whether a submission whose answer got lost went through */
static void
fl_placement_slurm_submit(GTask *task)
{
	FlPlacementSlurm *self = g_task_get_source_object(task);
	g_autofree gchar *name = fl_placement_slurm_job_name(self);

	fl_slurm_list_async(name, NULL, NULL, fl_placement_slurm_lookup_cb, task);
}

static void
fl_placement_slurm_bundled_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	GError *error = NULL;

	if (!fl_worktree_bundle_finish(res, &error)) {
		g_task_return_error(task, error);
		g_object_unref(task);
		return;
	}
	fl_placement_slurm_submit(task);
}

static void
fl_placement_slurm_spawn_async(FlPlacement *placement, const FlPlacementCommand *cmd,
			       GCancellable *cancellable, GAsyncReadyCallback callback,
			       gpointer user_data)
{
	FlPlacementSlurm *self = FL_PLACEMENT_SLURM(placement);
	GTask *task = g_task_new(self, cancellable, callback, user_data);
	g_autofree gchar *bundle = fl_placement_slurm_file(self, FL_SLURM_FILE_REPO);
	GError *error = NULL;

	g_task_set_source_tag(task, fl_placement_slurm_spawn_async);
	self->finishing = FALSE;
	self->cancel_sent = FALSE;
	self->result_seen = 0;
	g_clear_pointer(&self->job_id, g_free);
	fl_placement_slurm_set_job(self, NULL);
	g_free(self->worktree);
	self->worktree = g_strdup(cmd->cwd);
	if (!fl_placement_slurm_prepare(self, cmd, &error)) {
		g_task_return_error(task, error);
		g_object_unref(task);
		return;
	}
	/* the draft branch as it is now: the base, or what an earlier run left */
	fl_worktree_bundle_async(cmd->cwd, bundle, NULL, fl_placement_slurm_bundled_cb, task);
}

static gboolean
fl_placement_slurm_spawn_finish(FlPlacement *placement, GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}

/* ------------------------------------------------------------------ the rest of the vfuncs */

static FlPlacementAdopt
fl_placement_slurm_adopt(FlPlacement *placement)
{
	FlPlacementSlurm *self = FL_PLACEMENT_SLURM(placement);

	if (!fl_placement_has_intent(placement))
		return FL_PLACEMENT_ADOPT_NOT_PLACED;
	g_free(self->worktree);
	self->worktree = g_strdup(fl_placement_get_record(placement, "worktree"));
	g_free(self->job_id);
	self->job_id = g_strdup(fl_placement_get_record(placement, FL_SLURM_RECORD_JOB_ID));
	self->cancel_requested = fl_placement_get_record(placement, FL_SLURM_RECORD_CANCEL) != NULL;
	self->finishing = FALSE;
	/* decided from Slurm's answer and the files, never by submitting anything */
	fl_placement_slurm_notify(self);
	fl_placement_slurm_poll(self);
	return FL_PLACEMENT_ADOPT_WATCHING;
}

static void
fl_placement_slurm_cancel(FlPlacement *placement)
{
	FlPlacementSlurm *self = FL_PLACEMENT_SLURM(placement);
	g_autoptr(GError) error = NULL;

	if (self->cancel_requested)
		return;
	self->cancel_requested = TRUE;
	/* a daemon restarted meanwhile still cancels */
	if (fl_placement_has_intent(placement) &&
	    !fl_placement_record(placement, FL_SLURM_RECORD_CANCEL, "1", &error))
		g_warning("%s", error->message);
	/* not submitted yet: the submission sees the flag */
	fl_placement_slurm_send_cancel(self);
}

static void
fl_placement_slurm_forget(FlPlacement *placement)
{
	FlPlacementSlurm *self = FL_PLACEMENT_SLURM(placement);

	fl_placement_slurm_forget_files(self);
	self->cancel_requested = FALSE;
	self->cancel_sent = FALSE;
	self->finishing = FALSE;
	self->result_seen = 0;
	g_clear_pointer(&self->job_id, g_free);
	fl_placement_slurm_set_job(self, NULL);
}

static gchar *
fl_placement_slurm_get_status(FlPlacement *placement)
{
	FlPlacementSlurm *self = FL_PLACEMENT_SLURM(placement);
	const gchar *name = fl_placement_get_name(placement);

	if (self->finishing)
		return NULL;
	if (self->unreachable != NULL)
		return g_strdup_printf(_("waiting for %s, unreachable: %s"), name,
				       self->unreachable);
	if (self->job_id == NULL)
		return g_strdup_printf(_("submitting to %s"), name);
	if (self->last != NULL && fl_slurm_job_is_waiting(self->last))
		return self->last->reason != NULL
			       ? g_strdup_printf(_("queued on %s: %s"), name, self->last->reason)
			       : g_strdup_printf(_("queued on %s"), name);
	if (self->last != NULL && self->last->nodes != NULL)
		return g_strdup_printf(_("running on %s (%s, job %s)"), name, self->last->nodes,
				       self->job_id);
	return g_strdup_printf(_("on %s (job %s)"), name, self->job_id);
}

static gchar *
fl_placement_slurm_get_log_path(FlPlacement *placement)
{
	FlPlacementSlurm *self = FL_PLACEMENT_SLURM(placement);

	/* the live log is the runner's on the shared directory; once the job is over, the copy
	 * on this machine */
	if (self->finishing)
		return fl_placement_get_file(placement, FL_RUNNER_FILE_LOG);
	return fl_placement_slurm_file(self, FL_RUNNER_FILE_LOG);
}

static gboolean
fl_placement_slurm_configure(FlPlacement *placement, GError **error)
{
	FlPlacementSlurm *self = FL_PLACEMENT_SLURM(placement);
	const FlConfig *config = fl_placement_get_config(placement);
	const gchar *name = fl_placement_get_name(placement);

	self->cluster = fl_config_get_cluster(config, name);
	if (self->cluster == NULL) {
		fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
			     N_("no [cluster %s] in the configuration"), name);
		return FALSE;
	}
	fl_placement_get_limits(placement, &self->memory_mb, &self->time_minutes);
	if (self->memory_mb == 0)
		self->memory_mb = self->cluster->memory_mb;
	if (self->time_minutes == 0)
		self->time_minutes = self->cluster->time_minutes;
	self->origin = fl_placement_slurm_origin(fl_placement_get_dir(placement));
	self->job_dir = fl_placement_slurm_job_dir(self->cluster->shared_dir,
						   fl_placement_get_dir(placement),
						   fl_placement_get_session_id(placement));
	return TRUE;
}

static void
fl_placement_slurm_dispose(GObject *object)
{
	FlPlacementSlurm *self = FL_PLACEMENT_SLURM(object);

	g_cancellable_cancel(self->cancellable);
	fl_placement_slurm_stop_polling(self);
	G_OBJECT_CLASS(fl_placement_slurm_parent_class)->dispose(object);
}

static void
fl_placement_slurm_finalize(GObject *object)
{
	FlPlacementSlurm *self = FL_PLACEMENT_SLURM(object);

	g_free(self->job_dir);
	g_free(self->origin);
	g_free(self->worktree);
	g_free(self->job_id);
	g_free(self->unreachable);
	g_free(self->shown);
	g_clear_pointer(&self->last, fl_slurm_job_free);
	g_clear_object(&self->cancellable);
	G_OBJECT_CLASS(fl_placement_slurm_parent_class)->finalize(object);
}

static void
fl_placement_slurm_class_init(FlPlacementSlurmClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	FlPlacementClass *placement_class = FL_PLACEMENT_CLASS(klass);

	object_class->dispose = fl_placement_slurm_dispose;
	object_class->finalize = fl_placement_slurm_finalize;
	placement_class->configure = fl_placement_slurm_configure;
	placement_class->spawn_async = fl_placement_slurm_spawn_async;
	placement_class->spawn_finish = fl_placement_slurm_spawn_finish;
	placement_class->adopt = fl_placement_slurm_adopt;
	placement_class->cancel = fl_placement_slurm_cancel;
	placement_class->forget = fl_placement_slurm_forget;
	placement_class->get_status = fl_placement_slurm_get_status;
	placement_class->get_log_path = fl_placement_slurm_get_log_path;
}

static void
fl_placement_slurm_init(FlPlacementSlurm *self)
{
	self->cancellable = g_cancellable_new();
}
