/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fl-proc.h"
#include "fl-runner-protocol.h"

/*
 * flotilla-runner: the per-session supervisor the daemon execs (the conmon pattern), so a session
 * outlives a daemon crash or restart. It owns the session's process group, appends the agent's
 * output to output.log, and leaves started.json and exit.json behind for the daemon to reconcile.
 *
 * Signals are never delivered asynchronously: the handled ones stay blocked and are taken with
 * sigwaitinfo()/sigtimedwait(), so there are no handlers, no flags and no races with waitpid().
 */

#define FL_RUNNER_DEFAULT_GRACE        10.0
#define FL_RUNNER_MAX_GRACE            (24.0 * 60.0 * 60.0)
#define FL_RUNNER_CLEANUP_TIMEOUT_USEC (5 * G_USEC_PER_SEC)
#define FL_RUNNER_CLEANUP_POLL_USEC    (50 * 1000)

typedef struct {
	const gchar *dir;
	const gchar *cwd;
	gdouble grace;
	gint lock_fd;   /* -1 when none was passed */
	GPtrArray *env; /* (element-type utf8) (unowned): KEY=VALUE strings from argv or a file */
	gchar **argv;   /* (unowned): the tail of main()'s argv, or --argv-file's */
} FlRunnerArgs;

typedef struct {
	pid_t child;
	gint status;
	gboolean child_done;
	gboolean cancelled;
} FlRunnerState;

static const gchar *fl_runner_usage =
	"usage: flotilla-runner --dir SESSION_DIR [--cwd DIR] [--grace SECONDS] "
	"[--lock-fd FD] [--env KEY=VALUE]... [--env-file FILE] "
	"(-- PROGRAM [ARG...] | --argv-file FILE)";

/*
 * NUL-separated strings from @path. A cluster job passes the agent's command and environment
 * this way: a command line is visible to every user of the node (ps), a job's script and
 * environment to every administrator of the cluster; a 0600 file is not. The contents live
 * as long as the runner.
 */
static gchar **
fl_runner_read_strv(const gchar *path, GError **error)
{
	gchar *contents = NULL;
	gsize len = 0;
	GPtrArray *items;

	if (!g_file_get_contents(path, &contents, &len, error))
		return NULL;
	/* g_file_get_contents() ends the buffer with a NUL of its own, so the last string ends
	 * even when the file does not */
	items = g_ptr_array_new();
	for (gsize off = 0; off < len; off += strlen(contents + off) + 1)
		g_ptr_array_add(items, contents + off);
	g_ptr_array_add(items, NULL);
	return (gchar **)g_ptr_array_free(items, FALSE);
}

