/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-session.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "fl-agent.h"
#include "fl-error.h"
#include "fl-git-layer.h"
#include "fl-i18n.h"
#include "fl-msg.h"
#include "fl-placement-local.h"
#include "fl-placement.h"
#include "fl-relay.h"
#include "fl-safe-path.h"
#include "fl-sandbox.h"
#include "fl-text.h"
#include "fl-util.h"
#include "fl-worktree.h"

/* how soon a draft that could not be recorded (a lock, a full disk) is tried again */
#define FL_RECORD_RETRY_MIN_S 2
#define FL_RECORD_RETRY_MAX_S 30

/* how much of the output tail becomes the final message of an agent that left none */
#define FL_FINAL_MESSAGE_MAX 2048

struct _FlSession {
	GObject parent_instance;
	FlSessionData *data;    /* (owned) */
	const FlConfig *config; /* (unowned) outlives every session */
	gchar *state_dir;       /* (owned) */
	gchar *runner_path;     /* (owned) */
	gchar *http_path;       /* (owned) flotilla-http, the http agents' program */
	FlPlacement *placement; /* (owned) (nullable) where it runs, once it is placed */
	gboolean cancel_requested;
	gboolean finishing;
	gboolean restarted;  /* put back in the queue after a daemon crash */
	gchar *resume_reply; /* (owned) (nullable) the user's answer a resumed agent gets */
	gchar *start_from;   /* (owned) (nullable) a branch to start from instead of the base */
	/* live progress of an agent with structured output (turns, cost so far) */
	GFileMonitor *log_monitor;     /* (owned) (nullable) */
	GInputStream *log_in;          /* (owned) (nullable) */
	const FlAgentClass *live_kind; /* whose live_* functions @live belongs to */
	gpointer live;                 /* (owned) (nullable) */
	FlState end_state;             /* becomes data->state once the draft is recorded */
	guint record_delay;            /* seconds before recording the draft again, 0 = first try */
	guint record_retry_id;
	gchar *outcome_reason;     /* (owned) (nullable) the reason the agent's end gave */
	GCancellable *cancellable; /* (owned) for our own git work */
	/* (owned) (nullable) the repository's git dir, once the session's git layer is made for
	 * the confined agent about to start */
	gchar *git_common;
};

G_DEFINE_TYPE(FlSession, fl_session, G_TYPE_OBJECT)

static void
fl_session_stop_watching(FlSession *self);

enum { SIGNAL_CHANGED, SIGNAL_ENDED, SIGNAL_LAST };
static guint signals[SIGNAL_LAST] = {0};

/* what an agent wrote (its last message, why it failed, what it asks) is cleaned once, here,
 * before it is stored and broadcast: every consumer then gets the same text */
static void
fl_session_clean_texts(FlSessionData *d)
{
	gchar **fields[] = {&d->final_message, &d->reason, &d->waiting_for};

	for (gsize i = 0; i < G_N_ELEMENTS(fields); i++) {
		gchar *clean = fl_text_clean(*fields[i], -1, FL_TEXT_MULTILINE);
		g_free(*fields[i]);
		*fields[i] = clean;
	}
}

static void
fl_session_changed(FlSession *self)
{
	fl_session_clean_texts(self->data);
	g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
}

static void
fl_session_end(FlSession *self)
{
	self->data->finished = fl_now();
	fl_session_clean_texts(self->data);
	g_signal_emit(self, signals[SIGNAL_ENDED], 0);
}

FlSessionData *
fl_session_get_data(FlSession *self)
{
	g_return_val_if_fail(FL_IS_SESSION(self), NULL);

	return self->data;
}

guint
fl_session_get_id(FlSession *self)
{
	g_return_val_if_fail(FL_IS_SESSION(self), 0);

	return self->data->id;
}

gchar *
fl_session_get_dir(FlSession *self)
{
	g_return_val_if_fail(FL_IS_SESSION(self), NULL);

	return fl_session_data_dir(self->state_dir, self->data->id);
}

static gchar *
fl_session_file(FlSession *self, const gchar *name)
{
	g_autofree gchar *dir = fl_session_get_dir(self);

	return g_build_filename(dir, name, NULL);
}

/* @reason: a stored message (fl-msg.h); the log gets it in the daemon's language */
static void
fl_session_fail_start_stored(FlSession *self, const gchar *stored)
{
	g_autofree gchar *dir = fl_session_get_dir(self);
	g_autofree gchar *reason = fl_msg_render_stored(stored);
	g_autofree gchar *line = g_strdup_printf("flotilla: %s\n", reason);
	g_autoptr(GError) error = NULL;
	gint fd;

	g_warning("session %u: %s", self->data->id, reason);
	/* say it where the user looks first: the session's log */
	fd = fl_safe_open(dir, "output.log", O_WRONLY | O_CREAT | O_APPEND, 0600, FALSE, &error);
	if (fd >= 0) {
		if (write(fd, line, strlen(line)) < 0)
			g_debug("cannot write to the log of session %u", self->data->id);
		close(fd);
	} else {
		g_debug("session %u: %s", self->data->id, error->message);
	}
	g_free(self->data->reason);
	self->data->reason = g_strdup(stored);
	self->data->state = self->cancel_requested ? FL_STATE_CANCELLED : FL_STATE_FAILED;
	g_clear_pointer(&self->data->waiting_for, g_free);
	fl_session_end(self);
}

static void
fl_session_fail_start(FlSession *self, const GError *error)
{
	g_autofree gchar *stored = fl_error_serialize(error);

	fl_session_fail_start_stored(self, stored);
}

/* ------------------------------------------------------------------ finishing */

