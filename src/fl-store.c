/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-store.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <sqlite3.h>

#include "fl-error.h"
#include "fl-i18n.h"
#include "fl-msg.h"
#include "fl-text.h"
#include "fl-util.h"

/* the statements of the hot paths: parsed once per connection, not once per call */
typedef enum {
	FL_STORE_STMT_INSERT_SESSION,
	FL_STORE_STMT_UPDATE_SESSION,
	FL_STORE_STMT_GET_SESSION,
	FL_STORE_STMT_ACTIVE,
	FL_STORE_STMT_ATTENTION,
	FL_STORE_STMT_LIST_ALL,
	FL_STORE_STMT_LIST_VIEW,
	FL_STORE_STMT_COUNT_PENDING,
	FL_STORE_STMT_COST_SINCE,
	FL_STORE_STMT_CLEANABLE,
	FL_STORE_STMT_PENDING,
	FL_STORE_STMT_FAILURES,
	FL_STORE_STMT_ADD_EVENT,
	FL_STORE_STMT_GET_EVENTS,
	FL_STORE_STMT_LEDGER_GET,
	FL_STORE_STMT_LEDGER_SET,
	FL_STORE_STMT_INTENT_SET,
	FL_STORE_STMT_INTENT_CLEAR,
	FL_STORE_STMT_INTENTS,
	FL_STORE_STMT_REQUEST_GET,
	FL_STORE_STMT_REQUEST_SET,
	FL_STORE_STMT_GROUP_ENSURE,
	FL_STORE_STMT_GROUP_GET,
	FL_STORE_STMT_GROUP_SET,
	FL_STORE_STMT_GROUP_MEMBERS,
	FL_STORE_STMT_GROUP_INTENT_SET,
	FL_STORE_STMT_GROUP_INTENT_CLEAR,
	FL_STORE_STMT_GROUP_INTENTS,
	FL_STORE_N_STMTS,
} FlStoreStmt;

struct _FlStore {
	GObject parent_instance;
	gchar *state_dir;                      /* (owned) */
	sqlite3 *db;                           /* (owned) */
	sqlite3_stmt *stmts[FL_STORE_N_STMTS]; /* (owned) (nullable) prepared on first use */
	guint id_floor; /* new ids are above this: the highest id sessions/ held at creation */
};

G_DEFINE_TYPE(FlStore, fl_store, G_TYPE_OBJECT)

#define FL_SESSION_COLUMNS                                                                         \
	"id, name, goal, agent, repo, base, base_commit, branch, worktree, verify_command, "       \
	"state, review, created, started, finished, exit_code, signal, verify, diffstat, "         \
	"cost_usd, turns, waiting_for, final_message, reason, merge_commit, agent_session, "       \
	"links_outside, verify_commit, placement, memory_mb, time_minutes, confinement, "          \
	"verify_base, refreshed_from, after_id, after_done, group_name, priority, subdir, "        \
	"budget_usd, cleaned"
/* the first column after them */
#define FL_SESSION_N_COLUMNS 41

/*
 * The attention query and the default view are unions of parts that an index answers (the
 * partial indexes of the migrations, the rowid), so they cost what they return, not what the
 * store holds. SQLite only uses a partial index when the WHERE clause repeats the index's
 * condition word for word, hence the redundant-looking terms.
 */
static const gchar *const fl_store_sql[FL_STORE_N_STMTS] = {
	[FL_STORE_STMT_INSERT_SESSION] =
		"INSERT INTO sessions (" FL_SESSION_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
		"?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, "
		"?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36, ?37, ?38, "
		"?39, ?40, ?41)",
	[FL_STORE_STMT_UPDATE_SESSION] =
		"UPDATE sessions SET name=?2, goal=?3, agent=?4, repo=?5, base=?6, "
		"base_commit=?7, branch=?8, worktree=?9, verify_command=?10, state=?11, "
		"review=?12, created=?13, started=?14, finished=?15, exit_code=?16, signal=?17, "
		"verify=?18, diffstat=?19, cost_usd=?20, turns=?21, waiting_for=?22, "
		"final_message=?23, reason=?24, merge_commit=?25, agent_session=?26, "
		"links_outside=?27, verify_commit=?28, placement=?29, memory_mb=?30, "
		"time_minutes=?31, confinement=?32, verify_base=?33, refreshed_from=?34, "
		"after_id=?35, after_done=?36, group_name=?37, priority=?38, subdir=?39, "
		"budget_usd=?40, cleaned=?41 WHERE id=?1",
	[FL_STORE_STMT_GET_SESSION] = "SELECT " FL_SESSION_COLUMNS " FROM sessions WHERE id=?1",
	[FL_STORE_STMT_ACTIVE] = "SELECT " FL_SESSION_COLUMNS " FROM sessions WHERE state IN "
				 "('queued', 'running', 'blocked') ORDER BY id",
	/*
	 * drafts to decide, sessions waiting for the user, failures not yet announced: their ids
	 * in one set first, so the rows come out in id order without sorting them; then when the
	 * ledger first announced the session for the reason it is here (as fl-checkin.c names
	 * the reasons)
	 */
	[FL_STORE_STMT_ATTENTION] =
		"SELECT " FL_SESSION_COLUMNS ", (SELECT announced FROM ledger WHERE "
		"ledger.session_id = sessions.id AND ledger.event = CASE WHEN state = 'blocked' "
		"THEN '" FL_LEDGER_EVENT_BLOCKED_NAME
		"' WHEN review = 'pending' THEN '" FL_LEDGER_EVENT_DRAFT_NAME
		"' ELSE '" FL_LEDGER_EVENT_FAILED_NAME "' END) FROM "
		"sessions WHERE id IN (SELECT id FROM sessions WHERE review = 'pending' UNION ALL "
		"SELECT id FROM sessions WHERE state IN ('queued', 'running', 'blocked') AND state "
		"= 'blocked' UNION ALL SELECT id FROM sessions WHERE state IN ('failed', "
		"'interrupted') AND review = 'none' AND NOT EXISTS (SELECT 1 FROM ledger WHERE "
		"ledger.session_id = sessions.id AND ledger.event IN ('" FL_LEDGER_EVENT_FAILED_NAME
		"', '" FL_LEDGER_EVENT_DISMISSED_NAME "'))) ORDER BY id",
	[FL_STORE_STMT_LIST_ALL] = "SELECT " FL_SESSION_COLUMNS
				   " FROM sessions WHERE id < ?2 ORDER BY id DESC LIMIT ?1",
	/* the indexed subsets plus a bounded tail: cheap with 100 000 rows */
	[FL_STORE_STMT_LIST_VIEW] =
		"SELECT * FROM (SELECT " FL_SESSION_COLUMNS " FROM sessions WHERE state IN "
		"('queued', 'running', 'blocked') UNION SELECT " FL_SESSION_COLUMNS
		" FROM sessions WHERE review = 'pending' UNION SELECT * FROM "
		"(SELECT " FL_SESSION_COLUMNS
		" FROM sessions ORDER BY id DESC LIMIT ?2)) ORDER BY id DESC "
		"LIMIT ?1",
	[FL_STORE_STMT_COUNT_PENDING] = "SELECT COUNT(*) FROM sessions WHERE review = 'pending'",
	/* the index on started: the day's sessions, not every session ever */
	[FL_STORE_STMT_COST_SINCE] = "SELECT total(cost_usd) FROM sessions WHERE started >= ?1",
	/* `flotilla clean`, now and then: a scan is fine */
	[FL_STORE_STMT_CLEANABLE] = "SELECT " FL_SESSION_COLUMNS
				    " FROM sessions WHERE cleaned IS NULL AND state NOT IN "
				    "('queued', 'running', 'blocked') AND review != 'pending' AND "
				    "finished <= ?1 ORDER BY id",
	[FL_STORE_STMT_PENDING] =
		"SELECT " FL_SESSION_COLUMNS " FROM sessions WHERE review = 'pending' ORDER BY id",
	[FL_STORE_STMT_FAILURES] =
		"SELECT " FL_SESSION_COLUMNS " FROM sessions WHERE state IN ('failed', "
		"'interrupted') AND review = 'none' AND NOT EXISTS (SELECT 1 FROM ledger WHERE "
		"ledger.session_id = sessions.id AND ledger.event = "
		"'" FL_LEDGER_EVENT_DISMISSED_NAME
		"') AND NOT EXISTS (SELECT 1 FROM events WHERE events.session_id = sessions.id AND "
		"events.kind = 'retried-as') ORDER BY id",
	[FL_STORE_STMT_ADD_EVENT] =
		"INSERT INTO events (session_id, time, kind, source, note) VALUES (?1, ?2, ?3, "
		"?4, ?5)",
	[FL_STORE_STMT_GET_EVENTS] = "SELECT time, kind, source, note FROM events WHERE "
				     "session_id = ?1 ORDER BY id",
	[FL_STORE_STMT_LEDGER_GET] =
		"SELECT announced FROM ledger WHERE session_id = ?1 AND event = ?2",
	[FL_STORE_STMT_LEDGER_SET] = "INSERT OR IGNORE INTO ledger (session_id, event, "
				     "announced) VALUES (?1, ?2, ?3)",
	[FL_STORE_STMT_INTENT_SET] =
		"INSERT OR REPLACE INTO intents (session_id, op, phase, draft_tip, note, source, "
		"token, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[FL_STORE_STMT_INTENT_CLEAR] = "DELETE FROM intents WHERE session_id = ?1",
	[FL_STORE_STMT_INTENTS] = "SELECT session_id, op, phase, draft_tip, note, source, token, "
				  "created FROM intents ORDER BY session_id",
	[FL_STORE_STMT_REQUEST_GET] =
		"SELECT answer FROM requests WHERE token = ?1 AND method = ?2",
	[FL_STORE_STMT_REQUEST_SET] = "INSERT OR IGNORE INTO requests (token, method, answer, "
				      "created) VALUES (?1, ?2, ?3, ?4)",
	[FL_STORE_STMT_GROUP_ENSURE] =
		"INSERT OR IGNORE INTO groups (name, policy, created) VALUES (?1, ?2, ?3)",
	[FL_STORE_STMT_GROUP_GET] =
		"SELECT name, policy, paused, winner FROM groups WHERE name = ?1",
	[FL_STORE_STMT_GROUP_SET] = "UPDATE groups SET paused = ?2, winner = ?3 WHERE name = ?1",
	[FL_STORE_STMT_GROUP_MEMBERS] = "SELECT " FL_SESSION_COLUMNS " FROM sessions WHERE "
					"group_name = ?1 AND group_name IS NOT NULL ORDER BY id",
	[FL_STORE_STMT_GROUP_INTENT_SET] =
		"INSERT OR REPLACE INTO group_intents (name, op, members, note, source, created) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[FL_STORE_STMT_GROUP_INTENT_CLEAR] = "DELETE FROM group_intents WHERE name = ?1",
	[FL_STORE_STMT_GROUP_INTENTS] =
		"SELECT name, op, members, note, source FROM group_intents ORDER BY created, name",
};

