/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Groups and races with the real daemon, CLI and git: a group across two repositories lands
 * all or nothing, a reject drops every member, members stay decidable one by one, a daemon
 * killed at each step of a group approval leaves every repository consistent and the group
 * true to git, a race's second session wins and the others are cancelled or kept as
 * rejected alternatives, pause --group holds only that group, and bad input changes nothing.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "fl-test-harness.h"

#define WAIT_MS 60000

static gchar *
make_repo(FlTestEnv *env, const gchar *name)
{
	gchar *repo = g_build_filename(env->root, name, NULL);

	g_assert_cmpint(g_mkdir_with_parents(repo, 0700), ==, 0);
	g_free(fl_test_sh(repo, "git init -q -b main . && git config user.name 'Test User' && "
				"git config user.email test@example.com && "
				"printf 'one\\ntwo\\n' > notes.txt && printf 'x\\n' > other.txt && "
				"git add . && git commit -q -m initial"));
	return repo;
}

/* the ids `run` printed, one a line */
static GArray *
run_ids(FlTestEnv *env, gchar **err, ...)
{
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	g_autofree gchar *out = NULL;
	g_auto(GStrv) lines = NULL;
	GArray *ids = g_array_new(FALSE, FALSE, sizeof(guint));
	const gchar *arg;
	va_list ap;
	gint status;

	g_ptr_array_add(args, (gpointer) "run");
	va_start(ap, err);
	while ((arg = va_arg(ap, const gchar *)) != NULL)
		g_ptr_array_add(args, (gpointer)arg);
	va_end(ap);
	g_ptr_array_add(args, NULL);
	status = fl_test_cliv(env, NULL, (const gchar *const *)args->pdata, &out, err);
	g_assert_cmpint(status, ==, 0);
	lines = g_strsplit(g_strstrip(out), "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		guint id = (guint)g_ascii_strtoull(lines[i], NULL, 10);
		g_assert_cmpuint(id, >, 0);
		g_array_append_val(ids, id);
	}
	return ids;
}

static void
wait_done(FlTestEnv *env, GArray *ids)
{
	for (guint i = 0; i < ids->len; i++) {
		g_autofree gchar *state =
			fl_test_wait_ended(env, g_array_index(ids, guint, i), WAIT_MS);
		g_assert_cmpstr(state, ==, "done");
	}
}

static JsonObject *
show_group(FlTestEnv *env, const gchar *group)
{
	g_autofree gchar *arg = g_strdup_printf("@%s", group);
	g_autofree gchar *out = fl_test_cli_ok(env, NULL, "show", arg, "--json", NULL);
	g_autoptr(JsonParser) parser = json_parser_new();

	g_assert_true(json_parser_load_from_data(parser, out, -1, NULL));
	return json_object_ref(json_node_get_object(json_parser_get_root(parser)));
}

static const gchar *
review_of(FlTestEnv *env, guint id)
{
	static gchar buf[32];
	g_autoptr(JsonObject) obj = fl_test_show(env, id);

	g_strlcpy(buf, json_object_get_string_member(obj, "review"), sizeof buf);
	return buf;
}

/* every approved member's merge is on its base branch, every other one is not */
static void
assert_true_to_git(FlTestEnv *env, GArray *ids)
{
	for (guint i = 0; i < ids->len; i++) {
		g_autoptr(JsonObject) obj = fl_test_show(env, g_array_index(ids, guint, i));
		const gchar *repo = json_object_get_string_member(obj, "repo");
		const gchar *review = json_object_get_string_member(obj, "review");
		g_autofree gchar *log = fl_test_git(repo, "log --format=%s main");
		g_autofree gchar *mark =
			g_strdup_printf("flotilla session %u:", g_array_index(ids, guint, i));

		if (g_strcmp0(review, "approved") == 0)
			g_assert_nonnull(strstr(log, mark));
		else
			g_assert_null(strstr(log, mark));
	}
}

