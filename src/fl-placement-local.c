/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-placement-local.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fl-error.h"
#include "fl-i18n.h"
#include "fl-locale.h"
#include "fl-msg.h"
#include "fl-proc.h"
#include "fl-runner-protocol.h"
#include "fl-safe-path.h"
#include "fl-util.h"

/* what the daemon before placements wrote right before spawning a runner: the agent may have
 * run, so a session with only this marker is interrupted, never run again */
#define FL_PLACEMENT_LOCAL_FILE_LEGACY_SPAWNING "spawning"
/* the descriptor number the runner gets its lock on */
#define FL_PLACEMENT_LOCAL_LOCK_FD 3
/* how often to look again at what nothing signals: a runner that is not our child on a system
 * without pidfds, a runner not yet past started.json, processes dying after SIGKILL */
#define FL_PLACEMENT_LOCAL_POLL_MS 100
#define FL_PLACEMENT_LOCAL_REAP_MS 20
/* processes stuck in uninterruptible sleep must not hold the end back for ever */
#define FL_PLACEMENT_LOCAL_REAP_USEC (5 * G_USEC_PER_SEC)

struct _FlPlacementLocal {
	FlPlacement parent_instance;
	GSubprocess *runner; /* (owned) (nullable) while we are the runner's parent */
	gint runner_pid;     /* from the spawn or started.json; 0 unknown */
	guint64 runner_starttime;
	gint pidfd;    /* adopted runner, -1 when none */
	guint watch;   /* pidfd watch, or the poll of a runner we cannot get a pidfd for */
	guint reap_id; /* waiting for the session's remaining processes to die */
	gint64 reap_deadline;
	gboolean cancel_requested;
	gboolean gone;       /* the runner is gone: only the end remains to be reported */
	const gchar *status; /* (nullable) untranslated: what fl_placement_get_status() says */
	GCancellable *cancellable; /* (owned) our wait on the runner */
};

G_DEFINE_FINAL_TYPE(FlPlacementLocal, fl_placement_local, FL_TYPE_PLACEMENT)

static gchar *
fl_placement_local_file(FlPlacementLocal *self, const gchar *name)
{
	return fl_placement_get_file(FL_PLACEMENT(self), name);
}

static void
fl_placement_local_set_status(FlPlacementLocal *self, const gchar *status)
{
	if (self->status == status)
		return;
	self->status = status;
	fl_placement_status_changed(FL_PLACEMENT(self));
}

static void
fl_placement_local_stop_watching(FlPlacementLocal *self)
{
	g_clear_handle_id(&self->watch, g_source_remove);
	if (self->pidfd >= 0) {
		close(self->pidfd);
		self->pidfd = -1;
	}
}

/* ------------------------------------------------------------------ the end */

/* reads exit.json into @end; FALSE when there is none (or it is unreadable) */
static gboolean
fl_placement_local_read_exit(FlPlacementLocal *self, FlPlacementEnd *end)
{
	g_autofree gchar *path = fl_placement_local_file(self, FL_RUNNER_FILE_EXIT);
	g_autoptr(JsonObject) exit = fl_read_json_object(path, NULL);
	const gchar *status;

	if (exit == NULL)
		return FALSE;
	status = json_object_get_string_member_with_default(exit, FL_RUNNER_KEY_STATUS, "");
	end->code = (gint)json_object_get_int_member_with_default(exit, FL_RUNNER_KEY_CODE, -1);
	end->signal = (gint)json_object_get_int_member_with_default(exit, FL_RUNNER_KEY_SIGNAL, 0);
	end->cancelled =
		json_object_get_boolean_member_with_default(exit, FL_RUNNER_KEY_CANCELLED, FALSE);
	end->kind = g_strcmp0(status, FL_RUNNER_STATUS_EXITED) == 0 ? FL_PLACEMENT_END_EXITED
								    : FL_PLACEMENT_END_SIGNALED;
	/* interned: @end outlives the parsed file; only the runner's own three names count */
	end->limit = g_intern_string(
		json_object_get_string_member_with_default(exit, FL_RUNNER_KEY_LIMIT, NULL));
	if (g_strcmp0(end->limit, "time") != 0 && g_strcmp0(end->limit, "memory") != 0 &&
	    g_strcmp0(end->limit, "pids") != 0 && g_strcmp0(end->limit, "cpu") != 0)
		end->limit = NULL;
	end->limit_value = (guint64)json_object_get_int_member_with_default(
		exit, FL_RUNNER_KEY_LIMIT_VALUE, 0);
	return TRUE;
}

