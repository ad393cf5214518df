/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Coordinating parallel drafts with the real daemon, CLI and git: drafts that change the same
 * files are named to each other, a draft another approval made conflict says which one, and
 * `approve A B C` lands them in that order, leaving a draft that no longer merges pending.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "fl-test-harness.h"

#define WAIT_MS 30000

static gchar *
make_repo(FlTestEnv *env)
{
	gchar *repo = g_build_filename(env->root, "api", NULL);

	g_assert_cmpint(g_mkdir_with_parents(repo, 0700), ==, 0);
	g_free(fl_test_sh(repo, "git init -q -b main . && git config user.name 'Test User' && "
				"git config user.email test@example.com && "
				"printf 'one\\ntwo\\n' > notes.txt && printf 'x\\n' > other.txt && "
				"git add . && git commit -q -m initial"));
	return repo;
}

typedef struct {
	FlTestEnv *env;
	guint id;
	const gchar *key;
	const gchar *want; /* the key's string value, or NULL: only present */
	guint seen;
} KeyWait;

/* re-read on every SessionChanged: the coordination announces what it found that way */
static gboolean
key_is(gpointer user_data)
{
	KeyWait *w = user_data;
	g_autoptr(JsonObject) obj = NULL;
	JsonNode *node;

	if (w->seen == w->env->changes && w->seen != 0)
		return FALSE;
	w->seen = w->env->changes;
	obj = fl_test_show(w->env, w->id);
	node = json_object_get_member(obj, w->key);
	if (node == NULL || JSON_NODE_HOLDS_NULL(node))
		return FALSE;
	return w->want == NULL || g_strcmp0(json_node_get_string(node), w->want) == 0;
}

static void
wait_key(FlTestEnv *env, guint id, const gchar *key, const gchar *want)
{
	KeyWait w = {env, id, key, want, 0};

	if (!fl_test_wait_for(key_is, &w, WAIT_MS)) {
		g_autoptr(JsonObject) obj = fl_test_show(env, id);
		g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), obj);
		g_autofree gchar *text = json_to_string(node, FALSE);

		g_error("session %u never got %s=%s: %s", id, key, want != NULL ? want : "*", text);
	}
}

static guint
draft(FlTestEnv *env, const gchar *repo, const gchar *goal)
{
	guint id = fl_test_run_session(env, repo, "--", goal, NULL);
	g_autofree gchar *state = fl_test_wait_ended(env, id, WAIT_MS);

	g_assert_cmpstr(state, ==, "done");
	return id;
}