/* a group of three across two repositories: two in api, one in web */
static GArray *
make_group(FlTestEnv *env, const gchar *api, const gchar *web, const gchar *group)
{
	g_autoptr(GArray) two = run_ids(env, NULL, "--group", group, "--repo", api, "--repo", web,
					"--", "printf 'new\\n' > group.txt", NULL);
	GArray *ids = run_ids(env, NULL, "--group", group, "--repo", api, "--",
			      "printf 'y\\n' > other.txt", NULL);

	g_array_prepend_vals(ids, two->data, two->len);
	wait_done(env, ids);
	return ids;
}

static void
test_groups_approve_atomic(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *api = make_repo(env, "api");
	g_autofree gchar *web = make_repo(env, "web");
	g_autoptr(GArray) ids = NULL;
	g_autoptr(GArray) auto_ids = NULL;
	g_autoptr(JsonObject) group = NULL;
	g_autoptr(JsonObject) member = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *api_log = NULL;
	g_autofree gchar *web_log = NULL;
	g_autofree gchar *name = NULL;

	fl_test_env_start_daemon(env, NULL);
	ids = make_group(env, api, web, "cross");
	member = fl_test_show(env, g_array_index(ids, guint, 1));
	g_assert_cmpstr(json_object_get_string_member(member, "group"), ==, "cross");
	out = fl_test_cli_ok(env, NULL, "ls", NULL);
	g_assert_nonnull(strstr(out, "@cross"));
	group = show_group(env, "cross");
	g_assert_cmpstr(json_object_get_string_member(group, "state"), ==, "pending");
	g_assert_cmpstr(json_object_get_string_member(group, "policy"), ==, "all");
	g_assert_cmpuint(json_array_get_length(json_object_get_array_member(group, "members")), ==,
			 3);

	/* the shells offer the group where they offer its members' ids, once */
	g_clear_pointer(&out, g_free);
	out = fl_test_cli_ok(env, NULL, "__complete-ids", "approve", NULL);
	g_assert_true(g_str_has_prefix(out, "@cross\t"));
	g_assert_null(strstr(out, "\n@cross\t"));

	g_clear_pointer(&out, g_free);
	out = fl_test_cli_ok(env, NULL, "approve", "@cross", "--note", "ship it", NULL);
	g_assert_nonnull(strstr(out, "group @cross approved"));
	api_log = fl_test_git(api, "log --format=%s main");
	web_log = fl_test_git(web, "log --format=%s main");
	g_assert_nonnull(strstr(api_log, "flotilla session 1:"));
	g_assert_nonnull(strstr(api_log, "flotilla session 3:"));
	g_assert_nonnull(strstr(web_log, "flotilla session 2:"));
	g_clear_pointer(&group, json_object_unref);
	group = show_group(env, "cross");
	g_assert_cmpstr(json_object_get_string_member(group, "state"), ==, "approved");
	assert_true_to_git(env, ids);
	/* the audit trail says it was the group's decision */
	g_clear_pointer(&out, g_free);
	out = fl_test_cli_ok(env, NULL, "show", "2", NULL);
	g_assert_nonnull(strstr(out, "@cross: ship it"));

	/* several --repo without --group: a new group named from the goal, printed */
	auto_ids =
		run_ids(env, &err, "--repo", api, "--repo", web, "--", "printf z > auto.txt", NULL);
	g_assert_cmpuint(auto_ids->len, ==, 2);
	name = g_strdup_printf("group @printf-z-auto-%u\n", g_array_index(auto_ids, guint, 0));
	g_assert_nonnull(strstr(err, name));
	wait_done(env, auto_ids);
}

