/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-worktree.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fl-error.h"
#include "fl-git.h"
#include "fl-i18n.h"
#include "fl-msg.h"
#include "fl-safe-path.h"
#include "fl-text.h"
#include "fl-util.h"

#define FL_WORKTREE_IDENT_NAME  "Flotilla"
#define FL_WORKTREE_IDENT_EMAIL "flotilla@localhost"
/* in the session directory: the draft's patch, and the index it was made with */
#define FL_WORKTREE_PATCH "draft.patch"
#define FL_WORKTREE_INDEX "draft.index"
/* error messages name at most this many files, then "+N more" */
#define FL_WORKTREE_NAMES_MAX 10

void
fl_repo_info_free(FlRepoInfo *info)
{
	if (info == NULL)
		return;
	g_free(info->toplevel);
	g_free(info->base_branch);
	g_free(info->base_commit);
	g_free(info);
}

void
fl_draft_info_free(FlDraftInfo *info)
{
	if (info == NULL)
		return;
	g_free(info->diffstat);
	g_free(info->head_commit);
	g_free(info->links_outside);
	g_free(info);
}

/* ---------------------------------------------------------------------------------------- */
/* messages */

static GError *
fl_worktree_error_new(FlError code, const gchar *format, ...) G_GNUC_PRINTF(2, 3);

/*
 * An FL_ERROR whose text is translated late (fl-msg.h). File and branch names come from disk:
 * the D-Bus error string stays one clean line, and a text that needed cleaning is kept as the
 * cleaned English line, since its arguments cannot be cleaned one by one afterwards.
 */
static GError *
fl_worktree_error_take(FlError code, FlMsg *msg)
{
	g_autofree gchar *english = fl_msg_render_english(msg);
	g_autofree gchar *printable = fl_text_clean(english, -1, FL_TEXT_NONE);
	GError *error = g_error_new_literal(FL_ERROR, code, printable);

	if (g_strcmp0(printable, english) != 0) {
		fl_msg_free(msg);
		msg = fl_msg_new_literal(printable);
	}
	fl_error_set_msg(error, msg);
	return error;
}

static GError *
fl_worktree_error_new(FlError code, const gchar *format, ...)
{
	va_list args;
	FlMsg *msg;

	va_start(args, format);
	msg = fl_msg_new_valist(format, args);
	va_end(args);
	return fl_worktree_error_take(code, msg);
}

/* splits NUL-separated git output (-z) into its non-empty fields */
static GPtrArray *
fl_worktree_split_z(const gchar *buf, gsize len)
{
	GPtrArray *fields = g_ptr_array_new_with_free_func(g_free);
	gsize start = 0;

	for (gsize i = 0; i <= len; i++) {
		if (i < len && buf[i] != '\0')
			continue;
		if (i > start)
			g_ptr_array_add(fields, g_strndup(buf + start, i - start));
		start = i + 1;
	}
	return fields;
}

static gchar *
fl_worktree_names_join(GPtrArray *names)
{
	GString *str = g_string_new(NULL);

	for (guint i = 0; i < names->len && i < FL_WORKTREE_NAMES_MAX; i++) {
		if (i > 0)
			g_string_append(str, ", ");
		g_string_append(str, g_ptr_array_index(names, i));
	}
	if (names->len > FL_WORKTREE_NAMES_MAX) {
		guint more = names->len - FL_WORKTREE_NAMES_MAX;

		g_string_append(str, ", ");
		/* TRANSLATORS: files an error message leaves out after listing the first ten */
		g_string_append_printf(str, ngettext("+%u more", "+%u more", more), more);
	}
	return g_string_free(str, FALSE);
}

/* ---------------------------------------------------------------------------------------- */
/* running commands */

typedef struct {
	gint status;   /* exit status, -1 when killed by a signal */
	gchar *out;    /* stdout, NUL-terminated (git -z output has NULs inside) */
	gsize out_len; /* without the terminating NUL */
	gchar *err;
} FlRun;

static void
fl_worktree_run_free(FlRun *run)
{
	if (run == NULL)
		return;
	g_free(run->out);
	g_free(run->err);
	g_free(run);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlRun, fl_worktree_run_free)

static gchar *
fl_worktree_bytes_to_str(GBytes *bytes, gsize *len_out)
{
	gsize len = 0;
	gchar *data = NULL;

	if (bytes != NULL)
		data = g_bytes_unref_to_data(bytes, &len);
	data = g_realloc(data, len + 1);
	data[len] = '\0';
	if (len_out != NULL)
		*len_out = len;
	return data;
}

/* stdout without the trailing newline git prints after one value */
static gchar *
fl_worktree_run_line(const FlRun *run)
{
	return g_strchomp(g_strdup(run->out));
}

/* git's own reason for failing, on one line, without its "fatal: " decoration */
static FlMsg *
fl_worktree_run_reason(const FlRun *run)
{
	g_auto(GStrv) lines = g_strsplit(run->err, "\n", -1);
	const gchar *prefixes[] = {"fatal: ", "error: ", NULL};

	for (guint i = 0; lines[i] != NULL; i++) {
		const gchar *line = g_strstrip(lines[i]);

		if (*line == '\0' || g_str_has_prefix(line, "hint:") ||
		    g_str_has_prefix(line, "warning:"))
			continue;
		for (guint j = 0; prefixes[j] != NULL; j++) {
			if (g_str_has_prefix(line, prefixes[j])) {
				line += strlen(prefixes[j]);
				break;
			}
		}
		/* git's own words: never a msgid */
		return fl_msg_new_literal(line);
	}
	if (run->status < 0)
		return fl_msg_new(N_("killed by a signal"));
	return fl_msg_new(N_("exit status %d"), run->status);
}

static GError *
fl_worktree_run_error(const FlRun *run, FlError code, const gchar *format, ...) G_GNUC_PRINTF(3, 4);

/* "WHAT: git's reason", WHAT a msgid with its arguments */
static GError *
fl_worktree_run_error(const FlRun *run, FlError code, const gchar *format, ...)
{
	FlMsg *msg = fl_worktree_run_reason(run);
	FlMsg *what;
	va_list args;

	va_start(args, format);
	what = fl_msg_new_valist(format, args);
	va_end(args);
	fl_msg_prepend(msg, fl_msg_new_literal(": "));
	fl_msg_prepend(msg, what);
	return fl_worktree_error_take(code, msg);
}

static void
fl_worktree_run_debug(const FlRun *run, const gchar *what)
{
	g_autoptr(FlMsg) msg = fl_worktree_run_reason(run);
	g_autofree gchar *reason = fl_msg_render_english(msg);

	g_debug("%s: %s", what, reason);
}

static void
fl_worktree_run_communicate_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GSubprocess *proc = G_SUBPROCESS(source);
	g_autoptr(GTask) task = user_data;
	g_autoptr(GBytes) out = NULL;
	g_autoptr(GBytes) err = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = g_new0(FlRun, 1);

	if (!g_subprocess_communicate_finish(proc, res, &out, &err, &error)) {
		/* cancelling the wait does not stop the child: nobody wants its result now */
		g_subprocess_force_exit(proc);
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	run->status = g_subprocess_get_if_exited(proc) ? g_subprocess_get_exit_status(proc) : -1;
	run->out = fl_worktree_bytes_to_str(g_steal_pointer(&out), &run->out_len);
	run->err = fl_worktree_bytes_to_str(g_steal_pointer(&err), NULL);
	g_task_return_pointer(task, g_steal_pointer(&run), (GDestroyNotify)fl_worktree_run_free);
}

/* runs @argv with @env and @input (nullable) on stdin, collecting stdout and stderr;
 * finishes with an FlRun */
static void
fl_worktree_run_async(const gchar *const *argv, gchar **env, GBytes *input,
		      GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GError) error = NULL;

	g_task_set_source_tag(task, fl_worktree_run_async);
	/* every descriptor the daemon opens is close-on-exec, so inheriting them is safe, and
	 * it lets GLib posix_spawn() git instead of forking the whole daemon for each run */
	launcher = g_subprocess_launcher_new(
		G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE |
		G_SUBPROCESS_FLAGS_INHERIT_FDS |
		(input != NULL ? G_SUBPROCESS_FLAGS_STDIN_PIPE : G_SUBPROCESS_FLAGS_NONE));
	g_subprocess_launcher_set_environ(launcher, env);
	proc = g_subprocess_launcher_spawnv(launcher, argv, &error);
	if (proc == NULL) {
		g_task_return_error(task,
				    fl_worktree_error_new(FL_ERROR_FAILED, N_("cannot run %s: %s"),
							  argv[0], error->message));
		return;
	}
	g_subprocess_communicate_async(proc, input, cancellable, fl_worktree_run_communicate_cb,
				       g_steal_pointer(&task));
}

static FlRun *
fl_worktree_run_finish(GAsyncResult *res, GError **error)
{
	return g_task_propagate_pointer(G_TASK(res), error);
}

/*
 * Where one git command runs. Either @dir, a directory of the user's own (their repository,
 * the checkout of the base branch, a scratch worktree flotillad made), where git may find
 * the repository itself; or, for anything a session could have touched, @git_dir and
 * @work_tree given explicitly: git then never reads a draft worktree's .git file, nor the
 * worktree's admin directory (its commondir, config.worktree, HEAD), which a session writes.
 */
typedef struct {
	const gchar *dir;
	const gchar *git_dir;
	const gchar *work_tree;
	GBytes *input; /* what git reads on stdin, or NULL */
} FlGitWhere;

static void
fl_worktree_git_valist(const FlGitWhere *where, gchar **env, GCancellable *cancellable,
		       GAsyncReadyCallback callback, gpointer user_data, va_list args)
{
	g_autoptr(GPtrArray) argv = fl_git_argv_new(where->dir, where->git_dir, where->work_tree);
	g_auto(GStrv) default_env = NULL;
	const gchar *arg;

	while ((arg = va_arg(args, const gchar *)) != NULL)
		g_ptr_array_add(argv, g_strdup(arg));
	g_ptr_array_add(argv, NULL);
	if (env == NULL)
		env = default_env = fl_git_environ(NULL, NULL);
	fl_worktree_run_async((const gchar *const *)argv->pdata, env, where->input, cancellable,
			      callback, user_data);
}

static void
fl_worktree_git(GTask *task, const gchar *dir, gchar **env, GAsyncReadyCallback callback,
		...) G_GNUC_NULL_TERMINATED;

/* one git step of @task in @dir, a directory of the user's: @callback gets a reference to
 * @task as its user data */
static void
fl_worktree_git(GTask *task, const gchar *dir, gchar **env, GAsyncReadyCallback callback, ...)
{
	FlGitWhere where = {.dir = dir};
	va_list args;

	va_start(args, callback);
	fl_worktree_git_valist(&where, env, g_task_get_cancellable(task), callback,
			       g_object_ref(task), args);
	va_end(args);
}

static void
fl_worktree_git_where(GTask *task, const FlGitWhere *where, gchar **env,
		      GAsyncReadyCallback callback, ...) G_GNUC_NULL_TERMINATED;

/* one git step of @task where @where says, with its stdin */
static void
fl_worktree_git_where(GTask *task, const FlGitWhere *where, gchar **env,
		      GAsyncReadyCallback callback, ...)
{
	va_list args;

	va_start(args, callback);
	fl_worktree_git_valist(where, env, g_task_get_cancellable(task), callback,
			       g_object_ref(task), args);
	va_end(args);
}

static void
fl_worktree_git_at(GTask *task, const gchar *git_dir, const gchar *work_tree, gchar **env,
		   GAsyncReadyCallback callback, ...) G_GNUC_NULL_TERMINATED;

/* like fl_worktree_git() with the repository given, never looked for: see FlGitWhere */
static void
fl_worktree_git_at(GTask *task, const gchar *git_dir, const gchar *work_tree, gchar **env,
		   GAsyncReadyCallback callback, ...)
{
	FlGitWhere where = {.git_dir = git_dir, .work_tree = work_tree};
	va_list args;

	va_start(args, callback);
	fl_worktree_git_valist(&where, env, g_task_get_cancellable(task), callback,
			       g_object_ref(task), args);
	va_end(args);
}

