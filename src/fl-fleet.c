/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-fleet.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "fl-agent.h"
#include "fl-error.h"
#include "fl-groups.h"
#include "fl-i18n.h"
#include "fl-msg.h"
#include "fl-refresh.h"
#include "fl-slurm.h"
#include "fl-util.h"
#include "fl-worktree.h"

/* a name longer than this is a goal in the wrong place */
#define FL_NAME_MAX 200
/* sessions per RunBatch call */
#define FL_BATCH_MAX 10000
/* dollars: a typo's extra zeros, not a real limit */
#define FL_BUDGET_MAX 100000

struct _FlFleet {
	GObject parent_instance;
	const FlConfig *config; /* (unowned) */
	FlStore *store;         /* (owned) */
	gchar *runner_path;     /* (owned) */
	gchar *http_path;       /* (owned) flotilla-http, which http agents run */
	GHashTable *live;       /* (owned) id -> FlSession (owned): every active session */
	GQueue queue;           /* (unowned FlSession) queued, FIFO */
	guint running;          /* running + blocked */
	gboolean stopped;
	gboolean paused;         /* flotilla pause: queued sessions wait for flotilla resume */
	guint start_id;          /* idle source starting newly queued sessions */
	guint budget_id;         /* the queue held by daily-budget: the next day's start */
	GHashTable *deciding;    /* (owned) repository -> GQueue of GTask waiting their turn */
	GHashTable *blocks;      /* (owned) id -> GTask of the pending Block call */
	GHashTable *permissions; /* (owned) id -> Permission: an agent waiting for a yes/no */
	GHashTable *requests;    /* (owned) id -> serial of the latest question it asked */
	guint request_serial;    /* the last serial handed out */
	GHashTable *unsaved;     /* (owned) id -> Unsaved: what the store did not take yet */
	guint unsaved_id;        /* the timer writing them again */
	gchar *store_error;      /* (owned) (nullable) why the store does not take them */
};

/* how long an agent's permission request waits for the user before it is denied */
#define FL_PERMISSION_TIMEOUT_S 3600

typedef struct {
	FlFleet *fleet; /* (unowned) */
	guint id;
	GTask *task;                   /* (owned) the Hook call, answered with the decision */
	FlAgentPermission *permission; /* (owned) the agent kind's own request */
	guint timeout_id;
} Permission;

static void
fl_fleet_permission_free(Permission *p)
{
	g_clear_handle_id(&p->timeout_id, g_source_remove);
	if (p->task != NULL) {
		/* never left hanging: no answer is a no */
		g_task_return_pointer(p->task,
				      fl_agent_permission_respond(p->permission, FALSE,
								  "flotilla stopped waiting"),
				      g_free);
		g_object_unref(p->task);
	}
	fl_agent_permission_free(p->permission);
	g_free(p);
}

G_DEFINE_TYPE(FlFleet, fl_fleet, G_TYPE_OBJECT)

enum { SIGNAL_SESSION_CHANGED, SIGNAL_SESSION_ENDED, SIGNAL_SESSION_BLOCKED, SIGNAL_LAST };
static guint signals[SIGNAL_LAST] = {0};

static void
fl_fleet_maybe_start(FlFleet *self);
static void
fl_fleet_recover(FlFleet *self);

static void
fl_fleet_emit_changed(FlFleet *self, const FlSessionData *d)
{
	g_signal_emit(self, signals[SIGNAL_SESSION_CHANGED], 0, d);
}

/* how often what the store could not take (a full disk) is written again */
#define FL_UNSAVED_RETRY_S 2

/* a session's data the store did not take, with the audit row that goes with it */
typedef struct {
	FlSessionData *data; /* (owned) */
	gchar *kind;         /* (nullable) */
	gchar *note;         /* (nullable) */
} Unsaved;

static void
fl_fleet_unsaved_free(Unsaved *u)
{
	fl_session_data_free(u->data);
	g_free(u->kind);
	g_free(u->note);
	g_free(u);
}

/* the row and its audit row in one transaction, or neither */
static gboolean
fl_fleet_write(FlFleet *self, const FlSessionData *d, const gchar *kind, const gchar *note,
	       GError **error)
{
	fl_store_begin(self->store);
	if (!fl_store_update_session(self->store, d, error) ||
	    (kind != NULL &&
	     !fl_store_add_event(self->store, d->id, kind, "daemon", note, error))) {
		fl_store_rollback(self->store);
		return FALSE;
	}
	if (!fl_store_commit(self->store)) {
		fl_set_error_literal(error, FL_ERROR_FAILED,
				     N_("the database did not take the change"));
		return FALSE;
	}
	return TRUE;
}

static gboolean
fl_fleet_unsaved_retry_cb(gpointer user_data)
{
	FlFleet *self = user_data;
	GHashTableIter iter;
	gpointer value;

	g_hash_table_iter_init(&iter, self->unsaved);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		Unsaved *u = value;
		g_autoptr(GError) error = NULL;

		if (!fl_fleet_write(self, u->data, u->kind, u->note, &error))
			return G_SOURCE_CONTINUE;
		g_message("session %u: saved at last", u->data->id);
		fl_fleet_emit_changed(self, u->data);
		g_hash_table_iter_remove(&iter);
	}
	g_clear_pointer(&self->store_error, g_free);
	self->unsaved_id = 0;
	fl_fleet_maybe_start(self);
	return G_SOURCE_REMOVE;
}

/*
 * The store did not take @d (a full disk, a write error): memory keeps it, says so, and
 * writes it again every few seconds until the store takes it, without a restart
 */
static void
fl_fleet_keep_unsaved(FlFleet *self, const FlSessionData *d, const gchar *kind, const gchar *note,
		      const GError *error)
{
	g_autofree gchar *db =
		g_build_filename(fl_store_get_state_dir(self->store), "flotilla.db", NULL);
	Unsaved *u = g_new0(Unsaved, 1);
	Unsaved *old = g_hash_table_lookup(self->unsaved, GUINT_TO_POINTER(d->id));

	u->data = fl_session_data_copy(d);
	/* an audit row still waiting is kept unless this change brings its own */
	u->kind = g_strdup(kind != NULL ? kind : old != NULL ? old->kind : NULL);
	u->note = g_strdup(kind != NULL ? note : old != NULL ? old->note : NULL);
	g_hash_table_replace(self->unsaved, GUINT_TO_POINTER(d->id), u);
	g_free(self->store_error);
	self->store_error = g_strdup_printf(_("cannot write %s: %s (kept in memory, trying "
					      "again)"),
					    db, error->message);
	g_warning("session %u: %s", d->id, self->store_error);
	if (self->unsaved_id == 0)
		self->unsaved_id =
			g_timeout_add_seconds(FL_UNSAVED_RETRY_S, fl_fleet_unsaved_retry_cb, self);
}

/* saves @d with its audit row (@kind, nullable), or keeps it until the store takes it */
static void
fl_fleet_save_full(FlFleet *self, const FlSessionData *d, const gchar *kind, const gchar *note)
{
	g_autoptr(GError) error = NULL;

	/* a change waiting already goes first: the store never sees them out of order */
	if (g_hash_table_contains(self->unsaved, GUINT_TO_POINTER(d->id)) ||
	    !fl_fleet_write(self, d, kind, note, &error)) {
		if (error == NULL)
			fl_set_error_literal(&error, FL_ERROR_FAILED,
					     N_("an earlier change is not written yet"));
		fl_fleet_keep_unsaved(self, d, kind, note, error);
	}
	fl_fleet_emit_changed(self, d);
}

/* inside a transaction of the caller's */
static void
fl_fleet_save(FlFleet *self, const FlSessionData *d)
{
	g_autoptr(GError) error = NULL;

	if (!fl_store_update_session(self->store, d, &error))
		g_warning("session %u: %s", d->id, error->message);
	fl_fleet_emit_changed(self, d);
}

static void
fl_fleet_audit(FlFleet *self, guint id, const gchar *kind, const gchar *source, const gchar *note)
{
	g_autoptr(GError) error = NULL;

	if (!fl_store_add_event(self->store, id, kind, source, note, &error))
		g_warning("session %u: %s", id, error->message);
}

static void
fl_fleet_session_changed_cb(FlSession *session, gpointer user_data)
{
	FlFleet *self = user_data;

	fl_fleet_save_full(self, fl_session_get_data(session), NULL, NULL);
}

static void
fl_fleet_session_ended_cb(FlSession *session, gpointer user_data)
{
	FlFleet *self = user_data;
	FlSessionData *d = fl_session_get_data(session);
	guint id = d->id;
	g_autoptr(FlSession) ref = g_object_ref(session);
	GTask *block = g_hash_table_lookup(self->blocks, GUINT_TO_POINTER(id));

	if (block != NULL) {
		fl_task_return_new_error(block, FL_ERROR_FAILED,
					 N_("session %u ended while waiting for a reply"), id);
		g_hash_table_remove(self->blocks, GUINT_TO_POINTER(id));
	}
	g_hash_table_remove(self->permissions, GUINT_TO_POINTER(id));
	g_hash_table_remove(self->requests, GUINT_TO_POINTER(id));
	/* the final state and its audit row: one durable write */
	fl_fleet_save_full(self, d, fl_state_to_string(d->state), d->reason);
	if (g_queue_remove(&self->queue, session) == FALSE && self->running > 0)
		self->running--;
	g_signal_handlers_disconnect_by_data(session, self);
	g_signal_emit(self, signals[SIGNAL_SESSION_ENDED], 0, d);
	g_hash_table_remove(self->live, GUINT_TO_POINTER(id));
	fl_fleet_maybe_start(self);
}

static FlSession *
fl_fleet_add_live(FlFleet *self, FlSessionData *data)
{
	FlSessionEnv env = {
		.config = self->config,
		.state_dir = fl_store_get_state_dir(self->store),
		.runner_path = self->runner_path,
		.http_path = self->http_path,
	};
	FlSession *session = fl_session_new(data, &env);

	g_signal_connect(session, "changed", G_CALLBACK(fl_fleet_session_changed_cb), self);
	g_signal_connect(session, "ended", G_CALLBACK(fl_fleet_session_ended_cb), self);
	g_hash_table_insert(self->live, GUINT_TO_POINTER(data->id), session);
	return session;
}

const gchar *
fl_fleet_get_store_error(FlFleet *self)
{
	g_return_val_if_fail(FL_IS_FLEET(self), NULL);

	return self->store_error;
}

/* local midnight starting today, in µs since the epoch */
static gint64
fl_fleet_today_start(void)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_local();
	g_autoptr(GDateTime) midnight =
		g_date_time_new_local(g_date_time_get_year(now), g_date_time_get_month(now),
				      g_date_time_get_day_of_month(now), 0, 0, 0);

	return g_date_time_to_unix(midnight) * G_USEC_PER_SEC;
}

gdouble
fl_fleet_get_spent_today(FlFleet *self)
{
	g_return_val_if_fail(FL_IS_FLEET(self), 0);

	return fl_store_get_cost_since(self->store, fl_fleet_today_start());
}

/* what today's sessions cost, when [fleet] daily-budget= is reached; else < 0 */
static gdouble
fl_fleet_daily_spent(FlFleet *self)
{
	gdouble spent;

	if (self->config->daily_budget <= 0)
		return -1;
	spent = fl_store_get_cost_since(self->store, fl_fleet_today_start());
	return spent >= self->config->daily_budget ? spent : -1;
}

static gboolean
fl_fleet_budget_day_cb(gpointer user_data)
{
	FlFleet *self = user_data;

	self->budget_id = 0;
	fl_fleet_kick(self);
	return G_SOURCE_REMOVE;
}

/* a held queue starts by itself on the next day; an idle daemon is not woken otherwise */
static void
fl_fleet_arm_budget_day(FlFleet *self)
{
	gint64 now = g_get_real_time();
	gint64 next = fl_fleet_today_start() + (gint64)24 * 3600 * G_USEC_PER_SEC;

	if (self->budget_id != 0)
		return;
	/* a day of 23 or 25 hours is found again when the timer fires */
	self->budget_id =
		g_timeout_add_seconds((guint)CLAMP((next - now) / G_USEC_PER_SEC + 1, 1, 25 * 3600),
				      fl_fleet_budget_day_cb, self);
}

gchar *
fl_fleet_get_held_reason(FlFleet *self)
{
	guint pending;
	gdouble spent;

	g_return_val_if_fail(FL_IS_FLEET(self), NULL);

	if (self->queue.length == 0)
		return NULL;
	if (self->paused)
		return g_strdup(_("paused; 'flotilla resume' starts the queue again"));
	spent = fl_fleet_daily_spent(self);
	if (spent >= 0) {
		gchar a[G_ASCII_DTOSTR_BUF_SIZE];
		gchar b[G_ASCII_DTOSTR_BUF_SIZE];

		fl_fleet_arm_budget_day(self);
		/* TRANSLATORS: dollar amounts, e.g. "today's sessions cost $20.13, daily-budget
		 * is $20.00: …" */
		return g_strdup_printf(
			_("today's sessions cost $%s, daily-budget is $%s: the "
			  "queue starts again tomorrow"),
			g_ascii_formatd(a, sizeof a, "%.2f", spent),
			g_ascii_formatd(b, sizeof b, "%.2f", self->config->daily_budget));
	}
	if (self->config->max_unreviewed == 0)
		return NULL;
	pending = fl_store_count_pending_review(self->store);
	if (pending < self->config->max_unreviewed)
		return NULL;
	return g_strdup_printf(g_dngettext(GETTEXT_PACKAGE,
					   "%u draft awaits review (max-unreviewed %u)",
					   "%u drafts await review (max-unreviewed %u)", pending),
			       pending, self->config->max_unreviewed);
}

