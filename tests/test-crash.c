/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Crash consistency: the daemon is killed (SIGKILL, at named points inside each multi-step
 * operation via FL_TEST_CRASH_AT, and at random moments) while it records a draft, approves,
 * rejects or reverts; after a restart every invariant holds: a draft is there or a human
 * rejected it, an approval is merged exactly once and recorded so, a retried request gets
 * the first answer, nothing is doubled, the store is intact. Plus the deterministic repros
 * of what went wrong before: a stale index.lock, an empty or damaged store, concurrent
 * approvals in one repository.
 */
#include "config.h"

#include <glib-unix.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fl-test-harness.h"

#define WAIT_MS 30000
#define FL_BUS  "io.github.flotilla.Flotilla1"
#define FL_PATH "/io/github/flotilla/Flotilla1"

static gchar *
make_repo(FlTestEnv *env, const gchar *name)
{
	gchar *repo = g_build_filename(env->root, name, NULL);

	g_assert_cmpint(g_mkdir_with_parents(repo, 0700), ==, 0);
	g_free(fl_test_sh(repo, "git init -q -b main . && git config user.name 'Test User' && "
				"git config user.email test@example.com && "
				"echo base > notes.txt && git add notes.txt && "
				"git commit -q -m initial"));
	return repo;
}

static const gchar *
show_str(FlTestEnv *env, guint id, const gchar *key, JsonObject **keep)
{
	g_clear_pointer(keep, json_object_unref);
	*keep = fl_test_show(env, id);
	if (!json_object_has_member(*keep, key) || json_object_get_null_member(*keep, key))
		return NULL;
	return json_object_get_string_member(*keep, key);
}

static guint
run_done(FlTestEnv *env, const gchar *repo, const gchar *goal)
{
	guint id = fl_test_run_session(env, repo, "--", goal, NULL);
	g_autofree gchar *state = fl_test_wait_ended(env, id, WAIT_MS);

	g_assert_cmpstr(state, ==, "done");
	return id;
}

/* a decision straight on the bus, with a request token; NULL + error when the daemon died */
static gchar *
decide(FlTestEnv *env, const gchar *method, guint id, const gchar *token, GError **error)
{
	GVariantBuilder options;
	g_autoptr(GVariant) reply = NULL;
	gchar *message = NULL;

	g_variant_builder_init(&options, G_VARIANT_TYPE("a{sv}"));
	if (token != NULL)
		g_variant_builder_add(&options, "{sv}", "token", g_variant_new_string(token));
	reply = g_dbus_connection_call_sync(
		env->conn, FL_BUS, FL_PATH, FL_BUS, method, g_variant_new("(ua{sv})", id, &options),
		G_VARIANT_TYPE("(s)"), G_DBUS_CALL_FLAGS_NO_AUTO_START, WAIT_MS, NULL, error);
	if (reply == NULL)
		return NULL;
	g_variant_get(reply, "(s)", &message);
	return message;
}

/* starts the daemon with a crash point armed; the CLI and later daemons do not inherit it */
static void
start_armed(FlTestEnv *env, const gchar *crash_at)
{
	env->envp = g_environ_setenv(env->envp, "FL_TEST_CRASH_AT", crash_at, TRUE);
	fl_test_env_start_daemon(env, NULL);
	env->envp = g_environ_unsetenv(env->envp, "FL_TEST_CRASH_AT");
}

/* the armed daemon died as it should: reaped, and a fresh one takes over */
static void
restart_after_crash(FlTestEnv *env)
{
	gint status = fl_test_env_stop_daemon(env, SIGKILL);

	g_assert_true(WIFSIGNALED(status));
	g_assert_cmpint(WTERMSIG(status), ==, SIGKILL);
	fl_test_env_start_daemon(env, NULL);
}

