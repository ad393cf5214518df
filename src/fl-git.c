/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-git.h"

#include <stdlib.h>
#include <string.h>

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

gint
fl_git_run_sync(const gchar *dir, const gchar *const *env, GBytes *input, gchar **out,
		gsize *out_len, GCancellable *cancellable, GError **error, ...)
{
	g_autoptr(GPtrArray) argv = fl_git_argv_new(dir, NULL, NULL);
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GBytes) bytes = NULL;
	g_auto(GStrv) default_env = NULL;
	const gchar *arg;
	va_list args;

	va_start(args, error);
	while ((arg = va_arg(args, const gchar *)) != NULL)
		g_ptr_array_add(argv, g_strdup(arg));
	va_end(args);
	g_ptr_array_add(argv, NULL);
	if (env == NULL)
		env = (const gchar *const *)(default_env = fl_git_environ(NULL, NULL));

	launcher = g_subprocess_launcher_new(
		G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE |
		(input != NULL ? G_SUBPROCESS_FLAGS_STDIN_PIPE : G_SUBPROCESS_FLAGS_NONE) |
		G_SUBPROCESS_FLAGS_INHERIT_FDS);
	g_subprocess_launcher_set_environ(launcher, (gchar **)env);
	proc = g_subprocess_launcher_spawnv(launcher, (const gchar *const *)argv->pdata, error);
	if (proc == NULL)
		return -1;
	if (!g_subprocess_communicate(proc, input, cancellable, &bytes, NULL, error))
		return -1;
	if (out != NULL) {
		gsize len = 0;
		const gchar *data = g_bytes_get_data(bytes, &len);

		/* -z output holds NULs: copied by length, not as a string */
		*out = g_malloc(len + 1);
		if (len > 0)
			memcpy(*out, data, len);
		(*out)[len] = '\0';
		if (out_len != NULL)
			*out_len = len;
	}
	return g_subprocess_get_if_exited(proc) ? g_subprocess_get_exit_status(proc) : -1;
}
