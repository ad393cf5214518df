/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "fl-config.h"

G_BEGIN_DECLS

/*
 * A placement is where and how one session's process runs: a runner on this machine
 * (fl-placement-local.c) or, next, a job on a cluster. The session (fl-session.c) owns the
 * state machine and asks its placement to spawn, adopt and cancel; the placement reports
 * the end once, with the exit record, through the "ended" signal. A placement knows nothing
 * of agents (it runs the argv it is given) nor of drafts.
 *
 * One FlPlacement instance is one session's run there, made by fl_placement_new() from the
 * kind the registry (fl-placement.c) maps the placement's name to. Per-placement settings
 * (say a `[cluster lab]` group) are read by the subclass in its configure() vfunc from the
 * FlConfig it is given.
 *
 * RECORDS, all in the session directory (fl_placement_get_dir()), all fsync'd:
 *
 *  placement.json, the intent, written by this base class BEFORE the subclass's spawn runs:
 *    {"v":1,"kind":"local","name":"local","attempt":N,"job":"flotilla-<id>-<N>"}
 *    attempt counts spawns of this run (1, 2 after a spawn provably never started, …) and
 *    job is a deterministic name the subclass gives the process or job, so that a later
 *    daemon can find it (squeue --name) even when it died before learning its id. A subclass
 *    may add members with fl_placement_record() (a job id once sbatch answered, …): the file
 *    is rewritten durably with them, and adopt() finds them with fl_placement_get_record().
 *  What the process itself writes: for the local runner started.json, exit.json and
 *    output.log (see fl-runner-protocol.h). A cluster job writes the same files where the
 *    daemon can read them, or its subclass translates the scheduler's record into them.
 *
 * THE CALLS:
 *
 *  spawn: fl_placement_spawn_async() bumps the attempt, writes the intent durably (in a
 *    worker thread: the main loop never waits for a disk), then calls the subclass's
 *    spawn_async(). The crash tests kill the daemon right after each of the two
 *    (FL_TEST_CRASH_AT=placement:intent:1, placement:spawned:1; see fl_crash_point()).
 *    That returns once the process is launched or the job submitted (not when
 *    it ends); an error means nothing was started and the session fails with its message.
 *    After a successful spawn, "ended" is emitted exactly once, later, from the main loop.
 *  adopt: after a daemon restart, for a session the store says is running. The subclass
 *    decides from the records alone, never by starting anything:
 *      - no intent recorded (and none of an older daemon's markers): the daemon died before
 *        spawning; return FL_PLACEMENT_ADOPT_NOT_PLACED and the session is queued again;
 *      - the process or job is still there: watch it, return FL_PLACEMENT_ADOPT_WATCHING,
 *        emit "ended" when it ends;
 *      - it ended (exit record present, or it is gone): return WATCHING and emit "ended"
 *        (it may be emitted before adopt() returns);
 *      - the intent is recorded but the agent provably never started (for local: no
 *        started.json and no runner holding runner.lock; for a cluster: no job of that name
 *        and no job id recorded): emit "ended" with FL_PLACEMENT_END_NOT_STARTED and the
 *        session spawns again with the next attempt. When in doubt, say LOST, never
 *        NOT_STARTED: running an agent twice is worse than reporting it interrupted.
 *  cancel: stop the run: SIGTERM to the agent's processes, SIGKILL after the configured
 *    grace (config->cancel_grace), or scancel; "ended" follows as usual, with cancelled set.
 *  the end: before emitting "ended" the placement makes sure no process of the session is
 *    left (for local: every process in the runner's process session is SIGKILLed when the
 *    runner died without its exit record), so nothing runs on in a worktree being approved
 *    or removed. The FlPlacementEnd says how it ended; LOST becomes `interrupted`.
 *  forget: before a finished session runs again (a resumed conversation), the previous
 *    run's records are removed so they cannot make the new run look finished.
 *  status: a short text for `flotilla show` (placement_status) and `flotilla ls` about where
 *    the run is, NULL when there is nothing to say, e.g. "queued on lab: Resources"; the
 *    local placement speaks only while it waits for a runner to start or kills what a dead
 *    runner left. Emit "status-changed" (fl_placement_status_changed()) when it changes.
 *
 * All calls are made from the main loop and must never block it.
 */

