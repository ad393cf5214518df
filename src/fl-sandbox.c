/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-sandbox.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "fl-error.h"
#include "fl-i18n.h"
#include "fl-msg.h"

typedef struct {
	gchar *path;
	gchar *dest; /* where it appears inside */
	gboolean writable;
	gboolean required;
} FlSandboxBind;

struct _FlSandbox {
	GArray *binds; /* (element-type FlSandboxBind) */
	gchar *home;   /* (nullable) */
	GStrv home_ro;
	GStrv home_rw;
	gchar *channel; /* (nullable) */
	gboolean network;
	gchar *cwd;     /* (nullable) */
	GPtrArray *env; /* name, value (nullable) pairs */
	guint64 rlimit_as;
	guint64 rlimit_nproc;
};

/* the system, read-only; on merged-/usr systems some of these are symlinks, kept as such */
static const gchar *const fl_sandbox_system[] = {"/usr",    "/etc", "/opt",   "/bin",
						 "/sbin",   "/lib", "/lib32", "/lib64",
						 "/libx32", "/nix", NULL};

/*
 * Doors out that live in the environment: the session and system buses, the desktop, the
 * user's agents. The sockets themselves are not in the sandbox anyway (no /run, no home), but
 * a client that finds no address has nothing to try; abstract sockets are the exception, see
 * README "What a session can touch".
 */
static const gchar *const fl_sandbox_unset[] = {"DBUS_SESSION_BUS_ADDRESS",
						"DBUS_SYSTEM_BUS_ADDRESS",
						"DBUS_STARTER_ADDRESS",
						"DBUS_STARTER_BUS_TYPE",
						"XDG_RUNTIME_DIR",
						"DISPLAY",
						"WAYLAND_DISPLAY",
						"XAUTHORITY",
						"SESSION_MANAGER",
						"SSH_AUTH_SOCK",
						"SSH_AGENT_PID",
						"GPG_AGENT_INFO",
						"GNOME_KEYRING_CONTROL",
						"PULSE_SERVER",
						"NOTIFY_SOCKET",
						"LISTEN_FDS",
						"LISTEN_PID",
						"LISTEN_FDNAMES",
						"INVOCATION_ID",
						"JOURNAL_STREAM",
						"MANAGERPID",
						"SYSTEMD_EXEC_PID",
						"TMUX",
						"TMUX_PANE",
						"STY",
						NULL};

FlSandbox *
fl_sandbox_new(void)
{
	FlSandbox *self = g_new0(FlSandbox, 1);

	self->binds = g_array_new(FALSE, TRUE, sizeof(FlSandboxBind));
	self->env = g_ptr_array_new_with_free_func(g_free);
	self->network = TRUE;
	return self;
}

void
fl_sandbox_free(FlSandbox *self)
{
	if (self == NULL)
		return;
	for (guint i = 0; i < self->binds->len; i++) {
		g_free(g_array_index(self->binds, FlSandboxBind, i).path);
		g_free(g_array_index(self->binds, FlSandboxBind, i).dest);
	}
	g_array_unref(self->binds);
	g_free(self->home);
	g_strfreev(self->home_ro);
	g_strfreev(self->home_rw);
	g_free(self->channel);
	g_free(self->cwd);
	g_ptr_array_unref(self->env);
	g_free(self);
}

void
fl_sandbox_bind(FlSandbox *self, const gchar *path, gboolean writable, gboolean required)
{
	fl_sandbox_bind_at(self, path, path, writable, required);
}

void
fl_sandbox_bind_at(FlSandbox *self, const gchar *path, const gchar *dest, gboolean writable,
		   gboolean required)
{
	FlSandboxBind bind = {g_strdup(path), g_strdup(dest), writable, required};

	g_array_append_val(self->binds, bind);
}

/* what the layer has of its own; the rest of the git dir is the repository's, read-only */
static const gchar *const fl_sandbox_git_private[] = {"refs",    "packed-refs", "logs",
						      "objects", "worktrees",   NULL};