static gint
sql_int(const gchar *db_path, const gchar *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	gint value = -1;

	g_assert_cmpint(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	g_assert_cmpint(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		value = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return value;
}

static void
assert_store_ok(FlTestEnv *env)
{
	g_autofree gchar *db_path = g_build_filename(env->state_dir, "flotilla.db", NULL);
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;

	g_assert_cmpint(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	g_assert_cmpint(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, NULL), ==,
			SQLITE_OK);
	g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_ROW);
	g_assert_cmpstr((const gchar *)sqlite3_column_text(stmt, 0), ==, "ok");
	sqlite3_finalize(stmt);
	sqlite3_close(db);
}

/* merges on main that brought in session @id's draft */
static guint
count_merges(const gchar *repo, guint id)
{
	g_autofree gchar *args =
		g_strdup_printf("log --merges --format=%%s main | grep -c '^Merge flotilla session "
				"%u:' || true",
				id);
	g_autofree gchar *out = fl_test_git(repo, args);

	return (guint)g_ascii_strtoull(out, NULL, 10);
}

static gboolean
branch_exists(const gchar *repo, guint id)
{
	g_autofree gchar *args =
		g_strdup_printf("rev-parse --verify -q refs/heads/flotilla/%u >/dev/null && echo "
				"yes || echo no",
				id);
	g_autofree gchar *out = fl_test_git(repo, args);

	return g_strcmp0(out, "yes") == 0;
}

/* every intent of a decision is finished or rolled back once a daemon has started */
static void
assert_no_intent(FlTestEnv *env, guint id)
{
	g_autofree gchar *db_path = g_build_filename(env->state_dir, "flotilla.db", NULL);
	g_autofree gchar *sql =
		g_strdup_printf("SELECT COUNT(*) FROM intents WHERE session_id = %u", id);

	g_assert_cmpint(sql_int(db_path, sql), ==, 0);
}

/* after any crash and a retry with the same token: merged once, recorded, draft gone */
static void
assert_approved_once(FlTestEnv *env, const gchar *repo, guint id)
{
	g_autoptr(JsonObject) obj = NULL;
	g_autofree gchar *parent = NULL;
	const gchar *merge;

	g_assert_cmpstr(show_str(env, id, "review", &obj), ==, "approved");
	merge = show_str(env, id, "merge_commit", &obj);
	g_assert_nonnull(merge);
	g_assert_cmpuint(count_merges(repo, id), ==, 1);
	parent = g_strdup_printf("merge-base --is-ancestor %s main && echo yes", merge);
	g_free(fl_test_git(repo, parent));
	g_assert_false(branch_exists(repo, id));
	assert_no_intent(env, id);
	assert_store_ok(env);
}

static void
test_approve_crash_points(void)
{
	const gchar *steps[] = {"approve:intent",   "approve:committed", "approve:merged",
				"approve:recorded", "approve:removed",   NULL};
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");

	for (guint i = 0; steps[i] != NULL; i++) {
		g_autofree gchar *crash_at = g_strdup_printf("%s:1", steps[i]);
		g_autofree gchar *goal = g_strdup_printf("echo %u > file%u.txt", i, i);
		g_autofree gchar *token = g_uuid_string_random();
		g_autofree gchar *answer = NULL;
		g_autofree gchar *again = NULL;
		g_autoptr(GError) error = NULL;
		guint id;

		g_test_message("crash at %s", steps[i]);
		start_armed(env, crash_at);
		id = run_done(env, repo, goal);
		g_assert_null(decide(env, "Approve", id, token, &error));
		g_assert_nonnull(error);
		g_clear_error(&error);
		restart_after_crash(env);
		/* the caller lost the answer and asks again with the same token */
		answer = decide(env, "Approve", id, token, &error);
		g_assert_no_error(error);
		g_assert_nonnull(strstr(answer, "approved"));
		assert_approved_once(env, repo, id);
		/* once more, without the token: a no-op that says so */
		again = decide(env, "Approve", id, NULL, &error);
		g_assert_no_error(error);
		g_assert_nonnull(strstr(again, "already approved"));
		g_assert_cmpuint(count_merges(repo, id), ==, 1);
		fl_test_env_stop_daemon(env, SIGTERM);
	}
	g_assert_cmpstr(fl_test_git(repo, "status --porcelain"), ==, "");
}

/*
 * `flotilla refresh` killed at each of its steps: after a restart the draft branch is at its
 * old tip or replayed once onto the base's tip, never in between, and its verify result is
 * true to that tip and says which base it ran against; the same request again gets the first
 * answer, and nothing is replayed twice
 */
static void
test_refresh_crash_points(void)
{
	const gchar *steps[] = {"refresh:intent",      "refresh:moved",    "refresh:recorded",
				"refresh:checked-out", "refresh:verified", NULL};
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");

	for (guint i = 0; steps[i] != NULL; i++) {
		g_autofree gchar *crash_at = g_strdup_printf("%s:1", steps[i]);
		g_autofree gchar *goal = g_strdup_printf("echo %u > file%u.txt", i, i);
		g_autofree gchar *verify = g_strdup_printf("test -f landed%u.txt", i);
		g_autofree gchar *land =
			g_strdup_printf("echo %u > landed%u.txt && git add landed%u.txt && git "
					"commit -q -m landed%u",
					i, i, i, i);
		g_autofree gchar *token = g_uuid_string_random();
		g_autofree gchar *answer = NULL;
		g_autofree gchar *again = NULL;
		g_autofree gchar *tip = NULL;
		g_autofree gchar *ref = NULL;
		g_autofree gchar *old_base = NULL;
		g_autofree gchar *draft_tip = NULL;
		g_autofree gchar *count = NULL;
		g_autofree gchar *args = NULL;
		g_autofree gchar *landed = NULL;
		g_autoptr(JsonObject) obj = NULL;
		g_autoptr(GError) error = NULL;
		guint id;

		g_test_message("crash at %s", steps[i]);
		start_armed(env, crash_at);
		id = fl_test_run_session(env, repo, "--verify", verify, "--", goal, NULL);
		g_free(fl_test_wait_ended(env, id, WAIT_MS));
		g_assert_cmpstr(show_str(env, id, "verify", &obj), ==, "fail");
		old_base = g_strdup(show_str(env, id, "base_commit", &obj));
		/* another landing on main: the draft is stale, its verify passes only on the tip */
		g_free(fl_test_sh(repo, land));
		tip = fl_test_git(repo, "rev-parse main");
		g_assert_null(decide(env, "Refresh", id, token, &error));
		g_assert_nonnull(error);
		g_clear_error(&error);
		restart_after_crash(env);
		/* decisions in a repository queue: this one runs once the recovery is done */
		answer = decide(env, "Refresh", id, token, &error);
		g_assert_no_error(error);
		g_assert_nonnull(strstr(answer, "refreshed onto main"));
		g_assert_nonnull(strstr(answer, "verify passed"));
		again = decide(env, "Refresh", id, NULL, &error);
		g_assert_no_error(error);
		g_assert_nonnull(strstr(again, "nothing changed"));
		/* replayed once, onto the tip, recorded and verified there */
		ref = g_strdup_printf("flotilla/%u", id);
		args = g_strdup_printf("rev-list --count main..%s", ref);
		count = fl_test_git(repo, args);
		g_assert_cmpstr(count, ==, "1");
		g_free(args);
		args = g_strdup_printf("merge-base --is-ancestor main %s && echo yes", ref);
		g_free(fl_test_git(repo, args));
		g_assert_cmpstr(show_str(env, id, "review", &obj), ==, "pending");
		g_assert_cmpstr(show_str(env, id, "base_commit", &obj), ==, tip);
		g_assert_cmpstr(show_str(env, id, "refreshed_from", &obj), ==, old_base);
		g_assert_cmpstr(show_str(env, id, "verify", &obj), ==, "pass");
		g_assert_cmpstr(show_str(env, id, "verify_base", &obj), ==, tip);
		g_free(args);
		args = g_strdup_printf("rev-parse %s", ref);
		draft_tip = fl_test_git(repo, args);
		g_assert_cmpstr(show_str(env, id, "verify_commit", &obj), ==, draft_tip);
		landed = g_strdup_printf("%s/landed%u.txt", show_str(env, id, "worktree", &obj), i);
		g_assert_true(g_file_test(landed, G_FILE_TEST_EXISTS));
		assert_no_intent(env, id);
		assert_store_ok(env);
		fl_test_env_stop_daemon(env, SIGTERM);
	}
	g_assert_cmpstr(fl_test_git(repo, "status --porcelain"), ==, "");
}

static void
test_reject_crash_points(void)
{
	const gchar *steps[] = {"reject:intent", "reject:removed", NULL};
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");

	for (guint i = 0; steps[i] != NULL; i++) {
		g_autofree gchar *crash_at = g_strdup_printf("%s:1", steps[i]);
		g_autofree gchar *token = g_uuid_string_random();
		g_autofree gchar *answer = NULL;
		g_autoptr(GError) error = NULL;
		g_autoptr(JsonObject) obj = NULL;
		guint id;

		start_armed(env, crash_at);
		id = run_done(env, repo, "echo no > no.txt");
		g_assert_null(decide(env, "Reject", id, token, &error));
		g_clear_error(&error);
		restart_after_crash(env);
		answer = decide(env, "Reject", id, token, &error);
		g_assert_no_error(error);
		g_assert_nonnull(strstr(answer, "rejected"));
		g_assert_cmpstr(show_str(env, id, "review", &obj), ==, "rejected");
		g_assert_false(branch_exists(repo, id));
		g_assert_false(
			g_file_test(show_str(env, id, "worktree", &obj), G_FILE_TEST_EXISTS));
		g_assert_cmpuint(count_merges(repo, id), ==, 0);
		assert_no_intent(env, id);
		assert_store_ok(env);
		fl_test_env_stop_daemon(env, SIGTERM);
	}
}

static void
test_revert_crash_points(void)
{
	const gchar *steps[] = {"revert:intent", "revert:committed", "revert:reverted", NULL};
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");

	for (guint i = 0; steps[i] != NULL; i++) {
		g_autofree gchar *crash_at = g_strdup_printf("%s:1", steps[i]);
		g_autofree gchar *goal = g_strdup_printf("echo %u > rev%u.txt", i, i);
		g_autofree gchar *token = g_uuid_string_random();
		g_autofree gchar *answer = NULL;
		g_autofree gchar *count = NULL;
		g_autofree gchar *merged = NULL;
		g_autoptr(GError) error = NULL;
		g_autoptr(JsonObject) obj = NULL;
		guint id;

		start_armed(env, crash_at);
		id = run_done(env, repo, goal);
		merged = decide(env, "Approve", id, NULL, &error);
		g_assert_no_error(error);
		g_assert_null(decide(env, "Revert", id, token, &error));
		g_clear_error(&error);
		restart_after_crash(env);
		answer = decide(env, "Revert", id, token, &error);
		g_assert_no_error(error);
		g_assert_nonnull(strstr(answer, "reverted"));
		g_assert_cmpstr(show_str(env, id, "review", &obj), ==, "reverted");
		count = g_strdup_printf("log --format=%%s main | grep -c '^Revert flotilla session "
					"%u$' || true",
					id);
		g_assert_cmpstr(fl_test_git(repo, count), ==, "1");
		assert_no_intent(env, id);
		assert_store_ok(env);
		fl_test_env_stop_daemon(env, SIGTERM);
	}
}

/* recording the draft, cut short anywhere: the next daemon records it, nothing is lost */
static void
test_finalize_crash_points(void)
{
	const gchar *steps[] = {"finalize:added", "finalize:committed", "finalize:patched", NULL};
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");

	for (guint i = 0; steps[i] != NULL; i++) {
		g_autofree gchar *crash_at = g_strdup_printf("%s:1", steps[i]);
		g_autofree gchar *goal = g_strdup_printf("echo %u > draft%u.txt", i, i);
		g_autofree gchar *state = NULL;
		g_autofree gchar *show = NULL;
		g_autofree gchar *patch = NULL;
		g_autofree gchar *idstr = NULL;
		g_autoptr(JsonObject) obj = NULL;
		guint id;

		start_armed(env, crash_at);
		id = fl_test_run_session(env, repo, "--", goal, NULL);
		/* it dies recording the draft */
		g_assert_true(WIFSIGNALED(fl_test_env_stop_daemon(env, 0)));
		fl_test_env_start_daemon(env, NULL);
		state = fl_test_wait_ended(env, id, WAIT_MS);
		g_assert_cmpstr(state, ==, "done");
		g_assert_cmpstr(show_str(env, id, "review", &obj), ==, "pending");
		g_assert_true(branch_exists(repo, id));
		show = g_strdup_printf("show flotilla/%u:draft%u.txt", id, i);
		g_free(fl_test_git(repo, show));
		idstr = g_strdup_printf("%u", id);
		patch = fl_test_cli_ok(env, NULL, "diff", idstr, NULL);
		g_assert_nonnull(strstr(patch, "+++ b/draft"));
		fl_test_env_stop_daemon(env, SIGTERM);
	}
}

typedef struct {
	FlTestEnv *env;
	guint id;
	const gchar *reason;
	guint seen;
	gboolean first;
} ReasonWait;

static gboolean
reason_cond(gpointer user_data)
{
	ReasonWait *w = user_data;
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GVariant) props = NULL;
	const gchar *reason = NULL;

	/* ask again only after a SessionChanged */
	if (w->first && w->seen == w->env->changes)
		return FALSE;
	w->first = TRUE;
	w->seen = w->env->changes;
	reply = g_dbus_connection_call_sync(w->env->conn, FL_BUS, FL_PATH, FL_BUS, "GetSession",
					    g_variant_new("(u)", w->id), G_VARIANT_TYPE("(a{sv})"),
					    G_DBUS_CALL_FLAGS_NO_AUTO_START, 5000, NULL, NULL);
	if (reply == NULL)
		return FALSE;
	props = g_variant_get_child_value(reply, 0);
	return g_variant_lookup(props, "reason", "&s", &reason) &&
	       strstr(reason, w->reason) != NULL;
}