/*
 * `run --after ID`: whether the session @d waits for is there yet. TRUE when it may start;
 * FALSE while it waits; FALSE with @why set when it never will (why, for its reason: a
 * stored message, fl-msg.h).
 */
static gboolean
fl_fleet_after_ready(FlFleet *self, const FlSessionData *d, gchar **why)
{
	g_autoptr(FlSessionData) dep = NULL;

	if (d->after == 0)
		return TRUE;
	dep = fl_fleet_get_session(self, d->after, NULL);
	if (dep == NULL) {
		*why = fl_msg_stored(N_("#%u is gone"), d->after);
		return FALSE;
	}
	if (dep->review == FL_REVIEW_REJECTED) {
		*why = fl_msg_stored(N_("#%u was rejected"), d->after);
		return FALSE;
	}
	if (dep->review == FL_REVIEW_REVERTED) {
		*why = fl_msg_stored(N_("#%u was reverted"), d->after);
		return FALSE;
	}
	if (dep->review == FL_REVIEW_APPROVED)
		return TRUE;
	if (fl_state_is_active(dep->state))
		return FALSE;
	if (dep->state == FL_STATE_CANCELLED) {
		*why = fl_msg_stored(N_("#%u was cancelled"), d->after);
		return FALSE;
	}
	if (dep->state != FL_STATE_DONE) {
		*why = fl_msg_stored(N_("#%u %s"), d->after, fl_state_msgid(dep->state));
		return FALSE;
	}
	if (d->after_done)
		return TRUE;
	if (dep->review == FL_REVIEW_NONE) {
		*why = fl_msg_stored(N_("#%u made no changes to approve"), d->after);
		return FALSE;
	}
	return FALSE; /* a pending draft: waits for the user's approval */
}

/* `run --after-done ID` starts on ID's draft while there is one to review; once approved,
 * its merge is on the base branch the session starts from anyway */
static void
fl_fleet_start_after(FlFleet *self, FlSession *session)
{
	FlSessionData *d = fl_session_get_data(session);
	g_autoptr(FlSessionData) dep = NULL;

	if (d->after == 0 || !d->after_done)
		return;
	dep = fl_fleet_get_session(self, d->after, NULL);
	fl_session_set_start_from(session, dep != NULL && dep->review == FL_REVIEW_PENDING &&
							   g_strcmp0(dep->repo, d->repo) == 0
						   ? dep->branch
						   : NULL);
}

/* queued sessions whose dependency can no longer come are cancelled, saying why */
static void
fl_fleet_settle_dependents(FlFleet *self)
{
	g_autoptr(GArray) doomed = g_array_new(FALSE, FALSE, sizeof(guint));
	g_autoptr(GPtrArray) whys = g_ptr_array_new_with_free_func(g_free);

	for (GList *l = self->queue.head; l != NULL; l = l->next) {
		FlSessionData *d = fl_session_get_data(l->data);
		gchar *why = NULL;

		if (!fl_fleet_after_ready(self, d, &why) && why != NULL) {
			g_array_append_val(doomed, d->id);
			g_ptr_array_add(whys, why);
		}
	}
	for (guint i = 0; i < doomed->len; i++) {
		guint id = g_array_index(doomed, guint, i);
		FlSession *session = g_hash_table_lookup(self->live, GUINT_TO_POINTER(id));
		FlSessionData *d;

		/* a cascade may have settled it already */
		if (session == NULL || fl_session_get_data(session)->state != FL_STATE_QUEUED)
			continue;
		d = fl_session_get_data(session);
		g_free(d->reason);
		d->reason = g_strdup(whys->pdata[i]);
		d->state = FL_STATE_CANCELLED;
		d->finished = fl_now();
		fl_fleet_save(self, d);
		/* ends it and starts what may start now, which settles its own dependents */
		fl_fleet_session_ended_cb(session, self);
	}
}

/* queued in a group held by pause --group */
static gboolean
fl_fleet_is_held(FlFleet *self, FlSession *session)
{
	const FlSessionData *d = fl_session_get_data(session);
	g_autoptr(FlGroup) group = NULL;

	if (d->group == NULL)
		return FALSE;
	group = fl_store_get_group(self->store, d->group, NULL);
	return group != NULL && group->paused;
}

static void
fl_fleet_maybe_start(FlFleet *self)
{
	g_autofree gchar *held = NULL;

	if (!self->stopped)
		fl_fleet_settle_dependents(self);
	while (!self->stopped && self->queue.length > 0 &&
	       self->running < self->config->max_parallel) {
		FlSession *session = NULL;
		g_clear_pointer(&held, g_free);
		held = fl_fleet_get_held_reason(self);
		if (held != NULL)
			break;
		/* first in, first out, passing over those that wait for another session and
		 * those of a group held by pause --group (they keep their place) */
		for (GList *l = self->queue.head; l != NULL && session == NULL; l = l->next) {
			g_autofree gchar *why = NULL;

			if (!fl_fleet_is_held(self, l->data) &&
			    fl_fleet_after_ready(self, fl_session_get_data(l->data), &why))
				session = l->data;
		}
		if (session == NULL)
			break;
		g_queue_remove(&self->queue, session);
		self->running++;
		fl_fleet_start_after(self, session);
		fl_session_start(session);
	}
}