static void
fl_worktree_git_cleanup(GTask *task, const gchar *dir, GAsyncReadyCallback callback,
			...) G_GNUC_NULL_TERMINATED;

/* like fl_worktree_git() for cleanup steps, which must run even when the operation was cancelled */
static void
fl_worktree_git_cleanup(GTask *task, const gchar *dir, GAsyncReadyCallback callback, ...)
{
	FlGitWhere where = {.dir = dir};
	va_list args;

	va_start(args, callback);
	fl_worktree_git_valist(&where, NULL, NULL, callback, g_object_ref(task), args);
	va_end(args);
}

/* rm -rf for directories git gave up on; callers make sure @path is one of ours */
static void
fl_worktree_rm_rf(GTask *task, const gchar *path, GAsyncReadyCallback callback)
{
	const gchar *argv[] = {"rm", "-rf", "--", path, NULL};
	g_auto(GStrv) env = g_get_environ();

	fl_worktree_run_async(argv, env, NULL, NULL, callback, g_object_ref(task));
}

/* ---------------------------------------------------------------------------------------- */
/* probe */

typedef struct {
	gchar *dir;
	gchar *base;
	gchar *toplevel;
	gchar *branch;
} FlProbeCtx;

static void
fl_worktree_probe_ctx_free(FlProbeCtx *ctx)
{
	g_free(ctx->dir);
	g_free(ctx->base);
	g_free(ctx->toplevel);
	g_free(ctx->branch);
	g_free(ctx);
}

static void
fl_worktree_probe_branches_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlProbeCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (run->status == 0 && run->out_len == 0) {
		g_task_return_error(task, fl_worktree_error_new(FL_ERROR_INVALID_ARGUMENT,
								N_("%s has no commits yet"),
								ctx->toplevel));
		return;
	}
	if (ctx->base != NULL) {
		g_task_return_error(task, fl_worktree_error_new(FL_ERROR_INVALID_ARGUMENT,
								N_("no branch '%s' in %s"),
								ctx->base, ctx->toplevel));
		return;
	}
	/* TRANSLATORS: --base BRANCH is a command-line option: keep it as it is */
	g_task_return_error(
		task, fl_worktree_error_new(FL_ERROR_INVALID_ARGUMENT,
					    N_("branch '%s' of %s has no commits yet: pass --base "
					       "BRANCH"),
					    ctx->branch, ctx->toplevel));
}

static void
fl_worktree_probe_resolve_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlProbeCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);
	g_autoptr(FlRepoInfo) info = NULL;

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		/* tell "no such branch" from "nothing committed at all" */
		fl_worktree_git(task, ctx->toplevel, NULL, fl_worktree_probe_branches_cb,
				"for-each-ref", "--count=1", "--format=%(refname)", "refs/heads/",
				NULL);
		return;
	}
	info = g_new0(FlRepoInfo, 1);
	info->toplevel = g_strdup(ctx->toplevel);
	info->base_branch = g_strdup(ctx->branch);
	info->base_commit = fl_worktree_run_line(run);
	g_task_return_pointer(task, g_steal_pointer(&info), (GDestroyNotify)fl_repo_info_free);
}

static void
fl_worktree_probe_resolve(GTask *task)
{
	FlProbeCtx *ctx = g_task_get_task_data(task);
	g_autofree gchar *ref = g_strconcat("refs/heads/", ctx->branch, NULL);

	/* show-ref --verify takes exactly a ref name: "main~1" or "HEAD" are not branches */
	fl_worktree_git(task, ctx->toplevel, NULL, fl_worktree_probe_resolve_cb, "show-ref",
			"--verify", "--hash", ref, NULL);
}

static void
fl_worktree_probe_head_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlProbeCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);
	g_autofree gchar *head = NULL;

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0 && run->status != 1) {
		g_task_return_error(
			task, fl_worktree_run_error(run, FL_ERROR_FAILED, "%s", ctx->toplevel));
		return;
	}
	head = fl_worktree_run_line(run);
	if (run->status == 1 || !g_str_has_prefix(head, "refs/heads/")) {
		/* TRANSLATORS: --base BRANCH is a command-line option: keep it as it is */
		g_task_return_error(task, fl_worktree_error_new(
						  FL_ERROR_INVALID_ARGUMENT,
						  N_("HEAD of %s is detached: pass --base BRANCH"),
						  ctx->toplevel));
		return;
	}
	ctx->branch = g_strdup(head + strlen("refs/heads/"));
	fl_worktree_probe_resolve(task);
}

static void
fl_worktree_probe_toplevel_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlProbeCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		if (strstr(run->err, "not a git repository") != NULL) {
			g_task_return_error(
				task, fl_worktree_error_new(FL_ERROR_NOT_FOUND,
							    N_("%s is not in a git repository"),
							    ctx->dir));
		} else {
			g_task_return_error(task, fl_worktree_run_error(run, FL_ERROR_NOT_FOUND,
									"%s", ctx->dir));
		}
		return;
	}
	ctx->toplevel = fl_worktree_run_line(run);
	if (ctx->base != NULL) {
		ctx->branch = g_strdup(ctx->base);
		fl_worktree_probe_resolve(task);
		return;
	}
	fl_worktree_git(task, ctx->toplevel, NULL, fl_worktree_probe_head_cb, "symbolic-ref",
			"--quiet", "HEAD", NULL);
}

void
fl_worktree_probe_async(const gchar *dir, const gchar *base, GCancellable *cancellable,
			GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	FlProbeCtx *ctx;

	g_return_if_fail(dir != NULL);
	g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

	task = g_task_new(NULL, cancellable, callback, user_data);
	g_task_set_source_tag(task, fl_worktree_probe_async);
	ctx = g_new0(FlProbeCtx, 1);
	ctx->dir = g_strdup(dir);
	ctx->base = g_strdup(base);
	g_task_set_task_data(task, ctx, (GDestroyNotify)fl_worktree_probe_ctx_free);
	fl_worktree_git(task, dir, NULL, fl_worktree_probe_toplevel_cb, "rev-parse",
			"--show-toplevel", NULL);
}

FlRepoInfo *
fl_worktree_probe_finish(GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(res, NULL), NULL);
	g_return_val_if_fail(g_task_get_source_tag(G_TASK(res)) == fl_worktree_probe_async, NULL);
	return g_task_propagate_pointer(G_TASK(res), error);
}

/* ---------------------------------------------------------------------------------------- */
/* create */

static void
fl_worktree_create_add_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	const gchar *path = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		g_task_return_error(task,
				    fl_worktree_run_error(run, FL_ERROR_FAILED,
							  N_("cannot create worktree %s"), path));
		return;
	}
	g_task_return_boolean(task, TRUE);
}

void
fl_worktree_create_async(const gchar *repo, const gchar *path, const gchar *branch,
			 const gchar *base_commit, GCancellable *cancellable,
			 GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autofree gchar *repo_full = NULL;
	g_autofree gchar *full = NULL;
	g_autofree gchar *parent = NULL;

	g_return_if_fail(repo != NULL);
	g_return_if_fail(path != NULL);
	g_return_if_fail(branch != NULL);
	g_return_if_fail(base_commit != NULL);
	g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

	task = g_task_new(NULL, cancellable, callback, user_data);
	g_task_set_source_tag(task, fl_worktree_create_async);
	repo_full = g_canonicalize_filename(repo, NULL);
	full = g_canonicalize_filename(path, repo_full);
	g_task_set_task_data(task, g_strdup(full), g_free);
	parent = g_path_get_dirname(full);
	if (g_mkdir_with_parents(parent, 0700) != 0) {
		gint errsv = errno;

		g_task_return_error(task, fl_worktree_error_new(FL_ERROR_FAILED,
								N_("cannot create %s: %s"), parent,
								g_strerror(errsv)));
		return;
	}
	fl_worktree_git(task, repo, NULL, fl_worktree_create_add_cb, "worktree", "add", "--quiet",
			"-b", branch, "--", full, base_commit, NULL);
}

gboolean
fl_worktree_create_finish(GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(res, NULL), FALSE);
	g_return_val_if_fail(g_task_get_source_tag(G_TASK(res)) == fl_worktree_create_async, FALSE);
	return g_task_propagate_boolean(G_TASK(res), error);
}

/* ---------------------------------------------------------------------------------------- */
/* finalize */

/*
 * A draft worktree and its admin directory are the session's: it can rewrite the .git file to
 * name another repository, plant links, point HEAD at the base branch. So the draft is taken
 * from outside, in the user's repository (the common git dir) with a private index in the
 * session's directory: the branch's tip, plus whatever the worktree holds now on top of it.
 * Nothing in the worktree's .git file or admin directory is read by git on our behalf.
 */
typedef struct {
	gchar *repo;
	gchar *worktree;
	gchar *branch;
	gchar *base_commit;
	gchar *message;
	gchar *session_dir;
	gchar **env; /* with GIT_INDEX_FILE = the private index */
	gchar *common;
	gchar *tip;
	gchar *tree;
	gchar *patch;
	gsize patch_len;
	gchar *head_commit;
	GPtrArray *links;     /* paths of the links the draft adds or changes */
	gchar *links_outside; /* those leading out, one "PATH -> TARGET" a line */
} FlFinalizeCtx;

static void
fl_worktree_finalize_ctx_free(FlFinalizeCtx *ctx)
{
	g_free(ctx->repo);
	g_free(ctx->worktree);
	g_free(ctx->branch);
	g_free(ctx->base_commit);
	g_free(ctx->message);
	g_free(ctx->session_dir);
	g_strfreev(ctx->env);
	g_free(ctx->common);
	g_free(ctx->tip);
	g_free(ctx->tree);
	g_free(ctx->patch);
	g_free(ctx->head_commit);
	g_clear_pointer(&ctx->links, g_ptr_array_unref);
	g_free(ctx->links_outside);
	g_free(ctx);
}

static void
fl_worktree_finalize_shortstat_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlFinalizeCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);
	g_autoptr(FlDraftInfo) info = NULL;

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		g_task_return_error(task, fl_worktree_run_error(run, FL_ERROR_FAILED,
								N_("cannot count the changes")));
		return;
	}
	info = g_new0(FlDraftInfo, 1);
	info->changed = ctx->patch_len > 0;
	info->diffstat = g_strstrip(g_strdup(run->out));
	info->head_commit = g_strdup(ctx->head_commit);
	info->links_outside = g_strdup(ctx->links_outside);
	g_task_return_pointer(task, g_steal_pointer(&info), (GDestroyNotify)fl_draft_info_free);
}

static void
fl_worktree_finalize_write_thread(GTask *task, gpointer source_object, gpointer task_data,
				  GCancellable *cancellable)
{
	FlFinalizeCtx *ctx = task_data;
	g_autoptr(GError) error = NULL;

	/* the parent task keeps ctx alive and does not touch it until this returns */
	if (!fl_safe_write_file(ctx->session_dir, FL_WORKTREE_PATCH, ctx->patch,
				(gssize)ctx->patch_len, 0600, FALSE, TRUE, &error)) {
		g_task_return_error(task, fl_worktree_error_new(FL_ERROR_FAILED,
								N_("cannot write the patch: %s"),
								error->message));
		return;
	}
	g_task_return_boolean(task, TRUE);
}

