/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "fl-placement.h"

G_BEGIN_DECLS

/*
 * A session as a Slurm job (`[cluster NAME] kind=slurm`). The job runs the same
 * flotilla-runner on a node, in a directory of the cluster's shared-dir that this machine and
 * the nodes both see:
 *
 *   SHARED/<origin>/<session>/   (0700; origin tells this daemon's sessions from another's)
 *     job.sh        the batch script: paths only, no goal, no secrets (Slurm keeps a copy)
 *     job.argv      the agent's command, NUL-separated (0600)
 *     job.env       its environment, NUL-separated KEY=VALUE, API keys included (0600)
 *     job.commit    the identity and message for committing what the agent left (0600)
 *     repo.bundle   the draft branch as it is when the job is submitted (git bundle)
 *     work/         the node's clone of it, where the agent works; kept for a resume
 *     output.log, started.json, exit.json   the runner's, as on this machine
 *     result.bundle the commits the job made (BASE..HEAD), when it made any
 *     result.json   written last: {"v":1,"base":SHA,"head":SHA,"bundle":BOOL} or
 *                   {"v":1,"error":TEXT}; its presence means the job is over
 *     slurm.out     what the batch script itself printed (Slurm's --output)
 *
 * The job is named fl_slurm_job_name(origin, session, attempt) before sbatch runs (the
 * intent), so a daemon killed at any moment finds it again by name; once Slurm forgot a
 * finished job, result.json and exit.json still tell its end. When it ends, flotillad alone
 * fetches result.bundle into the session's worktree on this machine (the draft branch), and
 * the draft is made there as for a local session.
 */
#define FL_TYPE_PLACEMENT_SLURM (fl_placement_slurm_get_type())
G_DECLARE_FINAL_TYPE(FlPlacementSlurm, fl_placement_slurm, FL, PLACEMENT_SLURM, FlPlacement)

/* SHARED/<origin>/<session> for the session whose directory on this machine is @session_dir */
gchar *
fl_placement_slurm_job_dir(const gchar *shared_dir, const gchar *session_dir, guint session);

G_END_DECLS