gboolean
fl_fleet_set_group_paused(FlFleet *self, const gchar *name, gboolean paused, GError **error)
{
	g_autoptr(FlGroup) group = NULL;

	g_return_val_if_fail(FL_IS_FLEET(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	group = fl_store_get_group(self->store, name, error);
	if (group == NULL)
		return FALSE;
	group->paused = paused;
	if (!fl_store_set_group(self->store, group, error))
		return FALSE;
	if (!paused)
		fl_fleet_maybe_start(self);
	return TRUE;
}

gboolean
fl_fleet_keep_alternative(FlFleet *self, guint id, const gchar *note, GError **error)
{
	g_autoptr(FlSessionData) d = NULL;
	g_autoptr(FlMsg) reason = NULL;

	g_return_val_if_fail(FL_IS_FLEET(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	d = fl_store_get_session(self->store, id, error);
	if (d == NULL)
		return FALSE;
	if (d->review != FL_REVIEW_PENDING || fl_state_is_active(d->state)) {
		fl_set_error(error, FL_ERROR_WRONG_STATE,
			     N_("session %u has no draft awaiting review"), id);
		return FALSE;
	}
	d->review = FL_REVIEW_REJECTED;
	/* "rejected: " before the note, both in the reader's language */
	reason = fl_msg_parse(note);
	fl_msg_prepend(reason, fl_msg_new(N_("rejected: ")));
	g_free(d->reason);
	d->reason = fl_msg_serialize(reason);
	fl_store_begin(self->store);
	fl_fleet_save(self, d);
	fl_fleet_audit(self, id, "rejected", "race", note);
	fl_store_commit(self->store);
	fl_fleet_maybe_start(self);
	return TRUE;
}

/* the file whose presence keeps the queue paused across restarts */
static gchar *
fl_fleet_paused_path(FlFleet *self)
{
	return g_build_filename(fl_store_get_state_dir(self->store), "paused", NULL);
}

gboolean
fl_fleet_set_paused(FlFleet *self, gboolean paused, GError **error)
{
	g_autofree gchar *path = NULL;

	g_return_val_if_fail(FL_IS_FLEET(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	path = fl_fleet_paused_path(self);
	if (paused) {
		if (!fl_write_file_durable(path, "", 0, error))
			return FALSE;
	} else if (g_unlink(path) != 0 && errno != ENOENT) {
		gint errsv = errno;
		fl_set_error(error, FL_ERROR_FAILED, N_("cannot remove %s: %s"), path,
			     g_strerror(errsv));
		return FALSE;
	}
	if (self->paused != paused)
		g_message("queue %s", paused ? "paused" : "resumed");
	self->paused = paused;
	fl_fleet_maybe_start(self);
	return TRUE;
}

gboolean
fl_fleet_get_paused(FlFleet *self)
{
	g_return_val_if_fail(FL_IS_FLEET(self), FALSE);

	return self->paused;
}

void
fl_fleet_kick(FlFleet *self)
{
	g_return_if_fail(FL_IS_FLEET(self));

	fl_fleet_maybe_start(self);
}

/* the queue's order at a start: higher priority first, then by id (the order they came) */
static gint
fl_fleet_cmp_queue(gconstpointer a, gconstpointer b, gpointer user_data)
{
	const FlSessionData *da = fl_session_get_data((FlSession *)a);
	const FlSessionData *db = fl_session_get_data((FlSession *)b);

	if (da->priority != db->priority)
		return da->priority > db->priority ? -1 : 1;
	return da->id < db->id ? -1 : da->id > db->id;
}

/* behind every queued session of its priority or a higher one, before the lower ones */
static void
fl_fleet_enqueue(FlFleet *self, FlSession *session)
{
	FlPriority priority = fl_session_get_data(session)->priority;

	for (GList *l = self->queue.head; l != NULL; l = l->next) {
		if (fl_session_get_data(l->data)->priority < priority) {
			g_queue_insert_before(&self->queue, l, session);
			return;
		}
	}
	g_queue_push_tail(&self->queue, session);
}

void
fl_fleet_start(FlFleet *self)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) active = NULL;
	g_autoptr(GPtrArray) adopt = NULL;

	g_return_if_fail(FL_IS_FLEET(self));

	active = fl_store_get_active(self->store, &error);
	adopt = g_ptr_array_new_with_free_func(g_object_unref);
	if (active == NULL) {
		g_warning("cannot read sessions: %s", error->message);
		return;
	}
	for (guint i = 0; i < active->len; i++) {
		FlSessionData *d = g_ptr_array_index(active, i);
		FlSession *session;
		g_ptr_array_index(active, i) = NULL;
		session = fl_fleet_add_live(self, d);
		if (d->state == FL_STATE_QUEUED) {
			g_queue_push_tail(&self->queue, session);
		} else {
			self->running++;
			g_ptr_array_add(adopt, g_object_ref(session));
		}
	}
	/* adopting may end sessions at once, which starts queued ones: queue first */
	for (guint i = 0; i < adopt->len; i++) {
		FlSession *session = g_ptr_array_index(adopt, i);
		if (!fl_session_adopt(session)) {
			self->running--;
			g_queue_push_tail(&self->queue, session);
		}
	}
	g_queue_sort(&self->queue, fl_fleet_cmp_queue, NULL);
	fl_fleet_recover(self);
	fl_fleet_maybe_start(self);
}

void
fl_fleet_stop(FlFleet *self)
{
	g_return_if_fail(FL_IS_FLEET(self));

	self->stopped = TRUE;
}

guint
fl_fleet_get_running(FlFleet *self)
{
	g_return_val_if_fail(FL_IS_FLEET(self), 0);

	return self->running - fl_fleet_get_blocked(self);
}

guint
fl_fleet_get_queued(FlFleet *self)
{
	g_return_val_if_fail(FL_IS_FLEET(self), 0);

	return self->queue.length;
}

guint
fl_fleet_get_blocked(FlFleet *self)
{
	GHashTableIter iter;
	gpointer value;
	guint n = 0;

	g_return_val_if_fail(FL_IS_FLEET(self), 0);

	g_hash_table_iter_init(&iter, self->live);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		if (fl_session_get_data(value)->state == FL_STATE_BLOCKED)
			n++;
	}
	return n;
}

guint
fl_fleet_get_running_on(FlFleet *self, const gchar *placement)
{
	GHashTableIter iter;
	gpointer value;
	guint n = 0;

	g_return_val_if_fail(FL_IS_FLEET(self), 0);

	g_hash_table_iter_init(&iter, self->live);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		FlSessionData *d = fl_session_get_data(value);
		if (d->state != FL_STATE_QUEUED && g_strcmp0(d->placement, placement) == 0)
			n++;
	}
	return n;
}

FlSessionData *
fl_fleet_get_placed(FlFleet *self, guint id)
{
	FlSession *live;

	g_return_val_if_fail(FL_IS_FLEET(self), NULL);

	live = g_hash_table_lookup(self->live, GUINT_TO_POINTER(id));
	if (live == NULL || fl_session_get_data(live)->placement == NULL)
		return NULL;
	return fl_session_data_copy(fl_session_get_data(live));
}

FlSessionData *
fl_fleet_get_session(FlFleet *self, guint id, GError **error)
{
	FlSession *live;
	Unsaved *unsaved;

	g_return_val_if_fail(FL_IS_FLEET(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	live = g_hash_table_lookup(self->live, GUINT_TO_POINTER(id));
	unsaved = g_hash_table_lookup(self->unsaved, GUINT_TO_POINTER(id));
	if (live != NULL)
		return fl_session_data_copy(fl_session_get_data(live));
	/* what memory knows, not the older row the store still holds */
	if (unsaved != NULL)
		return fl_session_data_copy(unsaved->data);
	return fl_store_get_session(self->store, id, error);
}

/* ------------------------------------------------------------------ run */

typedef struct {
	GVariant *specs;    /* (owned) aa{sv} */
	GPtrArray *datas;   /* (owned) FlSessionData, one per spec once validated */
	GHashTable *probes; /* (owned) "dir\nbase" -> FlRepoInfo, or NULL: not a repository */
	gchar *probing;     /* (owned) (nullable) the key of the probe under way */
	gchar *token;       /* (owned) (nullable) the request's token */
	guint next;
} RunData;

static void
fl_fleet_run_data_free(RunData *rd)
{
	g_variant_unref(rd->specs);
	g_ptr_array_unref(rd->datas);
	g_hash_table_unref(rd->probes);
	g_free(rd->probing);
	g_free(rd->token);
	g_free(rd);
}

static void
fl_fleet_run_next(GTask *task);

static const gchar *
fl_fleet_dict_str(GVariantDict *dict, const gchar *key)
{
	const gchar *s = NULL;

	if (!g_variant_dict_lookup(dict, key, "&s", &s) || s == NULL || s[0] == '\0')
		return NULL;
	return s;
}

/* whether the directories of @path hold an executable @program */
static gboolean
fl_fleet_find_program(const gchar *path, const gchar *program)
{
	g_auto(GStrv) dirs = g_strsplit(path, ":", -1);

	for (guint i = 0; dirs[i] != NULL; i++) {
		g_autofree gchar *candidate =
			g_build_filename(dirs[i][0] != '\0' ? dirs[i] : ".", program, NULL);
		if (g_file_test(candidate, G_FILE_TEST_IS_REGULAR) &&
		    g_access(candidate, X_OK) == 0)
			return TRUE;
	}
	return FALSE;
}

/*
 * An agent whose program is not installed is refused now, at run, not found out as a failed
 * session later. Looked up as the runner will: in the agent's own PATH= when it sets one,
 * else in flotillad's (which sessions inherit).
 */
static gboolean
fl_fleet_check_program(const FlAgentConfig *agent, GError **error)
{
	const gchar *program = agent->command != NULL ? agent->command[0] : NULL;
	const gchar *path = g_getenv("PATH");

	/* http agents run flotilla-http, ours; a template is known only per session */
	if (!agent->klass->runs_command || program == NULL || strchr(program, '{') != NULL)
		return TRUE;
	for (guint i = 0; agent->env != NULL && agent->env[i] != NULL; i++) {
		if (g_str_has_prefix(agent->env[i], "PATH="))
			path = agent->env[i] + 5;
	}
	if (strchr(program, '/') != NULL
		    ? g_access(program, X_OK) == 0
		    : fl_fleet_find_program(path != NULL ? path : "/usr/bin:/bin", program))
		return TRUE;
	fl_set_error(error, FL_ERROR_FAILED,
		     N_("agent '%s' needs the program '%s', which is not installed here"),
		     agent->name, program);
	return FALSE;
}

/*
 * run --budget: an agent that takes a limit gets it (Claude's --max-budget-usd; an http
 * agent's answer is cut where [prices] says it reaches the budget). The others cannot be
 * held to one, so a budget for them is refused rather than silently not kept.
 */
static gboolean
fl_fleet_check_budget(FlFleet *self, GVariantDict *dict, const FlAgentConfig *agent,
		      FlSessionData *d, GError **error)
{
	gdouble budget = 0;
	gdouble in_price = 0;
	gdouble out_price = 0;

	if (!g_variant_dict_lookup(dict, "budget", "d", &budget) || !isfinite(budget) ||
	    budget <= 0 || budget > FL_BUDGET_MAX) {
		fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
			     N_("a budget is an amount in dollars above 0 and at most %d"),
			     FL_BUDGET_MAX);
		return FALSE;
	}
	if (g_strcmp0(agent->klass->kind, "http") == 0 &&
	    !fl_config_get_prices(self->config, agent->model, &in_price, &out_price)) {
		fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
			     N_("agent '%s' has no [prices] entry for %s: a budget needs one"),
			     agent->name, agent->model);
		return FALSE;
	}
	if (g_strcmp0(agent->klass->kind, "http") != 0 &&
	    g_strcmp0(agent->klass->kind, "claude") != 0) {
		fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
			     N_("agent '%s' cannot be held to a budget; --budget works with "
				"claude and http agents"),
			     agent->name);
		return FALSE;
	}
	d->budget_usd = budget;
	return TRUE;
}

static gboolean
fl_fleet_validate_spec(FlFleet *self, GVariant *spec, FlSessionData *d, GError **error)
{
	g_autoptr(GVariantDict) dict = g_variant_dict_new(spec);
	const gchar *goal = fl_fleet_dict_str(dict, "goal");
	const gchar *name = fl_fleet_dict_str(dict, "name");
	const gchar *agent = fl_fleet_dict_str(dict, "agent");
	const FlAgentConfig *agent_config;
	const gchar *known[] = {"goal",      "name",      "agent",        "repo",     "base",
				"verify",    "cwd",       "token",        "scratch",  "retry-of",
				"placement", "memory",    "timeout",      "after",    "after-done",
				"group",     "new-group", "group-policy", "priority", "budget",
				NULL};
	const gchar *group = fl_fleet_dict_str(dict, "group");
	const gchar *policy = fl_fleet_dict_str(dict, "group-policy");
	const gchar *placement = fl_fleet_dict_str(dict, "placement");
	const gchar *memory = fl_fleet_dict_str(dict, "memory");
	const gchar *timeout = fl_fleet_dict_str(dict, "timeout");
	const gchar *base = fl_fleet_dict_str(dict, "base");
	const gchar *priority = fl_fleet_dict_str(dict, "priority");
	GVariantIter iter;
	const gchar *key;

	g_variant_iter_init(&iter, spec);
	while (g_variant_iter_next(&iter, "{&sv}", &key, NULL)) {
		if (!g_strv_contains(known, key)) {
			fl_set_error(error, FL_ERROR_INVALID_ARGUMENT, N_("unknown option '%s'"),
				     key);
			return FALSE;
		}
	}
	if (goal == NULL || strspn(goal, " \t\r\n") == strlen(goal)) {
		/* a goal of only blanks is as empty as no goal */
		fl_set_error_literal(error, FL_ERROR_INVALID_ARGUMENT, N_("the goal is empty"));
		return FALSE;
	}
	if (strlen(goal) > FL_GOAL_MAX) {
		fl_set_error(error, FL_ERROR_LIMIT_EXCEEDED,
			     N_("goal is %zu bytes; the limit is %d"), strlen(goal), FL_GOAL_MAX);
		return FALSE;
	}
	if (name != NULL && (strlen(name) > FL_NAME_MAX || strchr(name, '\n') != NULL)) {
		fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
			     N_("a name is one line of at most %d bytes"), FL_NAME_MAX);
		return FALSE;
	}
	/* "@NAME" addresses a group on the command line: no session may be called that */
	if (name != NULL && name[0] == '@') {
		fl_set_error_literal(
			error, FL_ERROR_INVALID_ARGUMENT,
			N_("a session's name cannot start with '@', which names a group"));
		return FALSE;
	}
	if (policy != NULL && g_strcmp0(policy, "all") != 0 &&
	    g_strcmp0(policy, "first-wins") != 0) {
		fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
			     N_("unknown group policy '%s' (all or first-wins)"), policy);
		return FALSE;
	}
	if (group != NULL) {
		g_autoptr(FlGroup) existing = NULL;

		if (!fl_groups_name_is_valid(group)) {
			fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
				     N_("'%s' is not a group name: 1 to 64 letters, digits, '.', "
					"'_' or '-', starting with a letter or digit"),
				     group);
			return FALSE;
		}
		existing = fl_store_get_group(self->store, group, NULL);
		if (existing != NULL && !g_variant_dict_contains(dict, "new-group") &&
		    policy != NULL && g_strcmp0(existing->policy, policy) != 0) {
			fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
				     N_("group @%s exists with policy %s"), group,
				     existing->policy);
			return FALSE;
		}
		d->group = g_strdup(group);
	} else if (g_variant_dict_contains(dict, "new-group") || policy != NULL) {
		fl_set_error_literal(error, FL_ERROR_INVALID_ARGUMENT,
				     N_("new-group and group-policy need a group"));
		return FALSE;
	}
	if (agent == NULL)
		agent = self->config->default_agent;
	agent_config = fl_config_get_agent(self->config, agent);
	if (agent_config == NULL) {
		fl_set_error(error, FL_ERROR_INVALID_ARGUMENT, N_("unknown agent '%s'"), agent);
		return FALSE;
	}
	if (!fl_fleet_check_program(agent_config, error))
		return FALSE;
	if (g_variant_dict_contains(dict, "retry-of")) {
		guint32 old = 0;
		g_autoptr(FlSessionData) od = NULL;

		if (!g_variant_dict_lookup(dict, "retry-of", "u", &old)) {
			fl_set_error_literal(error, FL_ERROR_INVALID_ARGUMENT,
					     N_("retry-of is a session id"));
			return FALSE;
		}
		od = fl_store_get_session(self->store, old, error);
		if (od == NULL)
			return FALSE;
	}
	if (g_variant_dict_contains(dict, "after") || g_variant_dict_contains(dict, "after-done")) {
		gboolean done = g_variant_dict_contains(dict, "after-done");
		guint32 after = 0;
		g_autoptr(FlSessionData) dep = NULL;
		g_autofree gchar *why = NULL;
		FlSessionData probe = {.after = 0};

		if (g_variant_dict_contains(dict, "after") && done) {
			fl_set_error_literal(error, FL_ERROR_INVALID_ARGUMENT,
					     N_("--after and --after-done exclude each other"));
			return FALSE;
		}
		if (!g_variant_dict_lookup(dict, done ? "after-done" : "after", "u", &after) ||
		    after == 0) {
			fl_set_error_literal(error, FL_ERROR_INVALID_ARGUMENT,
					     N_("after is a session id"));
			return FALSE;
		}
		/* only a session that exists already: so no session waits for itself, and no
		 * chain of them, in one batch or across many, can close into a cycle */
		dep = fl_fleet_get_session(self, after, error);
		if (dep == NULL)
			return FALSE;
		probe.after = after;
		probe.after_done = done;
		if (!fl_fleet_after_ready(self, &probe, &why) && why != NULL) {
			g_autoptr(FlMsg) msg = fl_msg_parse(why);
			g_autofree gchar *english = fl_msg_render_english(msg);

			/* the reason stays a message inside the error: translated with it */
			fl_set_error(error, FL_ERROR_INVALID_ARGUMENT, "%s", english);
			if (error != NULL)
				fl_error_set_msg(*error, g_steal_pointer(&msg));
			fl_prefix_error(error, N_("nothing to wait for: "));
			return FALSE;
		}
		d->after = after;
		d->after_done = done;
	}
	/* a draft built on a draft would merge unreviewed work along with it */
	if (base != NULL && g_str_has_prefix(base, "flotilla/")) {
		fl_set_error(
			error, FL_ERROR_INVALID_ARGUMENT,
			N_("'%s' is a draft branch; pass the branch it was made from as --base"),
			base);
		return FALSE;
	}
	/* where it runs is settled now, so that ls says it while the session waits */
	if (placement == NULL)
		placement = self->config->placement;
	if (g_strcmp0(placement, "local") == 0)
		placement = NULL;
	if (placement != NULL && fl_config_get_cluster(self->config, placement) == NULL) {
		fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
			     N_("no cluster '%s' (configure it as [cluster %s])"), placement,
			     placement);
		return FALSE;
	}
	if (memory != NULL && !fl_slurm_parse_memory(memory, &d->memory_mb)) {
		fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
			     N_("'%s' is not a memory size like 512M or 4G"), memory);
		return FALSE;
	}
	if (timeout != NULL && !fl_slurm_parse_minutes(timeout, &d->time_minutes)) {
		fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
			     N_("'%s' is not a duration like 90m or 2h"), timeout);
		return FALSE;
	}
	if (g_variant_dict_contains(dict, "budget") &&
	    !fl_fleet_check_budget(self, dict, agent_config, d, error))
		return FALSE;
	if (!fl_priority_from_string(priority, &d->priority)) {
		fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
			     N_("'%s' is not a priority (high, normal or low)"), priority);
		return FALSE;
	}
	d->placement = g_strdup(placement);
	d->goal = g_strdup(goal);
	d->name = g_strdup(name);
	d->agent = g_strdup(agent);
	d->verify_command = g_strdup(fl_fleet_dict_str(dict, "verify"));
	d->base = g_strdup(base);
	return TRUE;
}

/* git finds a repository only through a .git in the directory or a parent, so without one
 * a session needs no git run at all to know it will get a scratch directory */
static gboolean
fl_fleet_maybe_in_repo(const gchar *dir)
{
	g_autofree gchar *cur = g_strdup(dir);

	for (;;) {
		g_autofree gchar *dotgit = g_build_filename(cur, ".git", NULL);
		g_autofree gchar *parent = NULL;

		if (g_file_test(dotgit, G_FILE_TEST_EXISTS))
			return TRUE;
		parent = g_path_get_dirname(cur);
		if (g_strcmp0(parent, cur) == 0)
			return FALSE;
		g_free(cur);
		cur = g_steal_pointer(&parent);
	}
}

static void
fl_fleet_apply_probe(FlFleet *self, FlSessionData *d, const FlRepoInfo *info)
{
	if (info == NULL) {
		/* not a git repository: the session runs in a scratch directory */
		g_clear_pointer(&d->repo, g_free);
		g_clear_pointer(&d->base, g_free);
		return;
	}
	g_free(d->repo);
	d->repo = g_strdup(info->toplevel);
	g_free(d->base);
	d->base = g_strdup(info->base_branch);
	g_free(d->base_commit);
	d->base_commit = g_strdup(info->base_commit);
	if (d->verify_command == NULL)
		d->verify_command =
			g_strdup(fl_config_get_repo_verify(self->config, info->toplevel));
}

