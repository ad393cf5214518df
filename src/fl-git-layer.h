/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * The git layer: the repository's git directory as a confined session sees it, so that git stays
 * flotillad's. Inside the sandbox the repository's common git dir is the session's own
 * directory sessions/ID/git/, made when the session starts:
 *  - refs/ and packed-refs: copies of the repository's, so the agent commits on its draft
 *    branch (and may make, move and delete any branch) in its copy only;
 *  - logs/: empty, for the reflogs git writes;
 *  - worktrees/NAME/: a copy of the worktree's admin directory (HEAD, index);
 *  - objects/: empty, with the repository's objects read-only at FL_SANDBOX_GIT_OBJECTS as
 *    its alternate, so new objects land here;
 *  - everything else of the repository's git dir (config, hooks, info, HEAD, …) read-only on
 *    top, at its own name.
 * So the user's repository is byte for byte untouched while the session runs. When it ends,
 * flotillad takes exactly one thing from the layer: the draft branch's tip, with its objects
 * verified (fl_git_layer_take_async()).
 */

/*
 * Makes (afresh: what an earlier run left is removed) the layer SESSION_DIR/git in
 * @session_dir for the worktree @worktree of @repo, and returns the repository's common git
 * dir that fl_sandbox_bind_git_layer() shows it as. Runs in a thread: copying refs is file
 * work.
 */
void
fl_git_layer_prepare_async(const gchar *repo, const gchar *worktree, const gchar *session_dir,
			   GCancellable *cancellable, GAsyncReadyCallback callback,
			   gpointer user_data);
gchar *
fl_git_layer_prepare_finish(GAsyncResult *res, GError **error);

/* the layer of the session whose directory is @session_dir */
gchar *
fl_git_layer_dir(const gchar *session_dir);

typedef enum {
	FL_GIT_LAYER_TAKE_NONE,  /* no layer (unconfined, or started by an older daemon) */
	FL_GIT_LAYER_TAKE_SAME,  /* the draft branch did not move, or was taken already */
	FL_GIT_LAYER_TAKE_MOVED, /* refs/heads/@branch now is the agent's tip */
} FlGitLayerTake;

/*
 * After the session ended, before its draft is recorded: reads @branch's tip from the layer
 * in @session_dir (its loose ref, else its packed-refs; never through a symbolic link), and
 * when it moved, brings its objects into @repo (each one hashed by git index-pack, none
 * missing) and moves refs/heads/@branch there, compare-and-swap. The tip must descend from
 * @base_commit. Safe to repeat: a tip the branch already contains is taken already. The
 * layer is removed once taken or refused.
 *
 * A tip that is a symbolic ref, not an object id, does not descend from @base_commit or
 * lacks objects is refused with FL_ERROR_INVALID_ARGUMENT and a message saying why; the
 * worktree's files are then still there to be recorded.
 */
void
fl_git_layer_take_async(const gchar *repo, const gchar *branch, const gchar *base_commit,
			const gchar *session_dir, GCancellable *cancellable,
			GAsyncReadyCallback callback, gpointer user_data);
FlGitLayerTake
fl_git_layer_take_finish(GAsyncResult *res, GError **error);

G_END_DECLS
