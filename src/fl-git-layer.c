/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-git-layer.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fl-error.h"
#include "fl-git.h"
#include "fl-i18n.h"
#include "fl-msg.h"
#include "fl-runner-protocol.h"
#include "fl-safe-path.h"
#include "fl-sandbox.h"
#include "fl-util.h"

/* a loose ref is one line; packed-refs of a big repository is megabytes, not gigabytes */
#define FL_GIT_LAYER_REF_MAX    4096
#define FL_GIT_LAYER_PACKED_MAX (256 * 1024 * 1024)

gchar *
fl_git_layer_dir(const gchar *session_dir)
{
	return g_build_filename(session_dir, FL_RUNNER_DIR_GIT, NULL);
}

typedef struct {
	gint status; /* exit status, -1 when killed */
	gchar *out;  /* stdout, when not sent to a file */
	gchar *err;
} FlGitLayerRun;

static void
fl_git_layer_run_clear(FlGitLayerRun *run)
{
	g_clear_pointer(&run->out, g_free);
	g_clear_pointer(&run->err, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(FlGitLayerRun, fl_git_layer_run_clear)

/*
 * Runs git (in a worker thread: this waits) with @git_dir given explicitly, or in @dir, with
 * the prefix and environment every git flotillad runs gets (fl-git.h): nothing the
 * repository's files say makes it run a program. @stdin_path and @stdout_path (nullable) redirect;
 * otherwise stdout is collected.
 */
static gboolean
fl_git_layer_git(FlGitLayerRun *run, const gchar *git_dir, const gchar *dir, gchar **env,
		 const gchar *input, const gchar *stdin_path, const gchar *stdout_path,
		 GCancellable *cancellable, GError **error, ...) G_GNUC_NULL_TERMINATED;

static gboolean
fl_git_layer_git(FlGitLayerRun *run, const gchar *git_dir, const gchar *dir, gchar **env,
		 const gchar *input, const gchar *stdin_path, const gchar *stdout_path,
		 GCancellable *cancellable, GError **error, ...)
{
	g_autoptr(GPtrArray) argv = fl_git_argv_new(dir, git_dir, NULL);
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GSubprocess) proc = NULL;
	g_auto(GStrv) default_env = NULL;
	GSubprocessFlags flags = G_SUBPROCESS_FLAGS_STDERR_PIPE;
	const gchar *arg;
	va_list args;

	va_start(args, error);
	while ((arg = va_arg(args, const gchar *)) != NULL)
		g_ptr_array_add(argv, g_strdup(arg));
	va_end(args);
	g_ptr_array_add(argv, NULL);

	if (stdout_path == NULL)
		flags |= G_SUBPROCESS_FLAGS_STDOUT_PIPE;
	if (input != NULL)
		flags |= G_SUBPROCESS_FLAGS_STDIN_PIPE;
	launcher = g_subprocess_launcher_new(flags);
	if (env == NULL)
		env = default_env = fl_git_environ(NULL, NULL);
	g_subprocess_launcher_set_environ(launcher, env);
	if (stdin_path != NULL)
		g_subprocess_launcher_set_stdin_file_path(launcher, stdin_path);
	if (stdout_path != NULL)
		g_subprocess_launcher_set_stdout_file_path(launcher, stdout_path);
	proc = g_subprocess_launcher_spawnv(launcher, (const gchar *const *)argv->pdata, error);
	if (proc == NULL)
		return FALSE;
	if (!g_subprocess_communicate_utf8(proc, input, cancellable, &run->out, &run->err, error)) {
		g_subprocess_force_exit(proc);
		return FALSE;
	}
	run->status = g_subprocess_get_if_exited(proc) ? g_subprocess_get_exit_status(proc) : -1;
	if (run->out != NULL)
		g_strchomp(run->out);
	if (run->err != NULL)
		g_strchomp(run->err);
	return TRUE;
}

/* git's own words for a failure: its last line of stderr */
static const gchar *
fl_git_layer_why(const FlGitLayerRun *run)
{
	const gchar *nl;

	if (run->err == NULL || run->err[0] == '\0')
		return run->status < 0 ? fl_msg_word(N_("killed by a signal"))
				       : fl_msg_word(N_("no message"));
	nl = strrchr(run->err, '\n');
	return nl != NULL ? nl + 1 : run->err;
}

/* rm -rf, which never follows a link: the layer holds what a session made */
static gboolean
fl_git_layer_remove_dir(const gchar *dir, GError **error)
{
	const gchar *argv[] = {"rm", "-rf", "--one-file-system", "--", dir, NULL};
	gint status = 0;

	if (!g_spawn_sync(NULL, (gchar **)argv, NULL,
			  G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, NULL,
			  &status, error))
		return FALSE;
	return g_spawn_check_wait_status(status, error);
}

/*
 * Copies the repository's own files (trusted) @from to @to: directories, regular files and
 * links as links. Other sessions' git and the user's move refs meanwhile, so what vanishes
 * on the way (a ref deleted, a .lock renamed into place) is left out, and locks are not
 * copied: the copy is the refs as they were a moment ago.
 */
static gboolean
fl_git_layer_copy(const gchar *from, const gchar *to, GError **error)
{
	GStatBuf st;

	if (g_lstat(from, &st) < 0)
		return TRUE;
	if (S_ISDIR(st.st_mode)) {
		g_autoptr(GDir) dir = NULL;
		const gchar *name;

		if (g_mkdir(to, 0700) < 0 && errno != EEXIST) {
			fl_set_error(error, FL_ERROR_FAILED, N_("cannot create %s: %s"), to,
				     g_strerror(errno));
			return FALSE;
		}
		dir = g_dir_open(from, 0, NULL);
		while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
			g_autofree gchar *sub_from = g_build_filename(from, name, NULL);
			g_autofree gchar *sub_to = g_build_filename(to, name, NULL);

			if (g_str_has_suffix(name, ".lock"))
				continue;
			if (!fl_git_layer_copy(sub_from, sub_to, error))
				return FALSE;
		}
		return TRUE;
	}
	if (S_ISLNK(st.st_mode)) {
		g_autofree gchar *target = g_file_read_link(from, NULL);

		if (target != NULL && symlink(target, to) < 0 && errno != EEXIST) {
			fl_set_error(error, FL_ERROR_FAILED, N_("cannot copy %s: %s"), from,
				     g_strerror(errno));
			return FALSE;
		}
		return TRUE;
	}
	if (S_ISREG(st.st_mode)) {
		g_autofree gchar *contents = NULL;
		gsize len = 0;

		if (!g_file_get_contents(from, &contents, &len, NULL))
			return TRUE;
		return g_file_set_contents_full(to, contents, len, G_FILE_SET_CONTENTS_NONE, 0600,
						error);
	}
	return TRUE;
}