static void
fl_worktree_finalize_written_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlFinalizeCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;

	if (!g_task_propagate_boolean(G_TASK(res), &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	fl_crash_point("finalize:patched");
	fl_worktree_git_at(task, ctx->common, NULL, NULL, fl_worktree_finalize_shortstat_cb,
			   "diff-tree", "-r", "--no-ext-diff", "--no-textconv", "--shortstat",
			   ctx->base_commit, ctx->head_commit, NULL);
}

static void
fl_worktree_finalize_patch_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlFinalizeCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);
	g_autoptr(GTask) write = NULL;

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		g_task_return_error(task, fl_worktree_run_error(run, FL_ERROR_FAILED,
								N_("cannot make the patch")));
		return;
	}
	ctx->patch = g_steal_pointer(&run->out);
	ctx->patch_len = run->out_len;

	/* fsync can take seconds on a busy disk: not on the main loop */
	write = g_task_new(NULL, g_task_get_cancellable(task), fl_worktree_finalize_written_cb,
			   g_object_ref(task));
	g_task_set_source_tag(write, fl_worktree_finalize_write_thread);
	g_task_set_task_data(write, ctx, NULL);
	g_task_run_in_thread(write, fl_worktree_finalize_write_thread);
}

static void
fl_worktree_finalize_patch(GTask *task)
{
	FlFinalizeCtx *ctx = g_task_get_task_data(task);

	/* plumbing: the user's diff config (colours, prefixes, external tools) stays out */
	fl_worktree_git_at(task, ctx->common, NULL, NULL, fl_worktree_finalize_patch_cb,
			   "diff-tree", "-r", "-p", "--binary", "--no-ext-diff", "--no-textconv",
			   ctx->base_commit, ctx->head_commit, NULL);
}

/* links a draft adds that lead out of the repository: at most this many are named */
#define FL_WORKTREE_LINKS_MAX 20

/*
 * Whether a symbolic link at @path (relative to the repository's top) pointing at @target
 * leads out of the repository, or into its .git: absolute, or more ".." than it is deep.
 */
static gboolean
fl_worktree_link_escapes(const gchar *path, const gchar *target)
{
	g_auto(GStrv) dirs = g_strsplit(path, "/", -1);
	g_auto(GStrv) parts = g_strsplit(target, "/", -1);
	gint depth = (gint)g_strv_length(dirs) - 1;

	if (target[0] == '/' || target[0] == '\0')
		return target[0] == '/';
	for (guint i = 0; parts[i] != NULL; i++) {
		if (parts[i][0] == '\0' || strcmp(parts[i], ".") == 0)
			continue;
		if (g_ascii_strcasecmp(parts[i], ".git") == 0)
			return TRUE;
		if (strcmp(parts[i], "..") == 0) {
			if (--depth < 0)
				return TRUE;
		} else {
			depth++;
		}
	}
	return FALSE;
}

static void
fl_worktree_finalize_link_targets_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlFinalizeCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);
	g_autoptr(GString) out = g_string_new(NULL);
	guint shown = 0;
	guint more = 0;
	gsize pos = 0;

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		g_task_return_error(
			task, fl_worktree_run_error(run, FL_ERROR_FAILED, "%s", ctx->worktree));
		return;
	}
	/* cat-file --batch: "<id> blob <size>\n<contents>\n" for each link, in the order asked */
	for (guint i = 0; i < ctx->links->len; i++) {
		const gchar *path = g_ptr_array_index(ctx->links, i);
		const gchar *nl = memchr(run->out + pos, '\n', run->out_len - pos);
		g_autofree gchar *header = NULL;
		g_autofree gchar *target = NULL;
		g_autofree gchar *shown_path = NULL;
		g_autofree gchar *shown_target = NULL;
		g_auto(GStrv) words = NULL;
		guint64 size = 0;

		if (nl == NULL)
			break;
		header = g_strndup(run->out + pos, nl - (run->out + pos));
		words = g_strsplit(header, " ", -1);
		if (g_strv_length(words) != 3 ||
		    !g_ascii_string_to_unsigned(words[2], 10, 0, G_MAXSIZE, &size, NULL))
			break;
		pos = nl - run->out + 1;
		if (size > run->out_len - pos)
			break;
		target = g_strndup(run->out + pos, size);
		pos += size + 1;
		if (!fl_worktree_link_escapes(path, target))
			continue;
		if (shown++ >= FL_WORKTREE_LINKS_MAX) {
			more++;
			continue;
		}
		if (out->len > 0)
			g_string_append_c(out, '\n');
		shown_path = fl_text_clean(path, -1, FL_TEXT_NONE);
		shown_target = fl_text_clean(target, -1, FL_TEXT_NONE);
		g_string_append_printf(out, "%s -> %s", shown_path, shown_target);
	}
	if (more > 0)
		/* TRANSLATORS: links a draft adds that the list leaves out after the first 20 */
		g_string_append_printf(out, ngettext("\n+%u more", "\n+%u more", more), more);
	if (out->len > 0)
		ctx->links_outside = g_strdup(out->str);
	fl_worktree_finalize_patch(task);
}

static void
fl_worktree_finalize_links_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlFinalizeCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);
	g_autoptr(GPtrArray) fields = NULL;
	g_autoptr(GString) ids = g_string_new(NULL);
	g_autoptr(GBytes) input = NULL;
	FlGitWhere where = {.git_dir = ctx->common};

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		g_task_return_error(
			task, fl_worktree_run_error(run, FL_ERROR_FAILED, "%s", ctx->worktree));
		return;
	}
	/* -z raw: ":OLDMODE NEWMODE OLDID NEWID STATUS", then the path, for each change */
	fields = fl_worktree_split_z(run->out, run->out_len);
	ctx->links = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; i + 1 < fields->len; i += 2) {
		g_auto(GStrv) meta = g_strsplit(g_ptr_array_index(fields, i), " ", -1);

		if (g_strv_length(meta) != 5 || strcmp(meta[1], "120000") != 0)
			continue;
		g_ptr_array_add(ctx->links, g_strdup(g_ptr_array_index(fields, i + 1)));
		g_string_append_printf(ids, "%s\n", meta[3]);
	}
	if (ctx->links->len == 0) {
		fl_worktree_finalize_patch(task);
		return;
	}
	/* their targets, all in one git: a draft may add thousands of links */
	input = g_string_free_to_bytes(g_steal_pointer(&ids));
	where.input = input;
	fl_worktree_git_where(task, &where, NULL, fl_worktree_finalize_link_targets_cb, "cat-file",
			      "--batch", NULL);
}

/* the links the draft adds or changes that lead out of the repository, for the review */
static void
fl_worktree_finalize_links(GTask *task)
{
	FlFinalizeCtx *ctx = g_task_get_task_data(task);

	fl_worktree_git_at(task, ctx->common, NULL, NULL, fl_worktree_finalize_links_cb,
			   "diff-tree", "-r", "-z", "--no-renames", "--diff-filter=AMT",
			   "--no-ext-diff", "--no-textconv", ctx->base_commit, ctx->head_commit,
			   NULL);
}

static void
fl_worktree_finalize_admin_index_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlFinalizeCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	/* a live git holding the worktree's index: the agent's work may not be over; the
	 * branch has moved already, so trying again later commits nothing twice */
	if (run->status != 0) {
		g_task_return_error(
			task, fl_worktree_run_error(run, FL_ERROR_FAILED, "%s", ctx->worktree));
		return;
	}
	fl_worktree_finalize_links(task);
}

static void
fl_worktree_finalize_moved_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlFinalizeCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);
	g_autofree gchar *admin = NULL;
	g_autofree gchar *index = NULL;
	g_auto(GStrv) env = NULL;

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		g_task_return_error(
			task, fl_worktree_run_error(run, FL_ERROR_FAILED, "%s",
						    N_("cannot commit the leftover changes")));
		return;
	}
	fl_crash_point("finalize:committed");
	/* the worktree's index follows, so a resumed session sees a clean checkout; git writes
	 * it through index.lock and a rename, so a link planted there is replaced, not followed */
	admin = fl_git_worktree_admin_dir(ctx->common, ctx->worktree);
	if (admin == NULL) {
		fl_worktree_finalize_links(task);
		return;
	}
	index = g_build_filename(admin, "index", NULL);
	env = fl_git_environ(NULL, NULL);
	env = g_environ_setenv(env, "GIT_INDEX_FILE", index, TRUE);
	fl_worktree_git_at(task, ctx->common, NULL, env, fl_worktree_finalize_admin_index_cb,
			   "read-tree", ctx->head_commit, NULL);
}

static void
fl_worktree_finalize_commit_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlFinalizeCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);
	g_autofree gchar *ref = NULL;

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		g_task_return_error(
			task, fl_worktree_run_error(run, FL_ERROR_FAILED, "%s",
						    N_("cannot commit the leftover changes")));
		return;
	}
	ctx->head_commit = fl_worktree_run_line(run);
	/* only the draft branch moves, and only from the tip the draft was made on */
	ref = g_strconcat("refs/heads/", ctx->branch, NULL);
	fl_worktree_git_at(task, ctx->common, NULL, NULL, fl_worktree_finalize_moved_cb,
			   "update-ref", "-m", "flotilla: leftover changes", ref, ctx->head_commit,
			   ctx->tip, NULL);
}

static void
fl_worktree_finalize_tip_tree_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlFinalizeCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);
	g_autofree gchar *tip_tree = NULL;
	g_auto(GStrv) env = NULL;

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		g_task_return_error(
			task, fl_worktree_run_error(run, FL_ERROR_FAILED, "%s", ctx->worktree));
		return;
	}
	tip_tree = fl_worktree_run_line(run);
	if (g_strcmp0(tip_tree, ctx->tree) == 0) {
		/* nothing left over: the draft is what the agent committed */
		ctx->head_commit = g_strdup(ctx->tip);
		fl_worktree_finalize_links(task);
		return;
	}
	env = fl_git_environ(FL_WORKTREE_IDENT_NAME, FL_WORKTREE_IDENT_EMAIL);
	fl_worktree_git_at(task, ctx->common, NULL, env, fl_worktree_finalize_commit_cb,
			   "commit-tree", ctx->tree, "-p", ctx->tip, "-m", ctx->message, NULL);
}

static void
fl_worktree_finalize_tree_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlFinalizeCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);
	g_autofree gchar *rev = NULL;

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		g_task_return_error(task,
				    fl_worktree_run_error(run, FL_ERROR_FAILED, "%s",
							  N_("cannot stage the leftover changes")));
		return;
	}
	ctx->tree = fl_worktree_run_line(run);
	rev = g_strconcat(ctx->tip, "^{tree}", NULL);
	fl_worktree_git_at(task, ctx->common, NULL, NULL, fl_worktree_finalize_tip_tree_cb,
			   "rev-parse", "--verify", rev, NULL);
}

static void
fl_worktree_finalize_add_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlFinalizeCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		g_task_return_error(task,
				    fl_worktree_run_error(run, FL_ERROR_FAILED, "%s",
							  N_("cannot stage the leftover changes")));
		return;
	}
	fl_crash_point("finalize:added");
	fl_worktree_git_at(task, ctx->common, NULL, ctx->env, fl_worktree_finalize_tree_cb,
			   "write-tree", NULL);
}

static void
fl_worktree_finalize_read_tree_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlFinalizeCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		g_task_return_error(task,
				    fl_worktree_run_error(run, FL_ERROR_FAILED, "%s",
							  N_("cannot stage the leftover changes")));
		return;
	}
	/* everything in the worktree, .gitignore honoured; links are recorded, never followed */
	fl_worktree_git_at(task, ctx->common, ctx->worktree, ctx->env, fl_worktree_finalize_add_cb,
			   "add", "-A", NULL);
}

static void
fl_worktree_finalize_tip_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlFinalizeCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		g_task_return_error(task, fl_worktree_error_new(FL_ERROR_NOT_FOUND,
								N_("no branch '%s' in %s"),
								ctx->branch, ctx->repo));
		return;
	}
	ctx->tip = fl_worktree_run_line(run);
	/* the stat data of the last run makes the next one cheap: kept in the session */
	fl_worktree_git_at(task, ctx->common, NULL, ctx->env, fl_worktree_finalize_read_tree_cb,
			   "read-tree", ctx->tip, NULL);
}