static void
test_coordinate_overlap_and_order(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env);
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *log = NULL;
	g_autofree gchar *contents = NULL;
	g_autofree gchar *tip = NULL;
	g_autoptr(JsonObject) two = NULL;
	g_autoptr(JsonObject) three = NULL;
	JsonArray *overlaps;
	JsonArray *conflicts;
	guint a, b, c;
	gint status;

	fl_test_env_start_daemon(env, NULL);
	a = draft(env, repo, "printf 'ONE\\ntwo\\n' > notes.txt");
	b = draft(env, repo, "printf 'uno\\ntwo\\n' > notes.txt");
	c = draft(env, repo, "printf 'y\\n' > other.txt");

	/* before any landing: #1 and #2 are named to each other, #3 stands alone */
	wait_key(env, b, "landing", "changes the same files as #1");
	wait_key(env, a, "landing", "changes the same files as #2");
	three = fl_test_show(env, c);
	g_assert_true(json_object_get_boolean_member(three, "merges"));
	g_assert_true(json_object_has_member(three, "landing"));
	g_assert_true(JSON_NODE_HOLDS_NULL(json_object_get_member(three, "landing")));
	out = fl_test_cli_ok(env, NULL, "ls", NULL);
	g_assert_nonnull(strstr(out, "changes the same files as #1"));

	/* in the order given: #1 lands, #2 no longer merges and stays pending, #3 lands */
	status = fl_test_cli(env, NULL, NULL, &err, "approve", "1", "2", "3", NULL);
	g_assert_cmpint(status, ==, 1);
	g_assert_nonnull(strstr(err, "notes.txt"));
	g_assert_nonnull(strstr(err, "1 of 3 sessions was not decided"));
	log = fl_test_git(repo, "log --format=%s main");
	g_assert_nonnull(strstr(log, "flotilla #1"));
	g_assert_nonnull(strstr(log, "flotilla #3"));
	g_assert_null(strstr(log, "flotilla #2"));
	g_assert_true(strstr(log, "flotilla #3") < strstr(log, "flotilla #1"));
	contents = fl_test_git(repo, "show main:notes.txt");
	g_assert_cmpstr(contents, ==, "ONE\ntwo");

	wait_key(env, b, "landing", "conflicts with main since #1 landed: notes.txt");
	two = fl_test_show(env, b);
	g_assert_cmpstr(json_object_get_string_member(two, "review"), ==, "pending");
	g_assert_false(json_object_get_boolean_member(two, "merges"));
	g_assert_true(json_object_get_boolean_member(two, "stale"));
	g_assert_cmpint(json_object_get_int_member(two, "conflict_since"), ==, 1);
	conflicts = json_object_get_array_member(two, "conflicts");
	g_assert_cmpuint(json_array_get_length(conflicts), ==, 1);
	g_assert_cmpstr(json_array_get_string_element(conflicts, 0), ==, "notes.txt");
	/* the others have left review: nobody overlaps with #2 any more */
	overlaps = json_object_get_array_member(two, "overlaps");
	g_assert_cmpuint(json_array_get_length(overlaps), ==, 0);
	tip = fl_test_git(repo, "rev-parse main");
	g_assert_cmpstr(json_object_get_string_member(two, "checked_against"), ==, tip);
}

/* bad usage names the id and decides nothing, even for the valid ids before it */
static void
test_coordinate_approve_bad_id(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env);
	g_autofree gchar *head = NULL;
	g_autofree gchar *after = NULL;
	g_autofree gchar *err = NULL;
	g_autoptr(JsonObject) obj = NULL;
	guint a;

	fl_test_env_start_daemon(env, NULL);
	a = draft(env, repo, "printf 'ONE\\ntwo\\n' > notes.txt");
	head = fl_test_git(repo, "rev-parse main");
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, &err, "approve", "1", "x2", NULL), ==, 2);
	/* "x2" could be a session's name: there is none of that name either */
	g_assert_nonnull(strstr(err, "no session x2"));
	after = fl_test_git(repo, "rev-parse main");
	g_assert_cmpstr(head, ==, after);
	obj = fl_test_show(env, a);
	g_assert_cmpstr(json_object_get_string_member(obj, "review"), ==, "pending");
}

typedef struct {
	FlTestEnv *env;
	guint id;
	const gchar *key;
	const gchar *want; /* a string value; NULL: the boolean FALSE */
	guint seen;
} FieldWait;

/* a string member equal to @want, or (want NULL) a boolean member that is FALSE */
static gboolean
field_is(gpointer user_data)
{
	FieldWait *w = user_data;
	g_autoptr(JsonObject) obj = NULL;
	JsonNode *node;

	if (w->seen == w->env->changes && w->seen != 0)
		return FALSE;
	w->seen = w->env->changes;
	obj = fl_test_show(w->env, w->id);
	node = json_object_get_member(obj, w->key);
	if (node == NULL || JSON_NODE_HOLDS_NULL(node))
		return FALSE;
	if (w->want == NULL)
		return !json_node_get_boolean(node);
	return g_strcmp0(json_node_get_string(node), w->want) == 0;
}

static void
wait_field(FlTestEnv *env, guint id, const gchar *key, const gchar *want)
{
	FieldWait w = {env, id, key, want, 0};

	if (!fl_test_wait_for(field_is, &w, WAIT_MS)) {
		g_autoptr(JsonObject) obj = fl_test_show(env, id);
		g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), obj);
		g_autofree gchar *text = json_to_string(node, FALSE);

		g_error("session %u never got %s=%s: %s", id, key, want != NULL ? want : "false",
			text);
	}
}

