/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "fl-config.h"
#include "fl-session-data.h"

G_BEGIN_DECLS

/*
 * One live session: starts its runner (after preparing the worktree), watches it while the
 * daemon lives, adopts it after a daemon restart, cancels it, and turns what the agent left
 * into a draft. It knows no agent kind: the argv, live progress and outcome come from the
 * agent's FlAgentClass (fl-agent.h). Emits "changed" after every change of its data (which
 * the owner saves in its "changed" handler) and, once it is no longer active, "ended" instead
 * of a last "changed": the owner saves the final data together with whatever else the end
 * means to it.
 */
#define FL_TYPE_SESSION (fl_session_get_type())
G_DECLARE_FINAL_TYPE(FlSession, fl_session, FL, SESSION, GObject)

typedef struct {
	const FlConfig *config; /* (unowned) */
	const gchar *state_dir;
	const gchar *runner_path;
	const gchar *http_path; /* flotilla-http, which http agents run */
} FlSessionEnv;

FlSession *
fl_session_new(FlSessionData *data, const FlSessionEnv *env);
FlSessionData *
fl_session_get_data(FlSession *self);
guint
fl_session_get_id(FlSession *self);
gchar *
fl_session_get_dir(FlSession *self);

/* the next start makes the draft from @branch's tip (`run --after-done`: the draft of the
 * session it waited for) instead of the base branch's; it still merges into the base */
void
fl_session_set_start_from(FlSession *self, const gchar *branch);
/* queued → running: prepares the worktree and spawns the runner */
void
fl_session_start(FlSession *self);
/*
 * running/blocked found in the store at start-up: adopts the runner or records the outcome.
 * Returns FALSE when the session never got to run and is queued again.
 */
gboolean
fl_session_adopt(FlSession *self);
/* an ended session the user replied to goes back to queued to resume with @reply */
gboolean
fl_session_prepare_resume(FlSession *self, const gchar *reply, GError **error);
/*
 * Runs the verify command again on what the ended session's draft worktree holds now (after
 * `flotilla refresh` moved it), confined as at the session's end, its output in verify.log.
 * FL_VERIFY_NONE without an error when there is no command or no worktree to run it in.
 */
void
fl_session_verify_async(FlSession *self, GCancellable *cancellable, GAsyncReadyCallback callback,
			gpointer user_data);
FlVerify
fl_session_verify_finish(FlSession *self, GAsyncResult *res, GError **error);
/* stops a running session's process group (SIGTERM, SIGKILL after the grace period) */
void
fl_session_cancel(FlSession *self);
/* marks the session blocked on @message; it stays running underneath */
void
fl_session_set_blocked(FlSession *self, const gchar *message);
void
fl_session_set_unblocked(FlSession *self);

G_END_DECLS
