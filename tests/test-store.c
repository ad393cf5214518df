/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <libintl.h>
#include <locale.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fl-error.h"
#include "fl-msg.h"
#include "fl-store.h"
#include "fl-util.h"

/* a private directory per test, removed again by rm_rf() */
static gchar *
make_tmpdir(void)
{
	g_autoptr(GError) error = NULL;
	gchar *dir = g_dir_make_tmp("fl-test-store-XXXXXX", &error);

	g_assert_no_error(error);
	return dir;
}

static void
rm_rf(const gchar *path)
{
	g_autoptr(GDir) dir = NULL;
	const gchar *name;

	if (!g_file_test(path, G_FILE_TEST_IS_SYMLINK) && g_file_test(path, G_FILE_TEST_IS_DIR)) {
		dir = g_dir_open(path, 0, NULL);
		while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
			g_autofree gchar *child = g_build_filename(path, name, NULL);
			rm_rf(child);
		}
	}
	g_assert_cmpint(g_remove(path), ==, 0);
}

static FlStore *
store_open(const gchar *state_dir)
{
	g_autoptr(GError) error = NULL;
	FlStore *store = fl_store_new(state_dir, &error);

	g_assert_no_error(error);
	g_assert_nonnull(store);
	return store;
}

static FlSessionData *
session_new(const gchar *goal, FlState state, FlReview review)
{
	FlSessionData *d = fl_session_data_new();

	d->goal = g_strdup(goal);
	d->agent = g_strdup("shell");
	d->state = state;
	d->review = review;
	d->created = g_get_real_time();
	return d;
}

/* inserts one session and returns its id */
static guint
insert_one(FlStore *store, const gchar *goal, FlState state, FlReview review)
{
	g_autoptr(GPtrArray) datas =
		g_ptr_array_new_with_free_func((GDestroyNotify)fl_session_data_free);
	g_autoptr(GError) error = NULL;

	g_ptr_array_add(datas, session_new(goal, state, review));
	g_assert_true(fl_store_insert_sessions(store, datas, NULL, NULL, &error));
	g_assert_no_error(error);
	return ((FlSessionData *)g_ptr_array_index(datas, 0))->id;
}

static FlSessionData *
get_ok(FlStore *store, guint id)
{
	g_autoptr(GError) error = NULL;
	FlSessionData *d = fl_store_get_session(store, id, &error);

	g_assert_no_error(error);
	g_assert_nonnull(d);
	g_assert_cmpuint(d->id, ==, id);
	return d;
}

/* direct SQL from the test's side, as another program (or an older/newer flotillad) would */
static void
sql_exec(const gchar *db_path, const gchar *sql)
{
	sqlite3 *db = NULL;
	char *errmsg = NULL;

	g_assert_cmpint(
		sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), ==,
		SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &errmsg) != SQLITE_OK)
		g_test_message("%s: %s", sql, errmsg);
	g_assert_null(errmsg);
	g_assert_cmpint(sqlite3_close(db), ==, SQLITE_OK);
}