typedef enum {
	FL_PLACEMENT_END_EXITED,      /* the agent exited with @code */
	FL_PLACEMENT_END_SIGNALED,    /* the agent was killed by @signal */
	FL_PLACEMENT_END_LOST,        /* no exit record: the run vanished; becomes interrupted */
	FL_PLACEMENT_END_NOT_STARTED, /* provably never started the agent: spawn it again */
} FlPlacementEndKind;

typedef struct {
	FlPlacementEndKind kind;
	gint code;          /* EXITED; -1 otherwise */
	gint signal;        /* SIGNALED; 0 otherwise */
	gboolean cancelled; /* stopped by a cancel */
	/* (nullable) LOST, NOT_STARTED: why, for the user, stored as it is (fl_msg_stored, or
	 * plain text) and rendered when read */
	const gchar *reason;
	const gchar *limit;  /* (nullable) "time", "memory", "pids" or "cpu" when one ended it */
	guint64 limit_value; /* that limit (seconds, bytes, tasks) */
} FlPlacementEnd;

typedef enum {
	FL_PLACEMENT_ADOPT_NOT_PLACED, /* nothing was ever spawned: queue the session again */
	FL_PLACEMENT_ADOPT_WATCHING,   /* "ended" comes (possibly already came) */
} FlPlacementAdopt;

/* what to run: the agent's command, made by the session (and its agent) */
typedef struct {
	const gchar *const *argv; /* the agent's program and arguments */
	const gchar *const *env;  /* (nullable) KEY=VALUE added to its environment */
	const gchar *cwd;         /* where it runs: the worktree */
	const gchar *subdir;      /* (nullable) where in it the program starts, relative */
	/* the session's channel (fl-relay.h) at session_dir/channel.sock, served next to the
	 * process; and limits, 0 = none */
	gboolean channel;
	guint64 memory;  /* bytes of resident memory */
	guint64 pids;    /* tasks */
	guint64 cpu;     /* seconds of CPU time, all its processes together */
	guint64 timeout; /* seconds of wall time */
	/*
	 * Confinement, built around argv by the runner (FL_RUNNER_OPT_CONFINE): when @confine,
	 * cwd and the session's agent/ directory are writable, @binds writable and @ro_binds
	 * read-only (absolute, nullable), of the home only @home_ro and @home_rw (relative to
	 * it, nullable), and no network when @no_network
	 */
	gboolean confine;
	const gchar *const *binds;
	const gchar *const *ro_binds;
	const gchar *const *home_ro;
	const gchar *const *home_rw;
	gboolean no_network;
	/* [fleet] writable= and read-only=: the user's own paths, shown wherever the session
	 * runs (where they exist), unlike @binds and @ro_binds, which are this machine's */
	const gchar *const *user_binds;
	const gchar *const *user_ro_binds;
	/* (nullable) when @confine: the repository's common git dir, which the sandbox shows as
	 * the session's git layer (fl-git-layer.h); only where that directory is (this machine) */
	const gchar *git_layer;
} FlPlacementCommand;

/* what a placement is made from */
typedef struct {
	const FlConfig *config; /* (unowned) outlives the placement */
	const gchar *name;      /* (nullable) the placement asked for; NULL: what the session
				 * directory's intent says, else "local" */
	guint session_id;
	const gchar *session_dir; /* state_dir/sessions/<id> */
	const gchar *runner_path; /* flotilla-runner */
	guint64 memory_mb;        /* limits asked for the session (run --memory, --timeout); */
	guint time_minutes;       /* 0: the placement's own */
} FlPlacementSetup;