static void
test_groups_refuse_atomic(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *api = make_repo(env, "api");
	g_autofree gchar *web = make_repo(env, "web");
	g_autoptr(GArray) ids = NULL;
	g_autoptr(GArray) inner = NULL;
	g_autoptr(JsonObject) group = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *api_tip = NULL;
	g_autofree gchar *web_tip = NULL;
	g_autofree gchar *after = NULL;
	gint status;

	fl_test_env_start_daemon(env, NULL);
	ids = make_group(env, api, web, "cross");
	/* the user's own commit in web makes #2 conflict there */
	g_free(fl_test_sh(web, "printf 'mine\\n' > group.txt && git add group.txt && "
			       "git commit -q -m mine"));
	api_tip = fl_test_git(api, "rev-parse main");
	web_tip = fl_test_git(web, "rev-parse main");
	status = fl_test_cli(env, NULL, NULL, &err, "approve", "@cross", NULL);
	g_assert_cmpint(status, ==, 1);
	g_assert_nonnull(strstr(err, "nothing merged"));
	g_assert_nonnull(strstr(err, "session 2 conflicts with main"));
	g_assert_nonnull(strstr(err, "group.txt"));
	g_assert_null(strchr(g_strstrip(err), '\n'));
	after = fl_test_git(api, "rev-parse main");
	g_assert_cmpstr(after, ==, api_tip);
	g_free(after);
	after = fl_test_git(web, "rev-parse main");
	g_assert_cmpstr(after, ==, web_tip);
	for (guint i = 0; i < ids->len; i++)
		g_assert_cmpstr(review_of(env, g_array_index(ids, guint, i)), ==, "pending");

	/* two members that each merge alone but not together: found before anything lands */
	inner = run_ids(env, NULL, "--group", "inner", "--repo", api, "--",
			"printf 'A\\ntwo\\n' > notes.txt", NULL);
	g_array_append_vals(inner,
			    run_ids(env, NULL, "--group", "inner", "--repo", api, "--",
				    "printf 'B\\ntwo\\n' > notes.txt", NULL)
				    ->data,
			    1);
	wait_done(env, inner);
	g_clear_pointer(&err, g_free);
	status = fl_test_cli(env, NULL, NULL, &err, "approve", "@inner", NULL);
	g_assert_cmpint(status, ==, 1);
	g_assert_nonnull(strstr(err, "notes.txt"));
	g_free(after);
	after = fl_test_git(api, "rev-parse main");
	g_assert_cmpstr(after, ==, api_tip);
	group = show_group(env, "inner");
	g_assert_cmpstr(json_object_get_string_member(group, "state"), ==, "pending");
}

static void
test_groups_reject_and_one_by_one(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *api = make_repo(env, "api");
	g_autofree gchar *web = make_repo(env, "web");
	g_autoptr(GArray) ids = NULL;
	g_autoptr(GArray) more = NULL;
	g_autoptr(JsonObject) group = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *branches = NULL;
	g_autofree gchar *err = NULL;
	gint status;

	fl_test_env_start_daemon(env, NULL);
	ids = make_group(env, api, web, "drop");
	out = fl_test_cli_ok(env, NULL, "reject", "@drop", NULL);
	g_assert_nonnull(strstr(out, "group @drop rejected"));
	for (guint i = 0; i < ids->len; i++)
		g_assert_cmpstr(review_of(env, g_array_index(ids, guint, i)), ==, "rejected");
	branches = fl_test_git(api, "branch --list 'flotilla/*'");
	g_assert_cmpstr(branches, ==, "");
	group = show_group(env, "drop");
	g_assert_cmpstr(json_object_get_string_member(group, "state"), ==, "rejected");
	/* decided already: a refusal, nothing changed */
	status = fl_test_cli(env, NULL, NULL, &err, "approve", "@drop", NULL);
	g_assert_cmpint(status, ==, 1);

	/* members one by one, then the group takes the rest */
	more = make_group(env, api, web, "mixed");
	g_free(fl_test_cli_ok(env, NULL, "reject", "5", NULL));
	g_free(fl_test_cli_ok(env, NULL, "approve", "4", NULL));
	g_clear_pointer(&out, g_free);
	out = fl_test_cli_ok(env, NULL, "approve", "@mixed", NULL);
	g_assert_nonnull(strstr(out, "sessions 6 merged"));
	g_assert_cmpstr(review_of(env, 4), ==, "approved");
	g_assert_cmpstr(review_of(env, 5), ==, "rejected");
	g_assert_cmpstr(review_of(env, 6), ==, "approved");
	assert_true_to_git(env, more);
	g_clear_pointer(&group, json_object_unref);
	group = show_group(env, "mixed");
	g_assert_cmpstr(json_object_get_string_member(group, "state"), ==, "decided");
}