static gchar *
sql_text(const gchar *db_path, const gchar *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	gchar *result;

	g_assert_cmpint(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
	g_assert_cmpint(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
	g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_ROW);
	result = g_strdup((const gchar *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	g_assert_cmpint(sqlite3_close(db), ==, SQLITE_OK);
	return result;
}

static guint
file_mode(const gchar *path)
{
	GStatBuf st;

	g_assert_cmpint(g_stat(path, &st), ==, 0);
	return st.st_mode & 07777;
}

static GBytes *
read_bytes(const gchar *path)
{
	g_autoptr(GError) error = NULL;
	gchar *contents = NULL;
	gsize len = 0;

	g_file_get_contents(path, &contents, &len, &error);
	g_assert_no_error(error);
	return g_bytes_new_take(contents, len);
}

static gint
cmp_names(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

/* the names in @path, sorted and joined: to see that a refusal created nothing */
static gchar *
listing(const gchar *path)
{
	g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	const gchar *name;

	g_assert_nonnull(dir);
	while ((name = g_dir_read_name(dir)) != NULL)
		g_ptr_array_add(names, g_strdup(name));
	g_ptr_array_sort(names, cmp_names);
	g_ptr_array_add(names, NULL);
	return g_strjoinv(" ", (gchar **)names->pdata);
}

/* the "id" of every dictionary of an aa{sv}, in order, as "5 4 1" */
static gchar *
variant_ids(GVariant *list)
{
	g_autoptr(GString) out = g_string_new(NULL);

	g_assert_true(g_variant_is_of_type(list, G_VARIANT_TYPE("aa{sv}")));
	for (gsize i = 0; i < g_variant_n_children(list); i++) {
		g_autoptr(GVariant) dict = g_variant_get_child_value(list, i);
		guint32 id = 0;
		g_assert_true(g_variant_lookup(dict, "id", "u", &id));
		g_string_append_printf(out, "%s%u", i > 0 ? " " : "", id);
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

static gchar *
array_ids(GPtrArray *datas)
{
	g_autoptr(GString) out = g_string_new(NULL);

	for (guint i = 0; i < datas->len; i++) {
		FlSessionData *d = g_ptr_array_index(datas, i);
		g_string_append_printf(out, "%s%u", i > 0 ? " " : "", d->id);
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

static void
test_store_create(void)
{
	g_autofree gchar *tmp = make_tmpdir();
	g_autofree gchar *state_dir = g_build_filename(tmp, "deep", "state", NULL);
	g_autofree gchar *db = g_build_filename(state_dir, "flotilla.db", NULL);
	g_autofree gchar *wal = g_build_filename(state_dir, "flotilla.db-wal", NULL);
	g_autofree gchar *sessions = g_build_filename(state_dir, "sessions", NULL);
	g_autofree gchar *journal = NULL;
	g_autofree gchar *version = NULL;
	g_autoptr(FlStore) store = store_open(state_dir);

	g_assert_cmpstr(fl_store_get_state_dir(store), ==, state_dir);
	g_assert_cmpuint(file_mode(state_dir), ==, 0700);
	g_assert_cmpuint(file_mode(sessions), ==, 0700);
	g_assert_cmpuint(file_mode(db), ==, 0600);
	insert_one(store, "make the wal exist", FL_STATE_QUEUED, FL_REVIEW_NONE);
	g_assert_true(g_file_test(wal, G_FILE_TEST_IS_REGULAR));
	g_assert_cmpuint(file_mode(wal), ==, 0600);
	journal = sql_text(db, "PRAGMA journal_mode");
	g_assert_cmpstr(journal, ==, "wal");
	version = sql_text(db, "PRAGMA user_version");
	g_assert_cmpint(atoi(version), ==, FL_STORE_SCHEMA_VERSION);
	g_assert_cmpuint(fl_store_count_pending_review(store), ==, 0);
	g_clear_object(&store);
	rm_rf(tmp);
}

/* a state directory that exists with loose permissions is made private */
static void
test_store_create_existing_dir(void)
{
	g_autofree gchar *tmp = make_tmpdir();
	g_autofree gchar *db = g_build_filename(tmp, "flotilla.db", NULL);
	g_autoptr(FlStore) store = NULL;

	g_assert_cmpint(g_chmod(tmp, 0755), ==, 0);
	store = store_open(tmp);
	g_assert_cmpuint(file_mode(tmp), ==, 0700);
	g_assert_cmpuint(file_mode(db), ==, 0600);
	g_clear_object(&store);
	rm_rf(tmp);
}

static void
test_store_insert_get(void)
{
	g_autofree gchar *tmp = make_tmpdir();
	g_autoptr(FlStore) store = store_open(tmp);
	g_autoptr(GPtrArray) datas =
		g_ptr_array_new_with_free_func((GDestroyNotify)fl_session_data_free);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlSessionData) full = NULL;
	g_autoptr(FlSessionData) bare = NULL;
	g_autoptr(FlSessionData) missing = NULL;
	FlSessionData *d;

	/* every field set, with text SQL would choke on if it were pasted in */
	d = session_new("fix the 'parser'; DROP TABLE sessions; --", FL_STATE_DONE,
			FL_REVIEW_PENDING);
	d->name = g_strdup("parser-fix");
	d->repo = g_strdup("/srv/me/src/api");
	d->base = g_strdup("main");
	d->base_commit = g_strdup("0123456789abcdef0123456789abcdef01234567");
	d->branch = g_strdup("flotilla/1-parser-fix");
	d->worktree = g_strdup("/srv/me/.local/state/flotilla/worktrees/1");
	d->verify_command = g_strdup("make check");
	d->created = 1767225600000000;
	d->started = 1767225601000000;
	d->finished = 1767225699123456;
	d->has_exit = TRUE;
	d->exit_code = 0;
	d->signal = 0;
	d->verify = FL_VERIFY_PASS;
	d->diffstat = g_strdup(" 2 files changed, 10 insertions(+), 3 deletions(-)");
	d->links_outside = g_strdup("etc -> /etc\nup -> ../..");
	d->verify_commit = g_strdup("0123456789abcdef0123456789abcdef01234567");
	d->cost_usd = 0.0;
	d->turns = 7;
	d->waiting_for = g_strdup("permission to run rm");
	d->final_message = g_strdup("Fertig ✓\nzweite Zeile\t(tab)");
	d->reason = g_strdup("exit 0");
	d->merge_commit = g_strdup("fedcba9876543210fedcba9876543210fedcba98");
	d->agent_session = g_strdup("5f0c8e7e-2d7a-4c39-9a53-8d0f6d3e6a11");
	d->placement = g_strdup("lab");
	d->memory_mb = 4096;
	d->time_minutes = 120;
	d->confinement = g_strdup("bwrap");
	g_ptr_array_add(datas, d);
	/* nothing but the required fields */
	g_ptr_array_add(datas, session_new("second", FL_STATE_QUEUED, FL_REVIEW_NONE));
	g_ptr_array_add(datas, session_new("third", FL_STATE_QUEUED, FL_REVIEW_NONE));
	g_assert_true(fl_store_insert_sessions(store, datas, NULL, NULL, &error));
	g_assert_no_error(error);
	for (guint i = 0; i < datas->len; i++)
		g_assert_cmpuint(((FlSessionData *)g_ptr_array_index(datas, i))->id, ==, i + 1);

	full = get_ok(store, 1);
	g_assert_cmpstr(full->name, ==, d->name);
	g_assert_cmpstr(full->goal, ==, d->goal);
	g_assert_cmpstr(full->agent, ==, "shell");
	g_assert_cmpstr(full->repo, ==, d->repo);
	g_assert_cmpstr(full->base, ==, d->base);
	g_assert_cmpstr(full->base_commit, ==, d->base_commit);
	g_assert_cmpstr(full->branch, ==, d->branch);
	g_assert_cmpstr(full->worktree, ==, d->worktree);
	g_assert_cmpstr(full->verify_command, ==, d->verify_command);
	g_assert_cmpint(full->state, ==, FL_STATE_DONE);
	g_assert_cmpint(full->review, ==, FL_REVIEW_PENDING);
	g_assert_cmpint(full->created, ==, d->created);
	g_assert_cmpint(full->started, ==, d->started);
	g_assert_cmpint(full->finished, ==, d->finished);
	/* exit 0 is an exit status, not "no exit yet"; a cost of 0 is known, not unknown */
	g_assert_true(full->has_exit);
	g_assert_cmpint(full->exit_code, ==, 0);
	g_assert_cmpint(full->signal, ==, 0);
	g_assert_cmpint(full->verify, ==, FL_VERIFY_PASS);
	{
		/* the enum is stored as the text older daemons wrote and read */
		g_autofree gchar *db = g_build_filename(tmp, "flotilla.db", NULL);
		g_autofree gchar *text = sql_text(db, "SELECT verify FROM sessions WHERE id = 1");
		g_assert_cmpstr(text, ==, "pass");
	}
	g_assert_cmpstr(full->diffstat, ==, d->diffstat);
	g_assert_cmpstr(full->links_outside, ==, d->links_outside);
	g_assert_cmpstr(full->verify_commit, ==, d->verify_commit);
	g_assert_cmpfloat(full->cost_usd, ==, 0.0);
	g_assert_cmpuint(full->turns, ==, 7);
	g_assert_cmpstr(full->waiting_for, ==, d->waiting_for);
	g_assert_cmpstr(full->final_message, ==, d->final_message);
	g_assert_cmpstr(full->reason, ==, d->reason);
	g_assert_cmpstr(full->merge_commit, ==, d->merge_commit);
	g_assert_cmpstr(full->agent_session, ==, d->agent_session);
	g_assert_cmpstr(full->placement, ==, "lab");
	g_assert_cmpuint(full->memory_mb, ==, 4096);
	g_assert_cmpuint(full->time_minutes, ==, 120);
	g_assert_cmpstr(full->confinement, ==, "bwrap");

	bare = get_ok(store, 2);
	g_assert_cmpstr(bare->goal, ==, "second");
	g_assert_cmpint(bare->state, ==, FL_STATE_QUEUED);
	g_assert_cmpint(bare->review, ==, FL_REVIEW_NONE);
	g_assert_null(bare->name);
	g_assert_null(bare->repo);
	g_assert_null(bare->base);
	g_assert_null(bare->base_commit);
	g_assert_null(bare->branch);
	g_assert_null(bare->worktree);
	g_assert_null(bare->verify_command);
	g_assert_cmpint(bare->started, ==, 0);
	g_assert_cmpint(bare->finished, ==, 0);
	g_assert_false(bare->has_exit);
	g_assert_cmpint(bare->verify, ==, FL_VERIFY_NONE);
	g_assert_null(bare->diffstat);
	g_assert_null(bare->links_outside);
	g_assert_cmpfloat(bare->cost_usd, <, 0);
	g_assert_cmpuint(bare->turns, ==, 0);
	g_assert_null(bare->waiting_for);
	g_assert_null(bare->final_message);
	g_assert_null(bare->reason);
	g_assert_null(bare->merge_commit);
	g_assert_null(bare->agent_session);
	g_assert_null(bare->placement);
	g_assert_cmpuint(bare->memory_mb, ==, 0);
	g_assert_null(bare->confinement);

	missing = fl_store_get_session(store, 4, &error);
	g_assert_null(missing);
	g_assert_error(error, FL_ERROR, FL_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(error->message, "4"));

	g_clear_object(&store);
	rm_rf(tmp);
}

/* the sessions of one insert are stored together or not at all */
static void
test_store_insert_atomic(void)
{
	g_autofree gchar *tmp = make_tmpdir();
	g_autoptr(FlStore) store = store_open(tmp);
	g_autoptr(GPtrArray) datas =
		g_ptr_array_new_with_free_func((GDestroyNotify)fl_session_data_free);
	g_autoptr(GPtrArray) empty = g_ptr_array_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) all = NULL;
	g_autofree gchar *ids = NULL;

	insert_one(store, "before", FL_STATE_DONE, FL_REVIEW_NONE);
	g_ptr_array_add(datas, session_new("ok", FL_STATE_QUEUED, FL_REVIEW_NONE));
	/* a session without a goal violates the schema: the whole batch must go */
	g_ptr_array_add(datas, session_new(NULL, FL_STATE_QUEUED, FL_REVIEW_NONE));
	g_ptr_array_add(datas, session_new("ok too", FL_STATE_QUEUED, FL_REVIEW_NONE));
	g_assert_false(fl_store_insert_sessions(store, datas, NULL, NULL, &error));
	g_assert_error(error, FL_ERROR, FL_ERROR_FAILED);
	g_test_message("%s", error->message);
	g_clear_error(&error);
	for (guint i = 0; i < datas->len; i++)
		g_assert_cmpuint(((FlSessionData *)g_ptr_array_index(datas, i))->id, ==, 0);
	all = fl_store_list_variants(store, TRUE, 0, 0, &error);
	g_assert_no_error(error);
	ids = variant_ids(all);
	g_assert_cmpstr(ids, ==, "1");
	/* the store still takes writes afterwards: no transaction was left open */
	g_assert_cmpuint(insert_one(store, "after", FL_STATE_QUEUED, FL_REVIEW_NONE), ==, 2);
	g_assert_true(fl_store_insert_sessions(store, empty, NULL, NULL, &error));
	g_assert_no_error(error);

	g_clear_object(&store);
	rm_rf(tmp);
}

static void
test_store_update(void)
{
	g_autofree gchar *tmp = make_tmpdir();
	g_autoptr(FlStore) store = store_open(tmp);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlSessionData) d = NULL;
	g_autoptr(FlSessionData) again = NULL;
	g_autoptr(FlSessionData) other = NULL;
	g_autoptr(FlSessionData) ghost = NULL;
	guint id = insert_one(store, "update me", FL_STATE_QUEUED, FL_REVIEW_NONE);

	insert_one(store, "leave me alone", FL_STATE_QUEUED, FL_REVIEW_NONE);
	d = get_ok(store, id);
	d->state = FL_STATE_BLOCKED;
	d->started = 1767225601000000;
	d->waiting_for = g_strdup("which branch?");
	d->cost_usd = 0.25;
	d->turns = 3;
	d->has_exit = TRUE;
	d->exit_code = 143;
	d->signal = 15;
	g_assert_true(fl_store_update_session(store, d, &error));
	g_assert_no_error(error);
	again = get_ok(store, id);
	g_assert_cmpint(again->state, ==, FL_STATE_BLOCKED);
	g_assert_cmpint(again->started, ==, d->started);
	g_assert_cmpstr(again->waiting_for, ==, "which branch?");
	g_assert_cmpfloat(again->cost_usd, ==, 0.25);
	g_assert_cmpuint(again->turns, ==, 3);
	g_assert_true(again->has_exit);
	g_assert_cmpint(again->exit_code, ==, 143);
	g_assert_cmpint(again->signal, ==, 15);
	g_clear_pointer(&again, fl_session_data_free);

	/* and back: cleared fields are NULL again, not empty strings or zeros */
	g_clear_pointer(&d->waiting_for, g_free);
	d->cost_usd = -1;
	d->has_exit = FALSE;
	d->state = FL_STATE_DONE;
	d->review = FL_REVIEW_APPROVED;
	g_assert_true(fl_store_update_session(store, d, &error));
	g_assert_no_error(error);
	again = get_ok(store, id);
	g_assert_null(again->waiting_for);
	g_assert_cmpfloat(again->cost_usd, <, 0);
	g_assert_false(again->has_exit);
	g_assert_cmpint(again->state, ==, FL_STATE_DONE);
	g_assert_cmpint(again->review, ==, FL_REVIEW_APPROVED);

	other = get_ok(store, id + 1);
	g_assert_cmpstr(other->goal, ==, "leave me alone");
	g_assert_cmpint(other->state, ==, FL_STATE_QUEUED);

	ghost = session_new("never inserted", FL_STATE_QUEUED, FL_REVIEW_NONE);
	ghost->id = 77;
	g_assert_false(fl_store_update_session(store, ghost, &error));
	g_assert_error(error, FL_ERROR, FL_ERROR_NOT_FOUND);

	g_clear_object(&store);
	rm_rf(tmp);
}

static void
test_store_active(void)
{
	g_autofree gchar *tmp = make_tmpdir();
	g_autoptr(FlStore) store = store_open(tmp);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) active = NULL;
	g_autofree gchar *ids = NULL;
	const FlState states[] = {
		FL_STATE_DONE,    FL_STATE_RUNNING,   FL_STATE_FAILED,      FL_STATE_QUEUED,
		FL_STATE_BLOCKED, FL_STATE_CANCELLED, FL_STATE_INTERRUPTED, FL_STATE_QUEUED,
	};

	active = fl_store_get_active(store, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(active->len, ==, 0);
	g_clear_pointer(&active, g_ptr_array_unref);
	for (guint i = 0; i < G_N_ELEMENTS(states); i++)
		insert_one(store, "x", states[i], FL_REVIEW_NONE);
	active = fl_store_get_active(store, &error);
	g_assert_no_error(error);
	ids = array_ids(active);
	/* oldest first: the order the queue runs them in */
	g_assert_cmpstr(ids, ==, "2 4 5 8");
	g_assert_cmpint(((FlSessionData *)g_ptr_array_index(active, 2))->state, ==,
			FL_STATE_BLOCKED);

	g_clear_object(&store);
	rm_rf(tmp);
}

static void
test_store_list(void)
{
	g_autofree gchar *tmp = make_tmpdir();
	g_autoptr(FlStore) store = store_open(tmp);
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) expected = g_string_new(NULL);
	g_autoptr(GVariant) list = NULL;
	g_autoptr(GVariant) first = NULL;
	g_autofree gchar *ids = NULL;
	const gchar *state = NULL;
	const gchar *goal = NULL;

	list = fl_store_list_variants(store, FALSE, 0, 20, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_variant_n_children(list), ==, 0);
	g_clear_pointer(&list, g_variant_unref);

	/* old sessions that still matter, 29 finished ones, then a running one */
	insert_one(store, "old running", FL_STATE_RUNNING, FL_REVIEW_NONE);
	insert_one(store, "old draft", FL_STATE_DONE, FL_REVIEW_PENDING);
	insert_one(store, "old queued", FL_STATE_QUEUED, FL_REVIEW_NONE);
	insert_one(store, "old blocked", FL_STATE_BLOCKED, FL_REVIEW_NONE);
	insert_one(store, "old approved", FL_STATE_DONE, FL_REVIEW_APPROVED);
	for (guint i = 6; i <= 34; i++)
		insert_one(store, "finished", i % 2 ? FL_STATE_DONE : FL_STATE_FAILED,
			   FL_REVIEW_REJECTED);
	insert_one(store, "new running", FL_STATE_RUNNING, FL_REVIEW_NONE);

	/* everything, newest first */
	list = fl_store_list_variants(store, TRUE, 0, 20, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_variant_n_children(list), ==, 35);
	first = g_variant_get_child_value(list, 0);
	g_assert_true(g_variant_lookup(first, "goal", "&s", &goal));
	g_assert_cmpstr(goal, ==, "new running");
	g_assert_true(g_variant_lookup(first, "state", "&s", &state));
	g_assert_cmpstr(state, ==, "running");
	g_clear_pointer(&list, g_variant_unref);
	list = fl_store_list_variants(store, TRUE, 3, 20, &error);
	g_assert_no_error(error);
	ids = variant_ids(list);
	g_assert_cmpstr(ids, ==, "35 34 33");
	g_clear_pointer(&ids, g_free);
	g_clear_pointer(&list, g_variant_unref);

	/* the default view: active, pending and the 20 most recent (35 is both), no doubles */
	for (guint i = 35; i >= 16; i--)
		g_string_append_printf(expected, "%u ", i);
	g_string_append(expected, "4 3 2 1");
	list = fl_store_list_variants(store, FALSE, 0, 20, &error);
	g_assert_no_error(error);
	ids = variant_ids(list);
	g_assert_cmpstr(ids, ==, expected->str);
	g_clear_pointer(&ids, g_free);
	g_clear_pointer(&list, g_variant_unref);

	list = fl_store_list_variants(store, FALSE, 0, 0, &error);
	g_assert_no_error(error);
	ids = variant_ids(list);
	g_assert_cmpstr(ids, ==, "35 4 3 2 1");
	g_clear_pointer(&ids, g_free);
	g_clear_pointer(&list, g_variant_unref);

	list = fl_store_list_variants(store, FALSE, 2, 20, &error);
	g_assert_no_error(error);
	ids = variant_ids(list);
	g_assert_cmpstr(ids, ==, "35 34");

	g_clear_object(&store);
	rm_rf(tmp);
}

static void
test_store_pending_attention(void)
{
	g_autofree gchar *tmp = make_tmpdir();
	g_autoptr(FlStore) store = store_open(tmp);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) attention = NULL;
	g_autoptr(GArray) announced = NULL;
	g_autoptr(FlSessionData) d = NULL;
	g_autofree gchar *ids = NULL;

	g_assert_cmpuint(fl_store_count_pending_review(store), ==, 0);
	insert_one(store, "draft", FL_STATE_DONE, FL_REVIEW_PENDING);          /* 1 */
	insert_one(store, "no changes", FL_STATE_DONE, FL_REVIEW_NONE);        /* 2 */
	insert_one(store, "asks", FL_STATE_BLOCKED, FL_REVIEW_NONE);           /* 3 */
	insert_one(store, "broke", FL_STATE_FAILED, FL_REVIEW_NONE);           /* 4 */
	insert_one(store, "lost", FL_STATE_INTERRUPTED, FL_REVIEW_NONE);       /* 5 */
	insert_one(store, "another draft", FL_STATE_DONE, FL_REVIEW_PENDING);  /* 6 */
	insert_one(store, "decided", FL_STATE_DONE, FL_REVIEW_REJECTED);       /* 7 */
	insert_one(store, "stopped", FL_STATE_CANCELLED, FL_REVIEW_NONE);      /* 8 */
	insert_one(store, "failed draft", FL_STATE_FAILED, FL_REVIEW_PENDING); /* 9 */
	/* a resumed draft that asks something: listed once */
	insert_one(store, "asks again", FL_STATE_BLOCKED, FL_REVIEW_PENDING); /* 10 */
	g_assert_cmpuint(fl_store_count_pending_review(store), ==, 4);

	/* when each was announced for the reason it is listed, not for another one */
	g_assert_true(fl_store_ledger_set(store, 1, FL_LEDGER_EVENT_DRAFT, 1000, &error));
	g_assert_true(fl_store_ledger_set(store, 3, FL_LEDGER_EVENT_BLOCKED, 3000, &error));
	g_assert_true(fl_store_ledger_set(store, 6, FL_LEDGER_EVENT_FAILED, 6000, &error));
	g_assert_true(fl_store_ledger_set(store, 9, FL_LEDGER_EVENT_FAILED, 9000, &error));
	g_assert_true(fl_store_ledger_set(store, 9, FL_LEDGER_EVENT_DRAFT, 9001, &error));
	g_assert_true(fl_store_ledger_set(store, 10, FL_LEDGER_EVENT_DRAFT, 10000, &error));
	g_assert_true(fl_store_ledger_set(store, 10, FL_LEDGER_EVENT_BLOCKED, 10001, &error));
	g_assert_no_error(error);
	attention = fl_store_get_attention(store, &announced, &error);
	g_assert_no_error(error);
	ids = array_ids(attention);
	g_assert_cmpstr(ids, ==, "1 3 4 5 6 9 10");
	g_assert_cmpuint(announced->len, ==, attention->len);
	for (guint i = 0; i < announced->len; i++) {
		const gint64 expected[] = {1000, 3000, 0, 0, 0, 9001, 10001};
		g_assert_cmpint(g_array_index(announced, gint64, i), ==, expected[i]);
	}
	g_clear_pointer(&ids, g_free);
	g_clear_pointer(&attention, g_ptr_array_unref);

	/* an announced failure drops out; a decided draft stops counting */
	g_assert_true(
		fl_store_ledger_set(store, 4, FL_LEDGER_EVENT_FAILED, g_get_real_time(), &error));
	g_assert_no_error(error);
	d = get_ok(store, 1);
	d->review = FL_REVIEW_APPROVED;
	g_assert_true(fl_store_update_session(store, d, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(fl_store_count_pending_review(store), ==, 3);
	attention = fl_store_get_attention(store, NULL, &error);
	g_assert_no_error(error);
	ids = array_ids(attention);
	g_assert_cmpstr(ids, ==, "3 5 6 9 10");

	g_clear_object(&store);
	rm_rf(tmp);
}

static void
test_store_events(void)
{
	g_autofree gchar *tmp = make_tmpdir();
	g_autoptr(FlStore) store = store_open(tmp);
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) events = NULL;
	g_autoptr(GVariant) none = NULL;
	const gchar *expected[][3] = {
		{"created", "cli", "flotilla run"},
		{"started", "daemon", ""},
		{"approved", "cli", "looks good ✓"},
	};

	g_assert_true(fl_store_add_event(store, 1, "created", "cli", "flotilla run", &error));
	g_assert_true(fl_store_add_event(store, 2, "created", "dbus", NULL, &error));
	g_assert_true(fl_store_add_event(store, 1, "started", "daemon", NULL, &error));
	g_assert_true(fl_store_add_event(store, 1, "approved", "cli", "looks good ✓", &error));
	g_assert_no_error(error);

	events = fl_store_get_events(store, 1, &error);
	g_assert_no_error(error);
	g_assert_true(g_variant_is_of_type(events, G_VARIANT_TYPE("a(ssss)")));
	g_assert_cmpuint(g_variant_n_children(events), ==, G_N_ELEMENTS(expected));
	for (guint i = 0; i < G_N_ELEMENTS(expected); i++) {
		const gchar *when, *kind, *source, *note;
		g_autoptr(GDateTime) dt = NULL;
		g_variant_get_child(events, i, "(&s&s&s&s)", &when, &kind, &source, &note);
		dt = g_date_time_new_from_iso8601(when, NULL);
		g_assert_nonnull(dt);
		g_assert_cmpstr(kind, ==, expected[i][0]);
		g_assert_cmpstr(source, ==, expected[i][1]);
		g_assert_cmpstr(note, ==, expected[i][2]);
	}
	none = fl_store_get_events(store, 3, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_variant_n_children(none), ==, 0);

	g_clear_object(&store);
	rm_rf(tmp);
}

/* a queued session's first audit row is written with it, in the same transaction */
static void
test_store_queued_event(void)
{
	g_autofree gchar *tmp = make_tmpdir();
	g_autoptr(FlStore) store = store_open(tmp);
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) events = NULL;
	g_autoptr(GPtrArray) datas =
		g_ptr_array_new_with_free_func((GDestroyNotify)fl_session_data_free);
	const gchar *when, *kind, *source, *note;
	guint id;

	g_ptr_array_add(datas, session_new("goal", FL_STATE_QUEUED, FL_REVIEW_NONE));
	g_assert_true(fl_store_insert_sessions(store, datas, "cli", NULL, &error));
	g_assert_no_error(error);
	id = ((FlSessionData *)g_ptr_array_index(datas, 0))->id;
	events = fl_store_get_events(store, id, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_variant_n_children(events), ==, 1);
	g_variant_get_child(events, 0, "(&s&s&s&s)", &when, &kind, &source, &note);
	g_assert_cmpstr(kind, ==, "queued");
	g_assert_cmpstr(source, ==, "cli");

	g_clear_object(&store);
	rm_rf(tmp);
}

/* the times the store reports: ISO 8601 in the local zone, as GLib formats them */
static void
test_store_times(void)
{
	/* St. John's: half-hour offset, daylight saving time, west of Greenwich */
	const gint64 seconds[] = {1, 1690000000, 1700000000, 2000000000};
	g_autofree gchar *zero = fl_time_iso8601(0);

	g_assert_null(zero);
	for (guint i = 0; i < G_N_ELEMENTS(seconds); i++) {
		g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local(seconds[i]);
		g_autofree gchar *expected = g_date_time_format(dt, "%Y-%m-%dT%H:%M:%S%:z");
		g_autofree gchar *got = fl_time_iso8601(seconds[i] * G_USEC_PER_SEC + 999999);
		g_assert_cmpstr(got, ==, expected);
	}
}

static void
test_store_ledger(void)
{
	g_autofree gchar *tmp = make_tmpdir();
	g_autoptr(FlStore) store = store_open(tmp);
	g_autoptr(FlStore) reopened = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_cmpint(fl_store_ledger_get(store, 1, FL_LEDGER_EVENT_DRAFT), ==, 0);
	g_assert_true(fl_store_ledger_set(store, 1, FL_LEDGER_EVENT_DRAFT, 1000, &error));
	g_assert_no_error(error);
	g_assert_cmpint(fl_store_ledger_get(store, 1, FL_LEDGER_EVENT_DRAFT), ==, 1000);
	/* the first announcement counts: a reminder must not reset it */
	g_assert_true(fl_store_ledger_set(store, 1, FL_LEDGER_EVENT_DRAFT, 2000, &error));
	g_assert_no_error(error);
	g_assert_cmpint(fl_store_ledger_get(store, 1, FL_LEDGER_EVENT_DRAFT), ==, 1000);
	g_assert_cmpint(fl_store_ledger_get(store, 1, FL_LEDGER_EVENT_FAILED), ==, 0);
	g_assert_cmpint(fl_store_ledger_get(store, 2, FL_LEDGER_EVENT_DRAFT), ==, 0);
	g_assert_true(fl_store_ledger_set(store, 2, FL_LEDGER_EVENT_DRAFT, 3000, &error));
	g_assert_no_error(error);
	g_assert_cmpint(fl_store_ledger_get(store, 2, FL_LEDGER_EVENT_DRAFT), ==, 3000);
	g_clear_object(&store);

	reopened = store_open(tmp);
	g_assert_cmpint(fl_store_ledger_get(reopened, 1, FL_LEDGER_EVENT_DRAFT), ==, 1000);
	g_assert_cmpint(fl_store_ledger_get(reopened, 2, FL_LEDGER_EVENT_DRAFT), ==, 3000);
	{
		/* on disk the event keeps the name older daemons wrote */
		g_autofree gchar *db = g_build_filename(tmp, "flotilla.db", NULL);
		g_autofree gchar *text =
			sql_text(db, "SELECT event FROM ledger WHERE session_id = 1");
		g_assert_cmpstr(text, ==, "draft");
	}
	g_clear_object(&reopened);
	rm_rf(tmp);
}

static void
test_store_reopen(void)
{
	g_autofree gchar *tmp = make_tmpdir();
	g_autofree gchar *db = g_build_filename(tmp, "flotilla.db", NULL);
	g_autofree gchar *version = NULL;
	g_autofree gchar *marker = NULL;
	g_autoptr(FlStore) store = store_open(tmp);
	g_autoptr(FlSessionData) d = NULL;
	g_autoptr(GError) error = NULL;

	insert_one(store, "one", FL_STATE_DONE, FL_REVIEW_PENDING);
	insert_one(store, "two", FL_STATE_RUNNING, FL_REVIEW_NONE);
	g_assert_true(fl_store_add_event(store, 1, "created", "cli", NULL, &error));
	g_assert_no_error(error);
	g_clear_object(&store);
	/* a row no migration would write: it must survive untouched */
	sql_exec(db, "INSERT INTO events (session_id, time, kind) VALUES (99, 1, 'marker')");

	store = store_open(tmp);
	d = get_ok(store, 1);
	g_assert_cmpstr(d->goal, ==, "one");
	g_assert_cmpint(d->review, ==, FL_REVIEW_PENDING);
	g_assert_cmpuint(fl_store_count_pending_review(store), ==, 1);
	g_assert_cmpuint(insert_one(store, "three", FL_STATE_QUEUED, FL_REVIEW_NONE), ==, 3);
	g_clear_object(&store);
	version = sql_text(db, "PRAGMA user_version");
	g_assert_cmpint(atoi(version), ==, FL_STORE_SCHEMA_VERSION);
	marker = sql_text(db, "SELECT kind FROM events WHERE session_id = 99");
	g_assert_cmpstr(marker, ==, "marker");
	rm_rf(tmp);
}

/* a store written by the first release (schema version 1) is migrated in place */
static void
test_store_migrate_v1(void)
{
	g_autofree gchar *tmp = make_tmpdir();
	g_autofree gchar *db = g_build_filename(tmp, "flotilla.db", NULL);
	g_autofree gchar *version = NULL;
	g_autofree gchar *indexes = NULL;
	g_autofree gchar *ids = NULL;
	g_autoptr(FlStore) store = NULL;
	g_autoptr(GPtrArray) attention = NULL;
	g_autoptr(FlSessionData) d = NULL;
	g_autoptr(GError) error = NULL;

	/* the schema as version 1 created it */
	sql_exec(db,
		 "CREATE TABLE sessions ("
		 "  id INTEGER PRIMARY KEY,"
		 "  name TEXT, goal TEXT NOT NULL, agent TEXT NOT NULL,"
		 "  repo TEXT, base TEXT, base_commit TEXT, branch TEXT, worktree TEXT,"
		 "  verify_command TEXT,"
		 "  state TEXT NOT NULL, review TEXT NOT NULL DEFAULT 'none',"
		 "  created INTEGER NOT NULL, started INTEGER, finished INTEGER,"
		 "  exit_code INTEGER, signal INTEGER, verify TEXT, diffstat TEXT,"
		 "  cost_usd REAL, turns INTEGER, waiting_for TEXT, final_message TEXT,"
		 "  reason TEXT, merge_commit TEXT, agent_session TEXT);"
		 "CREATE INDEX sessions_active ON sessions(state)"
		 "  WHERE state IN ('queued', 'running', 'blocked');"
		 "CREATE INDEX sessions_pending ON sessions(review) WHERE review = 'pending';"
		 "CREATE TABLE events ("
		 "  id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL, time INTEGER NOT NULL,"
		 "  kind TEXT NOT NULL, source TEXT, note TEXT);"
		 "CREATE INDEX events_session ON events(session_id);"
		 "CREATE TABLE ledger ("
		 "  session_id INTEGER NOT NULL, event TEXT NOT NULL, announced INTEGER NOT NULL,"
		 "  PRIMARY KEY (session_id, event));"
		 "INSERT INTO sessions (goal, agent, state, review, created) VALUES"
		 "  ('told', 'shell', 'failed', 'none', 1), ('draft', 'shell', 'done', 'pending', "
		 "2),"
		 "  ('untold', 'shell', 'interrupted', 'none', 3), ('ok', 'shell', 'done', 'none', "
		 "4);"
		 "INSERT INTO ledger VALUES (1, 'failed', 5);"
		 "PRAGMA user_version = 1;");

	store = store_open(tmp);
	version = sql_text(db, "PRAGMA user_version");
	g_assert_cmpint(atoi(version), ==, FL_STORE_SCHEMA_VERSION);
	indexes =
		sql_text(db, "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master "
			     "WHERE type = 'index' AND tbl_name = 'sessions' ORDER BY name)");
	g_assert_cmpstr(indexes, ==,
			"sessions_active sessions_failed sessions_group sessions_pending "
			"sessions_started");
	d = get_ok(store, 3);
	g_assert_cmpstr(d->goal, ==, "untold");
	g_assert_cmpint(d->state, ==, FL_STATE_INTERRUPTED);
	/* sessions from before groups belong to none, and no group exists */
	g_assert_null(d->group);
	g_assert_null(fl_store_get_group(store, "any", &error));
	g_assert_error(error, FL_ERROR, FL_ERROR_NOT_FOUND);
	g_clear_error(&error);
	/* columns of later versions read as what those rows meant: normal, the top, no budget */
	g_assert_cmpint(d->priority, ==, FL_PRIORITY_NORMAL);
	g_assert_null(d->subdir);
	g_assert_cmpfloat(d->budget_usd, ==, 0);
	/* sessions from before placements ran on this machine, without limits */
	g_assert_null(d->placement);
	g_assert_cmpuint(d->memory_mb, ==, 0);
	g_assert_cmpuint(d->time_minutes, ==, 0);
	attention = fl_store_get_attention(store, NULL, &error);
	g_assert_no_error(error);
	ids = array_ids(attention);
	g_assert_cmpstr(ids, ==, "2 3");

	g_clear_object(&store);
	rm_rf(tmp);
}

/* a restarted daemon opens the store while the old one may still hold it */
static void
test_store_second_instance(void)
{
	g_autofree gchar *tmp = make_tmpdir();
	g_autoptr(FlStore) first = store_open(tmp);
	g_autoptr(FlStore) second = NULL;
	g_autoptr(FlSessionData) seen = NULL;
	g_autoptr(FlSessionData) back = NULL;
	guint id = insert_one(first, "survives a restart", FL_STATE_RUNNING, FL_REVIEW_NONE);
	guint id2;

	second = store_open(tmp);
	seen = get_ok(second, id);
	g_assert_cmpstr(seen->goal, ==, "survives a restart");
	g_assert_cmpint(seen->state, ==, FL_STATE_RUNNING);
	/* and the other way round: both connections see each other's commits */
	id2 = insert_one(second, "from the new daemon", FL_STATE_QUEUED, FL_REVIEW_NONE);
	g_assert_cmpuint(id2, ==, id + 1);
	back = get_ok(first, id2);
	g_assert_cmpstr(back->goal, ==, "from the new daemon");

	g_clear_object(&first);
	g_clear_object(&second);
	rm_rf(tmp);
}

/* fl_store_new() must fail on @state_dir, leaving flotilla.db byte for byte as it was */
static void
assert_refused(const gchar *state_dir, const gchar *what)
{
	g_autofree gchar *db = g_build_filename(state_dir, "flotilla.db", NULL);
	g_autoptr(GBytes) before = read_bytes(db);
	g_autoptr(GBytes) after = NULL;
	g_autofree gchar *files_before = listing(state_dir);
	g_autofree gchar *files_after = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(FlStore) store = fl_store_new(state_dir, &error);

	g_assert_null(store);
	g_assert_error(error, FL_ERROR, FL_ERROR_FAILED);
	g_test_message("%s", error->message);
	g_assert_nonnull(strstr(error->message, db));
	g_assert_nonnull(strstr(error->message, what));
	g_assert_null(strchr(error->message, '\n'));
	after = read_bytes(db);
	g_assert_true(g_bytes_equal(before, after));
	files_after = listing(state_dir);
	g_assert_cmpstr(files_after, ==, files_before);
}

static void
test_store_newer_schema(void)
{
	g_autofree gchar *tmp = make_tmpdir();
	g_autofree gchar *db = g_build_filename(tmp, "flotilla.db", NULL);
	g_autoptr(FlStore) store = store_open(tmp);
	g_autofree gchar *version = NULL;

	insert_one(store, "written by us", FL_STATE_DONE, FL_REVIEW_NONE);
	g_clear_object(&store);
	/* what a future flotillad would leave behind */
	sql_exec(db, "PRAGMA user_version = 99");
	assert_refused(tmp, "newer");
	/* twice: a refusal must not have half-changed anything */
	assert_refused(tmp, "newer");
	version = sql_text(db, "PRAGMA user_version");
	g_assert_cmpstr(version, ==, "99");
	rm_rf(tmp);
}

static void
test_store_garbage(void)
{
	g_autofree gchar *tmp = make_tmpdir();
	g_autofree gchar *db = g_build_filename(tmp, "flotilla.db", NULL);
	g_autoptr(GString) garbage = g_string_new(NULL);
	g_autoptr(GError) error = NULL;

	for (guint i = 0; i < 200; i++)
		g_string_append_printf(garbage, "line %u of something that is not SQLite\n", i);
	g_file_set_contents(db, garbage->str, garbage->len, &error);
	g_assert_no_error(error);
	assert_refused(tmp, "not a flotilla database");
	rm_rf(tmp);
}

/* another program's SQLite file, unversioned: not ours to add tables to */
static void
test_store_foreign_sqlite(void)
{
	g_autofree gchar *tmp = make_tmpdir();
	g_autofree gchar *db = g_build_filename(tmp, "flotilla.db", NULL);

	sql_exec(db, "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT);"
		     "INSERT INTO notes (text) VALUES ('keep me')");
	assert_refused(tmp, "not a flotilla database");
	rm_rf(tmp);
}

/* an empty file holds nothing to lose: it becomes a fresh store */
static void
test_store_empty_file(void)
{
	g_autofree gchar *tmp = make_tmpdir();
	g_autofree gchar *db = g_build_filename(tmp, "flotilla.db", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlStore) store = NULL;

	g_file_set_contents(db, "", 0, &error);
	g_assert_no_error(error);
	store = store_open(tmp);
	g_assert_cmpuint(insert_one(store, "first", FL_STATE_QUEUED, FL_REVIEW_NONE), ==, 1);
	g_clear_object(&store);
	rm_rf(tmp);
}

static void
test_store_unwritable(void)
{
	g_autofree gchar *tmp = make_tmpdir();
	g_autofree gchar *file = g_build_filename(tmp, "a-file", NULL);
	g_autofree gchar *state_dir = g_build_filename(file, "flotilla", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlStore) store = NULL;

	g_file_set_contents(file, "not a directory\n", -1, &error);
	g_assert_no_error(error);
	store = fl_store_new(state_dir, &error);
	g_assert_null(store);
	g_assert_error(error, FL_ERROR, FL_ERROR_FAILED);
	g_test_message("%s", error->message);
	g_assert_nonnull(strstr(error->message, state_dir));
	g_assert_null(strchr(error->message, '\n'));
	rm_rf(tmp);
}

/* how the store scales: numbers only, reported with g_test_message() */
static void
test_store_scale(void)
{
	g_autofree gchar *tmp = make_tmpdir();
	g_autoptr(FlStore) store = store_open(tmp);
	g_autoptr(GError) error = NULL;
	g_autoptr(GTimer) timer = g_timer_new();
	g_autoptr(GVariant) view = NULL;
	g_autoptr(GPtrArray) active = NULL;
	g_autoptr(GPtrArray) attention = NULL;
	/* valgrind makes this 50× slower; the point there is leaks, not timing */
	guint total = g_getenv("FL_TEST_VALGRIND") != NULL ? 2000 : 100000;
	guint batch = 1000;
	guint expected = 0;
	gdouble elapsed;

	for (guint n = 0; n < total; n += batch) {
		g_autoptr(GPtrArray) datas =
			g_ptr_array_new_with_free_func((GDestroyNotify)fl_session_data_free);
		for (guint i = 0; i < batch; i++) {
			guint id = n + i + 1;
			FlState state = FL_STATE_DONE;
			FlReview review = FL_REVIEW_APPROVED;
			FlSessionData *d;
			/* a sprinkle of old sessions that stay in the default view */
			if (id % 997 == 0)
				state = FL_STATE_RUNNING;
			else if (id % 499 == 0)
				review = FL_REVIEW_PENDING;
			d = session_new("scale", state, review);
			d->repo = g_strdup("/srv/me/src/api");
			d->final_message = g_strdup("done; a line or two of what the agent said");
			g_ptr_array_add(datas, d);
			if (id <= total - 20 && (id % 997 == 0 || id % 499 == 0))
				expected++;
		}
		g_assert_true(fl_store_insert_sessions(store, datas, NULL, NULL, &error));
		g_assert_no_error(error);
	}
	elapsed = g_timer_elapsed(timer, NULL);
	g_test_message("inserted %u sessions in batches of %u: %.2f s (%.0f sessions/s)", total,
		       batch, elapsed, total / elapsed);

	g_timer_start(timer);
	view = fl_store_list_variants(store, FALSE, 0, 20, &error);
	elapsed = g_timer_elapsed(timer, NULL);
	g_assert_no_error(error);
	g_test_message("default view of %u sessions: %zu rows in %.1f ms", total,
		       g_variant_n_children(view), elapsed * 1000);
	g_assert_cmpuint(g_variant_n_children(view), ==, expected + 20);

	g_timer_start(timer);
	active = fl_store_get_active(store, &error);
	elapsed = g_timer_elapsed(timer, NULL);
	g_assert_no_error(error);
	g_test_message("active sessions: %u in %.1f ms; pending count %u", active->len,
		       elapsed * 1000, fl_store_count_pending_review(store));
	g_assert_cmpuint(active->len, ==, total / 997);

	/* what a digest reads: only the indexed drafts and blocked sessions, however many are
	 * stored */
	g_timer_start(timer);
	attention = fl_store_get_attention(store, NULL, &error);
	elapsed = g_timer_elapsed(timer, NULL);
	g_assert_no_error(error);
	g_test_message("attention: %u sessions in %.1f ms", attention->len, elapsed * 1000);
	g_assert_cmpuint(attention->len, ==, fl_store_count_pending_review(store));

	g_clear_object(&store);
	rm_rf(tmp);
}

/* a caller's bug (no store, an error already set) is a critical and a failed call, not a crash
 * or a lost error */
static void
test_store_guards(void)
{
	g_autofree gchar *tmp = make_tmpdir();
	g_autoptr(FlStore) store = store_open(tmp);
	g_autoptr(GError) error = g_error_new_literal(FL_ERROR, FL_ERROR_FAILED, "earlier");

	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*FL_IS_STORE*");
	g_assert_null(fl_store_get_session(NULL, 1, NULL));
	g_test_assert_expected_messages();
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*error == NULL*");
	g_assert_null(fl_store_get_session(store, 1, &error));
	g_test_assert_expected_messages();
	g_assert_cmpstr(error->message, ==, "earlier");
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*FL_IS_STORE*");
	g_assert_cmpint(fl_store_ledger_get(NULL, 1, FL_LEDGER_EVENT_DRAFT), ==, 0);
	g_test_assert_expected_messages();
	/* the crash-recovery entry points (flotillad --check, --rebuild) too */
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*error == NULL*");
	g_assert_false(fl_store_check_path(tmp, NULL, &error));
	g_test_assert_expected_messages();
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*target != NULL*");
	g_assert_false(fl_store_rebuild(tmp, NULL, NULL, NULL));
	g_test_assert_expected_messages();
	g_assert_cmpstr(error->message, ==, "earlier");
	g_clear_object(&store);
	rm_rf(tmp);
}

/* the fleet's signals carry the data as a boxed value: a copy owns every string it holds */
static void
test_session_data_boxed(void)
{
	FlSessionData *d = fl_session_data_new();
	FlSessionData *copy = NULL;
	GValue value = G_VALUE_INIT;

	d->id = 7;
	d->goal = g_strdup("fix the login");
	d->final_message = g_strdup("Fertig ✓");
	d->verify_commit = g_strdup("0123abcd");
	d->links_outside = g_strdup("etc -> /etc");
	d->placement = g_strdup("lab");
	d->placement_status = g_strdup("waiting for a slot");
	d->log_path = g_strdup("/scratch/7/output.log");
	d->state = FL_STATE_DONE;
	d->review = FL_REVIEW_REVERTED;
	d->cost_usd = 0.5;
	g_value_init(&value, FL_TYPE_SESSION_DATA);
	g_value_set_boxed(&value, d);
	fl_session_data_free(d);
	copy = g_value_dup_boxed(&value);
	g_value_unset(&value);
	g_assert_cmpuint(copy->id, ==, 7);
	g_assert_cmpstr(copy->goal, ==, "fix the login");
	g_assert_cmpstr(copy->final_message, ==, "Fertig ✓");
	/* every string is the copy's own: the original and the GValue's copy are gone */
	g_assert_cmpstr(copy->verify_commit, ==, "0123abcd");
	g_assert_cmpstr(copy->links_outside, ==, "etc -> /etc");
	g_assert_cmpstr(copy->placement, ==, "lab");
	g_assert_cmpstr(copy->placement_status, ==, "waiting for a slot");
	g_assert_cmpstr(copy->log_path, ==, "/scratch/7/output.log");
	g_assert_null(copy->reason);
	g_assert_cmpint(copy->state, ==, FL_STATE_DONE);
	g_assert_cmpint(copy->review, ==, FL_REVIEW_REVERTED);
	g_assert_cmpfloat(copy->cost_usd, ==, 0.5);
	g_boxed_free(FL_TYPE_SESSION_DATA, copy);
}

/* German from the catalogue the build made, through LANGUAGE (honoured with C.UTF-8) */
static void
use_german(gboolean german)
{
	if (german)
		g_setenv("LANGUAGE", "de", TRUE);
	else
		g_unsetenv("LANGUAGE");
	/* tells gettext its cached answers are stale, as the gettext manual says to */
	{
		extern int _nl_msg_cat_cntr;
		++_nl_msg_cat_cntr;
	}
}

/* the "reason" a session's a{sv} carries, as a D-Bus caller reads it */
static gchar *
listed_reason(FlStore *store, guint id)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) list = fl_store_list_variants(store, TRUE, 0, 0, &error);
	GVariantIter iter;
	GVariant *child;

	g_assert_no_error(error);
	g_variant_iter_init(&iter, list);
	while ((child = g_variant_iter_next_value(&iter)) != NULL) {
		g_autoptr(GVariant) session = child;
		guint got = 0;
		const gchar *reason = NULL;

		if (g_variant_lookup(session, "id", "u", &got) && got == id)
			return g_variant_lookup(session, "reason", "&s", &reason) ? g_strdup(reason)
										  : NULL;
	}
	g_assert_not_reached();
}

/*
 * A reason is kept as a message and read in the reader's language: stored as it was made,
 * listed in English or German. A reason an older daemon stored as plain text, and a note
 * in the history, read exactly as written; so does a user's text inside a reason.
 */
static void
test_store_reason(void)
{
	g_autofree gchar *tmp = make_tmpdir();
	g_autoptr(FlStore) store = store_open(tmp);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlSessionData) d = NULL;
	g_autoptr(FlSessionData) again = NULL;
	g_autoptr(FlSessionData) old = NULL;
	g_autoptr(GVariant) events = NULL;
	g_autofree gchar *stored = fl_msg_stored(N_("exited with status %d"), 3);
	g_autofree gchar *note = fl_msg_stored(N_("rejected: %s"), "exited with status 9");
	guint id = insert_one(store, "fails", FL_STATE_RUNNING, FL_REVIEW_NONE);
	guint old_id = insert_one(store, "failed long ago", FL_STATE_RUNNING, FL_REVIEW_NONE);
	const gchar *expected_notes[][2] = {
		{"abgelehnt: exited with status 9", "rejected: exited with status 9"},
		{"exited with status 1", "exited with status 1"},
	};

	d = get_ok(store, id);
	d->state = FL_STATE_FAILED;
	d->reason = g_strdup(stored);
	g_assert_true(fl_store_update_session(store, d, &error));
	g_assert_no_error(error);
	again = get_ok(store, id);
	g_assert_cmpstr(again->reason, ==, stored);

	/* what an older daemon wrote: the English text itself */
	old = get_ok(store, old_id);
	old->state = FL_STATE_FAILED;
	old->reason = g_strdup("exited with status 1");
	g_assert_true(fl_store_update_session(store, old, &error));
	g_assert_no_error(error);

	g_assert_true(fl_store_add_event(store, id, "rejected", "cli", note, &error));
	g_assert_true(
		fl_store_add_event(store, id, "failed", "daemon", "exited with status 1", &error));
	g_assert_no_error(error);

	for (guint german = 0; german < 2; german++) {
		g_autofree gchar *reason = NULL;
		g_autofree gchar *old_reason = NULL;

		use_german(german);
		reason = listed_reason(store, id);
		old_reason = listed_reason(store, old_id);
		g_clear_pointer(&events, g_variant_unref);
		events = fl_store_get_events(store, id, &error);
		use_german(FALSE);
		g_assert_no_error(error);
		g_assert_cmpstr(reason, ==,
				german ? "mit Status 3 beendet" : "exited with status 3");
		g_assert_cmpstr(old_reason, ==, "exited with status 1");
		g_assert_cmpuint(g_variant_n_children(events), ==, 2);
		for (guint i = 0; i < 2; i++) {
			const gchar *text;

			g_variant_get_child(events, i, "(&s&s&s&s)", NULL, NULL, NULL, &text);
			g_assert_cmpstr(text, ==, expected_notes[i][german ? 0 : 1]);
		}
	}

	g_clear_object(&store);
	rm_rf(tmp);
}