static void
fl_worktree_finalize_common_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlFinalizeCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);
	g_autofree gchar *ref = NULL;
	g_autofree gchar *admin = NULL;

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		g_task_return_error(task,
				    fl_worktree_run_error(run, FL_ERROR_FAILED, "%s", ctx->repo));
		return;
	}
	ctx->common = fl_worktree_run_line(run);
	/* a daemon killed during one of its gits leaves a lock behind, which would fail ours:
	 * in the worktree's admin directory (found from the repository, never from the
	 * worktree's .git file) and at the private index */
	admin = fl_git_worktree_admin_dir(ctx->common, ctx->worktree);
	if (admin != NULL)
		fl_worktree_clear_stale_locks(ctx->worktree, admin);
	fl_worktree_clear_stale_locks(ctx->worktree, ctx->session_dir);
	ref = g_strconcat("refs/heads/", ctx->branch, "^{commit}", NULL);
	fl_worktree_git_at(task, ctx->common, NULL, NULL, fl_worktree_finalize_tip_cb, "rev-parse",
			   "--verify", "--quiet", ref, NULL);
}

/* the directory a process works in, if we may look */
static gboolean
fl_worktree_proc_cwd_under(const gchar *pid, const gchar *dir)
{
	g_autofree gchar *link = g_build_filename("/proc", pid, "cwd", NULL);
	g_autofree gchar *cwd = g_file_read_link(link, NULL);

	if (cwd == NULL)
		return FALSE;
	return g_strcmp0(cwd, dir) == 0 ||
	       (g_str_has_prefix(cwd, dir) && cwd[strlen(dir)] == G_DIR_SEPARATOR);
}

static gboolean
fl_worktree_proc_has_open(const gchar *pid, const gchar *path)
{
	g_autofree gchar *fds = g_build_filename("/proc", pid, "fd", NULL);
	g_autoptr(GDir) dir = g_dir_open(fds, 0, NULL);
	const gchar *name;

	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *link = g_build_filename(fds, name, NULL);
		g_autofree gchar *target = g_file_read_link(link, NULL);

		if (g_strcmp0(target, path) == 0)
			return TRUE;
	}
	return FALSE;
}

/*
 * Whether any live process may own a lock in @worktree's git directory: one working in the
 * worktree or the git directory (git -C, an agent's git, a dead daemon's orphaned git), or
 * a git holding @lock open. Only when none does is the lock a dead process's leftover.
 */
static gboolean
fl_worktree_lock_has_owner(const gchar *worktree, const gchar *gitdir, const gchar *lock)
{
	g_autoptr(GDir) proc = g_dir_open("/proc", 0, NULL);
	const gchar *pid;

	while (proc != NULL && (pid = g_dir_read_name(proc)) != NULL) {
		g_autofree gchar *comm_path = NULL;
		g_autofree gchar *comm = NULL;

		if (!g_ascii_isdigit(pid[0]))
			continue;
		if (fl_worktree_proc_cwd_under(pid, worktree) ||
		    fl_worktree_proc_cwd_under(pid, gitdir))
			return TRUE;
		comm_path = g_build_filename("/proc", pid, "comm", NULL);
		if (g_file_get_contents(comm_path, &comm, NULL, NULL) &&
		    g_str_has_prefix(comm, "git") && fl_worktree_proc_has_open(pid, lock))
			return TRUE;
	}
	return FALSE;
}

gboolean
fl_worktree_clear_stale_locks(const gchar *worktree, const gchar *gitdir)
{
	const gchar *names[] = {"index.lock", "HEAD.lock", FL_WORKTREE_INDEX ".lock", NULL};
	gboolean cleared = FALSE;

	for (guint i = 0; names[i] != NULL; i++) {
		g_autofree gchar *lock = g_build_filename(gitdir, names[i], NULL);

		if (!g_file_test(lock, G_FILE_TEST_EXISTS) ||
		    fl_worktree_lock_has_owner(worktree, gitdir, lock))
			continue;
		if (g_unlink(lock) == 0) {
			g_message("removed %s, left behind by a git that is gone", lock);
			cleared = TRUE;
		}
	}
	return cleared;
}

void
fl_worktree_finalize_async(const gchar *repo, const gchar *worktree, const gchar *branch,
			   const gchar *base_commit, const gchar *message, const gchar *session_dir,
			   GCancellable *cancellable, GAsyncReadyCallback callback,
			   gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autofree gchar *index = NULL;
	FlFinalizeCtx *ctx;

	g_return_if_fail(repo != NULL);
	g_return_if_fail(worktree != NULL);
	g_return_if_fail(branch != NULL);
	g_return_if_fail(base_commit != NULL);
	g_return_if_fail(message != NULL);
	g_return_if_fail(session_dir != NULL);
	g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

	task = g_task_new(NULL, cancellable, callback, user_data);
	g_task_set_source_tag(task, fl_worktree_finalize_async);
	ctx = g_new0(FlFinalizeCtx, 1);
	ctx->repo = g_strdup(repo);
	ctx->worktree = g_canonicalize_filename(worktree, NULL);
	ctx->branch = g_strdup(branch);
	ctx->base_commit = g_strdup(base_commit);
	ctx->message = g_strdup(message);
	ctx->session_dir = g_strdup(session_dir);
	index = g_build_filename(session_dir, FL_WORKTREE_INDEX, NULL);
	ctx->env = fl_git_environ(NULL, NULL);
	ctx->env = g_environ_setenv(ctx->env, "GIT_INDEX_FILE", index, TRUE);
	g_task_set_task_data(task, ctx, (GDestroyNotify)fl_worktree_finalize_ctx_free);
	/* the user's repository is theirs: found from it, never from the worktree */
	fl_worktree_git(task, repo, NULL, fl_worktree_finalize_common_cb, "rev-parse",
			"--path-format=absolute", "--git-common-dir", NULL);
}

FlDraftInfo *
fl_worktree_finalize_finish(GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(res, NULL), NULL);
	g_return_val_if_fail(g_task_get_source_tag(G_TASK(res)) == fl_worktree_finalize_async,
			     NULL);
	return g_task_propagate_pointer(G_TASK(res), error);
}

/* ---------------------------------------------------------------------------------------- */
/* verify */

typedef struct {
	pid_t pgid;
	guint timeout_id;
	gboolean timed_out;
} FlVerifyCtx;

static void
fl_worktree_verify_ctx_free(FlVerifyCtx *ctx)
{
	g_clear_handle_id(&ctx->timeout_id, g_source_remove);
	g_free(ctx);
}

static void
fl_worktree_verify_child_setup(gpointer user_data)
{
	/* between fork and exec: async-signal-safe calls only */
	setsid();
}

static gboolean
fl_worktree_verify_timeout_cb(gpointer user_data)
{
	FlVerifyCtx *ctx = user_data;

	ctx->timeout_id = 0;
	ctx->timed_out = TRUE;
	/* the shell's children too: a test runner's workers must not outlive the verdict */
	if (ctx->pgid > 0)
		kill(-ctx->pgid, SIGKILL);
	return G_SOURCE_REMOVE;
}

static void
fl_worktree_verify_wait_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GSubprocess *proc = G_SUBPROCESS(source);
	g_autoptr(GTask) task = user_data;
	FlVerifyCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;

	g_clear_handle_id(&ctx->timeout_id, g_source_remove);
	if (!g_subprocess_wait_finish(proc, res, &error)) {
		/* cancelled: the command must not run on unsupervised */
		if (ctx->pgid > 0)
			kill(-ctx->pgid, SIGKILL);
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	/* background jobs the shell left behind (servers started by a test suite) go with it;
	 * their group keeps the id reserved while any of them lives */
	if (ctx->pgid > 0)
		kill(-ctx->pgid, SIGKILL);
	if (ctx->timed_out)
		g_task_return_int(task, FL_VERIFY_TIMEOUT);
	else if (g_subprocess_get_successful(proc))
		g_task_return_int(task, FL_VERIFY_PASS);
	else
		g_task_return_int(task, FL_VERIFY_FAIL);
}

/* whether a variable of this name is a credential by how such variables are named */
static gboolean
fl_worktree_env_name_is_secret(const gchar *name)
{
	const gchar *suffixes[] = {"_API_KEY",    "_APIKEY",     "_TOKEN",    "_SECRET",
				   "_SECRET_KEY", "_ACCESS_KEY", "_PASSWORD", NULL};
	g_autofree gchar *upper = g_ascii_strup(name, -1);

	for (guint i = 0; suffixes[i] != NULL; i++) {
		if (g_str_has_suffix(upper, suffixes[i]))
			return TRUE;
	}
	return FALSE;
}

/* @env without the credentials: @secret_env by name, and whatever is named like one */
static gchar **
fl_worktree_env_without_secrets(gchar **env, const gchar *const *secret_env)
{
	g_autoptr(GPtrArray) kept = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; env[i] != NULL; i++) {
		const gchar *eq = strchr(env[i], '=');
		g_autofree gchar *name =
			eq != NULL ? g_strndup(env[i], eq - env[i]) : g_strdup(env[i]);

		if (fl_worktree_env_name_is_secret(name) ||
		    (secret_env != NULL && g_strv_contains(secret_env, name)))
			continue;
		g_ptr_array_add(kept, g_strdup(env[i]));
	}
	g_ptr_array_add(kept, NULL);
	g_strfreev(env);
	return (gchar **)g_ptr_array_free(g_steal_pointer(&kept), FALSE);
}

void
fl_worktree_verify_async(const gchar *worktree, const gchar *const *argv, const gchar *log_path,
			 guint timeout_s, const gchar *const *secret_env, GCancellable *cancellable,
			 GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) env = g_get_environ();
	g_autofree gchar *log_dir = NULL;
	g_autofree gchar *log_name = NULL;
	const gchar *ident;
	FlVerifyCtx *ctx;
	gint fd;

	g_return_if_fail(worktree != NULL);
	g_return_if_fail(argv != NULL && argv[0] != NULL);
	g_return_if_fail(log_path != NULL);
	g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

	task = g_task_new(NULL, cancellable, callback, user_data);
	g_task_set_source_tag(task, fl_worktree_verify_async);
	ctx = g_new0(FlVerifyCtx, 1);
	g_task_set_task_data(task, ctx, (GDestroyNotify)fl_worktree_verify_ctx_free);

	/* a fresh file, replacing whatever (a link included) a session left under that name */
	log_dir = g_path_get_dirname(log_path);
	log_name = g_path_get_basename(log_path);
	fd = -1;
	if (fl_safe_write_file(log_dir, log_name, "", 0, 0600, FALSE, FALSE, &error))
		fd = fl_safe_open(log_dir, log_name, O_WRONLY | O_TRUNC, 0600, FALSE, &error);
	if (fd < 0) {
		g_task_return_error(task,
				    fl_worktree_error_new(FL_ERROR_FAILED, "%s", error->message));
		return;
	}

	/* git commands in the user's verify step must see the draft worktree */
	env = g_environ_unsetenv(env, "GIT_DIR");
	env = g_environ_unsetenv(env, "GIT_WORK_TREE");
	env = g_environ_unsetenv(env, "GIT_INDEX_FILE");
	/* the draft's code runs here: the user's API keys are not for it */
	env = fl_worktree_env_without_secrets(g_steal_pointer(&env), secret_env);

	launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDERR_MERGE);
	g_subprocess_launcher_take_stdout_fd(launcher, fd);
	g_subprocess_launcher_set_cwd(launcher, worktree);
	g_subprocess_launcher_set_environ(launcher, env);
	g_subprocess_launcher_set_child_setup(launcher, fl_worktree_verify_child_setup, NULL, NULL);
	proc = g_subprocess_launcher_spawnv(launcher, argv, &error);
	if (proc == NULL) {
		g_task_return_error(task,
				    fl_worktree_error_new(FL_ERROR_FAILED,
							  N_("cannot run the verify command: %s"),
							  error->message));
		return;
	}
	ident = g_subprocess_get_identifier(proc);
	if (ident != NULL)
		ctx->pgid = (pid_t)g_ascii_strtoll(ident, NULL, 10);
	if (timeout_s > 0)
		ctx->timeout_id =
			g_timeout_add_seconds(timeout_s, fl_worktree_verify_timeout_cb, ctx);
	g_subprocess_wait_async(proc, cancellable, fl_worktree_verify_wait_cb,
				g_steal_pointer(&task));
}