typedef struct {
	FlTestEnv *env;
	GArray *ids;
} Settled;

static gboolean
all_approved(gpointer user_data)
{
	Settled *s = user_data;

	for (guint i = 0; i < s->ids->len; i++) {
		if (g_strcmp0(review_of(s->env, g_array_index(s->ids, guint, i)), "approved") != 0)
			return FALSE;
	}
	return TRUE;
}

/* kill -9 at each step of a group approval: the next daemon rolls it forward */
static void
test_groups_crash(void)
{
	const gchar *points[] = {"group:intent:1",    "approve:intent:1", "approve:merged:1",
				 "group:member:1",    "approve:merged:2", "approve:recorded:2",
				 "approve:removed:3", "group:member:3",   NULL};

	for (guint p = 0; points[p] != NULL; p++) {
		g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
		g_autofree gchar *api = make_repo(env, "api");
		g_autofree gchar *web = make_repo(env, "web");
		g_autoptr(GArray) ids = NULL;
		g_autoptr(JsonObject) group = NULL;
		g_autofree gchar *worktrees = NULL;
		Settled s;
		gint status;

		g_test_message("crash at %s", points[p]);
		env->envp = g_environ_setenv(env->envp, "FL_TEST_CRASH_AT", points[p], TRUE);
		fl_test_env_start_daemon(env, NULL);
		env->envp = g_environ_unsetenv(env->envp, "FL_TEST_CRASH_AT");
		ids = make_group(env, api, web, "g");
		fl_test_cli(env, NULL, NULL, NULL, "approve", "@g", NULL);
		status = fl_test_env_stop_daemon(env, SIGKILL);
		g_assert_true(WIFSIGNALED(status));
		g_assert_cmpint(WTERMSIG(status), ==, SIGKILL);

		/* every repository is consistent: no merge half-made, a clean checkout */
		g_assert_cmpstr(fl_test_git(api, "status --porcelain --untracked-files=no"), ==,
				"");
		g_assert_cmpstr(fl_test_git(web, "status --porcelain --untracked-files=no"), ==,
				"");
		fl_test_env_start_daemon(env, NULL);
		s.env = env;
		s.ids = ids;
		g_assert_true(fl_test_wait_for(all_approved, &s, WAIT_MS));
		assert_true_to_git(env, ids);
		group = show_group(env, "g");
		g_assert_cmpstr(json_object_get_string_member(group, "state"), ==, "approved");
		/* each merged once */
		g_assert_cmpstr(fl_test_git(api, "log --oneline --merges main | wc -l"), ==, "2");
		g_assert_cmpstr(fl_test_git(web, "log --oneline --merges main | wc -l"), ==, "1");
		worktrees = fl_test_git(api, "branch --list 'flotilla/*'");
		g_assert_cmpstr(worktrees, ==, "");
	}
}

/* a goal that waits for its gate file, then writes ok.txt only if told to */
static gchar *
gated_goal(FlTestEnv *env)
{
	return g_strdup_printf("printf 'draft\\n' > out.txt; "
			       "until [ -e %s/gate-$FLOTILLA_SESSION ]; do sleep 0.05; done; "
			       "[ -e %s/ok-$FLOTILLA_SESSION ] && printf 'ok\\n' > ok.txt; true",
			       env->root, env->root);
}