static void
fl_placement_local_report(FlPlacementLocal *self)
{
	FlPlacementEnd end = {FL_PLACEMENT_END_LOST, -1, 0, FALSE, NULL, NULL, 0};
	g_autofree gchar *why = NULL;

	if (!fl_placement_local_read_exit(self, &end)) {
		why = fl_msg_stored(
			N_("the session's runner vanished before recording an exit status"));
		end.reason = why;
	}
	end.cancelled = end.cancelled || self->cancel_requested;
	fl_placement_local_set_status(self, NULL);
	fl_placement_emit_ended(FL_PLACEMENT(self), &end);
}

static gboolean
fl_placement_local_reap_cb(gpointer user_data)
{
	FlPlacementLocal *self = user_data;
	guint left = fl_proc_kill_session(self->runner_pid, self->runner_starttime);

	if (left > 0 && g_get_monotonic_time() < self->reap_deadline)
		return G_SOURCE_CONTINUE;
	if (left > 0)
		g_warning("session %u: %u processes did not die after SIGKILL",
			  fl_placement_get_session_id(FL_PLACEMENT(self)), left);
	self->reap_id = 0;
	fl_placement_local_report(self);
	return G_SOURCE_REMOVE;
}

/*
 * The runner is gone. If it wrote exit.json it had already killed every process of the
 * session; if not (kill -9, OOM killer) the agent's processes live on under init, so they are
 * killed here first: the end must not be reported while anything still runs in the worktree.
 */
static void
fl_placement_local_runner_gone(FlPlacementLocal *self)
{
	g_autofree gchar *exit_path = fl_placement_local_file(self, FL_RUNNER_FILE_EXIT);

	if (self->gone)
		return;
	self->gone = TRUE;
	fl_placement_local_stop_watching(self);
	if (!g_file_test(exit_path, G_FILE_TEST_EXISTS) && self->runner_pid > 0 &&
	    fl_proc_kill_session(self->runner_pid, self->runner_starttime) > 0) {
		g_debug("session %u: killing what its runner left",
			fl_placement_get_session_id(FL_PLACEMENT(self)));
		fl_placement_local_set_status(self, N_("stopping what its runner left running"));
		self->reap_deadline = g_get_monotonic_time() + FL_PLACEMENT_LOCAL_REAP_USEC;
		self->reap_id =
			g_timeout_add(FL_PLACEMENT_LOCAL_REAP_MS, fl_placement_local_reap_cb, self);
		return;
	}
	fl_placement_local_report(self);
}

static void
fl_placement_local_wait_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	FlPlacementLocal *self;

	/* cancelled only when the placement is disposed: then user_data is gone */
	if (!g_subprocess_wait_finish(G_SUBPROCESS(source), res, &error) &&
	    g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	self = user_data;
	fl_placement_local_runner_gone(self);
}

static gboolean
fl_placement_local_pidfd_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	FlPlacementLocal *self = user_data;

	self->watch = 0;
	fl_placement_local_runner_gone(self);
	return G_SOURCE_REMOVE;
}

static gboolean
fl_placement_local_poll_runner_cb(gpointer user_data)
{
	FlPlacementLocal *self = user_data;

	if (fl_proc_starttime(self->runner_pid) == self->runner_starttime)
		return G_SOURCE_CONTINUE;
	self->watch = 0;
	fl_placement_local_runner_gone(self);
	return G_SOURCE_REMOVE;
}

/* ------------------------------------------------------------------ spawn */

static void
fl_placement_local_signal(FlPlacementLocal *self, gint sig);

/* the runner's lock, taken before the spawn and handed to it; -1 and @error when a runner
 * of this session still holds it */
