/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Hostile sessions against flotilla's own git and file writes: each is a shell session that
 * writes only its worktree (and what it can reach of its session), trying to make flotillad's
 * git execute something, move a ref that is not its draft branch, or make flotilla write
 * outside. Each test checks the attempt failed, the user's repository (refs, config, hooks,
 * packed-refs, checkout) and home are byte-for-byte as before, and the draft is still right.
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include "fl-test-harness.h"

#define WAIT_MS 60000

typedef struct {
	FlTestEnv *env;
	gchar *repo;
	gchar *evil; /* a directory outside the repository and home, for the attacker's files */
	gchar *repo_digest;
	gchar *home_digest;
} Hostile;

/* everything of the repository a session must not change: refs but the draft branches, the
 * config, hooks, info, packed-refs, HEAD, and the checkout */
static gchar *
repo_digest(const gchar *repo)
{
	return fl_test_sh(
		repo, "cd .git && { git for-each-ref --format='%(refname) %(objectname)' | "
		      "grep -v '^refs/heads/flotilla/'; cat HEAD packed-refs config 2>/dev/null; "
		      "find hooks info -type f -exec sha256sum {} + 2>/dev/null | sort; "
		      "find hooks info -printf '%p %m %s %l\\n' | sort; cd .. && "
		      "git status --porcelain=v1 && sha256sum notes.txt; } | sha256sum");
}

static gchar *
home_digest(const gchar *home)
{
	return fl_test_sh(home, "{ find . -print | sort; find . -type f -exec sha256sum {} + | "
				"sort; } | sha256sum");
}

static void
hostile_setup_with(Hostile *h, const gchar *config, const gchar *const *daemon_env)
{
	h->env = fl_test_env_new(config);
	for (guint i = 0; daemon_env != NULL && daemon_env[i] != NULL; i += 2)
		h->env->envp =
			g_environ_setenv(h->env->envp, daemon_env[i], daemon_env[i + 1], TRUE);
	h->repo = g_build_filename(h->env->root, "repo", NULL);
	h->evil = g_build_filename(h->env->root, "evil", NULL);
	g_assert_cmpint(g_mkdir_with_parents(h->repo, 0700), ==, 0);
	g_assert_cmpint(g_mkdir_with_parents(h->evil, 0700), ==, 0);
	g_free(fl_test_sh(h->repo, "git init -q -b main . && git config user.name 'Test User' && "
				   "git config user.email test@example.com && "
				   "echo 'line one' > notes.txt && git add notes.txt && "
				   "git commit -q -m initial && git pack-refs --all"));
	/* a victim file in home that links will point at */
	g_free(fl_test_sh(h->env->home, "echo 'keep me' > victim"));
	fl_test_env_start_daemon(h->env, NULL);
	h->repo_digest = repo_digest(h->repo);
	h->home_digest = home_digest(h->env->home);
}

static void
hostile_setup(Hostile *h)
{
	hostile_setup_with(h, NULL, NULL);
}

static void
hostile_assert_untouched(Hostile *h)
{
	g_autofree gchar *repo_now = repo_digest(h->repo);
	g_autofree gchar *home_now = home_digest(h->env->home);
	g_autofree gchar *pwned = fl_test_sh(h->env->root, "find . -name 'PWNED*'");

	g_assert_cmpstr(pwned, ==, "");
	g_assert_cmpstr(repo_now, ==, h->repo_digest);
	g_assert_cmpstr(home_now, ==, h->home_digest);
}

static void
hostile_teardown(Hostile *h)
{
	fl_test_env_stop_daemon(h->env, SIGTERM);
	fl_test_env_free(h->env);
	g_free(h->repo);
	g_free(h->evil);
	g_free(h->repo_digest);
	g_free(h->home_digest);
}

/* runs @script as a shell session in @h's repository, waits for it; returns its id */
static guint
hostile_run(Hostile *h, const gchar *script, const gchar *verify)
{
	guint id;
	g_autofree gchar *state = NULL;

	if (verify != NULL)
		id = fl_test_run_session(h->env, h->repo, "--verify", verify, "--", script, NULL);
	else
		id = fl_test_run_session(h->env, h->repo, "--", script, NULL);
	state = fl_test_wait_ended(h->env, id, WAIT_MS);
	g_assert_cmpstr(state, ==, "done");
	return id;
}

/* the draft of session @id holds @file with @line, and is pending review */
static void
assert_draft(Hostile *h, guint id, const gchar *file, const gchar *line)
{
	g_autofree gchar *name = g_strdup_printf("%u", id);
	g_autofree gchar *diff = fl_test_cli_ok(h->env, NULL, "diff", name, NULL);
	g_autofree gchar *plus = g_strdup_printf("+%s", line);
	g_autoptr(JsonObject) obj = fl_test_show(h->env, id);

	g_assert_cmpstr(json_object_get_string_member(obj, "review"), ==, "pending");
	g_assert_nonnull(strstr(diff, file));
	g_assert_nonnull(strstr(diff, plus));
}

