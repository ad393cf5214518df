/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Git stays flotillad's: confined shell sessions that each try to change the user's
 * repository through git or around it (its branches, packed-refs, config, hooks, objects,
 * another session's draft), and agents that commit as they should. The repository's .git is
 * hashed before and after; the only changes allowed are the session's own worktree entry,
 * its draft branch and the objects that branch brought in. Every session still ends with a
 * draft a user can review.
 */
#include "config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "fl-test-harness.h"

#define WAIT_MS 60000

typedef struct {
	FlTestEnv *env;
	gchar *repo;
	gchar *base;  /* main's commit */
	guint victim; /* another session's draft, waiting for review */
} Fence;

static gchar *
sh(const gchar *cwd, const gchar *format, ...) G_GNUC_PRINTF(2, 3);

static gchar *
sh(const gchar *cwd, const gchar *format, ...)
{
	g_autofree gchar *cmd = NULL;
	va_list args;

	va_start(args, format);
	cmd = g_strdup_vprintf(format, args);
	va_end(args);
	return g_strchomp(fl_test_sh(cwd, cmd));
}

/* a repository with a pack, packed-refs beside loose refs, a tag and a hook of the user's */
static gchar *
make_repo(FlTestEnv *env)
{
	gchar *repo = g_build_filename(env->root, "repo", NULL);

	g_assert_cmpint(g_mkdir_with_parents(repo, 0700), ==, 0);
	g_free(fl_test_sh(repo, "git init -q -b main . && git config user.name 'Test User' && "
				"git config user.email test@example.com && "
				"echo original > notes.txt && git add notes.txt && "
				"git commit -q -m initial && git tag v1 && git branch keep && "
				"git repack -q -a -d && git pack-refs --all && "
				"echo second >> notes.txt && git commit -q -am second && "
				"printf '#!/bin/sh\\nexit 0\\n' > .git/hooks/pre-commit && "
				"chmod +x .git/hooks/pre-commit"));
	return repo;
}

/*
 * Everything in the repository's .git but what session @id may change: its admin directory
 * worktrees/ID, its branch flotilla/ID with the reflog, and new objects (the objects there
 * before are all hashed in @objects, which is filled on the first call)
 */
static gchar *
snapshot(Fence *c, guint id, gchar **objects)
{
	g_autofree gchar *git = g_build_filename(c->repo, ".git", NULL);
	g_autofree gchar *files = NULL;
	g_autofree gchar *objs = NULL;

	files = sh(
		git,
		"find . ! -path './objects/*' ! -path './worktrees/%u' ! -path './worktrees/%u/*' "
		"! -path ./refs/heads/flotilla/%u ! -path ./logs/refs/heads/flotilla/%u "
		"-printf '%%y %%m %%p %%l\\n' | LC_ALL=C sort; "
		"find . -type f ! -path './objects/*' ! -path './worktrees/%u/*' "
		"! -path ./refs/heads/flotilla/%u ! -path ./logs/refs/heads/flotilla/%u "
		"-print0 | LC_ALL=C sort -z | xargs -0 sha256sum",
		id, id, id, id, id, id, id);
	if (*objects == NULL)
		*objects = sh(git, "find objects -type f -print0 | LC_ALL=C sort -z | "
				   "xargs -0 sha256sum");
	objs = sh(git, "awk '{print $2}' <<'EOF' | xargs sha256sum 2>&1\n%s\nEOF", *objects);
	return g_strdup_printf("%s\n%s\n", files, objs);
}

static void
fence_set_up(Fence *c, gconstpointer data)
{
	c->env = fl_test_env_new_confined("[agent hostile]\ncommand=sh -c {goal}\n");
	c->repo = make_repo(c->env);
	c->base = sh(c->repo, "git rev-parse main");
	fl_test_env_start_daemon(c->env, NULL);
	c->victim = fl_test_run_session(c->env, c->repo, "--", "echo draft > draft.txt", NULL);
	g_assert_true(fl_test_wait_state(c->env, c->victim, "done", WAIT_MS));
}

static void
fence_tear_down(Fence *c, gconstpointer data)
{
	g_free(c->base);
	g_free(c->repo);
	fl_test_env_free(c->env);
}

static gchar *
id_text(guint id)
{
	return g_strdup_printf("%u", id);
}

/*
 * Runs @script (GC is the git dir the session sees, V the victim's id, ME its own, ROOT a
 * place outside the sandbox a hook or fsmonitor of the daemon's git would write) as a hostile
 * session that also leaves draft.txt in its worktree. It must end done with that file in a
 * draft waiting for review and the repository unchanged; returns the session's id.
 */
static guint
hostile(Fence *c, const gchar *script)
{
	g_autofree gchar *full = NULL;
	g_autofree gchar *before = NULL;
	g_autofree gchar *after = NULL;
	g_autofree gchar *objects = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *id_str = NULL;
	g_autofree gchar *files = NULL;
	g_autofree gchar *pwned = g_build_filename(c->env->root, "pwned", NULL);
	g_autoptr(JsonObject) show = NULL;
	guint expect = c->victim + 1;
	guint id;

	before = snapshot(c, expect, &objects);
	full = g_strdup_printf("GC=$(git rev-parse --path-format=absolute --git-common-dir); "
			       "V=%u; ME=%u; ROOT='%s'; set -x; { %s ; } 2>&1; "
			       "echo hostile > draft.txt; exit 0",
			       c->victim, expect, c->env->root, script);
	id = fl_test_run_session(c->env, c->repo, "--agent", "hostile", "--", full, NULL);
	g_assert_cmpuint(id, ==, expect);
	state = fl_test_wait_ended(c->env, id, WAIT_MS);
	g_assert_cmpstr(state, ==, "done");
	after = snapshot(c, id, &objects);
	g_assert_cmpstr(after, ==, before);
	g_assert_false(g_file_test(pwned, G_FILE_TEST_EXISTS));
	/* and what the session left is there to review */
	show = fl_test_show(c->env, id);
	g_assert_cmpstr(json_object_get_string_member(show, "review"), ==, "pending");
	files = sh(c->repo, "git show flotilla/%u:draft.txt", id);
	g_assert_cmpstr(files, ==, "hostile");
	id_str = id_text(id);
	g_free(fl_test_cli_ok(c->env, NULL, "diff", id_str, NULL));
	return id;
}

static void
test_write_base_branch_ref(Fence *c, gconstpointer data)
{
	hostile(c, "git commit -q --allow-empty -m evil; git update-ref refs/heads/main HEAD; "
		   "git rev-parse HEAD > $GC/refs/heads/main; git branch -f keep HEAD");
}

static void
test_rewrite_packed_refs(Fence *c, gconstpointer data)
{
	hostile(c, "git commit -q --allow-empty -m evil; "
		   "printf '%s refs/heads/main\\n' $(git rev-parse HEAD) >> $GC/packed-refs; "
		   "sed -i s/^/x/ $GC/packed-refs; rm -f $GC/packed-refs");
}

static void
test_set_hooks_path_and_fsmonitor_in_config(Fence *c, gconstpointer data)
{
	hostile(c,
		"git config core.hooksPath $ROOT; git config core.fsmonitor \"touch $ROOT/pwned\"; "
		"printf '[core]\\n\\tfsmonitor = touch %s/pwned\\n' $ROOT >> $GC/config; "
		"mv $GC/config $GC/config.old; rm -f $GC/config");
}

static void
test_add_post_commit_hook(Fence *c, gconstpointer data)
{
	hostile(c, "printf '#!/bin/sh\\ntouch %s/pwned\\n' $ROOT > $GC/hooks/post-commit; "
		   "chmod +x $GC/hooks/post-commit; echo evil >> $GC/hooks/pre-commit; "
		   "rm -f $GC/hooks/pre-commit; rm -rf $GC/hooks");
}

static void
test_overwrite_objects_and_pack(Fence *c, gconstpointer data)
{
	/* the user's objects are where the alternates file says, read-only */
	hostile(c, "A=$(cat $GC/objects/info/alternates); "
		   "for f in $(find $A $GC/objects -type f); do chmod u+w $f; echo junk > $f; "
		   "done; rm -rf $A/pack; echo '/' > $GC/objects/info/alternates");
}

static void
test_move_another_sessions_draft(Fence *c, gconstpointer data)
{
	hostile(c, "git commit -q --allow-empty -m evil; "
		   "git update-ref refs/heads/flotilla/$V HEAD; "
		   "git rev-parse HEAD > $GC/refs/heads/flotilla/$V; "
		   "cp -r $GC/worktrees/$ME/. $GC/worktrees/$V/");
}

static void
test_delete_branches_and_tags(Fence *c, gconstpointer data)
{
	hostile(c, "git branch -D keep; git tag -d v1; git update-ref -d refs/heads/main; "
		   "git branch -D flotilla/$V; rm -rf $GC/refs/heads $GC/refs/tags");
}

/* gc and pack-refs inside pack the session's own branch: its commit is still found */
static void
test_gc_and_pack_refs_inside(Fence *c, gconstpointer data)
{
	guint id = hostile(c, "echo one > one.txt; git add one.txt; git commit -q -m 'packed "
			      "commit'; git gc -q --prune=now; git pack-refs --all; "
			      "git repack -a -d -q");
	g_autofree gchar *log = sh(c->repo, "git log --format=%%s main..flotilla/%u", id);

	g_assert_nonnull(strstr(log, "packed commit"));
}

/* the one thing taken from the session must be a plain object id that descends from the
 * base: anything else is refused, and the worktree's files are the draft */
static void
expect_refused(Fence *c, const gchar *script, const gchar *why)
{
	guint id = hostile(c, script);
	g_autoptr(JsonObject) show = fl_test_show(c->env, id);
	const gchar *reason = json_object_get_string_member_with_default(show, "reason", "");
	g_autofree gchar *tip_parent = sh(c->repo, "git rev-parse flotilla/%u^", id);

	g_test_message("reason: %s", reason);
	g_assert_nonnull(strstr(reason, why));
	/* the draft is the base and one commit of the worktree's files */
	g_assert_cmpstr(tip_parent, ==, c->base);
}

static void
test_draft_branch_as_symref(Fence *c, gconstpointer data)
{
	expect_refused(c, "git symbolic-ref refs/heads/flotilla/$ME refs/heads/main",
		       "symbolic ref");
}

static void
test_draft_branch_garbage(Fence *c, gconstpointer data)
{
	expect_refused(c,
		       "git commit -q --allow-empty -m x; echo garbage > "
		       "$GC/refs/heads/flotilla/$ME",
		       "does not hold an object id");
}

static void
test_draft_branch_through_symlink(Fence *c, gconstpointer data)
{
	expect_refused(c,
		       "git commit -q --allow-empty -m x; mv $GC/refs/heads/flotilla/$ME "
		       "$GC/tip; ln -s ../../../tip $GC/refs/heads/flotilla/$ME",
		       "cannot be read safely");
}

static void
test_draft_branch_not_from_base(Fence *c, gconstpointer data)
{
	expect_refused(c,
		       "git update-ref refs/heads/flotilla/$ME "
		       "$(git commit-tree -m orphan $(git write-tree))",
		       "does not descend from the base commit");
}

static void
test_draft_branch_missing_objects(Fence *c, gconstpointer data)
{
	expect_refused(c, "git commit -q --allow-empty -m x; rm -rf $GC/objects/??",
		       "objects cannot be read");
}

static void
test_objects_through_a_fifo(Fence *c, gconstpointer data)
{
	expect_refused(c,
		       "git commit -q --allow-empty -m x; T=$(git rev-parse HEAD); "
		       "F=$GC/objects/$(echo $T | cut -c1-2)/$(echo $T | cut -c3-); "
		       "rm -f $F; mkfifo $F",
		       "something other than files");
}

/* an agent that commits twice and leaves one change: all three in the draft, approved */
static void
test_commits_reach_the_draft(Fence *c, gconstpointer data)
{
	g_autofree gchar *goal = NULL;
	g_autofree gchar *id_str = NULL;
	g_autofree gchar *log = NULL;
	g_autofree gchar *tip = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *state = NULL;
	guint id;

	goal = g_strdup("echo a > a.txt && git add a.txt && git commit -q -m 'first commit' && "
			"echo b > b.txt && git add b.txt && git commit -q -m 'second commit' && "
			"flotilla blocked 'go on?' && echo c > c.txt");
	id = fl_test_run_session(c->env, c->repo, "--", goal, NULL);
	id_str = id_text(id);
	g_assert_true(fl_test_wait_state(c->env, id, "blocked", WAIT_MS));
	/* both commits are made, and the repository has not seen them */
	tip = sh(c->repo, "git rev-parse flotilla/%u", id);
	g_assert_cmpstr(tip, ==, c->base);
	g_free(fl_test_cli_ok(c->env, NULL, "reply", id_str, "yes", NULL));
	state = fl_test_wait_ended(c->env, id, WAIT_MS);
	g_assert_cmpstr(state, ==, "done");
	log = sh(c->repo, "git log --format=%%s main..flotilla/%u", id);
	g_assert_nonnull(strstr(log, "first commit"));
	g_assert_nonnull(strstr(log, "second commit"));
	text = sh(c->repo, "git show flotilla/%u:c.txt", id);
	g_assert_cmpstr(text, ==, "c");
	g_free(fl_test_cli_ok(c->env, NULL, "approve", id_str, NULL));
	g_free(log);
	log = sh(c->repo, "git log --format=%%s main");
	g_assert_nonnull(strstr(log, "second commit"));
	g_free(text);
	text = sh(c->repo, "cat a.txt b.txt c.txt");
	g_assert_cmpstr(text, ==, "a\nb\nc");
	/* the layer is gone once taken */
	g_free(text);
	text = g_build_filename(c->env->state_dir, "sessions", id_str, "git", NULL);
	g_assert_false(g_file_test(text, G_FILE_TEST_EXISTS));
}

/* a daemon killed while taking the branch (objects in, branch not moved) finishes it */
static void
test_crash_while_taking(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new_confined(NULL);
	g_autofree gchar *repo = make_repo(env);
	g_autofree gchar *log = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *text = NULL;
	gint status;
	guint id;

	env->envp = g_environ_setenv(env->envp, "FL_TEST_CRASH_AT", "take:imported:1", TRUE);
	fl_test_env_start_daemon(env, NULL);
	env->envp = g_environ_unsetenv(env->envp, "FL_TEST_CRASH_AT");
	id = fl_test_run_session(env, repo, "--",
				 "echo a > a.txt && git add a.txt && git commit -q -m 'kept "
				 "commit' && echo b > b.txt",
				 NULL);
	status = fl_test_env_stop_daemon(env, 0);
	g_assert_true(WIFSIGNALED(status));
	g_assert_cmpint(WTERMSIG(status), ==, SIGKILL);
	fl_test_env_start_daemon(env, NULL);
	state = fl_test_wait_ended(env, id, WAIT_MS);
	g_assert_cmpstr(state, ==, "done");
	log = sh(repo, "git log --format=%%s main..flotilla/%u", id);
	g_assert_nonnull(strstr(log, "kept commit"));
	text = sh(repo, "git show flotilla/%u:b.txt", id);
	g_assert_cmpstr(text, ==, "b");
}

/* unconfined, the agent's git is the repository's own, as before */
static void
test_confinement_off_commits(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new("[fleet]\nconfinement=off\n");
	g_autofree gchar *repo = make_repo(env);
	g_autofree gchar *log = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *layer = NULL;
	g_autofree gchar *id_str = NULL;
	guint id;

	fl_test_env_start_daemon(env, NULL);
	id = fl_test_run_session(env, repo, "--",
				 "echo a > a.txt && git add a.txt && git commit -q -m 'plain "
				 "commit' && echo b > b.txt",
				 NULL);
	state = fl_test_wait_ended(env, id, WAIT_MS);
	g_assert_cmpstr(state, ==, "done");
	log = sh(repo, "git log --format=%%s main..flotilla/%u", id);
	g_assert_nonnull(strstr(log, "plain commit"));
	id_str = id_text(id);
	layer = g_build_filename(env->state_dir, "sessions", id_str, "git", NULL);
	g_assert_false(g_file_test(layer, G_FILE_TEST_EXISTS));
}

static void
add(const gchar *path, void (*func)(Fence *, gconstpointer))
{
	g_test_add(path, Fence, NULL, fence_set_up, func, fence_tear_down);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	add("/gitfence/write-base-branch-ref", test_write_base_branch_ref);
	add("/gitfence/rewrite-packed-refs", test_rewrite_packed_refs);
	add("/gitfence/set-hookspath-and-fsmonitor-in-config",
	    test_set_hooks_path_and_fsmonitor_in_config);
	add("/gitfence/add-post-commit-hook", test_add_post_commit_hook);
	add("/gitfence/overwrite-objects-and-pack", test_overwrite_objects_and_pack);
	add("/gitfence/move-another-sessions-draft", test_move_another_sessions_draft);
	add("/gitfence/delete-branches-and-tags", test_delete_branches_and_tags);
	add("/gitfence/gc-and-pack-refs-inside", test_gc_and_pack_refs_inside);
	add("/gitfence/draft-branch-as-symref", test_draft_branch_as_symref);
	add("/gitfence/draft-branch-garbage", test_draft_branch_garbage);
	add("/gitfence/draft-branch-through-symlink", test_draft_branch_through_symlink);
	add("/gitfence/draft-branch-not-from-base", test_draft_branch_not_from_base);
	add("/gitfence/draft-branch-missing-objects", test_draft_branch_missing_objects);
	add("/gitfence/objects-through-a-fifo", test_objects_through_a_fifo);
	add("/gitfence/commits-reach-the-draft", test_commits_reach_the_draft);
	g_test_add_func("/gitfence/crash-while-taking", test_crash_while_taking);
	g_test_add_func("/gitfence/confinement-off-commits", test_confinement_off_commits);
	return g_test_run();
}
