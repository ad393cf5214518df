/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "fl-error.h"
#include "fl-test-harness.h"
#include "fl-worktree.h"

#define WAIT_MS 120000

/* ---- driving the async API ---- */

static void
result_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GAsyncResult **slot = user_data;

	g_assert_null(*slot);
	*slot = g_object_ref(res);
}

static gboolean
result_ready(gpointer user_data)
{
	GAsyncResult **slot = user_data;

	return *slot != NULL;
}

static void
wait_result(GAsyncResult **slot)
{
	g_assert_true(fl_test_wait_for(result_ready, slot, WAIT_MS));
}

static FlRepoInfo *
probe(const gchar *dir, const gchar *base, GError **error)
{
	g_autoptr(GAsyncResult) res = NULL;

	fl_worktree_probe_async(dir, base, NULL, result_cb, &res);
	wait_result(&res);
	return fl_worktree_probe_finish(res, error);
}

static gboolean
create(const gchar *repo, const gchar *path, const gchar *branch, const gchar *base_commit,
       GError **error)
{
	g_autoptr(GAsyncResult) res = NULL;

	fl_worktree_create_async(repo, path, branch, base_commit, NULL, result_cb, &res);
	wait_result(&res);
	return fl_worktree_create_finish(res, error);
}

/* the draft of @worktree on @branch, its patch in @session_dir/draft.patch */
static FlDraftInfo *
finalize(const gchar *repo, const gchar *worktree, const gchar *branch, const gchar *base_commit,
	 const gchar *message, const gchar *session_dir, GError **error)
{
	g_autoptr(GAsyncResult) res = NULL;

	g_assert_cmpint(g_mkdir_with_parents(session_dir, 0700), ==, 0);
	fl_worktree_finalize_async(repo, worktree, branch, base_commit, message, session_dir, NULL,
				   result_cb, &res);
	wait_result(&res);
	return fl_worktree_finalize_finish(res, error);
}

static FlVerify
verify(const gchar *worktree, const gchar *command, const gchar *log_path, guint timeout_s,
       GError **error)
{
	g_autoptr(GAsyncResult) res = NULL;
	const gchar *argv[] = {"/bin/sh", "-c", command, NULL};

	fl_worktree_verify_async(worktree, argv, log_path, timeout_s, NULL, NULL, result_cb, &res);
	wait_result(&res);
	return fl_worktree_verify_finish(res, error);
}

static gchar *
merge(const gchar *repo, const gchar *branch, const gchar *base_branch, const gchar *message,
      GError **error)
{
	g_autoptr(GAsyncResult) res = NULL;

	fl_worktree_merge_async(repo, branch, NULL, base_branch, message, NULL, result_cb, &res);
	wait_result(&res);
	return fl_worktree_merge_finish(res, error);
}

static gchar *
revert(const gchar *repo, const gchar *base_branch, const gchar *merge_commit, const gchar *message,
       const gchar *scratch_dir, GError **error)
{
	g_autoptr(GAsyncResult) res = NULL;

	fl_worktree_revert_async(repo, base_branch, merge_commit, message, scratch_dir, NULL,
				 result_cb, &res);
	wait_result(&res);
	return fl_worktree_revert_finish(res, error);
}

static gboolean
remove_worktree(const gchar *repo, const gchar *path, const gchar *branch, GError **error)
{
	g_autoptr(GAsyncResult) res = NULL;

	fl_worktree_remove_async(repo, path, branch, NULL, result_cb, &res);
	wait_result(&res);
	return fl_worktree_remove_finish(res, error);
}

/* ---- repositories ---- */

/* stdout of @cmdline run in @cwd, trimmed; asserts success */
static gchar *
sh_line(const gchar *cwd, const gchar *cmdline)
{
	return g_strstrip(fl_test_sh(cwd, cmdline));
}

static gint
sh_status(const gchar *cwd, const gchar *cmdline)
{
	const gchar *argv[] = {"sh", "-c", cmdline, NULL};

	return fl_test_run(cwd, argv, NULL, NULL);
}

static void
write_file(const gchar *dir, const gchar *name, const gchar *contents)
{
	g_autofree gchar *path = g_build_filename(dir, name, NULL);
	g_autoptr(GError) error = NULL;

	g_file_set_contents(path, contents, -1, &error);
	g_assert_no_error(error);
}

static gchar *
read_file(const gchar *dir, const gchar *name)
{
	g_autofree gchar *path = g_build_filename(dir, name, NULL);
	g_autoptr(GError) error = NULL;
	gchar *contents = NULL;

	g_file_get_contents(path, &contents, NULL, &error);
	g_assert_no_error(error);
	return contents;
}

static gboolean
file_exists(const gchar *dir, const gchar *name)
{
	g_autofree gchar *path = g_build_filename(dir, name, NULL);

	return g_file_test(path, G_FILE_TEST_EXISTS);
}

/* a repository at @parent/@name on branch main with README = "hello\n" committed */
static gchar *
repo_new(const gchar *parent, const gchar *name)
{
	gchar *repo = g_build_filename(parent, name, NULL);
	const gchar *init[] = {"git", "init", "-q", "-b", "main", repo, NULL};

	g_assert_cmpint(fl_test_run(NULL, init, NULL, NULL), ==, 0);
	g_free(fl_test_sh(repo, "git config user.name 'Test User' && "
				"git config user.email test@example.com"));
	write_file(repo, "README", "hello\n");
	g_free(fl_test_sh(repo, "git add README && git commit -q -m initial"));
	return repo;
}

/* a finalized draft: worktree @tmp/wt/@id on branch flotilla/@id from main, after @cmdline */
static gchar *
draft_new(const gchar *repo, const gchar *tmp, const gchar *id, const gchar *cmdline)
{
	g_autofree gchar *base = sh_line(repo, "git rev-parse main");
	g_autofree gchar *worktree = g_build_filename(tmp, "wt", id, NULL);
	g_autofree gchar *session = g_strdup_printf("%s/session-%s", tmp, id);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlDraftInfo) info = NULL;
	gchar *branch = g_strconcat("flotilla/", id, NULL);

	g_assert_true(create(repo, worktree, branch, base, &error));
	g_assert_no_error(error);
	g_free(fl_test_sh(worktree, cmdline));
	info = finalize(repo, worktree, branch, base, "draft", session, &error);
	g_assert_no_error(error);
	g_assert_nonnull(info);
	g_assert_true(info->changed);
	return branch;
}