/* each entry migrates from version i to i + 1; never edit a released one, append */
static const gchar *const fl_store_migrations[] = {
	"CREATE TABLE sessions ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT, goal TEXT NOT NULL, agent TEXT NOT NULL,"
	"  repo TEXT, base TEXT, base_commit TEXT, branch TEXT, worktree TEXT,"
	"  verify_command TEXT,"
	"  state TEXT NOT NULL, review TEXT NOT NULL DEFAULT 'none',"
	"  created INTEGER NOT NULL, started INTEGER, finished INTEGER,"
	"  exit_code INTEGER, signal INTEGER, verify TEXT, diffstat TEXT,"
	"  cost_usd REAL, turns INTEGER, waiting_for TEXT, final_message TEXT, reason TEXT,"
	"  merge_commit TEXT, agent_session TEXT);"
	"CREATE INDEX sessions_active ON sessions(state)"
	"  WHERE state IN ('queued', 'running', 'blocked');"
	"CREATE INDEX sessions_pending ON sessions(review) WHERE review = 'pending';"
	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL, time INTEGER NOT NULL,"
	"  kind TEXT NOT NULL, source TEXT, note TEXT);"
	"CREATE INDEX events_session ON events(session_id);"
	"CREATE TABLE ledger ("
	"  session_id INTEGER NOT NULL, event TEXT NOT NULL, announced INTEGER NOT NULL,"
	"  PRIMARY KEY (session_id, event));",
	/* the failures a digest may still have to announce, without reading every session */
	"CREATE INDEX sessions_failed ON sessions(state)"
	"  WHERE state IN ('failed', 'interrupted') AND review = 'none';",
	/*
	 * a decision's intent, written before it touches git and removed once its outcome is
	 * recorded, so a daemon start finishes or undoes what a dead one left half-done; the
	 * answers to tokened requests, so a retried call gets the first answer; and settings
	 * of the store itself (the id floor)
	 */
	"CREATE TABLE intents ("
	"  session_id INTEGER PRIMARY KEY, op TEXT NOT NULL, phase TEXT NOT NULL,"
	"  draft_tip TEXT, note TEXT, source TEXT, token TEXT, created INTEGER NOT NULL);"
	"CREATE TABLE requests ("
	"  token TEXT NOT NULL, method TEXT NOT NULL, answer TEXT, created INTEGER NOT NULL,"
	"  PRIMARY KEY (token, method));"
	"CREATE INDEX requests_created ON requests(created);"
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value);",
	/* the links a draft adds that lead out of its repository, for the review; the draft
	 * commit its verify command checked */
	"ALTER TABLE sessions ADD COLUMN links_outside TEXT;"
	"ALTER TABLE sessions ADD COLUMN verify_commit TEXT;",
	/* where a session runs (NULL: this machine) and the limits asked for there */
	"ALTER TABLE sessions ADD COLUMN placement TEXT;"
	"ALTER TABLE sessions ADD COLUMN memory_mb INTEGER;"
	"ALTER TABLE sessions ADD COLUMN time_minutes INTEGER;",
	/* how each session was run: "bwrap", or "off" when the user turned confinement off;
	 * NULL for sessions of earlier versions, which ran unconfined */
	"ALTER TABLE sessions ADD COLUMN confinement TEXT;",
	/* `flotilla refresh`: the base a verify result ran against, the base a refreshed draft
	 * was made from before */
	"ALTER TABLE sessions ADD COLUMN verify_base TEXT;"
	"ALTER TABLE sessions ADD COLUMN refreshed_from TEXT;",
	/* `run --after ID`: the session it waits for, and whether for its end (1) or approval */
	"ALTER TABLE sessions ADD COLUMN after_id INTEGER;"
	"ALTER TABLE sessions ADD COLUMN after_done INTEGER;",
	/*
	 * groups of sessions reviewed as one (run --group, several --repo, races): the group,
	 * how it is decided ("all", or "first-wins" for a race, with its winner), whether its
	 * queued members are held; and a group decision's intent, written before its first
	 * merge with every member's draft tip and base tip, so a daemon start rolls it forward
	 */
	"ALTER TABLE sessions ADD COLUMN group_name TEXT;"
	"CREATE INDEX sessions_group ON sessions(group_name) WHERE group_name IS NOT NULL;"
	"CREATE TABLE groups ("
	"  name TEXT PRIMARY KEY, policy TEXT NOT NULL, paused INTEGER NOT NULL DEFAULT 0,"
	"  winner INTEGER, created INTEGER NOT NULL);"
	"CREATE TABLE group_intents ("
	"  name TEXT PRIMARY KEY, op TEXT NOT NULL, members TEXT NOT NULL, note TEXT,"
	"  source TEXT, created INTEGER NOT NULL);",
	/* the queue's order ("high", "low"; NULL: normal), the subdirectory of the repository
	 * a session runs in (NULL: the top), its budget in dollars (NULL: none); what was spent
	 * today ([fleet] daily-budget) is found by when sessions started */
	"ALTER TABLE sessions ADD COLUMN priority TEXT;"
	"ALTER TABLE sessions ADD COLUMN subdir TEXT;"
	"ALTER TABLE sessions ADD COLUMN budget_usd REAL;"
	"CREATE INDEX sessions_started ON sessions(started);",
	/* when `flotilla clean` removed a session's files and worktree (NULL: never) */
	"ALTER TABLE sessions ADD COLUMN cleaned INTEGER;",
};

G_STATIC_ASSERT(G_N_ELEMENTS(fl_store_migrations) == FL_STORE_SCHEMA_VERSION);

static gboolean
fl_store_fail(FlStore *self, GError **error, const gchar *what)
{
	g_set_error(error, FL_ERROR, FL_ERROR_FAILED, "%s: %s", what, sqlite3_errmsg(self->db));
	return FALSE;
}

static gboolean
fl_store_exec(FlStore *self, const gchar *sql, GError **error)
{
	g_autofree gchar *msg = NULL;
	char *errmsg = NULL;

	if (sqlite3_exec(self->db, sql, NULL, NULL, &errmsg) != SQLITE_OK) {
		msg = g_strdup(errmsg != NULL ? errmsg : "unknown error");
		sqlite3_free(errmsg);
		g_set_error(error, FL_ERROR, FL_ERROR_FAILED, "database: %s", msg);
		return FALSE;
	}
	return TRUE;
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(sqlite3_stmt, sqlite3_finalize)

/* a statement of the cache: g_autoptr() gives it back reset, holding no read snapshot */
typedef sqlite3_stmt FlStoreCached;

static void
fl_store_cached_release(FlStoreCached *stmt)
{
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlStoreCached, fl_store_cached_release)

static FlStoreCached *
fl_store_cached(FlStore *self, FlStoreStmt which, GError **error)
{
	if (self->stmts[which] == NULL &&
	    sqlite3_prepare_v3(self->db, fl_store_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
			       &self->stmts[which], NULL) != SQLITE_OK) {
		fl_store_fail(self, error, "database");
		return NULL;
	}
	/* still being stepped by a caller further up: sharing it would cut that one short */
	if (sqlite3_stmt_busy(self->stmts[which])) {
		g_critical("store statement %u handed out while still in use", (guint)which);
		g_set_error_literal(error, FL_ERROR, FL_ERROR_FAILED,
				    "database: statement already in use");
		return NULL;
	}
	return self->stmts[which];
}

static gint
fl_store_int_query(FlStore *self, const gchar *sql, GError **error)
{
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (sqlite3_prepare_v2(self->db, sql, -1, &stmt, NULL) != SQLITE_OK ||
	    sqlite3_step(stmt) != SQLITE_ROW) {
		g_set_error_literal(error, FL_ERROR, FL_ERROR_FAILED, sqlite3_errmsg(self->db));
		return -1;
	}
	return sqlite3_column_int(stmt, 0);
}

/* the schema version, refusing (and not touching) anything flotilla cannot use */
static gint
fl_store_check_version(FlStore *self, const gchar *path, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	gint version = fl_store_int_query(self, "PRAGMA user_version", &error_local);
	gint objects;
	gint rc;

	if (version < 0) {
		rc = sqlite3_extended_errcode(self->db) & 0xff;
		if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT)
			fl_set_error(error, FL_ERROR_FAILED,
				     N_("%s is not a flotilla database (left untouched): %s"), path,
				     error_local->message);
		else
			fl_set_error(error, FL_ERROR_FAILED, N_("cannot read %s: %s"), path,
				     error_local->message);
		return -1;
	}
	if (version > FL_STORE_SCHEMA_VERSION) {
		fl_set_error(
			error, FL_ERROR_FAILED,
			N_("%s has schema version %d, newer than this flotillad supports (%d): "
			   "refusing to use it (upgrade flotilla)"),
			path, version, FL_STORE_SCHEMA_VERSION);
		return -1;
	}
	if (version > 0)
		return version;
	/* version 0 is an empty file; tables without a version belong to someone else */
	objects = fl_store_int_query(self, "SELECT COUNT(*) FROM sqlite_master", &error_local);
	if (objects != 0) {
		fl_set_error(error, FL_ERROR_FAILED,
			     N_("%s is not a flotilla database (left untouched): %s"), path,
			     objects < 0
				     ? error_local->message
				     : fl_msg_word(N_("it holds tables but no schema version")));
		return -1;
	}
	return 0;
}