static void
touch(FlTestEnv *env, const gchar *what, guint id)
{
	g_autofree gchar *path = g_strdup_printf("%s/%s-%u", env->root, what, id);

	g_assert_true(g_file_set_contents(path, "", 0, NULL));
}

static void
test_groups_race(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *api = make_repo(env, "api");
	g_autofree gchar *goal = gated_goal(env);
	g_autofree gchar *err = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *branches = NULL;
	g_autofree gchar *out = NULL;
	g_autoptr(GArray) ids = NULL;
	g_autoptr(JsonObject) first = NULL;
	g_autoptr(JsonObject) group = NULL;
	guint a, b, c;

	fl_test_env_use_locales(env);
	fl_test_env_start_daemon(env, NULL);
	ids = run_ids(env, &err, "--race", "3", "--repo", api, "--verify", "test -e ok.txt", "--",
		      goal, NULL);
	g_assert_cmpuint(ids->len, ==, 3);
	a = g_array_index(ids, guint, 0);
	b = g_array_index(ids, guint, 1);
	c = g_array_index(ids, guint, 2);
	for (guint i = 0; i < ids->len; i++)
		g_assert_true(
			fl_test_wait_state(env, g_array_index(ids, guint, i), "running", WAIT_MS));
	/* the first to end fails its verify: no winner yet */
	touch(env, "gate", a);
	state = fl_test_wait_ended(env, a, WAIT_MS);
	g_assert_cmpstr(state, ==, "done");
	first = fl_test_show(env, a);
	g_assert_cmpstr(json_object_get_string_member(first, "verify"), ==, "fail");
	g_assert_cmpstr(json_object_get_string_member(first, "review"), ==, "pending");
	/* the second passes: it wins, the third is cancelled, the first kept as rejected */
	touch(env, "ok", b);
	touch(env, "gate", b);
	g_free(state);
	state = fl_test_wait_ended(env, b, WAIT_MS);
	g_assert_cmpstr(state, ==, "done");
	g_free(state);
	state = fl_test_wait_ended(env, c, WAIT_MS);
	g_assert_cmpstr(state, ==, "cancelled");
	g_assert_cmpstr(review_of(env, b), ==, "pending");
	g_assert_cmpstr(review_of(env, a), ==, "rejected");
	g_assert_cmpstr(review_of(env, c), !=, "pending");
	g_clear_pointer(&first, json_object_unref);
	first = fl_test_show(env, a);
	g_assert_nonnull(strstr(json_object_get_string_member(first, "reason"), "won the race"));
	/* nothing deleted: the loser's branch is there to look at */
	branches = fl_test_git(api, "branch --list 'flotilla/*'");
	g_assert_nonnull(strstr(branches, "flotilla/1"));
	group = show_group(env, json_object_get_string_member(first, "group"));
	g_assert_cmpstr(json_object_get_string_member(group, "policy"), ==, "first-wins");
	g_assert_cmpint(json_object_get_int_member(group, "winner"), ==, b);
	out = fl_test_cli_ok(env, NULL, "show", "1", NULL);
	g_assert_nonnull(strstr(out, "lost-race"));
	/* and for scripts: the loser's history in show --json says who won, from where */
	{
		JsonArray *history = json_object_get_array_member(first, "history");
		gboolean lost = FALSE;

		g_assert_nonnull(history);
		for (guint i = 0; i < json_array_get_length(history); i++) {
			JsonObject *event = json_array_get_object_element(history, i);

			if (g_strcmp0(json_object_get_string_member(event, "kind"), "lost-race") ==
			    0) {
				g_assert_cmpstr(json_object_get_string_member(event, "source"), ==,
						"race");
				g_assert_nonnull(
					strstr(json_object_get_string_member(event, "note"),
					       "won the race"));
				lost = TRUE;
			}
		}
		g_assert_true(lost);
	}
	/* the daemon wrote that reason and note; a German reader reads them in German */
	{
		g_autofree gchar *english = g_strdup_printf("rejected: #%u won the race", b);
		g_autofree gchar *german =
			g_strdup_printf("abgelehnt: #%u hat den Wettlauf gewonnen", b);
		g_autoptr(JsonObject) de = NULL;
		g_auto(GStrv) saved = g_strdupv(env->envp);
		JsonArray *history;

		g_assert_cmpstr(json_object_get_string_member(first, "reason"), ==, english);
		env->envp = g_environ_setenv(env->envp, "LC_ALL", "de_DE.UTF-8", TRUE);
		de = fl_test_show(env, a);
		g_strfreev(env->envp);
		env->envp = g_steal_pointer(&saved);
		g_assert_cmpstr(json_object_get_string_member(de, "reason"), ==, german);
		history = json_object_get_array_member(de, "history");
		for (guint i = 0; i < json_array_get_length(history); i++) {
			JsonObject *event = json_array_get_object_element(history, i);

			if (g_strcmp0(json_object_get_string_member(event, "kind"), "lost-race") ==
			    0)
				g_assert_cmpstr(json_object_get_string_member(event, "note"), ==,
						german + strlen("abgelehnt: "));
		}
	}
}