/*
 * Where in the repository at @toplevel `run` was called (@cwd), relative to the top, so the
 * session runs in the same subdirectory of its worktree; NULL at the top or outside. Both
 * paths are physical (getcwd(3), git's toplevel), so a prefix says it.
 */
static gchar *
fl_fleet_subdir(const gchar *cwd, const gchar *toplevel)
{
	gsize n;
	g_autofree gchar *rel = NULL;

	if (cwd == NULL || toplevel == NULL || !g_path_is_absolute(cwd))
		return NULL;
	n = strlen(toplevel);
	while (n > 1 && toplevel[n - 1] == '/')
		n--;
	if (strncmp(cwd, toplevel, n) != 0 || cwd[n] != '/')
		return NULL;
	/* "/a/./b/" → "/a/b"; ".." cannot climb above the top this way */
	rel = g_canonicalize_filename(cwd + n, "/");
	if (g_strcmp0(rel, "/") == 0 || g_str_has_prefix(rel, "/.git/") ||
	    g_strcmp0(rel, "/.git") == 0)
		return NULL;
	return g_strdup(rel + 1);
}

/* a draft comes back from a cluster only as commits: that needs a git repository */
static gboolean
fl_fleet_check_placed(const FlSessionData *d, GError **error)
{
	if (d->placement == NULL || d->repo != NULL)
		return TRUE;
	fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
		     N_("a session on cluster %s needs a git repository (--repo DIR)"),
		     d->placement);
	return FALSE;
}

static void
fl_fleet_run_probe_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	RunData *rd = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRepoInfo) info = fl_worktree_probe_finish(res, &error);

	if (info == NULL && !g_error_matches(error, FL_ERROR, FL_ERROR_NOT_FOUND)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	g_hash_table_insert(rd->probes, g_steal_pointer(&rd->probing), g_steal_pointer(&info));
	fl_fleet_run_next(g_steal_pointer(&task));
}

static gboolean
fl_fleet_start_idle_cb(gpointer user_data)
{
	FlFleet *self = user_data;

	self->start_id = 0;
	fl_fleet_maybe_start(self);
	return G_SOURCE_REMOVE;
}

static const gchar *
fl_fleet_spec_str(GVariant *specs, gsize index, const gchar *key);
static gboolean
fl_fleet_spec_bool(GVariant *specs, gsize index, const gchar *key);

static void
fl_fleet_run_commit(GTask *task)
{
	FlFleet *self = g_task_get_source_object(task);
	RunData *rd = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(guint));

	for (guint i = 0; i < rd->datas->len; i++) {
		FlSessionData *d = g_ptr_array_index(rd->datas, i);
		g_autoptr(FlSessionData) dep = NULL;

		/* "a base that includes its merge" means the same repository and branch */
		if (d->after != 0 && (dep = fl_fleet_get_session(self, d->after, NULL)) != NULL &&
		    (g_strcmp0(dep->repo, d->repo) != 0 || g_strcmp0(dep->base, d->base) != 0)) {
			fl_task_return_new_error(
				task, FL_ERROR_INVALID_ARGUMENT,
				N_("session %u works on %s (%s), not on %s (%s): --after waits "
				   "only "
				   "for a session of the same repository and base branch"),
				d->after,
				dep->repo != NULL ? dep->repo : fl_msg_word(N_("no repository")),
				dep->base != NULL ? dep->base : "-",
				d->repo != NULL ? d->repo : fl_msg_word(N_("no repository")),
				d->base != NULL ? d->base : "-");
			return;
		}
	}
	for (guint i = 0; i < rd->datas->len; i++) {
		FlSessionData *d = g_ptr_array_index(rd->datas, i);
		d->state = FL_STATE_QUEUED;
		d->created = fl_now();
	}
	if (!fl_store_insert_grouped(self->store, rd->datas, "cli", rd->token,
				     fl_fleet_spec_str(rd->specs, 0, "group-policy"),
				     fl_fleet_spec_bool(rd->specs, 0, "new-group"), &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	fl_crash_point("run:queued");
	for (guint i = 0; i < rd->datas->len; i++) {
		FlSessionData *d = g_ptr_array_index(rd->datas, i);
		FlSession *session;
		g_ptr_array_index(rd->datas, i) = NULL;
		g_array_append_val(ids, d->id);
		session = fl_fleet_add_live(self, d);
		fl_fleet_enqueue(self, session);
		fl_fleet_emit_changed(self, d);
		/* `flotilla retry`: each session's history names the other */
		{
			g_autoptr(GVariant) spec = g_variant_get_child_value(rd->specs, i);
			guint32 old = 0;
			if (g_variant_lookup(spec, "retry-of", "u", &old)) {
				g_autofree gchar *to_new = g_strdup_printf("#%u", d->id);
				g_autofree gchar *to_old = g_strdup_printf("#%u", old);
				fl_fleet_audit(self, old, "retried-as", "cli", to_new);
				fl_fleet_audit(self, d->id, "retry-of", "cli", to_old);
			}
		}
	}
	/* answer first: the caller waits for the ids, not for the sessions to spawn */
	if (self->start_id == 0)
		self->start_id = g_idle_add(fl_fleet_start_idle_cb, self);
	g_task_return_pointer(task, g_steal_pointer(&ids), (GDestroyNotify)g_array_unref);
}

/* member @key of spec @index of @specs */
static const gchar *
fl_fleet_spec_str(GVariant *specs, gsize index, const gchar *key)
{
	g_autoptr(GVariant) spec = g_variant_get_child_value(specs, index);
	const gchar *value = NULL;

	/* a string inside @specs, which outlives the caller's use */
	if (!g_variant_lookup(spec, key, "&s", &value))
		return NULL;
	return value;
}

static gboolean
fl_fleet_spec_bool(GVariant *specs, gsize index, const gchar *key)
{
	g_autoptr(GVariant) spec = g_variant_get_child_value(specs, index);
	gboolean value = FALSE;

	return g_variant_lookup(spec, key, "b", &value) && value;
}

/* validates the goals one by one and learns the repository of each, then queues them all
 * at once (or none) */
static void
fl_fleet_run_next(GTask *task)
{
	FlFleet *self = g_task_get_source_object(task);
	RunData *rd = g_task_get_task_data(task);
	GError *placed_error = NULL;

	for (; rd->next < g_variant_n_children(rd->specs); rd->next++) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *key = NULL;
		FlSessionData *cur;
		gpointer info = NULL;

		if (rd->datas->len <= rd->next) {
			g_autoptr(GVariant) spec = g_variant_get_child_value(rd->specs, rd->next);
			g_autoptr(GVariantDict) dict = g_variant_dict_new(spec);
			g_autoptr(FlSessionData) d = fl_session_data_new();
			const gchar *repo = fl_fleet_dict_str(dict, "repo");
			const gchar *cwd = fl_fleet_dict_str(dict, "cwd");
			g_autofree gchar *dir = NULL;

			if (!fl_fleet_validate_spec(self, spec, d, &error)) {
				if (g_variant_n_children(rd->specs) > 1)
					fl_prefix_error(&error, N_("goal %u: "), rd->next + 1);
				g_task_return_error(task, g_steal_pointer(&error));
				g_object_unref(task);
				return;
			}
			if (repo != NULL) {
				dir = g_canonicalize_filename(repo, cwd);
				if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
					fl_task_return_new_error(task, FL_ERROR_INVALID_ARGUMENT,
								 N_("%s is not a directory"), dir);
					g_object_unref(task);
					return;
				}
			} else if (cwd != NULL && g_path_is_absolute(cwd) &&
				   g_file_test(cwd, G_FILE_TEST_IS_DIR)) {
				dir = g_strdup(cwd);
			}
			d->repo = g_steal_pointer(&dir);
			g_ptr_array_add(rd->datas, g_steal_pointer(&d));
		}
		cur = g_ptr_array_index(rd->datas, rd->next);
		/* a group is reviewed by merging its members: each needs a repository */
		if (cur->group != NULL &&
		    (cur->repo == NULL || fl_fleet_spec_bool(rd->specs, rd->next, "scratch"))) {
			fl_task_return_new_error(
				task, FL_ERROR_INVALID_ARGUMENT,
				N_("a group's sessions each work in a git "
				   "repository; %s is not one"),
				cur->repo != NULL ? cur->repo : fl_msg_word(N_("this directory")));
			g_object_unref(task);
			return;
		}
		if (cur->repo == NULL) {
			if (!fl_fleet_check_placed(cur, &placed_error))
				break;
			continue;
		}
		if (fl_fleet_spec_bool(rd->specs, rd->next, "scratch")) {
			/* asked for: an empty directory even inside a repository */
			fl_fleet_apply_probe(self, cur, NULL);
			if (!fl_fleet_check_placed(cur, &placed_error))
				break;
			continue;
		}
		/* a batch of goals usually comes from one directory: it is looked at once */
		key = g_strdup_printf("%s\n%s", cur->repo, cur->base != NULL ? cur->base : "");
		if (!g_hash_table_lookup_extended(rd->probes, key, NULL, &info)) {
			if (fl_fleet_maybe_in_repo(cur->repo)) {
				/* fl_fleet_run_probe_cb() comes back here for the same goal */
				rd->probing = g_steal_pointer(&key);
				fl_worktree_probe_async(cur->repo, cur->base, NULL,
							fl_fleet_run_probe_cb, task);
				return;
			}
			g_hash_table_insert(rd->probes, g_steal_pointer(&key), NULL);
		}
		/* --repo names where the work belongs: an empty scratch directory instead would
		 * lose it, so that takes --scratch */
		if (info == NULL && cur->group != NULL) {
			fl_task_return_new_error(task, FL_ERROR_INVALID_ARGUMENT,
						 N_("a group's sessions each work in a git "
						    "repository; %s is not one"),
						 cur->repo);
			g_object_unref(task);
			return;
		}
		if (info == NULL && fl_fleet_spec_str(rd->specs, rd->next, "repo") != NULL) {
			fl_task_return_new_error(task, FL_ERROR_INVALID_ARGUMENT,
						 N_("%s is not in a git repository; pass --scratch "
						    "to run in an empty "
						    "directory instead"),
						 cur->repo);
			g_object_unref(task);
			return;
		}
		fl_fleet_apply_probe(self, cur, info);
		if (info != NULL)
			cur->subdir = fl_fleet_subdir(fl_fleet_spec_str(rd->specs, rd->next, "cwd"),
						      ((const FlRepoInfo *)info)->toplevel);
		if (!fl_fleet_check_placed(cur, &placed_error))
			break;
	}
	if (placed_error != NULL) {
		g_task_return_error(task, placed_error);
		g_object_unref(task);
		return;
	}
	fl_fleet_run_commit(task);
	g_object_unref(task);
}

void
fl_fleet_run_async(FlFleet *self, GVariant *specs, GAsyncReadyCallback callback, gpointer user_data)
{
	GTask *task;
	RunData *rd;
	gsize n;
	g_autoptr(GVariant) first = NULL;
	g_autofree gchar *answer = NULL;

	g_return_if_fail(FL_IS_FLEET(self));
	g_return_if_fail(specs != NULL && g_variant_is_of_type(specs, G_VARIANT_TYPE("aa{sv}")));

	task = g_task_new(self, NULL, callback, user_data);
	rd = g_new0(RunData, 1);
	n = g_variant_n_children(specs);
	rd->specs = g_variant_ref_sink(specs);
	rd->datas = g_ptr_array_new_with_free_func((GDestroyNotify)fl_session_data_free);
	rd->probes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					   (GDestroyNotify)fl_repo_info_free);
	g_task_set_task_data(task, rd, (GDestroyNotify)fl_fleet_run_data_free);
	if (n == 0 || n > FL_BATCH_MAX) {
		fl_task_return_new_error(task, FL_ERROR_LIMIT_EXCEEDED,
					 N_("a batch holds 1 to %d goals"), FL_BATCH_MAX);
		g_object_unref(task);
		return;
	}
	/* the first goal's token stands for the whole batch */
	first = g_variant_get_child_value(specs, 0);
	g_variant_lookup(first, "token", "s", &rd->token);
	answer = fl_store_request_get(self->store, rd->token, "Run");
	if (answer != NULL) {
		/* queued already by the same request, whose caller lost the answer */
		g_auto(GStrv) words = g_strsplit(answer, " ", -1);
		g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(guint));

		for (guint i = 0; words[i] != NULL; i++) {
			guint id = (guint)g_ascii_strtoull(words[i], NULL, 10);
			g_array_append_val(ids, id);
		}
		g_task_return_pointer(task, g_steal_pointer(&ids), (GDestroyNotify)g_array_unref);
		g_object_unref(task);
		return;
	}
	fl_fleet_run_next(task);
}