/*
 * Another approval makes a draft stale: it says so, `refresh` replays it onto the new tip
 * without touching the user's checkout, runs its verify command again against that tip (the
 * command passes only with the other draft's change), and records which base it ran against
 */
static void
test_coordinate_refresh_stale(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env);
	g_autofree gchar *old_base = NULL;
	g_autofree gchar *old_subject = NULL;
	g_autofree gchar *tip = NULL;
	g_autofree gchar *draft_tip = NULL;
	g_autofree gchar *subject = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *ls = NULL;
	g_autofree gchar *worktree_notes = NULL;
	g_autofree gchar *history = NULL;
	g_autoptr(JsonObject) obj = NULL;
	g_autoptr(JsonObject) before = NULL;
	guint a, b;

	fl_test_env_start_daemon(env, NULL);
	a = draft(env, repo, "printf 'ONE\\ntwo\\n' > notes.txt");
	g_assert_cmpuint(a, ==, 1);
	b = fl_test_run_session(env, repo, "--verify", "grep -q ONE notes.txt", "--",
				"printf 'y\\n' > other.txt", NULL);
	g_free(fl_test_wait_ended(env, b, WAIT_MS));
	before = fl_test_show(env, b);
	g_assert_cmpstr(json_object_get_string_member(before, "verify"), ==, "fail");
	old_base = g_strdup(json_object_get_string_member(before, "base_commit"));
	/* a verify result says its base from the start */
	g_assert_cmpstr(json_object_get_string_member(before, "verify_base"), ==, old_base);
	old_subject = fl_test_git(repo, "log -1 --format=%s flotilla/2");

	g_free(fl_test_cli_ok(env, NULL, "approve", "1", NULL));
	tip = fl_test_git(repo, "rev-parse main");
	wait_key(env, b, "checked_against", tip);
	obj = fl_test_show(env, b);
	g_assert_true(json_object_get_boolean_member(obj, "stale"));
	g_assert_true(json_object_get_boolean_member(obj, "verify_stale"));
	ls = fl_test_cli_ok(env, NULL, "ls", NULL);
	g_assert_nonnull(strstr(ls, "verify ✗ (stale: base moved)"));

	out = fl_test_cli_ok(env, NULL, "refresh", "2", NULL);
	g_assert_nonnull(strstr(out, "refreshed onto main"));
	g_assert_nonnull(strstr(out, "verify passed"));
	g_clear_pointer(&obj, json_object_unref);
	obj = fl_test_show(env, b);
	draft_tip = fl_test_git(repo, "rev-parse flotilla/2");
	g_assert_cmpstr(json_object_get_string_member(obj, "review"), ==, "pending");
	g_assert_cmpstr(json_object_get_string_member(obj, "base_commit"), ==, tip);
	g_assert_cmpstr(json_object_get_string_member(obj, "refreshed_from"), ==, old_base);
	g_assert_cmpstr(json_object_get_string_member(obj, "verify"), ==, "pass");
	g_assert_cmpstr(json_object_get_string_member(obj, "verify_base"), ==, tip);
	g_assert_cmpstr(json_object_get_string_member(obj, "verify_commit"), ==, draft_tip);
	/* the draft stands on the new tip, with its own commit's message */
	g_free(fl_test_git(repo, "merge-base --is-ancestor main flotilla/2"));
	subject = fl_test_git(repo, "log -1 --format=%s flotilla/2");
	g_assert_cmpstr(subject, ==, old_subject);
	g_assert_cmpstr(fl_test_git(repo, "diff --name-only main flotilla/2"), ==, "other.txt");
	/* the draft's worktree followed; the user's checkout did not move */
	worktree_notes =
		fl_test_sh(json_object_get_string_member(obj, "worktree"), "cat notes.txt");
	g_assert_cmpstr(worktree_notes, ==, "ONE\ntwo\n");
	g_assert_cmpstr(fl_test_git(repo, "status --porcelain"), ==, "");
	g_assert_cmpstr(fl_test_git(repo, "rev-parse HEAD"), ==, tip);
	/* checked again: no longer stale, its verify no longer either */
	wait_field(env, b, "stale", NULL);
	wait_field(env, b, "verify_stale", NULL);
	history = fl_test_cli_ok(env, NULL, "show", "2", NULL);
	g_assert_nonnull(strstr(history, "refreshed"));
	/* on the tip already: nothing to do, and said */
	g_clear_pointer(&out, g_free);
	out = fl_test_cli_ok(env, NULL, "refresh", "2", NULL);
	g_assert_nonnull(strstr(out, "nothing changed"));
	g_assert_cmpstr(fl_test_git(repo, "rev-parse flotilla/2"), ==, draft_tip);
	g_clear_pointer(&out, g_free);
	out = fl_test_cli_ok(env, NULL, "approve", "2", NULL);
	g_assert_nonnull(strstr(out, "approved"));
}