static void
test_groups_pause(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new("[fleet]\nmax-parallel=1\n");
	g_autofree gchar *api = make_repo(env, "api");
	g_autofree gchar *goal = gated_goal(env);
	g_autofree gchar *state = NULL;
	g_autoptr(GArray) first = NULL;
	g_autoptr(GArray) held = NULL;
	g_autoptr(GArray) other = NULL;
	g_autoptr(JsonObject) obj = NULL;
	g_autofree gchar *out = NULL;

	fl_test_env_start_daemon(env, NULL);
	first = run_ids(env, NULL, "--group", "slow", "--repo", api, "--", goal, NULL);
	g_assert_true(fl_test_wait_state(env, 1, "running", WAIT_MS));
	held = run_ids(env, NULL, "--group", "slow", "--repo", api, "--", "printf a > a.txt", NULL);
	other = run_ids(env, NULL, "--repo", api, "--", "printf b > b.txt", NULL);
	out = fl_test_cli_ok(env, NULL, "pause", "--group", "slow", NULL);
	g_assert_nonnull(strstr(out, "slow"));
	touch(env, "gate", 1);
	/* #2 is first in the queue but held: #3 goes before it */
	state = fl_test_wait_ended(env, 3, WAIT_MS);
	g_assert_cmpstr(state, ==, "done");
	obj = fl_test_show(env, 2);
	g_assert_cmpstr(json_object_get_string_member(obj, "state"), ==, "queued");
	g_assert_nonnull(strstr(json_object_get_string_member(obj, "held"), "group @slow paused"));
	g_clear_pointer(&obj, json_object_unref);
	obj = show_group(env, "slow");
	g_assert_true(json_object_get_boolean_member(obj, "paused"));
	g_free(fl_test_cli_ok(env, NULL, "resume", "--group", "slow", NULL));
	g_free(state);
	state = fl_test_wait_ended(env, 2, WAIT_MS);
	g_assert_cmpstr(state, ==, "done");
}

/* every session's id, state, review and group: what bad input must not change (the
 * coordination's findings arrive on their own time and are not compared) */
static gchar *
sessions_summary(FlTestEnv *env)
{
	g_autofree gchar *out = fl_test_cli_ok(env, NULL, "ls", "--all", "--json", NULL);
	g_autoptr(JsonParser) parser = json_parser_new();
	GString *summary = g_string_new(NULL);
	JsonArray *sessions;

	g_assert_true(json_parser_load_from_data(parser, out, -1, NULL));
	sessions = json_node_get_array(json_parser_get_root(parser));
	for (guint i = 0; i < json_array_get_length(sessions); i++) {
		JsonObject *obj = json_array_get_object_element(sessions, i);
		g_string_append_printf(summary, "%" G_GINT64_FORMAT " %s %s %s\n",
				       json_object_get_int_member(obj, "id"),
				       json_object_get_string_member(obj, "state"),
				       json_object_get_string_member(obj, "review"),
				       json_object_get_string_member(obj, "group"));
	}
	return g_string_free(summary, FALSE);
}