GArray *
fl_fleet_run_finish(FlFleet *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(FL_IS_FLEET(self), NULL);
	g_return_val_if_fail(g_task_is_valid(res, self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	return g_task_propagate_pointer(G_TASK(res), error);
}

/* ------------------------------------------------------------------ cancel */

gboolean
fl_fleet_cancel(FlFleet *self, guint id, GError **error)
{
	FlSession *session;
	g_autoptr(FlSessionData) d = NULL;

	g_return_val_if_fail(FL_IS_FLEET(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	session = g_hash_table_lookup(self->live, GUINT_TO_POINTER(id));
	if (session == NULL) {
		d = fl_store_get_session(self->store, id, error);
		if (d == NULL)
			return FALSE;
		fl_set_error(error, FL_ERROR_FAILED, N_("session %u already ended (%s)"), id,
			     fl_state_msgid(d->state));
		return FALSE;
	}
	fl_fleet_audit(self, id, "cancel", "cli", NULL);
	if (fl_session_get_data(session)->state == FL_STATE_QUEUED) {
		FlSessionData *data = fl_session_get_data(session);
		data->state = FL_STATE_CANCELLED;
		data->finished = fl_now();
		fl_fleet_save(self, data);
		fl_fleet_session_ended_cb(session, self);
		return TRUE;
	}
	fl_session_cancel(session);
	return TRUE;
}

gboolean
fl_fleet_dismiss(FlFleet *self, guint id, const gchar *source, GError **error)
{
	g_autoptr(FlSessionData) d = NULL;

	g_return_val_if_fail(FL_IS_FLEET(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	d = fl_fleet_get_session(self, id, error);
	if (d == NULL)
		return FALSE;
	if (d->review == FL_REVIEW_PENDING) {
		fl_set_error(error, FL_ERROR_WRONG_STATE,
			     N_("session %u has a draft awaiting review: reject it instead"), id);
		return FALSE;
	}
	if (d->state != FL_STATE_FAILED && d->state != FL_STATE_INTERRUPTED &&
	    d->state != FL_STATE_CANCELLED) {
		fl_set_error(
			error, FL_ERROR_WRONG_STATE,
			N_("session %u is %s: only a failed or cancelled session is dismissed"), id,
			fl_state_msgid(d->state));
		return FALSE;
	}
	/* twice is once: the first time counts, and says so in the audit */
	if (fl_store_ledger_get(self->store, id, FL_LEDGER_EVENT_DISMISSED) > 0)
		return TRUE;
	if (!fl_store_ledger_set(self->store, id, FL_LEDGER_EVENT_DISMISSED, fl_now(), error))
		return FALSE;
	fl_fleet_audit(self, id, "dismissed", source, NULL);
	g_signal_emit(self, signals[SIGNAL_SESSION_CHANGED], 0, d);
	return TRUE;
}

/* ------------------------------------------------------------------ block / reply */

/* every question gets its own serial, so an answer meant for an older one is told apart */
static void
fl_fleet_new_request(FlFleet *self, guint id)
{
	/* 0 means "no question" */
	if (++self->request_serial == 0)
		self->request_serial = 1;
	g_hash_table_insert(self->requests, GUINT_TO_POINTER(id),
			    GUINT_TO_POINTER(self->request_serial));
}

guint
fl_fleet_get_request(FlFleet *self, guint id, gboolean *permission)
{
	gboolean is_permission;

	g_return_val_if_fail(FL_IS_FLEET(self), 0);

	/* the serial stays behind an answered question: only a waiting one counts */
	is_permission = g_hash_table_contains(self->permissions, GUINT_TO_POINTER(id));
	if (permission != NULL)
		*permission = is_permission;
	if (!is_permission && !g_hash_table_contains(self->blocks, GUINT_TO_POINTER(id)))
		return 0;
	return GPOINTER_TO_UINT(g_hash_table_lookup(self->requests, GUINT_TO_POINTER(id)));
}

void
fl_fleet_block_async(FlFleet *self, guint id, const gchar *message, GAsyncReadyCallback callback,
		     gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	FlSession *session;
	GTask *old;

	g_return_if_fail(FL_IS_FLEET(self));

	task = g_task_new(self, NULL, callback, user_data);
	session = g_hash_table_lookup(self->live, GUINT_TO_POINTER(id));
	if (session == NULL || fl_session_get_data(session)->state == FL_STATE_QUEUED) {
		fl_task_return_new_error(task, FL_ERROR_NOT_FOUND, N_("no running session %u"), id);
		return;
	}
	old = g_hash_table_lookup(self->blocks, GUINT_TO_POINTER(id));
	if (old != NULL) {
		fl_task_return_new_error(old, FL_ERROR_FAILED,
					 N_("superseded by a newer question"));
		g_hash_table_remove(self->blocks, GUINT_TO_POINTER(id));
	}
	g_hash_table_insert(self->blocks, GUINT_TO_POINTER(id), g_steal_pointer(&task));
	fl_fleet_new_request(self, id);
	fl_fleet_audit(self, id, "blocked", "agent", message);
	fl_session_set_blocked(session, message);
	g_signal_emit(self, signals[SIGNAL_SESSION_BLOCKED], 0, fl_session_get_data(session));
}

gchar *
fl_fleet_block_finish(FlFleet *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(FL_IS_FLEET(self), NULL);
	g_return_val_if_fail(g_task_is_valid(res, self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	return g_task_propagate_pointer(G_TASK(res), error);
}

static void
fl_fleet_answer_permission(FlFleet *self, guint id, gboolean allow, const gchar *message)
{
	Permission *p = g_hash_table_lookup(self->permissions, GUINT_TO_POINTER(id));
	FlSession *session = g_hash_table_lookup(self->live, GUINT_TO_POINTER(id));

	if (p == NULL)
		return;
	g_task_return_pointer(p->task, fl_agent_permission_respond(p->permission, allow, message),
			      g_free);
	g_clear_object(&p->task);
	g_hash_table_remove(self->permissions, GUINT_TO_POINTER(id));
	if (session != NULL)
		fl_session_set_unblocked(session);
}

static gboolean
fl_fleet_resume(FlFleet *self, guint id, const gchar *text, GError **error)
{
	g_autoptr(FlSessionData) d = fl_store_get_session(self->store, id, error);
	FlSession *session;

	if (d == NULL)
		return FALSE;
	if (fl_state_is_active(d->state) || d->agent_session == NULL) {
		fl_set_error(error, FL_ERROR_FAILED, N_("session %u is not waiting for a reply"),
			     id);
		return FALSE;
	}
	/* its worktree and the agent's files are gone: nothing to resume in */
	if (d->cleaned != 0) {
		fl_set_error(error, FL_ERROR_WRONG_STATE,
			     N_("session %u was cleaned: its worktree is gone; 'flotilla retry %u' "
				"runs its goal again"),
			     id, id);
		return FALSE;
	}
	session = fl_fleet_add_live(self, g_steal_pointer(&d));
	if (!fl_session_prepare_resume(session, text, error)) {
		g_signal_handlers_disconnect_by_data(session, self);
		g_hash_table_remove(self->live, GUINT_TO_POINTER(id));
		return FALSE;
	}
	fl_fleet_audit(self, id, "replied", "cli", text);
	fl_fleet_enqueue(self, session);
	fl_fleet_maybe_start(self);
	return TRUE;
}

gboolean
fl_fleet_reply(FlFleet *self, guint id, const gchar *text, GError **error)
{
	FlSession *session;
	GTask *block;

	g_return_val_if_fail(FL_IS_FLEET(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	session = g_hash_table_lookup(self->live, GUINT_TO_POINTER(id));
	block = g_hash_table_lookup(self->blocks, GUINT_TO_POINTER(id));
	if (session == NULL)
		return fl_fleet_resume(self, id, text, error);
	if (fl_session_get_data(session)->state != FL_STATE_BLOCKED) {
		fl_set_error(error, FL_ERROR_FAILED, N_("session %u is not waiting for a reply"),
			     id);
		return FALSE;
	}
	if (g_hash_table_contains(self->permissions, GUINT_TO_POINTER(id))) {
		/* a reply to a permission request is a no that says what to do instead */
		fl_fleet_audit(self, id, "replied", "cli", text);
		fl_fleet_answer_permission(self, id, FALSE, text);
		return TRUE;
	}
	if (block == NULL) {
		fl_set_error(error, FL_ERROR_FAILED,
			     N_("session %u asked before flotillad restarted; its question is "
				"gone: cancel it or let it ask again"),
			     id);
		return FALSE;
	}
	fl_fleet_audit(self, id, "replied", "cli", text);
	g_task_return_pointer(block, g_strdup(text), g_free);
	g_hash_table_remove(self->blocks, GUINT_TO_POINTER(id));
	fl_session_set_unblocked(session);
	return TRUE;
}

/* ------------------------------------------------------------------ agent hooks */

static gboolean
fl_fleet_permission_timeout_cb(gpointer user_data)
{
	Permission *p = user_data;
	g_autofree gchar *note = fl_msg_stored(N_("no answer in time"));

	p->timeout_id = 0;
	fl_fleet_audit(p->fleet, p->id, "denied", "daemon", note);
	fl_fleet_answer_permission(p->fleet, p->id, FALSE, _("no answer from the user in time"));
	return G_SOURCE_REMOVE;
}

void
fl_fleet_hook_async(FlFleet *self, const gchar *agent, guint id, const gchar *payload,
		    GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	FlSession *session;
	const FlAgentClass *kind;
	g_autoptr(GError) error = NULL;
	FlAgentHookResult result = {NULL};
	Permission *p;

	g_return_if_fail(FL_IS_FLEET(self));

	task = g_task_new(self, NULL, callback, user_data);
	session = g_hash_table_lookup(self->live, GUINT_TO_POINTER(id));
	kind = fl_agent_class_lookup(agent);
	if (kind == NULL || kind->hook == NULL) {
		fl_task_return_new_error(task, FL_ERROR_INVALID_ARGUMENT,
					 N_("no hooks for agent '%s'"), agent);
		return;
	}
	if (session == NULL || !fl_state_is_active(fl_session_get_data(session)->state)) {
		fl_task_return_new_error(task, FL_ERROR_NOT_FOUND, N_("no running session %u"), id);
		return;
	}
	if (!kind->hook(payload, &result, &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (result.notice != NULL)
		fl_fleet_audit(self, id, "notification", "agent", result.notice);
	if (result.permission != NULL) {
		/* one question at a time: an older one that still waits is denied */
		g_hash_table_remove(self->permissions, GUINT_TO_POINTER(id));
		p = g_new0(Permission, 1);
		p->fleet = self;
		p->id = id;
		p->task = g_steal_pointer(&task);
		p->permission = g_steal_pointer(&result.permission);
		p->timeout_id = g_timeout_add_seconds(FL_PERMISSION_TIMEOUT_S,
						      fl_fleet_permission_timeout_cb, p);
		g_hash_table_insert(self->permissions, GUINT_TO_POINTER(id), p);
		fl_fleet_new_request(self, id);
		fl_fleet_audit(self, id, "blocked", "agent", result.asks);
		fl_session_set_blocked(session, result.asks);
		g_signal_emit(self, signals[SIGNAL_SESSION_BLOCKED], 0,
			      fl_session_get_data(session));
		fl_agent_hook_result_clear(&result);
		return;
	}
	g_task_return_pointer(task, g_strdup(result.response != NULL ? result.response : ""),
			      g_free);
	fl_agent_hook_result_clear(&result);
}

gchar *
fl_fleet_hook_finish(FlFleet *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(FL_IS_FLEET(self), NULL);
	g_return_val_if_fail(g_task_is_valid(res, self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	return g_task_propagate_pointer(G_TASK(res), error);
}

/* ------------------------------------------------------------------ decisions */

/*
 * Every decision on a draft in a git repository is write-ahead: its intent (with the exact
 * draft commit) is recorded before git is touched, and the transaction that records the
 * outcome removes it. A daemon that starts and finds an intent asks git what happened and
 * finishes the decision (an approval whose merge is on the base branch is recorded as
 * approved, once) or rolls it back (no merge: the draft stays pending). Decisions in one
 * repository run one at a time, so concurrent approvals queue instead of racing for the
 * base branch.
 */

/* an approval retries this often when the user's own commits move the base meanwhile */
#define FL_DECIDE_ATTEMPTS 5

typedef struct {
	guint id;
	FlDecision decision;
	gchar *note;
	gchar *source;
	gchar *token;        /* (nullable) the request's token */
	gchar *key;          /* what decisions queue on: the repository, or the session */
	FlSessionData *data; /* (owned) */
	FlIntent *intent;    /* (owned) (nullable) the intent recorded for this decision */
	gboolean recovering; /* finishing an intent a previous daemon left */
	guint attempts;
} DecideData;

static void
fl_fleet_decide_data_free(DecideData *dd)
{
	g_free(dd->note);
	g_free(dd->source);
	g_free(dd->token);
	g_free(dd->key);
	fl_session_data_free(dd->data);
	fl_intent_free(dd->intent);
	g_free(dd);
}

static const gchar *
fl_fleet_decision_verb(FlDecision decision)
{
	switch (decision) {
	case FL_DECISION_APPROVE:
		return "approved";
	case FL_DECISION_REJECT:
		return "rejected";
	case FL_DECISION_REVERT:
		return "reverted";
	case FL_DECISION_REFRESH:
		return "refreshed";
	default:
		return "decided";
	}
}

static const gchar *
fl_fleet_decision_op(FlDecision decision)
{
	switch (decision) {
	case FL_DECISION_APPROVE:
		return "approve";
	case FL_DECISION_REJECT:
		return "reject";
	case FL_DECISION_REFRESH:
		return "refresh";
	default:
		return "revert";
	}
}

/* the method name a decision's token is remembered under */
static const gchar *
fl_fleet_decision_method(FlDecision decision)
{
	switch (decision) {
	case FL_DECISION_APPROVE:
		return "Approve";
	case FL_DECISION_REJECT:
		return "Reject";
	case FL_DECISION_REFRESH:
		return "Refresh";
	default:
		return "Revert";
	}
}

static void
fl_fleet_decide_run(GTask *task);

/* ends the current decision and lets the next one waiting in the same repository run */
static void
fl_fleet_decide_done(GTask *task)
{
	FlFleet *self = g_task_get_source_object(task);
	DecideData *dd = g_task_get_task_data(task);
	GQueue *waiting = g_hash_table_lookup(self->deciding, dd->key);
	GTask *next = waiting != NULL ? g_queue_pop_head(waiting) : NULL;

	if (next == NULL)
		g_hash_table_remove(self->deciding, dd->key);
	else
		fl_fleet_decide_run(next);
	g_object_unref(task);
}

static void
fl_fleet_decide_return(GTask *task, const gchar *message)
{
	g_task_return_pointer(task, g_strdup(message), g_free);
	fl_fleet_decide_done(task);
}

/*
 * records the outcome in one transaction: the review, the audit row, the intent's end (or
 * its cleanup phase while the draft is still to be removed) and the answer for the token
 */
static void
fl_fleet_record(FlFleet *self, DecideData *dd, FlReview review, const gchar *message,
		gboolean cleanup_left)
{
	g_autoptr(GError) error = NULL;

	dd->data->review = review;
	fl_store_begin(self->store);
	fl_fleet_save(self, dd->data);
	fl_fleet_audit(self, dd->id, fl_fleet_decision_verb(dd->decision), dd->source, dd->note);
	if (cleanup_left && dd->intent != NULL) {
		g_free(dd->intent->phase);
		dd->intent->phase = g_strdup("cleanup");
		if (!fl_store_intent_set(self->store, dd->intent, &error))
			g_warning("session %u: %s", dd->id, error->message);
	} else if (dd->intent != NULL && !fl_store_intent_clear(self->store, dd->id, &error)) {
		g_warning("session %u: %s", dd->id, error->message);
	}
	g_clear_error(&error);
	if (dd->token != NULL &&
	    !fl_store_request_set(self->store, dd->token, fl_fleet_decision_method(dd->decision),
				  message, &error))
		g_warning("session %u: %s", dd->id, error->message);
	if (!fl_store_commit(self->store) ||
	    g_hash_table_contains(self->unsaved, GUINT_TO_POINTER(dd->id))) {
		/* git has done it: the store learns it when it can (and a restart finds the
		 * intent, which git's truth finishes) */
		g_autoptr(GError) full = NULL;

		fl_set_error_literal(&full, FL_ERROR_FAILED,
				     N_("the database did not take the change"));
		fl_fleet_keep_unsaved(self, dd->data, fl_fleet_decision_verb(dd->decision),
				      dd->note, full);
	}
}

static void
fl_fleet_decided(GTask *task, FlReview review, const gchar *message)
{
	FlFleet *self = g_task_get_source_object(task);
	DecideData *dd = g_task_get_task_data(task);

	fl_fleet_record(self, dd, review, message, FALSE);
	if (review != FL_REVIEW_PENDING)
		fl_fleet_maybe_start(self);
	fl_fleet_decide_return(task, message);
}

/* the decision did not happen: its intent goes, the draft stays as it was */
static void
fl_fleet_decide_failed(GTask *task, GError *error)
{
	FlFleet *self = g_task_get_source_object(task);
	DecideData *dd = g_task_get_task_data(task);
	g_autoptr(GError) store_error = NULL;

	fl_store_begin(self->store);
	if (dd->intent != NULL && !fl_store_intent_clear(self->store, dd->id, &store_error))
		g_warning("session %u: %s", dd->id, store_error->message);
	fl_fleet_audit(self, dd->id, "refused", dd->source, error->message);
	fl_store_commit(self->store);
	g_task_return_error(task, error);
	fl_fleet_decide_done(task);
}

static gboolean
fl_fleet_record_intent(FlFleet *self, DecideData *dd, const gchar *draft_tip, GError **error)
{
	FlIntent *intent = g_new0(FlIntent, 1);

	intent->id = dd->id;
	intent->op = g_strdup(fl_fleet_decision_op(dd->decision));
	intent->phase = g_strdup("act");
	intent->draft_tip = g_strdup(draft_tip);
	intent->note = g_strdup(dd->note);
	intent->source = g_strdup(dd->source);
	intent->token = g_strdup(dd->token);
	fl_intent_free(dd->intent);
	dd->intent = intent;
	if (!fl_store_intent_set(self->store, intent, error)) {
		g_clear_pointer(&dd->intent, fl_intent_free);
		return FALSE;
	}
	return TRUE;
}

static gchar *
fl_fleet_approved_message(DecideData *dd)
{
	g_autofree gchar *shortid =
		dd->data->merge_commit != NULL ? g_strndup(dd->data->merge_commit, 10) : NULL;

	if (shortid == NULL)
		return fl_msg_stored(N_("session %u approved: merged into %s"), dd->id,
				     dd->data->base);
	return fl_msg_stored(N_("session %u approved: merged into %s (%s)"), dd->id, dd->data->base,
			     shortid);
}

static void
fl_fleet_remove_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	FlFleet *self = g_task_get_source_object(task);
	DecideData *dd = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *message = NULL;

	/* the decision stands even if cleaning up failed: say so, don't undo it */
	if (!fl_worktree_remove_finish(res, &error))
		g_warning("session %u: %s", dd->id, error->message);
	if (dd->decision == FL_DECISION_APPROVE) {
		g_clear_error(&error);
		fl_crash_point("approve:removed");
		if (!fl_store_intent_clear(self->store, dd->id, &error))
			g_warning("session %u: %s", dd->id, error->message);
		message = fl_fleet_approved_message(dd);
		fl_fleet_maybe_start(self);
		fl_fleet_decide_return(task, message);
		return;
	}
	fl_crash_point("reject:removed");
	message = fl_msg_stored(N_("session %u rejected: worktree and branch removed, "
				   "patch and log kept"),
				dd->id);
	fl_fleet_decided(task, FL_REVIEW_REJECTED, message);
}

/* the merge is on the base branch: the approval is recorded, then the draft goes */
static void
fl_fleet_merged(GTask *task)
{
	FlFleet *self = g_task_get_source_object(task);
	DecideData *dd = g_task_get_task_data(task);
	g_autofree gchar *message = fl_fleet_approved_message(dd);

	fl_fleet_record(self, dd, FL_REVIEW_APPROVED, message, TRUE);
	fl_crash_point("approve:recorded");
	fl_worktree_remove_async(dd->data->repo, dd->data->worktree, dd->data->branch, NULL,
				 fl_fleet_remove_cb, task);
}

static void
fl_fleet_merge(GTask *task);

static void
fl_fleet_merge_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	DecideData *dd = g_task_get_task_data(task);
	GError *error = NULL;
	g_autofree gchar *merge = fl_worktree_merge_finish(res, &error);

	if (merge == NULL) {
		/* the user committed to the base meanwhile: nothing was changed, go again */
		if (g_error_matches(error, FL_ERROR, FL_ERROR_BUSY) &&
		    ++dd->attempts < FL_DECIDE_ATTEMPTS) {
			g_error_free(error);
			fl_fleet_merge(task);
			return;
		}
		fl_fleet_decide_failed(task, error);
		return;
	}
	fl_crash_point("approve:merged");
	g_free(dd->data->merge_commit);
	dd->data->merge_commit = g_steal_pointer(&merge);
	fl_fleet_merged(task);
}

static void
fl_fleet_merge(GTask *task)
{
	DecideData *dd = g_task_get_task_data(task);
	FlSessionData *d = dd->data;
	g_autofree gchar *first = g_utf8_make_valid(d->goal, -1);
	g_autofree gchar *msg = NULL;
	gchar *nl = strchr(first, '\n');

	if (nl != NULL)
		*nl = '\0';
	msg = g_strdup_printf("Merge flotilla session %u: %s\n\nGoal: %s\nApproved via %s%s%s\n",
			      d->id, d->name != NULL ? d->name : first, d->goal, dd->source,
			      dd->note != NULL ? ": " : "", dd->note != NULL ? dd->note : "");
	fl_worktree_merge_async(d->repo, d->branch, dd->intent->draft_tip, d->base, msg, NULL,
				fl_fleet_merge_cb, task);
}

static void
fl_fleet_approve_found_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	FlFleet *self = g_task_get_source_object(task);
	DecideData *dd = g_task_get_task_data(task);
	GError *error = NULL;
	g_autoptr(FlMergeState) state = fl_worktree_find_merge_finish(res, &error);

	if (state == NULL) {
		fl_fleet_decide_failed(task, error);
		return;
	}
	if (state->merged) {
		/* on the base already (an approval cut short, or merged by hand): record it */
		g_free(dd->data->merge_commit);
		dd->data->merge_commit = g_strdup(state->merge_commit);
		if (dd->intent == NULL &&
		    !fl_fleet_record_intent(self, dd, state->draft_tip, &error)) {
			fl_fleet_decide_failed(task, error);
			return;
		}
		fl_fleet_merged(task);
		return;
	}
	if (dd->recovering) {
		/* no merge happened: roll the intent back, the draft stays pending */
		fl_set_error(&error, FL_ERROR_FAILED,
			     N_("session %u: flotillad stopped before merging; the draft is "
				"still pending"),
			     dd->id);
		fl_fleet_decide_failed(task, error);
		return;
	}
	if (!fl_fleet_record_intent(self, dd, state->draft_tip, &error)) {
		fl_fleet_decide_failed(task, error);
		return;
	}
	fl_crash_point("approve:intent");
	fl_fleet_merge(task);
}

static void
fl_fleet_reject_found_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	FlFleet *self = g_task_get_source_object(task);
	DecideData *dd = g_task_get_task_data(task);
	GError *error = NULL;
	g_autoptr(FlMergeState) state = fl_worktree_find_merge_finish(res, &error);
	FlSessionData *d = dd->data;

	if (state == NULL && !g_error_matches(error, FL_ERROR, FL_ERROR_NOT_FOUND)) {
		fl_fleet_decide_failed(task, error);
		return;
	}
	g_clear_error(&error);
	if (state != NULL && state->merged) {
		/* never "rejected" while the draft is on the base branch */
		fl_set_error(&error, FL_ERROR_ALREADY_DECIDED,
			     N_("session %u's draft is already merged into %s: nothing "
				"rejected"),
			     dd->id, d->base);
		fl_fleet_decide_failed(task, error);
		return;
	}
	if (!fl_fleet_record_intent(self, dd, state != NULL ? state->draft_tip : NULL, &error)) {
		fl_fleet_decide_failed(task, error);
		return;
	}
	fl_crash_point("reject:intent");
	fl_worktree_remove_async(d->repo, d->worktree, d->branch, NULL, fl_fleet_remove_cb, task);
}

static void
fl_fleet_revert(GTask *task);

static void
fl_fleet_reverted(GTask *task, const gchar *commit)
{
	DecideData *dd = g_task_get_task_data(task);
	g_autofree gchar *shortid = g_strndup(commit, 10);
	g_autofree gchar *message = fl_msg_stored(N_("session %u reverted on %s (%s)"), dd->id,
						  dd->data->base, shortid);
	g_autofree gchar *note = dd->note;

	dd->note = g_strdup_printf("%s%s%s", shortid, note != NULL ? ": " : "",
				   note != NULL ? note : "");
	fl_fleet_decided(task, FL_REVIEW_REVERTED, message);
}

static void
fl_fleet_revert_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	DecideData *dd = g_task_get_task_data(task);
	GError *error = NULL;
	g_autofree gchar *commit = fl_worktree_revert_finish(res, &error);

	if (commit == NULL) {
		if (g_error_matches(error, FL_ERROR, FL_ERROR_BUSY) &&
		    ++dd->attempts < FL_DECIDE_ATTEMPTS) {
			g_error_free(error);
			fl_fleet_revert(task);
			return;
		}
		fl_fleet_decide_failed(task, error);
		return;
	}
	fl_crash_point("revert:reverted");
	fl_fleet_reverted(task, commit);
}

static void
fl_fleet_revert(GTask *task)
{
	FlFleet *self = g_task_get_source_object(task);
	DecideData *dd = g_task_get_task_data(task);
	FlSessionData *d = dd->data;
	GError *error = NULL;
	g_autofree gchar *msg = g_strdup_printf("Revert flotilla session %u\n\nThis reverts "
						"merge %s.\n",
						d->id, d->merge_commit);
	g_autofree gchar *scratch =
		g_build_filename(fl_store_get_state_dir(self->store), "tmp", NULL);

	if (!fl_ensure_dir(scratch, &error)) {
		fl_fleet_decide_failed(task, error);
		return;
	}
	fl_worktree_revert_async(d->repo, d->base, d->merge_commit, msg, scratch, NULL,
				 fl_fleet_revert_cb, task);
}

static void
fl_fleet_revert_found_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	DecideData *dd = g_task_get_task_data(task);
	GError *error = NULL;
	g_autofree gchar *commit = fl_worktree_find_revert_finish(res, &error);

	if (commit == NULL) {
		fl_fleet_decide_failed(task, error);
		return;
	}
	if (commit[0] != '\0') {
		fl_fleet_reverted(task, commit);
		return;
	}
	fl_set_error(&error, FL_ERROR_FAILED,
		     N_("session %u: flotillad stopped before reverting; it is still "
			"approved"),
		     dd->id);
	fl_fleet_decide_failed(task, error);
}

/*
 * `flotilla refresh`: the draft's commits replayed onto its base branch's tip from git's
 * objects alone (fl-refresh.c), then, write-ahead like every decision, the intent (the tip
 * before and the base it goes onto) recorded, the branch moved by compare and swap, the move
 * recorded (intent phase "verify"), the draft worktree's files brought along, and the verify
 * command run again against the new tip. A daemon killed anywhere finishes from git's truth:
 * a branch that did not move rolls back, one that moved is recorded and verified.
 */
static void
fl_fleet_refresh_found_cb(GObject *source, GAsyncResult *res, gpointer user_data);

static void
fl_fleet_refresh_verified_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	FlFleet *self = g_task_get_source_object(task);
	DecideData *dd = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	FlVerify verify = fl_session_verify_finish(FL_SESSION(source), res, &error);
	g_autofree gchar *shortid = g_strndup(dd->data->base_commit, 10);
	g_autofree gchar *message = NULL;

	fl_crash_point("refresh:verified");
	if (error != NULL) {
		g_free(dd->data->reason);
		dd->data->reason = fl_error_serialize_prefixed(error, N_("verify could not run: "));
		verify = FL_VERIFY_FAIL;
	}
	dd->data->verify = verify;
	g_free(dd->data->verify_base);
	dd->data->verify_base = verify != FL_VERIFY_NONE ? g_strdup(dd->data->base_commit) : NULL;
	switch (verify) {
	case FL_VERIFY_PASS:
		message = fl_msg_stored(N_("session %u refreshed onto %s (%s): verify passed"),
					dd->id, dd->data->base, shortid);
		break;
	case FL_VERIFY_FAIL:
	case FL_VERIFY_TIMEOUT:
		message = fl_msg_stored(N_("session %u refreshed onto %s (%s): verify failed"),
					dd->id, dd->data->base, shortid);
		break;
	case FL_VERIFY_NONE:
	default:
		message = fl_msg_stored(N_("session %u refreshed onto %s (%s)"), dd->id,
					dd->data->base, shortid);
		break;
	}
	g_free(dd->note);
	dd->note = g_strdup(fl_verify_to_string(verify));
	fl_fleet_record(self, dd, FL_REVIEW_PENDING, message, FALSE);
	fl_fleet_decide_return(task, message);
}

static void
fl_fleet_refresh_checked_out_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	FlFleet *self = g_task_get_source_object(task);
	DecideData *dd = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	FlSessionEnv env = {
		.config = self->config,
		.state_dir = fl_store_get_state_dir(self->store),
		.runner_path = self->runner_path,
		.http_path = self->http_path,
	};
	g_autoptr(FlSession) session = NULL;

	/* the branch moved and is recorded: a worktree that did not follow is said, and the
	 * verify result stays missing rather than checking files of the old tip */
	if (!fl_worktree_checkout_finish(res, &error)) {
		g_autofree gchar *message =
			fl_msg_stored(N_("session %u refreshed onto %s, but its worktree did not "
					 "follow: %s"),
				      dd->id, dd->data->base, error->message);

		g_warning("session %u: its worktree did not follow the refresh: %s", dd->id,
			  error->message);
		fl_fleet_record(self, dd, FL_REVIEW_PENDING, message, FALSE);
		fl_fleet_decide_return(task, message);
		return;
	}
	fl_crash_point("refresh:checked-out");
	session = fl_session_new(fl_session_data_copy(dd->data), &env);
	fl_session_verify_async(session, NULL, fl_fleet_refresh_verified_cb, task);
}

/* the branch is at @new_tip: the worktree follows it, then verify runs */
static void
fl_fleet_refresh_checkout(GTask *task, const gchar *new_tip)
{
	FlFleet *self = g_task_get_source_object(task);
	DecideData *dd = g_task_get_task_data(task);
	FlSessionData *d = dd->data;
	g_autofree gchar *dir = fl_session_data_dir(fl_store_get_state_dir(self->store), d->id);

	if (d->worktree == NULL || !g_file_test(d->worktree, G_FILE_TEST_IS_DIR)) {
		/* nothing to check out into (a cluster's draft): no verify can run either */
		g_autoptr(FlSession) session = NULL;
		FlSessionEnv env = {
			.config = self->config,
			.state_dir = fl_store_get_state_dir(self->store),
			.runner_path = self->runner_path,
			.http_path = self->http_path,
		};

		session = fl_session_new(fl_session_data_copy(d), &env);
		fl_session_verify_async(session, NULL, fl_fleet_refresh_verified_cb, task);
		return;
	}
	fl_worktree_checkout_async(d->repo, d->worktree, dir, dd->intent->draft_tip, new_tip, NULL,
				   fl_fleet_refresh_checked_out_cb, task);
}

/* the branch moved to @new_tip: recorded with the intent's next phase, in one transaction */
static gboolean
fl_fleet_refresh_record_move(FlFleet *self, DecideData *dd, const gchar *new_tip, GError **error)
{
	FlSessionData *d = dd->data;
	g_autofree gchar *note = g_strdup_printf("%.10s → %.10s", d->base_commit, dd->intent->note);

	g_free(d->refreshed_from);
	d->refreshed_from = g_strdup(d->base_commit);
	g_free(d->base_commit);
	d->base_commit = g_strdup(dd->intent->note);
	g_free(d->verify_commit);
	d->verify_commit = g_strdup(new_tip);
	g_clear_pointer(&d->verify_base, g_free);
	d->verify = FL_VERIFY_NONE;
	g_free(dd->intent->phase);
	dd->intent->phase = g_strdup("verify");
	fl_store_begin(self->store);
	if (!fl_store_intent_set(self->store, dd->intent, error)) {
		fl_store_rollback(self->store);
		return FALSE;
	}
	fl_fleet_save(self, d);
	fl_fleet_audit(self, dd->id, "moved", dd->source, note);
	if (!fl_store_commit(self->store)) {
		fl_set_error_literal(error, FL_ERROR_FAILED,
				     N_("the database did not take the change"));
		return FALSE;
	}
	return TRUE;
}

static void
fl_fleet_refresh_moved_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	FlFleet *self = g_task_get_source_object(task);
	DecideData *dd = g_task_get_task_data(task);
	GError *error = NULL;
	g_autofree gchar *new_tip = g_strdup(dd->data->verify_commit);

	if (!fl_refresh_move_finish(res, &error)) {
		fl_fleet_decide_failed(task, error);
		return;
	}
	fl_crash_point("refresh:moved");
	if (!fl_fleet_refresh_record_move(self, dd, new_tip, &error)) {
		/* git has moved: a restart finds the intent and records it from git's truth */
		g_warning("session %u: %s", dd->id, error->message);
		g_task_return_error(task, error);
		fl_fleet_decide_done(task);
		return;
	}
	fl_crash_point("refresh:recorded");
	fl_fleet_refresh_checkout(task, new_tip);
}

static void
fl_fleet_refresh_rebased_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	FlFleet *self = g_task_get_source_object(task);
	DecideData *dd = g_task_get_task_data(task);
	GError *error = NULL;
	g_autoptr(FlRefresh) refresh = fl_refresh_rebase_finish(res, &error);
	g_autofree gchar *message = NULL;

	if (refresh == NULL) {
		/* nothing changed: said with the files, recorded, the draft as it was */
		fl_prefix_error(&error, N_("session %u: "), dd->id);
		if (g_error_matches(error, FL_ERROR, FL_ERROR_CONFLICT)) {
			/* the conflict's message, then ours: both translated when read */
			FlMsg *full = fl_msg_new(N_("; nothing changed (flotilla retry %u "
						    "--onto-current starts it again on the tip)"),
						 dd->id);

			fl_msg_prepend(full, fl_error_get_msg(error) != NULL
						     ? fl_msg_copy(fl_error_get_msg(error))
						     : fl_msg_new_literal(error->message));
			g_free(error->message);
			error->message = fl_msg_render_english(full);
			fl_error_set_msg(error, full);
		}
		fl_fleet_decide_failed(task, error);
		return;
	}
	if (g_strcmp0(refresh->new_tip, refresh->old_tip) == 0) {
		message = fl_msg_stored(N_("session %u is on the tip of %s already; nothing "
					   "changed"),
					dd->id, dd->data->base);
		fl_fleet_decide_return(task, message);
		return;
	}
	fl_intent_free(dd->intent);
	dd->intent = g_new0(FlIntent, 1);
	dd->intent->id = dd->id;
	dd->intent->op = g_strdup("refresh");
	dd->intent->phase = g_strdup("act");
	dd->intent->draft_tip = g_strdup(refresh->old_tip);
	dd->intent->note = g_strdup(refresh->onto);
	dd->intent->source = g_strdup(dd->source);
	dd->intent->token = g_strdup(dd->token);
	if (!fl_store_intent_set(self->store, dd->intent, &error)) {
		g_clear_pointer(&dd->intent, fl_intent_free);
		fl_fleet_decide_failed(task, error);
		return;
	}
	fl_crash_point("refresh:intent");
	g_free(dd->data->verify_commit);
	dd->data->verify_commit = g_strdup(refresh->new_tip);
	fl_refresh_move_async(dd->data->repo, dd->data->branch, refresh->old_tip, refresh->new_tip,
			      NULL, fl_fleet_refresh_moved_cb, task);
}

/* recovery: where the branch is says what a dead daemon got done */
static void
fl_fleet_refresh_found_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	FlFleet *self = g_task_get_source_object(task);
	DecideData *dd = g_task_get_task_data(task);
	GError *error = NULL;
	g_autofree gchar *tip = fl_refresh_tip_finish(res, &error);

	if (tip == NULL) {
		fl_fleet_decide_failed(task, error);
		return;
	}
	if (g_strcmp0(dd->intent->phase, "verify") == 0) {
		/* moved and recorded: the worktree and the verify result are left */
		fl_fleet_refresh_checkout(task, tip);
		return;
	}
	if (g_strcmp0(tip, dd->intent->draft_tip) == 0) {
		fl_set_error(&error, FL_ERROR_FAILED,
			     N_("session %u: flotillad stopped before refreshing; the draft "
				"is as it was"),
			     dd->id);
		fl_fleet_decide_failed(task, error);
		return;
	}
	if (!fl_fleet_refresh_record_move(self, dd, tip, &error)) {
		g_warning("session %u: %s", dd->id, error->message);
		g_task_return_error(task, error);
		fl_fleet_decide_done(task);
		return;
	}
	fl_fleet_refresh_checkout(task, tip);
}

/* what a previous daemon left half-done: finished or rolled back from git's truth */
static void
fl_fleet_recover_run(GTask *task)
{
	DecideData *dd = g_task_get_task_data(task);
	FlSessionData *d = dd->data;
	const gchar *phase = dd->intent->phase;

	g_message("session %u: finishing the %s a previous flotillad left half-done", dd->id,
		  dd->intent->op);
	switch (dd->decision) {
	case FL_DECISION_APPROVE:
		if (g_strcmp0(phase, "cleanup") == 0) {
			/* recorded as approved already: only the draft is left to remove */
			fl_worktree_remove_async(d->repo, d->worktree, d->branch, NULL,
						 fl_fleet_remove_cb, task);
			return;
		}
		fl_worktree_find_merge_async(d->repo, d->branch, dd->intent->draft_tip, d->base,
					     NULL, fl_fleet_approve_found_cb, task);
		return;
	case FL_DECISION_REJECT:
		/* the human said no and it was recorded: the removal is finished */
		fl_worktree_remove_async(d->repo, d->worktree, d->branch, NULL, fl_fleet_remove_cb,
					 task);
		return;
	case FL_DECISION_REFRESH:
		fl_refresh_tip_async(d->repo, d->branch, NULL, fl_fleet_refresh_found_cb, task);
		return;
	default:
		fl_worktree_find_revert_async(d->repo, d->base, dd->intent->draft_tip, NULL,
					      fl_fleet_revert_found_cb, task);
		return;
	}
}

static gboolean
fl_fleet_decide_check(FlFleet *self, DecideData *dd, GError **error)
{
	FlSessionData *d = dd->data;

	if (fl_state_is_active(d->state)) {
		if (d->state == FL_STATE_BLOCKED)
			fl_set_error(error, FL_ERROR_BUSY,
				     N_("session %u is blocked, asking: %s — answer it with "
					"flotilla reply %u"),
				     d->id, d->waiting_for != NULL ? d->waiting_for : "?", d->id);
		else
			fl_set_error(error, FL_ERROR_BUSY,
				     N_("session %u is still %s: there is no draft to decide yet"),
				     d->id, fl_state_msgid(d->state));
		return FALSE;
	}
	if (dd->decision == FL_DECISION_REVERT) {
		if (d->review == FL_REVIEW_REVERTED) {
			fl_set_error(error, FL_ERROR_ALREADY_DECIDED,
				     N_("session %u was already reverted"), d->id);
			return FALSE;
		}
		if (d->review != FL_REVIEW_APPROVED || d->merge_commit == NULL) {
			fl_set_error(
				error, FL_ERROR_WRONG_STATE,
				N_("session %u was not merged (review: %s): nothing to revert"),
				d->id, fl_review_msgid(d->review));
			return FALSE;
		}
		return TRUE;
	}
	if (dd->decision == FL_DECISION_REFRESH && d->review != FL_REVIEW_PENDING &&
	    d->review != FL_REVIEW_NONE) {
		/* the bad input: there is no draft left to move */
		fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
			     N_("session %u was already %s: only a pending draft can be refreshed"),
			     d->id, fl_review_msgid(d->review));
		return FALSE;
	}
	if (d->review == FL_REVIEW_NONE) {
		if (dd->decision == FL_DECISION_REFRESH)
			fl_set_error(error, FL_ERROR_WRONG_STATE,
				     N_("session %u made no changes: there is nothing to refresh"),
				     d->id);
		else if (dd->decision == FL_DECISION_APPROVE)
			fl_set_error(error, FL_ERROR_WRONG_STATE,
				     N_("session %u made no changes: there is nothing to approve"),
				     d->id);
		else
			fl_set_error(error, FL_ERROR_WRONG_STATE,
				     N_("session %u made no changes: there is nothing to reject"),
				     d->id);
		return FALSE;
	}
	if (d->review != FL_REVIEW_PENDING) {
		fl_set_error(error, FL_ERROR_ALREADY_DECIDED,
			     N_("session %u was already %s; nothing changed"), d->id,
			     fl_review_msgid(d->review));
		return FALSE;
	}
	return TRUE;
}

static void
fl_fleet_decide_run(GTask *task)
{
	FlFleet *self = g_task_get_source_object(task);
	DecideData *dd = g_task_get_task_data(task);
	GError *error = NULL;
	g_autofree gchar *message = NULL;
	g_autofree gchar *answer = NULL;
	Unsaved *unsaved;
	FlSessionData *d;

	/* read afresh: a decision that waited for its turn sees the one before it; memory's
	 * data when the store has not taken it yet */
	fl_session_data_free(dd->data);
	unsaved = g_hash_table_lookup(self->unsaved, GUINT_TO_POINTER(dd->id));
	if (unsaved != NULL)
		dd->data = fl_session_data_copy(unsaved->data);
	else
		dd->data = fl_store_get_session(self->store, dd->id, &error);
	if (dd->data == NULL) {
		if (dd->recovering) {
			fl_fleet_decide_failed(task, error);
			return;
		}
		g_task_return_error(task, error);
		fl_fleet_decide_done(task);
		return;
	}
	if (dd->recovering) {
		fl_fleet_recover_run(task);
		return;
	}
	/* the same request again (its caller lost the first answer): the first answer */
	answer = fl_store_request_get(self->store, dd->token,
				      fl_fleet_decision_method(dd->decision));
	if (answer != NULL) {
		fl_fleet_decide_return(task, answer);
		return;
	}
	d = dd->data;
	if (dd->decision == FL_DECISION_APPROVE && d->review == FL_REVIEW_APPROVED) {
		/* approving twice is what a script does after a lost answer: no harm, say so */
		g_autofree gchar *shortid =
			d->merge_commit != NULL ? g_strndup(d->merge_commit, 10) : g_strdup("?");
		message = fl_msg_stored(N_("session %u was already approved: merged into %s (%s); "
					   "nothing changed"),
					d->id, d->base != NULL ? d->base : "?", shortid);
		fl_fleet_decide_return(task, message);
		return;
	}
	if (dd->decision == FL_DECISION_APPROVE && d->after != 0 && d->after_done) {
		g_autoptr(FlSessionData) dep = fl_fleet_get_session(self, d->after, NULL);

		/* made on the other's draft: merging it would land that one's unreviewed (or
		 * rejected) commits along with it */
		if (dep != NULL && dep->review != FL_REVIEW_APPROVED &&
		    dep->review != FL_REVIEW_NONE) {
			fl_set_error(&error, FL_ERROR_WRONG_STATE,
				     N_("session %u was made on the draft of #%u, which is %s: "
					"approve #%u first"),
				     d->id, d->after, fl_review_msgid(dep->review), d->after);
			g_task_return_error(task, error);
			fl_fleet_decide_done(task);
			return;
		}
	}
	if (!fl_fleet_decide_check(self, dd, &error)) {
		g_task_return_error(task, error);
		fl_fleet_decide_done(task);
		return;
	}
	if (d->repo == NULL && dd->decision == FL_DECISION_REFRESH) {
		fl_task_return_new_error(task, FL_ERROR_INVALID_ARGUMENT,
					 N_("session %u ran without a repository: it has no base "
					    "branch to refresh onto"),
					 d->id);
		fl_fleet_decide_done(task);
		return;
	}
	if (d->repo == NULL) {
		/* a scratch session's draft is its output: deciding only records the verdict */
		if (dd->decision == FL_DECISION_REJECT && d->worktree != NULL) {
			const gchar *argv[] = {"rm", "-rf", "--", d->worktree, NULL};
			g_spawn_async(NULL, (gchar **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
				      NULL, NULL);
		}
		message = fl_msg_stored(
			dd->decision == FL_DECISION_APPROVE  ? N_("session %u approved")
			: dd->decision == FL_DECISION_REJECT ? N_("session %u rejected")
							     : N_("session %u reverted"),
			dd->id);
		fl_fleet_decided(task,
				 dd->decision == FL_DECISION_APPROVE  ? FL_REVIEW_APPROVED
				 : dd->decision == FL_DECISION_REJECT ? FL_REVIEW_REJECTED
								      : FL_REVIEW_REVERTED,
				 message);
		return;
	}
	switch (dd->decision) {
	case FL_DECISION_APPROVE:
		fl_worktree_find_merge_async(d->repo, d->branch, NULL, d->base, NULL,
					     fl_fleet_approve_found_cb, task);
		break;
	case FL_DECISION_REJECT:
		fl_worktree_find_merge_async(d->repo, d->branch, NULL, d->base, NULL,
					     fl_fleet_reject_found_cb, task);
		break;
	case FL_DECISION_REVERT:
		if (!fl_fleet_record_intent(self, dd, d->merge_commit, &error)) {
			fl_fleet_decide_failed(task, error);
			return;
		}
		fl_crash_point("revert:intent");
		fl_fleet_revert(task);
		break;
	case FL_DECISION_REFRESH:
		fl_refresh_rebase_async(d->repo, d->branch, d->base, d->base_commit, NULL,
					fl_fleet_refresh_rebased_cb, task);
		break;
	default:
		g_assert_not_reached();
	}
}

/* queues @task behind the decisions under way in the same repository */
static void
fl_fleet_decide_queue(FlFleet *self, GTask *task)
{
	DecideData *dd = g_task_get_task_data(task);
	GQueue *waiting = g_hash_table_lookup(self->deciding, dd->key);

	if (waiting != NULL) {
		g_queue_push_tail(waiting, task);
		return;
	}
	g_hash_table_insert(self->deciding, g_strdup(dd->key), g_queue_new());
	fl_fleet_decide_run(task);
}

static gchar *
fl_fleet_decide_key(const FlSessionData *d, guint id)
{
	if (d != NULL && d->repo != NULL)
		return g_strdup(d->repo);
	return g_strdup_printf("#%u", id);
}

/* a recovery has no caller: its answer waits in the store for a retried request */
static void
fl_fleet_recover_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *message = fl_fleet_decide_finish(FL_FLEET(source), res, &error);

	if (message != NULL) {
		g_autofree gchar *text = fl_msg_render_stored(message);

		g_message("%s", text);
	} else {
		g_message("%s", error->message);
	}
}

/* the intents a dead daemon left: queued before any new decision can arrive */
static void
fl_fleet_recover(FlFleet *self)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) intents = fl_store_get_intents(self->store, &error);

	if (intents == NULL) {
		g_warning("cannot read decisions under way: %s", error->message);
		return;
	}
	for (guint i = 0; i < intents->len; i++) {
		FlIntent *intent = g_ptr_array_index(intents, i);
		g_autoptr(FlSessionData) d = fl_store_get_session(self->store, intent->id, NULL);
		GTask *task = g_task_new(self, NULL, fl_fleet_recover_done_cb, NULL);
		DecideData *dd = g_new0(DecideData, 1);

		dd->id = intent->id;
		dd->decision = g_strcmp0(intent->op, "approve") == 0   ? FL_DECISION_APPROVE
			       : g_strcmp0(intent->op, "reject") == 0  ? FL_DECISION_REJECT
			       : g_strcmp0(intent->op, "refresh") == 0 ? FL_DECISION_REFRESH
								       : FL_DECISION_REVERT;
		dd->note = g_strdup(intent->note);
		dd->source = g_strdup(intent->source != NULL ? intent->source : "cli");
		dd->token = g_strdup(intent->token);
		dd->key = fl_fleet_decide_key(d, intent->id);
		dd->recovering = TRUE;
		g_ptr_array_index(intents, i) = NULL;
		dd->intent = intent;
		g_task_set_task_data(task, dd, (GDestroyNotify)fl_fleet_decide_data_free);
		fl_fleet_decide_queue(self, task);
	}
}