static gboolean
fl_test_wait_for_reason(FlTestEnv *env, guint id, const gchar *reason, guint timeout_ms)
{
	ReasonWait w = {env, id, reason, 0, FALSE};

	return fl_test_wait_for(reason_cond, &w, timeout_ms);
}

typedef struct {
	guint pending;
	guint ok;
	GPtrArray *errors;
} Concurrent;

static void
concurrent_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	Concurrent *c = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply =
		g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);

	c->pending--;
	if (reply != NULL)
		c->ok++;
	else
		g_ptr_array_add(c->errors, g_strdup(error->message));
}

static gboolean
concurrent_done(gpointer user_data)
{
	Concurrent *c = user_data;

	return c->pending == 0;
}

/* twenty approvals at once in one repository: queued, all merged, each exactly once */
static void
test_concurrent_approvals(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new("[fleet]\nmax-parallel=4\nmax-unreviewed=0\n");
	g_autofree gchar *repo = make_repo(env, "api");
	g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
	Concurrent c = {0, 0, errors};
	guint ids[20];

	fl_test_env_start_daemon(env, NULL);
	for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
		g_autofree gchar *goal = g_strdup_printf("echo %u > c%u.txt", i, i);
		ids[i] = fl_test_run_session(env, repo, "--", goal, NULL);
	}
	for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
		g_autofree gchar *state = fl_test_wait_ended(env, ids[i], WAIT_MS);
		g_assert_cmpstr(state, ==, "done");
	}
	for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
		GVariantBuilder options;

		g_variant_builder_init(&options, G_VARIANT_TYPE("a{sv}"));
		c.pending++;
		g_dbus_connection_call(env->conn, FL_BUS, FL_PATH, FL_BUS, "Approve",
				       g_variant_new("(ua{sv})", ids[i], &options),
				       G_VARIANT_TYPE("(s)"), G_DBUS_CALL_FLAGS_NO_AUTO_START,
				       120000, NULL, concurrent_cb, &c);
	}
	g_assert_true(fl_test_wait_for(concurrent_done, &c, 120000));
	for (guint i = 0; i < errors->len; i++)
		g_test_message("refused: %s", (const gchar *)g_ptr_array_index(errors, i));
	g_assert_cmpuint(errors->len, ==, 0);
	g_assert_cmpuint(c.ok, ==, G_N_ELEMENTS(ids));
	for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
		g_autofree gchar *path = g_strdup_printf("c%u.txt", i);
		g_autofree gchar *file = g_build_filename(repo, path, NULL);

		g_assert_cmpuint(count_merges(repo, ids[i]), ==, 1);
		g_assert_true(g_file_test(file, G_FILE_TEST_EXISTS));
	}
	g_assert_cmpstr(fl_test_git(repo, "status --porcelain"), ==, "");
	assert_store_ok(env);
}

