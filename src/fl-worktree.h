/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "fl-session-data.h"

G_BEGIN_DECLS

/*
 * Git operations for drafts. Every function runs git through GSubprocess asynchronously: the
 * daemon's main loop never blocks on git. Errors are FL_ERROR codes with one-line messages
 * a user can act on (FL_ERROR_DIRTY and FL_ERROR_CONFLICT name the files).
 */

typedef struct {
	gchar *toplevel;    /* absolute path of the repository's main worktree */
	gchar *base_branch; /* short branch name, e.g. "main" */
	gchar *base_commit; /* full object id of the base branch's tip */
} FlRepoInfo;

void
fl_repo_info_free(FlRepoInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlRepoInfo, fl_repo_info_free)

/*
 * Finds the git repository containing @dir and resolves @base (a branch name, NULL = the
 * branch checked out in @dir's worktree). Fails with FL_ERROR_NOT_FOUND when @dir is not in a
 * git repository, FL_ERROR_INVALID_ARGUMENT when @base is not a branch or HEAD is detached
 * and @base is NULL (the message says to pass --base).
 */
void
fl_worktree_probe_async(const gchar *dir, const gchar *base, GCancellable *cancellable,
			GAsyncReadyCallback callback, gpointer user_data);
FlRepoInfo *
fl_worktree_probe_finish(GAsyncResult *res, GError **error);

/* git worktree add -b @branch @path @base_commit (branch must not exist yet) */
void
fl_worktree_create_async(const gchar *repo, const gchar *path, const gchar *branch,
			 const gchar *base_commit, GCancellable *cancellable,
			 GAsyncReadyCallback callback, gpointer user_data);
gboolean
fl_worktree_create_finish(GAsyncResult *res, GError **error);

typedef struct {
	gboolean changed; /* the draft branch differs from base_commit */
	gchar *diffstat;  /* e.g. "3 files changed, 10 insertions(+), 2 deletions(-)", "" if none */
	gchar *head_commit; /* tip of the draft branch */
	/* links the draft adds or changes that lead out of the repository (absolute, "../"
	 * beyond its top, or into .git), one "PATH -> TARGET" a line; NULL when none */
	gchar *links_outside;
} FlDraftInfo;

void
fl_draft_info_free(FlDraftInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlDraftInfo, fl_draft_info_free)

/*
 * After the agent ended: commits what @worktree holds beyond the tip of @branch (leftover
 * changes, untracked files, honouring .gitignore) onto @branch with @message, then writes
 * the patch @base_commit..@branch (`git diff` of the range) durably (mode 0600) to
 * draft.patch in @session_dir and returns the diffstat. Idempotent: running it twice is
 * harmless.
 *
 * The worktree is untrusted: git runs in @repo's own git dir with a private index kept in
 * @session_dir (draft.index), so nothing the session wrote in the worktree's .git file or
 * admin directory is read, and no ref but @branch moves.
 */
void
fl_worktree_finalize_async(const gchar *repo, const gchar *worktree, const gchar *branch,
			   const gchar *base_commit, const gchar *message, const gchar *session_dir,
			   GCancellable *cancellable, GAsyncReadyCallback callback,
			   gpointer user_data);
FlDraftInfo *
fl_worktree_finalize_finish(GAsyncResult *res, GError **error);

/*
 * Removes index.lock, HEAD.lock and draft.index.lock from @gitdir (a draft worktree's admin
 * directory, or the session directory holding its private index) when no live process can
 * own them (none works in @worktree or @gitdir, no git has them open): what a git killed
 * with its daemon left. Never touches the main repository's locks. Returns whether it
 * removed one.
 */
gboolean
fl_worktree_clear_stale_locks(const gchar *worktree, const gchar *gitdir);

/*
 * Runs @argv (`sh -c COMMAND`, or that inside the session's sandbox: fl-session.c builds it)
 * in @worktree in its own process group with output to @log_path, killing the group after
 * @timeout_s.
 *
 * The command runs code the agent wrote: it gets no credentials. The variables named in
 * @secret_env (the agents' api-key-env) are removed from its environment, and so is every
 * variable named like one (*_API_KEY, *_TOKEN, *_SECRET, *_PASSWORD, …).
 */
void
fl_worktree_verify_async(const gchar *worktree, const gchar *const *argv, const gchar *log_path,
			 guint timeout_s, const gchar *const *secret_env, GCancellable *cancellable,
			 GAsyncReadyCallback callback, gpointer user_data);
/* FL_VERIFY_PASS, _FAIL or _TIMEOUT; FL_VERIFY_NONE with @error set when it could not run */
FlVerify
fl_worktree_verify_finish(GAsyncResult *res, GError **error);