void
fl_fleet_decide_async(FlFleet *self, guint id, FlDecision decision, const gchar *note,
		      const gchar *source, const gchar *token, GAsyncReadyCallback callback,
		      gpointer user_data)
{
	GTask *task;
	g_autoptr(FlSessionData) d = NULL;
	DecideData *dd;

	g_return_if_fail(FL_IS_FLEET(self));

	task = g_task_new(self, NULL, callback, user_data);
	if (g_hash_table_contains(self->permissions, GUINT_TO_POINTER(id)) &&
	    (decision == FL_DECISION_APPROVE || decision == FL_DECISION_REJECT)) {
		gboolean allow = decision == FL_DECISION_APPROVE;
		fl_fleet_audit(self, id, allow ? "allowed" : "denied", source, note);
		fl_fleet_answer_permission(self, id, allow, note);
		g_task_return_pointer(task,
				      fl_msg_stored(allow ? N_("session %u: allowed; it goes on")
							  : N_("session %u: denied; it goes on"),
						    id),
				      g_free);
		g_object_unref(task);
		return;
	}
	dd = g_new0(DecideData, 1);
	dd->id = id;
	dd->decision = decision;
	dd->note = g_strdup(note);
	dd->source = g_strdup(source != NULL ? source : "cli");
	dd->token = g_strdup(token);
	d = fl_store_get_session(self->store, id, NULL);
	dd->key = fl_fleet_decide_key(d, id);
	g_task_set_task_data(task, dd, (GDestroyNotify)fl_fleet_decide_data_free);
	fl_fleet_decide_queue(self, task);
}