void
fl_sandbox_bind_git_layer(FlSandbox *self, const gchar *layer, const gchar *common)
{
	g_autofree gchar *objects = g_build_filename(common, "objects", NULL);
	g_autoptr(GDir) dir = g_dir_open(common, 0, NULL);
	const gchar *name;

	/* first the layer, then the repository's own files on top of it at their names: a bind
	 * cannot be renamed over or removed, so config and hooks stay as they are */
	fl_sandbox_bind_at(self, layer, common, TRUE, TRUE);
	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *path = NULL;

		/* a lock is a moment in someone else's git, likely gone when bwrap looks */
		if (g_strv_contains(fl_sandbox_git_private, name) ||
		    g_str_has_suffix(name, ".lock"))
			continue;
		path = g_build_filename(common, name, NULL);
		fl_sandbox_bind(self, path, FALSE, FALSE);
	}
	fl_sandbox_bind_at(self, objects, FL_SANDBOX_GIT_OBJECTS, FALSE, TRUE);
}

void
fl_sandbox_set_home(FlSandbox *self, const gchar *home, const gchar *const *home_ro,
		    const gchar *const *home_rw)
{
	g_free(self->home);
	g_strfreev(self->home_ro);
	g_strfreev(self->home_rw);
	self->home = g_strdup(home);
	self->home_ro = g_strdupv((gchar **)home_ro);
	self->home_rw = g_strdupv((gchar **)home_rw);
}

void
fl_sandbox_set_channel(FlSandbox *self, const gchar *socket_path)
{
	g_free(self->channel);
	self->channel = g_strdup(socket_path);
}

void
fl_sandbox_set_network(FlSandbox *self, gboolean network)
{
	self->network = network;
}

void
fl_sandbox_set_cwd(FlSandbox *self, const gchar *cwd)
{
	g_free(self->cwd);
	self->cwd = g_strdup(cwd);
}

void
fl_sandbox_setenv(FlSandbox *self, const gchar *name, const gchar *value)
{
	g_ptr_array_add(self->env, g_strdup(name));
	g_ptr_array_add(self->env, g_strdup(value));
}

void
fl_sandbox_set_rlimits(FlSandbox *self, guint64 address_space, guint64 processes)
{
	self->rlimit_as = address_space;
	self->rlimit_nproc = processes;
}

gchar *
fl_sandbox_find_bwrap(void)
{
	const gchar *override = g_getenv("FLOTILLA_BWRAP");

	if (override != NULL && override[0] != '\0')
		return g_find_program_in_path(override);
	return g_find_program_in_path("bwrap");
}

static void
fl_sandbox_add(GPtrArray *argv, const gchar *first, ...) G_GNUC_NULL_TERMINATED;

static void
fl_sandbox_add(GPtrArray *argv, const gchar *first, ...)
{
	va_list ap;

	va_start(ap, first);
	for (const gchar *arg = first; arg != NULL; arg = va_arg(ap, const gchar *))
		g_ptr_array_add(argv, g_strdup(arg));
	va_end(ap);
}

/* a directory the system part already shows read-only: a program there needs no bind */
static gboolean
fl_sandbox_is_system_path(const gchar *path)
{
	for (guint i = 0; fl_sandbox_system[i] != NULL; i++) {
		const gchar *dir = fl_sandbox_system[i];
		gsize len = strlen(dir);

		if (strncmp(path, dir, len) == 0 && (path[len] == '/' || path[len] == '\0'))
			return TRUE;
	}
	return FALSE;
}

/* a home entry must stay below the home: no absolute paths, no "..", nothing empty */
static gboolean
fl_sandbox_check_relative(const gchar *rel, GError **error)
{
	g_auto(GStrv) parts = g_strsplit(rel, "/", -1);

	if (rel[0] == '\0' || g_path_is_absolute(rel))
		goto bad;
	for (guint i = 0; parts[i] != NULL; i++) {
		if (g_strcmp0(parts[i], "..") == 0 || g_strcmp0(parts[i], ".") == 0)
			goto bad;
	}
	return TRUE;
bad:
	fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
		     N_("'%s' is not a path inside the home directory"), rel);
	return FALSE;
}