typedef struct {
	const gchar *args[10];
	const gchar *says;
} BadCase;

static void
test_groups_bad_input(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *api = make_repo(env, "api");
	g_autofree gchar *plain = g_build_filename(env->root, "plain", NULL);
	g_autofree gchar *before = NULL;
	g_autofree gchar *after = NULL;
	g_autofree gchar *tip = NULL;
	g_autoptr(GArray) ids = NULL;
	const BadCase cases[] = {
		{{"run", "--race", "0", "--repo", api, "--", "true", NULL}, "--race"},
		{{"run", "--race", "1", "--repo", api, "--", "true", NULL}, "--race"},
		{{"run", "--race", "-2", "--repo", api, "--", "true", NULL}, "--race"},
		{{"run", "--race", "many", "--repo", api, "--", "true", NULL}, "--race"},
		{{"run", "--race", "2", "--repo", api, "--repo", plain, "--", "true", NULL},
		 "one repository"},
		{{"run", "--group", "no spaces", "--repo", api, "--", "true", NULL},
		 "not a group name"},
		{{"run", "--group", "ok", "--scratch", "--", "true", NULL}, "git repository"},
		{{"run", "--group", "ok", "--repo", plain, "--", "true", NULL}, "git repository"},
		{{"run", "--repo", api, "--repo", plain, "--", "true", NULL}, "git repository"},
		{{"run", "--name", "@sneaky", "--repo", api, "--", "true", NULL}, "'@'"},
		{{"run", "--agent", "shell", "--agent", "shell", "--race", "1", "--", "true", NULL},
		 "--race"},
		{{"approve", "@nosuch", NULL}, "no group @nosuch"},
		{{"reject", "@nosuch", NULL}, "no group @nosuch"},
		{{"approve", "@made", "1", NULL}, "alone"},
		{{"approve", "@", NULL}, "not a group"},
		{{"revert", "@made", NULL}, "member by member"},
		{{"show", "@nosuch", NULL}, "no group @nosuch"},
		{{"pause", "--group", "nosuch", NULL}, "no group @nosuch"},
		{{"resume", "--group", "bad name!", NULL}, "not a group"},
	};

	g_assert_cmpint(g_mkdir_with_parents(plain, 0700), ==, 0);
	fl_test_env_start_daemon(env, NULL);
	ids = run_ids(env, NULL, "--group", "made", "--repo", api, "--", "printf q > q.txt", NULL);
	wait_done(env, ids);
	before = sessions_summary(env);
	tip = fl_test_git(api, "rev-parse main");
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *out = NULL;
		g_autofree gchar *err = NULL;
		gint status = fl_test_cliv(env, NULL, cases[i].args, &out, &err);

		g_test_message("case %u: %s", i, err);
		g_assert_cmpint(status, ==, 2);
		g_assert_nonnull(strstr(err, cases[i].says));
		g_assert_null(strchr(g_strstrip(err), '\n'));
	}
	after = sessions_summary(env);
	g_assert_cmpstr(after, ==, before);
	g_free(after);
	after = fl_test_git(api, "rev-parse main");
	g_assert_cmpstr(after, ==, tip);
	g_assert_cmpstr(review_of(env, 1), ==, "pending");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/groups/approve-atomic", test_groups_approve_atomic);
	g_test_add_func("/groups/refuse-atomic", test_groups_refuse_atomic);
	g_test_add_func("/groups/reject-and-one-by-one", test_groups_reject_and_one_by_one);
	g_test_add_func("/groups/bad-input", test_groups_bad_input);
	g_test_add_func("/groups/pause", test_groups_pause);
	g_test_add_func("/groups/race", test_groups_race);
	g_test_add_func("/groups/crash", test_groups_crash);
	return g_test_run();
}
