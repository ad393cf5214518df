/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "fl-config.h"
#include "fl-session.h"
#include "fl-store.h"

G_BEGIN_DECLS

/*
 * The fleet: every live session, the FIFO queue behind max-parallel, the WIP limit on
 * unreviewed drafts, and the decisions on drafts (approve, reject, revert), write-ahead and
 * serialized per repository so racing approvals queue and each merges exactly once.
 *
 * Signals, each with the session's FlSessionData (FL_TYPE_SESSION_DATA, unowned: copy it to
 * keep it); fl-daemon.c turns them into D-Bus, fl-checkin.c into notifications:
 *   "session-changed" (FlSessionData *data): after every change that was saved to the store,
 *                     the session's end included;
 *   "session-blocked" (FlSessionData *data): the session waits for the user (`flotilla
 *                     blocked`, an agent's permission request); data->waiting_for says on what;
 *   "session-ended"   (FlSessionData *data): the session is no longer active; its final state
 *                     and audit row are stored.
 */
#define FL_TYPE_FLEET (fl_fleet_get_type())
G_DECLARE_FINAL_TYPE(FlFleet, fl_fleet, FL, FLEET, GObject)

typedef enum {
	FL_DECISION_APPROVE,
	FL_DECISION_REJECT,
	FL_DECISION_REVERT,
	/* `flotilla refresh`: replay a pending draft onto its base branch's tip, verify again */
	FL_DECISION_REFRESH,
} FlDecision;

/* @runner_path: flotilla-runner; @http_path: flotilla-http */
FlFleet *
fl_fleet_new(const FlConfig *config, FlStore *store, const gchar *runner_path,
	     const gchar *http_path);
/* adopts what a previous daemon left running and starts what is queued */
void
fl_fleet_start(FlFleet *self);
/* stop starting sessions (the daemon is going away; sessions keep running) */
void
fl_fleet_stop(FlFleet *self);

/* @specs: aa{sv} as in the D-Bus Run method; result: the new ids (GArray of guint) */
void
fl_fleet_run_async(FlFleet *self, GVariant *specs, GAsyncReadyCallback callback,
		   gpointer user_data);
GArray *
fl_fleet_run_finish(FlFleet *self, GAsyncResult *res, GError **error);

gboolean
fl_fleet_cancel(FlFleet *self, guint id, GError **error);
/*
 * the user saw session @id fail (or be cancelled) and lets it go: it leaves review and the
 * digest, with an audit row from @source. Refused for a draft awaiting review (that is
 * `reject`) and for a session that has not ended badly.
 */
gboolean
fl_fleet_dismiss(FlFleet *self, guint id, const gchar *source, GError **error);

/*
 * returns a one-line message saying what happened. With a @token (nullable), a second call
 * with the same token gets the first call's answer instead of deciding again.
 */
void
fl_fleet_decide_async(FlFleet *self, guint id, FlDecision decision, const gchar *note,
		      const gchar *source, const gchar *token, GAsyncReadyCallback callback,
		      gpointer user_data);
gchar *
fl_fleet_decide_finish(FlFleet *self, GAsyncResult *res, GError **error);

/* blocks a running session on @message until fl_fleet_reply(); returns the reply */
void
fl_fleet_block_async(FlFleet *self, guint id, const gchar *message, GAsyncReadyCallback callback,
		     gpointer user_data);
gchar *
fl_fleet_block_finish(FlFleet *self, GAsyncResult *res, GError **error);
gboolean
fl_fleet_reply(FlFleet *self, guint id, const gchar *text, GError **error);
/*
 * the question session @id waits on now, as a serial that is new for every question (0 when
 * it waits on none this daemon can answer); @permission (nullable): whether it is an agent's
 * permission request, answered yes or no
 */
guint
fl_fleet_get_request(FlFleet *self, guint id, gboolean *permission);

/*
 * an agent hook (`flotilla hook KIND` inside session @id) with its JSON payload; returns the
 * JSON the hook prints. The agent kind (fl-agent.h) reads the payload; the fleet only keeps
 * what it parks: a permission request waits for approve/reject (or a reply: deny with the
 * text) and is denied when nobody answers in time.
 */
void
fl_fleet_hook_async(FlFleet *self, const gchar *agent, guint id, const gchar *payload,
		    GAsyncReadyCallback callback, gpointer user_data);
gchar *
fl_fleet_hook_finish(FlFleet *self, GAsyncResult *res, GError **error);

/* a copy of one session's data, live or from the store */
FlSessionData *
fl_fleet_get_session(FlFleet *self, guint id, GError **error);

guint
fl_fleet_get_running(FlFleet *self);
guint
fl_fleet_get_queued(FlFleet *self);
guint
fl_fleet_get_blocked(FlFleet *self);
/* why changes are kept in memory because the store does not take them, or NULL */
const gchar *
fl_fleet_get_store_error(FlFleet *self);
/* sessions on @placement (a [cluster NAME]) that are running or blocked there */
guint
fl_fleet_get_running_on(FlFleet *self, const gchar *placement);
/* a copy of a live session on a cluster, as the store cannot tell it (what Slurm says, where
 * its log is written); NULL for any other */
FlSessionData *
fl_fleet_get_placed(FlFleet *self, guint id);
/* why queued sessions wait although slots are free, or NULL */
gchar *
fl_fleet_get_held_reason(FlFleet *self);
/* a paused queue starts no session until resumed; saved in the state directory */
gboolean
fl_fleet_set_paused(FlFleet *self, gboolean paused, GError **error);
gboolean
fl_fleet_get_paused(FlFleet *self);
/* pause --group: the group's queued sessions wait (the rest of the queue goes on) */
gboolean
fl_fleet_set_group_paused(FlFleet *self, const gchar *name, gboolean paused, GError **error);
/* a race's losing draft: rejected as an alternative, with @note (a stored message,
 * fl-msg.h) as the reason; unlike a reject, its worktree and branch stay for looking at */
gboolean
fl_fleet_keep_alternative(FlFleet *self, guint id, const gchar *note, GError **error);
/* the recorded cost of the sessions started today (local time), every run of each */
gdouble
fl_fleet_get_spent_today(FlFleet *self);
/* starts what the limits allow now, after they changed */
void
fl_fleet_kick(FlFleet *self);

G_END_DECLS