/* the repository's common git dir, resolved: git writes it so into a worktree's .git file */
static gchar *
fl_git_layer_common(const gchar *repo, GCancellable *cancellable, GError **error)
{
	g_auto(FlGitLayerRun) run = {0};
	gchar *real;

	if (!fl_git_layer_git(&run, NULL, repo, NULL, NULL, NULL, NULL, cancellable, error,
			      "rev-parse", "--path-format=absolute", "--git-common-dir", NULL))
		return NULL;
	if (run.status != 0 || run.out == NULL || run.out[0] == '\0') {
		g_set_error(error, FL_ERROR, FL_ERROR_FAILED, "%s: %s", repo,
			    fl_git_layer_why(&run));
		return NULL;
	}
	real = realpath(run.out, NULL);
	if (real == NULL) {
		g_set_error(error, FL_ERROR, FL_ERROR_FAILED, "%s: %s", run.out, g_strerror(errno));
		return NULL;
	}
	return real;
}

typedef struct {
	gchar *repo;
	gchar *worktree;
	gchar *branch;
	gchar *base_commit;
	gchar *session_dir;
} FlGitLayerCtx;

static void
fl_git_layer_ctx_free(FlGitLayerCtx *ctx)
{
	g_free(ctx->repo);
	g_free(ctx->worktree);
	g_free(ctx->branch);
	g_free(ctx->base_commit);
	g_free(ctx->session_dir);
	g_free(ctx);
}

