/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Every output is a draft: real git repositories, the real daemon and CLI. Sessions run in
 * worktrees on flotilla/<id>; approve merges, reject discards, revert undoes, and none of it
 * ever touches the user's uncommitted work.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "fl-test-harness.h"

#define WAIT_MS 30000

static gchar *
make_repo(FlTestEnv *env, const gchar *name)
{
	gchar *repo = g_build_filename(env->root, name, NULL);
	g_autofree gchar *cmd = NULL;

	g_assert_cmpint(g_mkdir_with_parents(repo, 0700), ==, 0);
	cmd = g_strdup_printf("git init -q -b main . && git config user.name 'Test User' && "
			      "git config user.email test@example.com && "
			      "printf 'line one\\nline two\\nline three\\n' > notes.txt && "
			      "git add notes.txt && git commit -q -m initial");
	g_free(fl_test_sh(repo, cmd));
	return repo;
}

static gboolean
path_exists(const gchar *dir, const gchar *name)
{
	g_autofree gchar *path = g_build_filename(dir, name, NULL);

	return g_file_test(path, G_FILE_TEST_EXISTS);
}

static void
assert_git(const gchar *repo, const gchar *args, const gchar *expected)
{
	g_autofree gchar *out = fl_test_git(repo, args);

	g_assert_cmpstr(out, ==, expected);
}

static gchar *
read_file(const gchar *dir, const gchar *name)
{
	g_autofree gchar *path = g_build_filename(dir, name, NULL);
	gchar *contents = NULL;

	if (!g_file_get_contents(path, &contents, NULL, NULL))
		return NULL;
	return contents;
}

static guint
run_in(FlTestEnv *env, const gchar *repo, const gchar *goal)
{
	return fl_test_run_session(env, repo, "--", goal, NULL);
}

static void
wait_state(FlTestEnv *env, guint id, const gchar *state)
{
	g_autofree gchar *got = fl_test_wait_ended(env, id, WAIT_MS);

	g_assert_cmpstr(got, ==, state);
}

static const gchar *
show_str(FlTestEnv *env, guint id, const gchar *key, JsonObject **keep)
{
	*keep = fl_test_show(env, id);
	return json_object_get_string_member(*keep, key);
}

static gint
decide(FlTestEnv *env, const gchar *verb, guint id, gchar **err)
{
	g_autofree gchar *ids = g_strdup_printf("%u", id);

	return fl_test_cli(env, NULL, NULL, err, verb, ids, NULL);
}

static void
test_approve_merges(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *head_before = NULL;
	g_autofree gchar *diff = NULL;
	g_autofree gchar *msg = NULL;
	g_autofree gchar *parents = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *contents = NULL;
	g_autofree gchar *branches = NULL;
	g_autoptr(JsonObject) obj = NULL;
	g_autoptr(JsonObject) obj2 = NULL;
	const gchar *worktree;
	guint id;

	fl_test_env_start_daemon(env, NULL);
	head_before = fl_test_git(repo, "rev-parse HEAD");
	id = run_in(env, repo, "echo 'line four' >> notes.txt && echo new > added.txt");
	wait_state(env, id, "done");
	obj = fl_test_show(env, id);
	g_assert_cmpstr(json_object_get_string_member(obj, "review"), ==, "pending");
	g_assert_cmpstr(json_object_get_string_member(obj, "branch"), ==, "flotilla/1");
	g_assert_cmpstr(json_object_get_string_member(obj, "base"), ==, "main");
	g_assert_cmpstr(json_object_get_string_member(obj, "base_commit"), ==, head_before);
	g_assert_nonnull(strstr(json_object_get_string_member(obj, "diffstat"), "2 files changed"));
	worktree = json_object_get_string_member(obj, "worktree");
	g_assert_true(g_str_has_prefix(worktree, env->state_dir));
	/* the agent never touched the user's checkout */
	assert_git(repo, "status --porcelain", "");
	g_assert_false(path_exists(repo, "added.txt"));

	diff = fl_test_cli_ok(env, NULL, "diff", "1", NULL);
	g_assert_nonnull(strstr(diff, "+line four"));
	g_assert_nonnull(strstr(diff, "added.txt"));

	out = fl_test_cli_ok(env, NULL, "approve", "1", "--note", "looks right", NULL);
	g_assert_nonnull(strstr(out, "main"));
	contents = read_file(repo, "notes.txt");
	g_assert_nonnull(strstr(contents, "line four"));
	msg = fl_test_git(repo, "log -1 --format=%s");
	g_assert_nonnull(strstr(msg, "flotilla session 1"));
	parents = fl_test_git(repo, "log -1 --format=%p");
	g_assert_nonnull(strchr(parents, ' ')); /* a merge commit */
	g_assert_false(g_file_test(worktree, G_FILE_TEST_EXISTS));
	branches = fl_test_git(repo, "branch --list 'flotilla/*'");
	g_assert_cmpstr(branches, ==, "");
	g_assert_cmpstr(show_str(env, id, "review", &obj2), ==, "approved");
}

