/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "fl-session-data.h"

G_BEGIN_DECLS

/*
 * The durable record of every session, its audit trail and the notification ledger:
 * SQLite in WAL mode with synchronous=FULL under the state directory, versioned schema with
 * forward migrations. A database that cannot be read, or that a newer flotillad wrote, is
 * refused and left exactly as it is.
 */
#define FL_TYPE_STORE (fl_store_get_type())
G_DECLARE_FINAL_TYPE(FlStore, fl_store, FL, STORE, GObject)

#define FL_STORE_SCHEMA_VERSION 11

FlStore *
fl_store_new(const gchar *state_dir, GError **error);

/*
 * Reads every page of the database in a worker thread (PRAGMA quick_check): an error naming
 * the file when it is damaged
 */
void
fl_store_check_async(FlStore *self, GCancellable *cancellable, GAsyncReadyCallback callback,
		     gpointer user_data);
gboolean
fl_store_check_finish(FlStore *self, GAsyncResult *res, GError **error);

/* assigns data->id; inserts rows for every item in one transaction, each with a "queued"
 * event by @queued_by unless that is NULL, and with @token (nullable) remembered as the
 * request that made them (fl_store_request_get(token, "Run") gives the ids) */
gboolean
fl_store_insert_sessions(FlStore *self, GPtrArray *datas, const gchar *queued_by,
			 const gchar *token, GError **error);
/*
 * the same for sessions of one group (each data's group, NULL for none): a new group is
 * recorded with @policy ("all" when NULL: approve and reject decide every member;
 * "first-wins": a race). With @name_by_id the group names are prefixes that get "-<the first
 * new id>" appended, which the datas then carry.
 */
gboolean
fl_store_insert_grouped(FlStore *self, GPtrArray *datas, const gchar *queued_by, const gchar *token,
			const gchar *policy, gboolean name_by_id, GError **error);
gboolean
fl_store_update_session(FlStore *self, const FlSessionData *data, GError **error);
/* NULL + FL_ERROR_NOT_FOUND when there is no such session */
FlSessionData *
fl_store_get_session(FlStore *self, guint id, GError **error);
/* sessions whose state is queued, running or blocked, oldest first */
GPtrArray *
fl_store_get_active(FlStore *self, GError **error);
/*
 * sessions for the agent view as a{sv} dictionaries, newest first: with @all every session
 * (up to @limit, 0 = no limit), else the active ones, the pending drafts and the @recent
 * most recently finished
 */
GVariant *
fl_store_list_variants(FlStore *self, gboolean all, guint limit, guint recent, GError **error);
/* a page of every session: those older than @before (0 = from the newest), newest first, at
 * most @limit (0 = no limit) */
GVariant *
fl_store_list_page(FlStore *self, guint before, guint limit, GError **error);
/* drafts pending review, oldest first */
GPtrArray *
fl_store_get_pending(FlStore *self, GError **error);
/* failed or interrupted sessions without a draft that the user neither dismissed nor retried */
GPtrArray *
fl_store_get_failures(FlStore *self, GError **error);
/*
 * what a digest covers, oldest first: drafts pending review, blocked sessions, failures the
 * ledger has not announced. @announced (optional) gets a gint64 per session: when the ledger
 * first announced it for the reason it is listed (its "blocked" event when blocked, else
 * "draft" when pending review, else "failed"), 0 = never
 */
GPtrArray *
fl_store_get_attention(FlStore *self, GArray **announced, GError **error);
guint
fl_store_count_pending_review(FlStore *self);
/* the recorded cost in dollars of the sessions started at or after @since (µs since the
 * epoch), all their runs; 0 when none or the store cannot say */
gdouble
fl_store_get_cost_since(FlStore *self, gint64 since);
/* ended sessions `flotilla clean` may take, finished at or before @finished_before (µs),
 * oldest first: none active, none with a draft awaiting review, none cleaned already */
GPtrArray *
fl_store_get_cleanable(FlStore *self, gint64 finished_before, GError **error);

gboolean
fl_store_add_event(FlStore *self, guint session_id, const gchar *kind, const gchar *source,
		   const gchar *note, GError **error);
/* a(ssss): time, kind, source, note */
GVariant *
fl_store_get_events(FlStore *self, guint session_id, GError **error);