static gint
fl_placement_local_take_lock(FlPlacementLocal *self, GError **error)
{
	g_autofree gchar *path = fl_placement_local_file(self, FL_RUNNER_FILE_LOCK);
	g_autofree gchar *dir = g_path_get_dirname(path);
	/* the session's directory: never through a link planted there */
	gint fd = fl_safe_open(dir, FL_RUNNER_FILE_LOCK, O_RDWR | O_CREAT, 0600, FALSE, error);

	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		gint saved = errno;
		close(fd);
		if (saved == EWOULDBLOCK)
			fl_set_error(error, FL_ERROR_BUSY,
				     N_("a runner of session %u is still running"),
				     fl_placement_get_session_id(FL_PLACEMENT(self)));
		else
			fl_set_error(error, FL_ERROR_FAILED, N_("cannot lock %s: %s"), path,
				     g_strerror(saved));
		return -1;
	}
	return fd;
}

static GPtrArray *
fl_placement_local_runner_argv(FlPlacementLocal *self, const FlPlacementCommand *cmd)
{
	FlPlacement *placement = FL_PLACEMENT(self);
	GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);

	g_ptr_array_add(argv, g_strdup(fl_placement_get_runner_path(placement)));
	g_ptr_array_add(argv, g_strdup(FL_RUNNER_OPT_DIR));
	g_ptr_array_add(argv, g_strdup(fl_placement_get_dir(placement)));
	if (cmd->cwd != NULL) {
		g_ptr_array_add(argv, g_strdup(FL_RUNNER_OPT_CWD));
		g_ptr_array_add(argv, g_strdup(cmd->cwd));
	}
	if (cmd->subdir != NULL) {
		g_ptr_array_add(argv, g_strdup(FL_RUNNER_OPT_SUBDIR));
		g_ptr_array_add(argv, g_strdup(cmd->subdir));
	}
	g_ptr_array_add(argv, g_strdup(FL_RUNNER_OPT_GRACE));
	g_ptr_array_add(argv,
			g_strdup_printf("%u", fl_placement_get_config(placement)->cancel_grace));
	g_ptr_array_add(argv, g_strdup(FL_RUNNER_OPT_LOCK_FD));
	g_ptr_array_add(argv, g_strdup_printf("%d", FL_PLACEMENT_LOCAL_LOCK_FD));
	for (guint i = 0; cmd->env != NULL && cmd->env[i] != NULL; i++) {
		g_ptr_array_add(argv, g_strdup(FL_RUNNER_OPT_ENV));
		g_ptr_array_add(argv, g_strdup(cmd->env[i]));
	}
	if (cmd->channel) {
		g_ptr_array_add(argv, g_strdup(FL_RUNNER_OPT_CHANNEL));
		g_ptr_array_add(argv,
				g_strdup_printf("%u", fl_placement_get_session_id(placement)));
	}
	{
		/* the runner enforces them: it outlives us and sees the session end */
		const struct {
			const gchar *option;
			guint64 value;
		} limits[] = {{FL_RUNNER_OPT_MEMORY, cmd->memory},
			      {FL_RUNNER_OPT_PIDS, cmd->pids},
			      {FL_RUNNER_OPT_CPU, cmd->cpu},
			      {FL_RUNNER_OPT_TIMEOUT, cmd->timeout}};

		for (guint i = 0; i < G_N_ELEMENTS(limits); i++) {
			if (limits[i].value == 0)
				continue;
			g_ptr_array_add(argv, g_strdup(limits[i].option));
			g_ptr_array_add(argv,
					g_strdup_printf("%" G_GUINT64_FORMAT, limits[i].value));
		}
	}
	if (cmd->confine) {
		const struct {
			const gchar *option;
			const gchar *const *values;
		} lists[] = {{FL_RUNNER_OPT_BIND, cmd->binds},
			     {FL_RUNNER_OPT_RO_BIND, cmd->ro_binds},
			     {FL_RUNNER_OPT_BIND, cmd->user_binds},
			     {FL_RUNNER_OPT_RO_BIND, cmd->user_ro_binds},
			     {FL_RUNNER_OPT_HOME_RO, cmd->home_ro},
			     {FL_RUNNER_OPT_HOME_RW, cmd->home_rw}};

		g_ptr_array_add(argv, g_strdup(FL_RUNNER_OPT_CONFINE));
		g_ptr_array_add(argv, g_strdup("bwrap"));
		for (guint l = 0; l < G_N_ELEMENTS(lists); l++) {
			for (guint i = 0; lists[l].values != NULL && lists[l].values[i] != NULL;
			     i++) {
				g_ptr_array_add(argv, g_strdup(lists[l].option));
				g_ptr_array_add(argv, g_strdup(lists[l].values[i]));
			}
		}
		g_ptr_array_add(argv, g_strdup(FL_RUNNER_OPT_NETWORK));
		g_ptr_array_add(argv, g_strdup(cmd->no_network ? "none" : "on"));
		if (cmd->git_layer != NULL) {
			g_ptr_array_add(argv, g_strdup(FL_RUNNER_OPT_GIT_LAYER));
			g_ptr_array_add(argv, g_strdup(cmd->git_layer));
		}
	}
	g_ptr_array_add(argv, g_strdup("--"));
	for (guint i = 0; cmd->argv[i] != NULL; i++)
		g_ptr_array_add(argv, g_strdup(cmd->argv[i]));
	g_ptr_array_add(argv, NULL);
	return argv;
}

