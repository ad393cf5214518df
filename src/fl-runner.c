/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fl-proc.h"
#include "fl-relay.h"
#include "fl-runner-protocol.h"
#include "fl-sandbox.h"

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
/* how soon a cancel's signal is sent again when a confined agent was not up to get it */
#define FL_RUNNER_RESIGNAL_USEC (50 * G_TIME_SPAN_MILLISECOND)
/* how often memory and process counts are looked at when they are limited */
#define FL_RUNNER_LIMIT_POLL_USEC (250 * 1000)

typedef struct {
	const gchar *dir;
	const gchar *cwd;
	const gchar *subdir; /* (nullable) relative to cwd */
	const gchar *start;  /* (nullable) where the program starts: cwd or cwd/subdir */
	gdouble grace;
	gint lock_fd;    /* -1 when none was passed */
	GPtrArray *env;  /* (element-type utf8) (unowned): KEY=VALUE strings from argv or a file */
	gchar **argv;    /* (unowned): the tail of main()'s argv, or --argv-file's */
	guint64 channel; /* session id the channel speaks for, 0 = no channel */
	guint64 timeout; /* seconds, 0 = none */
	guint64 memory;  /* bytes, 0 = none */
	guint64 pids;    /* processes, 0 = none */
	guint64 cpu;     /* seconds of CPU time of all its processes, 0 = none */
	/* confinement: NULL, or "bwrap" with what the sandbox shows besides --cwd */
	const gchar *confine;
	GPtrArray *binds;    /* (element-type filename) (owned) writable */
	GPtrArray *ro_binds; /* read-only */
	GPtrArray *home_ro;  /* relative to the home */
	GPtrArray *home_rw;
	gboolean no_network;
	const gchar *git_layer; /* (nullable) the common git dir the session's layer stands for */
} FlRunnerArgs;

typedef struct {
	pid_t child;
	gint status;
	gboolean child_done;
	gboolean cancelled;
	const gchar *limit;  /* (nullable) "time", "memory" or "pids": which limit ended it */
	guint64 limit_value; /* that limit */
	pid_t relay;         /* the channel's relay, 0 when none */
	gboolean confined;   /* the child is bwrap, the agent inside it */
} FlRunnerState;

static const gchar *fl_runner_usage =
	"usage: flotilla-runner --dir SESSION_DIR [--cwd DIR] [--grace SECONDS] "
	"[--lock-fd FD] [--env KEY=VALUE]... [--env-file FILE] [--channel SESSION_ID] "
	"[--timeout SECONDS] [--memory BYTES] [--pids COUNT] [--cpu SECONDS] [--confine bwrap "
	"[--bind PATH]... "
	"[--ro-bind PATH]... [--home-ro REL]... [--home-rw REL]... [--network on|none] "
	"[--git-layer GIT_DIR]] "
	"(-- PROGRAM [ARG...] | --argv-file FILE)";