/* the outcome as a stored message (fl-msg.h): its reader renders it in their language */
gchar *
fl_fleet_decide_finish(FlFleet *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(FL_IS_FLEET(self), NULL);
	g_return_val_if_fail(g_task_is_valid(res, self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	return g_task_propagate_pointer(G_TASK(res), error);
}

/* ------------------------------------------------------------------ object */

FlFleet *
fl_fleet_new(const FlConfig *config, FlStore *store, const gchar *runner_path,
	     const gchar *http_path)
{
	FlFleet *self;

	g_return_val_if_fail(config != NULL, NULL);
	g_return_val_if_fail(FL_IS_STORE(store), NULL);
	g_return_val_if_fail(runner_path != NULL && http_path != NULL, NULL);

	self = g_object_new(FL_TYPE_FLEET, NULL);
	self->config = config;
	self->store = g_object_ref(store);
	self->runner_path = g_strdup(runner_path);
	self->http_path = g_strdup(http_path);
	{
		g_autofree gchar *paused = fl_fleet_paused_path(self);
		self->paused = g_file_test(paused, G_FILE_TEST_EXISTS);
	}
	return self;
}

static void
fl_fleet_finalize(GObject *object)
{
	FlFleet *self = FL_FLEET(object);
	GHashTableIter iter;
	gpointer value;

	g_clear_handle_id(&self->start_id, g_source_remove);
	g_clear_handle_id(&self->budget_id, g_source_remove);
	g_clear_handle_id(&self->unsaved_id, g_source_remove);
	g_hash_table_unref(self->unsaved);
	g_free(self->store_error);
	g_hash_table_iter_init(&iter, self->live);
	while (g_hash_table_iter_next(&iter, NULL, &value))
		g_signal_handlers_disconnect_by_data(value, self);
	g_queue_clear(&self->queue);
	g_hash_table_unref(self->live);
	g_hash_table_unref(self->deciding);
	g_hash_table_unref(self->blocks);
	g_hash_table_unref(self->requests);
	g_hash_table_unref(self->permissions);
	g_object_unref(self->store);
	g_free(self->runner_path);
	g_free(self->http_path);
	G_OBJECT_CLASS(fl_fleet_parent_class)->finalize(object);
}

static void
fl_fleet_class_init(FlFleetClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = fl_fleet_finalize;
	/* the three carry the session's data, unowned and unchanged until the handlers return
	 * (STATIC_SCOPE: no copy per emission); see fl-fleet.h */
	signals[SIGNAL_SESSION_CHANGED] = g_signal_new(
		"session-changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
		G_TYPE_NONE, 1, FL_TYPE_SESSION_DATA | G_SIGNAL_TYPE_STATIC_SCOPE);
	signals[SIGNAL_SESSION_ENDED] = g_signal_new(
		"session-ended", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
		G_TYPE_NONE, 1, FL_TYPE_SESSION_DATA | G_SIGNAL_TYPE_STATIC_SCOPE);
	signals[SIGNAL_SESSION_BLOCKED] = g_signal_new(
		"session-blocked", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
		G_TYPE_NONE, 1, FL_TYPE_SESSION_DATA | G_SIGNAL_TYPE_STATIC_SCOPE);
}

static void
fl_fleet_init(FlFleet *self)
{
	self->live = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_object_unref);
	self->deciding = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					       (GDestroyNotify)g_queue_free);
	self->blocks = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_object_unref);
	self->requests = g_hash_table_new(g_direct_hash, g_direct_equal);
	self->permissions = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
						  (GDestroyNotify)fl_fleet_permission_free);
	self->unsaved = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
					      (GDestroyNotify)fl_fleet_unsaved_free);
}
