/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-refresh.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "fl-error.h"
#include "fl-git.h"
#include "fl-i18n.h"
#include "fl-msg.h"
#include "fl-util.h"

/* the committer of replayed commits, as of every commit flotilla writes itself */
#define FL_REFRESH_IDENT_NAME  "Flotilla"
#define FL_REFRESH_IDENT_EMAIL "flotilla@localhost"
/* files a conflict message names before it counts the rest */
#define FL_REFRESH_NAMES_MAX 10

void
fl_refresh_free(FlRefresh *refresh)
{
	if (refresh == NULL)
		return;
	g_free(refresh->onto);
	g_free(refresh->old_tip);
	g_free(refresh->new_tip);
	g_free(refresh);
}

typedef struct {
	gchar *repo;
	gchar *branch;
	gchar *base_branch;
	gchar *base_commit;
	gchar *old_tip;
	gchar *new_tip;
} FlRefreshCtx;

static void
fl_refresh_ctx_free(FlRefreshCtx *ctx)
{
	g_free(ctx->repo);
	g_free(ctx->branch);
	g_free(ctx->base_branch);
	g_free(ctx->base_commit);
	g_free(ctx->old_tip);
	g_free(ctx->new_tip);
	g_free(ctx);
}

/* the one line a rev-parse printed, or NULL (with @error set) when git said no */
static gchar *
fl_refresh_rev(const gchar *repo, const gchar *rev, GCancellable *cancellable, GError **error)
{
	g_autofree gchar *out = NULL;
	gint status = fl_git_run_sync(repo, NULL, &out, NULL, cancellable, error, "rev-parse",
				      "--verify", "--quiet", rev, NULL);

	if (status < 0)
		return NULL;
	if (status != 0) {
		fl_set_error(error, FL_ERROR_NOT_FOUND, N_("%s is gone from %s"), rev, repo);
		return NULL;
	}
	return g_strdup(g_strstrip(out));
}

static gchar *
fl_refresh_branch_tip(const gchar *repo, const gchar *branch, GCancellable *cancellable,
		      GError **error)
{
	g_autofree gchar *rev = g_strdup_printf("refs/heads/%s^{commit}", branch);
	g_autoptr(GError) error_local = NULL;
	gchar *tip = fl_refresh_rev(repo, rev, cancellable, &error_local);

	if (tip == NULL && g_error_matches(error_local, FL_ERROR, FL_ERROR_NOT_FOUND)) {
		fl_set_error(error, FL_ERROR_NOT_FOUND, N_("branch %s is gone from %s"), branch,
			     repo);
		return NULL;
	}
	if (tip == NULL)
		g_propagate_error(error, g_steal_pointer(&error_local));
	return tip;
}

/* "a.c, b.c, +3 more" from git's NUL-separated names */
static gchar *
fl_refresh_names(const gchar *buf, gsize len)
{
	g_autoptr(GString) str = g_string_new(NULL);
	guint n = 0;

	for (gsize i = 0; i < len;) {
		gsize one = strnlen(buf + i, len - i);

		if (one > 0 && n++ < FL_REFRESH_NAMES_MAX)
			g_string_append_printf(str, "%s%.*s", str->len > 0 ? ", " : "", (gint)one,
					       buf + i);
		i += one + 1;
	}
	if (n > FL_REFRESH_NAMES_MAX)
		/* TRANSLATORS: files a conflict message leaves out after listing the first ten */
		g_string_append_printf(
			str, ngettext(", +%u more", ", +%u more", n - FL_REFRESH_NAMES_MAX),
			n - FL_REFRESH_NAMES_MAX);
	return g_string_free(g_steal_pointer(&str), FALSE);
}

/*
 * Replays commit @commit onto @onto (a commit with tree @onto_tree); returns the new commit.
 * Merge commits of the draft are replayed against their first parent, as one change.
 */