static void
fl_placement_local_spawn_async(FlPlacement *placement, const FlPlacementCommand *cmd,
			       GCancellable *cancellable, GAsyncReadyCallback callback,
			       gpointer user_data)
{
	FlPlacementLocal *self = FL_PLACEMENT_LOCAL(placement);
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	g_autoptr(GError) error = NULL;
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GPtrArray) argv = fl_placement_local_runner_argv(self, cmd);
	g_autofree gchar *log = fl_placement_get_log_path(placement);
	g_autofree gchar *log_dir = g_path_get_dirname(log);
	g_autofree gchar *log_name = g_path_get_basename(log);
	g_auto(GStrv) env = NULL;
	gint log_fd;
	gint lock_fd;

	self->gone = FALSE;
	self->runner_pid = 0;
	self->runner_starttime = 0;
	/* the runner appends to the log too; its own complaints land there for the user */
	log_fd =
		fl_safe_open(log_dir, log_name, O_WRONLY | O_CREAT | O_APPEND, 0600, FALSE, &error);
	if (log_fd < 0) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	lock_fd = fl_placement_local_take_lock(self, &error);
	if (lock_fd < 0) {
		close(log_fd);
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	/* no child setup and no closing of descriptors (the runner does both itself): GLib then
	 * uses posix_spawn() instead of forking the whole daemon for every session */
	launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDERR_MERGE |
					     G_SUBPROCESS_FLAGS_INHERIT_FDS);
	/* the session's environment is the user's: with the LANGUAGE flotillad keeps aside */
	env = fl_locale_child_environ();
	g_subprocess_launcher_set_environ(launcher, env);
	g_subprocess_launcher_take_stdout_fd(launcher, log_fd);
	/* the launcher closes our copy: from then on only the runner holds the lock */
	g_subprocess_launcher_take_fd(launcher, lock_fd, FL_PLACEMENT_LOCAL_LOCK_FD);
	self->runner =
		g_subprocess_launcher_spawnv(launcher, (const gchar *const *)argv->pdata, &error);
	if (self->runner == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	self->runner_pid =
		(gint)g_ascii_strtoll(g_subprocess_get_identifier(self->runner), NULL, 10);
	self->runner_starttime = fl_proc_starttime(self->runner_pid);
	g_subprocess_wait_async(self->runner, self->cancellable, fl_placement_local_wait_cb, self);
	/* a cancel that came while the intent was being recorded: the runner holds SIGTERM
	 * pending until it is ready for it */
	if (self->cancel_requested)
		fl_placement_local_signal(self, SIGTERM);
	g_task_return_boolean(task, TRUE);
}

static gboolean
fl_placement_local_spawn_finish(FlPlacement *placement, GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}

/* ------------------------------------------------------------------ adopt */

static gint
fl_placement_local_pidfd_open(gint pid)
{
	return (gint)syscall(SYS_pidfd_open, pid, 0);
}

/* TRUE when a runner holds the session's lock (the lock file may not even exist) */
static gboolean
fl_placement_local_lock_is_held(FlPlacementLocal *self)
{
	g_autofree gchar *path = fl_placement_local_file(self, FL_RUNNER_FILE_LOCK);
	gint fd = g_open(path, O_RDWR | O_CLOEXEC, 0);
	gboolean held;

	if (fd < 0)
		return FALSE;
	held = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return held;
}

