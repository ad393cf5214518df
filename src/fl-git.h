/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * How flotillad runs git, wherever it runs it (fl-worktree.c on the main loop, fl-overlap.c
 * in a worker thread): one command-line prefix and one environment, so that nothing a
 * session wrote (a worktree's .git file, a config, an attribute) can make git run a program
 * or reach the network.
 */

/*
 * "git --no-pager", where it runs, then the hardening settings; the caller appends the
 * command and its arguments (g_strdup'd: the array frees them) and a NULL. Either @dir, a
 * directory of the user's own where git may find the repository itself, or @git_dir (and
 * @work_tree) given explicitly for anything a session could have touched.
 */
GPtrArray *
fl_git_argv_new(const gchar *dir, const gchar *git_dir, const gchar *work_tree);

/* the daemon's environment made predictable for git and cut loose from any outer
 * repository; @name and @email (nullable) become author and committer */
gchar **
fl_git_environ(const gchar *name, const gchar *email);

/*
 * The admin directory git made for @worktree in the repository's common git dir @common,
 * found from the outside: the entry under worktrees/ whose gitdir file names @worktree's .git,
 * never what the worktree's own .git file says. NULL when there is none.
 */
gchar *
fl_git_worktree_admin_dir(const gchar *common, const gchar *worktree);

/*
 * Runs one git command to its end in the calling thread, for worker threads only (never on
 * the main loop): the prefix of fl_git_argv_new(@dir, NULL, NULL), then the NULL-terminated
 * arguments; @env NULL for fl_git_environ(NULL, NULL); stdin is /dev/null. Returns the exit
 * status, -1 when it could not run (@error set), was cancelled (@error set) or did not exit;
 * @out (nullable) gets stdout, NUL-terminated, and @out_len its length (-z output holds NULs).
 */
gint
fl_git_run_sync(const gchar *dir, const gchar *const *env, gchar **out, gsize *out_len,
		GCancellable *cancellable, GError **error, ...) G_GNUC_NULL_TERMINATED;

G_END_DECLS