static void
fl_session_finish_done(FlSession *self, gboolean changed)
{
	FlSessionData *d = self->data;

	/* only now: a session seen as ended must have its draft recorded already */
	d->state = self->end_state;
	/* an ended session asks nothing any more, whatever it was waiting for */
	g_clear_pointer(&d->waiting_for, g_free);
	d->review = changed ? FL_REVIEW_PENDING : FL_REVIEW_NONE;
	/* nothing to review and no conversation to resume: the worktree has served */
	if (!changed && d->agent_session == NULL && d->worktree != NULL &&
	    g_file_test(d->worktree, G_FILE_TEST_IS_DIR)) {
		if (d->repo != NULL) {
			fl_worktree_remove_async(d->repo, d->worktree, d->branch, NULL, NULL, NULL);
		} else {
			g_rmdir(d->worktree);
		}
	}
	if (d->final_message == NULL) {
		g_autofree gchar *log = fl_session_file(self, "output.log");
		g_free(d->final_message);
		d->final_message = fl_file_tail(log, FL_FINAL_MESSAGE_MAX);
	}
	fl_session_end(self);
}

/* git's identity for commits: every kind may commit in its worktree */
static const gchar *const fl_session_home_common[] = {".gitconfig", ".config/git", NULL};

/*
 * The verify command runs the draft's code, so it runs in the session's confinement: the
 * system read-only, the worktree writable, the repository's git dir read-only (for git in
 * the command), [fleet] writable= and read-only=, of the home only git's own settings, the
 * agent's network setting; and, confined or not, without the API keys (fl-worktree.c).
 * Sessions that ran unconfined ([fleet] confinement=off, or started by an older daemon) verify
 * the same way they ran.
 */
static gchar **
fl_session_verify_argv(FlSession *self, GError **error)
{
	const gchar *sh[] = {"/bin/sh", "-c", self->data->verify_command, NULL};
	const FlAgentConfig *agent = fl_config_get_agent(self->config, self->data->agent);
	g_autoptr(FlSandbox) sandbox = NULL;

	if (g_strcmp0(self->data->confinement, "bwrap") != 0)
		return g_strdupv((gchar **)sh);
	sandbox = fl_sandbox_new();
	fl_sandbox_set_home(sandbox, g_get_home_dir(), fl_session_home_common, NULL);
	fl_sandbox_bind(sandbox, self->data->worktree, TRUE, TRUE);
	if (self->data->repo != NULL) {
		g_autofree gchar *git_dir = g_build_filename(self->data->repo, ".git", NULL);
		fl_sandbox_bind(sandbox,
				g_file_test(git_dir, G_FILE_TEST_IS_DIR) ? git_dir
									 : self->data->repo,
				FALSE, FALSE);
	}
	for (guint i = 0; self->config->writable != NULL && self->config->writable[i]; i++)
		fl_sandbox_bind(sandbox, self->config->writable[i], TRUE, FALSE);
	for (guint i = 0; self->config->read_only != NULL && self->config->read_only[i]; i++)
		fl_sandbox_bind(sandbox, self->config->read_only[i], FALSE, FALSE);
	fl_sandbox_set_network(sandbox,
			       agent != NULL && agent->klass->needs_network && agent->network);
	fl_sandbox_set_cwd(sandbox, self->data->worktree);
	return fl_sandbox_build_argv(sandbox, sh, error);
}

static void
fl_session_verify_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(FlSession) self = user_data;
	g_autoptr(GError) error = NULL;
	FlVerify verify = fl_worktree_verify_finish(res, &error);

	if (verify == FL_VERIFY_NONE) {
		g_free(self->data->reason);
		self->data->reason =
			fl_error_serialize_prefixed(error, N_("verify could not run: "));
		verify = FL_VERIFY_FAIL;
	}
	self->data->verify = verify;
	fl_session_finish_done(self, TRUE);
}

static void
fl_session_reverify_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	GError *error = NULL;
	FlVerify verify = fl_worktree_verify_finish(res, &error);

	if (verify == FL_VERIFY_NONE)
		g_task_return_error(task, error);
	else
		g_task_return_int(task, verify);
}

void
fl_session_verify_async(FlSession *self, GCancellable *cancellable, GAsyncReadyCallback callback,
			gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *log = NULL;
	g_auto(GStrv) argv = NULL;
	g_auto(GStrv) secret_env = NULL;

	g_return_if_fail(FL_IS_SESSION(self));
	task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, fl_session_verify_async);
	if (self->data->verify_command == NULL || self->data->worktree == NULL ||
	    !g_file_test(self->data->worktree, G_FILE_TEST_IS_DIR)) {
		g_task_return_int(task, FL_VERIFY_NONE);
		return;
	}
	argv = fl_session_verify_argv(self, &error);
	if (argv == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	log = fl_session_file(self, "verify.log");
	secret_env = fl_config_get_api_key_envs(self->config);
	fl_worktree_verify_async(self->data->worktree, (const gchar *const *)argv, log,
				 self->config->verify_timeout, (const gchar *const *)secret_env,
				 cancellable, fl_session_reverify_cb, g_steal_pointer(&task));
}

FlVerify
fl_session_verify_finish(FlSession *self, GAsyncResult *res, GError **error)
{
	gssize verify;

	g_return_val_if_fail(g_task_is_valid(res, self), FL_VERIFY_NONE);
	verify = g_task_propagate_int(G_TASK(res), error);
	return verify < 0 ? FL_VERIFY_NONE : (FlVerify)verify;
}

static void
fl_session_make_draft(FlSession *self);

