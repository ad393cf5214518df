/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * What flotilla-runner and the daemon exchange through the session directory, named once.
 * flotilla-runner (src/fl-runner.c) is the only writer of started.json and exit.json and
 * writes them by hand (it links GLib only); the local placement (src/fl-placement-local.c) is
 * their only reader. Both are written durably (temporary file, fsync, rename), mode 0600.
 *
 * started.json, written once before the agent is forked, so "no started.json" proves that the
 * agent never ran:
 *   {"v":1,"runner_pid":N,"runner_starttime":N,"boot_id":"UUID","started_at":"ISO 8601"}
 *   runner_pid is also the process session (setsid) of everything the agent starts; pid,
 *   start time and boot id together tell the runner from a later process with its pid.
 *
 * exit.json, written last, after every process of the session is gone:
 *   {"v":1,"status":"exited"|"signaled","code":N,"signal":N,"cancelled":BOOL,
 *    "finished_at":"ISO 8601"}
 *   code is -1 when signaled, signal 0 when exited; cancelled when a signal from outside
 *   (the daemon's cancel) stopped the session. A runner that ended the session at a limit
 *   adds "limit":"time"|"memory"|"pids"|"cpu","limit_value":N.
 *
 * Version 1 is what every runner so far wrote: a reader must accept files without the keys a
 * later version adds, and a writer adding keys keeps "v" at 1 unless old readers would be
 * misled.
 */

#define FL_RUNNER_PROTOCOL_VERSION 1

/* files in the session directory */
#define FL_RUNNER_FILE_LOG     "output.log"
#define FL_RUNNER_FILE_STARTED "started.json"
#define FL_RUNNER_FILE_EXIT    "exit.json"
/*
 * held (flock, exclusive) by the runner for its whole life on a descriptor the daemon opened,
 * locked and passed with --lock-fd before spawning it: while it is locked, a runner of the
 * session is alive, even one that has not written started.json yet
 */
#define FL_RUNNER_FILE_LOCK "runner.lock"

#define FL_RUNNER_KEY_VERSION          "v"
#define FL_RUNNER_KEY_RUNNER_PID       "runner_pid"
#define FL_RUNNER_KEY_RUNNER_STARTTIME "runner_starttime"
#define FL_RUNNER_KEY_BOOT_ID          "boot_id"
#define FL_RUNNER_KEY_STARTED_AT       "started_at"

#define FL_RUNNER_KEY_STATUS      "status"
#define FL_RUNNER_KEY_CODE        "code"
#define FL_RUNNER_KEY_SIGNAL      "signal"
#define FL_RUNNER_KEY_CANCELLED   "cancelled"
#define FL_RUNNER_KEY_FINISHED_AT "finished_at"
/* only when a limit ended the session: "time", "memory", "pids" or "cpu", and that limit */
#define FL_RUNNER_KEY_LIMIT       "limit"
#define FL_RUNNER_KEY_LIMIT_VALUE "limit_value"

#define FL_RUNNER_STATUS_EXITED   "exited"
#define FL_RUNNER_STATUS_SIGNALED "signaled"

/* the runner's command line: flotilla-runner OPTION... -- PROGRAM [ARG...] */
#define FL_RUNNER_OPT_DIR "--dir"
#define FL_RUNNER_OPT_CWD "--cwd"
/* a directory relative to --cwd the program starts in (the subdirectory of the repository
 * `flotilla run` was called from); missing or leading out of --cwd: --cwd, said in the log */
#define FL_RUNNER_OPT_SUBDIR  "--subdir"
#define FL_RUNNER_OPT_GRACE   "--grace"
#define FL_RUNNER_OPT_ENV     "--env"
#define FL_RUNNER_OPT_LOCK_FD "--lock-fd"
/* files of NUL-separated strings (a cluster job's, 0600): KEY=VALUE pairs added like --env,
 * and the program with its arguments instead of those after -- */
#define FL_RUNNER_OPT_ENV_FILE  "--env-file"
#define FL_RUNNER_OPT_ARGV_FILE "--argv-file"
/* the session id its channel (fl-relay.h) speaks for; the socket is SESSION_DIR/channel.sock */
#define FL_RUNNER_OPT_CHANNEL "--channel"
/* limits the runner enforces: seconds of wall time, bytes of resident memory, tasks, seconds
 * of CPU time of all the session's processes together */
#define FL_RUNNER_OPT_TIMEOUT "--timeout"
#define FL_RUNNER_OPT_MEMORY  "--memory"
#define FL_RUNNER_OPT_PIDS    "--pids"
#define FL_RUNNER_OPT_CPU     "--cpu"
/*
 * Confinement (fl-sandbox.h), built by the runner wherever it runs: --confine bwrap runs the
 * program in a bubblewrap sandbox where --cwd and SESSION_DIR/agent are writable, the paths
 * of --bind writable and of --ro-bind read-only, and of the home only --home-ro and --home-rw
 * (relative to it); --network none cuts the network
 */
#define FL_RUNNER_OPT_CONFINE "--confine"
#define FL_RUNNER_OPT_BIND    "--bind"
#define FL_RUNNER_OPT_RO_BIND "--ro-bind"
#define FL_RUNNER_OPT_HOME_RO "--home-ro"
#define FL_RUNNER_OPT_HOME_RW "--home-rw"
#define FL_RUNNER_OPT_NETWORK "--network"
/* with --confine: the repository's common git dir, shown as SESSION_DIR/git, the session's git
 * layer (fl-git-layer.h), with the repository's config, hooks and objects read-only */
#define FL_RUNNER_OPT_GIT_LAYER "--git-layer"
/* a session directory's git layer */
#define FL_RUNNER_DIR_GIT "git"
/* the agent's own writable directory in a session directory, confined or not */
#define FL_RUNNER_DIR_AGENT "agent"

/* the runner's own exit status when it could not start the agent */
#define FL_RUNNER_EXIT_USAGE      2
#define FL_RUNNER_EXIT_CANNOT_RUN 127