static gboolean
fl_sandbox_add_home(FlSandbox *self, GPtrArray *argv, GError **error)
{
	const gchar *const *lists[] = {(const gchar *const *)self->home_ro,
				       (const gchar *const *)self->home_rw};

	/* a home that is the root or a system directory cannot be hidden without hiding those */
	if (self->home == NULL || !g_path_is_absolute(self->home) ||
	    g_strcmp0(self->home, "/") == 0 || fl_sandbox_is_system_path(self->home))
		return TRUE;
	fl_sandbox_add(argv, "--tmpfs", self->home, NULL);
	for (guint l = 0; l < G_N_ELEMENTS(lists); l++) {
		for (guint i = 0; lists[l] != NULL && lists[l][i] != NULL; i++) {
			g_autofree gchar *path = NULL;

			g_autofree gchar *rel = g_strdup(lists[l][i]);
			gboolean is_dir = g_str_has_suffix(rel, "/");

			if (is_dir)
				rel[strlen(rel) - 1] = '\0';
			if (!fl_sandbox_check_relative(rel, error))
				return FALSE;
			path = g_build_filename(self->home, rel, NULL);
			/* a writable directory the agent has not made yet (its first run) is made
			 * now, or what it writes there (Claude's transcripts, for a resume) would
			 * go to the sandbox's empty home and be lost */
			if (l == 1 && is_dir && g_mkdir_with_parents(path, 0700) < 0) {
				fl_set_error(error, FL_ERROR_FAILED, N_("cannot create %s: %s"),
					     path, g_strerror(errno));
				return FALSE;
			}
			/* an agent that has never run has no config yet: nothing to show */
			if (!g_file_test(path, G_FILE_TEST_EXISTS))
				continue;
			fl_sandbox_add(argv, l == 0 ? "--ro-bind" : "--bind", path, path, NULL);
		}
	}
	return TRUE;
}

/* the program, wherever it lives: outside the system directories its own directory is shown
 * read-only (a build tree, ~/.local/bin, a node_modules package) */
static gboolean
fl_sandbox_add_program(GPtrArray *argv, const gchar *program, GError **error)
{
	g_autofree gchar *found = g_find_program_in_path(program);
	g_autofree gchar *real = NULL;
	g_autofree gchar *found_dir = NULL;
	g_autofree gchar *real_dir = NULL;

	if (found == NULL) {
		fl_set_error(error, FL_ERROR_FAILED, N_("cannot find the program '%s'"), program);
		return FALSE;
	}
	real = g_canonicalize_filename(found, NULL);
	{
		/* follow symlinks by hand: g_canonicalize_filename() only cleans the name */
		g_autofree gchar *resolved = realpath(found, NULL);
		if (resolved != NULL) {
			g_free(real);
			real = g_steal_pointer(&resolved);
		}
	}
	found_dir = g_path_get_dirname(found);
	real_dir = g_path_get_dirname(real);
	if (!fl_sandbox_is_system_path(found_dir))
		fl_sandbox_add(argv, "--ro-bind", found_dir, found_dir, NULL);
	if (g_strcmp0(found_dir, real_dir) != 0 && !fl_sandbox_is_system_path(real_dir))
		fl_sandbox_add(argv, "--ro-bind", real_dir, real_dir, NULL);
	return TRUE;
}