static gboolean
fl_store_migrate(FlStore *self, const gchar *path, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	gint version;

	if (!fl_store_exec(self, "BEGIN IMMEDIATE", error)) {
		fl_prefix_error(error, "%s: ", path);
		return FALSE;
	}
	/* again under the write lock: another flotillad may have migrated meanwhile */
	version = fl_store_int_query(self, "PRAGMA user_version", &error_local);
	if (version < 0) {
		fl_store_exec(self, "ROLLBACK", NULL);
		fl_set_error(error, FL_ERROR_FAILED, N_("cannot read %s: %s"), path,
			     error_local->message);
		return FALSE;
	}
	for (gint v = version; v < FL_STORE_SCHEMA_VERSION; v++) {
		g_autofree gchar *sql = g_strdup_printf("%s PRAGMA user_version = %d;",
							fl_store_migrations[v], v + 1);
		if (!fl_store_exec(self, sql, error)) {
			fl_store_exec(self, "ROLLBACK", NULL);
			fl_prefix_error(error, N_("cannot migrate %s to version %d: "), path,
					v + 1);
			return FALSE;
		}
	}
	if (!fl_store_exec(self, "COMMIT", error)) {
		fl_store_exec(self, "ROLLBACK", NULL);
		fl_prefix_error(error, N_("cannot migrate %s: "), path);
		return FALSE;
	}
	return TRUE;
}

/* a retry comes within minutes of its call: a week of answers is plenty */
#define FL_STORE_REQUEST_KEEP_US (7 * G_TIME_SPAN_DAY)

static void
fl_store_prune_requests(FlStore *self)
{
	g_autofree gchar *sql =
		g_strdup_printf("DELETE FROM requests WHERE created < %" G_GINT64_FORMAT,
				fl_now() - FL_STORE_REQUEST_KEEP_US);
	g_autoptr(GError) error = NULL;

	if (!fl_store_exec(self, sql, &error))
		g_debug("%s", error->message);
}

/* the highest numeric name in @dir: ids a previous store handed out left these behind */
static guint
fl_store_highest_id_in(const gchar *dir)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const gchar *name;
	guint highest = 0;

	while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
		guint64 id = 0;

		if (g_ascii_string_to_unsigned(name, 10, 1, G_MAXUINT32, &id, NULL) && id > highest)
			highest = (guint)id;
	}
	return highest;
}

static gboolean
fl_store_load_floor(FlStore *self, GError **error)
{
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (sqlite3_prepare_v2(self->db, "SELECT value FROM meta WHERE key = 'id_floor'", -1, &stmt,
			       NULL) != SQLITE_OK)
		return fl_store_fail(self, error, "database");
	if (sqlite3_step(stmt) == SQLITE_ROW)
		self->id_floor = (guint)sqlite3_column_int64(stmt, 0);
	return TRUE;
}

/*
 * A new store next to the files of an old one (it was lost, or moved aside): its ids start
 * above every session directory and worktree, so `flotilla/<id>` branches and logs of the
 * old sessions are never mistaken for a new session's
 */
static gboolean
fl_store_set_floor(FlStore *self, GError **error)
{
	g_autofree gchar *sessions = g_build_filename(self->state_dir, "sessions", NULL);
	g_autofree gchar *worktrees = g_build_filename(self->state_dir, "worktrees", NULL);
	g_autofree gchar *sql = NULL;
	guint floor = MAX(fl_store_highest_id_in(sessions), fl_store_highest_id_in(worktrees));

	if (floor == 0)
		return TRUE;
	sql = g_strdup_printf("INSERT OR REPLACE INTO meta (key, value) VALUES ('id_floor', %u)",
			      floor);
	if (!fl_store_exec(self, sql, error))
		return FALSE;
	self->id_floor = floor;
	return TRUE;
}

/* a file that exists but is empty is a store that was lost, unless nothing ever used it */
static gboolean
fl_store_check_empty(FlStore *self, const gchar *path, GError **error)
{
	g_autofree gchar *sessions = g_build_filename(self->state_dir, "sessions", NULL);
	GStatBuf st;

	if (g_stat(path, &st) != 0 || st.st_size != 0 || fl_store_highest_id_in(sessions) == 0)
		return TRUE;
	/* TRANSLATORS: the database file, then the directory holding the sessions' files */
	fl_set_error(error, FL_ERROR_FAILED,
		     N_("%s is empty, but %s holds earlier sessions: refusing to start a new store "
			"over them (the file is kept); flotillad --rebuild NEW.db recovers them "
			"into a new store"),
		     path, sessions);
	return FALSE;
}

/*
 * Every page checked once after start-up, on a connection of its own in a worker thread:
 * a store damaged in the middle (a disk error, a copy cut short) is found without making
 * start-up wait for a read of the whole file
 */
static void
fl_store_check_thread(GTask *task, gpointer source_object, gpointer task_data,
		      GCancellable *cancellable)
{
	const gchar *path = task_data;
	g_autoptr(sqlite3_stmt) stmt = NULL;
	g_autofree gchar *why = NULL;
	sqlite3 *db = NULL;
	const gchar *result = NULL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_busy_timeout(db, 5000) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &stmt, NULL) == SQLITE_OK &&
	    sqlite3_step(stmt) == SQLITE_ROW)
		result = (const gchar *)sqlite3_column_text(stmt, 0);
	if (g_strcmp0(result, "ok") != 0)
		why = fl_text_clean(result != NULL ? result
				    : db != NULL   ? sqlite3_errmsg(db)
						   : "cannot open",
				    -1, FL_TEXT_NONE);
	g_clear_pointer(&stmt, sqlite3_finalize);
	sqlite3_close(db);
	if (why != NULL) {
		fl_task_return_new_error(
			task, FL_ERROR_FAILED,
			N_("%s is damaged (%s): refusing to use it (the file is "
			   "kept); restore it from a backup, or recover the sessions "
			   "into a new store with flotillad --rebuild NEW.db"),
			path, why);
		return;
	}
	g_task_return_boolean(task, TRUE);
}

void
fl_store_check_async(FlStore *self, GCancellable *cancellable, GAsyncReadyCallback callback,
		     gpointer user_data)
{
	g_autoptr(GTask) task = NULL;

	g_return_if_fail(FL_IS_STORE(self));

	task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, fl_store_check_async);
	g_task_set_task_data(task, g_build_filename(self->state_dir, "flotilla.db", NULL), g_free);
	g_task_run_in_thread(task, fl_store_check_thread);
}