static gboolean
fl_runner_parse_args(gint argc, gchar **argv, FlRunnerArgs *args, GError **error)
{
	gint i;

	for (i = 1; i < argc; i++) {
		const gchar *arg = argv[i];
		const gchar *eq = strchr(arg, '=');
		const gchar *value = NULL;
		g_autofree gchar *name = NULL;

		if (g_strcmp0(arg, "--") == 0)
			break;
		name = eq != NULL ? g_strndup(arg, eq - arg) : g_strdup(arg);
		if (g_strcmp0(name, FL_RUNNER_OPT_DIR) != 0 &&
		    g_strcmp0(name, FL_RUNNER_OPT_CWD) != 0 &&
		    g_strcmp0(name, FL_RUNNER_OPT_GRACE) != 0 &&
		    g_strcmp0(name, FL_RUNNER_OPT_LOCK_FD) != 0 &&
		    g_strcmp0(name, FL_RUNNER_OPT_ENV_FILE) != 0 &&
		    g_strcmp0(name, FL_RUNNER_OPT_ARGV_FILE) != 0 &&
		    g_strcmp0(name, FL_RUNNER_OPT_ENV) != 0) {
			g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_UNKNOWN_OPTION,
				    "unknown argument '%s' (the program goes after --)", arg);
			return FALSE;
		}
		if (eq != NULL) {
			value = eq + 1;
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
				    "%s needs a value", name);
			return FALSE;
		}

		if (g_strcmp0(name, FL_RUNNER_OPT_DIR) == 0) {
			args->dir = value;
		} else if (g_strcmp0(name, FL_RUNNER_OPT_CWD) == 0) {
			args->cwd = value;
		} else if (g_strcmp0(name, FL_RUNNER_OPT_LOCK_FD) == 0) {
			guint64 fd = 0;

			/* an open descriptor above stderr, or the lock would be our stdio */
			if (!g_ascii_string_to_unsigned(value, 10, STDERR_FILENO + 1, G_MAXINT, &fd,
							NULL) ||
			    fcntl((gint)fd, F_GETFD) < 0) {
				g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
					    "--lock-fd needs an open descriptor above 2, not '%s'",
					    value);
				return FALSE;
			}
			args->lock_fd = (gint)fd;
		} else if (g_strcmp0(name, FL_RUNNER_OPT_GRACE) == 0) {
			gchar *end = NULL;
			gdouble grace = g_ascii_strtod(value, &end);

			/* written so that NaN fails too */
			if (end == value || *end != '\0' ||
			    !(grace >= 0 && grace <= FL_RUNNER_MAX_GRACE)) {
				g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
					    "--grace needs a number of seconds from 0 to %.0f, "
					    "not '%s'",
					    FL_RUNNER_MAX_GRACE, value);
				return FALSE;
			}
			args->grace = grace;
		} else if (g_strcmp0(name, FL_RUNNER_OPT_ENV_FILE) == 0 ||
			   g_strcmp0(name, FL_RUNNER_OPT_ARGV_FILE) == 0) {
			g_autoptr(GError) read_error = NULL;
			gchar **items = fl_runner_read_strv(value, &read_error);
			gboolean is_env = g_strcmp0(name, FL_RUNNER_OPT_ENV_FILE) == 0;

			if (items == NULL) {
				g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
					    "%s: %s", name, read_error->message);
				return FALSE;
			}
			for (guint j = 0; is_env && items[j] != NULL; j++) {
				const gchar *sep = strchr(items[j], '=');
				if (sep == NULL || sep == items[j]) {
					g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
						    "%s holds '%s', not KEY=VALUE", value,
						    items[j]);
					return FALSE;
				}
				g_ptr_array_add(args->env, items[j]);
			}
			if (!is_env) {
				if (items[0] == NULL || items[0][0] == '\0') {
					g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
						    "%s holds no program", value);
					return FALSE;
				}
				args->argv = items;
			}
		} else {
			const gchar *sep = strchr(value, '=');

			if (sep == NULL || sep == value) {
				g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
					    "--env needs KEY=VALUE, not '%s'", value);
				return FALSE;
			}
			g_ptr_array_add(args->env, (gpointer)value);
		}
	}

	if (args->dir == NULL || args->dir[0] == '\0') {
		g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
				    "--dir SESSION_DIR is required");
		return FALSE;
	}
	if (args->argv != NULL) {
		if (i + 1 < argc) {
			g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
					    "a program after -- and --argv-file too");
			return FALSE;
		}
		return TRUE;
	}
	if (i + 1 >= argc || argv[i + 1][0] == '\0') {
		g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
				    "no program given after --");
		return FALSE;
	}
	args->argv = &argv[i + 1];
	return TRUE;
}

static gchar *
fl_runner_now_iso8601(void)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_local();

	return g_date_time_format_iso8601(now);
}

static gboolean
fl_runner_write_file(const gchar *dir, const gchar *name, const gchar *contents, GError **error)
{
	g_autofree gchar *path = g_build_filename(dir, name, NULL);

	return g_file_set_contents_full(
		path, contents, -1, G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
		0600, error);
}

/* written once, before the agent starts, so the daemon can adopt us at any later moment; the
 * agent's group needs no entry: it is our only child and shares our session */
static gchar *
fl_runner_started_json(guint64 starttime, const gchar *boot_id, const gchar *started_at)
{
	return g_strdup_printf(
		"{\"" FL_RUNNER_KEY_VERSION "\":%d,\"" FL_RUNNER_KEY_RUNNER_PID
		"\":%d,\"" FL_RUNNER_KEY_RUNNER_STARTTIME "\":%" G_GUINT64_FORMAT
		",\"" FL_RUNNER_KEY_BOOT_ID "\":\"%s\",\"" FL_RUNNER_KEY_STARTED_AT "\":\"%s\"}\n",
		FL_RUNNER_PROTOCOL_VERSION, (gint)getpid(), starttime, boot_id, started_at);
}