static gboolean
fl_session_record_retry_cb(gpointer user_data)
{
	FlSession *self = user_data;

	self->record_retry_id = 0;
	fl_session_make_draft(self);
	return G_SOURCE_REMOVE;
}

static void
fl_session_finalize_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(FlSession) self = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(FlDraftInfo) info = fl_worktree_finalize_finish(res, &error);
	g_autofree gchar *log = NULL;
	g_auto(GStrv) secret_env = NULL;
	g_auto(GStrv) verify_argv = NULL;

	if (info == NULL) {
		/* the daemon is going away: the next one records the draft */
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			return;
		/*
		 * Not recorded is not "no changes": the worktree and branch stay, the session
		 * stays running in the store (so a restarted daemon records it too), and the
		 * recording is tried again, less often each time
		 */
		if (self->record_delay == 0) {
			g_free(self->outcome_reason);
			self->outcome_reason = g_strdup(self->data->reason);
		}
		self->record_delay =
			CLAMP(self->record_delay * 2, FL_RECORD_RETRY_MIN_S, FL_RECORD_RETRY_MAX_S);
		g_free(self->data->reason);
		/* seconds as a unit, not a plural: the reason is a message read in any language */
		self->data->reason = fl_error_serialize_prefixed(
			error, N_("cannot record the draft yet (trying again in %u s): "),
			self->record_delay);
		g_warning("session %u: cannot record the draft yet: %s", self->data->id,
			  error->message);
		fl_session_changed(self);
		self->record_retry_id =
			g_timeout_add_seconds(self->record_delay, fl_session_record_retry_cb, self);
		return;
	}
	if (self->record_delay > 0) {
		/* recorded at last: the reason was only about the recording */
		self->record_delay = 0;
		g_free(self->data->reason);
		self->data->reason = g_steal_pointer(&self->outcome_reason);
	}
	g_free(self->data->diffstat);
	self->data->diffstat = g_strdup(info->diffstat);
	g_free(self->data->links_outside);
	self->data->links_outside = g_strdup(info->links_outside);
	if (!info->changed || self->data->verify_command == NULL) {
		fl_session_finish_done(self, info->changed);
		return;
	}
	log = fl_session_file(self, "verify.log");
	g_free(self->data->verify_commit);
	self->data->verify_commit = g_strdup(info->head_commit);
	g_free(self->data->verify_base);
	self->data->verify_base = g_strdup(self->data->base_commit);
	verify_argv = fl_session_verify_argv(self, &error);
	if (verify_argv == NULL) {
		g_free(self->data->reason);
		self->data->reason =
			fl_error_serialize_prefixed(error, N_("verify could not run: "));
		self->data->verify = FL_VERIFY_FAIL;
		fl_session_finish_done(self, TRUE);
		return;
	}
	secret_env = fl_config_get_api_key_envs(self->config);
	fl_worktree_verify_async(self->data->worktree, (const gchar *const *)verify_argv, log,
				 self->config->verify_timeout, (const gchar *const *)secret_env,
				 self->cancellable, fl_session_verify_cb, g_object_ref(self));
}

static guint
fl_session_dir_count_entries(const gchar *path)
{
	g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
	guint n = 0;

	if (dir == NULL)
		return 0;
	while (g_dir_read_name(dir) != NULL)
		n++;
	return n;
}

static void
fl_session_take_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(FlSession) self = user_data;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = fl_session_get_dir(self);
	g_autofree gchar *message = NULL;
	FlSessionData *d = self->data;

	if (fl_git_layer_take_finish(res, &error) == FL_GIT_LAYER_TAKE_NONE && error != NULL) {
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			return;
		/* refused or failed, the worktree's files still make the draft; say why its
		 * commits are not in it */
		g_message("session %u: %s", d->id, error->message);
		if (d->reason == NULL) {
			d->reason = fl_error_serialize(error);
		} else {
			g_autoptr(FlMsg) both = fl_msg_parse(d->reason);
			g_autofree gchar *had = fl_msg_render_english(both);

			if (strstr(had, error->message) == NULL) {
				/* "REASON; ERROR", each still translated late */
				g_autofree gchar *added = fl_error_serialize(error);
				g_autoptr(FlMsg) tail = fl_msg_parse(added);

				fl_msg_prepend(tail, fl_msg_new_literal("; "));
				fl_msg_prepend(tail, g_steal_pointer(&both));
				g_free(d->reason);
				d->reason = fl_msg_serialize(tail);
			}
		}
	}
	message = g_strdup_printf("flotilla #%u: %s", d->id, d->name != NULL ? d->name : d->goal);
	fl_worktree_finalize_async(d->repo, d->worktree, d->branch, d->base_commit, message, dir,
				   self->cancellable, fl_session_finalize_cb, g_object_ref(self));
}

static void
fl_session_make_draft(FlSession *self)
{
	FlSessionData *d = self->data;
	guint n;

	if (d->worktree == NULL || !g_file_test(d->worktree, G_FILE_TEST_IS_DIR)) {
		fl_session_finish_done(self, FALSE);
		return;
	}
	if (d->repo != NULL) {
		g_autofree gchar *dir = fl_session_get_dir(self);

		/* a confined agent committed in its own git layer: its branch is taken first */
		fl_git_layer_take_async(d->repo, d->branch, d->base_commit, dir, self->cancellable,
					fl_session_take_cb, g_object_ref(self));
		return;
	}
	/* a scratch session's draft is what it left in its directory */
	n = fl_session_dir_count_entries(d->worktree);
	g_free(d->diffstat);
	d->diffstat =
		n > 0 ? g_strdup_printf(g_dngettext(GETTEXT_PACKAGE, "%u file", "%u files", n), n)
		      : NULL;
	fl_session_finish_done(self, n > 0);
}