#define FL_TYPE_PLACEMENT (fl_placement_get_type())
G_DECLARE_DERIVABLE_TYPE(FlPlacement, fl_placement, FL, PLACEMENT, GObject)

struct _FlPlacementClass {
	GObjectClass parent_class;

	/* reads and checks this placement's settings; called once after construction */
	gboolean (*configure)(FlPlacement *self, GError **error);
	/* launches @cmd (the intent is already recorded); see above */
	void (*spawn_async)(FlPlacement *self, const FlPlacementCommand *cmd,
			    GCancellable *cancellable, GAsyncReadyCallback callback,
			    gpointer user_data);
	gboolean (*spawn_finish)(FlPlacement *self, GAsyncResult *res, GError **error);
	FlPlacementAdopt (*adopt)(FlPlacement *self);
	void (*cancel)(FlPlacement *self);
	/* (nullable) the files of a run besides placement.json; the default removes the local
	 * runner's */
	void (*forget)(FlPlacement *self);
	/* (nullable) default: NULL */
	gchar *(*get_status)(FlPlacement *self);
	/* (nullable) default: session_dir/output.log */
	gchar *(*get_log_path)(FlPlacement *self);

	gpointer padding[8];
};

/* the registry: the placement @setup names (see FlPlacementSetup.name) */
FlPlacement *
fl_placement_new(const FlPlacementSetup *setup, GError **error);

void
fl_placement_spawn_async(FlPlacement *self, const FlPlacementCommand *cmd,
			 GCancellable *cancellable, GAsyncReadyCallback callback,
			 gpointer user_data);
gboolean
fl_placement_spawn_finish(FlPlacement *self, GAsyncResult *res, GError **error);
FlPlacementAdopt
fl_placement_adopt(FlPlacement *self);
void
fl_placement_cancel(FlPlacement *self);
void
fl_placement_forget(FlPlacement *self);
gchar *
fl_placement_get_status(FlPlacement *self);

/* the kind ("local") and the name it was asked for ("local", "lab") */
const gchar *
fl_placement_get_kind(FlPlacement *self);
const gchar *
fl_placement_get_name(FlPlacement *self);
guint
fl_placement_get_session_id(FlPlacement *self);
/* where the session's files live */
const gchar *
fl_placement_get_dir(FlPlacement *self);
gchar *
fl_placement_get_log_path(FlPlacement *self);
/* the session directory's file @name */
gchar *
fl_placement_get_file(FlPlacement *self, const gchar *name);

/* for subclasses */
const FlConfig *
fl_placement_get_config(FlPlacement *self);
/* the limits of FlPlacementSetup, 0 where none was asked for */
void
fl_placement_get_limits(FlPlacement *self, guint64 *memory_mb, guint *time_minutes);
const gchar *
fl_placement_get_runner_path(FlPlacement *self);
/* the attempt being spawned or adopted (0 before any), and its deterministic job name */
guint
fl_placement_get_attempt(FlPlacement *self);
gchar *
fl_placement_get_job_name(FlPlacement *self);
/* TRUE when the intent file exists (read at construction, kept up to date) */
gboolean
fl_placement_has_intent(FlPlacement *self);
/* a member the subclass recorded with fl_placement_record(), NULL if absent */
const gchar *
fl_placement_get_record(FlPlacement *self, const gchar *key);
/* adds @key=@value to the intent and rewrites it durably (synchronously: call it from a
 * worker thread or accept one fsync on the main loop) */
gboolean
fl_placement_record(FlPlacement *self, const gchar *key, const gchar *value, GError **error);
/* reports the end: emits "ended" once; later calls are ignored */
void
fl_placement_emit_ended(FlPlacement *self, const FlPlacementEnd *end);
/* emits "status-changed": call it whenever get_status() would answer differently */
void
fl_placement_status_changed(FlPlacement *self);

G_END_DECLS