static gchar *
fl_git_layer_prepare(FlGitLayerCtx *ctx, GCancellable *cancellable, GError **error)
{
	g_autofree gchar *layer = fl_git_layer_dir(ctx->session_dir);
	g_autofree gchar *common = NULL;
	g_autofree gchar *admin = NULL;
	g_autofree gchar *admin_name = NULL;
	const gchar *const dirs[] = {"logs", "objects/pack", "worktrees", NULL};
	const gchar *const copies[] = {"refs", "packed-refs", NULL};

	common = fl_git_layer_common(ctx->repo, cancellable, error);
	if (common == NULL)
		return NULL;
	admin = fl_git_worktree_admin_dir(common, ctx->worktree);
	if (admin == NULL) {
		fl_set_error(error, FL_ERROR_FAILED, N_("git does not know the worktree %s"),
			     ctx->worktree);
		return NULL;
	}
	admin_name = g_path_get_basename(admin);

	/* afresh each time: a resumed session starts from the branch as recorded */
	if (!fl_git_layer_remove_dir(layer, error))
		return NULL;
	if (g_mkdir(layer, 0700) < 0) {
		fl_set_error(error, FL_ERROR_FAILED, N_("cannot create %s: %s"), layer,
			     g_strerror(errno));
		return NULL;
	}
	for (guint i = 0; dirs[i] != NULL; i++) {
		g_autofree gchar *sub = g_build_filename(layer, dirs[i], NULL);

		if (g_mkdir_with_parents(sub, 0700) < 0) {
			fl_set_error(error, FL_ERROR_FAILED, N_("cannot create %s: %s"), sub,
				     g_strerror(errno));
			return NULL;
		}
	}
	/* the repository's objects, reached from where the sandbox shows them */
	if (!fl_safe_write_file(layer, "objects/info/alternates", FL_SANDBOX_GIT_OBJECTS "\n", -1,
				0600, TRUE, FALSE, error))
		return NULL;
	for (guint i = 0; copies[i] != NULL; i++) {
		g_autofree gchar *from = g_build_filename(common, copies[i], NULL);
		g_autofree gchar *to = g_build_filename(layer, copies[i], NULL);

		if (g_file_test(from, G_FILE_TEST_EXISTS) && !fl_git_layer_copy(from, to, error))
			return NULL;
	}
	{
		g_autofree gchar *to = g_build_filename(layer, "worktrees", admin_name, NULL);

		if (!fl_git_layer_copy(admin, to, error))
			return NULL;
	}
	return g_steal_pointer(&common);
}

static void
fl_git_layer_prepare_thread(GTask *task, gpointer source_object, gpointer task_data,
			    GCancellable *cancellable)
{
	GError *error = NULL;
	gchar *common = fl_git_layer_prepare(task_data, cancellable, &error);

	if (common == NULL)
		g_task_return_error(task, error);
	else
		g_task_return_pointer(task, common, g_free);
}

void
fl_git_layer_prepare_async(const gchar *repo, const gchar *worktree, const gchar *session_dir,
			   GCancellable *cancellable, GAsyncReadyCallback callback,
			   gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
	FlGitLayerCtx *ctx = g_new0(FlGitLayerCtx, 1);

	g_task_set_source_tag(task, fl_git_layer_prepare_async);
	ctx->repo = g_strdup(repo);
	ctx->worktree = g_strdup(worktree);
	ctx->session_dir = g_strdup(session_dir);
	g_task_set_task_data(task, ctx, (GDestroyNotify)fl_git_layer_ctx_free);
	g_task_run_in_thread(task, fl_git_layer_prepare_thread);
}

gchar *
fl_git_layer_prepare_finish(GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_get_source_tag(G_TASK(res)) == fl_git_layer_prepare_async,
			     NULL);
	return g_task_propagate_pointer(G_TASK(res), error);
}

/* the take ------------------------------------------------------------------------------ */

static GError *
fl_git_layer_refused(const gchar *format, ...) G_GNUC_PRINTF(1, 2);

/*
 * What the session left is not acceptable; its worktree's files are recorded all the same.
 * The inner reason is kept in English inside the translated sentence: a message has only
 * finished strings as arguments, and this one is made long before anyone reads it.
 */
static GError *
fl_git_layer_refused(const gchar *format, ...)
{
	g_autoptr(FlMsg) why_msg = NULL;
	g_autofree gchar *why = NULL;
	GError *error = NULL;
	va_list args;

	va_start(args, format);
	why_msg = fl_msg_new_valist(format, args);
	va_end(args);
	/* inside the message as a message: the reader gets both parts in one language */
	why = fl_msg_serialize(why_msg);
	fl_set_error(&error, FL_ERROR_INVALID_ARGUMENT,
		     N_("the draft branch's commits were not taken (%s); the draft holds "
			"the worktree's files"),
		     why);
	return error;
}