/* a run of @self's agent, for the agent's kind; NULL when the agent is no longer configured */
static const FlAgentConfig *
fl_session_agent_run(FlSession *self, FlAgentRun *run, const gchar *dir, const gchar *cli)
{
	const FlAgentConfig *agent = fl_config_get_agent(self->config, self->data->agent);

	*run = (FlAgentRun){
		.data = self->data,
		.agent = agent,
		.config = self->config,
		.session_dir = dir,
		.cli_path = cli != NULL ? cli : "flotilla",
		.http_path = self->http_path,
		.resume_reply = self->resume_reply,
		.confined = self->config->confinement,
	};
	return agent;
}

/* what the agent's own output says: final message, cost, turns, and maybe done→failed */
static void
fl_session_read_agent_result(FlSession *self)
{
	g_autofree gchar *dir = fl_session_get_dir(self);
	FlAgentRun run;
	const FlAgentConfig *agent = fl_session_agent_run(self, &run, dir, NULL);

	if (agent != NULL && agent->klass->read_outcome != NULL)
		agent->klass->read_outcome(&run, &self->end_state);
}

/* why the runner ended the session, as the user set the limit */
static gchar *
fl_session_limit_reason(const gchar *limit, guint64 value)
{
	if (g_strcmp0(limit, "memory") == 0) {
		/* as the user wrote it ("2G" is "2 GiB"), not g_format_size()'s "2.0 GiB" */
		const gchar *units[] = {"TiB", "GiB", "MiB", "KiB"};
		g_autofree gchar *size = NULL;

		for (guint i = 0; i < G_N_ELEMENTS(units) && size == NULL; i++) {
			guint64 unit = G_GUINT64_CONSTANT(1) << (10 * (4 - i));
			if (value >= unit && value % unit == 0)
				size = g_strdup_printf("%" G_GUINT64_FORMAT " %s", value / unit,
						       units[i]);
		}
		if (size == NULL)
			size = g_format_size_full(value, G_FORMAT_SIZE_IEC_UNITS);
		return fl_msg_stored(N_("memory limit %s reached"), size);
	}
	if (g_strcmp0(limit, "pids") == 0) {
		g_autofree gchar *count = g_strdup_printf("%" G_GUINT64_FORMAT, value);
		return fl_msg_stored(N_("process limit %s reached"), count);
	}
	if (g_strcmp0(limit, "cpu") == 0) {
		g_autofree gchar *seconds = g_strdup_printf("%" G_GUINT64_FORMAT, value);
		return fl_msg_stored(N_("CPU time limit of %s s reached"), seconds);
	}
	if (g_strcmp0(limit, "time") == 0) {
		g_autofree gchar *seconds = g_strdup_printf("%" G_GUINT64_FORMAT, value);
		return fl_msg_stored(N_("time limit of %s s reached"), seconds);
	}
	return fl_msg_stored(N_("limit %s reached"), limit);
}

static void
fl_session_spawn(FlSession *self);

/* the placement's report of the end: the state follows from it, then the draft is made */
static void
fl_session_placement_ended_cb(FlPlacement *placement, const FlPlacementEnd *end, gpointer user_data)
{
	FlSession *self = user_data;
	FlSessionData *d = self->data;

	if (self->finishing)
		return;
	if (end->kind == FL_PLACEMENT_END_NOT_STARTED) {
		/* the daemon died after recording the intent and before the agent started */
		g_debug("session %u: %s; spawning it again", d->id, end->reason);
		fl_session_spawn(self);
		return;
	}
	self->finishing = TRUE;
	fl_session_stop_watching(self);
	/* from now on the log is the copy on this machine, if the placement made one */
	g_clear_pointer(&d->log_path, g_free);
	g_clear_pointer(&d->placement_status, g_free);
	if (end->kind == FL_PLACEMENT_END_LOST) {
		self->end_state =
			self->cancel_requested ? FL_STATE_CANCELLED : FL_STATE_INTERRUPTED;
		g_free(d->reason);
		d->reason = g_strdup(end->reason);
	} else {
		d->has_exit = TRUE;
		d->exit_code = end->code;
		d->signal = end->signal;
		if (end->cancelled || self->cancel_requested) {
			self->end_state = FL_STATE_CANCELLED;
		} else if (end->limit != NULL) {
			self->end_state = FL_STATE_FAILED;
			g_free(d->reason);
			d->reason = fl_session_limit_reason(end->limit, end->limit_value);
		} else if (end->kind == FL_PLACEMENT_END_EXITED && d->exit_code == 0) {
			self->end_state = FL_STATE_DONE;
		} else {
			self->end_state = FL_STATE_FAILED;
			g_free(d->reason);
			/* a placement that knows better (a cluster's memory or time limit) says */
			if (end->reason != NULL)
				d->reason = g_strdup(end->reason);
			else if (d->signal != 0)
				d->reason = fl_msg_stored(N_("killed by signal %d"), d->signal);
			else
				d->reason =
					fl_msg_stored(N_("exited with status %d"), d->exit_code);
		}
	}
	fl_session_read_agent_result(self);
	fl_session_make_draft(self);
}