static void
fl_placement_local_signal(FlPlacementLocal *self, gint sig)
{
	if (self->runner != NULL) {
		g_subprocess_send_signal(self->runner, sig);
	} else if (self->pidfd >= 0) {
		if (syscall(SYS_pidfd_send_signal, self->pidfd, sig, NULL, 0) != 0)
			g_debug("session %u: pidfd_send_signal: %s",
				fl_placement_get_session_id(FL_PLACEMENT(self)), g_strerror(errno));
	} else if (self->runner_pid > 0 &&
		   fl_proc_starttime(self->runner_pid) == self->runner_starttime) {
		kill(self->runner_pid, sig);
	}
}

/* started.json names a runner: watch it if it is alive, else it is gone */
static void
fl_placement_local_adopt_started(FlPlacementLocal *self, JsonObject *started)
{
	gint64 pid = json_object_get_int_member_with_default(started, FL_RUNNER_KEY_RUNNER_PID, 0);
	guint64 starttime = (guint64)json_object_get_int_member_with_default(
		started, FL_RUNNER_KEY_RUNNER_STARTTIME, 0);
	const gchar *boot_id =
		json_object_get_string_member_with_default(started, FL_RUNNER_KEY_BOOT_ID, "");

	/* a pid is only ours if boot and start time match: pids get reused */
	if (pid <= 0 || pid > G_MAXINT || g_strcmp0(boot_id, fl_boot_id()) != 0) {
		fl_placement_local_runner_gone(self);
		return;
	}
	self->runner_pid = (gint)pid;
	self->runner_starttime = starttime;
	if (fl_proc_starttime((gint)pid) != starttime) {
		fl_placement_local_runner_gone(self);
		return;
	}
	self->pidfd = fl_placement_local_pidfd_open((gint)pid);
	if (self->pidfd < 0 && (errno == ENOSYS || errno == EPERM)) {
		/* no pidfds here (a kernel before 5.3, a seccomp filter, valgrind): look at the
		 * runner once in a while instead; it is not our child, so nothing else tells */
		self->watch = g_timeout_add(FL_PLACEMENT_LOCAL_POLL_MS,
					    fl_placement_local_poll_runner_cb, self);
	} else if (self->pidfd < 0) {
		fl_placement_local_runner_gone(self);
		return;
	} else {
		/* it could have exited between the check and the open: the pidfd is then
		 * readable at once, and exit.json tells */
		self->watch =
			g_unix_fd_add(self->pidfd, G_IO_IN, fl_placement_local_pidfd_cb, self);
	}
	fl_placement_local_set_status(self, NULL);
	g_debug("session %u: adopted runner %" G_GINT64_FORMAT,
		fl_placement_get_session_id(FL_PLACEMENT(self)), pid);
	if (self->cancel_requested)
		fl_placement_local_signal(self, SIGTERM);
}

static FlPlacementAdopt
fl_placement_local_adopt(FlPlacement *placement);

/* a runner holds the lock but has not written started.json yet: look again shortly */
static gboolean
fl_placement_local_adopt_again_cb(gpointer user_data)
{
	FlPlacementLocal *self = user_data;

	self->watch = 0;
	fl_placement_local_adopt(FL_PLACEMENT(self));
	return G_SOURCE_REMOVE;
}