/* a draft that no longer applies changes nothing, names the files, and retry
 * --onto-current starts it again on the tip with the conflict in its goal */
static void
test_coordinate_refresh_conflict(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env);
	g_autofree gchar *before = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *tip = NULL;
	g_autofree gchar *state = NULL;
	g_autoptr(JsonObject) obj = NULL;
	g_autoptr(JsonObject) retried = NULL;
	const gchar *goal;
	guint a, b, c;

	fl_test_env_start_daemon(env, NULL);
	a = draft(env, repo, "printf 'ONE\\ntwo\\n' > notes.txt");
	b = draft(env, repo, "printf 'uno\\ntwo\\n' > notes.txt");
	g_free(fl_test_cli_ok(env, NULL, "approve", "1", NULL));
	tip = fl_test_git(repo, "rev-parse main");
	wait_key(env, b, "landing", "conflicts with main since #1 landed: notes.txt");
	before = fl_test_git(repo, "rev-parse flotilla/2");
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, &err, "refresh", "2", NULL), ==, 1);
	g_assert_nonnull(strstr(err, "notes.txt"));
	g_assert_nonnull(strstr(err, "nothing changed"));
	g_assert_null(strchr(strchr(err, '\n') + 1, '\n'));
	g_assert_cmpstr(fl_test_git(repo, "rev-parse flotilla/2"), ==, before);
	obj = fl_test_show(env, b);
	g_assert_cmpstr(json_object_get_string_member(obj, "review"), ==, "pending");
	g_assert_true(JSON_NODE_HOLDS_NULL(json_object_get_member(obj, "refreshed_from")));
	g_assert_cmpstr(fl_test_git(repo, "rev-parse main"), ==, tip);
	g_assert_cmpstr(fl_test_git(repo, "status --porcelain"), ==, "");

	out = fl_test_cli_ok(env, NULL, "retry", "2", "--onto-current", NULL);
	c = (guint)g_ascii_strtoull(out, NULL, 10);
	g_assert_cmpuint(c, ==, 3);
	retried = fl_test_show(env, c);
	goal = json_object_get_string_member(retried, "goal");
	g_assert_true(g_str_has_prefix(goal, "printf 'uno\\ntwo\\n' > notes.txt\n\n# "));
	g_assert_nonnull(strstr(goal, "\n# Files that conflict: notes.txt"));
	g_assert_nonnull(strstr(goal, "nothing changed"));
	state = fl_test_wait_ended(env, c, WAIT_MS);
	g_assert_cmpstr(state, ==, "done");
	g_clear_pointer(&retried, json_object_unref);
	retried = fl_test_show(env, c);
	g_assert_cmpstr(json_object_get_string_member(retried, "base_commit"), ==, tip);
	g_assert_cmpstr(json_object_get_string_member(retried, "agent"), ==, "shell");
	g_clear_pointer(&out, g_free);
	out = fl_test_cli_ok(env, NULL, "show", "2", NULL);
	g_assert_nonnull(strstr(out, "retried-as"));
	(void)a;
}

