/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-git.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Settings given on the command line win over every configuration file, so none of these
 * can be turned back on by a file a session wrote: no hooks, no fsmonitor daemon, no pager,
 * no credential helper, no network, no signing passphrase. The user's own configuration
 * (which a confined session cannot write) stays in force otherwise.
 */
static const gchar *const fl_git_hardening[] = {
	"core.hooksPath=/dev/null",
	"core.fsmonitor=false",
	"core.pager=cat",
	"credential.helper=",
	"protocol.allow=never",
	"commit.gpgSign=false",
	/* nor housekeeping after each commit: that is the user's git's job, not a session's */
	"maintenance.auto=false",
	"gc.auto=0",
	NULL,
};

GPtrArray *
fl_git_argv_new(const gchar *dir, const gchar *git_dir, const gchar *work_tree)
{
	GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);

	g_return_val_if_fail(dir != NULL || git_dir != NULL, NULL);

	g_ptr_array_add(argv, g_strdup("git"));
	g_ptr_array_add(argv, g_strdup("--no-pager"));
	if (git_dir != NULL) {
		g_ptr_array_add(argv, g_strconcat("--git-dir=", git_dir, NULL));
		if (work_tree != NULL)
			g_ptr_array_add(argv, g_strconcat("--work-tree=", work_tree, NULL));
	} else {
		g_ptr_array_add(argv, g_strdup("-C"));
		g_ptr_array_add(argv, g_strdup(dir));
	}
	for (guint i = 0; fl_git_hardening[i] != NULL; i++) {
		g_ptr_array_add(argv, g_strdup("-c"));
		g_ptr_array_add(argv, g_strdup(fl_git_hardening[i]));
	}
	return argv;
}

gchar **
fl_git_environ(const gchar *name, const gchar *email)
{
	const gchar *unset[] = {"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR",
				"GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
				"GIT_NAMESPACE", "GIT_PREFIX", "GIT_EXTERNAL_DIFF", "GIT_PAGER",
				"GIT_ASKPASS", "SSH_ASKPASS",
				/* config given through the environment is the caller's, not ours */
				"GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT", NULL};
	gchar **env = g_get_environ();

	for (guint i = 0; unset[i] != NULL; i++)
		env = g_environ_unsetenv(env, unset[i]);
	env = g_environ_setenv(env, "LC_ALL", "C", TRUE);
	env = g_environ_setenv(env, "GIT_TERMINAL_PROMPT", "0", TRUE);
	env = g_environ_setenv(env, "GIT_EDITOR", "true", TRUE);
	env = g_environ_setenv(env, "GIT_PAGER", "cat", TRUE);
	/* status must not rewrite the index of the user's checkout behind their back */
	env = g_environ_setenv(env, "GIT_OPTIONAL_LOCKS", "0", TRUE);
	/* what a draft commits may set up for itself is never what flotilla's git obeys: no
	 * system-wide attributes, no replace refs (the patch shown must be what is merged),
	 * and no transport a URL in a file could ask for */
	env = g_environ_setenv(env, "GIT_ATTR_NOSYSTEM", "1", TRUE);
	env = g_environ_setenv(env, "GIT_NO_REPLACE_OBJECTS", "1", TRUE);
	env = g_environ_setenv(env, "GIT_PROTOCOL_FROM_USER", "0", TRUE);
	if (name != NULL) {
		env = g_environ_setenv(env, "GIT_AUTHOR_NAME", name, TRUE);
		env = g_environ_setenv(env, "GIT_AUTHOR_EMAIL", email, TRUE);
		env = g_environ_setenv(env, "GIT_COMMITTER_NAME", name, TRUE);
		env = g_environ_setenv(env, "GIT_COMMITTER_EMAIL", email, TRUE);
	}
	return env;
}

/* the entry is what `git worktree add` wrote; the worktree's own .git file is the session's
 * and may point anywhere, so it is never asked */
