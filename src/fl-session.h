/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "fl-config.h"

G_BEGIN_DECLS

typedef enum {
	FL_STATE_QUEUED,
	FL_STATE_RUNNING,
	FL_STATE_BLOCKED,
	FL_STATE_DONE,
	FL_STATE_FAILED,
	FL_STATE_CANCELLED,
	FL_STATE_INTERRUPTED,
} FlState;

typedef enum {
	FL_REVIEW_NONE,
	FL_REVIEW_PENDING,
	FL_REVIEW_APPROVED,
	FL_REVIEW_REJECTED,
	FL_REVIEW_REVERTED,
} FlReview;

const gchar *
fl_state_to_string(FlState state);
gboolean
fl_state_from_string(const gchar *s, FlState *state);
const gchar *
fl_review_to_string(FlReview review);
gboolean
fl_review_from_string(const gchar *s, FlReview *review);
/* queued, running and blocked sessions are active: they have not ended yet */
gboolean
fl_state_is_active(FlState state);

/* everything recorded about a session: one row of the store */
typedef struct {
	guint id;
	gchar *name;
	gchar *goal;
	gchar *agent;
	gchar *repo; /* toplevel of the git repository, NULL for scratch sessions */
	gchar *base;
	gchar *base_commit;
	gchar *branch;
	gchar *worktree; /* where the agent runs: a git worktree or a scratch directory */
	gchar *verify_command;
	FlState state;
	FlReview review;
	gint64 created; /* µs since the epoch, 0 = not yet */
	gint64 started;
	gint64 finished;
	gboolean has_exit;
	gint exit_code;
	gint signal;
	gchar *verify;        /* "pass", "fail", "timeout" */
	gchar *verify_commit; /* the draft commit verify checked */
	gchar *diffstat;
	/* links the draft adds that lead out of the repository, "PATH -> TARGET" a line */
	gchar *links_outside;
	gdouble cost_usd; /* < 0 unknown */
	guint turns;
	gchar *waiting_for;
	gchar *final_message;
	gchar *reason;
	gchar *merge_commit;
	gchar *agent_session;    /* e.g. the Claude session UUID */
	gchar *placement_status; /* not stored: what the placement says about the run now */
} FlSessionData;

FlSessionData *
fl_session_data_new(void);
FlSessionData *
fl_session_data_copy(const FlSessionData *data);
void
fl_session_data_free(FlSessionData *data);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlSessionData, fl_session_data_free)

/* the a{sv} of the D-Bus API (see data/io.github.flotilla.Flotilla1.xml) */
GVariant *
fl_session_data_to_variant(const FlSessionData *data, const gchar *state_dir);

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
/* stops a running session's process group (SIGTERM, SIGKILL after the grace period) */
void
fl_session_cancel(FlSession *self);
/* marks the session blocked on @message; it stays running underneath */
void
fl_session_set_blocked(FlSession *self, const gchar *message);
void
fl_session_set_unblocked(FlSession *self);

/* the session directory for @id under @state_dir */
gchar *
fl_session_dir_for(const gchar *state_dir, guint id);

G_END_DECLS