static void
test_conflict_refused(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *err = NULL;
	g_autofree gchar *head = NULL;
	g_autofree gchar *head_after = NULL;
	g_autoptr(JsonObject) obj = NULL;
	guint a, b;

	fl_test_env_start_daemon(env, NULL);
	a = run_in(env, repo, "sed -i 's/line two/line TWO by a/' notes.txt");
	b = run_in(env, repo, "sed -i 's/line two/line 2 by b/' notes.txt");
	wait_state(env, a, "done");
	wait_state(env, b, "done");
	g_assert_cmpint(decide(env, "approve", a, NULL), ==, 0);
	head = fl_test_git(repo, "rev-parse HEAD");
	g_assert_cmpint(decide(env, "approve", b, &err), ==, 1);
	g_assert_nonnull(strstr(err, "notes.txt"));
	g_assert_null(strchr(strchr(err, '\n') + 1, '\n'));
	/* nothing changed: base, checkout, draft */
	head_after = fl_test_git(repo, "rev-parse HEAD");
	g_assert_cmpstr(head, ==, head_after);
	assert_git(repo, "status --porcelain", "");
	assert_git(repo, "rev-parse --verify -q flotilla/2 >/dev/null && echo yes", "yes");
	g_assert_cmpstr(show_str(env, b, "review", &obj), ==, "pending");
}

static void
test_dirty_checkout_refused(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *err = NULL;
	g_autofree gchar *mine = NULL;
	g_autofree gchar *path = NULL;
	g_autoptr(JsonObject) obj = NULL;
	guint id;

	fl_test_env_start_daemon(env, NULL);
	id = run_in(env, repo, "echo agent > agent.txt");
	wait_state(env, id, "done");
	path = g_build_filename(repo, "notes.txt", NULL);
	g_assert_true(g_file_set_contents(path, "my uncommitted edit\n", -1, NULL));
	g_assert_cmpint(decide(env, "approve", id, &err), ==, 1);
	g_assert_nonnull(strstr(err, "notes.txt"));
	mine = read_file(repo, "notes.txt");
	g_assert_cmpstr(mine, ==, "my uncommitted edit\n");
	g_assert_false(path_exists(repo, "agent.txt"));
	g_assert_cmpstr(show_str(env, id, "review", &obj), ==, "pending");
	/* once the user commits, approval goes through */
	g_free(fl_test_git(repo, "commit -qam mine"));
	g_assert_cmpint(decide(env, "approve", id, NULL), ==, 0);
	g_assert_true(path_exists(repo, "agent.txt"));
}

static void
test_reject_and_revert(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *patch = NULL;
	g_autofree gchar *contents = NULL;
	g_autofree gchar *events = NULL;
	g_autoptr(JsonObject) obj = NULL;
	g_autoptr(JsonObject) obj2 = NULL;
	g_autofree gchar *worktree = NULL;
	g_autofree gchar *err = NULL;
	guint a, b;

	fl_test_env_start_daemon(env, NULL);
	a = run_in(env, repo, "echo rejected > r.txt");
	b = run_in(env, repo, "echo kept > k.txt && sed -i 's/line one/LINE ONE/' notes.txt");
	wait_state(env, a, "done");
	wait_state(env, b, "done");
	obj = fl_test_show(env, a);
	worktree = g_strdup(json_object_get_string_member(obj, "worktree"));
	g_assert_true(g_file_test(worktree, G_FILE_TEST_IS_DIR));

	g_assert_cmpint(decide(env, "reject", a, NULL), ==, 0);
	g_assert_false(g_file_test(worktree, G_FILE_TEST_EXISTS));
	assert_git(repo, "branch --list flotilla/1", "");
	/* patch and log kept for audit */
	patch = fl_test_cli_ok(env, NULL, "diff", "1", NULL);
	g_assert_nonnull(strstr(patch, "+rejected"));
	/* deciding again says so and changes nothing */
	g_assert_cmpint(decide(env, "reject", a, &err), ==, 1);
	g_assert_nonnull(strstr(err, "already"));
	g_assert_cmpint(decide(env, "approve", a, NULL), ==, 1);

	g_assert_cmpint(decide(env, "approve", b, NULL), ==, 0);
	contents = read_file(repo, "notes.txt");
	g_assert_nonnull(strstr(contents, "LINE ONE"));
	g_assert_cmpint(decide(env, "revert", b, NULL), ==, 0);
	g_free(contents);
	contents = read_file(repo, "notes.txt");
	g_assert_cmpstr(contents, ==, "line one\nline two\nline three\n");
	g_assert_false(path_exists(repo, "k.txt"));
	g_assert_cmpstr(show_str(env, b, "review", &obj2), ==, "reverted");
	g_assert_cmpint(decide(env, "revert", b, NULL), ==, 1);

	/* the audit trail names who decided, from where */
	events = fl_test_cli_ok(env, NULL, "show", "2", NULL);
	g_assert_nonnull(strstr(events, "approved"));
}