static gboolean
dir_is_empty(const gchar *path)
{
	g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);

	/* missing counts as empty: nothing left behind */
	return dir == NULL || g_dir_read_name(dir) == NULL;
}

/* ---- probe ---- */

static void
test_probe_repo(void)
{
	g_autofree gchar *tmp = fl_test_mkdtemp();
	g_autofree gchar *repo = repo_new(tmp, "repo");
	g_autofree gchar *real = realpath(repo, NULL);
	g_autofree gchar *head = sh_line(repo, "git rev-parse HEAD");
	g_autofree gchar *sub = g_build_filename(repo, "src", "deep", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRepoInfo) info = NULL;
	g_autoptr(FlRepoInfo) info_sub = NULL;
	g_autoptr(FlRepoInfo) info_other = NULL;

	info = probe(repo, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(info->toplevel, ==, real);
	g_assert_cmpstr(info->base_branch, ==, "main");
	g_assert_cmpstr(info->base_commit, ==, head);
	g_assert_cmpuint(strlen(info->base_commit), ==, 40);

	g_assert_cmpint(g_mkdir_with_parents(sub, 0700), ==, 0);
	info_sub = probe(sub, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(info_sub->toplevel, ==, real);
	g_assert_cmpstr(info_sub->base_branch, ==, "main");

	/* an explicit base need not be checked out */
	g_free(fl_test_sh(repo, "git branch other && git commit -q --allow-empty -m more"));
	info_other = probe(sub, "other", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(info_other->base_branch, ==, "other");
	g_assert_cmpstr(info_other->base_commit, ==, head);

	fl_test_rm_rf(tmp);
}

static void
test_probe_errors(void)
{
	g_autofree gchar *tmp = fl_test_mkdtemp();
	g_autofree gchar *repo = repo_new(tmp, "repo");
	g_autofree gchar *plain = g_build_filename(tmp, "plain", NULL);
	g_autofree gchar *missing = g_build_filename(tmp, "missing", NULL);
	g_autofree gchar *empty = g_build_filename(tmp, "empty", NULL);
	const gchar *init[] = {"git", "init", "-q", "-b", "main", empty, NULL};
	g_autoptr(FlRepoInfo) info = NULL;
	g_autoptr(FlRepoInfo) info_base = NULL;
	g_autoptr(GError) error = NULL;

	/* not a repository */
	g_assert_cmpint(g_mkdir(plain, 0700), ==, 0);
	info = probe(plain, NULL, &error);
	g_assert_error(error, FL_ERROR, FL_ERROR_NOT_FOUND);
	g_assert_null(info);
	g_assert_nonnull(strstr(error->message, plain));
	g_assert_nonnull(strstr(error->message, "not in a git repository"));
	g_clear_error(&error);

	info = probe(missing, NULL, &error);
	g_assert_error(error, FL_ERROR, FL_ERROR_NOT_FOUND);
	g_clear_error(&error);

	/* detached HEAD: the branch to land on must be named */
	g_free(fl_test_sh(repo, "git checkout -q --detach"));
	info = probe(repo, NULL, &error);
	g_assert_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT);
	g_assert_nonnull(strstr(error->message, "detached"));
	g_assert_nonnull(strstr(error->message, "--base"));
	g_clear_error(&error);
	info_base = probe(repo, "main", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(info_base->base_branch, ==, "main");

	/* unknown base, and revision syntax that is no branch name */
	info = probe(repo, "nope", &error);
	g_assert_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT);
	g_assert_nonnull(strstr(error->message, "no branch 'nope'"));
	g_clear_error(&error);
	info = probe(repo, "main~0", &error);
	g_assert_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	info = probe(repo, "HEAD", &error);
	g_assert_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);

	/* no commits yet, with or without a base */
	g_assert_cmpint(fl_test_run(NULL, init, NULL, NULL), ==, 0);
	info = probe(empty, NULL, &error);
	g_assert_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT);
	g_assert_nonnull(strstr(error->message, "no commits yet"));
	g_clear_error(&error);
	info = probe(empty, "main", &error);
	g_assert_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT);
	g_assert_nonnull(strstr(error->message, "no commits yet"));
	g_clear_error(&error);

	fl_test_rm_rf(tmp);
}

/* ---- create and finalize ---- */