FlVerify
fl_worktree_verify_finish(GAsyncResult *res, GError **error)
{
	gssize verify;

	g_return_val_if_fail(g_task_is_valid(res, NULL), FL_VERIFY_NONE);
	g_return_val_if_fail(g_task_get_source_tag(G_TASK(res)) == fl_worktree_verify_async,
			     FL_VERIFY_NONE);
	g_return_val_if_fail(error == NULL || *error == NULL, FL_VERIFY_NONE);
	verify = g_task_propagate_int(G_TASK(res), error);
	return verify < 0 ? FL_VERIFY_NONE : (FlVerify)verify;
}

/* ---------------------------------------------------------------------------------------- */
/* merge and revert: both land one new commit on the base branch */

typedef struct {
	gboolean reverting;
	gchar *repo;
	gchar *base_branch;
	gchar *message;
	gchar **env;      /* identity of the user, or flotilla's */
	gchar *checkout;  /* worktree where base_branch is checked out, or NULL */
	gchar *base_tip;  /* base_branch when we looked: the compare-and-swap value */
	gchar *new_tip;   /* the merge or revert commit */
	gchar *branch;    /* merge: the draft branch */
	gchar *draft_tip; /* merge: its tip */
	gchar *tree;      /* merge: the merged tree */
	gchar *merge_commit;
	gchar *scratch_dir;
	gchar *scratch;  /* revert: the temporary worktree, once created */
	GError *pending; /* revert: the error to return once the scratch worktree is gone */
} FlLandCtx;

static void
fl_worktree_land_ctx_free(FlLandCtx *ctx)
{
	g_free(ctx->repo);
	g_free(ctx->base_branch);
	g_free(ctx->message);
	g_strfreev(ctx->env);
	g_free(ctx->checkout);
	g_free(ctx->base_tip);
	g_free(ctx->new_tip);
	g_free(ctx->branch);
	g_free(ctx->draft_tip);
	g_free(ctx->tree);
	g_free(ctx->merge_commit);
	g_free(ctx->scratch_dir);
	g_free(ctx->scratch);
	g_clear_error(&ctx->pending);
	g_free(ctx);
}

/* whole sentences for both operations: translators cannot conjugate an inserted verb */
static GError *
fl_worktree_land_uncommitted_error(FlLandCtx *ctx, const gchar *list)
{
	if (ctx->reverting) {
		/* TRANSLATORS: a checkout, then the changed files; "revert" is flotilla revert */
		return fl_worktree_error_new(
			FL_ERROR_DIRTY,
			N_("uncommitted changes in %s: %s — commit or stash them, "
			   "then revert again"),
			ctx->checkout, list);
	}
	/* TRANSLATORS: a checkout, then the changed files; "approve" is flotilla approve */
	return fl_worktree_error_new(
		FL_ERROR_DIRTY,
		N_("uncommitted changes in %s: %s — commit or stash them, then "
		   "approve again"),
		ctx->checkout, list);
}

static GError *
fl_worktree_land_untracked_error(FlLandCtx *ctx, const gchar *list)
{
	if (ctx->reverting) {
		/* TRANSLATORS: a checkout, then files in the way; "revert" is flotilla revert */
		return fl_worktree_error_new(
			FL_ERROR_DIRTY,
			N_("untracked files in %s would be overwritten: %s — move or "
			   "remove them, then revert again"),
			ctx->checkout, list);
	}
	/* TRANSLATORS: a checkout, then files in the way; "approve" is flotilla approve */
	return fl_worktree_error_new(
		FL_ERROR_DIRTY,
		N_("untracked files in %s would be overwritten: %s — move or remove "
		   "them, then approve again"),
		ctx->checkout, list);
}

static GError *
fl_worktree_land_moved_error(FlLandCtx *ctx)
{
	if (ctx->reverting) {
		/* TRANSLATORS: %s is the base branch, which got a new commit meanwhile */
		return fl_worktree_error_new(
			FL_ERROR_BUSY, N_("%s moved while reverting; try again"), ctx->base_branch);
	}
	/* TRANSLATORS: %s is the base branch, which got a new commit meanwhile */
	return fl_worktree_error_new(FL_ERROR_BUSY, N_("%s moved while merging; try again"),
				     ctx->base_branch);
}

static void
fl_worktree_land_cleanup_done(GTask *task)
{
	FlLandCtx *ctx = g_task_get_task_data(task);

	if (ctx->pending != NULL) {
		g_task_return_error(task, g_steal_pointer(&ctx->pending));
		return;
	}
	g_task_return_pointer(task, g_strdup(ctx->new_tip), g_free);
}

static void
fl_worktree_land_cleanup_rm_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlLandCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);

	if (run == NULL || run->status != 0)
		g_warning("cannot remove %s", ctx->scratch);
	fl_worktree_land_cleanup_done(task);
}

static void
fl_worktree_land_cleanup_prune_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlLandCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);

	if (run != NULL && run->status != 0)
		fl_worktree_run_debug(run, "git worktree prune");
	if (g_file_test(ctx->scratch, G_FILE_TEST_EXISTS)) {
		fl_worktree_rm_rf(task, ctx->scratch, fl_worktree_land_cleanup_rm_cb);
		return;
	}
	fl_worktree_land_cleanup_done(task);
}

static void
fl_worktree_land_cleanup_remove_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlLandCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);

	/* failing is expected when the worktree was never added: the rm below handles it */
	if (run != NULL && run->status != 0)
		fl_worktree_run_debug(run, "git worktree remove");
	fl_worktree_git_cleanup(task, ctx->repo, fl_worktree_land_cleanup_prune_cb, "worktree",
				"prune", NULL);
}

/* the end of every merge and revert, success or not */
static void
fl_worktree_land_finish(GTask *task, GError *error)
{
	FlLandCtx *ctx = g_task_get_task_data(task);

	if (ctx->scratch == NULL) {
		if (error != NULL)
			g_task_return_error(task, error);
		else
			g_task_return_pointer(task, g_strdup(ctx->new_tip), g_free);
		return;
	}
	ctx->pending = error;
	fl_worktree_git_cleanup(task, ctx->repo, fl_worktree_land_cleanup_remove_cb, "worktree",
				"remove", "--force", "--force", ctx->scratch, NULL);
}

/* the name list git prints, tab-indented, when a checkout would overwrite files */
static GPtrArray *
fl_worktree_tabbed_names(const gchar *text)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; lines[i] != NULL; i++) {
		if (lines[i][0] == '\t' && lines[i][1] != '\0')
			g_ptr_array_add(names, g_strdup(lines[i] + 1));
	}
	return names;
}

static void
fl_worktree_land_move_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlLandCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);
	g_autoptr(GPtrArray) names = NULL;
	g_autofree gchar *list = NULL;

	if (run == NULL) {
		fl_worktree_land_finish(task, g_steal_pointer(&error));
		return;
	}
	if (run->status == 0) {
		fl_worktree_land_finish(task, NULL);
		return;
	}
	if (ctx->checkout == NULL) {
		if (strstr(run->err, "cannot lock ref") != NULL) {
			fl_worktree_land_finish(task, fl_worktree_land_moved_error(ctx));
			return;
		}
		fl_worktree_land_finish(
			task, fl_worktree_run_error(run, FL_ERROR_FAILED, "%s", ctx->base_branch));
		return;
	}

	/* the user touched the checkout since we looked; git refused and changed nothing */
	names = fl_worktree_tabbed_names(run->err);
	list = fl_worktree_names_join(names);
	if (strstr(run->err, "untracked working tree files") != NULL && names->len > 0) {
		fl_worktree_land_finish(task, fl_worktree_land_untracked_error(ctx, list));
		return;
	}
	if (strstr(run->err, "local changes") != NULL && names->len > 0) {
		fl_worktree_land_finish(task, fl_worktree_land_uncommitted_error(ctx, list));
		return;
	}
	if (strstr(run->err, "Not possible to fast-forward") != NULL) {
		fl_worktree_land_finish(task, fl_worktree_land_moved_error(ctx));
		return;
	}
	fl_worktree_land_finish(task,
				fl_worktree_run_error(run, FL_ERROR_FAILED, "%s", ctx->checkout));
}

/* moves base_branch from base_tip to new_tip, or changes nothing */
static void
fl_worktree_land_move(GTask *task)
{
	FlLandCtx *ctx = g_task_get_task_data(task);
	g_autofree gchar *ref = NULL;
	g_autofree gchar *reason = NULL;

	fl_crash_point(ctx->reverting ? "revert:committed" : "approve:committed");
	if (ctx->checkout != NULL) {
		/* the checkout's index and files follow; git refuses rather than overwrite */
		fl_worktree_git(task, ctx->checkout, ctx->env, fl_worktree_land_move_cb, "merge",
				"--ff-only", "--quiet", "--no-autostash", ctx->new_tip, NULL);
		return;
	}
	ref = g_strconcat("refs/heads/", ctx->base_branch, NULL);
	reason = g_strdup_printf("flotilla: %s", ctx->reverting ? "revert" : "merge");
	fl_worktree_git(task, ctx->repo, ctx->env, fl_worktree_land_move_cb, "update-ref", "-m",
			reason, ref, ctx->new_tip, ctx->base_tip, NULL);
}

/* merge ------------------------------------------------------------------------------------ */

static void
fl_worktree_merge_commit_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);
	FlLandCtx *ctx = g_task_get_task_data(task);

	if (run == NULL) {
		fl_worktree_land_finish(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		fl_worktree_land_finish(
			task, fl_worktree_run_error(run, FL_ERROR_FAILED, "%s",
						    N_("cannot create the merge commit")));
		return;
	}
	ctx->new_tip = fl_worktree_run_line(run);
	fl_worktree_land_move(task);
}

static void
fl_worktree_merge_tree_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlLandCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);
	g_autoptr(GPtrArray) fields = NULL;
	g_autofree gchar *list = NULL;

	if (run == NULL) {
		fl_worktree_land_finish(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0 && run->status != 1) {
		fl_worktree_land_finish(
			task, fl_worktree_run_error(run, FL_ERROR_FAILED, N_("cannot merge")));
		return;
	}
	/* -z: the tree id, then (on conflict) each conflicted file once */
	fields = fl_worktree_split_z(run->out, run->out_len);
	if (fields->len == 0) {
		fl_worktree_land_finish(
			task, fl_worktree_error_new(FL_ERROR_FAILED,
						    N_("cannot merge: no tree from git")));
		return;
	}
	if (run->status == 1) {
		g_ptr_array_remove_index(fields, 0);
		list = fl_worktree_names_join(fields);
		/* TRANSLATORS: the base branch, then the conflicted files */
		fl_worktree_land_finish(task,
					fl_worktree_error_new(FL_ERROR_CONFLICT,
							      N_("draft conflicts with %s in: %s"),
							      ctx->base_branch, list));
		return;
	}
	ctx->tree = g_strstrip(g_strdup(g_ptr_array_index(fields, 0)));
	fl_worktree_git(task, ctx->repo, ctx->env, fl_worktree_merge_commit_cb, "commit-tree",
			ctx->tree, "-p", ctx->base_tip, "-p", ctx->draft_tip, "-m", ctx->message,
			NULL);
}

static void
fl_worktree_merge_draft_tip_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlLandCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);

	if (run == NULL) {
		fl_worktree_land_finish(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		fl_worktree_land_finish(task, fl_worktree_error_new(FL_ERROR_NOT_FOUND,
								    N_("no branch '%s' in %s"),
								    ctx->branch, ctx->repo));
		return;
	}
	ctx->draft_tip = fl_worktree_run_line(run);
	/* git 2.39: no --merge-base, so the two tips and git finds the base itself */
	fl_worktree_git(task, ctx->repo, ctx->env, fl_worktree_merge_tree_cb, "merge-tree",
			"--write-tree", "--name-only", "--no-messages", "-z", ctx->base_tip,
			ctx->draft_tip, NULL);
}