static gchar *
fl_refresh_one(FlRefreshCtx *ctx, const gchar *commit, const gchar *onto, const gchar *onto_tree,
	       gchar **tree_out, GCancellable *cancellable, GError **error)
{
	g_autofree gchar *parent_rev = g_strconcat(commit, "^1", NULL);
	g_autofree gchar *parent = fl_refresh_rev(ctx->repo, parent_rev, cancellable, error);
	g_auto(GStrv) env = fl_git_environ(FL_REFRESH_IDENT_NAME, FL_REFRESH_IDENT_EMAIL);
	g_autofree gchar *ours = NULL;
	g_autofree gchar *merged = NULL;
	g_autofree gchar *meta = NULL;
	g_autofree gchar *made = NULL;
	g_autofree gchar *message_path = NULL;
	gboolean written;
	gsize merged_len = 0;
	gsize meta_len = 0;
	const gchar *fields[3];
	const gchar *p;
	gint status = -1;
	gint fd;

	if (parent == NULL)
		return NULL;
	/* what is replayed so far, as a child of @commit's parent: the merge base is exactly it */
	status = fl_git_run_sync(ctx->repo, (const gchar *const *)env, &ours, NULL, cancellable,
				 error, "commit-tree", onto_tree, "-p", parent, "-m",
				 "flotilla refresh", NULL);
	if (status != 0)
		goto failed;
	g_strstrip(ours);
	status = fl_git_run_sync(ctx->repo, NULL, &merged, &merged_len, cancellable, error,
				 "merge-tree", "--write-tree", "--name-only", "--no-messages", "-z",
				 ours, commit, NULL);
	if (status == 1) {
		gsize tree_end = strnlen(merged, merged_len);
		g_autofree gchar *names =
			tree_end < merged_len
				? fl_refresh_names(merged + tree_end + 1, merged_len - tree_end - 1)
				: g_strdup("");

		fl_set_error(error, FL_ERROR_CONFLICT,
			     /* TRANSLATORS: "conflicts with main (4f2a91c0d3): a.c, b.c" */
			     N_("conflicts with %s (%.10s): %s"), ctx->base_branch, onto, names);
		return NULL;
	}
	if (status != 0)
		goto failed;
	*tree_out = g_strndup(merged, strnlen(merged, merged_len));
	/* the author, date and message stay the draft's; the committer is flotilla */
	status = fl_git_run_sync(ctx->repo, NULL, &meta, &meta_len, cancellable, error, "log", "-1",
				 "--no-show-signature", "--date=raw",
				 "--format=%an%x00%ae%x00%ad%x00%B", commit, NULL);
	if (status != 0)
		goto failed;
	p = meta;
	for (guint i = 0; i < G_N_ELEMENTS(fields); i++) {
		gsize one = strnlen(p, meta_len - (p - meta));

		if (p + one >= meta + meta_len)
			goto failed;
		fields[i] = p;
		p += one + 1;
	}
	env = g_environ_setenv(env, "GIT_AUTHOR_NAME", fields[0], TRUE);
	env = g_environ_setenv(env, "GIT_AUTHOR_EMAIL", fields[1], TRUE);
	env = g_environ_setenv(env, "GIT_AUTHOR_DATE", fields[2], TRUE);
	/* the message as it was, byte for byte: through a file, as git's -m would reshape it */
	fd = g_file_open_tmp("flotilla-refresh-XXXXXX", &message_path, error);
	if (fd < 0)
		return NULL;
	close(fd);
	written = g_file_set_contents_full(message_path, p, (gssize)(meta_len - (p - meta)),
					   G_FILE_SET_CONTENTS_NONE, 0600, error);
	if (written)
		status = fl_git_run_sync(ctx->repo, (const gchar *const *)env, &made, NULL,
					 cancellable, error, "commit-tree", *tree_out, "-p", onto,
					 "-F", message_path, NULL);
	g_unlink(message_path);
	if (!written || status != 0)
		goto failed;
	return g_strdup(g_strstrip(made));

failed:
	if (error != NULL && *error == NULL)
		fl_set_error(error, FL_ERROR_FAILED, N_("cannot replay %.10s onto %s"), commit,
			     ctx->base_branch);
	return NULL;
}

static void
fl_refresh_rebase_thread(GTask *task, gpointer source_object, gpointer task_data,
			 GCancellable *cancellable)
{
	FlRefreshCtx *ctx = task_data;
	g_autoptr(FlRefresh) result = g_new0(FlRefresh, 1);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *range = NULL;
	g_autofree gchar *list = NULL;
	g_autofree gchar *onto_rev = NULL;
	g_autofree gchar *cur = NULL;
	g_autofree gchar *cur_tree = NULL;
	g_auto(GStrv) commits = NULL;
	gint status;

	result->onto = fl_refresh_branch_tip(ctx->repo, ctx->base_branch, cancellable, &error);
	if (result->onto == NULL)
		goto out;
	result->old_tip = fl_refresh_branch_tip(ctx->repo, ctx->branch, cancellable, &error);
	if (result->old_tip == NULL)
		goto out;
	if (g_strcmp0(result->onto, ctx->base_commit) == 0) {
		/* made from the tip itself: nothing to replay */
		result->new_tip = g_strdup(result->old_tip);
		goto out;
	}
	range = g_strdup_printf("%s..%s", ctx->base_commit, result->old_tip);
	status = fl_git_run_sync(ctx->repo, NULL, &list, NULL, cancellable, &error, "rev-list",
				 "--reverse", "--first-parent", range, NULL);
	if (status != 0) {
		if (error == NULL)
			fl_set_error(&error, FL_ERROR_FAILED, N_("cannot list the commits of %s"),
				     ctx->branch);
		goto out;
	}
	commits = g_strsplit(g_strstrip(list), "\n", -1);
	cur = g_strdup(result->onto);
	onto_rev = g_strconcat(result->onto, "^{tree}", NULL);
	cur_tree = fl_refresh_rev(ctx->repo, onto_rev, cancellable, &error);
	if (cur_tree == NULL)
		goto out;
	for (guint i = 0; commits[i] != NULL; i++) {
		g_autofree gchar *tree = NULL;
		gchar *next;

		if (commits[i][0] == '\0')
			continue;
		next = fl_refresh_one(ctx, commits[i], cur, cur_tree, &tree, cancellable, &error);
		if (next == NULL)
			goto out;
		g_free(cur);
		cur = next;
		g_free(cur_tree);
		cur_tree = g_steal_pointer(&tree);
	}
	result->new_tip = g_steal_pointer(&cur);
out:
	if (error != NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	g_task_return_pointer(task, g_steal_pointer(&result), (GDestroyNotify)fl_refresh_free);
}

void
fl_refresh_rebase_async(const gchar *repo, const gchar *branch, const gchar *base_branch,
			const gchar *base_commit, GCancellable *cancellable,
			GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
	FlRefreshCtx *ctx;

	g_return_if_fail(repo != NULL && branch != NULL && base_branch != NULL);
	g_return_if_fail(base_commit != NULL);
	ctx = g_new0(FlRefreshCtx, 1);
	ctx->repo = g_strdup(repo);
	ctx->branch = g_strdup(branch);
	ctx->base_branch = g_strdup(base_branch);
	ctx->base_commit = g_strdup(base_commit);
	g_task_set_source_tag(task, fl_refresh_rebase_async);
	g_task_set_task_data(task, ctx, (GDestroyNotify)fl_refresh_ctx_free);
	g_task_run_in_thread(task, fl_refresh_rebase_thread);
}

FlRefresh *
fl_refresh_rebase_finish(GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(res, NULL), NULL);
	return g_task_propagate_pointer(G_TASK(res), error);
}