/* the notification ledger: when (µs) @event of a session was first announced, 0 = never */
gint64
fl_store_ledger_get(FlStore *self, guint session_id, FlLedgerEvent event);
gboolean
fl_store_ledger_set(FlStore *self, guint session_id, FlLedgerEvent event, gint64 when,
		    GError **error);

/*
 * A decision under way (approve, reject, revert): recorded before git is touched, removed
 * in the transaction that records its outcome. A daemon start finds what a dead one left
 * and finishes or undoes it from what git says.
 */
typedef struct {
	guint id;
	gchar *op; /* "approve", "reject", "revert", "refresh" */
	/* "act": git may be half-way; "cleanup": decided, removing the draft; refresh:
	 * "verify": the branch moved and is recorded, the verify result is still to come */
	gchar *phase;
	/* approve, reject: the draft's tip; revert: the merge undone; refresh: the tip before */
	gchar *draft_tip;
	gchar *note; /* refresh: the base commit the draft is replayed onto */
	gchar *source;
	gchar *token; /* the request's token, answered once the intent is done */
	gint64 created;
} FlIntent;

void
fl_intent_free(FlIntent *intent);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlIntent, fl_intent_free)

gboolean
fl_store_intent_set(FlStore *self, const FlIntent *intent, GError **error);
gboolean
fl_store_intent_clear(FlStore *self, guint id, GError **error);
/* every intent left, by session id */
GPtrArray *
fl_store_get_intents(FlStore *self, GError **error);

/* a group of sessions reviewed as one item */
typedef struct {
	gchar *name;
	gchar *policy;   /* "all" or "first-wins" */
	gboolean paused; /* its queued members wait (pause --group) */
	guint winner;    /* first-wins: the session that won, 0 while none has */
} FlGroup;

void
fl_group_free(FlGroup *group);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlGroup, fl_group_free)

/* NULL + FL_ERROR_NOT_FOUND when there is no such group */
FlGroup *
fl_store_get_group(FlStore *self, const gchar *name, GError **error);
/* saves paused and winner */
gboolean
fl_store_set_group(FlStore *self, const FlGroup *group, GError **error);
/* the group's sessions, oldest first */
GPtrArray *
fl_store_get_group_members(FlStore *self, const gchar *name, GError **error);

/*
 * A group decision under way, recorded before its first member is touched and removed once
 * every member is decided; @members: one line per member, "ID DRAFT_TIP BASE_TIP"
 */
typedef struct {
	gchar *name;
	gchar *op; /* "approve" or "reject" */
	gchar *members;
	gchar *note;
	gchar *source;
} FlGroupIntent;

void
fl_group_intent_free(FlGroupIntent *intent);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlGroupIntent, fl_group_intent_free)

gboolean
fl_store_group_intent_set(FlStore *self, const FlGroupIntent *intent, GError **error);
gboolean
fl_store_group_intent_clear(FlStore *self, const gchar *name, GError **error);
GPtrArray *
fl_store_get_group_intents(FlStore *self, GError **error);

/* the answer remembered for a request token and method, or NULL (answers are kept a week) */
gchar *
fl_store_request_get(FlStore *self, const gchar *token, const gchar *method);
gboolean
fl_store_request_set(FlStore *self, const gchar *token, const gchar *method, const gchar *answer,
		     GError **error);

/* groups the writes between them into one durable transaction (not nestable) */
void
fl_store_begin(FlStore *self);
/* FALSE when the transaction could not be committed (it is rolled back) */
gboolean
fl_store_commit(FlStore *self);
void
fl_store_rollback(FlStore *self);

const gchar *
fl_store_get_state_dir(FlStore *self);

/* `flotillad --check`: the whole file checked (integrity_check); @count gets the sessions */
gboolean
fl_store_check_path(const gchar *path, guint *count, GError **error);
/*
 * `flotillad --rebuild FILE`: a new store at @target (which must not exist) holding one
 * session per directory under @state_dir/sessions/, with what its files, its worktree and its
 * `flotilla/<id>` branch tell (a pending draft can be reviewed, approved or rejected again),
 * for the user to move in place of a lost or damaged flotilla.db
 */
gboolean
fl_store_rebuild(const gchar *state_dir, const gchar *target, guint *count, GError **error);

G_END_DECLS