/* where it runs says more (a cluster's queue): shown by ls and show, not stored */
static void
fl_session_placement_status_cb(FlPlacement *placement, gpointer user_data)
{
	FlSession *self = user_data;
	FlSessionData *d = self->data;
	g_autofree gchar *status = fl_placement_get_status(placement);
	g_autofree gchar *log = fl_placement_get_log_path(placement);

	if (self->finishing || !fl_state_is_active(d->state))
		return;
	if (g_strcmp0(status, d->placement_status) == 0 && g_strcmp0(log, d->log_path) == 0)
		return;
	g_free(d->placement_status);
	d->placement_status = g_steal_pointer(&status);
	g_free(d->log_path);
	d->log_path = d->placement != NULL ? g_steal_pointer(&log) : NULL;
	fl_session_changed(self);
}

/* the session's placement, made on first use: at the spawn, or from the records an earlier
 * daemon left when adopting */
static FlPlacement *
fl_session_get_placement(FlSession *self, GError **error)
{
	g_autofree gchar *dir = NULL;
	FlPlacementSetup setup = {0};

	if (self->placement != NULL)
		return self->placement;
	dir = fl_session_get_dir(self);
	setup.config = self->config;
	setup.session_id = self->data->id;
	setup.session_dir = dir;
	setup.runner_path = self->runner_path;
	/* NULL: the one an earlier daemon recorded, else this machine */
	setup.name = self->data->placement;
	setup.memory_mb = self->data->memory_mb;
	setup.time_minutes = self->data->time_minutes;
	self->placement = fl_placement_new(&setup, error);
	if (self->placement == NULL)
		return NULL;
	g_signal_connect(self->placement, "ended", G_CALLBACK(fl_session_placement_ended_cb), self);
	g_signal_connect(self->placement, "status-changed",
			 G_CALLBACK(fl_session_placement_status_cb), self);
	return self->placement;
}

/* ------------------------------------------------------------------ starting */

static void
fl_session_stop_watching(FlSession *self)
{
	if (self->log_monitor != NULL) {
		g_signal_handlers_disconnect_by_data(self->log_monitor, self);
		g_file_monitor_cancel(self->log_monitor);
	}
	g_clear_object(&self->log_monitor);
	g_clear_object(&self->log_in);
	if (self->live != NULL)
		self->live_kind->live_free(self->live);
	self->live = NULL;
}

/* reads what the agent appended and updates turns and cost as they change */
static void
fl_session_log_changed_cb(GFileMonitor *monitor, GFile *file, GFile *other, GFileMonitorEvent event,
			  gpointer user_data)
{
	FlSession *self = user_data;
	FlSessionData *d = self->data;
	gchar buf[65536];
	gssize n;
	gboolean changed = FALSE;

	if (event != G_FILE_MONITOR_EVENT_CHANGED || self->live == NULL)
		return;
	/* a regular file: reads never wait, and stop at its current end */
	while ((n = g_input_stream_read(self->log_in, buf, sizeof(buf), NULL, NULL)) > 0) {
		if (!self->live_kind->live_feed(self->live, buf, (gsize)n, d, &changed)) {
			fl_session_stop_watching(self);
			break;
		}
	}
	if (changed)
		fl_session_changed(self);
}

static void
fl_session_watch_log(FlSession *self, const FlAgentClass *kind, const gchar *log)
{
	g_autoptr(GFile) file = g_file_new_for_path(log);
	g_autoptr(GFileInputStream) in = g_file_read(file, NULL, NULL);

	if (in == NULL)
		return;
	/* only this run's events: a resumed session's log starts with the earlier ones */
	if (!g_seekable_seek(G_SEEKABLE(in), 0, G_SEEK_END, NULL, NULL))
		return;
	self->log_monitor = g_file_monitor_file(file, G_FILE_MONITOR_NONE, NULL, NULL);
	if (self->log_monitor == NULL)
		return;
	self->log_in = G_INPUT_STREAM(g_steal_pointer(&in));
	self->live_kind = kind;
	self->live = kind->live_new();
	g_signal_connect(self->log_monitor, "changed", G_CALLBACK(fl_session_log_changed_cb), self);
}

/* the agent's own limit, else [fleet]'s; 0 is none */
static guint64
fl_session_limit(FlSession *self, gint64 agent_value, guint64 fleet_value)
{
	return agent_value != FL_LIMIT_INHERIT ? (guint64)agent_value : fleet_value;
}

/*
 * The runner enforces them, confined or not: it outlives us and sees the session end. What
 * `run --memory/--timeout` asked for wins over the agent's and [fleet]'s.
 */
static void
fl_session_add_limits(FlSession *self, const FlAgentConfig *agent, FlPlacementCommand *cmd)
{
	FlSessionData *d = self->data;

	cmd->memory = d->memory_mb > 0
			      ? d->memory_mb * 1024 * 1024
			      : fl_session_limit(self, agent->memory, self->config->memory);
	cmd->pids = fl_session_limit(self, agent->pids, self->config->pids);
	cmd->cpu = fl_session_limit(self, agent->cpu, self->config->cpu);
	cmd->timeout = d->time_minutes > 0
			       ? (guint64)d->time_minutes * 60
			       : fl_session_limit(self, agent->timeout, self->config->timeout);
}

/*
 * What the runner's sandbox shows besides the worktree and the session's agent/ directory:
 * the repository's git dir as the session's git layer (git in the worktree needs it), the files
 * flotilla wrote for the agent read-only, the `flotilla` that hooks and `flotilla blocked` run,
 * [fleet] writable= and read-only=, and of the home what the agent's kind names. The session
 * directory itself (started.json, exit.json, output.log) stays outside.
 */