static void
fl_refresh_move_thread(GTask *task, gpointer source_object, gpointer task_data,
		       GCancellable *cancellable)
{
	FlRefreshCtx *ctx = task_data;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *ref = g_strconcat("refs/heads/", ctx->branch, NULL);
	g_autofree gchar *now = fl_refresh_branch_tip(ctx->repo, ctx->branch, cancellable, &error);
	gint status;

	if (now == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (g_strcmp0(now, ctx->new_tip) == 0) {
		g_task_return_boolean(task, TRUE);
		return;
	}
	if (g_strcmp0(now, ctx->old_tip) != 0) {
		fl_task_return_new_error(task, FL_ERROR_BUSY,
					 N_("%s moved meanwhile; nothing changed"), ctx->branch);
		return;
	}
	/* git compares and swaps under the ref's lock: a racing writer fails one of us */
	status = fl_git_run_sync(ctx->repo, NULL, NULL, NULL, cancellable, &error, "update-ref",
				 "-m", "flotilla: refresh onto the base branch", ref, ctx->new_tip,
				 ctx->old_tip, NULL);
	if (status != 0) {
		if (error == NULL)
			fl_set_error(&error, FL_ERROR_BUSY,
				     N_("%s moved meanwhile; nothing changed"), ctx->branch);
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	g_task_return_boolean(task, TRUE);
}

void
fl_refresh_move_async(const gchar *repo, const gchar *branch, const gchar *old_tip,
		      const gchar *new_tip, GCancellable *cancellable, GAsyncReadyCallback callback,
		      gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
	FlRefreshCtx *ctx;

	g_return_if_fail(repo != NULL && branch != NULL && old_tip != NULL && new_tip != NULL);
	ctx = g_new0(FlRefreshCtx, 1);
	ctx->repo = g_strdup(repo);
	ctx->branch = g_strdup(branch);
	ctx->old_tip = g_strdup(old_tip);
	ctx->new_tip = g_strdup(new_tip);
	g_task_set_source_tag(task, fl_refresh_move_async);
	g_task_set_task_data(task, ctx, (GDestroyNotify)fl_refresh_ctx_free);
	g_task_run_in_thread(task, fl_refresh_move_thread);
}

gboolean
fl_refresh_move_finish(GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(res, NULL), FALSE);
	return g_task_propagate_boolean(G_TASK(res), error);
}

static void
fl_refresh_tip_thread(GTask *task, gpointer source_object, gpointer task_data,
		      GCancellable *cancellable)
{
	FlRefreshCtx *ctx = task_data;
	GError *error = NULL;
	gchar *tip = fl_refresh_branch_tip(ctx->repo, ctx->branch, cancellable, &error);

	if (tip == NULL)
		g_task_return_error(task, error);
	else
		g_task_return_pointer(task, tip, g_free);
}

void
fl_refresh_tip_async(const gchar *repo, const gchar *branch, GCancellable *cancellable,
		     GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
	FlRefreshCtx *ctx;

	g_return_if_fail(repo != NULL && branch != NULL);
	ctx = g_new0(FlRefreshCtx, 1);
	ctx->repo = g_strdup(repo);
	ctx->branch = g_strdup(branch);
	g_task_set_source_tag(task, fl_refresh_tip_async);
	g_task_set_task_data(task, ctx, (GDestroyNotify)fl_refresh_ctx_free);
	g_task_run_in_thread(task, fl_refresh_tip_thread);
}

gchar *
fl_refresh_tip_finish(GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(res, NULL), NULL);
	return g_task_propagate_pointer(G_TASK(res), error);
}