static const gchar *const fl_runner_options[] = {
	FL_RUNNER_OPT_DIR,      FL_RUNNER_OPT_CWD,       FL_RUNNER_OPT_SUBDIR,
	FL_RUNNER_OPT_GRACE,    FL_RUNNER_OPT_LOCK_FD,   FL_RUNNER_OPT_ENV,
	FL_RUNNER_OPT_ENV_FILE, FL_RUNNER_OPT_ARGV_FILE, FL_RUNNER_OPT_CHANNEL,
	FL_RUNNER_OPT_TIMEOUT,  FL_RUNNER_OPT_MEMORY,    FL_RUNNER_OPT_PIDS,
	FL_RUNNER_OPT_CPU,      FL_RUNNER_OPT_CONFINE,   FL_RUNNER_OPT_BIND,
	FL_RUNNER_OPT_RO_BIND,  FL_RUNNER_OPT_HOME_RO,   FL_RUNNER_OPT_HOME_RW,
	FL_RUNNER_OPT_NETWORK,  FL_RUNNER_OPT_GIT_LAYER, NULL};

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
		if (!g_strv_contains(fl_runner_options, name)) {
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
		} else if (g_strcmp0(name, FL_RUNNER_OPT_SUBDIR) == 0) {
			g_auto(GStrv) parts = g_strsplit(value, "/", -1);

			/* a path below --cwd, not one that climbs out of it by its spelling */
			if (value[0] == '\0' || g_path_is_absolute(value) ||
			    g_strv_contains((const gchar *const *)parts, "..")) {
				g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
					    "--subdir needs a relative path without '..', not '%s'",
					    value);
				return FALSE;
			}
			args->subdir = value;
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
		} else if (g_strcmp0(name, FL_RUNNER_OPT_CONFINE) == 0) {
			if (g_strcmp0(value, "bwrap") != 0) {
				g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
					    "--confine knows only 'bwrap', not '%s'", value);
				return FALSE;
			}
			args->confine = value;
		} else if (g_strcmp0(name, FL_RUNNER_OPT_NETWORK) == 0) {
			if (g_strcmp0(value, "on") != 0 && g_strcmp0(value, "none") != 0) {
				g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
					    "--network needs 'on' or 'none', not '%s'", value);
				return FALSE;
			}
			args->no_network = g_strcmp0(value, "none") == 0;
		} else if (g_strcmp0(name, FL_RUNNER_OPT_GIT_LAYER) == 0) {
			if (!g_path_is_absolute(value)) {
				g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
					    "%s needs an absolute path, not '%s'", name, value);
				return FALSE;
			}
			args->git_layer = value;
		} else if (g_strcmp0(name, FL_RUNNER_OPT_BIND) == 0 ||
			   g_strcmp0(name, FL_RUNNER_OPT_RO_BIND) == 0) {
			if (!g_path_is_absolute(value)) {
				g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
					    "%s needs an absolute path, not '%s'", name, value);
				return FALSE;
			}
			g_ptr_array_add(g_strcmp0(name, FL_RUNNER_OPT_BIND) == 0 ? args->binds
										 : args->ro_binds,
					(gpointer)value);
		} else if (g_strcmp0(name, FL_RUNNER_OPT_HOME_RO) == 0 ||
			   g_strcmp0(name, FL_RUNNER_OPT_HOME_RW) == 0) {
			/* fl_sandbox_build_argv() refuses anything that leaves the home */
			g_ptr_array_add(g_strcmp0(name, FL_RUNNER_OPT_HOME_RO) == 0 ? args->home_ro
										    : args->home_rw,
					(gpointer)value);
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
		} else if (g_strcmp0(name, FL_RUNNER_OPT_ENV) != 0) {
			guint64 *target =
				g_strcmp0(name, FL_RUNNER_OPT_CHANNEL) == 0   ? &args->channel
				: g_strcmp0(name, FL_RUNNER_OPT_TIMEOUT) == 0 ? &args->timeout
				: g_strcmp0(name, FL_RUNNER_OPT_MEMORY) == 0  ? &args->memory
				: g_strcmp0(name, FL_RUNNER_OPT_CPU) == 0     ? &args->cpu
									      : &args->pids;

			if (!g_ascii_string_to_unsigned(value, 10, 1, G_MAXINT64, target, NULL)) {
				g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
					    "%s needs a positive whole number, not '%s'", name,
					    value);
				return FALSE;
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
	if (args->confine != NULL && (args->cwd == NULL || !g_path_is_absolute(args->cwd))) {
		g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
				    "--confine needs an absolute --cwd");
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
fl_runner_exit_json(const FlRunnerState *state, gboolean confined)
{
	g_autofree gchar *finished_at = fl_runner_now_iso8601();
	gboolean exited = WIFEXITED(state->status);
	gint code = exited ? WEXITSTATUS(state->status) : -1;
	gint sig = exited ? 0 : WTERMSIG(state->status);

	g_autofree gchar *limit = state->limit != NULL
					  ? g_strdup_printf(",\"" FL_RUNNER_KEY_LIMIT
							    "\":\"%s\",\"" FL_RUNNER_KEY_LIMIT_VALUE
							    "\":%" G_GUINT64_FORMAT,
							    state->limit, state->limit_value)
					  : g_strdup("");

	/* bwrap exits with 128 + N when the program in it was killed by signal N (as a shell
	 * does): the user is told of the signal, as without confinement */
	if (confined && exited && code > 128 && code < 128 + NSIG) {
		exited = FALSE;
		sig = code - 128;
		code = -1;
	}
	return g_strdup_printf("{\"" FL_RUNNER_KEY_VERSION "\":%d,\"" FL_RUNNER_KEY_STATUS
			       "\":\"%s\",\"" FL_RUNNER_KEY_CODE "\":%d,\"" FL_RUNNER_KEY_SIGNAL
			       "\":%d,\"" FL_RUNNER_KEY_CANCELLED
			       "\":%s%s,\"" FL_RUNNER_KEY_FINISHED_AT "\":\"%s\"}\n",
			       FL_RUNNER_PROTOCOL_VERSION,
			       exited ? FL_RUNNER_STATUS_EXITED : FL_RUNNER_STATUS_SIGNALED, code,
			       sig, state->cancelled ? "true" : "false", limit, finished_at);
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
/*
 * The bwrap command line around the program: the sandbox shows the working directory and the
 * session's agent/ directory writable, the session's channel, and of the home only what the
 * agent's kind needs (see fl-sandbox.h). Built here rather than by the daemon so that a runner
 * anywhere (a cluster node) confines its session the same way.
 */
static gchar **
fl_runner_confine(const FlRunnerArgs *args, GError **error)
{
	g_autoptr(FlSandbox) sandbox = fl_sandbox_new();
	g_autofree gchar *agent_dir = g_build_filename(args->dir, FL_RUNNER_DIR_AGENT, NULL);
	g_autofree gchar *cache = g_build_filename(agent_dir, "cache", NULL);
	g_autofree gchar *state = g_build_filename(agent_dir, "state", NULL);

	g_ptr_array_add(args->home_ro, NULL);
	g_ptr_array_add(args->home_rw, NULL);
	if (g_mkdir_with_parents(agent_dir, 0700) < 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
			    "cannot create %s: %s", agent_dir, g_strerror(errno));
		return NULL;
	}
	fl_sandbox_set_home(sandbox, g_get_home_dir(), (const gchar *const *)args->home_ro->pdata,
			    (const gchar *const *)args->home_rw->pdata);
	fl_sandbox_bind(sandbox, args->cwd, TRUE, TRUE);
	fl_sandbox_bind(sandbox, agent_dir, TRUE, TRUE);
	for (guint i = 0; i < args->binds->len; i++)
		fl_sandbox_bind(sandbox, g_ptr_array_index(args->binds, i), TRUE, FALSE);
	for (guint i = 0; i < args->ro_binds->len; i++)
		fl_sandbox_bind(sandbox, g_ptr_array_index(args->ro_binds, i), FALSE, FALSE);
	if (args->git_layer != NULL) {
		g_autofree gchar *layer = g_build_filename(args->dir, FL_RUNNER_DIR_GIT, NULL);
		fl_sandbox_bind_git_layer(sandbox, layer, args->git_layer);
	}
	if (args->channel > 0) {
		g_autofree gchar *channel = g_build_filename(args->dir, FL_RELAY_SOCKET, NULL);
		fl_sandbox_set_channel(sandbox, channel);
	}
	fl_sandbox_set_network(sandbox, !args->no_network);
	fl_sandbox_set_cwd(sandbox, args->start);
	/* caches and state the agent's tools keep stay in the session, not in a hidden home */
	fl_sandbox_setenv(sandbox, "XDG_CACHE_HOME", cache);
	fl_sandbox_setenv(sandbox, "XDG_STATE_HOME", state);
	/* the sandbox's own count: RLIMIT_NPROC per user namespace; the runner watches too */
	fl_sandbox_set_rlimits(sandbox, 0, args->pids);
	return fl_sandbox_build_argv(sandbox, (const gchar *const *)args->argv, error);
}

/*
 * Where the program starts: --cwd/--subdir when that is a directory that stays beneath --cwd
 * once its links are followed (a link in the draft must not start the agent elsewhere), else
 * --cwd, with a line in the log saying so. Decided before the fork, on this machine's view,
 * which is also the sandbox's: the worktree is shown at its own path.
 */
static gchar *
fl_runner_start_dir(const FlRunnerArgs *args, gint log_fd)
{
	g_autofree gchar *path = NULL;
	g_autofree gchar *top = NULL;
	g_autofree gchar *real = NULL;
	g_autofree gchar *msg = NULL;

	if (args->cwd == NULL || args->subdir == NULL)
		return g_strdup(args->cwd);
	path = g_build_filename(args->cwd, args->subdir, NULL);
	top = realpath(args->cwd, NULL);
	real = realpath(path, NULL);
	if (top != NULL && real != NULL && g_file_test(real, G_FILE_TEST_IS_DIR) &&
	    g_str_has_prefix(real, top) && (real[strlen(top)] == '/' || real[strlen(top)] == '\0'))
		return g_steal_pointer(&path);
	msg = g_strdup_printf("flotilla-runner: %s is not a directory of %s; starting at its "
			      "top\n",
			      args->subdir, args->cwd);
	fl_runner_write_all(log_fd, msg);
	return g_strdup(args->cwd);
}

G_GNUC_NORETURN static void
fl_runner_exec_child(const FlRunnerArgs *args, gint log_fd)
{
	sigset_t empty;
	gchar **argv = args->argv;

	setpgid(0, 0);
	if (dup2(log_fd, STDOUT_FILENO) < 0 || dup2(log_fd, STDERR_FILENO) < 0)
		_exit(FL_RUNNER_EXIT_CANNOT_RUN);
	/* whatever the daemon leaked to us is none of the agent's business */
	close_range(STDERR_FILENO + 1, ~0U, 0);

	for (gint sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigemptyset(&empty);
	sigprocmask(SIG_SETMASK, &empty, NULL);

	if (args->start != NULL && chdir(args->start) < 0) {
		g_autofree gchar *msg =
			g_strdup_printf("flotilla-runner: cannot change directory to %s: %s\n",
					args->start, g_strerror(errno));
		fl_runner_write_all(STDERR_FILENO, msg);
		_exit(FL_RUNNER_EXIT_CANNOT_RUN);
	}
	for (guint i = 0; i < args->env->len; i++) {
		const gchar *pair = g_ptr_array_index(args->env, i);
		const gchar *sep = strchr(pair, '=');
		g_autofree gchar *key = g_strndup(pair, sep - pair);

		setenv(key, sep + 1, 1);
	}
	if (args->confine != NULL) {
		g_autoptr(GError) error = NULL;

		argv = fl_runner_confine(args, &error);
		if (argv == NULL) {
			g_autofree gchar *msg =
				g_strdup_printf("flotilla-runner: cannot confine the session: %s\n",
						error->message);
			fl_runner_write_all(STDERR_FILENO, msg);
			_exit(FL_RUNNER_EXIT_CANNOT_RUN);
		}
	}

	execvp(argv[0], argv);
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

/* CPU time (clock ticks) @pid used and its children it reaped used, from /proc/PID/stat */
static guint64
fl_runner_cpu_ticks(pid_t pid)
{
	g_autofree gchar *path = g_strdup_printf("/proc/%d/stat", (gint)pid);
	g_autofree gchar *stat = NULL;
	g_auto(GStrv) fields = NULL;
	const gchar *rest;
	guint64 total = 0;

	/* the command name may hold spaces and parentheses: the fields start after the last ')' */
	if (!g_file_get_contents(path, &stat, NULL, NULL) || (rest = strrchr(stat, ')')) == NULL)
		return 0;
	fields = g_strsplit(rest + 1, " ", 17);
	/* fields[1] is the state (field 3 of proc(5)): utime, stime, cutime, cstime are 14-17 */
	for (guint i = 12; i <= 15 && g_strv_length(fields) > 15; i++) {
		guint64 ticks = 0;

		if (g_ascii_string_to_unsigned(fields[i], 10, 0, G_MAXUINT64, &ticks, NULL))
			total += ticks;
	}
	return total;
}

/* the tasks (threads included, as RLIMIT_NPROC counts them), resident memory and CPU time of
 * @root and everything below it; @root itself (bwrap's outer process) is not counted as a task.
 * CPU time includes what exited processes used, through their parents' reaped-children time */
static void
fl_runner_measure(pid_t root, guint64 *resident, guint64 *tasks, guint64 *cpu_ticks)
{
	g_autoptr(GArray) queue = g_array_new(FALSE, FALSE, sizeof(pid_t));
	guint64 page = (guint64)sysconf(_SC_PAGESIZE);

	*resident = 0;
	*tasks = 0;
	*cpu_ticks = 0;
	g_array_append_val(queue, root);
	for (guint i = 0; i < queue->len; i++) {
		pid_t pid = g_array_index(queue, pid_t, i);
		g_autofree gchar *task_path = g_strdup_printf("/proc/%d/task", (gint)pid);
		g_autofree gchar *statm_path = g_strdup_printf("/proc/%d/statm", (gint)pid);
		g_autofree gchar *statm = NULL;
		g_autoptr(GDir) task_dir = NULL;
		const gchar *tid;

		*cpu_ticks += fl_runner_cpu_ticks(pid);
		if (g_file_get_contents(statm_path, &statm, NULL, NULL)) {
			g_auto(GStrv) fields = g_strsplit(statm, " ", 3);
			guint64 pages = 0;

			if (fields[0] != NULL && fields[1] != NULL &&
			    g_ascii_string_to_unsigned(fields[1], 10, 0, G_MAXUINT64, &pages, NULL))
				*resident += pages * page;
		}
		task_dir = g_dir_open(task_path, 0, NULL);
		if (task_dir == NULL)
			continue;
		while ((tid = g_dir_read_name(task_dir)) != NULL) {
			g_autofree gchar *children_path =
				g_build_filename(task_path, tid, "children", NULL);
			g_autofree gchar *children = NULL;
			g_auto(GStrv) pids = NULL;

			if (pid != root)
				(*tasks)++;
			if (!g_file_get_contents(children_path, &children, NULL, NULL))
				continue;
			pids = g_strsplit_set(g_strstrip(children), " ", -1);
			for (guint j = 0; pids[j] != NULL; j++) {
				guint64 child = 0;

				if (g_ascii_string_to_unsigned(pids[j], 10, 1, G_MAXINT, &child,
							       NULL)) {
					pid_t child_pid = (pid_t)child;
					g_array_append_val(queue, child_pid);
				}
			}
		}
	}
}

/*
 * The polite signal of a cancel or a time limit, to the agent's process group. Confined, the
 * group's leader is bwrap, which forwards nothing and would die at once, taking the sandbox
 * with it (--die-with-parent) before the agent saw the signal: it is spared, and goes when
 * its program does or at the SIGKILL after the grace period.
 *
 * Returns how many processes got it besides the sandbox's own init (which ignores it): none
 * while bwrap is still setting up, and then the caller tries again, or the signal is lost.
 */
static guint
fl_runner_signal_agent(const FlRunnerState *state, gint sig)
{
	g_autoptr(GDir) proc = NULL;
	const gchar *name;
	guint reached = 0;

	if (!state->confined) {
		kill(-state->child, sig);
		return 1;
	}
	proc = g_dir_open("/proc", 0, NULL);
	while (proc != NULL && (name = g_dir_read_name(proc)) != NULL) {
		guint64 pid = 0;
		FlProcStat stat;

		if (!g_ascii_string_to_unsigned(name, 10, 1, G_MAXINT, &pid, NULL) ||
		    (pid_t)pid == state->child || !fl_proc_stat_read((gint)pid, &stat, NULL))
			continue;
		if (stat.pgrp != (guint64)state->child)
			continue;
		kill((pid_t)pid, sig);
		if (stat.ppid != (guint64)state->child)
			reached++;
	}
	return reached;
}

/* a limit ends the session: memory and processes at once (they hurt the machine while we
 * wait), time like a cancel, with the grace period */
static void
fl_runner_hit_limit(FlRunnerState *state, const gchar *limit, guint64 value, gint64 *deadline,
		    gdouble grace)
{
	if (state->limit == NULL) {
		state->limit = limit;
		state->limit_value = value;
	}
	/* time and CPU time: the agent may still save its work; memory and tasks hurt now */
	if (g_strcmp0(limit, "time") == 0 || g_strcmp0(limit, "cpu") == 0) {
		fl_runner_signal_agent(state, SIGTERM);
		if (!state->confined)
			kill(state->child, SIGTERM);
		if (*deadline < 0)
			*deadline = g_get_monotonic_time() + (gint64)(grace * G_USEC_PER_SEC);
	} else {
		kill(-state->child, SIGKILL);
		kill(state->child, SIGKILL);
	}
}

static gint64
fl_runner_earliest(gint64 a, gint64 b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return MIN(a, b);
}

static void
fl_runner_supervise(FlRunnerState *state, const sigset_t *handled, const FlRunnerArgs *args)
{
	gint64 deadline = -1;
	gint64 wall = args->timeout > 0
			      ? g_get_monotonic_time() + (gint64)args->timeout * G_USEC_PER_SEC
			      : -1;
	gint64 next_poll =
		args->memory > 0 || args->pids > 0 || args->cpu > 0 ? g_get_monotonic_time() : -1;
	guint64 ticks_per_second = (guint64)sysconf(_SC_CLK_TCK);
	gint64 resignal = -1; /* when to try a cancel's signal again: the agent was not up yet */
	gint resignal_sig = SIGTERM;

	while (!state->child_done) {
		gint64 now = g_get_monotonic_time();
		gint64 wake;
		siginfo_t info;
		gint sig;

		if (deadline >= 0 && now >= deadline) {
			/* both: the main child may have left the group */
			kill(-state->child, SIGKILL);
			kill(state->child, SIGKILL);
			deadline = -1;
			continue;
		}
		if (resignal >= 0 && now >= resignal) {
			resignal = fl_runner_signal_agent(state, resignal_sig) > 0
					   ? -1
					   : now + FL_RUNNER_RESIGNAL_USEC;
			continue;
		}
		if (wall >= 0 && now >= wall) {
			wall = -1;
			fl_runner_hit_limit(state, "time", args->timeout, &deadline, args->grace);
			continue;
		}
		if (next_poll >= 0 && now >= next_poll) {
			guint64 resident = 0;
			guint64 tasks = 0;
			guint64 cpu_ticks = 0;

			fl_runner_measure(state->child, &resident, &tasks, &cpu_ticks);
			if (args->memory > 0 && resident >= args->memory)
				fl_runner_hit_limit(state, "memory", args->memory, &deadline,
						    args->grace);
			else if (args->pids > 0 && tasks >= args->pids)
				fl_runner_hit_limit(state, "pids", args->pids, &deadline,
						    args->grace);
			else if (args->cpu > 0 && cpu_ticks >= args->cpu * ticks_per_second)
				fl_runner_hit_limit(state, "cpu", args->cpu, &deadline,
						    args->grace);
			next_poll = now + FL_RUNNER_LIMIT_POLL_USEC;
			continue;
		}

		wake = fl_runner_earliest(
			fl_runner_earliest(fl_runner_earliest(deadline, wall), next_poll),
			resignal);
		if (wake >= 0) {
			gint64 left = wake - now;
			struct timespec ts;

			ts.tv_sec = left / G_USEC_PER_SEC;
			ts.tv_nsec = (left % G_USEC_PER_SEC) * 1000;
			sig = sigtimedwait(handled, &info, &ts);
		} else {
			sig = sigwaitinfo(handled, &info);
		}
		/* on a timeout or an interruption the next turn sees the deadlines again */
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
			resignal_sig = sig == SIGINT ? SIGINT : SIGTERM;
			if (fl_runner_signal_agent(state, resignal_sig) == 0)
				resignal = g_get_monotonic_time() + FL_RUNNER_RESIGNAL_USEC;
			if (deadline < 0)
				deadline = g_get_monotonic_time() +
					   (gint64)(args->grace * G_USEC_PER_SEC);
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

/*
 * The channel's socket, created before the agent starts so that it is there when the agent
 * first looks; served by a forked relay (the runner itself stays single-threaded and never
 * talks D-Bus). The relay dies with the runner.
 */
static gboolean
fl_runner_start_relay(const FlRunnerArgs *args, FlRunnerState *state, GError **error)
{
	g_autofree gchar *path = g_build_filename(args->dir, FL_RELAY_SOCKET, NULL);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	pid_t runner = getpid();
	gint fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NAMETOOLONG,
			    "the channel's path %s is too long for a unix socket", path);
		return FALSE;
	}
	strcpy(addr.sun_path, path);
	/* left behind by an earlier run of this session (a resume) */
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 16) < 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
			    "cannot listen on %s: %s", path, g_strerror(errno));
		if (fd >= 0)
			close(fd);
		return FALSE;
	}
	state->relay = fork();
	if (state->relay < 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
			    "cannot fork the channel's relay: %s", g_strerror(errno));
		close(fd);
		return FALSE;
	}
	if (state->relay == 0) {
		sigset_t empty;

		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (getppid() != runner)
			_exit(0);
		/* the runner's lock says the runner lives; the relay must not outlast it holding it
		 */
		if (args->lock_fd >= 0)
			close(args->lock_fd);
		for (gint sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		signal(SIGPIPE, SIG_IGN);
		sigemptyset(&empty);
		sigprocmask(SIG_SETMASK, &empty, NULL);
		fl_relay_run(fd, (guint)args->channel);
	}
	close(fd);
	return TRUE;
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
	g_autofree gchar *start = NULL;
	FlRunnerState state = {0};
	g_autoptr(GPtrArray) env = g_ptr_array_new();
	g_autoptr(GPtrArray) binds = g_ptr_array_new();
	g_autoptr(GPtrArray) ro_binds = g_ptr_array_new();
	g_autoptr(GPtrArray) home_ro = g_ptr_array_new();
	g_autoptr(GPtrArray) home_rw = g_ptr_array_new();
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
	args.binds = binds;
	args.ro_binds = ro_binds;
	args.home_ro = home_ro;
	args.home_rw = home_rw;
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

	if (args.channel > 0 && !fl_runner_start_relay(&args, &state, &error)) {
		g_printerr("flotilla-runner: %s\n", error->message);
		close(log_fd);
		return 1;
	}
	state.confined = args.confine != NULL;
	start = fl_runner_start_dir(&args, log_fd);
	args.start = start;
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

	fl_runner_supervise(&state, &handled, &args);
	fl_runner_kill_remaining();
	if (args.channel > 0) {
		/* the relay is gone with the rest: nobody answers there any more */
		g_autofree gchar *channel = g_build_filename(args.dir, FL_RELAY_SOCKET, NULL);
		unlink(channel);
	}

	exited = fl_runner_exit_json(&state, args.confine != NULL);
	if (!fl_runner_write_file(args.dir, FL_RUNNER_FILE_EXIT, exited, &error)) {
		g_printerr("flotilla-runner: cannot write exit.json: %s\n", error->message);
		return 1;
	}
	return 0;
}