/* an attacker's git directory whose config makes any git reading it run commands */
static gchar *
make_evil_gitdir(Hostile *h, const gchar *name)
{
	g_autofree gchar *cmd = g_strdup_printf(
		"git init -q %s && cd %s && git config core.bare false && "
		"git config core.fsmonitor 'touch %s/PWNED-fsmonitor; false' && "
		"git config filter.x.clean 'sh -c \"touch %s/PWNED-filter; cat\"' && "
		"git config diff.external 'touch %s/PWNED-diff' && "
		"git config core.hooksPath %s/hooks && mkdir -p %s/hooks && "
		"printf '#!/bin/sh\\ntouch %s/PWNED-hook\\n' > %s/hooks/post-commit && "
		"chmod +x %s/hooks/post-commit",
		name, name, h->evil, h->evil, h->evil, h->evil, h->evil, h->evil, h->evil, h->evil);

	g_free(fl_test_sh(h->evil, cmd));
	return g_build_filename(h->evil, name, ".git", NULL);
}

/* the worktree's .git file names a git directory full of commands: flotillad's git must not
 * read it (the reported attack: its diff-tree ran the fsmonitor) */
static void
test_dotgit_redirect(void)
{
	Hostile h = {0};
	g_autofree gchar *evil_gitdir = NULL;
	g_autofree gchar *script = NULL;
	guint id;

	hostile_setup(&h);
	evil_gitdir = make_evil_gitdir(&h, "dotgit");
	script = g_strdup_printf("echo '* filter=x' > .gitattributes && echo 'from the agent' > "
				 "agent.txt && printf 'gitdir: %s\\n' > .git",
				 evil_gitdir);
	id = hostile_run(&h, script, NULL);
	assert_draft(&h, id, "agent.txt", "from the agent");
	hostile_assert_untouched(&h);
	hostile_teardown(&h);
}

/* the worktree's admin directory says its common dir is the attacker's */
static void
test_commondir_redirect(void)
{
	Hostile h = {0};
	g_autofree gchar *evil_gitdir = NULL;
	g_autofree gchar *script = NULL;
	guint id;

	hostile_setup(&h);
	evil_gitdir = make_evil_gitdir(&h, "common");
	script = g_strdup_printf("echo 'from the agent' > agent.txt && "
				 "printf '%s\\n' > \"$(git rev-parse --git-dir)/commondir\"",
				 evil_gitdir);
	id = hostile_run(&h, script, NULL);
	assert_draft(&h, id, "agent.txt", "from the agent");
	hostile_assert_untouched(&h);
	hostile_teardown(&h);
}

/* HEAD of the worktree points at the base branch: flotilla's commit of the leftovers must
 * land on the draft branch, main must not move */
static void
test_head_to_main(void)
{
	Hostile h = {0};
	guint id;

	hostile_setup(&h);
	id = hostile_run(&h,
			 "echo 'left over' > leftover.txt && "
			 "echo 'ref: refs/heads/main' > \"$(git rev-parse --git-dir)/HEAD\"",
			 NULL);
	assert_draft(&h, id, "leftover.txt", "left over");
	hostile_assert_untouched(&h);
	hostile_teardown(&h);
}

/* files git writes in the admin directory, replaced by links to the user's files */
static void
test_admin_dir_links(void)
{
	Hostile h = {0};
	guint id;

	hostile_setup(&h);
	id = hostile_run(&h,
			 "echo 'left over' > leftover.txt && d=$(git rev-parse --git-dir) && "
			 "for f in COMMIT_EDITMSG ORIG_HEAD index.lock; do "
			 "ln -sf \"$HOME/victim\" \"$d/$f\"; done",
			 NULL);
	assert_draft(&h, id, "leftover.txt", "left over");
	hostile_assert_untouched(&h);
	hostile_teardown(&h);
}

/* the session's own state directory: links where flotillad writes the patch and the verify
 * log must be replaced, never written through. A confined session cannot even reach that
 * directory (test-confine): this is flotillad's own care, for sessions run unconfined */
static void
test_session_dir_links(void)
{
	Hostile h = {0};
	g_autofree gchar *name = NULL;
	g_autofree gchar *dir = NULL;
	g_autofree gchar *verify_log = NULL;
	g_autoptr(JsonObject) obj = NULL;
	guint id;

	hostile_setup_with(&h, "[fleet]\nconfinement=off\n", NULL);
	id = hostile_run(&h,
			 "echo 'new' > new.txt && d=\"$XDG_STATE_HOME/flotilla/sessions/"
			 "$FLOTILLA_SESSION\" && for f in draft.patch verify.log; do "
			 "ln -sf \"$HOME/victim\" \"$d/$f\"; done",
			 "echo verified");
	assert_draft(&h, id, "new.txt", "new");
	obj = fl_test_show(h.env, id);
	g_assert_cmpstr(json_object_get_string_member(obj, "verify"), ==, "pass");
	name = g_strdup_printf("%u", id);
	dir = g_build_filename(h.env->state_dir, "sessions", name, NULL);
	verify_log = fl_test_sh(dir, "cat verify.log");
	g_assert_cmpstr(verify_log, ==, "verified\n");
	hostile_assert_untouched(&h);
	hostile_teardown(&h);
}