static void
fl_session_confine(FlSession *self, const FlAgentConfig *agent, const gchar *cli,
		   FlPlacementCommand *cmd, GPtrArray *env, GStrvBuilder *binds,
		   GStrvBuilder *ro_binds, GStrvBuilder *home_ro)
{
	g_autofree gchar *dir = fl_session_get_dir(self);
	const gchar *const agent_files[] = {"claude-settings.json", "http-request.json", NULL};

	/* the repository's git dir as the session's own layer: git stays flotillad's */
	cmd->git_layer = self->git_common;
	for (guint i = 0; agent_files[i] != NULL; i++) {
		g_autofree gchar *path = g_build_filename(dir, agent_files[i], NULL);
		g_strv_builder_add(ro_binds, path);
	}
	/* flotilla blocked/hook inside: the CLI beside us, else the one on PATH (an install
	 * outside /usr, whose directory the sandbox would not show) */
	if (cli != NULL) {
		g_strv_builder_add(ro_binds, cli);
	} else {
		g_autofree gchar *on_path = g_find_program_in_path("flotilla");
		if (on_path != NULL)
			g_strv_builder_add(ro_binds, on_path);
	}
	g_strv_builder_addv(home_ro, (const gchar **)fl_session_home_common);
	if (agent->klass->home_ro != NULL)
		g_strv_builder_addv(home_ro, (const gchar **)agent->klass->home_ro);
	for (guint i = 0; agent->klass->sandbox_env != NULL && agent->klass->sandbox_env[i]; i++)
		g_ptr_array_add(env, g_strdup(agent->klass->sandbox_env[i]));
	cmd->confine = TRUE;
	cmd->home_rw = agent->klass->home_rw;
	cmd->user_binds = (const gchar *const *)self->config->writable;
	cmd->user_ro_binds = (const gchar *const *)self->config->read_only;
	cmd->no_network = !agent->klass->needs_network || !agent->network;
}

static void
fl_session_spawned_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(FlSession) self = user_data;
	g_autoptr(GError) error = NULL;
	const FlAgentConfig *agent = fl_config_get_agent(self->config, self->data->agent);

	if (!fl_placement_spawn_finish(FL_PLACEMENT(source), res, &error)) {
		fl_session_fail_start(self, error);
		return;
	}
	if (agent != NULL && agent->klass->live_new != NULL && !self->finishing) {
		g_autofree gchar *log = fl_placement_get_log_path(self->placement);
		fl_session_watch_log(self, agent->klass, log);
	}
}

static void
fl_session_spawn(FlSession *self);

static void
fl_session_layer_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(FlSession) self = user_data;
	g_autoptr(GError) error = NULL;
	gchar *common = fl_git_layer_prepare_finish(res, &error);

	if (common == NULL) {
		if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			fl_session_fail_start(self, error);
		return;
	}
	self->git_common = common;
	fl_session_spawn(self);
}

static void
fl_session_spawn(FlSession *self)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) env = g_ptr_array_new_with_free_func(g_free);
	g_auto(GStrv) agent_argv = NULL;
	g_autofree gchar *cli = fl_find_helper(NULL, "flotilla", NULL);
	g_autofree gchar *dir = fl_session_get_dir(self);
	FlAgentRun run;
	const FlAgentConfig *agent = fl_session_agent_run(self, &run, dir, cli);
	FlPlacementCommand cmd = {NULL};
	g_autoptr(GStrvBuilder) binds = g_strv_builder_new();
	g_autoptr(GStrvBuilder) ro_binds = g_strv_builder_new();
	g_autoptr(GStrvBuilder) home_ro = g_strv_builder_new();
	g_auto(GStrv) bind_list = NULL;
	g_auto(GStrv) ro_bind_list = NULL;
	g_auto(GStrv) home_ro_list = NULL;
	FlPlacement *placement;

	if (self->cancel_requested) {
		self->end_state = FL_STATE_CANCELLED;
		fl_session_finish_done(self, FALSE);
		return;
	}
	placement = fl_session_get_placement(self, &error);
	if (placement == NULL) {
		fl_session_fail_start(self, error);
		return;
	}
	/* the layer is made on this machine, for a sandbox on this machine: a cluster job works
	 * in a clone of its own and brings back a bundle */
	if (self->config->confinement && self->data->repo != NULL && self->git_common == NULL &&
	    FL_IS_PLACEMENT_LOCAL(placement)) {
		fl_git_layer_prepare_async(self->data->repo, self->data->worktree, dir,
					   self->cancellable, fl_session_layer_cb,
					   g_object_ref(self));
		return;
	}
	if (agent == NULL) {
		/* the configuration changed under a queued session */
		g_autofree gchar *msg = fl_msg_stored(N_("unknown agent '%s'"), self->data->agent);
		fl_session_fail_start_stored(self, msg);
		return;
	}
	agent_argv = agent->klass->build_argv(&run, &error);
	if (agent_argv == NULL) {
		fl_session_fail_start(self, error);
		return;
	}
	g_ptr_array_add(env, g_strdup_printf("FLOTILLA_SESSION=%u", self->data->id));
	/* the session's one door to flotillad, confined or not */
	cmd.channel = TRUE;
	if (self->config->confinement)
		fl_session_confine(self, agent, cli, &cmd, env, binds, ro_binds, home_ro);
	else
		g_ptr_array_add(env,
				g_strdup_printf("FLOTILLA_CHANNEL=%s/%s", dir, FL_RELAY_SOCKET));
	fl_session_add_limits(self, agent, &cmd);
	if (cli != NULL) {
		/* so `flotilla blocked` works inside sessions run from a build tree */
		g_autofree gchar *cli_dir = g_path_get_dirname(cli);
		g_ptr_array_add(env, g_strdup_printf("PATH=%s:%s", cli_dir,
						     g_getenv("PATH") != NULL ? g_getenv("PATH")
									      : "/usr/bin:/bin"));
	}
	for (guint i = 0; agent->env != NULL && agent->env[i] != NULL; i++)
		g_ptr_array_add(env, g_strdup(agent->env[i]));
	g_ptr_array_add(env, NULL);
	cmd.argv = (const gchar *const *)agent_argv;
	cmd.env = (const gchar *const *)env->pdata;
	cmd.cwd = self->data->worktree;
	cmd.subdir = self->data->subdir;
	bind_list = g_strv_builder_end(binds);
	ro_bind_list = g_strv_builder_end(ro_binds);
	home_ro_list = g_strv_builder_end(home_ro);
	cmd.binds = (const gchar *const *)bind_list;
	cmd.ro_binds = (const gchar *const *)ro_bind_list;
	cmd.home_ro = (const gchar *const *)home_ro_list;
	fl_placement_spawn_async(placement, &cmd, self->cancellable, fl_session_spawned_cb,
				 g_object_ref(self));
	/* made for this start only: a resumed agent gets one afresh */
	g_clear_pointer(&self->git_common, g_free);
}