static void
fl_worktree_merge_start(GTask *task)
{
	FlLandCtx *ctx = g_task_get_task_data(task);
	g_autofree gchar *ref = NULL;

	if (ctx->draft_tip != NULL) {
		/* exactly the commit the caller recorded as its intent */
		fl_worktree_git(task, ctx->repo, ctx->env, fl_worktree_merge_tree_cb, "merge-tree",
				"--write-tree", "--name-only", "--no-messages", "-z", ctx->base_tip,
				ctx->draft_tip, NULL);
		return;
	}
	ref = g_strconcat("refs/heads/", ctx->branch, "^{commit}", NULL);

	fl_worktree_git(task, ctx->repo, ctx->env, fl_worktree_merge_draft_tip_cb, "rev-parse",
			"--verify", "--quiet", ref, NULL);
}

/* revert ----------------------------------------------------------------------------------- */

static void
fl_worktree_revert_head_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlLandCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);

	if (run == NULL) {
		fl_worktree_land_finish(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		fl_worktree_land_finish(
			task, fl_worktree_run_error(run, FL_ERROR_FAILED, "%s", ctx->scratch));
		return;
	}
	ctx->new_tip = fl_worktree_run_line(run);
	fl_worktree_land_move(task);
}

static void
fl_worktree_revert_commit_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlLandCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);

	if (run == NULL) {
		fl_worktree_land_finish(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		fl_worktree_land_finish(
			task, fl_worktree_run_error(run, FL_ERROR_FAILED, "%s",
						    N_("cannot create the revert commit")));
		return;
	}
	fl_worktree_git(task, ctx->scratch, ctx->env, fl_worktree_revert_head_cb, "rev-parse",
			"--verify", "HEAD^{commit}", NULL);
}

static void
fl_worktree_revert_staged_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlLandCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);

	if (run == NULL) {
		fl_worktree_land_finish(task, g_steal_pointer(&error));
		return;
	}
	if (run->status == 0) {
		/* TRANSLATORS: a merge commit id, then the base branch */
		fl_worktree_land_finish(
			task,
			fl_worktree_error_new(FL_ERROR_INVALID_ARGUMENT,
					      N_("nothing to revert: %s is already undone on %s"),
					      ctx->merge_commit, ctx->base_branch));
		return;
	}
	if (run->status != 1) {
		fl_worktree_land_finish(
			task, fl_worktree_run_error(run, FL_ERROR_FAILED, "%s", ctx->scratch));
		return;
	}
	fl_worktree_git(task, ctx->scratch, ctx->env, fl_worktree_revert_commit_cb, "commit",
			"--quiet", "--no-verify", "--allow-empty-message", "-m", ctx->message,
			NULL);
}

static void
fl_worktree_revert_conflicts_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlLandCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) revert_error = g_steal_pointer(&ctx->pending);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);
	g_autoptr(GPtrArray) names = NULL;
	g_autofree gchar *list = NULL;

	if (run == NULL || run->status != 0) {
		fl_worktree_land_finish(task, g_steal_pointer(&revert_error));
		return;
	}
	names = fl_worktree_split_z(run->out, run->out_len);
	if (names->len == 0) {
		fl_worktree_land_finish(task, g_steal_pointer(&revert_error));
		return;
	}
	list = fl_worktree_names_join(names);
	/* TRANSLATORS: the base branch, then the conflicted files */
	fl_worktree_land_finish(
		task,
		fl_worktree_error_new(FL_ERROR_CONFLICT,
				      N_("reverting conflicts with later changes to %s in: %s"),
				      ctx->base_branch, list));
}

static void
fl_worktree_revert_revert_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlLandCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);

	if (run == NULL) {
		fl_worktree_land_finish(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		/* TRANSLATORS: %s is a commit id */
		/* kept aside in case the failure was not a conflict */
		ctx->pending = fl_worktree_run_error(run, FL_ERROR_FAILED, N_("cannot revert %s"),
						     ctx->merge_commit);
		fl_worktree_git(task, ctx->scratch, ctx->env, fl_worktree_revert_conflicts_cb,
				"diff", "--name-only", "-z", "--diff-filter=U", NULL);
		return;
	}
	fl_worktree_git(task, ctx->scratch, ctx->env, fl_worktree_revert_staged_cb, "diff",
			"--cached", "--quiet", NULL);
}

static void
fl_worktree_revert_add_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlLandCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);

	if (run == NULL) {
		fl_worktree_land_finish(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		fl_worktree_land_finish(
			task, fl_worktree_run_error(run, FL_ERROR_FAILED, "%s",
						    N_("cannot create a temporary worktree")));
		return;
	}
	fl_worktree_git(task, ctx->scratch, ctx->env, fl_worktree_revert_revert_cb, "revert",
			"--no-edit", "--no-commit", "-m", "1", ctx->merge_commit, NULL);
}

static void
fl_worktree_revert_ancestor_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlLandCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);
	g_autofree gchar *template = NULL;

	if (run == NULL) {
		fl_worktree_land_finish(task, g_steal_pointer(&error));
		return;
	}
	if (run->status == 1) {
		/* TRANSLATORS: a commit id, then a branch */
		fl_worktree_land_finish(task,
					fl_worktree_error_new(FL_ERROR_INVALID_ARGUMENT,
							      N_("%s is not on %s"),
							      ctx->merge_commit, ctx->base_branch));
		return;
	}
	if (run->status != 0) {
		fl_worktree_land_finish(
			task, fl_worktree_run_error(run, FL_ERROR_FAILED, "%s", ctx->repo));
		return;
	}

	/* git 2.39 cannot revert without a worktree; the user's checkout is not ours to use */
	if (g_mkdir_with_parents(ctx->scratch_dir, 0700) != 0) {
		gint errsv = errno;

		fl_worktree_land_finish(
			task, fl_worktree_error_new(FL_ERROR_FAILED, N_("cannot create %s: %s"),
						    ctx->scratch_dir, g_strerror(errsv)));
		return;
	}
	template = g_build_filename(ctx->scratch_dir, "revert-XXXXXX", NULL);
	if (g_mkdtemp_full(template, 0700) == NULL) {
		gint errsv = errno;

		fl_worktree_land_finish(task, fl_worktree_error_new(FL_ERROR_FAILED,
								    N_("cannot create %s: %s"),
								    template, g_strerror(errsv)));
		return;
	}
	ctx->scratch = g_steal_pointer(&template);
	fl_worktree_git(task, ctx->repo, ctx->env, fl_worktree_revert_add_cb, "worktree", "add",
			"--quiet", "--detach", "--", ctx->scratch, ctx->base_tip, NULL);
}

static void
fl_worktree_revert_commit_found_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlLandCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);

	if (run == NULL) {
		fl_worktree_land_finish(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		fl_worktree_land_finish(task, fl_worktree_error_new(FL_ERROR_NOT_FOUND,
								    N_("no commit %s in %s"),
								    ctx->merge_commit, ctx->repo));
		return;
	}
	/* from now on the full id, never a name that could resolve differently later */
	g_free(ctx->merge_commit);
	ctx->merge_commit = fl_worktree_run_line(run);
	fl_worktree_git(task, ctx->repo, ctx->env, fl_worktree_revert_ancestor_cb, "merge-base",
			"--is-ancestor", ctx->merge_commit, ctx->base_tip, NULL);
}

static void
fl_worktree_revert_start(GTask *task)
{
	FlLandCtx *ctx = g_task_get_task_data(task);
	g_autofree gchar *rev = g_strconcat(ctx->merge_commit, "^{commit}", NULL);

	fl_worktree_git(task, ctx->repo, ctx->env, fl_worktree_revert_commit_found_cb, "rev-parse",
			"--verify", "--quiet", "--end-of-options", rev, NULL);
}

/* common first steps ---------------------------------------------------------------------- */

static void
fl_worktree_land_base_tip_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlLandCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);

	if (run == NULL) {
		fl_worktree_land_finish(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		fl_worktree_land_finish(task, fl_worktree_error_new(FL_ERROR_NOT_FOUND,
								    N_("no branch '%s' in %s"),
								    ctx->base_branch, ctx->repo));
		return;
	}
	ctx->base_tip = fl_worktree_run_line(run);
	if (ctx->reverting)
		fl_worktree_revert_start(task);
	else
		fl_worktree_merge_start(task);
}

static void
fl_worktree_land_identity_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlLandCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);
	g_autoptr(GPtrArray) fields = NULL;
	g_autofree gchar *name = NULL;
	g_autofree gchar *email = NULL;
	g_autofree gchar *ref = NULL;

	if (run == NULL) {
		fl_worktree_land_finish(task, g_steal_pointer(&error));
		return;
	}
	/* -z: "key\nvalue" per entry, later ones override earlier ones like git does */
	fields = fl_worktree_split_z(run->out, run->out_len);
	for (guint i = 0; run->status == 0 && i < fields->len; i++) {
		const gchar *field = g_ptr_array_index(fields, i);
		const gchar *nl = strchr(field, '\n');

		if (nl == NULL || nl[1] == '\0')
			continue;
		if (strncmp(field, "user.name\n", nl - field + 1) == 0) {
			g_free(name);
			name = g_strdup(nl + 1);
		} else if (strncmp(field, "user.email\n", nl - field + 1) == 0) {
			g_free(email);
			email = g_strdup(nl + 1);
		}
	}
	ctx->env = fl_git_environ(name != NULL ? name : FL_WORKTREE_IDENT_NAME,
				  email != NULL ? email : FL_WORKTREE_IDENT_EMAIL);

	ref = g_strconcat("refs/heads/", ctx->base_branch, "^{commit}", NULL);
	fl_worktree_git(task, ctx->repo, ctx->env, fl_worktree_land_base_tip_cb, "rev-parse",
			"--verify", "--quiet", ref, NULL);
}

static void
fl_worktree_land_identity(GTask *task)
{
	FlLandCtx *ctx = g_task_get_task_data(task);

	fl_worktree_git(task, ctx->repo, NULL, fl_worktree_land_identity_cb, "config", "-z",
			"--get-regexp", "^user\\.(name|email)$", NULL);
}

static void
fl_worktree_land_status_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlLandCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);
	g_autoptr(GPtrArray) fields = NULL;
	g_autoptr(GPtrArray) names = g_ptr_array_new();
	g_autofree gchar *list = NULL;

	if (run == NULL) {
		fl_worktree_land_finish(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		fl_worktree_land_finish(
			task, fl_worktree_run_error(run, FL_ERROR_FAILED, "%s", ctx->checkout));
		return;
	}
	/* -z porcelain v1: "XY name", and a rename's old name as the next field */
	fields = fl_worktree_split_z(run->out, run->out_len);
	for (guint i = 0; i < fields->len; i++) {
		const gchar *field = g_ptr_array_index(fields, i);

		if (strlen(field) < 4)
			continue;
		g_ptr_array_add(names, (gpointer)(field + 3));
		if (strchr("RC", field[0]) != NULL || strchr("RC", field[1]) != NULL)
			i++;
	}
	if (names->len > 0) {
		list = fl_worktree_names_join(names);
		fl_worktree_land_finish(task, fl_worktree_land_uncommitted_error(ctx, list));
		return;
	}
	fl_worktree_land_identity(task);
}

