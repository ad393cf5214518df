/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-overlap.h"

#include <string.h>

#include "fl-error.h"
#include "fl-git.h"
#include "fl-i18n.h"
#include "fl-msg.h"

FlOverlapDraft *
fl_overlap_draft_new(guint id, const gchar *branch, const gchar *base_commit)
{
	FlOverlapDraft *draft = g_new0(FlOverlapDraft, 1);

	draft->id = id;
	draft->branch = g_strdup(branch);
	draft->base_commit = g_strdup(base_commit);
	return draft;
}

void
fl_overlap_draft_free(FlOverlapDraft *draft)
{
	if (draft == NULL)
		return;
	g_free(draft->branch);
	g_free(draft->base_commit);
	g_free(draft);
}

void
fl_overlap_free(FlOverlap *overlap)
{
	if (overlap == NULL)
		return;
	g_free(overlap->tip);
	g_free(overlap->draft_tip);
	g_strfreev(overlap->conflicts);
	g_strfreev(overlap->files);
	g_clear_pointer(&overlap->overlaps, g_array_unref);
	g_free(overlap);
}

typedef struct {
	gchar *repo;
	gchar *base_branch;
	GPtrArray *drafts; /* (element-type FlOverlapDraft) */
} FlOverlapCtx;

static void
fl_overlap_ctx_free(FlOverlapCtx *ctx)
{
	g_free(ctx->repo);
	g_free(ctx->base_branch);
	g_ptr_array_unref(ctx->drafts);
	g_free(ctx);
}

/* one read-only git command in @repo in this worker thread (fl-git.h): its exit status, -1
 * when it did not exit, and its stdout */
#define fl_overlap_git(repo, out, out_len, cancellable, error, ...)                                \
	fl_git_run_sync(repo, NULL, out, out_len, cancellable, error, __VA_ARGS__)

static gint
fl_overlap_cmp_str(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

/* NUL-separated names (git -z) as a sorted, NULL-terminated vector */
static gchar **
fl_overlap_split_z(const gchar *buf, gsize len)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new();
	gsize start = 0;

	for (gsize i = 0; i < len; i++) {
		if (buf[i] != '\0')
			continue;
		if (i > start)
			g_ptr_array_add(names, g_strndup(buf + start, i - start));
		start = i + 1;
	}
	if (start < len)
		g_ptr_array_add(names, g_strndup(buf + start, len - start));
	g_ptr_array_sort(names, fl_overlap_cmp_str);
	g_ptr_array_add(names, NULL);
	return (gchar **)g_ptr_array_free(g_steal_pointer(&names), FALSE);
}

static gboolean
fl_overlap_share_a_file(gchar **a, gchar **b)
{
	/* both sorted: one merge walk */
	while (*a != NULL && *b != NULL) {
		gint cmp = strcmp(*a, *b);

		if (cmp == 0)
			return TRUE;
		if (cmp < 0)
			a++;
		else
			b++;
	}
	return FALSE;
}

static FlOverlap *
fl_overlap_check_one(const gchar *repo, const gchar *tip, const FlOverlapDraft *draft,
		     GCancellable *cancellable, GError **error)
{
	g_autoptr(FlOverlap) overlap = g_new0(FlOverlap, 1);
	g_autofree gchar *names = NULL;
	g_autofree gchar *merged = NULL;
	g_autofree gchar *range_base = NULL;
	gsize names_len = 0;
	gsize merged_len = 0;
	gint status;

	overlap->id = draft->id;
	overlap->tip = g_strdup(tip);
	overlap->stale = g_strcmp0(tip, draft->base_commit) != 0;
	overlap->overlaps = g_array_new(FALSE, FALSE, sizeof(guint));
	range_base = g_strdup(draft->base_commit != NULL ? draft->base_commit : tip);
	status = fl_overlap_git(repo, &names, &names_len, cancellable, error, "diff",
				"--no-ext-diff", "--no-textconv", "--no-renames", "--name-only",
				"-z", range_base, draft->branch, "--", NULL);
	if (status < 0)
		return NULL;
	if (status != 0)
		return NULL; /* the branch is gone: nothing to coordinate */
	overlap->files = fl_overlap_split_z(names, names_len);
	if (!overlap->stale) {
		/* made from the tip itself: it merges, trivially */
		overlap->clean = TRUE;
		return g_steal_pointer(&overlap);
	}
	/* exit 0: clean, 1: conflicts (their names after the tree id), other: git failed */
	status = fl_overlap_git(repo, &merged, &merged_len, cancellable, error, "merge-tree",
				"--write-tree", "--name-only", "--no-messages", "-z", tip,
				draft->branch, NULL);
	if (status < 0)
		return NULL;
	if (status == 0) {
		overlap->clean = TRUE;
	} else if (status == 1) {
		gsize tree_end = strnlen(merged, merged_len);
		gchar **conflicts = NULL;

		overlap->clean = FALSE;
		if (tree_end < merged_len)
			conflicts = fl_overlap_split_z(merged + tree_end + 1,
						       merged_len - tree_end - 1);
		overlap->conflicts = conflicts;
	} else {
		fl_set_error(error, FL_ERROR_FAILED, N_("cannot check whether %s merges onto %s"),
			     draft->branch, tip);
		return NULL;
	}
	return g_steal_pointer(&overlap);
}