/* bad input: one line, exit 2, nothing changed */
static void
test_coordinate_refresh_bad_input(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env);
	g_autofree gchar *head = NULL;
	g_autofree gchar *scratch = g_build_filename(env->root, "scratch", NULL);
	const gchar *cases[][3] = {
		{"refresh", NULL, NULL},          {"refresh", "99", NULL},
		{"refresh", "x", NULL},           {"refresh", "1", NULL},
		{"refresh", "2", NULL},           {"refresh", "3", NULL},
		{"retry", "3", "--onto-current"}, {"retry", "--onto-current", "99"},
	};
	guint a, b, s;

	fl_test_env_start_daemon(env, NULL);
	a = draft(env, repo, "printf 'ONE\\ntwo\\n' > notes.txt");
	b = draft(env, repo, "printf 'y\\n' > other.txt");
	g_free(fl_test_cli_ok(env, NULL, "approve", "1", NULL));
	g_free(fl_test_cli_ok(env, NULL, "reject", "2", NULL));
	g_assert_cmpint(g_mkdir_with_parents(scratch, 0700), ==, 0);
	s = fl_test_run_session(env, scratch, "--", "echo hi > out.txt", NULL);
	g_free(fl_test_wait_ended(env, s, WAIT_MS));
	head = fl_test_git(repo, "for-each-ref --format='%(refname) %(objectname)'");
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		const gchar *args[4] = {cases[i][0], cases[i][1], cases[i][2], NULL};
		g_autofree gchar *out = NULL;
		g_autofree gchar *err = NULL;
		g_autofree gchar *after = NULL;

		g_test_message("case %s %s %s", args[0], args[1], args[2]);
		g_assert_cmpint(fl_test_cliv(env, NULL, args, &out, &err), ==, 2);
		g_assert_cmpstr(out, ==, "");
		g_assert_nonnull(strchr(err, '\n'));
		g_assert_null(strchr(strchr(err, '\n') + 1, '\n'));
		after = fl_test_git(repo, "for-each-ref --format='%(refname) %(objectname)'");
		g_assert_cmpstr(after, ==, head);
	}
	(void)a;
	(void)b;
}

static gchar *
show_string(FlTestEnv *env, guint id, const gchar *key)
{
	g_autoptr(JsonObject) obj = fl_test_show(env, id);
	JsonNode *node = json_object_get_member(obj, key);

	if (node == NULL || JSON_NODE_HOLDS_NULL(node))
		return NULL;
	return g_strdup(json_node_get_string(node));
}

/* `--after` chains start in order, each on a base holding the previous one's merge (the
 * goals fail without it), and survive a daemon restart while they wait */
static void
test_coordinate_after_chain(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env);
	g_autofree gchar *state = NULL;
	g_autofree gchar *held = NULL;
	g_autofree gchar *ls = NULL;
	guint a, b, c;

	fl_test_env_start_daemon(env, NULL);
	a = fl_test_run_session(env, repo, "--", "printf 'A\\n' > a.txt", NULL);
	b = fl_test_run_session(env, repo, "--after", "1", "--",
				"test -f a.txt && printf 'B\\n' > b.txt", NULL);
	c = fl_test_run_session(env, repo, "--after", "2", "--",
				"test -f b.txt && printf 'C\\n' > c.txt", NULL);
	g_assert_cmpuint(c, ==, 3);
	state = fl_test_wait_ended(env, a, WAIT_MS);
	g_assert_cmpstr(state, ==, "done");
	held = show_string(env, b, "held");
	g_assert_cmpstr(held, ==, "waiting for #1 to be approved");
	ls = fl_test_cli_ok(env, NULL, "ls", NULL);
	g_assert_nonnull(strstr(ls, "waiting for #2 to be approved"));
	g_free(state);
	state = show_string(env, b, "state");
	g_assert_cmpstr(state, ==, "queued");

	/* stored: a new daemon knows what they wait for */
	fl_test_env_stop_daemon(env, SIGTERM);
	fl_test_env_start_daemon(env, NULL);
	g_free(held);
	held = show_string(env, c, "held");
	g_assert_cmpstr(held, ==, "waiting for #2 to be approved");

	for (guint id = a; id < c; id++) {
		g_autofree gchar *idstr = g_strdup_printf("%u", id);
		g_autofree gchar *merge = NULL;
		g_autofree gchar *next_base = NULL;
		g_autofree gchar *check = NULL;
		g_autofree gchar *next_state = NULL;

		g_free(fl_test_cli_ok(env, NULL, "approve", idstr, NULL));
		next_state = fl_test_wait_ended(env, id + 1, WAIT_MS);
		g_assert_cmpstr(next_state, ==, "done");
		merge = show_string(env, id, "merge_commit");
		next_base = show_string(env, id + 1, "base_commit");
		check = g_strdup_printf("merge-base --is-ancestor %s %s && echo yes", merge,
					next_base);
		g_assert_cmpstr(fl_test_git(repo, check), ==, "yes");
	}
	g_free(fl_test_cli_ok(env, NULL, "approve", "3", NULL));
	g_assert_cmpstr(fl_test_git(repo, "show main:c.txt"), ==, "C");
}