/* reads at most @max bytes of @path beneath @layer, never through a link; NULL and no error
 * when it does not exist */
static gchar *
fl_git_layer_read(const gchar *layer, const gchar *path, gsize max, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GString) text = g_string_new(NULL);
	gint fd = fl_safe_open(layer, path, O_RDONLY, 0, FALSE, &error_local);
	gchar buf[65536];
	gssize n;

	if (fd < 0) {
		if (g_error_matches(error_local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return NULL;
		g_propagate_error(error, g_steal_pointer(&error_local));
		return NULL;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0 && text->len <= max)
		g_string_append_len(text, buf, n);
	close(fd);
	if (n < 0 || text->len > max) {
		fl_set_error(error, FL_ERROR_FAILED, "%s: %s", path,
			     n < 0 ? g_strerror(errno) : fl_msg_word(N_("too large")));
		return NULL;
	}
	return g_string_free(g_steal_pointer(&text), FALSE);
}

/* a full object id in lower-case hex (SHA-1 or SHA-256), nothing else */
static gboolean
fl_git_layer_is_oid(const gchar *text, gsize len)
{
	if (len != 40 && len != 64)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_isdigit(text[i]) && !(text[i] >= 'a' && text[i] <= 'f'))
			return FALSE;
	}
	return TRUE;
}

/*
 * The tip of @ref in the layer: its loose ref, else its line in packed-refs (a `git gc` or
 * `git pack-refs` inside moves it there). NULL with no error: the branch is gone.
 */
static gchar *
fl_git_layer_read_tip(const gchar *layer, const gchar *ref, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *loose = fl_git_layer_read(layer, ref, FL_GIT_LAYER_REF_MAX, &error_local);
	g_autofree gchar *packed = NULL;
	g_auto(GStrv) lines = NULL;

	if (error_local != NULL) {
		g_propagate_error(error, fl_git_layer_refused(N_("%s cannot be read safely: %s"),
							      ref, error_local->message));
		return NULL;
	}
	if (loose != NULL) {
		gsize len = strlen(loose);

		if (len > 0 && loose[len - 1] == '\n')
			loose[--len] = '\0';
		if (g_str_has_prefix(loose, "ref:")) {
			g_propagate_error(error,
					  fl_git_layer_refused(N_("%s is a symbolic ref"), ref));
			return NULL;
		}
		if (!fl_git_layer_is_oid(loose, len)) {
			g_propagate_error(error, fl_git_layer_refused(
							 N_("%s does not hold an object id"), ref));
			return NULL;
		}
		return g_steal_pointer(&loose);
	}
	packed = fl_git_layer_read(layer, "packed-refs", FL_GIT_LAYER_PACKED_MAX, &error_local);
	if (error_local != NULL) {
		g_propagate_error(error,
				  fl_git_layer_refused(N_("packed-refs cannot be read safely: %s"),
						       error_local->message));
		return NULL;
	}
	if (packed == NULL)
		return NULL;
	lines = g_strsplit(packed, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		const gchar *space = strchr(lines[i], ' ');

		if (space == NULL || g_strcmp0(space + 1, ref) != 0)
			continue;
		if (!fl_git_layer_is_oid(lines[i], space - lines[i])) {
			g_propagate_error(error, fl_git_layer_refused(
							 N_("%s does not hold an object id"), ref));
			return NULL;
		}
		return g_strndup(lines[i], space - lines[i]);
	}
	return NULL;
}

/*
 * The layer's object store holds only files and directories: a link would have git read
 * what lies elsewhere, a FIFO would leave it waiting for ever
 */
static gboolean
fl_git_layer_plain_objects(const gchar *layer, GError **error)
{
	g_autofree gchar *objects = g_build_filename(layer, "objects", NULL);
	const gchar *argv[] = {"find",  objects, "!",      "-type", "f", "!",
			       "-type", "d",     "-print", "-quit", NULL};
	g_autofree gchar *out = NULL;
	gint status = 0;
	GStatBuf st;

	if (g_lstat(objects, &st) < 0 || !S_ISDIR(st.st_mode)) {
		g_propagate_error(error,
				  fl_git_layer_refused(N_("its object store is not a directory")));
		return FALSE;
	}
	if (!g_spawn_sync(NULL, (gchar **)argv, NULL,
			  G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL,
			  &status, error))
		return FALSE;
	if (!g_spawn_check_wait_status(status, NULL) || (out != NULL && out[0] != '\0')) {
		g_propagate_error(error, fl_git_layer_refused(N_("its object store holds "
								 "something other than files")));
		return FALSE;
	}
	return TRUE;
}