static void
test_verify(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autoptr(JsonObject) pass = NULL;
	g_autoptr(JsonObject) fail = NULL;
	guint a, b;

	fl_test_env_start_daemon(env, NULL);
	a = fl_test_run_session(env, repo, "--verify", "grep -q four notes.txt", "--",
				"echo four >> notes.txt", NULL);
	b = fl_test_run_session(env, repo, "--verify", "echo checking; grep -q five notes.txt",
				"--", "echo four >> notes.txt", NULL);
	wait_state(env, a, "done");
	wait_state(env, b, "done");
	pass = fl_test_show(env, a);
	fail = fl_test_show(env, b);
	g_assert_cmpstr(json_object_get_string_member(pass, "verify"), ==, "pass");
	g_assert_cmpstr(json_object_get_string_member(fail, "verify"), ==, "fail");
	g_assert_cmpstr(json_object_get_string_member(fail, "verify_command"), ==,
			"echo checking; grep -q five notes.txt");
}

static void
test_no_change_and_wip_limit(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new("[fleet]\nmax-unreviewed=2\n");
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *status = NULL;
	g_autofree gchar *ls = NULL;
	g_autofree gchar *err = NULL;
	g_autoptr(JsonObject) none = NULL;
	g_autoptr(JsonObject) held = NULL;
	guint n, a, b, c;

	fl_test_env_start_daemon(env, NULL);
	n = run_in(env, repo, "echo just looking");
	wait_state(env, n, "done");
	none = fl_test_show(env, n);
	g_assert_cmpstr(json_object_get_string_member(none, "review"), ==, "none");
	g_assert_cmpint(decide(env, "approve", n, &err), ==, 1);
	g_assert_nonnull(strstr(err, "no changes"));

	a = run_in(env, repo, "echo a > a.txt");
	b = run_in(env, repo, "echo b > b.txt");
	wait_state(env, a, "done");
	wait_state(env, b, "done");
	c = run_in(env, repo, "echo c > c.txt");
	/* two drafts await review: c stays queued and everyone can see why */
	status = fl_test_cli_ok(env, NULL, "status", NULL);
	g_assert_nonnull(strstr(status, "max-unreviewed"));
	ls = fl_test_cli_ok(env, NULL, "ls", NULL);
	g_assert_nonnull(strstr(ls, "max-unreviewed"));
	held = fl_test_show(env, c);
	g_assert_cmpstr(json_object_get_string_member(held, "state"), ==, "queued");
	g_assert_nonnull(strstr(json_object_get_string_member(held, "held"), "max-unreviewed"));
	g_assert_cmpint(decide(env, "reject", a, NULL), ==, 0);
	wait_state(env, c, "done");
}

static void
test_approve_edge_cases(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *err = NULL;
	guint id;

	fl_test_env_start_daemon(env, NULL);
	g_assert_cmpint(decide(env, "approve", 7, NULL), ==, 2);
	id = run_in(env, repo, "r=$(flotilla blocked 'wait'); echo x > x.txt");
	g_assert_true(fl_test_wait_state(env, id, "blocked", WAIT_MS));
	g_assert_cmpint(decide(env, "approve", id, &err), ==, 1);
	g_assert_nonnull(strstr(err, "blocked"));
	g_free(fl_test_cli_ok(env, NULL, "reply", "1", "go", NULL));
	wait_state(env, id, "done");
	g_assert_cmpint(decide(env, "reject", id, NULL), ==, 0);
	g_assert_cmpint(decide(env, "approve", id, NULL), ==, 1);
}