static gchar *
fl_runner_exit_json(const FlRunnerState *state)
{
	g_autofree gchar *finished_at = fl_runner_now_iso8601();
	gboolean exited = WIFEXITED(state->status);

	return g_strdup_printf("{\"" FL_RUNNER_KEY_VERSION "\":%d,\"" FL_RUNNER_KEY_STATUS
			       "\":\"%s\",\"" FL_RUNNER_KEY_CODE "\":%d,\"" FL_RUNNER_KEY_SIGNAL
			       "\":%d,\"" FL_RUNNER_KEY_CANCELLED
			       "\":%s,\"" FL_RUNNER_KEY_FINISHED_AT "\":\"%s\"}\n",
			       FL_RUNNER_PROTOCOL_VERSION,
			       exited ? FL_RUNNER_STATUS_EXITED : FL_RUNNER_STATUS_SIGNALED,
			       exited ? WEXITSTATUS(state->status) : -1,
			       exited ? 0 : WTERMSIG(state->status),
			       state->cancelled ? "true" : "false", finished_at);
}

/* stdin becomes /dev/null; closed stdout/stderr are filled too, or a later open() could land
 * on fd 1 or 2 and be handed to the child by mistake */
static gboolean
fl_runner_setup_stdio(GError **error)
{
	gint fd;

	do {
		fd = open("/dev/null", O_RDWR);
	} while (fd >= 0 && fd <= STDERR_FILENO);
	if (fd < 0 || dup2(fd, STDIN_FILENO) < 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
			    "cannot open /dev/null: %s", g_strerror(errno));
		if (fd >= 0)
			close(fd);
		return FALSE;
	}
	close(fd);
	return TRUE;
}

static void
fl_runner_write_all(gint fd, const gchar *buf)
{
	gsize len = strlen(buf);

	while (len > 0) {
		gssize n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= n;
	}
}