/* the first of a chain rejected: the others are cancelled, each saying why */
static void
test_coordinate_after_rejected(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env);
	g_autofree gchar *err = NULL;
	g_autofree gchar *reason = NULL;
	g_autofree gchar *state = NULL;
	guint d, e, f;

	fl_test_env_start_daemon(env, NULL);
	d = draft(env, repo, "printf 'D\\n' > d.txt");
	e = fl_test_run_session(env, repo, "--after", "1", "--", "printf 'E\\n' > e.txt", NULL);
	f = fl_test_run_session(env, repo, "--after", "2", "--", "printf 'F\\n' > f.txt", NULL);
	/* a dependent keeps waiting: wait gives up on it only at its timeout */
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, &err, "wait", "2", "--timeout", "1s", NULL),
			==, 1);
	g_free(fl_test_cli_ok(env, NULL, "reject", "1", NULL));
	g_assert_true(fl_test_wait_state(env, f, "cancelled", WAIT_MS));
	state = show_string(env, e, "state");
	g_assert_cmpstr(state, ==, "cancelled");
	reason = show_string(env, e, "reason");
	g_assert_cmpstr(reason, ==, "#1 was rejected");
	g_free(reason);
	reason = show_string(env, f, "reason");
	g_assert_cmpstr(reason, ==, "#2 was cancelled");
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, NULL, "wait", "2", NULL), ==, 1);
	(void)d;
}

/* --after-done starts on the draft of the session it waited for, while that is pending */
static void
test_coordinate_after_done(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env);
	g_autofree gchar *state = NULL;
	g_autofree gchar *base = NULL;
	g_autofree gchar *tip = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *main_before = NULL;
	guint g, h;

	fl_test_env_start_daemon(env, NULL);
	g = fl_test_run_session(env, repo, "--", "printf 'G\\n' > g.txt", NULL);
	h = fl_test_run_session(env, repo, "--after-done", "1", "--",
				"test -f g.txt && printf 'H\\n' > h.txt", NULL);
	state = fl_test_wait_ended(env, h, WAIT_MS);
	g_assert_cmpstr(state, ==, "done");
	tip = fl_test_git(repo, "rev-parse flotilla/1");
	main_before = fl_test_git(repo, "rev-parse main");
	base = show_string(env, h, "base_commit");
	g_assert_cmpstr(base, ==, tip);
	g_free(state);
	state = show_string(env, g, "review");
	g_assert_cmpstr(state, ==, "pending");
	/* its draft holds #1's commits: it lands only after #1 did */
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, &err, "approve", "2", NULL), ==, 1);
	g_assert_nonnull(strstr(err, "approve #1 first"));
	g_assert_cmpstr(fl_test_git(repo, "rev-parse main"), ==, main_before);
	g_free(fl_test_cli_ok(env, NULL, "approve", "1", "2", NULL));
	g_assert_cmpstr(fl_test_git(repo, "show main:h.txt"), ==, "H");
}

