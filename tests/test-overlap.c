/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <glib/gstdio.h>

#include "fl-error.h"
#include "fl-overlap.h"
#include "fl-test-harness.h"

/* fl-overlap on real repositories: what a reviewer of parallel drafts is told */

typedef struct {
	gchar *tmp;
	gchar *repo;
} Fixture;

static void
sh(const gchar *cwd, const gchar *cmdline)
{
	g_autofree gchar *out = fl_test_sh(cwd, cmdline);
}

static void
fixture_set_up(Fixture *fx, gconstpointer data)
{
	fx->tmp = fl_test_mkdtemp();
	fx->repo = g_build_filename(fx->tmp, "repo", NULL);
	g_mkdir(fx->repo, 0700);
	sh(fx->repo, "git init -q -b main && git config user.name t && git config user.email t@t "
		     "&& printf 'a\\n' > a.txt && printf 'b\\n' > b.txt && printf 'c\\n' > c.txt "
		     "&& git add . && git commit -qm base");
}

static void
fixture_tear_down(Fixture *fx, gconstpointer data)
{
	fl_test_rm_rf(fx->tmp);
	g_free(fx->tmp);
	g_free(fx->repo);
}

static gchar *
head(const gchar *repo)
{
	gchar *out = fl_test_sh(repo, "git rev-parse main");

	return g_strstrip(out);
}

/* a draft branch from @base changing files by @cmdline */
static void
draft(const gchar *repo, const gchar *branch, const gchar *base, const gchar *cmdline)
{
	g_autofree gchar *line =
		g_strdup_printf("git checkout -q -b %s %s && %s && git commit -qam %s && "
				"git checkout -q main",
				branch, base, cmdline, branch);
	sh(repo, line);
}

static void
done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	*(GAsyncResult **)user_data = g_object_ref(res);
}

static gboolean
is_set(gpointer user_data)
{
	return *(GAsyncResult **)user_data != NULL;
}

static GPtrArray *
check(const gchar *repo, GError **error, ...)
{
	g_autoptr(GAsyncResult) res = NULL;
	GPtrArray *drafts = g_ptr_array_new_with_free_func((GDestroyNotify)fl_overlap_draft_free);
	va_list args;
	guint id;

	va_start(args, error);
	while ((id = va_arg(args, guint)) != 0) {
		const gchar *branch = va_arg(args, const gchar *);
		const gchar *base = va_arg(args, const gchar *);
		g_ptr_array_add(drafts, fl_overlap_draft_new(id, branch, base));
	}
	va_end(args);
	fl_overlap_check_async(repo, "main", drafts, NULL, done_cb, &res);
	g_assert_true(fl_test_wait_for(is_set, &res, 30000));
	return fl_overlap_check_finish(res, error);
}

static gboolean
has_id(GArray *ids, guint id)
{
	for (guint i = 0; i < ids->len; i++) {
		if (g_array_index(ids, guint, i) == id)
			return TRUE;
	}
	return FALSE;
}

/* two drafts editing one file are named to each other; a third on another file is not */
static void
test_overlap_same_file(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *base = head(fx->repo);
	g_autoptr(GPtrArray) result = NULL;
	g_autoptr(GError) error = NULL;
	FlOverlap *one, *two, *three;

	draft(fx->repo, "flotilla/1", base, "printf 'a1\\n' > a.txt");
	draft(fx->repo, "flotilla/2", base, "printf 'a2\\n' > a.txt && printf 'b2\\n' > b.txt");
	draft(fx->repo, "flotilla/3", base, "printf 'c3\\n' > c.txt");
	result = check(fx->repo, &error, 1, "flotilla/1", base, 2, "flotilla/2", base, 3,
		       "flotilla/3", base, 0);
	g_assert_no_error(error);
	g_assert_cmpuint(result->len, ==, 3);
	one = g_ptr_array_index(result, 0);
	two = g_ptr_array_index(result, 1);
	three = g_ptr_array_index(result, 2);
	g_assert_true(has_id(one->overlaps, 2));
	g_assert_true(has_id(two->overlaps, 1));
	g_assert_cmpuint(three->overlaps->len, ==, 0);
	g_assert_cmpuint(one->overlaps->len, ==, 1);
	/* nothing landed yet: every draft is fresh and merges */
	g_assert_false(one->stale);
	g_assert_true(one->clean && two->clean && three->clean);
	g_assert_cmpstrv(two->files, ((const gchar *const[]){"a.txt", "b.txt", NULL}));
}