gchar *
fl_git_worktree_admin_dir(const gchar *common, const gchar *worktree)
{
	g_autofree gchar *admin_root = g_build_filename(common, "worktrees", NULL);
	g_autofree gchar *real = realpath(worktree, NULL);
	g_autofree gchar *want = NULL;
	g_autofree gchar *first = NULL;
	g_autoptr(GDir) dir = NULL;
	const gchar *name;

	if (real == NULL)
		return NULL;
	want = g_build_filename(real, ".git", NULL);
	/* usually named after the worktree; git picks another name when that one is taken */
	first = g_path_get_basename(real);
	dir = g_dir_open(admin_root, 0, NULL);
	for (name = first; name != NULL; name = dir != NULL ? g_dir_read_name(dir) : NULL) {
		g_autofree gchar *admin = g_build_filename(admin_root, name, NULL);
		g_autofree gchar *gitdir_path = g_build_filename(admin, "gitdir", NULL);
		g_autofree gchar *gitdir = NULL;

		if (g_file_test(admin, G_FILE_TEST_IS_SYMLINK) ||
		    !g_file_get_contents(gitdir_path, &gitdir, NULL, NULL))
			continue;
		if (g_strcmp0(g_strchomp(gitdir), want) == 0)
			return g_steal_pointer(&admin);
	}
	return NULL;
}

/*
 * Not GSubprocess: its synchronous communicate() runs a private main context whose child
 * watch goes through GLib's worker thread, and under load a worker thread of ours hung for
 * good inside it (seen in the overlap check). A plain fork, a read loop and waitpid() on our
 * own child need none of that, as ostree found for gpg.
 */
gint
fl_git_run_sync(const gchar *dir, const gchar *const *env, gchar **out, gsize *out_len,
		GCancellable *cancellable, GError **error, ...)
{
	g_autoptr(GPtrArray) argv = fl_git_argv_new(dir, NULL, NULL);
	g_autoptr(GByteArray) bytes = g_byte_array_new();
	g_auto(GStrv) default_env = NULL;
	GPollFD fds[2] = {{-1, G_IO_IN, 0}, {-1, G_IO_IN, 0}};
	gboolean cancelled = FALSE;
	const gchar *arg;
	va_list args;
	GPid pid = 0;
	gint out_fd = -1;
	gint status = 0;

	va_start(args, error);
	while ((arg = va_arg(args, const gchar *)) != NULL)
		g_ptr_array_add(argv, g_strdup(arg));
	va_end(args);
	g_ptr_array_add(argv, NULL);
	if (env == NULL)
		env = (const gchar *const *)(default_env = fl_git_environ(NULL, NULL));
	/* descriptors stay open as before: GLib can then posix_spawn() instead of forking */
	if (!g_spawn_async_with_pipes_and_fds(
		    NULL, (const gchar *const *)argv->pdata, env,
		    G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH | G_SPAWN_STDIN_FROM_DEV_NULL |
			    G_SPAWN_STDERR_TO_DEV_NULL | G_SPAWN_LEAVE_DESCRIPTORS_OPEN,
		    NULL, NULL, -1, -1, -1, NULL, NULL, 0, &pid, NULL, &out_fd, NULL, error))
		return -1;
	fds[0].fd = out_fd;
	if (cancellable != NULL && g_cancellable_make_pollfd(cancellable, &fds[1]))
		fds[1].events = G_IO_IN;
	for (;;) {
		guint8 buffer[16384];
		gssize n;

		if (g_poll(fds, fds[1].fd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[1].fd >= 0 && fds[1].revents != 0 && !cancelled) {
			/* the daemon is going away: git need not finish */
			cancelled = TRUE;
			kill(pid, SIGKILL);
		}
		if (fds[0].revents == 0)
			continue;
		n = read(out_fd, buffer, sizeof(buffer));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		g_byte_array_append(bytes, buffer, (guint)n);
	}
	if (fds[1].fd >= 0)
		g_cancellable_release_fd(cancellable);
	close(out_fd);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	g_spawn_close_pid(pid);
	if (g_cancellable_set_error_if_cancelled(cancellable, error))
		return -1;
	if (out != NULL) {
		/* -z output holds NULs: handed on by length, not as a string */
		if (out_len != NULL)
			*out_len = bytes->len;
		g_byte_array_append(bytes, (const guint8 *)"", 1);
		*out = (gchar *)g_byte_array_free(g_steal_pointer(&bytes), FALSE);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
