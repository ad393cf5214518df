/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * Coordination of parallel drafts: which pending drafts of one base branch touch the same
 * files, and whether each still merges cleanly onto the branch's current tip. Everything is
 * computed from git objects alone (`git diff --name-only`, `git merge-tree --write-tree`):
 * no checkout, index or worktree is touched, so the check is safe to run at any time, also
 * while the user works in the repository. It runs in a worker thread: the daemon's main loop
 * never waits for it.
 */

/* one pending draft to check (input) */
typedef struct {
	guint id;
	gchar *branch;      /* flotilla/<id> */
	gchar *base_commit; /* the commit the draft was made from */
} FlOverlapDraft;

/* what the check found for one draft (output) */
typedef struct {
	guint id;
	gchar *tip;        /* the base branch's tip the draft was checked against */
	gboolean stale;    /* the base moved since the draft was made */
	gboolean clean;    /* merges onto @tip without conflicts */
	gchar **conflicts; /* (nullable) files that conflict with @tip */
	gchar **files;     /* files the draft changes (sorted) */
	GArray *overlaps;  /* (element-type guint) other drafts changing one of @files */
	gchar *draft_tip;  /* fl_overlap_chain_async(): the draft's commit that was checked */
} FlOverlap;

FlOverlapDraft *
fl_overlap_draft_new(guint id, const gchar *branch, const gchar *base_commit);
void
fl_overlap_draft_free(FlOverlapDraft *draft);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlOverlapDraft, fl_overlap_draft_free)

void
fl_overlap_free(FlOverlap *overlap);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlOverlap, fl_overlap_free)

/*
 * Checks @drafts (element-type FlOverlapDraft, taken) of @repo against @base_branch's current
 * tip. The result is a GPtrArray of FlOverlap in the order of @drafts. A draft whose branch
 * is gone is left out of the result. Fails only when the repository or the base branch
 * cannot be read.
 */
void
fl_overlap_check_async(const gchar *repo, const gchar *base_branch, GPtrArray *drafts,
		       GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
GPtrArray *
fl_overlap_check_finish(GAsyncResult *res, GError **error);

/*
 * Checks whether @drafts (taken), merged one after another in this order, all merge onto
 * @base_branch's current tip (a group's approval). Each result has @tip, @draft_tip, @clean
 * and @conflicts; a draft whose branch is gone fails the check. Finish with
 * fl_overlap_check_finish().
 */
void
fl_overlap_chain_async(const gchar *repo, const gchar *base_branch, GPtrArray *drafts,
		       GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);

G_END_DECLS