/* an index.lock a dead git left in a draft's worktree does not cost the draft */
static void
test_stale_index_lock(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autoptr(JsonObject) obj = NULL;
	guint id;

	fl_test_env_start_daemon(env, NULL);
	id = run_done(env, repo,
		      "echo work > work.txt && touch \"$(git rev-parse --git-dir)/index.lock\"");
	g_assert_cmpstr(show_str(env, id, "review", &obj), ==, "pending");
	g_assert_true(branch_exists(repo, id));
	g_free(fl_test_git(repo, "show flotilla/1:work.txt"));
}

/* a lock a live process may hold is left alone: the draft waits, then is recorded */
static void
test_live_lock_waits(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *go = g_build_filename(env->root, "go", NULL);
	g_autofree gchar *holder_cmd = NULL;
	g_autofree gchar *goal = NULL;
	g_autofree gchar *lock = NULL;
	g_autofree gchar *state = NULL;
	g_autoptr(JsonObject) obj = NULL;
	g_autoptr(GSubprocess) holder = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *worktree = NULL;
	guint id;

	fl_test_env_start_daemon(env, NULL);
	/* the agent ends once a process that works in its worktree holds the lock */
	goal = g_strdup_printf("echo work > work.txt; while [ ! -e '%s' ]; do sleep 0.1; done", go);
	id = fl_test_run_session(env, repo, "--", goal, NULL);
	g_assert_true(fl_test_wait_state(env, id, "running", WAIT_MS));
	worktree = g_strdup(show_str(env, id, "worktree", &obj));
	lock = g_strdup_printf("%s/.git/worktrees/%u/index.lock", repo, id);
	/* it starts once the agent has begun working there */
	holder_cmd = g_strdup_printf("until [ -e '%s/work.txt' ]; do sleep 0.05; done; cd '%s' && "
				     "touch '%s' && touch '%s' && exec sleep 3",
				     worktree, worktree, lock, go);
	{
		const gchar *argv[] = {"sh", "-c", holder_cmd, NULL};
		holder = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_NONE, &error);
		g_assert_no_error(error);
	}
	/* while the holder lives, the draft is kept and the session says why it waits */
	g_assert_true(fl_test_wait_for_reason(env, id, "cannot record the draft yet", WAIT_MS));
	g_assert_true(g_file_test(worktree, G_FILE_TEST_IS_DIR));
	g_assert_true(branch_exists(repo, id));
	g_assert_true(g_file_test(lock, G_FILE_TEST_EXISTS));
	g_subprocess_wait(holder, NULL, NULL);
	/* the holder is gone: its lock is stale now, and the next try records the draft */
	state = fl_test_wait_ended(env, id, WAIT_MS);
	g_assert_cmpstr(state, ==, "done");
	g_assert_cmpstr(show_str(env, id, "review", &obj), ==, "pending");
	g_assert_null(show_str(env, id, "reason", &obj));
}