static void
fl_worktree_land_list_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlLandCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);
	g_autoptr(GPtrArray) fields = NULL;
	g_autofree gchar *want = NULL;
	const gchar *current = NULL;

	if (run == NULL) {
		fl_worktree_land_finish(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		fl_worktree_land_finish(
			task, fl_worktree_run_error(run, FL_ERROR_FAILED, "%s", ctx->repo));
		return;
	}
	want = g_strconcat("branch refs/heads/", ctx->base_branch, NULL);
	fields = fl_worktree_split_z(run->out, run->out_len);
	for (guint i = 0; i < fields->len; i++) {
		const gchar *field = g_ptr_array_index(fields, i);

		if (g_str_has_prefix(field, "worktree ")) {
			current = field + strlen("worktree ");
		} else if (current != NULL && g_strcmp0(field, want) == 0) {
			ctx->checkout = g_strdup(current);
			break;
		}
	}
	if (ctx->checkout == NULL) {
		fl_worktree_land_identity(task);
		return;
	}
	fl_worktree_git(task, ctx->checkout, NULL, fl_worktree_land_status_cb, "status",
			"--porcelain=v1", "-z", "--untracked-files=no", NULL);
}

static GTask *
fl_worktree_land_new(const gchar *repo, const gchar *base_branch, const gchar *message,
		     GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data,
		     gpointer source_tag)
{
	GTask *task = g_task_new(NULL, cancellable, callback, user_data);
	FlLandCtx *ctx = g_new0(FlLandCtx, 1);

	g_task_set_source_tag(task, source_tag);
	ctx->repo = g_strdup(repo);
	ctx->base_branch = g_strdup(base_branch);
	ctx->message = g_strdup(message);
	g_task_set_task_data(task, ctx, (GDestroyNotify)fl_worktree_land_ctx_free);
	return task;
}

static void
fl_worktree_land_start(GTask *task)
{
	FlLandCtx *ctx = g_task_get_task_data(task);

	fl_worktree_git(task, ctx->repo, NULL, fl_worktree_land_list_cb, "worktree", "list",
			"--porcelain", "-z", NULL);
}

void
fl_worktree_merge_async(const gchar *repo, const gchar *branch, const gchar *draft_tip,
			const gchar *base_branch, const gchar *message, GCancellable *cancellable,
			GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	FlLandCtx *ctx;

	g_return_if_fail(repo != NULL);
	g_return_if_fail(branch != NULL);
	g_return_if_fail(base_branch != NULL);
	g_return_if_fail(message != NULL);
	g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

	task = fl_worktree_land_new(repo, base_branch, message, cancellable, callback, user_data,
				    fl_worktree_merge_async);
	ctx = g_task_get_task_data(task);
	ctx->branch = g_strdup(branch);
	ctx->draft_tip = g_strdup(draft_tip);
	fl_worktree_land_start(task);
}

gchar *
fl_worktree_merge_finish(GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(res, NULL), NULL);
	g_return_val_if_fail(g_task_get_source_tag(G_TASK(res)) == fl_worktree_merge_async, NULL);
	return g_task_propagate_pointer(G_TASK(res), error);
}

void
fl_worktree_revert_async(const gchar *repo, const gchar *base_branch, const gchar *merge_commit,
			 const gchar *message, const gchar *scratch_dir, GCancellable *cancellable,
			 GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	FlLandCtx *ctx;

	g_return_if_fail(repo != NULL);
	g_return_if_fail(base_branch != NULL);
	g_return_if_fail(merge_commit != NULL);
	g_return_if_fail(message != NULL);
	g_return_if_fail(scratch_dir != NULL);
	g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

	task = fl_worktree_land_new(repo, base_branch, message, cancellable, callback, user_data,
				    fl_worktree_revert_async);
	ctx = g_task_get_task_data(task);
	ctx->reverting = TRUE;
	ctx->merge_commit = g_strdup(merge_commit);
	ctx->scratch_dir = g_canonicalize_filename(scratch_dir, NULL);
	fl_worktree_land_start(task);
}

gchar *
fl_worktree_revert_finish(GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(res, NULL), NULL);
	g_return_val_if_fail(g_task_get_source_tag(G_TASK(res)) == fl_worktree_revert_async, NULL);
	return g_task_propagate_pointer(G_TASK(res), error);
}

/* ---------------------------------------------------------------------------------------- */
/* remove */

typedef struct {
	gchar *repo;
	gchar *path;
	gchar *branch;
} FlRemoveCtx;

static void
fl_worktree_remove_ctx_free(FlRemoveCtx *ctx)
{
	g_free(ctx->repo);
	g_free(ctx->path);
	g_free(ctx->branch);
	g_free(ctx);
}

static void
fl_worktree_remove_branch_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlRemoveCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	/* a branch (or whole repository) that is gone already is what we wanted */
	if (run->status != 0 && strstr(run->err, "not found") == NULL &&
	    strstr(run->err, "cannot change to") == NULL &&
	    strstr(run->err, "not a git repository") == NULL) {
		g_task_return_error(task, fl_worktree_run_error(run, FL_ERROR_FAILED,
								N_("cannot delete branch %s"),
								ctx->branch));
		return;
	}
	g_task_return_boolean(task, TRUE);
}

static void
fl_worktree_remove_prune_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlRemoveCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0)
		fl_worktree_run_debug(run, "git worktree prune");
	if (ctx->branch == NULL) {
		g_task_return_boolean(task, TRUE);
		return;
	}
	fl_worktree_git(task, ctx->repo, NULL, fl_worktree_remove_branch_cb, "branch", "-D",
			ctx->branch, NULL);
}

static void
fl_worktree_remove_prune(GTask *task)
{
	FlRemoveCtx *ctx = g_task_get_task_data(task);

	fl_worktree_git(task, ctx->repo, NULL, fl_worktree_remove_prune_cb, "worktree", "prune",
			NULL);
}

static void
fl_worktree_remove_rm_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlRemoveCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		g_task_return_error(task, fl_worktree_run_error(run, FL_ERROR_FAILED,
								N_("cannot remove %s"), ctx->path));
		return;
	}
	fl_worktree_remove_prune(task);
}

static void
fl_worktree_remove_worktree_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlRemoveCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	/* "not a working tree" and friends: git lost track of it, the files may remain */
	if (run->status != 0)
		fl_worktree_run_debug(run, "git worktree remove");
	if (g_file_test(ctx->path, G_FILE_TEST_EXISTS)) {
		fl_worktree_rm_rf(task, ctx->path, fl_worktree_remove_rm_cb);
		return;
	}
	fl_worktree_remove_prune(task);
}

void
fl_worktree_remove_async(const gchar *repo, const gchar *path, const gchar *branch,
			 GCancellable *cancellable, GAsyncReadyCallback callback,
			 gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autofree gchar *repo_full = NULL;
	g_autofree gchar *dotgit = NULL;
	g_autofree gchar *prefix = NULL;
	FlRemoveCtx *ctx;

	g_return_if_fail(repo != NULL);
	g_return_if_fail(path != NULL);
	g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

	task = g_task_new(NULL, cancellable, callback, user_data);
	g_task_set_source_tag(task, fl_worktree_remove_async);
	ctx = g_new0(FlRemoveCtx, 1);
	repo_full = g_canonicalize_filename(repo, NULL);
	ctx->repo = g_strdup(repo);
	ctx->path = g_canonicalize_filename(path, repo_full);
	ctx->branch = g_strdup(branch);
	g_task_set_task_data(task, ctx, (GDestroyNotify)fl_worktree_remove_ctx_free);

	/* this ends in rm -rf: never aim it at the repository itself or anything holding it */
	prefix = g_str_has_suffix(ctx->path, "/") ? g_strdup(ctx->path)
						  : g_strconcat(ctx->path, "/", NULL);
	dotgit = g_build_filename(ctx->path, ".git", NULL);
	if (g_strcmp0(repo_full, ctx->path) == 0 || g_str_has_prefix(repo_full, prefix) ||
	    g_file_test(dotgit, G_FILE_TEST_IS_DIR)) {
		g_task_return_error(
			task, fl_worktree_error_new(FL_ERROR_INVALID_ARGUMENT,
						    N_("%s is a repository, not a draft worktree"),
						    ctx->path));
		return;
	}
	fl_worktree_git(task, repo, NULL, fl_worktree_remove_worktree_cb, "worktree", "remove",
			"--force", "--force", ctx->path, NULL);
}

gboolean
fl_worktree_remove_finish(GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(res, NULL), FALSE);
	g_return_val_if_fail(g_task_get_source_tag(G_TASK(res)) == fl_worktree_remove_async, FALSE);
	return g_task_propagate_boolean(G_TASK(res), error);
}

/* ---------------------------------------------------------------------------------------- */
/* checkout of a refreshed draft */

typedef struct {
	gchar *repo;
	gchar *worktree;
	gchar *session_dir;
	gchar *old_commit;
	gchar *commit;
	gchar *common;
	gchar **env; /* with the private index */
} FlCheckoutCtx;

static void
fl_worktree_checkout_ctx_free(FlCheckoutCtx *ctx)
{
	g_free(ctx->repo);
	g_free(ctx->worktree);
	g_free(ctx->session_dir);
	g_free(ctx->old_commit);
	g_free(ctx->commit);
	g_free(ctx->common);
	g_strfreev(ctx->env);
	g_free(ctx);
}

/* a git step of the checkout that must have exited 0 */
static gboolean
fl_worktree_checkout_step(GTask *task, GAsyncResult *res, const gchar *what)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return FALSE;
	}
	if (run->status != 0) {
		g_task_return_error(task, fl_worktree_run_error(run, FL_ERROR_FAILED, "%s", what));
		return FALSE;
	}
	return TRUE;
}

static void
fl_worktree_checkout_admin_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlCheckoutCtx *ctx = g_task_get_task_data(task);

	if (!fl_worktree_checkout_step(task, res, ctx->worktree))
		return;
	g_task_return_boolean(task, TRUE);
}

static void
fl_worktree_checkout_files_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlCheckoutCtx *ctx = g_task_get_task_data(task);
	g_autofree gchar *admin = NULL;
	g_autofree gchar *index = NULL;
	g_auto(GStrv) env = NULL;

	if (!fl_worktree_checkout_step(task, res, ctx->worktree))
		return;
	/* the worktree's own index follows, so a resumed session sees a clean checkout */
	admin = fl_git_worktree_admin_dir(ctx->common, ctx->worktree);
	if (admin == NULL) {
		g_task_return_boolean(task, TRUE);
		return;
	}
	index = g_build_filename(admin, "index", NULL);
	env = fl_git_environ(NULL, NULL);
	env = g_environ_setenv(env, "GIT_INDEX_FILE", index, TRUE);
	fl_worktree_git_at(task, ctx->common, NULL, env, fl_worktree_checkout_admin_cb, "read-tree",
			   ctx->commit, NULL);
}

static void
fl_worktree_checkout_files(GTask *task)
{
	FlCheckoutCtx *ctx = g_task_get_task_data(task);

	/* one-way: every file of the new tree written where it differs, the old tree's files it
	 * no longer has removed; git never writes through a link in the worktree's paths */
	fl_worktree_git_at(task, ctx->common, ctx->worktree, ctx->env,
			   fl_worktree_checkout_files_cb, "read-tree", "--reset", "-u", ctx->commit,
			   NULL);
}

static void
fl_worktree_checkout_old_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlCheckoutCtx *ctx = g_task_get_task_data(task);

	if (!fl_worktree_checkout_step(task, res, ctx->worktree))
		return;
	fl_worktree_checkout_files(task);
}

static void
fl_worktree_checkout_common_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlCheckoutCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);
	g_autofree gchar *index = g_build_filename(ctx->session_dir, FL_WORKTREE_INDEX, NULL);
	g_autofree gchar *admin = NULL;

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		g_task_return_error(task,
				    fl_worktree_run_error(run, FL_ERROR_FAILED, "%s", ctx->repo));
		return;
	}
	ctx->common = fl_worktree_run_line(run);
	admin = fl_git_worktree_admin_dir(ctx->common, ctx->worktree);
	if (admin != NULL)
		fl_worktree_clear_stale_locks(ctx->worktree, admin);
	fl_worktree_clear_stale_locks(ctx->worktree, ctx->session_dir);
	if (g_file_test(index, G_FILE_TEST_EXISTS)) {
		/* the private index knows the old tip's files (and their stat data) already */
		fl_worktree_checkout_files(task);
		return;
	}
	fl_worktree_git_at(task, ctx->common, NULL, ctx->env, fl_worktree_checkout_old_cb,
			   "read-tree", ctx->old_commit, NULL);
}

