/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * A Slurm client over Slurm's own commands (sbatch, squeue, scancel, sinfo), run as
 * GSubprocesses so that nothing waits on the controller in the daemon's main loop. The
 * commands find their cluster the usual way (/etc/slurm/slurm.conf or $SLURM_CONF) and get
 * only a few harmless variables of the daemon's environment: a job inherits sbatch's, and
 * Slurm keeps a copy of it.
 *
 * Jobs are found by name, never only by id: a job is submitted under a name fixed before the
 * submission (fl_slurm_job_name()), so a daemon that died between sbatch and recording the
 * id finds the job again instead of submitting it twice.
 */

/* one job as squeue sees it */
typedef struct {
	gchar *id;
	gchar *name;
	gchar *state;  /* Slurm's JobState: PENDING, RUNNING, COMPLETED, OUT_OF_MEMORY, … */
	gchar *reason; /* why it waits or how it ended; NULL for "None" */
	gchar *nodes;  /* where it runs or ran; NULL while pending */
} FlSlurmJob;

void
fl_slurm_job_free(FlSlurmJob *job);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlSlurmJob, fl_slurm_job_free)

/* one line of `squeue -o %i|%j|%T|%r|%N`; NULL if it is not one */
FlSlurmJob *
fl_slurm_job_parse(const gchar *line);
/* waiting for a node: PENDING, REQUEUED, CONFIGURING, SUSPENDED, … */
gboolean
fl_slurm_job_is_waiting(const FlSlurmJob *job);
/* over for good: COMPLETED, FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, … */
gboolean
fl_slurm_job_is_finished(const FlSlurmJob *job);

/* "flotilla-<origin>-<session>-<attempt>", the name a session's job is found by */
gchar *
fl_slurm_job_name(const gchar *origin, guint session, guint attempt);

typedef struct {
	const gchar *name;      /* fl_slurm_job_name() */
	const gchar *script;    /* the job script, readable on the nodes */
	const gchar *workdir;   /* where the job starts (--chdir) */
	const gchar *output;    /* Slurm's own output of the job script (--output) */
	const gchar *partition; /* NULL: the cluster's default */
	guint64 memory_mb;      /* 0: the partition's default */
	guint time_minutes;     /* 0: the partition's default */
	guint cpus;             /* 0: one */
} FlSlurmSubmit;

/* sbatch --parsable; finishes with the job id. A controller that cannot be reached fails with
 * G_IO_ERROR_NOT_CONNECTED (try again later), anything Slurm refuses with FL_ERROR_FAILED */
void
fl_slurm_submit_async(const FlSlurmSubmit *spec, GCancellable *cancellable,
		      GAsyncReadyCallback callback, gpointer user_data);
gchar *
fl_slurm_submit_finish(GAsyncResult *res, GError **error);

/* our jobs known to the controller, finished ones too until it forgets them (MinJobAge);
 * only those named @name, or all whose names start with @prefix; finishes with a
 * GPtrArray of FlSlurmJob */
void
fl_slurm_list_async(const gchar *name, const gchar *prefix, GCancellable *cancellable,
		    GAsyncReadyCallback callback, gpointer user_data);
GPtrArray *
fl_slurm_list_finish(GAsyncResult *res, GError **error);

/* sends @signal to the job's batch script only (scancel --batch): the script hands it on */
void
fl_slurm_signal_async(const gchar *job_id, gint signum, GCancellable *cancellable,
		      GAsyncReadyCallback callback, gpointer user_data);
/* ends the job the hard way (scancel: SIGTERM to everything, SIGKILL after KillWait) */
void
fl_slurm_cancel_async(const gchar *job_id, GCancellable *cancellable, GAsyncReadyCallback callback,
		      gpointer user_data);
gboolean
fl_slurm_cancel_finish(GAsyncResult *res, GError **error);

/* how a partition looks: finishes with a one-line text ("up, 1 node idle") or fails with
 * G_IO_ERROR_NOT_CONNECTED when the controller cannot be reached */
void
fl_slurm_ping_async(const gchar *partition, GCancellable *cancellable, GAsyncReadyCallback callback,
		    gpointer user_data);
gchar *
fl_slurm_ping_finish(GAsyncResult *res, GError **error);

/* "4G", "512M", "1T" or plain megabytes → megabytes; FALSE for anything else */
gboolean
fl_slurm_parse_memory(const gchar *text, guint64 *megabytes);
/* "2h", "90m", "1h30m", "45s" (rounded up to minutes), or plain minutes → minutes */
gboolean
fl_slurm_parse_minutes(const gchar *text, guint *minutes);

G_END_DECLS