/*
 * `git worktree add` is not safe to run twice at once in one repository (one reads the
 * other's half-written .git/worktrees entry), so worktrees are created one at a time
 */
static GQueue fl_session_creating = G_QUEUE_INIT; /* (owned FlSession) waiting their turn */
static gboolean fl_session_creating_busy = FALSE;

static void
fl_session_create_next(void);

static void
fl_session_create_worktree(FlSession *self)
{
	/* the reference is handed on to fl_session_create_cb() */
	g_queue_push_tail(&fl_session_creating, g_object_ref(self));
	if (!fl_session_creating_busy)
		fl_session_create_next();
}

static void
fl_session_create_cb(GObject *source, GAsyncResult *res, gpointer user_data);

static void
fl_session_create_next(void)
{
	FlSession *next = g_queue_pop_head(&fl_session_creating);
	FlSessionData *d;

	fl_session_creating_busy = next != NULL;
	if (next == NULL)
		return;
	d = next->data;
	fl_worktree_create_async(d->repo, d->worktree, d->branch, d->base_commit, next->cancellable,
				 fl_session_create_cb, next);
}

static void
fl_session_create_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(FlSession) self = user_data;
	g_autoptr(GError) error = NULL;
	gboolean ok = fl_worktree_create_finish(res, &error);

	fl_session_create_next();
	if (!ok) {
		fl_session_fail_start(self, error);
		return;
	}
	fl_session_changed(self);
	fl_session_spawn(self);
}

static void
fl_session_cleanup_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(FlSession) self = user_data;
	g_autoptr(GError) error = NULL;
	FlSessionData *d = self->data;

	if (!fl_worktree_remove_finish(res, &error))
		g_debug("session %u: %s", d->id, error->message);
	fl_session_create_worktree(self);
}

static void
fl_session_probe_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(FlSession) self = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRepoInfo) info = fl_worktree_probe_finish(res, &error);
	FlSessionData *d = self->data;

	if (info == NULL) {
		fl_session_fail_start(self, error);
		return;
	}
	/* the draft starts from the base as it is now, not as it was when queued */
	g_free(d->base_commit);
	d->base_commit = g_strdup(info->base_commit);
	g_free(d->branch);
	d->branch = g_strdup_printf("flotilla/%u", d->id);
	if (self->restarted) {
		/* a start cut short by a crash may have left a worktree behind */
		self->restarted = FALSE;
		fl_worktree_remove_async(d->repo, d->worktree, d->branch, self->cancellable,
					 fl_session_cleanup_cb, g_object_ref(self));
		return;
	}
	fl_session_create_worktree(self);
}

void
fl_session_set_start_from(FlSession *self, const gchar *branch)
{
	g_return_if_fail(FL_IS_SESSION(self));

	g_free(self->start_from);
	self->start_from = g_strdup(branch);
}

void
fl_session_start(FlSession *self)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = NULL;
	g_autofree gchar *id = NULL;
	FlSessionData *d;

	g_return_if_fail(FL_IS_SESSION(self));
	g_return_if_fail(self->data->state == FL_STATE_QUEUED);

	d = self->data;
	dir = fl_session_get_dir(self);
	id = g_strdup_printf("%u", d->id);
	d->state = FL_STATE_RUNNING;
	d->started = fl_now();
	/* what it runs under, for show --json and the marks of unconfined sessions */
	g_free(d->confinement);
	d->confinement = g_strdup(self->config->confinement ? "bwrap" : "off");
	if (d->worktree == NULL)
		d->worktree = g_build_filename(self->state_dir, "worktrees", id, NULL);
	/* recorded before anything runs: a crash from here on leaves "running", which the next
	 * start-up settles from the placement's records (queued again if nothing was placed) */
	fl_session_changed(self);
	if (!fl_ensure_dir(dir, &error)) {
		fl_session_fail_start(self, error);
		return;
	}
	if (self->resume_reply != NULL && g_file_test(d->worktree, G_FILE_TEST_IS_DIR)) {
		/* the conversation goes on where it stopped, in the same worktree */
		fl_session_spawn(self);
		return;
	}
	if (d->repo != NULL) {
		fl_worktree_probe_async(d->repo,
					self->start_from != NULL ? self->start_from : d->base,
					self->cancellable, fl_session_probe_cb, g_object_ref(self));
		return;
	}
	if (!fl_ensure_dir(d->worktree, &error)) {
		fl_session_fail_start(self, error);
		return;
	}
	fl_session_spawn(self);
}