int
main(int argc, char **argv)
{
	setlocale(LC_ALL, "");
	/* a zone where the offset is not whole hours and changes over the year */
	g_setenv("TZ", "America/St_Johns", TRUE);
	g_test_init(&argc, &argv, NULL);
	g_unsetenv("LANGUAGE");
	{
		/* the catalogue the build made of po/de.po */
		g_autofree gchar *localedir = g_test_build_filename(G_TEST_BUILT, "..", "po", NULL);

		bindtextdomain(GETTEXT_PACKAGE, localedir);
		bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
	}
	g_test_add_func("/store/create", test_store_create);
	g_test_add_func("/store/session-data-boxed", test_session_data_boxed);
	g_test_add_func("/store/guards", test_store_guards);
	g_test_add_func("/store/create-existing-dir", test_store_create_existing_dir);
	g_test_add_func("/store/insert-get", test_store_insert_get);
	g_test_add_func("/store/insert-atomic", test_store_insert_atomic);
	g_test_add_func("/store/update", test_store_update);
	g_test_add_func("/store/active", test_store_active);
	g_test_add_func("/store/list", test_store_list);
	g_test_add_func("/store/pending-attention", test_store_pending_attention);
	g_test_add_func("/store/events", test_store_events);
	g_test_add_func("/store/reason", test_store_reason);
	g_test_add_func("/store/queued-event", test_store_queued_event);
	g_test_add_func("/store/times", test_store_times);
	g_test_add_func("/store/ledger", test_store_ledger);
	g_test_add_func("/store/reopen", test_store_reopen);
	g_test_add_func("/store/migrate-v1", test_store_migrate_v1);
	g_test_add_func("/store/second-instance", test_store_second_instance);
	g_test_add_func("/store/newer-schema", test_store_newer_schema);
	g_test_add_func("/store/garbage", test_store_garbage);
	g_test_add_func("/store/foreign-sqlite", test_store_foreign_sqlite);
	g_test_add_func("/store/empty-file", test_store_empty_file);
	g_test_add_func("/store/unwritable", test_store_unwritable);
	g_test_add_func("/store/scale", test_store_scale);
	return g_test_run();
}