void
fl_worktree_checkout_async(const gchar *repo, const gchar *worktree, const gchar *session_dir,
			   const gchar *old_commit, const gchar *commit, GCancellable *cancellable,
			   GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autofree gchar *index = NULL;
	FlCheckoutCtx *ctx;

	g_return_if_fail(repo != NULL && worktree != NULL && session_dir != NULL);
	g_return_if_fail(old_commit != NULL && commit != NULL);
	g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

	task = g_task_new(NULL, cancellable, callback, user_data);
	g_task_set_source_tag(task, fl_worktree_checkout_async);
	ctx = g_new0(FlCheckoutCtx, 1);
	ctx->repo = g_strdup(repo);
	ctx->worktree = g_canonicalize_filename(worktree, NULL);
	ctx->session_dir = g_strdup(session_dir);
	ctx->old_commit = g_strdup(old_commit);
	ctx->commit = g_strdup(commit);
	index = g_build_filename(session_dir, FL_WORKTREE_INDEX, NULL);
	ctx->env = fl_git_environ(NULL, NULL);
	ctx->env = g_environ_setenv(ctx->env, "GIT_INDEX_FILE", index, TRUE);
	g_task_set_task_data(task, ctx, (GDestroyNotify)fl_worktree_checkout_ctx_free);
	/* the user's repository is theirs: found from it, never from the worktree */
	fl_worktree_git(task, repo, NULL, fl_worktree_checkout_common_cb, "rev-parse",
			"--path-format=absolute", "--git-common-dir", NULL);
}

gboolean
fl_worktree_checkout_finish(GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(res, NULL), FALSE);
	g_return_val_if_fail(g_task_get_source_tag(G_TASK(res)) == fl_worktree_checkout_async,
			     FALSE);
	return g_task_propagate_boolean(G_TASK(res), error);
}

/* ---------------------------------------------------------------------------------------- */
/* what git says about a decision: the truth a restarted daemon finishes or undoes it from */

void
fl_merge_state_free(FlMergeState *state)
{
	if (state == NULL)
		return;
	g_free(state->draft_tip);
	g_free(state->merge_commit);
	g_free(state);
}

typedef struct {
	gchar *repo;
	gchar *branch;
	gchar *base_ref;
	FlMergeState *state;
} FlFindCtx;

static void
fl_worktree_find_ctx_free(FlFindCtx *ctx)
{
	g_free(ctx->repo);
	g_free(ctx->branch);
	g_free(ctx->base_ref);
	fl_merge_state_free(ctx->state);
	g_free(ctx);
}

static void
fl_worktree_find_merges_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlFindCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);
	g_auto(GStrv) lines = NULL;

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		g_task_return_error(task,
				    fl_worktree_run_error(run, FL_ERROR_FAILED, "%s", ctx->repo));
		return;
	}
	/* "merge parent1 parent2…", newest first: the oldest merge naming the tip brought it in */
	lines = g_strsplit(run->out, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		g_auto(GStrv) ids = g_strsplit(lines[i], " ", -1);

		for (guint j = 1; ids[0] != NULL && ids[j] != NULL; j++) {
			if (g_strcmp0(ids[j], ctx->state->draft_tip) == 0) {
				g_free(ctx->state->merge_commit);
				ctx->state->merge_commit = g_strdup(ids[0]);
			}
		}
	}
	g_task_return_pointer(task, g_steal_pointer(&ctx->state),
			      (GDestroyNotify)fl_merge_state_free);
}

static void
fl_worktree_find_ancestor_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlFindCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);
	g_autofree gchar *range = NULL;

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (run->status == 1) {
		g_task_return_pointer(task, g_steal_pointer(&ctx->state),
				      (GDestroyNotify)fl_merge_state_free);
		return;
	}
	if (run->status != 0) {
		g_task_return_error(task,
				    fl_worktree_run_error(run, FL_ERROR_FAILED, "%s", ctx->repo));
		return;
	}
	ctx->state->merged = TRUE;
	range = g_strconcat(ctx->state->draft_tip, "..", ctx->base_ref, NULL);
	fl_worktree_git(task, ctx->repo, NULL, fl_worktree_find_merges_cb, "log", "--merges",
			"--ancestry-path", "--format=%H %P", range, "--", NULL);
}

static void
fl_worktree_find_ancestor(GTask *task)
{
	FlFindCtx *ctx = g_task_get_task_data(task);

	fl_worktree_git(task, ctx->repo, NULL, fl_worktree_find_ancestor_cb, "merge-base",
			"--is-ancestor", ctx->state->draft_tip, ctx->base_ref, NULL);
}

static void
fl_worktree_find_tip_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlFindCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		g_task_return_error(task, fl_worktree_error_new(FL_ERROR_NOT_FOUND,
								N_("no branch '%s' in %s"),
								ctx->branch, ctx->repo));
		return;
	}
	ctx->state->draft_tip = fl_worktree_run_line(run);
	fl_worktree_find_ancestor(task);
}

void
fl_worktree_find_merge_async(const gchar *repo, const gchar *branch, const gchar *draft_tip,
			     const gchar *base_branch, GCancellable *cancellable,
			     GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autofree gchar *ref = NULL;
	FlFindCtx *ctx;

	g_return_if_fail(repo != NULL);
	g_return_if_fail(base_branch != NULL);
	g_return_if_fail(branch != NULL || draft_tip != NULL);

	task = g_task_new(NULL, cancellable, callback, user_data);
	g_task_set_source_tag(task, fl_worktree_find_merge_async);
	ctx = g_new0(FlFindCtx, 1);
	ctx->repo = g_strdup(repo);
	ctx->branch = g_strdup(branch);
	ctx->base_ref = g_strconcat("refs/heads/", base_branch, NULL);
	ctx->state = g_new0(FlMergeState, 1);
	g_task_set_task_data(task, ctx, (GDestroyNotify)fl_worktree_find_ctx_free);
	if (draft_tip != NULL) {
		ctx->state->draft_tip = g_strdup(draft_tip);
		fl_worktree_find_ancestor(task);
		return;
	}
	ref = g_strconcat("refs/heads/", branch, "^{commit}", NULL);
	fl_worktree_git(task, repo, NULL, fl_worktree_find_tip_cb, "rev-parse", "--verify",
			"--quiet", ref, NULL);
}

FlMergeState *
fl_worktree_find_merge_finish(GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(res, NULL), NULL);
	g_return_val_if_fail(g_task_get_source_tag(G_TASK(res)) == fl_worktree_find_merge_async,
			     NULL);
	return g_task_propagate_pointer(G_TASK(res), error);
}

static void
fl_worktree_find_revert_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	const gchar *repo = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);
	g_auto(GStrv) lines = NULL;

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		g_task_return_error(task, fl_worktree_run_error(run, FL_ERROR_FAILED, "%s", repo));
		return;
	}
	lines = g_strsplit(g_strstrip(run->out), "\n", -1);
	/* newest first: the oldest one is ours, a later one would be the user's */
	g_task_return_pointer(
		task, g_strdup(lines[0] != NULL ? lines[g_strv_length(lines) - 1] : ""), g_free);
}

void
fl_worktree_find_revert_async(const gchar *repo, const gchar *base_branch,
			      const gchar *merge_commit, GCancellable *cancellable,
			      GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autofree gchar *range = NULL;
	g_autofree gchar *grep = NULL;

	g_return_if_fail(repo != NULL);
	g_return_if_fail(base_branch != NULL);
	g_return_if_fail(merge_commit != NULL);

	task = g_task_new(NULL, cancellable, callback, user_data);
	g_task_set_source_tag(task, fl_worktree_find_revert_async);
	g_task_set_task_data(task, g_strdup(repo), g_free);
	range = g_strconcat(merge_commit, "..refs/heads/", base_branch, NULL);
	grep = g_strconcat("--grep=This reverts merge ", merge_commit, ".", NULL);
	fl_worktree_git(task, repo, NULL, fl_worktree_find_revert_cb, "log", "--format=%H",
			"--fixed-strings", grep, range, "--", NULL);
}

gchar *
fl_worktree_find_revert_finish(GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(res, NULL), NULL);
	g_return_val_if_fail(g_task_get_source_tag(G_TASK(res)) == fl_worktree_find_revert_async,
			     NULL);
	return g_task_propagate_pointer(G_TASK(res), error);
}

/* ---------------------------------------------------------------------------------------- */
/* bundles: how a draft branch travels to a cluster node and back */

static void
fl_worktree_bundle_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);

	if (run == NULL)
		g_task_return_error(task, g_steal_pointer(&error));
	else if (run->status != 0)
		g_task_return_error(
			task, fl_worktree_run_error(run, FL_ERROR_FAILED, N_("cannot bundle %s"),
						    (const gchar *)g_task_get_task_data(task)));
	else
		g_task_return_boolean(task, TRUE);
}

void
fl_worktree_bundle_async(const gchar *worktree, const gchar *path, GCancellable *cancellable,
			 GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);

	g_task_set_source_tag(task, fl_worktree_bundle_async);
	g_task_set_task_data(task, g_strdup(worktree), g_free);
	/* HEAD alone: the whole history the draft starts from, under no branch name of ours */
	fl_worktree_git(task, worktree, NULL, fl_worktree_bundle_done_cb, "bundle", "create",
			"--quiet", path, "HEAD", NULL);
}

gboolean
fl_worktree_bundle_finish(GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}

typedef struct {
	gchar *worktree;
	gchar *head;
} FlFetchCtx;

static void
fl_worktree_fetch_ctx_free(FlFetchCtx *ctx)
{
	g_free(ctx->worktree);
	g_free(ctx->head);
	g_free(ctx);
}

static void
fl_worktree_fetch_bundle_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlFetchCtx *ctx = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlRun) run = fl_worktree_run_finish(res, &error);

	if (run == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (run->status != 0) {
		g_task_return_error(task,
				    fl_worktree_run_error(run, FL_ERROR_FAILED,
							  N_("cannot fetch the draft into %s"),
							  ctx->worktree));
		return;
	}
	/* only forward: what the job sends back must build on what it was given */
	fl_worktree_git(task, ctx->worktree, NULL, fl_worktree_bundle_done_cb, "merge", "--ff-only",
			"--quiet", ctx->head, NULL);
}

void
fl_worktree_fetch_bundle_async(const gchar *worktree, const gchar *bundle, const gchar *head,
			       GCancellable *cancellable, GAsyncReadyCallback callback,
			       gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
	FlFetchCtx *ctx = g_new0(FlFetchCtx, 1);

	g_task_set_source_tag(task, fl_worktree_fetch_bundle_async);
	ctx->worktree = g_strdup(worktree);
	ctx->head = g_strdup(head);
	g_task_set_task_data(task, ctx, (GDestroyNotify)fl_worktree_fetch_ctx_free);
	if (strspn(head, "0123456789abcdef") != strlen(head) || strlen(head) < 40) {
		g_task_return_error(task,
				    fl_worktree_error_new(FL_ERROR_FAILED,
							  N_("'%s' is not a commit id"), head));
		return;
	}
	/* objects only, into the repository the worktree belongs to; no tags, no refs. A
	 * bundle is read through git's "file" transport, which the hardening turns off with
	 * every other: allowed again for this one local file only */
	fl_worktree_git(task, worktree, NULL, fl_worktree_fetch_bundle_cb, "-c",
			"protocol.file.allow=always", "fetch", "--quiet", "--no-tags",
			"--no-write-fetch-head", bundle, "HEAD", NULL);
}

gboolean
fl_worktree_fetch_bundle_finish(GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}