gchar **
fl_sandbox_build_argv(FlSandbox *self, const gchar *const *argv_in, GError **error)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	g_autofree gchar *bwrap = fl_sandbox_find_bwrap();

	g_return_val_if_fail(argv_in != NULL && argv_in[0] != NULL, NULL);

	if (bwrap == NULL) {
		fl_set_error_literal(error, FL_ERROR_FAILED,
				     N_("bubblewrap (bwrap) is not installed"));
		return NULL;
	}
	g_ptr_array_add(argv, g_steal_pointer(&bwrap));
	/* namespaces: a user namespace of its own also makes the process limit count only
	 * this sandbox's processes */
	/*
	 * No --new-session: the sandbox stays in its runner's process group, so that a cancel's
	 * SIGTERM reaches the agent itself and it has its grace period (bwrap forwards no
	 * signals). What --new-session guards against, TIOCSTI into a terminal, has nothing to
	 * reach: the runner has no controlling terminal (setsid) and its agent's stdio is
	 * /dev/null and the log.
	 */
	fl_sandbox_add(argv, "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
		       "--unshare-cgroup-try", "--die-with-parent", NULL);
	if (!self->network)
		fl_sandbox_add(argv, "--unshare-net", NULL);

	for (guint i = 0; fl_sandbox_system[i] != NULL; i++) {
		const gchar *dir = fl_sandbox_system[i];
		g_autofree gchar *target = g_file_read_link(dir, NULL);

		if (target != NULL)
			fl_sandbox_add(argv, "--symlink", target, dir, NULL);
		else if (g_file_test(dir, G_FILE_TEST_IS_DIR))
			fl_sandbox_add(argv, "--ro-bind", dir, dir, NULL);
	}
	fl_sandbox_add(argv, "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/dev/shm", "--tmpfs",
		       "/tmp", "--tmpfs", "/var/tmp", "--dir", "/run", NULL);
	/* the home first: binds below it (a worktree in ~/src) go on top of its tmpfs */
	if (!fl_sandbox_add_home(self, argv, error))
		return NULL;
	for (guint i = 0; i < self->binds->len; i++) {
		const FlSandboxBind *bind = &g_array_index(self->binds, FlSandboxBind, i);

		if (!g_file_test(bind->path, G_FILE_TEST_EXISTS)) {
			if (!bind->required)
				continue;
			fl_set_error(error, FL_ERROR_FAILED,
				     N_("cannot confine the session: %s does not exist"),
				     bind->path);
			return NULL;
		}
		fl_sandbox_add(argv, bind->writable ? "--bind" : "--ro-bind", bind->path,
			       bind->dest, NULL);
	}
	if (!fl_sandbox_add_program(argv, argv_in[0], error))
		return NULL;
	if (self->channel != NULL) {
		fl_sandbox_add(argv, "--ro-bind", self->channel, FL_SANDBOX_CHANNEL_PATH,
			       "--setenv", "FLOTILLA_CHANNEL", FL_SANDBOX_CHANNEL_PATH, NULL);
	}

	for (guint i = 0; fl_sandbox_unset[i] != NULL; i++)
		fl_sandbox_add(argv, "--unsetenv", fl_sandbox_unset[i], NULL);
	for (guint i = 0; i + 1 < self->env->len; i += 2) {
		const gchar *name = g_ptr_array_index(self->env, i);
		const gchar *value = g_ptr_array_index(self->env, i + 1);

		if (value != NULL)
			fl_sandbox_add(argv, "--setenv", name, value, NULL);
		else
			fl_sandbox_add(argv, "--unsetenv", name, NULL);
	}
	fl_sandbox_add(argv, "--setenv", "TMPDIR", "/tmp", NULL);
	if (self->cwd != NULL)
		fl_sandbox_add(argv, "--chdir", self->cwd, NULL);

	g_ptr_array_add(argv, g_strdup("--"));
	if (self->rlimit_as > 0 || self->rlimit_nproc > 0) {
		g_autofree gchar *prlimit = g_find_program_in_path("prlimit");

		if (prlimit == NULL) {
			fl_set_error_literal(error, FL_ERROR_FAILED,
					     N_("prlimit (util-linux) is needed to limit a "
						"session and is not installed"));
			return NULL;
		}
		g_ptr_array_add(argv, g_steal_pointer(&prlimit));
		if (self->rlimit_as > 0)
			g_ptr_array_add(
				argv, g_strdup_printf("--as=%" G_GUINT64_FORMAT, self->rlimit_as));
		if (self->rlimit_nproc > 0)
			g_ptr_array_add(argv, g_strdup_printf("--nproc=%" G_GUINT64_FORMAT,
							      self->rlimit_nproc));
		g_ptr_array_add(argv, g_strdup("--"));
	}
	for (guint i = 0; argv_in[i] != NULL; i++)
		g_ptr_array_add(argv, g_strdup(argv_in[i]));
	g_ptr_array_add(argv, NULL);
	return (gchar **)g_ptr_array_free(g_steal_pointer(&argv), FALSE);
}

gboolean
fl_sandbox_probe(GError **error)
{
	g_autoptr(FlSandbox) sandbox = fl_sandbox_new();
	g_auto(GStrv) argv = NULL;
	g_autofree gchar *err = NULL;
	g_autoptr(GError) error_local = NULL;
	const gchar *true_argv[] = {"true", NULL};
	gint status = 0;

	argv = fl_sandbox_build_argv(sandbox, true_argv, &error_local);
	if (argv == NULL) {
		fl_set_error(error, FL_ERROR_FAILED,
			     N_("%s; install it (Debian: apt install bubblewrap) or set "
				"[fleet] confinement=off to run sessions unconfined"),
			     error_local->message);
		return FALSE;
	}
	if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &err,
			  &status, &error_local)) {
		fl_set_error(error, FL_ERROR_FAILED, N_("cannot run %s: %s"), argv[0],
			     error_local->message);
		return FALSE;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		g_strstrip(err);
		fl_set_error(error, FL_ERROR_FAILED,
			     N_("bubblewrap cannot create a sandbox here (%s); user namespaces "
				"may be disabled (sysctl kernel.unprivileged_userns_clone=1, or on "
				"Ubuntu an AppArmor profile for bwrap), or set [fleet] "
				"confinement=off to run sessions unconfined"),
			     err[0] != '\0' ? err : fl_msg_word(N_("no message")));
		return FALSE;
	}
	return TRUE;
}