static void
fl_overlap_thread(GTask *task, gpointer source_object, gpointer task_data,
		  GCancellable *cancellable)
{
	FlOverlapCtx *ctx = task_data;
	g_autoptr(GPtrArray) result =
		g_ptr_array_new_with_free_func((GDestroyNotify)fl_overlap_free);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *ref = g_strdup_printf("refs/heads/%s", ctx->base_branch);
	g_autofree gchar *tip = NULL;

	if (fl_overlap_git(ctx->repo, &tip, NULL, cancellable, &error, "rev-parse", "--verify",
			   "--quiet", ref, NULL) != 0) {
		if (error == NULL)
			fl_set_error(&error, FL_ERROR_NOT_FOUND, N_("branch %s is gone from %s"),
				     ctx->base_branch, ctx->repo);
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	g_strstrip(tip);
	for (guint i = 0; i < ctx->drafts->len; i++) {
		const FlOverlapDraft *draft = g_ptr_array_index(ctx->drafts, i);
		FlOverlap *one = fl_overlap_check_one(ctx->repo, tip, draft, cancellable, &error);

		if (error != NULL) {
			g_task_return_error(task, g_steal_pointer(&error));
			return;
		}
		if (one != NULL)
			g_ptr_array_add(result, one);
	}
	/* pairs that change a same file; n is the pending drafts of one branch: small */
	for (guint i = 0; i < result->len; i++) {
		FlOverlap *a = g_ptr_array_index(result, i);

		for (guint j = i + 1; j < result->len; j++) {
			FlOverlap *b = g_ptr_array_index(result, j);

			if (!fl_overlap_share_a_file(a->files, b->files))
				continue;
			g_array_append_val(a->overlaps, b->id);
			g_array_append_val(b->overlaps, a->id);
		}
	}
	g_task_return_pointer(task, g_steal_pointer(&result), (GDestroyNotify)g_ptr_array_unref);
}

void
fl_overlap_check_async(const gchar *repo, const gchar *base_branch, GPtrArray *drafts,
		       GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
	FlOverlapCtx *ctx = g_new0(FlOverlapCtx, 1);

	g_return_if_fail(repo != NULL && base_branch != NULL && drafts != NULL);
	ctx->repo = g_strdup(repo);
	ctx->base_branch = g_strdup(base_branch);
	ctx->drafts = drafts;
	g_task_set_source_tag(task, fl_overlap_check_async);
	g_task_set_task_data(task, ctx, (GDestroyNotify)fl_overlap_ctx_free);
	g_task_run_in_thread(task, fl_overlap_thread);
}

GPtrArray *
fl_overlap_check_finish(GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(res, NULL), NULL);
	return g_task_propagate_pointer(G_TASK(res), error);
}

/*
 * One group's drafts on one base branch, merged in order onto its tip from objects alone:
 * each clean merge's tree becomes an unreferenced scratch commit (an object, no ref, no
 * checkout) that the next draft merges onto, so two drafts that each merge alone but not
 * together are found before anything lands.
 */