/* runs in the forked child; the runner is single-threaded, so GLib calls are safe here */
G_GNUC_NORETURN static void
fl_runner_exec_child(const FlRunnerArgs *args, gint log_fd)
{
	sigset_t empty;

	setpgid(0, 0);
	if (dup2(log_fd, STDOUT_FILENO) < 0 || dup2(log_fd, STDERR_FILENO) < 0)
		_exit(FL_RUNNER_EXIT_CANNOT_RUN);
	/* whatever the daemon leaked to us is none of the agent's business */
	close_range(STDERR_FILENO + 1, ~0U, 0);

	for (gint sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigemptyset(&empty);
	sigprocmask(SIG_SETMASK, &empty, NULL);

	if (args->cwd != NULL && chdir(args->cwd) < 0) {
		g_autofree gchar *msg =
			g_strdup_printf("flotilla-runner: cannot change directory to %s: %s\n",
					args->cwd, g_strerror(errno));
		fl_runner_write_all(STDERR_FILENO, msg);
		_exit(FL_RUNNER_EXIT_CANNOT_RUN);
	}
	for (guint i = 0; i < args->env->len; i++) {
		const gchar *pair = g_ptr_array_index(args->env, i);
		const gchar *sep = strchr(pair, '=');
		g_autofree gchar *key = g_strndup(pair, sep - pair);

		setenv(key, sep + 1, 1);
	}

	execvp(args->argv[0], args->argv);
	{
		g_autofree gchar *msg = g_strdup_printf("flotilla-runner: cannot run %s: %s\n",
							args->argv[0], g_strerror(errno));
		fl_runner_write_all(STDERR_FILENO, msg);
	}
	_exit(FL_RUNNER_EXIT_CANNOT_RUN);
}

/* reaps every exited child; the main child is only peeked at first, because while its zombie
 * exists its pid pins the pgid and the group kill cannot hit a recycled id */
static void
fl_runner_reap(FlRunnerState *state)
{
	for (;;) {
		siginfo_t info;
		gint wstatus = 0;
		pid_t pid;

		memset(&info, 0, sizeof(info));
		if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (info.si_pid == 0)
			return;
		if (info.si_pid == state->child && !state->child_done) {
			/* a session's processes must not outlive it */
			kill(-state->child, SIGKILL);
		}
		do {
			pid = waitpid(info.si_pid, &wstatus, 0);
		} while (pid < 0 && errno == EINTR);
		if (pid == state->child && !state->child_done) {
			state->status = wstatus;
			state->child_done = TRUE;
		}
	}
}

static void
fl_runner_supervise(FlRunnerState *state, const sigset_t *handled, gdouble grace)
{
	gint64 deadline = -1;

	while (!state->child_done) {
		siginfo_t info;
		gint sig;

		if (deadline >= 0) {
			gint64 left = deadline - g_get_monotonic_time();
			struct timespec ts;

			if (left <= 0) {
				/* both: the main child may have left the group */
				kill(-state->child, SIGKILL);
				kill(state->child, SIGKILL);
				deadline = -1;
				continue;
			}
			ts.tv_sec = left / G_USEC_PER_SEC;
			ts.tv_nsec = (left % G_USEC_PER_SEC) * 1000;
			sig = sigtimedwait(handled, &info, &ts);
		} else {
			sig = sigwaitinfo(handled, &info);
		}
		/* on a timeout or an interruption the next turn sees the deadline again */
		if (sig < 0)
			continue;

		switch (sig) {
		case SIGCHLD:
			fl_runner_reap(state);
			break;
		case SIGTERM:
		case SIGINT:
		case SIGHUP:
			state->cancelled = TRUE;
			kill(-state->child, sig == SIGINT ? SIGINT : SIGTERM);
			if (deadline < 0)
				deadline =
					g_get_monotonic_time() + (gint64)(grace * G_USEC_PER_SEC);
			break;
		case SIGUSR1:
			state->cancelled = TRUE;
			kill(-state->child, SIGKILL);
			kill(state->child, SIGKILL);
			deadline = -1;
			break;
		default:
			break;
		}
	}
}

/* SIGKILLs every process whose parent is the runner: as a subreaper it inherits the orphans,
 * including those that left the group with setsid(); an unreaped child keeps its pid, so
 * this cannot hit a recycled one */
static void
fl_runner_kill_children(pid_t self)
{
	g_autofree gchar *children_path =
		g_strdup_printf("/proc/self/task/%d/children", (gint)self);
	g_autofree gchar *children = NULL;
	g_autoptr(GDir) proc = NULL;
	const gchar *name;

	/* the runner has one thread, so its children are exactly this list */
	if (g_file_get_contents(children_path, &children, NULL, NULL)) {
		g_auto(GStrv) pids = g_strsplit_set(g_strstrip(children), " \n", -1);
		for (guint i = 0; pids[i] != NULL; i++) {
			guint64 pid = 0;
			if (g_ascii_string_to_unsigned(pids[i], 10, 1, G_MAXINT, &pid, NULL))
				kill((pid_t)pid, SIGKILL);
		}
		return;
	}
	/* kernels without CONFIG_PROC_CHILDREN: look at every process */
	proc = g_dir_open("/proc", 0, NULL);
	if (proc == NULL)
		return;
	while ((name = g_dir_read_name(proc)) != NULL) {
		FlProcStat stat;
		guint64 pid = 0;

		if (!g_ascii_string_to_unsigned(name, 10, 1, G_MAXINT, &pid, NULL))
			continue;
		if (!fl_proc_stat_read((gint)pid, &stat, NULL))
			continue;
		if (stat.ppid == (guint64)self)
			kill((pid_t)pid, SIGKILL);
	}
}

/* bounded: a process stuck in uninterruptible sleep must not keep exit.json from being written */
static void
fl_runner_kill_remaining(void)
{
	gint64 deadline = g_get_monotonic_time() + FL_RUNNER_CLEANUP_TIMEOUT_USEC;
	pid_t self = getpid();
	sigset_t chld;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	for (;;) {
		struct timespec ts = {0, FL_RUNNER_CLEANUP_POLL_USEC * 1000};
		gint wstatus = 0;
		pid_t pid;

		/* reap first: usually the agent left nothing behind and there is nothing to kill */
		do {
			pid = waitpid(-1, &wstatus, WNOHANG);
		} while (pid > 0 || (pid < 0 && errno == EINTR));
		if (pid < 0 && errno == ECHILD)
			return;
		fl_runner_kill_children(self);
		if (g_get_monotonic_time() >= deadline) {
			g_printerr("flotilla-runner: some processes of the session did not exit "
				   "after SIGKILL; giving up on them\n");
			return;
		}
		sigtimedwait(&chld, NULL, &ts);
	}
}

int
main(int argc, char **argv)
{
	FlRunnerArgs args = {NULL};
	FlRunnerState state = {0};
	g_autoptr(GPtrArray) env = g_ptr_array_new();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *log_path = NULL;
	g_autofree gchar *boot_id = NULL;
	g_autofree gchar *started_at = NULL;
	g_autofree gchar *started = NULL;
	g_autofree gchar *exited = NULL;
	const gint handled_signals[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1};
	guint64 starttime = 0;
	FlProcStat self_stat;
	sigset_t handled;
	gint log_fd;

	args.grace = FL_RUNNER_DEFAULT_GRACE;
	args.lock_fd = -1;
	args.env = env;
	if (!fl_runner_parse_args(argc, argv, &args, &error)) {
		g_printerr("flotilla-runner: %s; %s\n", error->message, fl_runner_usage);
		return FL_RUNNER_EXIT_USAGE;
	}

	/* blocked before anything else, so a cancel that arrives while started.json is being
	 * synced stays pending instead of killing the runner; a parent shell may also have
	 * left some of them ignored */
	sigemptyset(&handled);
	for (guint i = 0; i < G_N_ELEMENTS(handled_signals); i++) {
		sigaddset(&handled, handled_signals[i]);
		signal(handled_signals[i], SIG_DFL);
	}
	sigprocmask(SIG_BLOCK, &handled, NULL);
	/* our stderr may be a pipe from a daemon that has since died */
	signal(SIGPIPE, SIG_IGN);

	/* the daemon spawns us without closing its descriptors (so that GLib can use
	 * posix_spawn); a session that outlives the daemon must not hold any of them open */
	if (args.lock_fd < 0) {
		close_range(STDERR_FILENO + 1, ~0U, 0);
	} else {
		if (args.lock_fd > STDERR_FILENO + 1)
			close_range(STDERR_FILENO + 1, (guint)args.lock_fd - 1, 0);
		close_range((guint)args.lock_fd + 1, ~0U, 0);
		/* ours for life (the daemon's copy is closed after the spawn), never the agent's;
		 * taking it again on the same open file is a no-op when the daemon already did */
		fcntl(args.lock_fd, F_SETFD, FD_CLOEXEC);
		if (flock(args.lock_fd, LOCK_EX | LOCK_NB) < 0) {
			g_printerr("flotilla-runner: cannot lock --lock-fd %d: %s\n", args.lock_fd,
				   g_strerror(errno));
			return FL_RUNNER_EXIT_USAGE;
		}
	}
	/* the runner outlives the daemon, so it must not share the daemon's session; EPERM only
	 * when a caller already made us a session or group leader */
	setsid();
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		g_printerr("flotilla-runner: cannot become a child subreaper: %s\n",
			   g_strerror(errno));
	if (!fl_runner_setup_stdio(&error)) {
		g_printerr("flotilla-runner: %s\n", error->message);
		return 1;
	}
	if (!fl_proc_stat_read(0, &self_stat, &error)) {
		g_printerr("flotilla-runner: cannot read the start time: %s\n", error->message);
		return 1;
	}
	starttime = self_stat.starttime;
	boot_id = fl_proc_read_boot_id(&error);
	if (boot_id == NULL) {
		g_printerr("flotilla-runner: cannot read the boot id: %s\n", error->message);
		return 1;
	}

	log_path = g_build_filename(args.dir, FL_RUNNER_FILE_LOG, NULL);
	log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (log_fd < 0) {
		g_printerr("flotilla-runner: cannot open %s: %s\n", log_path, g_strerror(errno));
		return FL_RUNNER_EXIT_USAGE;
	}
	started_at = fl_runner_now_iso8601();
	started = fl_runner_started_json(starttime, boot_id, started_at);
	if (!fl_runner_write_file(args.dir, FL_RUNNER_FILE_STARTED, started, &error)) {
		g_printerr("flotilla-runner: %s\n", error->message);
		close(log_fd);
		return FL_RUNNER_EXIT_USAGE;
	}

	state.child = fork();
	if (state.child < 0) {
		g_printerr("flotilla-runner: cannot fork: %s\n", g_strerror(errno));
		close(log_fd);
		return 1;
	}
	if (state.child == 0)
		fl_runner_exec_child(&args, log_fd);
	/* also done here: a signal forwarded before the child ran setpgid() must reach it;
	 * EACCES means the child already exec'd, after its own setpgid() */
	setpgid(state.child, state.child);
	close(log_fd);

	fl_runner_supervise(&state, &handled, args.grace);
	fl_runner_kill_remaining();

	exited = fl_runner_exit_json(&state);
	if (!fl_runner_write_file(args.dir, FL_RUNNER_FILE_EXIT, exited, &error)) {
		g_printerr("flotilla-runner: cannot write exit.json: %s\n", error->message);
		return 1;
	}
	return 0;
}