static void
write_bytes(const gchar *path, const gchar *contents, gsize len)
{
	g_autoptr(GError) error = NULL;

	g_file_set_contents(path, contents, (gssize)len, &error);
	g_assert_no_error(error);
}

static gint
run_daemon_sync(FlTestEnv *env, gchar **err)
{
	/* bounded: a daemon that wrongly accepted the store would otherwise run on */
	const gchar *argv[] = {"timeout", "60", g_getenv("FLOTILLAD"), NULL};
	gint status = 0;
	g_autoptr(GError) error = NULL;

	g_spawn_sync(env->root, (gchar **)argv, env->envp,
		     G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, err,
		     &status, &error);
	g_assert_no_error(error);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* an empty store next to earlier sessions is refused and kept; ids never restart at 1 */
static void
test_empty_store(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *db = g_build_filename(env->state_dir, "flotilla.db", NULL);
	g_autofree gchar *old = g_build_filename(env->state_dir, "sessions", "7", NULL);
	g_autofree gchar *err = NULL;
	g_autofree gchar *contents = NULL;
	gsize len = 0;
	guint id;

	g_assert_cmpint(g_mkdir_with_parents(old, 0700), ==, 0);
	write_bytes(db, "", 0);
	g_assert_cmpint(run_daemon_sync(env, &err), ==, 1);
	g_assert_nonnull(strstr(err, db));
	g_assert_nonnull(strstr(err, "empty"));
	g_assert_null(strchr(strchr(err, '\n') + 1, '\n'));
	g_assert_true(g_file_get_contents(db, &contents, &len, NULL));
	g_assert_cmpuint(len, ==, 0);

	/* moved aside as the message says: a new store, its ids after the old sessions' */
	g_assert_cmpint(g_unlink(db), ==, 0);
	fl_test_env_start_daemon(env, NULL);
	id = fl_test_run_session(env, NULL, "--", "true", NULL);
	g_assert_cmpuint(id, ==, 8);
	g_free(fl_test_wait_ended(env, id, WAIT_MS));
}

/* a store damaged in the middle is refused, named, and left as it is */
static void
test_damaged_store(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *db = g_build_filename(env->state_dir, "flotilla.db", NULL);
	g_autofree gchar *before = NULL;
	g_autofree gchar *after = NULL;
	g_autofree gchar *err = NULL;
	gsize len = 0;
	gsize len_after = 0;

	fl_test_env_start_daemon(env, NULL);
	for (guint i = 0; i < 5; i++) {
		guint id = fl_test_run_session(env, NULL, "--", "true", NULL);
		g_free(fl_test_wait_ended(env, id, WAIT_MS));
	}
	fl_test_env_stop_daemon(env, SIGTERM);
	g_assert_true(g_file_get_contents(db, &before, &len, NULL));
	g_assert_cmpuint(len, >=, 3 * 4096);
	/* the second page, the root of the sessions table: its header garbled, as a bad
	 * sector or a copy cut short would leave it */
	memset(before + 4096, 0x5a, 200);
	write_bytes(db, before, len);
	g_assert_cmpint(run_daemon_sync(env, &err), ==, 1);
	g_assert_nonnull(strstr(err, db));
	g_assert_nonnull(strstr(err, "damaged"));
	g_assert_true(g_file_get_contents(db, &after, &len_after, NULL));
	g_assert_cmpuint(len_after, ==, len);
	g_assert_cmpint(memcmp(before, after, len), ==, 0);
}

static gboolean
pidfd_readable_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	*(gboolean *)user_data = TRUE;
	return G_SOURCE_REMOVE;
}

static gboolean
is_true(gpointer user_data)
{
	return *(gboolean *)user_data;
}

/*
 * The daemon a CLI started by itself (not the harness's): stopped, and gone, before the
 * test's directory is removed under it
 */
static void
stop_cli_daemon(FlTestEnv *env)
{
	g_autoptr(GVariant) reply = NULL;
	gboolean gone = FALSE;
	guint32 pid = 0;
	gint pidfd;

	reply = g_dbus_connection_call_sync(
		env->conn, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
		"GetConnectionUnixProcessID", g_variant_new("(s)", FL_BUS), G_VARIANT_TYPE("(u)"),
		G_DBUS_CALL_FLAGS_NONE, WAIT_MS, NULL, NULL);
	if (reply == NULL)
		return;
	g_variant_get(reply, "(u)", &pid);
	/* not our child: its pidfd becomes readable when it exits */
	pidfd = (gint)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	g_assert_cmpint(pidfd, >=, 0);
	g_unix_fd_add(pidfd, G_IO_IN, pidfd_readable_cb, &gone);
	g_assert_cmpint(kill((pid_t)pid, SIGTERM), ==, 0);
	g_assert_true(fl_test_wait_for(is_true, &gone, WAIT_MS));
	close(pidfd);
}