static gboolean
fl_git_layer_take(FlGitLayerCtx *ctx, FlGitLayerTake *result, GCancellable *cancellable,
		  GError **error)
{
	g_autofree gchar *layer = fl_git_layer_dir(ctx->session_dir);
	g_autofree gchar *ref = g_strconcat("refs/heads/", ctx->branch, NULL);
	g_autofree gchar *pack = g_build_filename(ctx->session_dir, "git-take.pack", NULL);
	g_autofree gchar *common = NULL;
	g_autofree gchar *objects = NULL;
	g_autofree gchar *tip = NULL;
	g_autofree gchar *old = NULL;
	g_autofree gchar *revs = NULL;
	g_auto(GStrv) env = NULL;
	g_autoptr(GError) error_local = NULL;
	GStatBuf st;

	*result = FL_GIT_LAYER_TAKE_NONE;
	if (g_lstat(layer, &st) < 0 || !S_ISDIR(st.st_mode))
		return TRUE;
	*result = FL_GIT_LAYER_TAKE_SAME;
	tip = fl_git_layer_read_tip(layer, ref, &error_local);
	if (error_local != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	/* the agent deleted its branch: its worktree's files are the draft */
	if (tip == NULL)
		return TRUE;

	common = fl_git_layer_common(ctx->repo, cancellable, error);
	if (common == NULL)
		return FALSE;
	{
		g_auto(FlGitLayerRun) run = {0};

		if (!fl_git_layer_git(&run, common, NULL, NULL, NULL, NULL, NULL, cancellable,
				      error, "rev-parse", "--verify", "--quiet", ref, NULL))
			return FALSE;
		if (run.status != 0) {
			fl_set_error(error, FL_ERROR_FAILED,
				     N_("the branch %s is gone from the repository"), ctx->branch);
			return FALSE;
		}
		old = g_strdup(run.out);
	}
	{
		/* taken already (a daemon killed after moving the branch), or moved back */
		g_auto(FlGitLayerRun) run = {0};

		if (!fl_git_layer_git(&run, common, NULL, NULL, NULL, NULL, NULL, cancellable,
				      error, "merge-base", "--is-ancestor", tip, old, NULL))
			return FALSE;
		if (run.status == 0)
			return TRUE;
	}

	/* git reads the layer's objects (with the repository's as the alternate; the session
	 * may have rewritten that file) but nothing else of it, and trusts none of its
	 * indexes: index-pack hashes every object it brings in */
	objects = g_build_filename(common, "objects", NULL);
	if (!fl_git_layer_plain_objects(layer, error))
		return FALSE;
	{
		g_autofree gchar *alternates = g_strconcat(objects, "\n", NULL);

		if (!fl_safe_write_file(layer, "objects/info/alternates", alternates, -1, 0600,
					TRUE, FALSE, &error_local)) {
			g_propagate_error(error, fl_git_layer_refused("%s", error_local->message));
			return FALSE;
		}
	}
	env = fl_git_environ(NULL, NULL);
	{
		g_autofree gchar *layer_objects = g_build_filename(layer, "objects", NULL);
		g_auto(FlGitLayerRun) run = {0};

		env = g_environ_setenv(env, "GIT_OBJECT_DIRECTORY", layer_objects, TRUE);
		revs = g_strdup_printf("%s\n^%s\n", tip, old);
		if (!fl_git_layer_git(&run, common, NULL, env, revs, NULL, pack, cancellable, error,
				      "-c", "core.commitGraph=false", "-c",
				      "core.multiPackIndex=false", "pack-objects", "--revs",
				      "--stdout", "-q", NULL))
			return FALSE;
		if (run.status != 0) {
			g_unlink(pack);
			g_propagate_error(error,
					  fl_git_layer_refused(N_("its objects cannot be read: %s"),
							       fl_git_layer_why(&run)));
			return FALSE;
		}
	}
	{
		g_auto(FlGitLayerRun) run = {0};

		if (!fl_git_layer_git(&run, common, NULL, NULL, NULL, pack, NULL, cancellable,
				      error, "index-pack", "--stdin", "--strict", NULL)) {
			g_unlink(pack);
			return FALSE;
		}
		g_unlink(pack);
		if (run.status != 0) {
			g_propagate_error(error,
					  fl_git_layer_refused(N_("its objects are not sound: %s"),
							       fl_git_layer_why(&run)));
			return FALSE;
		}
	}
	fl_crash_point("take:imported");
	{
		/* every object the tip needs is in the repository now */
		g_auto(FlGitLayerRun) run = {0};
		g_autofree gchar *not_old = g_strconcat("^", old, NULL);

		if (!fl_git_layer_git(&run, common, NULL, NULL, NULL, NULL, NULL, cancellable,
				      error, "rev-list", "--objects", "--quiet", tip, not_old,
				      NULL))
			return FALSE;
		if (run.status != 0) {
			g_propagate_error(error, fl_git_layer_refused(N_("objects are missing: %s"),
								      fl_git_layer_why(&run)));
			return FALSE;
		}
	}
	{
		g_auto(FlGitLayerRun) run = {0};

		if (!fl_git_layer_git(&run, common, NULL, NULL, NULL, NULL, NULL, cancellable,
				      error, "merge-base", "--is-ancestor", ctx->base_commit, tip,
				      NULL))
			return FALSE;
		if (run.status != 0) {
			g_propagate_error(
				error, fl_git_layer_refused(N_("%s does not descend from the base "
							       "commit"),
							    tip));
			return FALSE;
		}
	}
	{
		g_auto(FlGitLayerRun) run = {0};

		if (!fl_git_layer_git(&run, common, NULL, NULL, NULL, NULL, NULL, cancellable,
				      error, "update-ref", "-m", "flotilla: the session's commits",
				      ref, tip, old, NULL))
			return FALSE;
		if (run.status != 0) {
			g_set_error(error, FL_ERROR, FL_ERROR_FAILED, "%s: %s", ref,
				    fl_git_layer_why(&run));
			return FALSE;
		}
	}
	*result = FL_GIT_LAYER_TAKE_MOVED;
	return TRUE;
}

static void
fl_git_layer_take_thread(GTask *task, gpointer source_object, gpointer task_data,
			 GCancellable *cancellable)
{
	FlGitLayerCtx *ctx = task_data;
	g_autofree gchar *layer = fl_git_layer_dir(ctx->session_dir);
	g_autoptr(GError) error_rm = NULL;
	GError *error = NULL;
	FlGitLayerTake result = FL_GIT_LAYER_TAKE_NONE;
	gboolean ok = fl_git_layer_take(ctx, &result, cancellable, &error);

	/* taken or refused, the layer has nothing more to give; a failure to run git keeps it
	 * for the next try */
	if ((ok && result != FL_GIT_LAYER_TAKE_NONE) ||
	    g_error_matches(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT)) {
		if (!fl_git_layer_remove_dir(layer, &error_rm))
			g_debug("%s: %s", layer, error_rm->message);
	}
	if (!ok)
		g_task_return_error(task, error);
	else
		g_task_return_int(task, result);
}

void
fl_git_layer_take_async(const gchar *repo, const gchar *branch, const gchar *base_commit,
			const gchar *session_dir, GCancellable *cancellable,
			GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
	FlGitLayerCtx *ctx = g_new0(FlGitLayerCtx, 1);

	g_task_set_source_tag(task, fl_git_layer_take_async);
	ctx->repo = g_strdup(repo);
	ctx->branch = g_strdup(branch);
	ctx->base_commit = g_strdup(base_commit);
	ctx->session_dir = g_strdup(session_dir);
	g_task_set_task_data(task, ctx, (GDestroyNotify)fl_git_layer_ctx_free);
	g_task_run_in_thread(task, fl_git_layer_take_thread);
}

FlGitLayerTake
fl_git_layer_take_finish(GAsyncResult *res, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	gssize result;

	g_return_val_if_fail(g_task_get_source_tag(G_TASK(res)) == fl_git_layer_take_async,
			     FL_GIT_LAYER_TAKE_NONE);
	result = g_task_propagate_int(G_TASK(res), &error_local);
	if (error_local != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FL_GIT_LAYER_TAKE_NONE;
	}
	return (FlGitLayerTake)result;
}