static void
test_create_finalize(void)
{
	g_autofree gchar *tmp = fl_test_mkdtemp();
	g_autofree gchar *repo = repo_new(tmp, "repo");
	g_autofree gchar *base = NULL;
	g_autofree gchar *wt = g_build_filename(tmp, "state", "worktrees", "1", NULL);
	g_autofree gchar *session = g_build_filename(tmp, "session-1", NULL);
	g_autofree gchar *patch_path = g_build_filename(session, "draft.patch", NULL);
	g_autofree gchar *head = NULL;
	g_autofree gchar *branch_tip = NULL;
	g_autofree gchar *subject = NULL;
	g_autofree gchar *author = NULL;
	g_autofree gchar *status = NULL;
	g_autofree gchar *patch = NULL;
	g_autofree gchar *readme = NULL;
	g_autofree gchar *repo_head = NULL;
	g_autoptr(FlDraftInfo) info = NULL;
	g_autoptr(FlDraftInfo) again = NULL;
	g_autoptr(GError) error = NULL;
	GStatBuf st;

	write_file(repo, ".gitignore", "*.log\n");
	g_free(fl_test_sh(repo, "git add .gitignore && git commit -q -m ignore"));
	base = sh_line(repo, "git rev-parse HEAD");

	/* the parent of the worktree does not exist yet */
	g_assert_true(create(repo, wt, "flotilla/1", base, &error));
	g_assert_no_error(error);
	g_assert_true(g_file_test(wt, G_FILE_TEST_IS_DIR));
	head = sh_line(wt, "git rev-parse HEAD");
	g_assert_cmpstr(head, ==, base);
	g_clear_pointer(&head, g_free);
	head = sh_line(wt, "git symbolic-ref --short HEAD");
	g_assert_cmpstr(head, ==, "flotilla/1");
	g_clear_pointer(&head, g_free);

	/* the branch exists now: a second create must fail */
	g_assert_false(create(repo, wt, "flotilla/1", base, &error));
	g_assert_error(error, FL_ERROR, FL_ERROR_FAILED);
	g_clear_error(&error);

	/* what an agent leaves behind: an edit, a new file, an ignored file */
	write_file(wt, "README", "hello agent\n");
	write_file(wt, "notes.txt", "new file\n");
	write_file(wt, "build.log", "noise\n");
	info = finalize(repo, wt, "flotilla/1", base, "flotilla: leftover changes", session,
			&error);
	g_assert_no_error(error);
	g_assert_true(info->changed);
	g_assert_cmpstr(info->diffstat, ==, "2 files changed, 2 insertions(+), 1 deletion(-)");
	branch_tip = sh_line(repo, "git rev-parse flotilla/1");
	g_assert_cmpstr(info->head_commit, ==, branch_tip);
	g_assert_cmpstr(info->head_commit, !=, base);
	subject = sh_line(wt, "git log -1 --format=%s");
	g_assert_cmpstr(subject, ==, "flotilla: leftover changes");
	author = sh_line(wt, "git log -1 --format='%an <%ae> / %cn <%ce>'");
	g_assert_cmpstr(author, ==,
			"Flotilla <flotilla@localhost> / Flotilla <flotilla@localhost>");
	status = sh_line(wt, "git status --porcelain");
	g_assert_cmpstr(status, ==, "");

	/* the patch is private and holds the change, the new file, not the ignored one */
	g_assert_cmpint(g_stat(patch_path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);
	patch = read_file(session, "draft.patch");
	g_assert_nonnull(strstr(patch, "+hello agent\n"));
	g_assert_nonnull(strstr(patch, "-hello\n"));
	g_assert_nonnull(strstr(patch, "b/notes.txt"));
	g_assert_null(strstr(patch, "build.log"));

	/* the user's checkout saw nothing */
	readme = read_file(repo, "README");
	g_assert_cmpstr(readme, ==, "hello\n");
	repo_head = sh_line(repo, "git rev-parse HEAD");
	g_assert_cmpstr(repo_head, ==, base);

	/* finalizing twice changes nothing */
	again = finalize(repo, wt, "flotilla/1", base, "flotilla: leftover changes", session,
			 &error);
	g_assert_no_error(error);
	g_assert_true(again->changed);
	g_assert_cmpstr(again->head_commit, ==, info->head_commit);
	g_assert_cmpstr(again->diffstat, ==, info->diffstat);

	fl_test_rm_rf(tmp);
}

static void
test_finalize_agent_commits(void)
{
	g_autofree gchar *tmp = fl_test_mkdtemp();
	g_autofree gchar *repo = repo_new(tmp, "repo");
	g_autofree gchar *base = sh_line(repo, "git rev-parse HEAD");
	g_autofree gchar *wt = g_build_filename(tmp, "wt", NULL);
	g_autofree gchar *session = g_build_filename(tmp, "session-2", NULL);
	g_autofree gchar *agent_commit = NULL;
	g_autofree gchar *patch = NULL;
	g_autoptr(FlDraftInfo) info = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_true(create(repo, wt, "flotilla/2", base, &error));
	g_assert_no_error(error);
	write_file(wt, "agent.txt", "committed by the agent\n");
	g_free(fl_test_sh(wt, "git add agent.txt && git commit -q -m 'agent work'"));
	agent_commit = sh_line(wt, "git rev-parse HEAD");

	info = finalize(repo, wt, "flotilla/2", base, "leftovers", session, &error);
	g_assert_no_error(error);
	g_assert_true(info->changed);
	/* nothing was left over: no extra commit */
	g_assert_cmpstr(info->head_commit, ==, agent_commit);
	g_assert_cmpstr(info->diffstat, ==, "1 file changed, 1 insertion(+)");
	patch = read_file(session, "draft.patch");
	g_assert_nonnull(strstr(patch, "+committed by the agent"));

	fl_test_rm_rf(tmp);
}

static void
test_finalize_unchanged(void)
{
	g_autofree gchar *tmp = fl_test_mkdtemp();
	g_autofree gchar *repo = repo_new(tmp, "repo");
	g_autofree gchar *base = sh_line(repo, "git rev-parse HEAD");
	g_autofree gchar *wt = g_build_filename(tmp, "wt", NULL);
	g_autofree gchar *session = g_build_filename(tmp, "session-3", NULL);
	g_autofree gchar *patch = NULL;
	g_autoptr(FlDraftInfo) info = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_true(create(repo, wt, "flotilla/3", base, &error));
	g_assert_no_error(error);
	info = finalize(repo, wt, "flotilla/3", base, "leftovers", session, &error);
	g_assert_no_error(error);
	g_assert_false(info->changed);
	g_assert_cmpstr(info->diffstat, ==, "");
	g_assert_cmpstr(info->head_commit, ==, base);
	patch = read_file(session, "draft.patch");
	g_assert_cmpstr(patch, ==, "");

	fl_test_rm_rf(tmp);
}

/* ---- verify ---- */

static gboolean
poll_cb(gpointer user_data)
{
	return G_SOURCE_CONTINUE;
}

/* gone or a zombie: either way it runs no more */
static gboolean
process_gone(gpointer user_data)
{
	const gchar *pid = user_data;
	g_autofree gchar *path = g_strdup_printf("/proc/%s/stat", pid);
	g_autofree gchar *stat = NULL;
	const gchar *paren;

	if (!g_file_get_contents(path, &stat, NULL, NULL))
		return TRUE;
	paren = strrchr(stat, ')');
	return paren != NULL && (paren[2] == 'Z' || paren[2] == 'X');
}

static void
test_verify(void)
{
	g_autofree gchar *tmp = fl_test_mkdtemp();
	g_autofree gchar *real = realpath(tmp, NULL);
	g_autofree gchar *log_path = g_build_filename(tmp, "verify.log", NULL);
	FlVerify result = FL_VERIFY_NONE;
	g_autofree gchar *log = NULL;
	g_autofree gchar *pid = NULL;
	g_autofree gchar *expected_pwd = NULL;
	g_autoptr(GError) error = NULL;
	GStatBuf st;
	gint64 start;
	guint poll_id;

	result = verify(tmp, "echo out; echo err >&2; pwd", log_path, 60, &error);
	g_assert_no_error(error);
	g_assert_cmpint(result, ==, FL_VERIFY_PASS);
	log = read_file(tmp, "verify.log");
	expected_pwd = g_strdup_printf("out\nerr\n%s\n", real);
	g_assert_cmpstr(log, ==, expected_pwd);
	g_assert_cmpint(g_stat(log_path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);
	g_clear_pointer(&log, g_free);

	/* the log starts over each time */
	result = verify(tmp, "echo failing; exit 3", log_path, 60, &error);
	g_assert_no_error(error);
	g_assert_cmpint(result, ==, FL_VERIFY_FAIL);
	log = read_file(tmp, "verify.log");
	g_assert_cmpstr(log, ==, "failing\n");

	/* the whole process group dies at the deadline, not only the shell */
	start = g_get_monotonic_time();
	result = verify(tmp, "sleep 100 & echo $! > sleep.pid; wait", log_path, 1, &error);
	g_assert_no_error(error);
	g_assert_cmpint(result, ==, FL_VERIFY_TIMEOUT);
	g_assert_cmpint(g_get_monotonic_time() - start, <, 30 * G_USEC_PER_SEC);
	pid = read_file(tmp, "sleep.pid");
	g_strstrip(pid);
	g_assert_cmpstr(pid, !=, "");
	/* nothing signals the death of a grandchild: poll, with a deadline */
	poll_id = g_timeout_add(20, poll_cb, NULL);
	g_assert_true(fl_test_wait_for(process_gone, pid, 10000));
	g_source_remove(poll_id);

	fl_test_rm_rf(tmp);
}

static void
test_verify_stragglers(void)
{
	g_autofree gchar *tmp = fl_test_mkdtemp();
	g_autofree gchar *log_path = g_build_filename(tmp, "verify.log", NULL);
	FlVerify result = FL_VERIFY_NONE;
	g_autofree gchar *pid = NULL;
	g_autoptr(GError) error = NULL;
	guint poll_id;

	/* the shell passes but leaves a background job: it does not outlive the verdict */
	result = verify(tmp, "sleep 100 & echo $! > sleep.pid", log_path, 60, &error);
	g_assert_no_error(error);
	g_assert_cmpint(result, ==, FL_VERIFY_PASS);
	pid = read_file(tmp, "sleep.pid");
	g_strstrip(pid);
	poll_id = g_timeout_add(20, poll_cb, NULL);
	g_assert_true(fl_test_wait_for(process_gone, pid, 10000));
	g_source_remove(poll_id);

	fl_test_rm_rf(tmp);
}

static gboolean
pid_written(gpointer user_data)
{
	const gchar *path = user_data;
	g_autofree gchar *contents = NULL;

	return g_file_get_contents(path, &contents, NULL, NULL) && strchr(contents, '\n') != NULL;
}

static void
test_verify_cancel(void)
{
	const gchar *sleeper[] = {"/bin/sh", "-c", "sleep 100 & echo $! > sleep.pid; wait", NULL};
	g_autofree gchar *tmp = fl_test_mkdtemp();
	g_autofree gchar *log_path = g_build_filename(tmp, "verify.log", NULL);
	g_autofree gchar *pid_path = g_build_filename(tmp, "sleep.pid", NULL);
	FlVerify result = FL_VERIFY_NONE;
	g_autofree gchar *pid = NULL;
	g_autoptr(GCancellable) cancellable = g_cancellable_new();
	g_autoptr(GAsyncResult) res = NULL;
	g_autoptr(GError) error = NULL;
	guint poll_id;

	/* no timeout at all: only the cancellation ends it */
	fl_worktree_verify_async(tmp, sleeper, log_path, 0, NULL, cancellable, result_cb, &res);
	poll_id = g_timeout_add(20, poll_cb, NULL);
	g_assert_true(fl_test_wait_for(pid_written, pid_path, WAIT_MS));
	g_assert_null(res);
	g_cancellable_cancel(cancellable);
	wait_result(&res);
	result = fl_worktree_verify_finish(res, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_cmpint(result, ==, FL_VERIFY_NONE);
	pid = read_file(tmp, "sleep.pid");
	g_strstrip(pid);
	g_assert_true(fl_test_wait_for(process_gone, pid, 10000));
	g_source_remove(poll_id);

	fl_test_rm_rf(tmp);
}

static void
test_verify_bad_log(void)
{
	g_autofree gchar *tmp = fl_test_mkdtemp();
	g_autofree gchar *log_path = g_build_filename(tmp, "no", "such", "verify.log", NULL);
	FlVerify result = FL_VERIFY_NONE;
	g_autoptr(GError) error = NULL;

	result = verify(tmp, "true", log_path, 60, &error);
	g_assert_error(error, FL_ERROR, FL_ERROR_FAILED);
	g_assert_cmpint(result, ==, FL_VERIFY_NONE);

	fl_test_rm_rf(tmp);
}

/* ---- merge ---- */

static void
test_merge_not_checked_out(void)
{
	g_autofree gchar *tmp = fl_test_mkdtemp();
	g_autofree gchar *repo = repo_new(tmp, "repo");
	g_autofree gchar *branch = NULL;
	g_autofree gchar *old_main = sh_line(repo, "git rev-parse main");
	g_autofree gchar *draft_tip = NULL;
	g_autofree gchar *merged = NULL;
	g_autofree gchar *main_tip = NULL;
	g_autofree gchar *parents = NULL;
	g_autofree gchar *expected_parents = NULL;
	g_autofree gchar *message = NULL;
	g_autofree gchar *author = NULL;
	g_autofree gchar *user_branch = NULL;
	g_autofree gchar *readme = NULL;
	g_autofree gchar *feature = NULL;
	g_autoptr(GError) error = NULL;

	branch = draft_new(repo, tmp, "1", "echo feature > feature.txt");
	draft_tip = sh_line(repo, "git rev-parse flotilla/1");

	/* the user works on another branch, with uncommitted edits that are none of our business */
	g_free(fl_test_sh(repo, "git checkout -q -b other && echo 'my edit' > README"));

	merged = merge(repo, branch, "main", "Merge draft 1", &error);
	g_assert_no_error(error);
	g_assert_nonnull(merged);
	main_tip = sh_line(repo, "git rev-parse main");
	g_assert_cmpstr(main_tip, ==, merged);
	parents = sh_line(repo, "git rev-list --parents -n 1 main");
	expected_parents = g_strdup_printf("%s %s %s", merged, old_main, draft_tip);
	g_assert_cmpstr(parents, ==, expected_parents);
	message = sh_line(repo, "git log -1 --format=%B main");
	g_assert_cmpstr(message, ==, "Merge draft 1");
	author = sh_line(repo, "git log -1 --format='%an <%ae>' main");
	g_assert_cmpstr(author, ==, "Test User <test@example.com>");
	feature = sh_line(repo, "git show main:feature.txt");
	g_assert_cmpstr(feature, ==, "feature");

	/* the user's checkout is untouched */
	user_branch = sh_line(repo, "git symbolic-ref --short HEAD");
	g_assert_cmpstr(user_branch, ==, "other");
	g_assert_false(file_exists(repo, "feature.txt"));
	readme = read_file(repo, "README");
	g_assert_cmpstr(readme, ==, "my edit\n");

	fl_test_rm_rf(tmp);
}

static void
test_merge_checked_out(void)
{
	g_autofree gchar *tmp = fl_test_mkdtemp();
	g_autofree gchar *repo = repo_new(tmp, "repo");
	g_autofree gchar *branch = NULL;
	g_autofree gchar *old_main = sh_line(repo, "git rev-parse main");
	g_autofree gchar *merged = NULL;
	g_autofree gchar *head = NULL;
	g_autofree gchar *parents = NULL;
	g_autofree gchar *message = NULL;
	g_autofree gchar *status = NULL;
	g_autofree gchar *feature = NULL;
	g_autofree gchar *readme = NULL;
	g_autofree gchar *first_parent = NULL;
	g_auto(GStrv) ids = NULL;
	g_autoptr(GError) error = NULL;

	branch = draft_new(repo, tmp, "1", "echo feature > feature.txt && echo more >> README");
	merged = merge(repo, branch, "main", "Merge draft 1\n\nApproved from the digest.", &error);
	g_assert_no_error(error);

	head = sh_line(repo, "git rev-parse HEAD");
	g_assert_cmpstr(head, ==, merged);
	parents = sh_line(repo, "git rev-list --parents -n 1 HEAD");
	ids = g_strsplit(parents, " ", -1);
	g_assert_cmpuint(g_strv_length(ids), ==, 3);
	first_parent = sh_line(repo, "git rev-parse HEAD^1");
	g_assert_cmpstr(first_parent, ==, old_main);
	message = sh_line(repo, "git log -1 --format=%B");
	g_assert_cmpstr(message, ==, "Merge draft 1\n\nApproved from the digest.");

	/* the working tree and index follow */
	feature = read_file(repo, "feature.txt");
	g_assert_cmpstr(feature, ==, "feature\n");
	readme = read_file(repo, "README");
	g_assert_cmpstr(readme, ==, "hello\nmore\n");
	status = sh_line(repo, "git status --porcelain");
	g_assert_cmpstr(status, ==, "");

	fl_test_rm_rf(tmp);
}

static void
test_merge_dirty(void)
{
	g_autofree gchar *tmp = fl_test_mkdtemp();
	g_autofree gchar *repo = repo_new(tmp, "repo");
	g_autofree gchar *branch = NULL;
	g_autofree gchar *old_main = sh_line(repo, "git rev-parse main");
	g_autofree gchar *merged = NULL;
	g_autofree gchar *head = NULL;
	g_autofree gchar *readme = NULL;
	g_autofree gchar *mine = NULL;
	g_autoptr(GError) error = NULL;

	branch = draft_new(repo, tmp, "1", "echo feature > feature.txt");

	/* an uncommitted edit to a tracked file, even one the draft does not touch */
	write_file(repo, "README", "user's unsaved work\n");
	merged = merge(repo, branch, "main", "Merge draft 1", &error);
	g_assert_error(error, FL_ERROR, FL_ERROR_DIRTY);
	g_assert_null(merged);
	g_assert_nonnull(strstr(error->message, "README"));
	g_assert_nonnull(strstr(error->message, repo));
	g_clear_error(&error);
	readme = read_file(repo, "README");
	g_assert_cmpstr(readme, ==, "user's unsaved work\n");
	head = sh_line(repo, "git rev-parse HEAD");
	g_assert_cmpstr(head, ==, old_main);
	g_assert_false(file_exists(repo, "feature.txt"));
	g_clear_pointer(&head, g_free);

	/* a staged change is uncommitted work too */
	g_free(fl_test_sh(repo, "git add README"));
	merged = merge(repo, branch, "main", "Merge draft 1", &error);
	g_assert_error(error, FL_ERROR, FL_ERROR_DIRTY);
	g_assert_nonnull(strstr(error->message, "README"));
	g_clear_error(&error);

	/* an untracked file the merge would overwrite */
	g_free(fl_test_sh(repo, "git reset -q --hard"));
	write_file(repo, "feature.txt", "mine\n");
	merged = merge(repo, branch, "main", "Merge draft 1", &error);
	g_assert_error(error, FL_ERROR, FL_ERROR_DIRTY);
	g_assert_null(merged);
	g_assert_nonnull(strstr(error->message, "feature.txt"));
	g_clear_error(&error);
	mine = read_file(repo, "feature.txt");
	g_assert_cmpstr(mine, ==, "mine\n");
	head = sh_line(repo, "git rev-parse main");
	g_assert_cmpstr(head, ==, old_main);

	fl_test_rm_rf(tmp);
}

static void
test_merge_conflict(void)
{
	g_autofree gchar *tmp = fl_test_mkdtemp();
	g_autofree gchar *repo = repo_new(tmp, "repo");
	g_autofree gchar *first = NULL;
	g_autofree gchar *second = NULL;
	g_autofree gchar *merged = NULL;
	g_autofree gchar *failed = NULL;
	g_autofree gchar *head = NULL;
	g_autofree gchar *readme = NULL;
	g_autofree gchar *status = NULL;
	g_autoptr(GError) error = NULL;

	/* two drafts from the same base edit the same line */
	first = draft_new(repo, tmp, "1", "echo 'hello from one' > README");
	second = draft_new(repo, tmp, "2", "echo 'hello from two' > README && echo x > other.txt");

	merged = merge(repo, first, "main", "Merge draft 1", &error);
	g_assert_no_error(error);
	failed = merge(repo, second, "main", "Merge draft 2", &error);
	g_assert_error(error, FL_ERROR, FL_ERROR_CONFLICT);
	g_assert_null(failed);
	g_assert_nonnull(strstr(error->message, "README"));
	g_assert_nonnull(strstr(error->message, "main"));
	/* only the conflicted file is named */
	g_assert_null(strstr(error->message, "other.txt"));

	head = sh_line(repo, "git rev-parse main");
	g_assert_cmpstr(head, ==, merged);
	readme = read_file(repo, "README");
	g_assert_cmpstr(readme, ==, "hello from one\n");
	status = sh_line(repo, "git status --porcelain");
	g_assert_cmpstr(status, ==, "");

	fl_test_rm_rf(tmp);
}

static void
test_merge_unknown_branch(void)
{
	g_autofree gchar *tmp = fl_test_mkdtemp();
	g_autofree gchar *repo = repo_new(tmp, "repo");
	g_autofree gchar *merged = NULL;
	g_autoptr(GError) error = NULL;

	merged = merge(repo, "flotilla/404", "main", "Merge", &error);
	g_assert_error(error, FL_ERROR, FL_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(error->message, "flotilla/404"));
	g_assert_null(merged);

	fl_test_rm_rf(tmp);
}

/* ---- revert ---- */

static void
test_revert(void)
{
	g_autofree gchar *tmp = fl_test_mkdtemp();
	g_autofree gchar *repo = repo_new(tmp, "repo");
	g_autofree gchar *scratch = g_build_filename(tmp, "scratch", NULL);
	g_autofree gchar *branch = NULL;
	g_autofree gchar *merged = NULL;
	g_autofree gchar *reverted = NULL;
	g_autofree gchar *head = NULL;
	g_autofree gchar *parent = NULL;
	g_autofree gchar *message = NULL;
	g_autofree gchar *readme = NULL;
	g_autofree gchar *status = NULL;
	g_autofree gchar *worktrees = NULL;
	g_autoptr(GError) error = NULL;

	branch = draft_new(repo, tmp, "1", "echo feature > feature.txt && echo more >> README");
	merged = merge(repo, branch, "main", "Merge draft 1", &error);
	g_assert_no_error(error);
	g_assert_true(file_exists(repo, "feature.txt"));

	reverted = revert(repo, "main", merged, "Revert draft 1", scratch, &error);
	g_assert_no_error(error);
	g_assert_nonnull(reverted);
	g_assert_cmpstr(reverted, !=, merged);

	/* the tree is back, the history keeps both */
	head = sh_line(repo, "git rev-parse HEAD");
	g_assert_cmpstr(head, ==, reverted);
	parent = sh_line(repo, "git rev-parse HEAD^");
	g_assert_cmpstr(parent, ==, merged);
	message = sh_line(repo, "git log -1 --format=%B");
	g_assert_cmpstr(message, ==, "Revert draft 1");
	g_assert_false(file_exists(repo, "feature.txt"));
	readme = read_file(repo, "README");
	g_assert_cmpstr(readme, ==, "hello\n");
	status = sh_line(repo, "git status --porcelain");
	g_assert_cmpstr(status, ==, "");

	/* no temporary worktree left behind */
	g_assert_true(dir_is_empty(scratch));
	worktrees = sh_line(repo, "git worktree list --porcelain");
	g_assert_null(strstr(worktrees, scratch));

	fl_test_rm_rf(tmp);
}

static void
test_revert_not_checked_out(void)
{
	g_autofree gchar *tmp = fl_test_mkdtemp();
	g_autofree gchar *repo = repo_new(tmp, "repo");
	g_autofree gchar *scratch = g_build_filename(tmp, "scratch", NULL);
	g_autofree gchar *old_tree = sh_line(repo, "git rev-parse main^{tree}");
	g_autofree gchar *branch = NULL;
	g_autofree gchar *merged = NULL;
	g_autofree gchar *reverted = NULL;
	g_autofree gchar *main_tip = NULL;
	g_autofree gchar *tree = NULL;
	g_autofree gchar *user_branch = NULL;
	g_autoptr(GError) error = NULL;

	branch = draft_new(repo, tmp, "1", "echo feature > feature.txt");
	g_free(fl_test_sh(repo, "git checkout -q -b other"));
	merged = merge(repo, branch, "main", "Merge draft 1", &error);
	g_assert_no_error(error);

	reverted = revert(repo, "main", merged, "Revert draft 1", scratch, &error);
	g_assert_no_error(error);
	main_tip = sh_line(repo, "git rev-parse main");
	g_assert_cmpstr(main_tip, ==, reverted);
	tree = sh_line(repo, "git rev-parse main^{tree}");
	g_assert_cmpstr(tree, ==, old_tree);
	g_assert_cmpint(sh_status(repo, "git merge-base --is-ancestor main^ main"), ==, 0);
	user_branch = sh_line(repo, "git symbolic-ref --short HEAD");
	g_assert_cmpstr(user_branch, ==, "other");
	g_assert_true(dir_is_empty(scratch));

	fl_test_rm_rf(tmp);
}

static void
test_revert_dirty(void)
{
	g_autofree gchar *tmp = fl_test_mkdtemp();
	g_autofree gchar *repo = repo_new(tmp, "repo");
	g_autofree gchar *scratch = g_build_filename(tmp, "scratch", NULL);
	g_autofree gchar *branch = NULL;
	g_autofree gchar *merged = NULL;
	g_autofree gchar *reverted = NULL;
	g_autofree gchar *head = NULL;
	g_autofree gchar *readme = NULL;
	g_autoptr(GError) error = NULL;

	branch = draft_new(repo, tmp, "1", "echo feature > feature.txt");
	merged = merge(repo, branch, "main", "Merge draft 1", &error);
	g_assert_no_error(error);

	write_file(repo, "README", "user's unsaved work\n");
	reverted = revert(repo, "main", merged, "Revert draft 1", scratch, &error);
	g_assert_error(error, FL_ERROR, FL_ERROR_DIRTY);
	g_assert_null(reverted);
	g_assert_nonnull(strstr(error->message, "README"));
	g_assert_nonnull(strstr(error->message, "revert again"));

	head = sh_line(repo, "git rev-parse HEAD");
	g_assert_cmpstr(head, ==, merged);
	readme = read_file(repo, "README");
	g_assert_cmpstr(readme, ==, "user's unsaved work\n");
	g_assert_true(file_exists(repo, "feature.txt"));
	g_assert_true(dir_is_empty(scratch));

	fl_test_rm_rf(tmp);
}

static void
test_revert_conflict(void)
{
	g_autofree gchar *tmp = fl_test_mkdtemp();
	g_autofree gchar *repo = repo_new(tmp, "repo");
	g_autofree gchar *scratch = g_build_filename(tmp, "scratch", NULL);
	g_autofree gchar *branch = NULL;
	g_autofree gchar *merged = NULL;
	g_autofree gchar *reverted = NULL;
	g_autofree gchar *head = NULL;
	g_autofree gchar *later = NULL;
	g_autofree gchar *readme = NULL;
	g_autofree gchar *status = NULL;
	g_autofree gchar *worktrees = NULL;
	g_autoptr(GError) error = NULL;

	branch = draft_new(repo, tmp, "1", "echo 'hello from the draft' > README");
	merged = merge(repo, branch, "main", "Merge draft 1", &error);
	g_assert_no_error(error);
	/* the user builds on the draft's line afterwards */
	g_free(fl_test_sh(repo, "echo 'hello from the user' > README && git commit -q -am later"));
	later = sh_line(repo, "git rev-parse HEAD");

	reverted = revert(repo, "main", merged, "Revert draft 1", scratch, &error);
	g_assert_error(error, FL_ERROR, FL_ERROR_CONFLICT);
	g_assert_null(reverted);
	g_assert_nonnull(strstr(error->message, "README"));

	head = sh_line(repo, "git rev-parse HEAD");
	g_assert_cmpstr(head, ==, later);
	readme = read_file(repo, "README");
	g_assert_cmpstr(readme, ==, "hello from the user\n");
	status = sh_line(repo, "git status --porcelain");
	g_assert_cmpstr(status, ==, "");
	g_assert_true(dir_is_empty(scratch));
	worktrees = sh_line(repo, "git worktree list --porcelain");
	g_assert_null(strstr(worktrees, scratch));

	fl_test_rm_rf(tmp);
}

/* ---- remove ---- */

static void
test_remove(void)
{
	g_autofree gchar *tmp = fl_test_mkdtemp();
	g_autofree gchar *repo = repo_new(tmp, "repo");
	g_autofree gchar *wt1 = g_build_filename(tmp, "wt", "1", NULL);
	g_autofree gchar *wt2 = g_build_filename(tmp, "wt", "2", NULL);
	g_autofree gchar *stale = g_build_filename(tmp, "wt", "stale", NULL);
	g_autofree gchar *branch = NULL;
	g_autofree gchar *branch2 = NULL;
	g_autofree gchar *worktrees = NULL;
	g_autoptr(GError) error = NULL;

	branch = draft_new(repo, tmp, "1", "echo feature > feature.txt && echo junk > junk.txt");
	/* uncommitted junk in the worktree does not stop a removal */
	write_file(wt1, "more-junk.txt", "x\n");
	g_assert_true(remove_worktree(repo, wt1, branch, &error));
	g_assert_no_error(error);
	g_assert_false(g_file_test(wt1, G_FILE_TEST_EXISTS));
	g_assert_cmpint(sh_status(repo, "git show-ref --verify --quiet refs/heads/flotilla/1"), !=,
			0);
	worktrees = sh_line(repo, "git worktree list --porcelain");
	g_assert_null(strstr(worktrees, wt1));

	/* again: missing worktree and branch are fine */
	g_assert_true(remove_worktree(repo, wt1, branch, &error));
	g_assert_no_error(error);

	/* without a branch the branch stays */
	branch2 = draft_new(repo, tmp, "2", "echo two > two.txt");
	g_assert_true(remove_worktree(repo, wt2, NULL, &error));
	g_assert_no_error(error);
	g_assert_false(g_file_test(wt2, G_FILE_TEST_EXISTS));
	g_assert_cmpint(sh_status(repo, "git show-ref --verify --quiet refs/heads/flotilla/2"), ==,
			0);

	/* a directory git does not know about (a half-created worktree) goes too */
	g_assert_cmpint(g_mkdir_with_parents(stale, 0700), ==, 0);
	write_file(stale, "leftover", "x\n");
	g_assert_true(remove_worktree(repo, stale, NULL, &error));
	g_assert_no_error(error);
	g_assert_false(g_file_test(stale, G_FILE_TEST_EXISTS));

	/* never the repository itself */
	g_assert_false(remove_worktree(repo, repo, NULL, &error));
	g_assert_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_false(remove_worktree(repo, tmp, NULL, &error));
	g_assert_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_true(file_exists(repo, "README"));

	fl_test_rm_rf(tmp);
}

/* ---- names with spaces and non-ASCII ---- */

static void
test_unicode_paths(void)
{
	g_autofree gchar *tmp = fl_test_mkdtemp();
	g_autofree gchar *repo = repo_new(tmp, "my repo ü");
	g_autofree gchar *real = realpath(repo, NULL);
	g_autofree gchar *base = sh_line(repo, "git rev-parse HEAD");
	g_autofree gchar *wt = g_build_filename(tmp, "work trees ü", "draft 1", NULL);
	g_autofree gchar *session = g_build_filename(tmp, "session ü", NULL);
	g_autofree gchar *merged = NULL;
	g_autofree gchar *head = NULL;
	g_autofree gchar *contents = NULL;
	g_autoptr(FlRepoInfo) info = NULL;
	g_autoptr(FlDraftInfo) draft = NULL;
	g_autoptr(GError) error = NULL;

	info = probe(repo, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(info->toplevel, ==, real);

	g_assert_true(create(repo, wt, "flotilla/1", base, &error));
	g_assert_no_error(error);
	write_file(wt, "fichier ü.txt", "contenu\n");
	draft = finalize(repo, wt, "flotilla/1", base, "leftovers ü", session, &error);
	g_assert_no_error(error);
	g_assert_true(draft->changed);
	g_assert_cmpstr(draft->diffstat, ==, "1 file changed, 1 insertion(+)");

	merged = merge(repo, "flotilla/1", "main", "Merge draft ü", &error);
	g_assert_no_error(error);
	head = sh_line(repo, "git rev-parse HEAD");
	g_assert_cmpstr(head, ==, merged);
	contents = read_file(repo, "fichier ü.txt");
	g_assert_cmpstr(contents, ==, "contenu\n");

	/* a dirty file with such a name is named as it is */
	write_file(repo, "fichier ü.txt", "edited\n");
	g_clear_pointer(&merged, g_free);
	merged = merge(repo, "flotilla/1", "main", "Merge again", &error);
	g_assert_error(error, FL_ERROR, FL_ERROR_DIRTY);
	g_assert_nonnull(strstr(error->message, "fichier ü.txt"));
	g_assert_true(g_utf8_validate(error->message, -1, NULL));
	g_clear_error(&error);

	g_assert_true(remove_worktree(repo, wt, "flotilla/1", &error));
	g_assert_no_error(error);
	g_assert_false(g_file_test(wt, G_FILE_TEST_EXISTS));
	g_assert_cmpint(sh_status(repo, "git show-ref --verify --quiet refs/heads/flotilla/1"), !=,
			0);

	fl_test_rm_rf(tmp);
}

int
main(int argc, char **argv)
{
	g_autofree gchar *home = NULL;
	const gchar *leaky[] = {"GIT_DIR",
				"GIT_WORK_TREE",
				"GIT_INDEX_FILE",
				"GIT_AUTHOR_NAME",
				"GIT_AUTHOR_EMAIL",
				"GIT_COMMITTER_NAME",
				"GIT_COMMITTER_EMAIL",
				"GIT_CONFIG_GLOBAL",
				"GIT_CONFIG_SYSTEM",
				NULL};
	gint rc;

	g_test_init(&argc, &argv, NULL);

	/* the machine's git configuration must not leak into the test repositories */
	home = fl_test_mkdtemp();
	g_setenv("HOME", home, TRUE);
	g_setenv("XDG_CONFIG_HOME", home, TRUE);
	g_setenv("GIT_CONFIG_NOSYSTEM", "1", TRUE);
	/* nor a repository around the temp dir ("not a repository" must stay true) */
	g_setenv("GIT_CEILING_DIRECTORIES", g_get_tmp_dir(), TRUE);
	for (guint i = 0; leaky[i] != NULL; i++)
		g_unsetenv(leaky[i]);

	g_test_add_func("/worktree/probe/repo", test_probe_repo);
	g_test_add_func("/worktree/probe/errors", test_probe_errors);
	g_test_add_func("/worktree/finalize/leftovers", test_create_finalize);
	g_test_add_func("/worktree/finalize/agent-commits", test_finalize_agent_commits);
	g_test_add_func("/worktree/finalize/unchanged", test_finalize_unchanged);
	g_test_add_func("/worktree/verify/results", test_verify);
	g_test_add_func("/worktree/verify/stragglers", test_verify_stragglers);
	g_test_add_func("/worktree/verify/cancel", test_verify_cancel);
	g_test_add_func("/worktree/verify/bad-log", test_verify_bad_log);
	g_test_add_func("/worktree/merge/not-checked-out", test_merge_not_checked_out);
	g_test_add_func("/worktree/merge/checked-out", test_merge_checked_out);
	g_test_add_func("/worktree/merge/dirty", test_merge_dirty);
	g_test_add_func("/worktree/merge/conflict", test_merge_conflict);
	g_test_add_func("/worktree/merge/unknown-branch", test_merge_unknown_branch);
	g_test_add_func("/worktree/revert/restores", test_revert);
	g_test_add_func("/worktree/revert/not-checked-out", test_revert_not_checked_out);
	g_test_add_func("/worktree/revert/dirty", test_revert_dirty);
	g_test_add_func("/worktree/revert/conflict", test_revert_conflict);
	g_test_add_func("/worktree/remove", test_remove);
	g_test_add_func("/worktree/unicode-paths", test_unicode_paths);
	rc = g_test_run();

	fl_test_rm_rf(home);
	return rc;
}