/* a `run` whose answer was lost to a crash: one session, exit 0, its id printed */
static void
test_cli_run_retries(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *out = NULL;
	g_autofree gchar *all = NULL;
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;

	start_armed(env, "run:queued:1");
	g_assert_cmpint(fl_test_cli(env, NULL, &out, NULL, "run", "--", "true", NULL), ==, 0);
	g_assert_cmpstr(g_strstrip(out), ==, "1");
	all = fl_test_cli_ok(env, NULL, "ls", "--all", "--json", NULL);
	json_parser_load_from_data(parser, all, -1, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(json_array_get_length(json_node_get_array(json_parser_get_root(parser))),
			 ==, 1);
	g_free(fl_test_wait_ended(env, 1, WAIT_MS));
	fl_test_env_stop_daemon(env, SIGKILL);
	stop_cli_daemon(env);
}

/* an `approve` whose answer was lost: exit 0 once, merged once */
static void
test_cli_approve_retries(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *out = NULL;
	g_autofree gchar *idstr = NULL;
	guint id;

	start_armed(env, "approve:merged:1");
	id = run_done(env, repo, "echo a > a.txt");
	idstr = g_strdup_printf("%u", id);
	g_assert_cmpint(fl_test_cli(env, NULL, &out, NULL, "approve", idstr, NULL), ==, 0);
	g_assert_nonnull(strstr(out, "approved"));
	g_assert_cmpuint(count_merges(repo, id), ==, 1);
	fl_test_env_stop_daemon(env, SIGKILL);
	stop_cli_daemon(env);
}

/* `wait` and `log --follow` go on through a daemon's death, as the session does */
static void
test_wait_rides_restart(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *go = g_build_filename(env->root, "go", NULL);
	g_autofree gchar *goal = g_strdup_printf(
		"echo before; while [ ! -e '%s' ]; do sleep 0.1; done; echo after", go);
	g_autoptr(GSubprocessLauncher) launcher =
		g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE);
	g_autoptr(GSubprocess) wait = NULL;
	g_autoptr(GSubprocess) follow = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *wait_out = NULL;
	g_autofree gchar *follow_out = NULL;
	g_autofree gchar *idstr = NULL;
	guint id;

	fl_test_env_start_daemon(env, NULL);
	id = fl_test_run_session(env, NULL, "--", goal, NULL);
	g_assert_true(fl_test_wait_state(env, id, "running", WAIT_MS));
	idstr = g_strdup_printf("%u", id);
	g_subprocess_launcher_set_environ(launcher, env->envp);
	wait = g_subprocess_launcher_spawn(launcher, &error, g_getenv("FLOTILLA"), "wait", idstr,
					   NULL);
	g_assert_no_error(error);
	follow = g_subprocess_launcher_spawn(launcher, &error, g_getenv("FLOTILLA"), "log",
					     "--follow", idstr, NULL);
	g_assert_no_error(error);
	/* the daemon dies under them; they start the next one themselves */
	fl_test_env_stop_daemon(env, SIGKILL);
	g_assert_true(g_file_set_contents(go, "", 0, NULL));
	g_assert_true(g_subprocess_communicate_utf8(wait, NULL, NULL, &wait_out, NULL, &error));
	g_assert_no_error(error);
	g_assert_true(g_subprocess_communicate_utf8(follow, NULL, NULL, &follow_out, NULL, &error));
	g_assert_no_error(error);
	g_assert_cmpint(g_subprocess_get_exit_status(wait), ==, 0);
	g_assert_nonnull(strstr(wait_out, "done"));
	g_assert_cmpint(g_subprocess_get_exit_status(follow), ==, 0);
	g_assert_nonnull(strstr(follow_out, "before\nafter"));
	stop_cli_daemon(env);
}

typedef struct {
	gboolean done;
	gchar *answer;
	GError *error;
} Pending;

static void
pending_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	Pending *p = user_data;
	g_autoptr(GVariant) reply =
		g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &p->error);

	if (reply != NULL)
		g_variant_get(reply, "(s)", &p->answer);
	p->done = TRUE;
}

static gboolean
pending_done(gpointer user_data)
{
	return ((Pending *)user_data)->done;
}

static gboolean
flag_true(gpointer user_data)
{
	return *(gboolean *)user_data;
}

static void
set_flag(gpointer user_data)
{
	*(gboolean *)user_data = TRUE;
}

/* kill -9 after @ms milliseconds of the main loop running (the call under way) */
static void
kill_after(FlTestEnv *env, guint ms)
{
	gboolean fired = FALSE;

	g_timeout_add_once(ms, set_flag, &fired);
	g_assert_true(fl_test_wait_for(flag_true, &fired, WAIT_MS));
	fl_test_env_stop_daemon(env, SIGKILL);
}