gboolean
fl_store_check_finish(FlStore *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(FL_IS_STORE(self), FALSE);
	g_return_val_if_fail(g_task_is_valid(res, self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	return g_task_propagate_boolean(G_TASK(res), error);
}

FlStore *
fl_store_new(const gchar *state_dir, GError **error)
{
	g_autoptr(FlStore) self = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *sessions = NULL;
	gint version;
	gint rc;

	g_return_val_if_fail(state_dir != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	self = g_object_new(FL_TYPE_STORE, NULL);
	path = g_build_filename(state_dir, "flotilla.db", NULL);
	sessions = g_build_filename(state_dir, "sessions", NULL);
	self->state_dir = g_strdup(state_dir);
	if (!fl_ensure_dir(state_dir, &error_local)) {
		g_set_error_literal(error, FL_ERROR, FL_ERROR_FAILED, error_local->message);
		return NULL;
	}
	/* 0700 even when the directory existed with looser permissions */
	if (g_chmod(state_dir, 0700) != 0) {
		gint saved = errno;
		fl_set_error(error, FL_ERROR_FAILED, N_("cannot make %s private: %s"), state_dir,
			     g_strerror(saved));
		return NULL;
	}
	if (!fl_store_check_empty(self, path, error))
		return NULL;
	rc = sqlite3_open_v2(path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		fl_set_error(error, FL_ERROR_FAILED, N_("cannot open %s: %s"), path,
			     self->db != NULL ? sqlite3_errmsg(self->db) : sqlite3_errstr(rc));
		return NULL;
	}
	sqlite3_busy_timeout(self->db, 5000);
	version = fl_store_check_version(self, path, error);
	if (version < 0)
		return NULL;
	/* only once the file is known to be ours; the -wal and -shm files inherit the mode */
	if (g_chmod(path, 0600) != 0) {
		gint saved = errno;
		fl_set_error(error, FL_ERROR_FAILED, N_("cannot make %s private: %s"), path,
			     g_strerror(saved));
		return NULL;
	}
	if (version < FL_STORE_SCHEMA_VERSION && !fl_store_migrate(self, path, error))
		return NULL;
	if (version == 0 && !fl_store_set_floor(self, error)) {
		fl_prefix_error(error, "%s: ", path);
		return NULL;
	}
	if (!fl_store_load_floor(self, error)) {
		fl_prefix_error(error, "%s: ", path);
		return NULL;
	}
	fl_store_prune_requests(self);
	if (!fl_ensure_dir(sessions, &error_local)) {
		g_set_error_literal(error, FL_ERROR, FL_ERROR_FAILED, error_local->message);
		return NULL;
	}
	/*
	 * WAL + FULL: a committed row survives power loss, readers never block the writer.
	 * A page cache of 512 KiB, not SQLite's 2 MiB: it holds the indexes and the rows the
	 * hot paths read; a digest of 1000 drafts scattered over the table (or `ls --all`)
	 * touches more pages than 2 MiB holds, so those reads come from the kernel's cache
	 * either way, while filling a bigger cache costs a page fault per 4 KiB and stays in RSS
	 */
	if (!fl_store_exec(self,
			   "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; "
			   "PRAGMA cache_size = -512;",
			   error)) {
		fl_prefix_error(error, "%s: ", path);
		return NULL;
	}
	return g_steal_pointer(&self);
}

static void
fl_store_finalize(GObject *object)
{
	FlStore *self = FL_STORE(object);

	/* sqlite3_close() refuses while any statement is left */
	for (guint i = 0; i < FL_STORE_N_STMTS; i++)
		sqlite3_finalize(self->stmts[i]);
	if (self->db != NULL)
		sqlite3_close(self->db);
	g_free(self->state_dir);
	G_OBJECT_CLASS(fl_store_parent_class)->finalize(object);
}

static void
fl_store_class_init(FlStoreClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = fl_store_finalize;
}

static void
fl_store_init(FlStore *self)
{
}

const gchar *
fl_store_get_state_dir(FlStore *self)
{
	g_return_val_if_fail(FL_IS_STORE(self), NULL);

	return self->state_dir;
}

static void
fl_store_bind_text(sqlite3_stmt *stmt, gint idx, const gchar *s)
{
	if (s == NULL)
		sqlite3_bind_null(stmt, idx);
	else
		sqlite3_bind_text(stmt, idx, s, -1, SQLITE_STATIC);
}

static void
fl_store_bind_time(sqlite3_stmt *stmt, gint idx, gint64 t)
{
	if (t <= 0)
		sqlite3_bind_null(stmt, idx);
	else
		sqlite3_bind_int64(stmt, idx, t);
}

/* binds columns 2.. in FL_SESSION_COLUMNS order; column 1 (id) is the caller's */
static void
fl_store_bind_session(sqlite3_stmt *stmt, const FlSessionData *d)
{
	fl_store_bind_text(stmt, 2, d->name);
	fl_store_bind_text(stmt, 3, d->goal);
	fl_store_bind_text(stmt, 4, d->agent);
	fl_store_bind_text(stmt, 5, d->repo);
	fl_store_bind_text(stmt, 6, d->base);
	fl_store_bind_text(stmt, 7, d->base_commit);
	fl_store_bind_text(stmt, 8, d->branch);
	fl_store_bind_text(stmt, 9, d->worktree);
	fl_store_bind_text(stmt, 10, d->verify_command);
	fl_store_bind_text(stmt, 11, fl_state_to_string(d->state));
	fl_store_bind_text(stmt, 12, fl_review_to_string(d->review));
	fl_store_bind_time(stmt, 13, d->created);
	fl_store_bind_time(stmt, 14, d->started);
	fl_store_bind_time(stmt, 15, d->finished);
	if (d->has_exit) {
		sqlite3_bind_int(stmt, 16, d->exit_code);
		sqlite3_bind_int(stmt, 17, d->signal);
	} else {
		sqlite3_bind_null(stmt, 16);
		sqlite3_bind_null(stmt, 17);
	}
	fl_store_bind_text(stmt, 18, fl_verify_to_string(d->verify));
	fl_store_bind_text(stmt, 19, d->diffstat);
	if (d->cost_usd >= 0)
		sqlite3_bind_double(stmt, 20, d->cost_usd);
	else
		sqlite3_bind_null(stmt, 20);
	if (d->turns > 0)
		sqlite3_bind_int64(stmt, 21, d->turns);
	else
		sqlite3_bind_null(stmt, 21);
	fl_store_bind_text(stmt, 22, d->waiting_for);
	fl_store_bind_text(stmt, 23, d->final_message);
	fl_store_bind_text(stmt, 24, d->reason);
	fl_store_bind_text(stmt, 25, d->merge_commit);
	fl_store_bind_text(stmt, 26, d->agent_session);
	fl_store_bind_text(stmt, 27, d->links_outside);
	fl_store_bind_text(stmt, 28, d->verify_commit);
	fl_store_bind_text(stmt, 29, d->placement);
	if (d->memory_mb > 0)
		sqlite3_bind_int64(stmt, 30, (gint64)d->memory_mb);
	else
		sqlite3_bind_null(stmt, 30);
	if (d->time_minutes > 0)
		sqlite3_bind_int64(stmt, 31, d->time_minutes);
	else
		sqlite3_bind_null(stmt, 31);
	fl_store_bind_text(stmt, 32, d->confinement);
	fl_store_bind_text(stmt, 33, d->verify_base);
	fl_store_bind_text(stmt, 34, d->refreshed_from);
	if (d->after != 0) {
		sqlite3_bind_int64(stmt, 35, d->after);
		sqlite3_bind_int(stmt, 36, d->after_done ? 1 : 0);
	} else {
		sqlite3_bind_null(stmt, 35);
		sqlite3_bind_null(stmt, 36);
	}
	fl_store_bind_text(stmt, 37, d->group);
	/* normal is NULL, as in rows from before priorities */
	fl_store_bind_text(stmt, 38,
			   d->priority != FL_PRIORITY_NORMAL ? fl_priority_to_string(d->priority)
							     : NULL);
	fl_store_bind_text(stmt, 39, d->subdir);
	if (d->budget_usd > 0)
		sqlite3_bind_double(stmt, 40, d->budget_usd);
	else
		sqlite3_bind_null(stmt, 40);
	fl_store_bind_time(stmt, 41, d->cleaned);
}

static gchar *
fl_store_column_text(sqlite3_stmt *stmt, gint col)
{
	const guchar *s = sqlite3_column_text(stmt, col);

	return s != NULL ? g_strdup((const gchar *)s) : NULL;
}

static FlSessionData *
fl_store_read_session(sqlite3_stmt *stmt)
{
	g_autoptr(FlSessionData) d = fl_session_data_new();
	const gchar *state = (const gchar *)sqlite3_column_text(stmt, 10);
	const gchar *review = (const gchar *)sqlite3_column_text(stmt, 11);

	d->id = (guint)sqlite3_column_int64(stmt, 0);
	d->name = fl_store_column_text(stmt, 1);
	d->goal = fl_store_column_text(stmt, 2);
	d->agent = fl_store_column_text(stmt, 3);
	d->repo = fl_store_column_text(stmt, 4);
	d->base = fl_store_column_text(stmt, 5);
	d->base_commit = fl_store_column_text(stmt, 6);
	d->branch = fl_store_column_text(stmt, 7);
	d->worktree = fl_store_column_text(stmt, 8);
	d->verify_command = fl_store_column_text(stmt, 9);
	if (!fl_state_from_string(state, &d->state))
		d->state = FL_STATE_INTERRUPTED;
	if (!fl_review_from_string(review, &d->review))
		d->review = FL_REVIEW_NONE;
	d->created = sqlite3_column_int64(stmt, 12);
	d->started = sqlite3_column_int64(stmt, 13);
	d->finished = sqlite3_column_int64(stmt, 14);
	d->has_exit = sqlite3_column_type(stmt, 15) != SQLITE_NULL;
	d->exit_code = sqlite3_column_int(stmt, 15);
	d->signal = sqlite3_column_int(stmt, 16);
	fl_verify_from_string((const gchar *)sqlite3_column_text(stmt, 17), &d->verify);
	d->diffstat = fl_store_column_text(stmt, 18);
	d->cost_usd =
		sqlite3_column_type(stmt, 19) != SQLITE_NULL ? sqlite3_column_double(stmt, 19) : -1;
	d->turns = (guint)sqlite3_column_int64(stmt, 20);
	d->waiting_for = fl_store_column_text(stmt, 21);
	d->final_message = fl_store_column_text(stmt, 22);
	d->reason = fl_store_column_text(stmt, 23);
	d->merge_commit = fl_store_column_text(stmt, 24);
	d->agent_session = fl_store_column_text(stmt, 25);
	d->links_outside = fl_store_column_text(stmt, 26);
	d->verify_commit = fl_store_column_text(stmt, 27);
	d->placement = fl_store_column_text(stmt, 28);
	d->memory_mb = (guint64)MAX(sqlite3_column_int64(stmt, 29), 0);
	d->time_minutes = (guint)CLAMP(sqlite3_column_int64(stmt, 30), 0, G_MAXUINT);
	d->confinement = fl_store_column_text(stmt, 31);
	d->verify_base = fl_store_column_text(stmt, 32);
	d->refreshed_from = fl_store_column_text(stmt, 33);
	d->after = (guint)CLAMP(sqlite3_column_int64(stmt, 34), 0, G_MAXUINT);
	d->after_done = sqlite3_column_int(stmt, 35) != 0;
	d->group = fl_store_column_text(stmt, 36);
	/* unknown text (a newer daemon's) waits like a normal one */
	fl_priority_from_string((const gchar *)sqlite3_column_text(stmt, 37), &d->priority);
	d->subdir = fl_store_column_text(stmt, 38);
	d->budget_usd =
		sqlite3_column_type(stmt, 39) != SQLITE_NULL ? sqlite3_column_double(stmt, 39) : 0;
	d->cleaned = sqlite3_column_int64(stmt, 40);
	return g_steal_pointer(&d);
}

/* after a rollback no id handed out in the transaction exists */
static void
fl_store_clear_ids(GPtrArray *datas)
{
	for (guint i = 0; i < datas->len; i++) {
		FlSessionData *d = g_ptr_array_index(datas, i);
		d->id = 0;
	}
}

gboolean
fl_store_insert_sessions(FlStore *self, GPtrArray *datas, const gchar *queued_by,
			 const gchar *token, GError **error)
{
	return fl_store_insert_grouped(self, datas, queued_by, token, NULL, FALSE, error);
}

/* the group row of @d's group, made with @policy when it is new */
static gboolean
fl_store_group_ensure(FlStore *self, const gchar *name, const gchar *policy, GError **error)
{
	g_autoptr(FlStoreCached) stmt = fl_store_cached(self, FL_STORE_STMT_GROUP_ENSURE, error);

	if (stmt == NULL)
		return FALSE;
	fl_store_bind_text(stmt, 1, name);
	fl_store_bind_text(stmt, 2, policy != NULL ? policy : "all");
	sqlite3_bind_int64(stmt, 3, g_get_real_time());
	if (sqlite3_step(stmt) != SQLITE_DONE)
		return fl_store_fail(self, error, "cannot record group");
	return TRUE;
}

gboolean
fl_store_insert_grouped(FlStore *self, GPtrArray *datas, const gchar *queued_by, const gchar *token,
			const gchar *policy, gboolean name_by_id, GError **error)
{
	g_autoptr(FlStoreCached) stmt = NULL;
	gint64 next = 0;

	g_return_val_if_fail(FL_IS_STORE(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	stmt = fl_store_cached(self, FL_STORE_STMT_INSERT_SESSION, error);
	if (stmt == NULL)
		return FALSE;
	if (!fl_store_exec(self, "BEGIN IMMEDIATE", error))
		return FALSE;
	if (self->id_floor > 0) {
		/* explicit ids only while the floor is above what the table holds */
		gint highest =
			fl_store_int_query(self, "SELECT IFNULL(MAX(id), 0) FROM sessions", NULL);
		if (highest >= 0 && (guint)highest < self->id_floor)
			next = (gint64)self->id_floor + 1;
	}
	if (name_by_id) {
		/* the first new id, as SQLite assigns it (one above the highest) under this
		 * write lock, ends the group's name: unique without asking the user */
		gint64 first =
			next > 0 ? next
				 : (gint64)fl_store_int_query(
					   self, "SELECT IFNULL(MAX(id), 0) FROM sessions", NULL) +
					   1;
		for (guint i = 0; i < datas->len; i++) {
			FlSessionData *d = g_ptr_array_index(datas, i);
			g_autofree gchar *prefix = d->group;
			d->group = g_strdup_printf("%s-%" G_GINT64_FORMAT, prefix, first);
		}
	}
	for (guint i = 0; i < datas->len; i++) {
		FlSessionData *d = g_ptr_array_index(datas, i);
		if (d->group != NULL && !fl_store_group_ensure(self, d->group, policy, error)) {
			fl_store_exec(self, "ROLLBACK", NULL);
			fl_store_clear_ids(datas);
			return FALSE;
		}
		sqlite3_reset(stmt);
		if (next > 0)
			sqlite3_bind_int64(stmt, 1, next++);
		else
			sqlite3_bind_null(stmt, 1);
		fl_store_bind_session(stmt, d);
		if (sqlite3_step(stmt) != SQLITE_DONE) {
			fl_store_fail(self, error, "cannot record session");
			fl_store_exec(self, "ROLLBACK", NULL);
			fl_store_clear_ids(datas);
			return FALSE;
		}
		d->id = (guint)sqlite3_last_insert_rowid(self->db);
		if (queued_by != NULL &&
		    !fl_store_add_event(self, d->id, "queued", queued_by, NULL, error)) {
			fl_store_exec(self, "ROLLBACK", NULL);
			fl_store_clear_ids(datas);
			return FALSE;
		}
	}
	if (token != NULL) {
		/* the answer a retried call with the same token gets: the ids, in order */
		g_autoptr(GString) ids = g_string_new(NULL);
		for (guint i = 0; i < datas->len; i++) {
			FlSessionData *d = g_ptr_array_index(datas, i);
			g_string_append_printf(ids, "%s%u", i > 0 ? " " : "", d->id);
		}
		if (!fl_store_request_set(self, token, "Run", ids->str, error)) {
			fl_store_exec(self, "ROLLBACK", NULL);
			fl_store_clear_ids(datas);
			return FALSE;
		}
	}
	if (!fl_store_exec(self, "COMMIT", error)) {
		fl_store_exec(self, "ROLLBACK", NULL);
		fl_store_clear_ids(datas);
		return FALSE;
	}
	return TRUE;
}

gboolean
fl_store_update_session(FlStore *self, const FlSessionData *data, GError **error)
{
	g_autoptr(FlStoreCached) stmt = NULL;

	g_return_val_if_fail(FL_IS_STORE(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	stmt = fl_store_cached(self, FL_STORE_STMT_UPDATE_SESSION, error);
	if (stmt == NULL)
		return FALSE;
	sqlite3_bind_int64(stmt, 1, data->id);
	fl_store_bind_session(stmt, data);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		return fl_store_fail(self, error, "cannot record session");
	if (sqlite3_changes(self->db) == 0) {
		fl_set_error(error, FL_ERROR_NOT_FOUND, N_("no session %u"), data->id);
		return FALSE;
	}
	return TRUE;
}

FlSessionData *
fl_store_get_session(FlStore *self, guint id, GError **error)
{
	g_autoptr(FlStoreCached) stmt = NULL;

	g_return_val_if_fail(FL_IS_STORE(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	stmt = fl_store_cached(self, FL_STORE_STMT_GET_SESSION, error);
	if (stmt == NULL)
		return NULL;
	sqlite3_bind_int64(stmt, 1, id);
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		fl_set_error(error, FL_ERROR_NOT_FOUND, N_("no session %u"), id);
		return NULL;
	}
	return fl_store_read_session(stmt);
}

/* @extra (nullable) gets the column after the session's of each row */
static GPtrArray *
fl_store_query_sessions_bound(FlStore *self, FlStoreStmt which, GArray *extra, gint64 arg,
			      GError **error)
{
	g_autoptr(FlStoreCached) stmt = fl_store_cached(self, which, error);
	g_autoptr(GPtrArray) result = NULL;
	gint rc;

	if (stmt == NULL)
		return NULL;
	if (which == FL_STORE_STMT_CLEANABLE)
		sqlite3_bind_int64(stmt, 1, arg);
	result = g_ptr_array_new_with_free_func((GDestroyNotify)fl_session_data_free);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		g_ptr_array_add(result, fl_store_read_session(stmt));
		if (extra != NULL) {
			gint64 value = sqlite3_column_int64(stmt, FL_SESSION_N_COLUMNS);
			g_array_append_val(extra, value);
		}
	}
	if (rc != SQLITE_DONE) {
		fl_store_fail(self, error, "database");
		return NULL;
	}
	return g_steal_pointer(&result);
}

static GPtrArray *
fl_store_query_sessions(FlStore *self, FlStoreStmt which, GArray *extra, GError **error)
{
	return fl_store_query_sessions_bound(self, which, extra, 0, error);
}

GPtrArray *
fl_store_get_cleanable(FlStore *self, gint64 finished_before, GError **error)
{
	g_return_val_if_fail(FL_IS_STORE(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	return fl_store_query_sessions_bound(self, FL_STORE_STMT_CLEANABLE, NULL, finished_before,
					     error);
}

GPtrArray *
fl_store_get_active(FlStore *self, GError **error)
{
	g_return_val_if_fail(FL_IS_STORE(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	return fl_store_query_sessions(self, FL_STORE_STMT_ACTIVE, NULL, error);
}

GPtrArray *
fl_store_get_pending(FlStore *self, GError **error)
{
	g_return_val_if_fail(FL_IS_STORE(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	return fl_store_query_sessions(self, FL_STORE_STMT_PENDING, NULL, error);
}

GPtrArray *
fl_store_get_failures(FlStore *self, GError **error)
{
	g_return_val_if_fail(FL_IS_STORE(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	return fl_store_query_sessions(self, FL_STORE_STMT_FAILURES, NULL, error);
}

GPtrArray *
fl_store_get_attention(FlStore *self, GArray **announced, GError **error)
{
	g_autoptr(GArray) times = g_array_new(FALSE, FALSE, sizeof(gint64));
	g_autoptr(GPtrArray) result = NULL;

	g_return_val_if_fail(FL_IS_STORE(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	result = fl_store_query_sessions(self, FL_STORE_STMT_ATTENTION, times, error);
	if (result == NULL)
		return NULL;
	if (announced != NULL)
		*announced = g_steal_pointer(&times);
	return g_steal_pointer(&result);
}

static GVariant *
fl_store_list(FlStore *self, gboolean all, guint limit, guint recent, guint before, GError **error)
{
	g_autoptr(FlStoreCached) stmt = NULL;
	GVariantBuilder builder;
	gint rc;

	stmt = fl_store_cached(self, all ? FL_STORE_STMT_LIST_ALL : FL_STORE_STMT_LIST_VIEW, error);
	if (stmt == NULL)
		return NULL;
	sqlite3_bind_int64(stmt, 1, limit > 0 ? (gint64)limit : -1);
	if (all)
		sqlite3_bind_int64(stmt, 2, before > 0 ? (gint64)before : G_MAXINT64);
	else
		sqlite3_bind_int64(stmt, 2, recent);
	g_variant_builder_init(&builder, G_VARIANT_TYPE("aa{sv}"));
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		g_autoptr(FlSessionData) d = fl_store_read_session(stmt);
		g_variant_builder_add_value(&builder,
					    fl_session_data_to_variant(d, self->state_dir));
	}
	if (rc != SQLITE_DONE) {
		g_variant_builder_clear(&builder);
		fl_store_fail(self, error, "database");
		return NULL;
	}
	return g_variant_builder_end(&builder);
}

GVariant *
fl_store_list_variants(FlStore *self, gboolean all, guint limit, guint recent, GError **error)
{
	g_return_val_if_fail(FL_IS_STORE(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	return fl_store_list(self, all, limit, recent, 0, error);
}

GVariant *
fl_store_list_page(FlStore *self, guint before, guint limit, GError **error)
{
	g_return_val_if_fail(FL_IS_STORE(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	return fl_store_list(self, TRUE, limit, 0, before, error);
}

guint
fl_store_count_pending_review(FlStore *self)
{
	g_autoptr(FlStoreCached) stmt = NULL;

	g_return_val_if_fail(FL_IS_STORE(self), 0);

	stmt = fl_store_cached(self, FL_STORE_STMT_COUNT_PENDING, NULL);
	if (stmt == NULL || sqlite3_step(stmt) != SQLITE_ROW)
		return 0;
	return (guint)sqlite3_column_int64(stmt, 0);
}

gdouble
fl_store_get_cost_since(FlStore *self, gint64 since)
{
	g_autoptr(FlStoreCached) stmt = NULL;

	g_return_val_if_fail(FL_IS_STORE(self), 0);

	stmt = fl_store_cached(self, FL_STORE_STMT_COST_SINCE, NULL);
	if (stmt == NULL)
		return 0;
	sqlite3_bind_int64(stmt, 1, since);
	if (sqlite3_step(stmt) != SQLITE_ROW)
		return 0;
	return sqlite3_column_double(stmt, 0);
}

gboolean
fl_store_add_event(FlStore *self, guint session_id, const gchar *kind, const gchar *source,
		   const gchar *note, GError **error)
{
	g_autoptr(FlStoreCached) stmt = NULL;

	g_return_val_if_fail(FL_IS_STORE(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	stmt = fl_store_cached(self, FL_STORE_STMT_ADD_EVENT, error);
	if (stmt == NULL)
		return FALSE;
	sqlite3_bind_int64(stmt, 1, session_id);
	sqlite3_bind_int64(stmt, 2, fl_now());
	fl_store_bind_text(stmt, 3, kind);
	fl_store_bind_text(stmt, 4, source);
	fl_store_bind_text(stmt, 5, note);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		return fl_store_fail(self, error, "cannot record event");
	return TRUE;
}

GVariant *
fl_store_get_events(FlStore *self, guint session_id, GError **error)
{
	g_autoptr(FlStoreCached) stmt = NULL;
	GVariantBuilder builder;
	gint rc;

	g_return_val_if_fail(FL_IS_STORE(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	stmt = fl_store_cached(self, FL_STORE_STMT_GET_EVENTS, error);
	if (stmt == NULL)
		return NULL;
	sqlite3_bind_int64(stmt, 1, session_id);
	g_variant_builder_init(&builder, G_VARIANT_TYPE("a(ssss)"));
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		g_autofree gchar *when = fl_time_iso8601(sqlite3_column_int64(stmt, 0));
		const gchar *kind = (const gchar *)sqlite3_column_text(stmt, 1);
		const gchar *source = (const gchar *)sqlite3_column_text(stmt, 2);
		const gchar *stored = (const gchar *)sqlite3_column_text(stmt, 3);
		/* a note that is a session's reason is a message: in the caller's language */
		g_autofree gchar *note = stored != NULL ? fl_msg_render_stored(stored) : NULL;

		g_variant_builder_add(&builder, "(ssss)", when != NULL ? when : "",
				      kind != NULL ? kind : "", source != NULL ? source : "",
				      note != NULL ? note : "");
	}
	if (rc != SQLITE_DONE) {
		g_variant_builder_clear(&builder);
		fl_store_fail(self, error, "database");
		return NULL;
	}
	return g_variant_builder_end(&builder);
}

gint64
fl_store_ledger_get(FlStore *self, guint session_id, FlLedgerEvent event)
{
	g_autoptr(FlStoreCached) stmt = NULL;

	g_return_val_if_fail(FL_IS_STORE(self), 0);

	stmt = fl_store_cached(self, FL_STORE_STMT_LEDGER_GET, NULL);
	if (stmt == NULL)
		return 0;
	sqlite3_bind_int64(stmt, 1, session_id);
	sqlite3_bind_text(stmt, 2, fl_ledger_event_to_string(event), -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_ROW)
		return 0;
	return sqlite3_column_int64(stmt, 0);
}

gboolean
fl_store_ledger_set(FlStore *self, guint session_id, FlLedgerEvent event, gint64 when,
		    GError **error)
{
	g_autoptr(FlStoreCached) stmt = NULL;

	g_return_val_if_fail(FL_IS_STORE(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	stmt = fl_store_cached(self, FL_STORE_STMT_LEDGER_SET, error);
	if (stmt == NULL)
		return FALSE;
	sqlite3_bind_int64(stmt, 1, session_id);
	sqlite3_bind_text(stmt, 2, fl_ledger_event_to_string(event), -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, when);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		return fl_store_fail(self, error, "cannot record announcement");
	return TRUE;
}

void
fl_store_begin(FlStore *self)
{
	g_autoptr(GError) error = NULL;

	g_return_if_fail(FL_IS_STORE(self));

	if (!fl_store_exec(self, "BEGIN IMMEDIATE", &error))
		g_warning("%s", error->message);
}

gboolean
fl_store_commit(FlStore *self)
{
	g_autoptr(GError) error = NULL;

	g_return_val_if_fail(FL_IS_STORE(self), FALSE);

	if (!fl_store_exec(self, "COMMIT", &error)) {
		g_warning("%s", error->message);
		fl_store_exec(self, "ROLLBACK", NULL);
		return FALSE;
	}
	return TRUE;
}

void
fl_store_rollback(FlStore *self)
{
	g_return_if_fail(FL_IS_STORE(self));

	/* SQLite may have rolled back already (a full disk does): nothing to say then */
	if (sqlite3_get_autocommit(self->db) == 0)
		fl_store_exec(self, "ROLLBACK", NULL);
}

void
fl_intent_free(FlIntent *intent)
{
	if (intent == NULL)
		return;
	g_free(intent->op);
	g_free(intent->phase);
	g_free(intent->draft_tip);
	g_free(intent->note);
	g_free(intent->source);
	g_free(intent->token);
	g_free(intent);
}

gboolean
fl_store_intent_set(FlStore *self, const FlIntent *intent, GError **error)
{
	g_autoptr(FlStoreCached) stmt = NULL;

	g_return_val_if_fail(FL_IS_STORE(self), FALSE);
	g_return_val_if_fail(intent != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	stmt = fl_store_cached(self, FL_STORE_STMT_INTENT_SET, error);
	if (stmt == NULL)
		return FALSE;
	sqlite3_bind_int64(stmt, 1, intent->id);
	fl_store_bind_text(stmt, 2, intent->op);
	fl_store_bind_text(stmt, 3, intent->phase);
	fl_store_bind_text(stmt, 4, intent->draft_tip);
	fl_store_bind_text(stmt, 5, intent->note);
	fl_store_bind_text(stmt, 6, intent->source);
	fl_store_bind_text(stmt, 7, intent->token);
	sqlite3_bind_int64(stmt, 8, intent->created > 0 ? intent->created : fl_now());
	if (sqlite3_step(stmt) != SQLITE_DONE)
		return fl_store_fail(self, error, "cannot record the decision");
	return TRUE;
}

gboolean
fl_store_intent_clear(FlStore *self, guint id, GError **error)
{
	g_autoptr(FlStoreCached) stmt = NULL;

	g_return_val_if_fail(FL_IS_STORE(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	stmt = fl_store_cached(self, FL_STORE_STMT_INTENT_CLEAR, error);
	if (stmt == NULL)
		return FALSE;
	sqlite3_bind_int64(stmt, 1, id);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		return fl_store_fail(self, error, "cannot record the decision");
	return TRUE;
}

GPtrArray *
fl_store_get_intents(FlStore *self, GError **error)
{
	g_autoptr(FlStoreCached) stmt = NULL;
	g_autoptr(GPtrArray) result = NULL;
	gint rc;

	g_return_val_if_fail(FL_IS_STORE(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	stmt = fl_store_cached(self, FL_STORE_STMT_INTENTS, error);
	if (stmt == NULL)
		return NULL;
	result = g_ptr_array_new_with_free_func((GDestroyNotify)fl_intent_free);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		FlIntent *intent = g_new0(FlIntent, 1);
		intent->id = (guint)sqlite3_column_int64(stmt, 0);
		intent->op = fl_store_column_text(stmt, 1);
		intent->phase = fl_store_column_text(stmt, 2);
		intent->draft_tip = fl_store_column_text(stmt, 3);
		intent->note = fl_store_column_text(stmt, 4);
		intent->source = fl_store_column_text(stmt, 5);
		intent->token = fl_store_column_text(stmt, 6);
		intent->created = sqlite3_column_int64(stmt, 7);
		g_ptr_array_add(result, intent);
	}
	if (rc != SQLITE_DONE) {
		fl_store_fail(self, error, "database");
		return NULL;
	}
	return g_steal_pointer(&result);
}

void
fl_group_free(FlGroup *group)
{
	if (group == NULL)
		return;
	g_free(group->name);
	g_free(group->policy);
	g_free(group);
}

FlGroup *
fl_store_get_group(FlStore *self, const gchar *name, GError **error)
{
	g_autoptr(FlStoreCached) stmt = NULL;
	FlGroup *group;
	gint rc;

	g_return_val_if_fail(FL_IS_STORE(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	stmt = fl_store_cached(self, FL_STORE_STMT_GROUP_GET, error);
	if (stmt == NULL)
		return NULL;
	fl_store_bind_text(stmt, 1, name);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		fl_set_error(error, FL_ERROR_NOT_FOUND, N_("no group @%s"), name);
		return NULL;
	}
	if (rc != SQLITE_ROW) {
		fl_store_fail(self, error, "database");
		return NULL;
	}
	group = g_new0(FlGroup, 1);
	group->name = fl_store_column_text(stmt, 0);
	group->policy = fl_store_column_text(stmt, 1);
	group->paused = sqlite3_column_int(stmt, 2) != 0;
	group->winner = (guint)MAX(sqlite3_column_int64(stmt, 3), 0);
	return group;
}

gboolean
fl_store_set_group(FlStore *self, const FlGroup *group, GError **error)
{
	g_autoptr(FlStoreCached) stmt = NULL;

	g_return_val_if_fail(FL_IS_STORE(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	stmt = fl_store_cached(self, FL_STORE_STMT_GROUP_SET, error);
	if (stmt == NULL)
		return FALSE;
	fl_store_bind_text(stmt, 1, group->name);
	sqlite3_bind_int(stmt, 2, group->paused ? 1 : 0);
	if (group->winner > 0)
		sqlite3_bind_int64(stmt, 3, group->winner);
	else
		sqlite3_bind_null(stmt, 3);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		return fl_store_fail(self, error, "cannot record group");
	return TRUE;
}

GPtrArray *
fl_store_get_group_members(FlStore *self, const gchar *name, GError **error)
{
	g_autoptr(FlStoreCached) stmt = NULL;
	g_autoptr(GPtrArray) result = NULL;
	gint rc;

	g_return_val_if_fail(FL_IS_STORE(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	stmt = fl_store_cached(self, FL_STORE_STMT_GROUP_MEMBERS, error);
	if (stmt == NULL)
		return NULL;
	fl_store_bind_text(stmt, 1, name);
	result = g_ptr_array_new_with_free_func((GDestroyNotify)fl_session_data_free);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		g_ptr_array_add(result, fl_store_read_session(stmt));
	if (rc != SQLITE_DONE) {
		fl_store_fail(self, error, "database");
		return NULL;
	}
	return g_steal_pointer(&result);
}

void
fl_group_intent_free(FlGroupIntent *intent)
{
	if (intent == NULL)
		return;
	g_free(intent->name);
	g_free(intent->op);
	g_free(intent->members);
	g_free(intent->note);
	g_free(intent->source);
	g_free(intent);
}

gboolean
fl_store_group_intent_set(FlStore *self, const FlGroupIntent *intent, GError **error)
{
	g_autoptr(FlStoreCached) stmt = NULL;

	g_return_val_if_fail(FL_IS_STORE(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	stmt = fl_store_cached(self, FL_STORE_STMT_GROUP_INTENT_SET, error);
	if (stmt == NULL)
		return FALSE;
	fl_store_bind_text(stmt, 1, intent->name);
	fl_store_bind_text(stmt, 2, intent->op);
	fl_store_bind_text(stmt, 3, intent->members);
	fl_store_bind_text(stmt, 4, intent->note);
	fl_store_bind_text(stmt, 5, intent->source);
	sqlite3_bind_int64(stmt, 6, g_get_real_time());
	if (sqlite3_step(stmt) != SQLITE_DONE)
		return fl_store_fail(self, error, "cannot record group intent");
	return TRUE;
}

gboolean
fl_store_group_intent_clear(FlStore *self, const gchar *name, GError **error)
{
	g_autoptr(FlStoreCached) stmt = NULL;

	g_return_val_if_fail(FL_IS_STORE(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	stmt = fl_store_cached(self, FL_STORE_STMT_GROUP_INTENT_CLEAR, error);
	if (stmt == NULL)
		return FALSE;
	fl_store_bind_text(stmt, 1, name);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		return fl_store_fail(self, error, "cannot clear group intent");
	return TRUE;
}

GPtrArray *
fl_store_get_group_intents(FlStore *self, GError **error)
{
	g_autoptr(FlStoreCached) stmt = NULL;
	g_autoptr(GPtrArray) result = NULL;
	gint rc;

	g_return_val_if_fail(FL_IS_STORE(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	stmt = fl_store_cached(self, FL_STORE_STMT_GROUP_INTENTS, error);
	if (stmt == NULL)
		return NULL;
	result = g_ptr_array_new_with_free_func((GDestroyNotify)fl_group_intent_free);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		FlGroupIntent *intent = g_new0(FlGroupIntent, 1);
		intent->name = fl_store_column_text(stmt, 0);
		intent->op = fl_store_column_text(stmt, 1);
		intent->members = fl_store_column_text(stmt, 2);
		intent->note = fl_store_column_text(stmt, 3);
		intent->source = fl_store_column_text(stmt, 4);
		g_ptr_array_add(result, intent);
	}
	if (rc != SQLITE_DONE) {
		fl_store_fail(self, error, "database");
		return NULL;
	}
	return g_steal_pointer(&result);
}

gchar *
fl_store_request_get(FlStore *self, const gchar *token, const gchar *method)
{
	g_autoptr(FlStoreCached) stmt = NULL;

	g_return_val_if_fail(FL_IS_STORE(self), NULL);

	stmt = fl_store_cached(self, FL_STORE_STMT_REQUEST_GET, NULL);
	if (stmt == NULL || token == NULL)
		return NULL;
	sqlite3_bind_text(stmt, 1, token, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, method, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_ROW)
		return NULL;
	return fl_store_column_text(stmt, 0);
}

gboolean
fl_store_request_set(FlStore *self, const gchar *token, const gchar *method, const gchar *answer,
		     GError **error)
{
	g_autoptr(FlStoreCached) stmt = NULL;

	g_return_val_if_fail(FL_IS_STORE(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	stmt = fl_store_cached(self, FL_STORE_STMT_REQUEST_SET, error);
	if (stmt == NULL)
		return FALSE;
	sqlite3_bind_text(stmt, 1, token, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, method, -1, SQLITE_STATIC);
	fl_store_bind_text(stmt, 3, answer);
	sqlite3_bind_int64(stmt, 4, fl_now());
	if (sqlite3_step(stmt) != SQLITE_DONE)
		return fl_store_fail(self, error, "cannot record the answer");
	return TRUE;
}

/* ------------------------------------------------------------------ check and rebuild */

gboolean
fl_store_check_path(const gchar *path, guint *count, GError **error)
{
	g_autoptr(sqlite3_stmt) stmt = NULL;
	g_autofree gchar *why = NULL;
	sqlite3 *db = NULL;
	const gchar *result = NULL;
	GStatBuf st;

	g_return_val_if_fail(path != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (g_stat(path, &st) != 0) {
		gint saved = errno;
		fl_set_error(error, FL_ERROR_NOT_FOUND, N_("cannot read %s: %s"), path,
			     g_strerror(saved));
		return FALSE;
	}
	if (st.st_size == 0) {
		fl_set_error(error, FL_ERROR_FAILED, N_("%s is empty"), path);
		return FALSE;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_busy_timeout(db, 5000) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "PRAGMA integrity_check(1)", -1, &stmt, NULL) == SQLITE_OK &&
	    sqlite3_step(stmt) == SQLITE_ROW)
		result = (const gchar *)sqlite3_column_text(stmt, 0);
	if (g_strcmp0(result, "ok") != 0)
		why = fl_text_clean(result != NULL ? result
				    : db != NULL   ? sqlite3_errmsg(db)
						   : "cannot open",
				    -1, FL_TEXT_NONE);
	g_clear_pointer(&stmt, sqlite3_finalize);
	if (why == NULL && count != NULL &&
	    sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM sessions", -1, &stmt, NULL) == SQLITE_OK &&
	    sqlite3_step(stmt) == SQLITE_ROW)
		*count = (guint)sqlite3_column_int64(stmt, 0);
	g_clear_pointer(&stmt, sqlite3_finalize);
	sqlite3_close(db);
	if (why != NULL) {
		fl_set_error(error, FL_ERROR_FAILED, N_("%s is damaged: %s"), path, why);
		return FALSE;
	}
	return TRUE;
}

/* stdout of git in @dir, stripped; NULL when it fails */
static gchar *
fl_store_git(const gchar *dir, const gchar *const *args)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autofree gchar *out = NULL;
	gint status = 0;

	g_ptr_array_add(argv, (gpointer) "git");
	g_ptr_array_add(argv, (gpointer) "-C");
	g_ptr_array_add(argv, (gpointer)dir);
	for (guint i = 0; args[i] != NULL; i++)
		g_ptr_array_add(argv, (gpointer)args[i]);
	g_ptr_array_add(argv, NULL);
	if (!g_spawn_sync(NULL, (gchar **)argv->pdata, NULL,
			  G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL,
			  &status, NULL) ||
	    !g_spawn_check_wait_status(status, NULL))
		return NULL;
	return g_strstrip(g_steal_pointer(&out));
}

/* the repository a draft worktree belongs to, from its .git file and the commondir */
static gchar *
fl_store_worktree_repo(const gchar *worktree)
{
	const gchar *args[] = {"rev-parse", "--path-format=absolute", "--git-common-dir", NULL};
	g_autofree gchar *dotgit = g_build_filename(worktree, ".git", NULL);
	g_autofree gchar *common = NULL;

	if (!g_file_test(dotgit, G_FILE_TEST_IS_REGULAR))
		return NULL;
	common = fl_store_git(worktree, args);
	if (common == NULL || !g_str_has_suffix(common, "/.git"))
		return NULL;
	return g_path_get_dirname(common);
}

/* what the files of session @id say about it: enough to review, approve or reject a draft */
static FlSessionData *
fl_store_recover_session(const gchar *state_dir, guint id)
{
	g_autofree gchar *name = g_strdup_printf("%u", id);
	g_autofree gchar *dir = g_build_filename(state_dir, "sessions", name, NULL);
	g_autofree gchar *exit_path = g_build_filename(dir, "exit.json", NULL);
	g_autofree gchar *request_path = g_build_filename(dir, "http-request.json", NULL);
	g_autofree gchar *log_path = g_build_filename(dir, "output.log", NULL);
	g_autofree gchar *worktree = g_build_filename(state_dir, "worktrees", name, NULL);
	g_autoptr(JsonObject) exit = fl_read_json_object(exit_path, NULL);
	g_autoptr(JsonObject) request = fl_read_json_object(request_path, NULL);
	FlSessionData *d = fl_session_data_new();
	GStatBuf st;

	d->id = id;
	d->agent = g_strdup("shell");
	d->created = g_stat(dir, &st) == 0 ? (gint64)st.st_mtime * G_USEC_PER_SEC : fl_now();
	d->finished = d->created;
	d->goal = g_strdup(fl_json_get_string(request, "goal"));
	if (exit != NULL) {
		d->has_exit = TRUE;
		d->exit_code = (gint)json_object_get_int_member_with_default(exit, "code", -1);
		d->signal = (gint)json_object_get_int_member_with_default(exit, "signal", 0);
		d->state = d->exit_code == 0 && d->signal == 0 ? FL_STATE_DONE : FL_STATE_FAILED;
	} else {
		d->state = FL_STATE_INTERRUPTED;
	}
	d->final_message = fl_file_tail(log_path, 2048);
	d->reason = fl_msg_stored(N_("recovered from the session's files: the store was rebuilt"));
	if (g_file_test(worktree, G_FILE_TEST_IS_DIR)) {
		d->worktree = g_strdup(worktree);
		d->repo = fl_store_worktree_repo(worktree);
	}
	if (d->repo != NULL) {
		g_autofree gchar *branch = g_strdup_printf("flotilla/%u", id);
		g_autofree gchar *ref = g_strdup_printf("refs/heads/%s", branch);
		const gchar *head_args[] = {"symbolic-ref", "--short", "HEAD", NULL};
		const gchar *subject_args[] = {"log", "-1", "--format=%s", ref, NULL};
		g_autofree gchar *subject = NULL;
		g_autofree gchar *prefix = g_strdup_printf("flotilla #%u: ", id);

		d->branch = g_strdup(branch);
		/* the base is not in the files: the branch checked out in the repository */
		d->base = fl_store_git(d->repo, head_args);
		if (d->base != NULL) {
			const gchar *base_args[] = {"merge-base", d->base, ref, NULL};
			const gchar *diff_args[] = {"diff-tree", "--quiet", "-r",
						    d->base,     ref,       NULL};
			g_autofree gchar *same = NULL;

			d->base_commit = fl_store_git(d->repo, base_args);
			same = fl_store_git(d->repo, diff_args);
			d->review = same != NULL ? FL_REVIEW_NONE : FL_REVIEW_PENDING;
		}
		subject = fl_store_git(d->repo, subject_args);
		if (d->goal == NULL && subject != NULL && g_str_has_prefix(subject, prefix))
			d->goal = g_strdup(subject + strlen(prefix));
	}
	if (d->goal == NULL)
		d->goal = g_strdup(_("(the goal was lost with the store)"));
	return d;
}

static gint
fl_store_cmp_uint(gconstpointer a, gconstpointer b)
{
	guint ia = *(const guint *)a;
	guint ib = *(const guint *)b;

	return ia < ib ? -1 : ia > ib;
}

gboolean
fl_store_rebuild(const gchar *state_dir, const gchar *target, guint *count, GError **error)
{
	g_autoptr(FlStore) self = NULL;
	g_autofree gchar *sessions = NULL;
	g_autoptr(GDir) dir = NULL;
	g_autoptr(GArray) ids = NULL;
	g_autoptr(FlStoreCached) stmt = NULL;
	const gchar *name;

	g_return_val_if_fail(state_dir != NULL, FALSE);
	g_return_val_if_fail(target != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	sessions = g_build_filename(state_dir, "sessions", NULL);
	ids = g_array_new(FALSE, FALSE, sizeof(guint));
	/* never over an existing file: the user decides what to adopt */
	if (g_file_test(target, G_FILE_TEST_EXISTS)) {
		fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
			     N_("%s exists already: give a new file"), target);
		return FALSE;
	}
	self = g_object_new(FL_TYPE_STORE, NULL);
	self->state_dir = g_strdup(state_dir);
	if (sqlite3_open_v2(target, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		fl_set_error(error, FL_ERROR_FAILED, N_("cannot open %s: %s"), target,
			     self->db != NULL ? sqlite3_errmsg(self->db) : "?");
		return FALSE;
	}
	if (g_chmod(target, 0600) != 0 || !fl_store_migrate(self, target, error) ||
	    !fl_store_set_floor(self, error))
		return FALSE;
	dir = g_dir_open(sessions, 0, error);
	if (dir == NULL)
		return FALSE;
	while ((name = g_dir_read_name(dir)) != NULL) {
		guint64 id = 0;

		if (g_ascii_string_to_unsigned(name, 10, 1, G_MAXUINT32, &id, NULL)) {
			guint value = (guint)id;
			g_array_append_val(ids, value);
		}
	}
	g_array_sort(ids, fl_store_cmp_uint);
	stmt = fl_store_cached(self, FL_STORE_STMT_INSERT_SESSION, error);
	if (stmt == NULL || !fl_store_exec(self, "BEGIN IMMEDIATE", error))
		return FALSE;
	for (guint i = 0; i < ids->len; i++) {
		g_autoptr(FlSessionData) d =
			fl_store_recover_session(state_dir, g_array_index(ids, guint, i));

		sqlite3_reset(stmt);
		sqlite3_bind_int64(stmt, 1, d->id);
		fl_store_bind_session(stmt, d);
		if (sqlite3_step(stmt) != SQLITE_DONE ||
		    !fl_store_add_event(self, d->id, "rebuilt", "doctor", NULL, error)) {
			if (error != NULL && *error == NULL)
				fl_store_fail(self, error, target);
			fl_store_exec(self, "ROLLBACK", NULL);
			return FALSE;
		}
	}
	sqlite3_reset(stmt);
	if (!fl_store_exec(self, "COMMIT", error))
		return FALSE;
	if (count != NULL)
		*count = ids->len;
	return TRUE;
}