/* the verify command runs code the agent wrote: it must not see the user's API keys, neither
 * the ones an agent is configured with nor any other credential-looking variable */
static void
test_verify_without_keys(void)
{
	const gchar *daemon_env[] = {
		"FL_TEST_WRITER_KEY", "sk-configured-SECRET", "ANTHROPIC_API_KEY",
		"sk-ant-SECRET",      "GITHUB_TOKEN",         "ghp-SECRET",
		"FL_TEST_KEEP",       "still here",           NULL};
	Hostile h = {0};
	g_autofree gchar *name = NULL;
	g_autofree gchar *dir = NULL;
	g_autofree gchar *log = NULL;
	guint id;

	hostile_setup_with(&h,
			   "[agent writer]\nkind=http\napi=anthropic\nurl=http://127.0.0.1:9/\n"
			   "model=m\napi-key-env=FL_TEST_WRITER_KEY\n",
			   daemon_env);
	/* the draft's own test script is what verify runs */
	id = hostile_run(&h, "printf '#!/bin/sh\\nenv\\n' > check.sh && chmod +x check.sh",
			 "./check.sh");
	name = g_strdup_printf("%u", id);
	dir = g_build_filename(h.env->state_dir, "sessions", name, NULL);
	log = fl_test_sh(dir, "cat verify.log");
	g_assert_nonnull(strstr(log, "FL_TEST_KEEP=still here"));
	g_assert_null(strstr(log, "SECRET"));
	/* and it says which commit it checked: the draft's */
	{
		g_autoptr(JsonObject) obj = fl_test_show(h.env, id);
		g_autofree gchar *rev = g_strdup_printf("git rev-parse flotilla/%u", id);
		g_autofree gchar *tip = g_strstrip(fl_test_sh(h.repo, rev));

		g_assert_cmpstr(json_object_get_string_member(obj, "verify_commit"), ==, tip);
	}
	hostile_assert_untouched(&h);
	hostile_teardown(&h);
}

/* a draft that adds links out of the repository (absolute, "../" beyond the top, into .git) is
 * flagged where the user decides: show, show --json, the digest; links inside are not */
static void
test_links_outside_flagged(void)
{
	Hostile h = {0};
	g_autoptr(JsonObject) obj = NULL;
	g_autofree gchar *name = NULL;
	g_autofree gchar *show = NULL;
	g_autofree gchar *digest = NULL;
	guint id;

	hostile_setup(&h);
	id = hostile_run(&h,
			 "mkdir docs && ln -s /etc/passwd passwd && ln -s ../../../outside up && "
			 "ln -s README docs/fine && ln -s ../notes.txt docs/ok && "
			 "ln -s .git/config cfg && ln -s docs/../../x sneaky",
			 NULL);
	obj = fl_test_show(h.env, id);
	g_assert_cmpstr(json_object_get_string_member(obj, "review"), ==, "pending");
	g_assert_cmpstr(json_object_get_string_member(obj, "links_outside"), ==,
			"cfg -> .git/config\npasswd -> /etc/passwd\nsneaky -> docs/../../x\n"
			"up -> ../../../outside");
	name = g_strdup_printf("%u", id);
	show = fl_test_cli_ok(h.env, NULL, "show", name, NULL);
	g_assert_nonnull(strstr(show, "links_outside: cfg -> .git/config\n"));
	g_assert_nonnull(strstr(show, "  up -> ../../../outside\n"));
	digest = fl_test_cli_ok(h.env, NULL, "checkin", "--preview", NULL);
	g_assert_nonnull(strstr(digest, "links out of the repository: cfg -> .git/config, …"));
	hostile_assert_untouched(&h);
	hostile_teardown(&h);
}

/* links inside the repository are not worth a warning */
static void
test_links_inside_not_flagged(void)
{
	Hostile h = {0};
	g_autoptr(JsonObject) obj = NULL;
	guint id;

	hostile_setup(&h);
	id = hostile_run(&h, "mkdir -p a/b && ln -s ../../notes.txt a/b/up && ln -s a/b link",
			 NULL);
	obj = fl_test_show(h.env, id);
	g_assert_cmpstr(json_object_get_string_member(obj, "review"), ==, "pending");
	g_assert_true(json_object_get_null_member(obj, "links_outside"));
	hostile_teardown(&h);
}

int
main(int argc, char *argv[])
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/githard/dotgit-redirect", test_dotgit_redirect);
	g_test_add_func("/githard/commondir-redirect", test_commondir_redirect);
	g_test_add_func("/githard/head-to-main", test_head_to_main);
	g_test_add_func("/githard/admin-dir-links", test_admin_dir_links);
	g_test_add_func("/githard/session-dir-links", test_session_dir_links);
	g_test_add_func("/githard/verify-without-keys", test_verify_without_keys);
	g_test_add_func("/githard/links-outside-flagged", test_links_outside_flagged);
	g_test_add_func("/githard/links-inside-not-flagged", test_links_inside_not_flagged);
	return g_test_run();
}
