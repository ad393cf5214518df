/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-clean.h"

#include <errno.h>
#include <ftw.h>
#include <glib/gstdio.h>
#include <sys/stat.h>

#include "fl-error.h"
#include "fl-i18n.h"
#include "fl-util.h"
#include "fl-worktree.h"

const gchar *const fl_clean_states[] = {"done",     "failed",   "cancelled", "interrupted",
					"approved", "rejected", "reverted",  NULL};

typedef struct {
	FlStore *store;    /* (owned) */
	GPtrArray *datas;  /* (owned) (element-type FlSessionData) the sessions to clean */
	GPtrArray *result; /* (owned) (element-type GVariant) */
	gchar *intent;     /* (owned) STATE/clean-intent */
	gchar *state_dir;  /* (owned) */
	guint next;        /* the next worktree to unregister */
} FlCleanRun;

static void
fl_clean_run_free(FlCleanRun *run)
{
	g_object_unref(run->store);
	g_ptr_array_unref(run->datas);
	g_ptr_array_unref(run->result);
	g_free(run->intent);
	g_free(run->state_dir);
	g_free(run);
}

static gchar *
fl_clean_dir(const gchar *state_dir, const gchar *kind, guint id)
{
	g_autofree gchar *name = g_strdup_printf("%u", id);

	return g_build_filename(state_dir, kind, name, NULL);
}

static gboolean
fl_clean_matches(const FlSessionData *d, const gchar *state)
{
	return state == NULL || g_strcmp0(state, fl_state_to_string(d->state)) == 0 ||
	       g_strcmp0(state, fl_review_to_string(d->review)) == 0;
}

/* what goes for session @d: its directory and its worktree, those that exist */
static GVariant *
fl_clean_describe(const gchar *state_dir, const FlSessionData *d)
{
	g_autofree gchar *dir = fl_clean_dir(state_dir, "sessions", d->id);
	g_autofree gchar *worktree = fl_clean_dir(state_dir, "worktrees", d->id);
	GVariantBuilder paths;
	GVariantBuilder b;

	g_variant_builder_init(&paths, G_VARIANT_TYPE_STRING_ARRAY);
	if (g_file_test(dir, G_FILE_TEST_EXISTS))
		g_variant_builder_add(&paths, "s", dir);
	if (g_file_test(worktree, G_FILE_TEST_EXISTS))
		g_variant_builder_add(&paths, "s", worktree);
	g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&b, "{sv}", "id", g_variant_new_uint32(d->id));
	g_variant_builder_add(&b, "{sv}", "paths", g_variant_builder_end(&paths));
	return g_variant_ref_sink(g_variant_builder_end(&b));
}

static gint
fl_clean_unlock_cb(const gchar *path, const struct stat *st, gint type, struct FTW *ftw)
{
	/* a read-only directory an agent left (a module cache) must still be emptied */
	if (type == FTW_D)
		chmod(path, (st->st_mode & 07777) | S_IRWXU);
	return 0;
}

static gint
fl_clean_remove_cb(const gchar *path, const struct stat *st, gint type, struct FTW *ftw)
{
	if (remove(path) != 0 && errno != ENOENT)
		g_debug("clean: cannot remove %s: %s", path, g_strerror(errno));
	return 0;
}

/* rm -rf without following a symbolic link anywhere (FTW_PHYS): a link is removed, not its
 * target */
static void
fl_clean_remove_tree(const gchar *path)
{
	if (!g_file_test(path, G_FILE_TEST_EXISTS) && !g_file_test(path, G_FILE_TEST_IS_SYMLINK))
		return;
	nftw(path, fl_clean_unlock_cb, 16, FTW_PHYS);
	nftw(path, fl_clean_remove_cb, 16, FTW_PHYS | FTW_DEPTH);
}

static void
fl_clean_remove_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
	FlCleanRun *run = task_data;

	for (guint i = 0; i < run->datas->len; i++) {
		const FlSessionData *d = g_ptr_array_index(run->datas, i);
		g_autofree gchar *dir = fl_clean_dir(run->state_dir, "sessions", d->id);
		g_autofree gchar *worktree = fl_clean_dir(run->state_dir, "worktrees", d->id);

		/* a scratch directory, or what git left of a worktree */
		fl_clean_remove_tree(worktree);
		fl_clean_remove_tree(dir);
	}
	g_task_return_boolean(task, TRUE);
}

static void
fl_clean_removed_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlCleanRun *run = g_task_get_task_data(task);

	g_task_propagate_boolean(G_TASK(res), NULL);
	/* all gone: nothing left to finish after a crash */
	if (g_unlink(run->intent) != 0 && errno != ENOENT)
		g_warning("cannot remove %s: %s", run->intent, g_strerror(errno));
	g_task_return_pointer(task, g_ptr_array_ref(run->result),
			      (GDestroyNotify)g_ptr_array_unref);
}

static void
fl_clean_next_worktree(GTask *task);

static void
fl_clean_worktree_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	g_autoptr(GError) error = NULL;

	/* the tree goes below anyway; git's own record of it is what this was for */
	if (!fl_worktree_remove_finish(res, &error))
		g_debug("clean: %s", error->message);
	fl_clean_next_worktree(g_steal_pointer(&task));
}