/* the ids of every session, newest first: what "nothing created" compares (the rest of a
 * session's JSON changes as the coordination checks it) */
static gchar *
session_ids(FlTestEnv *env)
{
	g_autofree gchar *json = fl_test_cli_ok(env, NULL, "ls", "--all", "--json", NULL);
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GString) ids = g_string_new(NULL);
	JsonArray *array;

	g_assert_true(json_parser_load_from_data(parser, json, -1, NULL));
	array = json_node_get_array(json_parser_get_root(parser));
	for (guint i = 0; i < json_array_get_length(array); i++)
		g_string_append_printf(
			ids, "%" G_GINT64_FORMAT " ",
			json_object_get_int_member(json_array_get_object_element(array, i), "id"));
	return g_string_free(g_steal_pointer(&ids), FALSE);
}

/* unknown, itself, twice, both kinds, a rejected one, another repository: exit 2, one
 * line, no session created */
static void
test_coordinate_after_bad_input(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env);
	g_autofree gchar *other = g_build_filename(env->root, "web", NULL);
	g_autofree gchar *before = NULL;
	const gchar *cases[][7] = {
		{"run", "--after", "99", "--", "true", NULL},
		{"run", "--after", "4", "--", "true", NULL},
		{"run", "--after", "x", "--", "true", NULL},
		{"run", "--after", "1", "--after-done", "1", "--", "true"},
		{"run", "--after", "1", "--after", "1", "--", "true"},
		{"run", "--after", "2", "--", "true", NULL},
		{"run", "--after-done", "2", "--", "true", NULL},
		{"run", "--after", "3", "--", "true", NULL},
	};
	guint a, r, o;

	fl_test_env_start_daemon(env, NULL);
	a = draft(env, repo, "printf 'ONE\\ntwo\\n' > notes.txt");
	r = draft(env, repo, "printf 'y\\n' > other.txt");
	g_free(fl_test_cli_ok(env, NULL, "reject", "2", NULL));
	g_assert_cmpint(g_mkdir_with_parents(other, 0700), ==, 0);
	g_free(fl_test_sh(other, "git init -q -b main . && git config user.name T && "
				 "git config user.email t@example.com && echo w > w.txt && "
				 "git add . && git commit -q -m initial"));
	o = draft(env, other, "echo v > w.txt");
	g_assert_cmpuint(o, ==, 3);
	before = session_ids(env);
	g_assert_cmpstr(before, ==, "3 2 1 ");
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *out = NULL;
		g_autofree gchar *err = NULL;
		g_autofree gchar *after = NULL;
		gchar *argv[8] = {NULL};

		for (guint j = 0; j < 7 && cases[i][j] != NULL; j++)
			argv[j] = (gchar *)cases[i][j];
		g_test_message("case %u", i);
		g_assert_cmpint(fl_test_cliv(env, repo, (const gchar *const *)argv, &out, &err), ==,
				2);
		g_assert_cmpstr(out, ==, "");
		g_assert_nonnull(strchr(err, '\n'));
		g_assert_null(strchr(strchr(err, '\n') + 1, '\n'));
		after = session_ids(env);
		g_assert_cmpstr(after, ==, before);
	}
	(void)a;
	(void)r;
}

/*
 * A German terminal reads the daemon's words in German, though flotillad runs in C and makes
 * them long before: the conflict a refresh and an approve find in git's callbacks, and a
 * reason stored when the session ended (a dependent cancelled by a rejection). An English
 * terminal asking the same daemon reads them in English.
 */