gboolean
fl_session_adopt(FlSession *self)
{
	g_autoptr(GError) error = NULL;
	FlPlacement *placement;

	g_return_val_if_fail(FL_IS_SESSION(self), FALSE);

	placement = fl_session_get_placement(self, &error);
	if (placement == NULL) {
		/* recorded by a daemon that knew a placement this one does not */
		self->finishing = TRUE;
		self->end_state = FL_STATE_INTERRUPTED;
		g_free(self->data->reason);
		self->data->reason = fl_error_serialize(error);
		fl_session_make_draft(self);
		return TRUE;
	}
	if (fl_placement_adopt(placement) == FL_PLACEMENT_ADOPT_WATCHING)
		return TRUE;
	/* never placed (the daemon died while preparing): it has not run at all, so it goes
	 * back to the queue instead of being lost */
	self->data->state = FL_STATE_QUEUED;
	self->data->started = 0;
	self->restarted = TRUE;
	fl_session_changed(self);
	return FALSE;
}

gboolean
fl_session_prepare_resume(FlSession *self, const gchar *reply, GError **error)
{
	FlSessionData *d;
	FlPlacement *placement;

	g_return_val_if_fail(FL_IS_SESSION(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	d = self->data;
	if (d->agent_session == NULL) {
		fl_set_error(error, FL_ERROR_WRONG_STATE,
			     N_("session %u's agent cannot be resumed"), d->id);
		return FALSE;
	}
	if (d->review != FL_REVIEW_NONE && d->review != FL_REVIEW_PENDING) {
		fl_set_error(error, FL_ERROR_ALREADY_DECIDED,
			     N_("session %u's draft was already %s"), d->id,
			     g_dpgettext2(GETTEXT_PACKAGE, "review state",
					  fl_review_to_string(d->review)));
		return FALSE;
	}
	placement = fl_session_get_placement(self, error);
	if (placement == NULL)
		return FALSE;
	/* the previous run's outcome files would make the next start look finished */
	fl_placement_forget(placement);
	g_free(self->resume_reply);
	self->resume_reply = g_strdup(reply);
	self->finishing = FALSE;
	d->state = FL_STATE_QUEUED;
	d->review = FL_REVIEW_NONE;
	d->finished = 0;
	d->has_exit = FALSE;
	g_clear_pointer(&d->reason, g_free);
	d->verify = FL_VERIFY_NONE;
	g_clear_pointer(&d->verify_commit, g_free);
	g_clear_pointer(&d->verify_base, g_free);
	fl_session_changed(self);
	return TRUE;
}

void
fl_session_cancel(FlSession *self)
{
	g_return_if_fail(FL_IS_SESSION(self));

	self->cancel_requested = TRUE;
	if (self->placement != NULL)
		fl_placement_cancel(self->placement);
	/* otherwise it is still preparing its worktree: fl_session_spawn() sees the flag */
}

void
fl_session_set_blocked(FlSession *self, const gchar *message)
{
	g_return_if_fail(FL_IS_SESSION(self));

	self->data->state = FL_STATE_BLOCKED;
	g_free(self->data->waiting_for);
	self->data->waiting_for = g_strdup(message);
	fl_session_changed(self);
}

void
fl_session_set_unblocked(FlSession *self)
{
	g_return_if_fail(FL_IS_SESSION(self));

	if (self->data->state != FL_STATE_BLOCKED)
		return;
	self->data->state = FL_STATE_RUNNING;
	g_clear_pointer(&self->data->waiting_for, g_free);
	fl_session_changed(self);
}

FlSession *
fl_session_new(FlSessionData *data, const FlSessionEnv *env)
{
	FlSession *self;

	g_return_val_if_fail(data != NULL, NULL);
	g_return_val_if_fail(env != NULL && env->config != NULL && env->state_dir != NULL, NULL);

	self = g_object_new(FL_TYPE_SESSION, NULL);
	self->data = data;
	self->config = env->config;
	self->state_dir = g_strdup(env->state_dir);
	self->runner_path = g_strdup(env->runner_path);
	self->http_path = g_strdup(env->http_path);
	return self;
}

static void
fl_session_dispose(GObject *object)
{
	FlSession *self = FL_SESSION(object);

	g_cancellable_cancel(self->cancellable);
	g_clear_handle_id(&self->record_retry_id, g_source_remove);
	if (self->placement != NULL)
		g_signal_handlers_disconnect_by_data(self->placement, self);
	g_clear_object(&self->placement);
	G_OBJECT_CLASS(fl_session_parent_class)->dispose(object);
}

static void
fl_session_finalize(GObject *object)
{
	FlSession *self = FL_SESSION(object);

	g_clear_object(&self->cancellable);
	g_free(self->git_common);
	g_free(self->resume_reply);
	g_free(self->start_from);
	g_free(self->outcome_reason);
	g_clear_object(&self->log_monitor);
	g_clear_object(&self->log_in);
	if (self->live != NULL)
		self->live_kind->live_free(self->live);
	fl_session_data_free(self->data);
	g_free(self->state_dir);
	g_free(self->runner_path);
	g_free(self->http_path);
	G_OBJECT_CLASS(fl_session_parent_class)->finalize(object);
}

static void
fl_session_class_init(FlSessionClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = fl_session_dispose;
	object_class->finalize = fl_session_finalize;
	signals[SIGNAL_CHANGED] =
		g_signal_new("changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
			     NULL, G_TYPE_NONE, 0);
	signals[SIGNAL_ENDED] = g_signal_new("ended", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
					     0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
fl_session_init(FlSession *self)
{
	self->cancellable = g_cancellable_new();
}