/* kill -9 at random moments of approve, reject, revert and draft recording, many times */
static void
test_random_kills(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	const gchar *methods[] = {"Approve", "Reject", "Revert"};

	fl_test_env_start_daemon(env, NULL);
	for (guint round = 0; round < 9; round++) {
		const gchar *method = methods[round % G_N_ELEMENTS(methods)];
		g_autofree gchar *goal = g_strdup_printf("echo %u > r%u.txt", round, round);
		g_autofree gchar *token = g_uuid_string_random();
		g_autofree gchar *answer = NULL;
		g_autofree gchar *exit_json = NULL;
		g_autoptr(GError) error = NULL;
		g_autoptr(JsonObject) obj = NULL;
		GVariantBuilder options;
		Pending p = {FALSE, NULL, NULL};
		guint delay = (guint)g_random_int_range(0, 120);
		guint id;

		/* the draft's recording, cut at a random moment */
		id = fl_test_run_session(env, repo, "--", goal, NULL);
		exit_json = g_strdup_printf("%s/sessions/%u/exit.json", env->state_dir, id);
		g_assert_true(fl_test_wait_file(exit_json, WAIT_MS));
		kill_after(env, (guint)g_random_int_range(0, 60));
		fl_test_env_start_daemon(env, NULL);
		g_free(fl_test_wait_ended(env, id, WAIT_MS));
		g_assert_cmpstr(show_str(env, id, "review", &obj), ==, "pending");
		g_assert_true(branch_exists(repo, id));
		if (g_strcmp0(method, "Revert") == 0) {
			g_free(decide(env, "Approve", id, NULL, &error));
			g_assert_no_error(error);
		}
		g_test_message("round %u: %s of %u killed after %u ms", round, method, id, delay);
		g_variant_builder_init(&options, G_VARIANT_TYPE("a{sv}"));
		g_variant_builder_add(&options, "{sv}", "token", g_variant_new_string(token));
		g_dbus_connection_call(env->conn, FL_BUS, FL_PATH, FL_BUS, method,
				       g_variant_new("(ua{sv})", id, &options),
				       G_VARIANT_TYPE("(s)"), G_DBUS_CALL_FLAGS_NO_AUTO_START,
				       WAIT_MS, NULL, pending_cb, &p);
		kill_after(env, delay);
		g_assert_true(fl_test_wait_for(pending_done, &p, WAIT_MS));
		g_free(p.answer);
		g_clear_error(&p.error);
		fl_test_env_start_daemon(env, NULL);
		answer = decide(env, method, id, token, &error);
		g_assert_no_error(error);
		if (g_strcmp0(method, "Approve") == 0) {
			assert_approved_once(env, repo, id);
		} else if (g_strcmp0(method, "Reject") == 0) {
			g_assert_cmpstr(show_str(env, id, "review", &obj), ==, "rejected");
			g_assert_false(branch_exists(repo, id));
			g_assert_cmpuint(count_merges(repo, id), ==, 0);
		} else {
			g_autofree gchar *count = g_strdup_printf(
				"log --format=%%s main | grep -c '^Revert flotilla session %u$' || "
				"true",
				id);
			g_assert_cmpstr(show_str(env, id, "review", &obj), ==, "reverted");
			g_assert_cmpuint(count_merges(repo, id), ==, 1);
			g_assert_cmpstr(fl_test_git(repo, count), ==, "1");
		}
		assert_no_intent(env, id);
	}
	assert_store_ok(env);
	g_assert_cmpstr(fl_test_git(repo, "status --porcelain"), ==, "");
}

static gchar *
status_str(FlTestEnv *env, const gchar *key)
{
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GVariant) status = NULL;
	const gchar *value = NULL;

	reply = g_dbus_connection_call_sync(env->conn, FL_BUS, FL_PATH, FL_BUS, "GetStatus", NULL,
					    G_VARIANT_TYPE("(a{sv})"),
					    G_DBUS_CALL_FLAGS_NO_AUTO_START, WAIT_MS, NULL, NULL);
	g_assert_nonnull(reply);
	status = g_variant_get_child_value(reply, 0);
	if (!g_variant_lookup(status, key, "&s", &value))
		return NULL;
	return g_strdup(value);
}

static gboolean
store_saved(gpointer user_data)
{
	FlTestEnv *env = user_data;
	g_autofree gchar *error = status_str(env, "store_error");

	return error == NULL;
}

/*
 * A full disk under the state directory (a small tmpfs): the session's end is kept in memory
 * and shown as it is, the status names the file that cannot be written, and once there is
 * room again it is saved without a restart
 */
static void
test_disk_full(void)
{
	g_autoptr(FlTestEnv) env = NULL;
	g_autofree gchar *go = NULL;
	g_autofree gchar *goal = NULL;
	g_autofree gchar *cmd = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *error = NULL;
	g_autofree gchar *filler = NULL;
	g_autoptr(JsonObject) obj = NULL;
	guint id;

	if (geteuid() != 0) {
		g_test_skip("mounting a tmpfs needs root (CI runs as root)");
		return;
	}
	env = fl_test_env_new(NULL);
	go = g_build_filename(env->root, "go", NULL);
	filler = g_build_filename(env->state_dir, "filler", NULL);
	cmd = g_strdup_printf("mkdir -p '%s' && mount -t tmpfs -o size=4m,mode=0700 tmpfs '%s'",
			      env->state_dir, env->state_dir);
	g_free(fl_test_sh(NULL, cmd));
	fl_test_env_start_daemon(env, NULL);
	goal = g_strdup_printf("while [ ! -e '%s' ]; do sleep 0.1; done", go);
	id = fl_test_run_session(env, NULL, "--", goal, NULL);
	g_assert_true(fl_test_wait_state(env, id, "running", WAIT_MS));
	/* full, but for a page or two: the runner's exit.json fits, the store's write not */
	g_free(cmd);
	cmd = g_strdup_printf("cd '%s' && head -c 8192 /dev/zero > reserve && "
			      "(dd if=/dev/zero of=filler bs=64k 2>/dev/null || true) && "
			      "rm reserve",
			      env->state_dir);
	g_free(fl_test_sh(NULL, cmd));
	g_assert_true(g_file_set_contents(go, "", 0, NULL));
	state = fl_test_wait_ended(env, id, WAIT_MS);
	g_assert_cmpstr(state, ==, "done");
	error = status_str(env, "store_error");
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error, "flotilla.db"));
	/* room again: saved without a restart */
	g_assert_cmpint(g_unlink(filler), ==, 0);
	g_assert_true(fl_test_wait_for(store_saved, env, WAIT_MS));
	fl_test_env_stop_daemon(env, SIGTERM);
	fl_test_env_start_daemon(env, NULL);
	g_assert_cmpstr(show_str(env, id, "state", &obj), ==, "done");
	fl_test_env_stop_daemon(env, SIGTERM);
	g_free(cmd);
	cmd = g_strdup_printf("umount '%s'", env->state_dir);
	g_free(fl_test_sh(NULL, cmd));
}

