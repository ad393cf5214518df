/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * Refreshing a draft: its commits replayed onto the base branch's current tip from git's
 * objects alone. Each commit C (parent P) is merged with `git merge-tree --write-tree` against
 * a throw-away commit holding the tree replayed so far with P as its parent, so the merge base
 * is exactly P (a cherry-pick; git 2.39 has no --merge-base), and `git commit-tree` writes it
 * with C's author, date and message. No ref, index, worktree or checkout is touched: moving
 * the draft branch is the caller's step, after it has recorded its intent. It runs in a
 * worker thread: the daemon's main loop never waits for it.
 */

typedef struct {
	gchar *onto;    /* the base branch's tip the draft was replayed onto */
	gchar *old_tip; /* the draft branch's tip before */
	gchar *new_tip; /* the replayed tip; equals @old_tip when the draft was on @onto already */
} FlRefresh;

void
fl_refresh_free(FlRefresh *refresh);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlRefresh, fl_refresh_free)

/*
 * Replays @branch, made from @base_commit, onto @base_branch's tip in @repo. When a commit
 * does not apply: FL_ERROR_CONFLICT naming the files, and nothing but unreachable objects
 * was written. FL_ERROR_NOT_FOUND when @branch or @base_branch is gone.
 */
void
fl_refresh_rebase_async(const gchar *repo, const gchar *branch, const gchar *base_branch,
			const gchar *base_commit, GCancellable *cancellable,
			GAsyncReadyCallback callback, gpointer user_data);
FlRefresh *
fl_refresh_rebase_finish(GAsyncResult *res, GError **error);

/*
 * Moves refs/heads/@branch from @old_tip to @new_tip (compare and swap: FL_ERROR_BUSY when it
 * is at neither; nothing to do when it is at @new_tip already). Returns whether it is at
 * @new_tip now.
 */
void
fl_refresh_move_async(const gchar *repo, const gchar *branch, const gchar *old_tip,
		      const gchar *new_tip, GCancellable *cancellable, GAsyncReadyCallback callback,
		      gpointer user_data);
gboolean
fl_refresh_move_finish(GAsyncResult *res, GError **error);

/* the commit refs/heads/@branch of @repo is at now; FL_ERROR_NOT_FOUND when it is gone */
void
fl_refresh_tip_async(const gchar *repo, const gchar *branch, GCancellable *cancellable,
		     GAsyncReadyCallback callback, gpointer user_data);
gchar *
fl_refresh_tip_finish(GAsyncResult *res, GError **error);

G_END_DECLS