/* git forgets each worktree (one at a time, like every worktree change); then the files go */
static void
fl_clean_next_worktree(GTask *task)
{
	FlCleanRun *run = g_task_get_task_data(task);

	while (run->next < run->datas->len) {
		const FlSessionData *d = g_ptr_array_index(run->datas, run->next++);
		g_autofree gchar *worktree = fl_clean_dir(run->state_dir, "worktrees", d->id);

		if (d->repo == NULL || !g_file_test(worktree, G_FILE_TEST_IS_DIR))
			continue;
		fl_worktree_remove_async(d->repo, worktree, NULL, NULL, fl_clean_worktree_cb, task);
		return;
	}
	{
		g_autoptr(GTask) thread = g_task_new(NULL, NULL, fl_clean_removed_cb, task);

		g_task_set_task_data(thread, run, NULL);
		g_task_run_in_thread(thread, fl_clean_remove_thread);
	}
}

/* the rows say cleaned before a file goes: `show` never offers a log that is half gone */
static void
fl_clean_mark(FlCleanRun *run)
{
	gint64 now = fl_now();

	for (guint i = 0; i < run->datas->len; i++) {
		FlSessionData *d = g_ptr_array_index(run->datas, i);
		g_autoptr(GError) error = NULL;

		if (d->cleaned != 0)
			continue;
		d->cleaned = now;
		if (!fl_store_update_session(run->store, d, &error) ||
		    !fl_store_add_event(run->store, d->id, "cleaned", "cli", NULL, &error))
			g_warning("clean: session %u: %s", d->id, error->message);
	}
}

static GTask *
fl_clean_task_new(FlStore *store, GCancellable *cancellable, GAsyncReadyCallback callback,
		  gpointer user_data)
{
	GTask *task = g_task_new(store, cancellable, callback, user_data);
	FlCleanRun *run = g_new0(FlCleanRun, 1);

	g_task_set_source_tag(task, fl_clean_async);
	run->store = g_object_ref(store);
	run->datas = g_ptr_array_new_with_free_func((GDestroyNotify)fl_session_data_free);
	run->result = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
	run->state_dir = g_strdup(fl_store_get_state_dir(store));
	run->intent = g_build_filename(run->state_dir, "clean-intent", NULL);
	g_task_set_task_data(task, run, (GDestroyNotify)fl_clean_run_free);
	return task;
}

void
fl_clean_async(FlStore *store, const FlCleanOptions *options, GCancellable *cancellable,
	       GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autoptr(GPtrArray) all = NULL;
	g_autoptr(GString) ids = g_string_new(NULL);
	g_autoptr(GError) error = NULL;
	FlCleanRun *run;

	g_return_if_fail(FL_IS_STORE(store));
	g_return_if_fail(options != NULL);

	task = fl_clean_task_new(store, cancellable, callback, user_data);
	run = g_task_get_task_data(task);
	if (g_file_test(run->intent, G_FILE_TEST_EXISTS)) {
		fl_task_return_new_error(task, FL_ERROR_BUSY,
					 N_("a clean is under way; try again when it is done"));
		return;
	}
	all = fl_store_get_cleanable(store, options->finished_before, &error);
	if (all == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	for (guint i = 0; i < all->len; i++) {
		FlSessionData *d = g_ptr_array_index(all, i);

		if (!fl_clean_matches(d, options->state))
			continue;
		g_ptr_array_add(run->result, fl_clean_describe(run->state_dir, d));
		g_ptr_array_add(run->datas, g_steal_pointer(&g_ptr_array_index(all, i)));
		g_string_append_printf(ids, "%u\n", d->id);
	}
	if (options->dry_run || run->datas->len == 0) {
		g_task_return_pointer(task, g_ptr_array_ref(run->result),
				      (GDestroyNotify)g_ptr_array_unref);
		return;
	}
	if (!fl_write_file_durable(run->intent, ids->str, (gssize)ids->len, &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	fl_crash_point("clean:intent");
	fl_clean_mark(run);
	fl_crash_point("clean:marked");
	fl_clean_next_worktree(g_steal_pointer(&task));
}

GPtrArray *
fl_clean_finish(GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_get_source_tag(G_TASK(res)) == fl_clean_async, NULL);

	return g_task_propagate_pointer(G_TASK(res), error);
}

static void
fl_clean_recovered_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) done = fl_clean_finish(res, &error);

	if (done == NULL)
		g_warning("cannot finish the interrupted clean: %s", error->message);
	else
		g_message("finished an interrupted clean of %u sessions", done->len);
}

void
fl_clean_recover(FlStore *store)
{
	g_autoptr(GTask) task = NULL;
	g_autofree gchar *text = NULL;
	g_auto(GStrv) lines = NULL;
	FlCleanRun *run;

	g_return_if_fail(FL_IS_STORE(store));

	task = fl_clean_task_new(store, NULL, fl_clean_recovered_cb, NULL);
	run = g_task_get_task_data(task);
	if (!g_file_get_contents(run->intent, &text, NULL, NULL))
		return;
	lines = g_strsplit(text, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		guint64 id = 0;
		FlSessionData *d;

		if (!g_ascii_string_to_unsigned(lines[i], 10, 1, G_MAXUINT, &id, NULL))
			continue;
		d = fl_store_get_session(store, (guint)id, NULL);
		/* an active session never was a candidate; one that is must not lose its files */
		if (d == NULL || fl_state_is_active(d->state) || d->review == FL_REVIEW_PENDING) {
			g_clear_pointer(&d, fl_session_data_free);
			continue;
		}
		g_ptr_array_add(run->result, fl_clean_describe(run->state_dir, d));
		g_ptr_array_add(run->datas, d);
	}
	fl_clean_mark(run);
	fl_clean_next_worktree(g_steal_pointer(&task));
}