/* `flotillad --replace` (how the config is reloaded) while a big draft is being recorded */
static void
test_replace_during_finalize(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *exit_json = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *count = NULL;
	g_autoptr(JsonObject) obj = NULL;
	guint id;

	fl_test_env_start_daemon(env, NULL);
	id = fl_test_run_session(env, repo, "--",
				 "mkdir many && awk 'BEGIN { for (i = 1; i <= 1000; i++) { f = "
				 "sprintf(\"many/%d\", i); print i > f; close(f) } }'",
				 NULL);
	exit_json = g_strdup_printf("%s/sessions/%u/exit.json", env->state_dir, id);
	g_assert_true(fl_test_wait_file(exit_json, WAIT_MS));
	fl_test_env_start_daemon(env, "--replace");
	state = fl_test_wait_ended(env, id, 120000);
	g_assert_cmpstr(state, ==, "done");
	g_assert_cmpstr(show_str(env, id, "review", &obj), ==, "pending");
	count = fl_test_git(repo, "ls-tree -r --name-only flotilla/1 many | wc -l");
	g_assert_cmpstr(count, ==, "1000");
}

static gint
flotillad_doctor(FlTestEnv *env, const gchar *arg, const gchar *file, gchar **out, gchar **err)
{
	const gchar *argv[] = {g_getenv("FLOTILLAD"), arg, file, NULL};
	gint status = 0;
	g_autoptr(GError) error = NULL;

	g_spawn_sync(env->root, (gchar **)argv, env->envp, G_SPAWN_DEFAULT, NULL, NULL, out, err,
		     &status, &error);
	g_assert_no_error(error);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* a lost store: --check says so, --rebuild recovers the sessions into a file of the user's
 * choosing, and once moved in place the pending draft can be approved as before */
static void
test_check_and_rebuild(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *db = g_build_filename(env->state_dir, "flotilla.db", NULL);
	g_autofree gchar *rebuilt = g_build_filename(env->root, "rebuilt.db", NULL);
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *answer = NULL;
	g_autoptr(JsonObject) obj = NULL;
	g_autoptr(GError) error = NULL;
	guint draft, scratch, next;

	fl_test_env_start_daemon(env, NULL);
	draft = run_done(env, repo, "echo a > a.txt");
	scratch = run_done(env, NULL, "true");
	fl_test_env_stop_daemon(env, SIGTERM);
	g_assert_cmpint(flotillad_doctor(env, "--check", NULL, &out, &err), ==, 0);
	g_assert_nonnull(strstr(out, "ok"));
	g_clear_pointer(&out, g_free);
	g_clear_pointer(&err, g_free);

	write_bytes(db, "", 0);
	g_assert_cmpint(flotillad_doctor(env, "--check", NULL, &out, &err), ==, 1);
	g_assert_nonnull(strstr(err, db));
	g_assert_nonnull(strstr(err, "--rebuild"));
	g_clear_pointer(&out, g_free);
	g_clear_pointer(&err, g_free);
	g_assert_cmpint(flotillad_doctor(env, "--rebuild", rebuilt, &out, &err), ==, 0);
	g_assert_nonnull(strstr(out, "2 sessions"));
	g_clear_pointer(&out, g_free);
	g_clear_pointer(&err, g_free);
	/* never over an existing file */
	g_assert_cmpint(flotillad_doctor(env, "--rebuild", rebuilt, &out, &err), ==, 1);
	g_assert_nonnull(strstr(err, "exists"));

	/* adopted as the message says */
	g_assert_cmpint(g_rename(rebuilt, db), ==, 0);
	fl_test_env_start_daemon(env, NULL);
	g_assert_cmpstr(show_str(env, draft, "review", &obj), ==, "pending");
	g_assert_cmpstr(show_str(env, draft, "goal", &obj), ==, "echo a > a.txt");
	g_assert_cmpstr(show_str(env, scratch, "state", &obj), ==, "done");
	answer = decide(env, "Approve", draft, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(count_merges(repo, draft), ==, 1);
	next = fl_test_run_session(env, NULL, "--", "true", NULL);
	g_assert_cmpuint(next, ==, scratch + 1);
	g_free(fl_test_wait_ended(env, next, WAIT_MS));
	assert_store_ok(env);
}

int
main(int argc, char *argv[])
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/crash/approve-points", test_approve_crash_points);
	g_test_add_func("/crash/reject-points", test_reject_crash_points);
	g_test_add_func("/crash/refresh-points", test_refresh_crash_points);
	g_test_add_func("/crash/revert-points", test_revert_crash_points);
	g_test_add_func("/crash/finalize-points", test_finalize_crash_points);
	g_test_add_func("/crash/random-kills", test_random_kills);
	g_test_add_func("/crash/concurrent-approvals", test_concurrent_approvals);
	g_test_add_func("/crash/stale-index-lock", test_stale_index_lock);
	g_test_add_func("/crash/live-lock-waits", test_live_lock_waits);
	g_test_add_func("/crash/empty-store", test_empty_store);
	g_test_add_func("/crash/damaged-store", test_damaged_store);
	g_test_add_func("/crash/disk-full", test_disk_full);
	g_test_add_func("/crash/check-and-rebuild", test_check_and_rebuild);
	g_test_add_func("/crash/replace-during-finalize", test_replace_during_finalize);
	g_test_add_func("/crash/cli-run-retries", test_cli_run_retries);
	g_test_add_func("/crash/cli-approve-retries", test_cli_approve_retries);
	g_test_add_func("/crash/wait-rides-restart", test_wait_rides_restart);
	return g_test_run();
}