static void
test_unusual_repos(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "my repo ü space");
	g_autofree gchar *plain = g_build_filename(env->root, "plain dir", NULL);
	g_autofree gchar *err = NULL;
	g_autofree gchar *contents = NULL;
	g_autoptr(JsonObject) obj = NULL;
	g_autoptr(JsonObject) scratch = NULL;
	guint a, b, c;

	fl_test_env_start_daemon(env, NULL);
	a = run_in(env, repo, "echo ü > ü.txt");
	wait_state(env, a, "done");
	g_assert_cmpint(decide(env, "approve", a, NULL), ==, 0);
	contents = read_file(repo, "ü.txt");
	g_assert_cmpstr(contents, ==, "ü\n");

	/* detached HEAD: the user must name the base; then the checkout is left alone */
	g_free(fl_test_git(repo, "checkout -q --detach HEAD~1"));
	g_assert_cmpint(fl_test_cli(env, repo, NULL, &err, "run", "--", "echo d > d.txt", NULL), ==,
			2);
	g_assert_nonnull(strstr(err, "--base"));
	b = fl_test_run_session(env, repo, "--base", "main", "--", "echo d > d.txt", NULL);
	wait_state(env, b, "done");
	obj = fl_test_show(env, b);
	g_assert_cmpstr(json_object_get_string_member(obj, "base"), ==, "main");
	g_assert_cmpint(decide(env, "approve", b, NULL), ==, 0);
	assert_git(repo, "show main:d.txt", "d");
	g_assert_false(path_exists(repo, "d.txt"));

	/* a plain directory, --scratch said: the session runs in a scratch directory, its
	 * output is the draft */
	g_assert_cmpint(g_mkdir_with_parents(plain, 0700), ==, 0);
	c = fl_test_run_session(env, NULL, "--repo", plain, "--scratch", "--",
				"echo drafted > notes.txt", NULL);
	wait_state(env, c, "done");
	scratch = fl_test_show(env, c);
	g_assert_true(json_object_get_null_member(scratch, "repo"));
	g_assert_cmpstr(json_object_get_string_member(scratch, "review"), ==, "pending");
	g_assert_false(path_exists(plain, "notes.txt"));
	g_assert_cmpint(decide(env, "approve", c, NULL), ==, 0);
}

static void
test_kill9_in_worktree(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *gate = g_build_filename(env->root, "gate", NULL);
	g_autofree gchar *goal = g_strdup_printf(
		"echo before > before.txt; while [ ! -e '%s' ]; do sleep 0.05; done; echo after > "
		"after.txt",
		gate);
	g_autofree gchar *diff = NULL;
	g_autofree gchar *started = NULL;
	g_autoptr(JsonObject) obj = NULL;
	guint id;

	fl_test_env_start_daemon(env, NULL);
	id = run_in(env, repo, goal);
	g_assert_true(fl_test_wait_state(env, id, "running", WAIT_MS));
	started = g_build_filename(env->state_dir, "sessions", "1", "started.json", NULL);
	g_assert_true(fl_test_wait_file(started, WAIT_MS));
	fl_test_env_stop_daemon(env, SIGKILL);
	fl_test_env_start_daemon(env, NULL);
	g_assert_true(g_file_set_contents(gate, "", 0, NULL));
	wait_state(env, id, "done");
	obj = fl_test_show(env, id);
	g_assert_cmpstr(json_object_get_string_member(obj, "review"), ==, "pending");
	diff = fl_test_cli_ok(env, NULL, "diff", "1", NULL);
	g_assert_nonnull(strstr(diff, "before.txt"));
	g_assert_nonnull(strstr(diff, "after.txt"));
	g_assert_cmpint(decide(env, "approve", id, NULL), ==, 0);
}

static void
test_racing_approvals(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = make_repo(env, "api");
	g_autofree gchar *cmd = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *merges = NULL;
	guint id;

	fl_test_env_start_daemon(env, NULL);
	id = run_in(env, repo, "echo once > once.txt");
	wait_state(env, id, "done");
	/* five approvals at the same moment: exactly one merge */
	cmd = g_strdup_printf("for i in 1 2 3 4 5; do '%s' approve %u & done; wait",
			      g_getenv("FLOTILLA"), id);
	{
		const gchar *argv[] = {"sh", "-c", cmd, NULL};
		g_autoptr(GError) error = NULL;
		g_spawn_sync(env->root, (gchar **)argv, env->envp, G_SPAWN_SEARCH_PATH, NULL, NULL,
			     &out, NULL, NULL, &error);
		g_assert_no_error(error);
	}
	merges = fl_test_git(repo, "rev-list --merges --count main");
	g_assert_cmpstr(merges, ==, "1");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/drafts/approve-merges", test_approve_merges);
	g_test_add_func("/drafts/conflict-refused", test_conflict_refused);
	g_test_add_func("/drafts/dirty-checkout-refused", test_dirty_checkout_refused);
	g_test_add_func("/drafts/reject-and-revert", test_reject_and_revert);
	g_test_add_func("/drafts/verify", test_verify);
	g_test_add_func("/drafts/no-change-and-wip-limit", test_no_change_and_wip_limit);
	g_test_add_func("/drafts/approve-edge-cases", test_approve_edge_cases);
	g_test_add_func("/drafts/unusual-repos", test_unusual_repos);
	g_test_add_func("/drafts/kill9-in-worktree", test_kill9_in_worktree);
	g_test_add_func("/drafts/racing-approvals", test_racing_approvals);
	return g_test_run();
}