/* once one lands, the other is stale and conflicts, naming the file; the disjoint one merges */
static void
test_overlap_stale_after_landing(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *base = head(fx->repo);
	g_autofree gchar *status_before = NULL;
	g_autofree gchar *status_after = NULL;
	g_autofree gchar *refs_before = NULL;
	g_autofree gchar *refs_after = NULL;
	g_autoptr(GPtrArray) result = NULL;
	g_autoptr(GError) error = NULL;
	FlOverlap *two, *three;

	draft(fx->repo, "flotilla/1", base, "printf 'a1\\n' > a.txt");
	draft(fx->repo, "flotilla/2", base, "printf 'a2\\n' > a.txt");
	draft(fx->repo, "flotilla/3", base, "printf 'c3\\n' > c.txt");
	sh(fx->repo, "git merge -q --no-ff -m land flotilla/1");
	/* the user has uncommitted work: the check must not touch it */
	sh(fx->repo, "printf 'mine\\n' > b.txt && printf 'new\\n' > untracked.txt");
	/* byte for byte: the index first (a plain `git status` could refresh it itself) */
	status_before = fl_test_sh(fx->repo, "sha256sum .git/index && git --no-optional-locks "
					     "status --porcelain && cat b.txt");
	refs_before = fl_test_sh(fx->repo, "git for-each-ref");
	result = check(fx->repo, &error, 2, "flotilla/2", base, 3, "flotilla/3", base, 0);
	g_assert_no_error(error);
	g_assert_cmpuint(result->len, ==, 2);
	two = g_ptr_array_index(result, 0);
	three = g_ptr_array_index(result, 1);
	g_assert_true(two->stale);
	g_assert_false(two->clean);
	g_assert_cmpstrv(two->conflicts, ((const gchar *const[]){"a.txt", NULL}));
	g_assert_true(three->stale);
	g_assert_true(three->clean);
	g_assert_null(three->conflicts);
	status_after = fl_test_sh(fx->repo, "sha256sum .git/index && git --no-optional-locks "
					    "status --porcelain && cat b.txt");
	refs_after = fl_test_sh(fx->repo, "git for-each-ref");
	g_assert_cmpstr(status_before, ==, status_after);
	g_assert_cmpstr(refs_before, ==, refs_after);
}

/* a draft whose branch was removed meanwhile is left out, not an error */
static void
test_overlap_branch_gone(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *base = head(fx->repo);
	g_autoptr(GPtrArray) result = NULL;
	g_autoptr(GError) error = NULL;

	draft(fx->repo, "flotilla/1", base, "printf 'a1\\n' > a.txt");
	result = check(fx->repo, &error, 1, "flotilla/1", base, 9, "flotilla/9", base, 0);
	g_assert_no_error(error);
	g_assert_cmpuint(result->len, ==, 1);
	g_assert_cmpuint(((FlOverlap *)g_ptr_array_index(result, 0))->id, ==, 1);
}

/* a base branch that is gone is an error naming it */
static void
test_overlap_base_gone(Fixture *fx, gconstpointer data)
{
	g_autoptr(GAsyncResult) res = NULL;
	g_autoptr(GPtrArray) result = NULL;
	g_autoptr(GError) error = NULL;
	GPtrArray *drafts = g_ptr_array_new_with_free_func((GDestroyNotify)fl_overlap_draft_free);

	fl_overlap_check_async(fx->repo, "nope", drafts, NULL, done_cb, &res);
	g_assert_true(fl_test_wait_for(is_set, &res, 30000));
	result = fl_overlap_check_finish(res, &error);
	g_assert_null(result);
	g_assert_error(error, FL_ERROR, FL_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(error->message, "nope"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add("/overlap/same-file", Fixture, NULL, fixture_set_up, test_overlap_same_file,
		   fixture_tear_down);
	g_test_add("/overlap/stale-after-landing", Fixture, NULL, fixture_set_up,
		   test_overlap_stale_after_landing, fixture_tear_down);
	g_test_add("/overlap/branch-gone", Fixture, NULL, fixture_set_up, test_overlap_branch_gone,
		   fixture_tear_down);
	g_test_add("/overlap/base-gone", Fixture, NULL, fixture_set_up, test_overlap_base_gone,
		   fixture_tear_down);
	return g_test_run();
}