static void
test_coordinate_german(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env);
	g_autofree gchar *after = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *english = NULL;
	g_autofree gchar *approve_err = NULL;
	g_autofree gchar *approved = NULL;
	g_autofree gchar *rejected = NULL;
	g_autoptr(JsonObject) german_obj = NULL;
	g_autoptr(JsonObject) english_obj = NULL;
	g_auto(GStrv) english_env = NULL;
	guint a, b, c;

	fl_test_env_use_locales(env);
	env->envp = g_environ_setenv(env->envp, "LC_ALL", "C.UTF-8", TRUE);
	english_env = g_strdupv(env->envp);
	fl_test_env_start_daemon(env, NULL);
	a = draft(env, repo, "printf 'ONE\\ntwo\\n' > notes.txt");
	b = draft(env, repo, "printf 'uno\\ntwo\\n' > notes.txt");
	/* what a decision answers is made in git's callbacks too */
	env->envp = g_environ_setenv(env->envp, "LC_ALL", "de_DE.UTF-8", TRUE);
	approved = fl_test_cli_ok(env, NULL, "approve", "1", NULL);
	g_assert_true(
		g_str_has_prefix(approved, "Sitzung 1 angenommen: in main zusammengeführt ("));
	g_strfreev(env->envp);
	env->envp = g_strdupv(english_env);
	wait_key(env, b, "landing", "conflicts with main since #1 landed: notes.txt");
	after = g_strdup_printf("%u", b);
	c = fl_test_run_session(env, repo, "--after", after, "--", "true", NULL);

	env->envp = g_environ_setenv(env->envp, "LC_ALL", "de_DE.UTF-8", TRUE);
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, &err, "refresh", after, NULL), ==, 1);
	g_strchomp(err);
	g_assert_null(strchr(err, '\n'));
	g_assert_nonnull(strstr(err, "Sitzung 2: Konflikt mit main ("));
	g_assert_nonnull(strstr(err, "): notes.txt; nichts geändert (flotilla retry 2 "));
	g_assert_null(strstr(err, "conflicts"));
	g_assert_null(strstr(err, "nothing changed"));
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, &approve_err, "approve", after, NULL), ==, 1);
	g_assert_nonnull(strstr(approve_err, "Konflikt mit main"));
	g_assert_nonnull(strstr(approve_err, "notes.txt"));
	g_assert_null(strstr(approve_err, "conflicts"));

	/* the English terminal, same daemon, same error */
	g_strfreev(env->envp);
	env->envp = g_strdupv(english_env);
	g_assert_cmpint(fl_test_cli(env, NULL, NULL, &english, "refresh", after, NULL), ==, 1);
	g_assert_nonnull(strstr(english, "session 2: conflicts with main ("));
	g_assert_nonnull(strstr(english, "; nothing changed (flotilla retry 2 "));

	/* a reason stored at the end, read later in each terminal's language */
	rejected = fl_test_cli_ok(env, NULL, "reject", after, NULL);
	g_assert_true(
		g_str_has_prefix(rejected, "session 2 rejected: worktree and branch removed"));
	state = fl_test_wait_ended(env, c, WAIT_MS);
	g_assert_cmpstr(state, ==, "cancelled");
	english_obj = fl_test_show(env, c);
	g_assert_cmpstr(json_object_get_string_member(english_obj, "reason"), ==,
			"#2 was rejected");
	env->envp = g_environ_setenv(env->envp, "LC_ALL", "de_DE.UTF-8", TRUE);
	german_obj = fl_test_show(env, c);
	g_assert_cmpstr(json_object_get_string_member(german_obj, "reason"), ==,
			"#2 wurde abgelehnt");
	(void)a;
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/coordinate/overlap-and-order", test_coordinate_overlap_and_order);
	g_test_add_func("/coordinate/approve-bad-id", test_coordinate_approve_bad_id);
	g_test_add_func("/coordinate/refresh-stale", test_coordinate_refresh_stale);
	g_test_add_func("/coordinate/german", test_coordinate_german);
	g_test_add_func("/coordinate/refresh-conflict", test_coordinate_refresh_conflict);
	g_test_add_func("/coordinate/refresh-bad-input", test_coordinate_refresh_bad_input);
	g_test_add_func("/coordinate/after-chain", test_coordinate_after_chain);
	g_test_add_func("/coordinate/after-rejected", test_coordinate_after_rejected);
	g_test_add_func("/coordinate/after-done", test_coordinate_after_done);
	g_test_add_func("/coordinate/after-bad-input", test_coordinate_after_bad_input);
	return g_test_run();
}