static FlPlacementAdopt
fl_placement_local_adopt(FlPlacement *placement)
{
	FlPlacementLocal *self = FL_PLACEMENT_LOCAL(placement);
	g_autofree gchar *exit_path = fl_placement_local_file(self, FL_RUNNER_FILE_EXIT);
	g_autofree gchar *started_path = fl_placement_local_file(self, FL_RUNNER_FILE_STARTED);
	g_autofree gchar *spawning =
		fl_placement_local_file(self, FL_PLACEMENT_LOCAL_FILE_LEGACY_SPAWNING);
	g_autoptr(JsonObject) started = NULL;
	gboolean locked;

	if (g_file_test(exit_path, G_FILE_TEST_EXISTS)) {
		fl_placement_local_runner_gone(self);
		return FL_PLACEMENT_ADOPT_WATCHING;
	}
	/* the lock first: once it is free no runner can write started.json any more, so what
	 * we read next is final */
	locked = fl_placement_local_lock_is_held(self);
	started = fl_read_json_object(started_path, NULL);
	if (started != NULL) {
		fl_placement_local_adopt_started(self, started);
		return FL_PLACEMENT_ADOPT_WATCHING;
	}
	if (g_file_test(started_path, G_FILE_TEST_EXISTS)) {
		/* written durably in one rename, so damaged by something else: the agent ran */
		fl_placement_local_runner_gone(self);
		return FL_PLACEMENT_ADOPT_WATCHING;
	}
	if (locked) {
		fl_placement_local_set_status(self, N_("waiting for its runner to start"));
		self->watch = g_timeout_add(FL_PLACEMENT_LOCAL_POLL_MS,
					    fl_placement_local_adopt_again_cb, self);
		return FL_PLACEMENT_ADOPT_WATCHING;
	}
	if (fl_placement_has_intent(placement)) {
		/* recorded, and no runner got as far as starting the agent: it never ran */
		g_autofree gchar *why =
			fl_msg_stored(N_("the daemon stopped before the session's runner started"));
		FlPlacementEnd end = {FL_PLACEMENT_END_NOT_STARTED, -1, 0, self->cancel_requested,
				      why};
		self->gone = TRUE;
		fl_placement_local_set_status(self, NULL);
		fl_placement_emit_ended(placement, &end);
		return FL_PLACEMENT_ADOPT_WATCHING;
	}
	if (g_file_test(spawning, G_FILE_TEST_EXISTS)) {
		/* an older daemon's marker: a runner may have started the agent and vanished */
		fl_placement_local_runner_gone(self);
		return FL_PLACEMENT_ADOPT_WATCHING;
	}
	return FL_PLACEMENT_ADOPT_NOT_PLACED;
}

/* ------------------------------------------------------------------ the rest */

static void
fl_placement_local_cancel(FlPlacement *placement)
{
	FlPlacementLocal *self = FL_PLACEMENT_LOCAL(placement);

	self->cancel_requested = TRUE;
	/* the runner forwards SIGTERM to the agent's group and SIGKILLs it after the grace */
	if (!self->gone)
		fl_placement_local_signal(self, SIGTERM);
}

static void
fl_placement_local_forget(FlPlacement *placement)
{
	FlPlacementLocal *self = FL_PLACEMENT_LOCAL(placement);
	const gchar *files[] = {FL_RUNNER_FILE_EXIT, FL_RUNNER_FILE_STARTED,
				FL_PLACEMENT_LOCAL_FILE_LEGACY_SPAWNING, NULL};

	for (guint i = 0; files[i] != NULL; i++) {
		g_autofree gchar *path = fl_placement_local_file(self, files[i]);
		g_unlink(path);
	}
	fl_placement_local_stop_watching(self);
	g_clear_object(&self->runner);
	self->cancel_requested = FALSE;
	self->gone = FALSE;
}

static gchar *
fl_placement_local_get_status(FlPlacement *placement)
{
	FlPlacementLocal *self = FL_PLACEMENT_LOCAL(placement);

	return self->status != NULL ? g_strdup(_(self->status)) : NULL;
}

static void
fl_placement_local_dispose(GObject *object)
{
	FlPlacementLocal *self = FL_PLACEMENT_LOCAL(object);

	g_cancellable_cancel(self->cancellable);
	fl_placement_local_stop_watching(self);
	g_clear_handle_id(&self->reap_id, g_source_remove);
	G_OBJECT_CLASS(fl_placement_local_parent_class)->dispose(object);
}

static void
fl_placement_local_finalize(GObject *object)
{
	FlPlacementLocal *self = FL_PLACEMENT_LOCAL(object);

	g_clear_object(&self->runner);
	g_clear_object(&self->cancellable);
	G_OBJECT_CLASS(fl_placement_local_parent_class)->finalize(object);
}

static void
fl_placement_local_class_init(FlPlacementLocalClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	FlPlacementClass *placement_class = FL_PLACEMENT_CLASS(klass);

	object_class->dispose = fl_placement_local_dispose;
	object_class->finalize = fl_placement_local_finalize;
	placement_class->spawn_async = fl_placement_local_spawn_async;
	placement_class->spawn_finish = fl_placement_local_spawn_finish;
	placement_class->adopt = fl_placement_local_adopt;
	placement_class->cancel = fl_placement_local_cancel;
	placement_class->forget = fl_placement_local_forget;
	placement_class->get_status = fl_placement_local_get_status;
}

static void
fl_placement_local_init(FlPlacementLocal *self)
{
	self->pidfd = -1;
	self->cancellable = g_cancellable_new();
}