/*
 * After a refresh moved the draft branch from @old_commit to @commit: the draft worktree's
 * files become @commit's (through the private index in @session_dir, git running in @repo's
 * git dir, never reading the worktree's .git), and its own index follows. Files the old tip
 * had and the new one has not are removed; untracked files stay.
 */
void
fl_worktree_checkout_async(const gchar *repo, const gchar *worktree, const gchar *session_dir,
			   const gchar *old_commit, const gchar *commit, GCancellable *cancellable,
			   GAsyncReadyCallback callback, gpointer user_data);
gboolean
fl_worktree_checkout_finish(GAsyncResult *res, GError **error);

/*
 * Merges @branch (exactly the commit @draft_tip when not NULL) into @base_branch of @repo with
 * a merge commit (--no-ff) whose message is @message, never touching uncommitted user work:
 *  - if @base_branch is checked out in some worktree and that worktree has uncommitted
 *    changes to tracked files: FL_ERROR_DIRTY naming the files, nothing changed;
 *  - if the merge conflicts: FL_ERROR_CONFLICT naming the files, nothing changed;
 *  - if @base_branch is not checked out anywhere, only the ref moves (compare-and-swap);
 *  - if it is checked out (and clean), that worktree is fast-forwarded to the merge commit.
 * Returns the merge commit's id.
 */
void
fl_worktree_merge_async(const gchar *repo, const gchar *branch, const gchar *draft_tip,
			const gchar *base_branch, const gchar *message, GCancellable *cancellable,
			GAsyncReadyCallback callback, gpointer user_data);
gchar *
fl_worktree_merge_finish(GAsyncResult *res, GError **error);

/*
 * Undoes the merge commit @merge_commit on @base_branch (a new commit reverting it, mainline
 * parent 1), with the same safety rules as fl_worktree_merge_async(). @scratch_dir is a
 * directory the function may use for a temporary worktree. Returns the new commit's id.
 */
void
fl_worktree_revert_async(const gchar *repo, const gchar *base_branch, const gchar *merge_commit,
			 const gchar *message, const gchar *scratch_dir, GCancellable *cancellable,
			 GAsyncReadyCallback callback, gpointer user_data);
gchar *
fl_worktree_revert_finish(GAsyncResult *res, GError **error);

/*
 * Removes the worktree at @path (forcefully: it is ours) and, when @branch is not NULL,
 * deletes that branch. Missing worktree or branch is not an error.
 */
void
fl_worktree_remove_async(const gchar *repo, const gchar *path, const gchar *branch,
			 GCancellable *cancellable, GAsyncReadyCallback callback,
			 gpointer user_data);
gboolean
fl_worktree_remove_finish(GAsyncResult *res, GError **error);

typedef struct {
	gchar *draft_tip;    /* the draft's commit */
	gboolean merged;     /* it is on the base branch */
	gchar *merge_commit; /* (nullable) the merge that brought it there, when there is one */
} FlMergeState;

void
fl_merge_state_free(FlMergeState *state);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlMergeState, fl_merge_state_free)

/*
 * Whether a draft (@branch's tip, or @draft_tip when not NULL) is on @base_branch already,
 * and by which merge commit: what an approval interrupted by a crash left in git.
 * FL_ERROR_NOT_FOUND when @branch does not exist.
 */
void
fl_worktree_find_merge_async(const gchar *repo, const gchar *branch, const gchar *draft_tip,
			     const gchar *base_branch, GCancellable *cancellable,
			     GAsyncReadyCallback callback, gpointer user_data);
FlMergeState *
fl_worktree_find_merge_finish(GAsyncResult *res, GError **error);

/* the commit on @base_branch that reverts @merge_commit (as fl_worktree_revert_async()
 * words its message), or "" when there is none */
void
fl_worktree_find_revert_async(const gchar *repo, const gchar *base_branch,
			      const gchar *merge_commit, GCancellable *cancellable,
			      GAsyncReadyCallback callback, gpointer user_data);
gchar *
fl_worktree_find_revert_finish(GAsyncResult *res, GError **error);

/* writes the history of @worktree's HEAD into the git bundle @path (for a cluster job) */
void
fl_worktree_bundle_async(const gchar *worktree, const gchar *path, GCancellable *cancellable,
			 GAsyncReadyCallback callback, gpointer user_data);
gboolean
fl_worktree_bundle_finish(GAsyncResult *res, GError **error);
/*
 * Brings a job's result back: fetches the objects of @bundle (made by the job from what
 * fl_worktree_bundle_async() gave it) into @worktree's repository and fast-forwards the
 * worktree's branch to @head; fails, changing no branch, when @head does not build on it
 */
void
fl_worktree_fetch_bundle_async(const gchar *worktree, const gchar *bundle, const gchar *head,
			       GCancellable *cancellable, GAsyncReadyCallback callback,
			       gpointer user_data);
gboolean
fl_worktree_fetch_bundle_finish(GAsyncResult *res, GError **error);

G_END_DECLS
