/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <glib/gstdio.h>

#include "fl-coordination.h"
#include "fl-test-harness.h"

/*
 * FlCoordination over a real store and real repositories: a reviewer of parallel drafts is
 * told which drafts change the same files, and which one stopped merging because of which
 * landing.
 */

typedef struct {
	gchar *tmp;
	gchar *repo;
	gchar *base_commit;
	FlStore *store;
	FlCoordination *coordination;
} Fixture;

static void
sh(const gchar *cwd, const gchar *cmdline)
{
	g_autofree gchar *out = fl_test_sh(cwd, cmdline);
}

static void
fixture_set_up(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *state = NULL;

	fx->tmp = fl_test_mkdtemp();
	fx->repo = g_build_filename(fx->tmp, "repo", NULL);
	state = g_build_filename(fx->tmp, "state", NULL);
	g_mkdir(fx->repo, 0700);
	g_mkdir(state, 0700);
	sh(fx->repo, "git init -q -b main && git config user.name t && git config user.email t@t "
		     "&& printf 'a\\n' > a.txt && printf 'b\\n' > b.txt && git add . && "
		     "git commit -qm base");
	fx->base_commit = g_strstrip(fl_test_sh(fx->repo, "git rev-parse main"));
	fx->store = fl_store_new(state, &error);
	g_assert_no_error(error);
	fx->coordination = fl_coordination_new(fx->store);
}

static void
fixture_tear_down(Fixture *fx, gconstpointer data)
{
	g_clear_object(&fx->coordination);
	g_clear_object(&fx->store);
	fl_test_rm_rf(fx->tmp);
	g_free(fx->tmp);
	g_free(fx->repo);
	g_free(fx->base_commit);
}

/* a pending draft in the store and its branch in git, changing files by @cmdline */
static FlSessionData *
add_draft(Fixture *fx, const gchar *cmdline)
{
	g_autoptr(GPtrArray) rows = g_ptr_array_new();
	g_autoptr(GError) error = NULL;
	FlSessionData *d = fl_session_data_new();
	g_autofree gchar *line = NULL;

	d->goal = g_strdup("goal");
	d->agent = g_strdup("shell");
	d->repo = g_strdup(fx->repo);
	d->base = g_strdup("main");
	d->base_commit = g_strdup(fx->base_commit);
	d->created = g_get_real_time();
	d->state = FL_STATE_DONE;
	d->review = FL_REVIEW_PENDING;
	g_ptr_array_add(rows, d);
	fl_store_insert_sessions(fx->store, rows, NULL, NULL, &error);
	g_assert_no_error(error);
	d->branch = g_strdup_printf("flotilla/%u", d->id);
	g_assert_true(fl_store_update_session(fx->store, d, &error));
	line = g_strdup_printf("git checkout -q -b %s %s && %s && git commit -qam d && "
			       "git checkout -q main",
			       d->branch, fx->base_commit, cmdline);
	sh(fx->repo, line);
	return d;
}

static gboolean
idle(gpointer user_data)
{
	return !fl_coordination_is_busy(FL_COORDINATION(user_data));
}

static void
settle(Fixture *fx)
{
	g_assert_true(fl_test_wait_for(idle, fx->coordination, 30000));
}

static void
test_coordination_landing(Fixture *fx, gconstpointer data)
{
	g_autoptr(FlSessionData) one = add_draft(fx, "printf 'a1\\n' > a.txt");
	g_autoptr(FlSessionData) two = add_draft(fx, "printf 'a2\\n' > a.txt");
	g_autoptr(FlSessionData) three = add_draft(fx, "printf 'b3\\n' > b.txt");
	g_autoptr(GError) error = NULL;
	g_autofree gchar *s1 = NULL;
	g_autofree gchar *s2 = NULL;
	g_autofree gchar *s3 = NULL;
	g_autofree gchar *landing = NULL;
	const FlOverlap *o;

	fl_coordination_start(fx->coordination);
	settle(fx);
	s1 = fl_coordination_summary(fx->coordination, one->id, "main");
	s2 = fl_coordination_summary(fx->coordination, two->id, "main");
	s3 = fl_coordination_summary(fx->coordination, three->id, "main");
	g_assert_cmpstr(s1, ==, "changes the same files as #2");
	g_assert_cmpstr(s2, ==, "changes the same files as #1");
	g_assert_null(s3);

	/* #1 lands: #2 now conflicts because of it, #3 still merges but is stale */
	sh(fx->repo, "git merge -q --no-ff -m land flotilla/1");
	one->review = FL_REVIEW_APPROVED;
	g_assert_true(fl_store_update_session(fx->store, one, &error));
	fl_coordination_session_changed(fx->coordination, one->id, one->repo, one->base,
					one->review);
	settle(fx);
	g_clear_pointer(&s2, g_free);
	s2 = fl_coordination_summary(fx->coordination, two->id, "main");
	g_assert_cmpstr(s2, ==, "conflicts with main since #1 landed: a.txt");
	g_assert_null(fl_coordination_lookup(fx->coordination, one->id));
	o = fl_coordination_lookup(fx->coordination, three->id);
	g_assert_nonnull(o);
	g_assert_true(o->stale);
	g_assert_true(o->clean);
	landing = g_strstrip(fl_test_sh(fx->repo, "git rev-parse main"));
	g_assert_cmpstr(o->tip, ==, landing);

	/* #2 rejected: it leaves the picture */
	two->review = FL_REVIEW_REJECTED;
	g_assert_true(fl_store_update_session(fx->store, two, &error));
	fl_coordination_session_changed(fx->coordination, two->id, two->repo, two->base,
					two->review);
	settle(fx);
	g_assert_null(fl_coordination_lookup(fx->coordination, two->id));
}

/* a landing made outside flotilla is seen at the next check too, without a culprit */
static void
test_coordination_moved_outside(Fixture *fx, gconstpointer data)
{
	g_autoptr(FlSessionData) one = add_draft(fx, "printf 'a1\\n' > a.txt");
	g_autofree gchar *s1 = NULL;
	g_autoptr(GVariantDict) dict = g_variant_dict_new(NULL);
	gboolean merges = TRUE;

	sh(fx->repo, "printf 'user\\n' > a.txt && git commit -qam user");
	fl_coordination_start(fx->coordination);
	settle(fx);
	s1 = fl_coordination_summary(fx->coordination, one->id, "main");
	g_assert_cmpstr(s1, ==, "conflicts with main: a.txt");
	fl_coordination_describe(fx->coordination, one->id, "main", dict);
	g_assert_true(g_variant_dict_lookup(dict, "merges", "b", &merges));
	g_assert_false(merges);
	g_assert_true(g_variant_dict_contains(dict, "conflicts"));
	g_assert_false(g_variant_dict_contains(dict, "conflict_since"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add("/coordination/landing", Fixture, NULL, fixture_set_up,
		   test_coordination_landing, fixture_tear_down);
	g_test_add("/coordination/moved-outside", Fixture, NULL, fixture_set_up,
		   test_coordination_moved_outside, fixture_tear_down);
	return g_test_run();
}
