/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/*
 * The value of a session: its states, its review, the record the store keeps and the fleet's
 * signals carry. No behaviour lives here; FlSession (fl-session.h) runs one.
 */

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
/* the state and review words as the CLI shows them, untranslated, as arguments of a message
 * rendered later in its reader's language (fl_msg_word) */
const gchar *
fl_state_msgid(FlState state);
const gchar *
fl_review_msgid(FlReview review);
/* queued, running and blocked sessions are active: they have not ended yet */
gboolean
fl_state_is_active(FlState state);

/* what the verify command said about a draft; stored and sent as "pass", "fail", "timeout" */
typedef enum {
	FL_VERIFY_NONE, /* not run (no command, or no draft): stored as NULL */
	FL_VERIFY_PASS,
	FL_VERIFY_FAIL,
	FL_VERIFY_TIMEOUT,
} FlVerify;

/* NULL for FL_VERIFY_NONE */
const gchar *
fl_verify_to_string(FlVerify verify);
/* NULL and unknown text give FALSE and FL_VERIFY_NONE */
gboolean
fl_verify_from_string(const gchar *s, FlVerify *verify);

/* the queue's order (`run --priority`): higher first, first in first out within one; stored
 * and sent as "high", "normal", "low" (NULL in the store: normal, as before priorities) */
typedef enum {
	FL_PRIORITY_LOW = -1,
	FL_PRIORITY_NORMAL = 0,
	FL_PRIORITY_HIGH = 1,
} FlPriority;

const gchar *
fl_priority_to_string(FlPriority priority);
/* NULL gives FL_PRIORITY_NORMAL; unknown text FALSE */
gboolean
fl_priority_from_string(const gchar *s, FlPriority *priority);

/*
 * Why the check-in ledger announced a session. The names are stored in the ledger table and
 * compared in the store's SQL, which uses these macros: one spelling for both.
 */
#define FL_LEDGER_EVENT_BLOCKED_NAME   "blocked"
#define FL_LEDGER_EVENT_DRAFT_NAME     "draft"
#define FL_LEDGER_EVENT_FAILED_NAME    "failed"
#define FL_LEDGER_EVENT_DISMISSED_NAME "dismissed"
typedef enum {
	FL_LEDGER_EVENT_BLOCKED,   /* it waits for the user */
	FL_LEDGER_EVENT_DRAFT,     /* its draft awaits review */
	FL_LEDGER_EVENT_FAILED,    /* it failed or was interrupted, nothing to review */
	FL_LEDGER_EVENT_DISMISSED, /* the user saw it end badly and let it go (`flotilla dismiss`)
				    */
} FlLedgerEvent;

const gchar *
fl_ledger_event_to_string(FlLedgerEvent event);
gboolean
fl_ledger_event_from_string(const gchar *s, FlLedgerEvent *event);

/*
 * Everything recorded about a session: one row of the store, and the value the fleet's
 * signals carry (a boxed type, so it can travel in signals and GValues).
 */
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
	FlVerify verify;
	gchar *verify_commit; /* the draft commit verify checked */
	/* the base commit the draft stood on when verify checked it; NULL from older stores,
	 * where it is base_commit */
	gchar *verify_base;
	/* the base commit the draft was made from before its last `flotilla refresh`, or NULL */
	gchar *refreshed_from;
	/* `run --after ID` (0: none): it starts once session @after is approved, or with
	 * @after_done once it is done, and is cancelled when that can no longer happen */
	guint after;
	gboolean after_done;
	gchar *diffstat;
	/* links the draft adds that lead out of the repository, "PATH -> TARGET" a line */
	gchar *links_outside;
	gdouble cost_usd; /* < 0 unknown */
	guint turns;
	gchar *waiting_for;
	gchar *final_message;
	gchar *reason;
	gchar *merge_commit;
	gchar *agent_session; /* e.g. the Claude session UUID */
	gchar *confinement;   /* "bwrap" or "off" once started; NULL before (or from old stores) */
	gchar *placement;     /* the [cluster NAME] it runs on; NULL: this machine */
	guint64 memory_mb;    /* limits asked for with run --memory/--timeout; 0: the cluster's */
	guint time_minutes;
	gchar *group; /* the group it belongs to (run --group, several --repo, --race), or NULL */
	FlPriority priority;
	/* where in its worktree it runs: the subdirectory of the repository `run` was called
	 * from, relative to the top; NULL: the top */
	gchar *subdir;
	/* run --budget: the dollars it may spend, all its runs together; <= 0: no limit */
	gdouble budget_usd;
	gint64 cleaned; /* when `flotilla clean` removed its files and worktree; 0: not */
	/* not stored: what its placement says while it runs there */
	gchar *placement_status; /* "queued on lab: Resources" */
	gchar *log_path;         /* where its log is written, when not in the session dir */
} FlSessionData;

#define FL_TYPE_SESSION_DATA (fl_session_data_get_type())
GType
fl_session_data_get_type(void);

FlSessionData *
fl_session_data_new(void);
FlSessionData *
fl_session_data_copy(const FlSessionData *data);
void
fl_session_data_free(FlSessionData *data);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlSessionData, fl_session_data_free)

/* the session directory for @id under @state_dir */
gchar *
fl_session_data_dir(const gchar *state_dir, guint id);

/* the a{sv} of the D-Bus API (see data/io.github.flotilla.Flotilla1.xml) */
GVariant *
fl_session_data_to_variant(const FlSessionData *data, const gchar *state_dir);

G_END_DECLS