static void
fl_overlap_chain_thread(GTask *task, gpointer source_object, gpointer task_data,
			GCancellable *cancellable)
{
	FlOverlapCtx *ctx = task_data;
	g_autoptr(GPtrArray) result =
		g_ptr_array_new_with_free_func((GDestroyNotify)fl_overlap_free);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *ref = g_strdup_printf("refs/heads/%s", ctx->base_branch);
	g_autofree gchar *tip = NULL;
	g_autofree gchar *cur = NULL;
	/* an identity only for the scratch commits */
	g_auto(GStrv) identity = fl_git_environ("flotilla", "flotilla@localhost");

	if (fl_overlap_git(ctx->repo, &tip, NULL, cancellable, &error, "rev-parse", "--verify",
			   "--quiet", ref, NULL) != 0) {
		if (error == NULL)
			fl_set_error(&error, FL_ERROR_NOT_FOUND, N_("branch %s is gone from %s"),
				     ctx->base_branch, ctx->repo);
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	g_strstrip(tip);
	cur = g_strdup(tip);
	for (guint i = 0; i < ctx->drafts->len; i++) {
		const FlOverlapDraft *draft = g_ptr_array_index(ctx->drafts, i);
		g_autoptr(FlOverlap) one = g_new0(FlOverlap, 1);
		g_autofree gchar *draft_ref = g_strdup_printf("refs/heads/%s", draft->branch);
		g_autofree gchar *merged = NULL;
		gsize merged_len = 0;
		gint status;

		one->id = draft->id;
		one->tip = g_strdup(tip);
		one->overlaps = g_array_new(FALSE, FALSE, sizeof(guint));
		if (fl_overlap_git(ctx->repo, &one->draft_tip, NULL, cancellable, &error,
				   "rev-parse", "--verify", "--quiet", draft_ref, NULL) != 0) {
			if (error == NULL)
				fl_set_error(&error, FL_ERROR_NOT_FOUND,
					     N_("session %u: its draft branch %s is gone"),
					     draft->id, draft->branch);
			g_task_return_error(task, g_steal_pointer(&error));
			return;
		}
		g_strstrip(one->draft_tip);
		one->stale = g_strcmp0(tip, draft->base_commit) != 0;
		status = fl_overlap_git(ctx->repo, &merged, &merged_len, cancellable, &error,
					"merge-tree", "--write-tree", "--name-only",
					"--no-messages", "-z", cur, one->draft_tip, NULL);
		if (status == 0) {
			g_autofree gchar *commit = NULL;
			g_autofree gchar *tree = g_strndup(merged, strnlen(merged, merged_len));

			one->clean = TRUE;
			g_strstrip(tree);
			if (fl_git_run_sync(ctx->repo, (const gchar *const *)identity, &commit,
					    NULL, cancellable, &error, "commit-tree", tree, "-p",
					    cur, "-p", one->draft_tip, "-m", "flotilla group check",
					    NULL) != 0) {
				if (error == NULL)
					fl_set_error(&error, FL_ERROR_FAILED,
						     N_("cannot check whether %s merges "
							"onto %s"),
						     draft->branch, ctx->base_branch);
				g_task_return_error(task, g_steal_pointer(&error));
				return;
			}
			g_free(cur);
			cur = g_strstrip(g_steal_pointer(&commit));
		} else if (status == 1) {
			gsize tree_end = strnlen(merged, merged_len);

			one->clean = FALSE;
			if (tree_end < merged_len)
				one->conflicts = fl_overlap_split_z(merged + tree_end + 1,
								    merged_len - tree_end - 1);
		} else {
			if (error == NULL)
				fl_set_error(&error, FL_ERROR_FAILED,
					     N_("cannot check whether %s merges onto %s"),
					     draft->branch, ctx->base_branch);
			g_task_return_error(task, g_steal_pointer(&error));
			return;
		}
		g_ptr_array_add(result, g_steal_pointer(&one));
	}
	g_task_return_pointer(task, g_steal_pointer(&result), (GDestroyNotify)g_ptr_array_unref);
}

void
fl_overlap_chain_async(const gchar *repo, const gchar *base_branch, GPtrArray *drafts,
		       GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
	FlOverlapCtx *ctx = g_new0(FlOverlapCtx, 1);

	g_return_if_fail(repo != NULL && base_branch != NULL && drafts != NULL);
	ctx->repo = g_strdup(repo);
	ctx->base_branch = g_strdup(base_branch);
	ctx->drafts = drafts;
	g_task_set_source_tag(task, fl_overlap_chain_async);
	g_task_set_task_data(task, ctx, (GDestroyNotify)fl_overlap_ctx_free);
	g_task_run_in_thread(task, fl_overlap_chain_thread);
}
