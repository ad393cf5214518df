/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fl-test-harness.h"

#include <glib/gstdio.h>
#include <stdlib.h>

gchar *
fl_test_mkdtemp(void)
{
	g_autoptr(GError) error = NULL;
	gchar *dir = g_dir_make_tmp("flotilla-test-XXXXXX", &error);

	g_assert_no_error(error);
	return dir;
}

void
fl_test_rm_rf(const gchar *path)
{
	const gchar *argv[] = {"rm", "-rf", "--", path, NULL};

	if (path == NULL)
		return;
	g_assert_cmpint(fl_test_run(NULL, argv, NULL, NULL), ==, 0);
}

gint
fl_test_run(const gchar *cwd, const gchar *const *argv, gchar **out, gchar **err)
{
	g_autoptr(GError) error = NULL;
	gint status = 0;

	if (!g_spawn_sync(cwd, (gchar **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, out, err,
			  &status, &error)) {
		g_test_message("spawn %s: %s", argv[0], error->message);
		g_assert_no_error(error);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return -1;
}

gchar *
fl_test_sh(const gchar *cwd, const gchar *cmdline)
{
	const gchar *argv[] = {"sh", "-c", cmdline, NULL};
	g_autofree gchar *err = NULL;
	gchar *out = NULL;
	gint rc = fl_test_run(cwd, argv, &out, &err);

	if (rc != 0)
		g_test_message("'%s' failed (%d): %s", cmdline, rc, err);
	g_assert_cmpint(rc, ==, 0);
	return out;
}

static gchar *fl_test_locales_dir;

static void
fl_test_locales_remove(void)
{
	fl_test_rm_rf(fl_test_locales_dir);
}

const gchar *
fl_test_locales(void)
{
	const gchar *names[][2] = {{"de_DE", "de_DE.UTF-8"}, {"C", "C.UTF-8"}};

	if (fl_test_locales_dir != NULL)
		return fl_test_locales_dir;
	fl_test_locales_dir = fl_test_mkdtemp();
	atexit(fl_test_locales_remove);
	for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
		g_autofree gchar *out = g_build_filename(fl_test_locales_dir, names[i][1], NULL);
		const gchar *argv[] = {"localedef", "-c",    "-i", names[i][0],
				       "-f",        "UTF-8", out,  NULL};
		g_autofree gchar *err = NULL;
		gint rc = fl_test_run(NULL, argv, NULL, &err);

		/* localedef exits 1 for warnings about the definitions it still compiled */
		if (!g_file_test(out, G_FILE_TEST_IS_DIR))
			g_error("localedef %s failed (%d): %s", names[i][1], rc, err);
	}
	return fl_test_locales_dir;
}

void
fl_test_env_use_locales(FlTestEnv *env)
{
	env->envp = g_environ_setenv(env->envp, "LOCPATH", fl_test_locales(), TRUE);
	/* $LANGUAGE would override the locale each test chooses */
	env->envp = g_environ_unsetenv(env->envp, "LANGUAGE");
}

gchar *
fl_test_git(const gchar *repo, const gchar *args)
{
	g_autofree gchar *cmd = g_strdup_printf("git %s", args);

	return g_strstrip(fl_test_sh(repo, cmd));
}

typedef struct {
	gboolean timed_out;
} WaitData;

static void
fl_test_wait_timeout_cb(gpointer user_data)
{
	WaitData *data = user_data;

	data->timed_out = TRUE;
}

gboolean
fl_test_wait_for(gboolean (*cond)(gpointer), gpointer user_data, guint timeout_ms)
{
	WaitData data = {FALSE};
	guint id = g_timeout_add_once(timeout_ms, fl_test_wait_timeout_cb, &data);

	while (!cond(user_data)) {
		if (data.timed_out)
			return FALSE;
		g_main_context_iteration(NULL, TRUE);
	}
	if (!data.timed_out)
		g_source_remove(id);
	return TRUE;
}

/* ------------------------------------------------------------------ daemon + CLI world */

#include <signal.h>

/*
 * Tests talk to their sessions through files in env->root (gates, marks), so sessions get it
 * writable through the user's own option, [fleet] writable=, unless the test is about what a
 * session cannot reach (env->confined). The line goes into the test's [fleet] group, or a
 * [fleet] group of its own is appended: nothing before it changes, so a config that is meant
 * to be wrong stays wrong in the same way.
 */
static gchar *
fl_test_env_shared_config(FlTestEnv *env, const gchar *config_text)
{
	g_autofree gchar *line = g_strdup_printf("writable=%s\n", env->root);
	const gchar *fleet = NULL;

	if (env->confined)
		return g_strdup(config_text);
	if (config_text == NULL)
		return g_strdup_printf("[fleet]\n%s", line);
	if (g_str_has_prefix(config_text, "[fleet]\n"))
		fleet = config_text;
	else if (strstr(config_text, "\n[fleet]\n") != NULL)
		fleet = strstr(config_text, "\n[fleet]\n") + 1;
	if (fleet == NULL)
		return g_strdup_printf(
			"%s%s[fleet]\n%s", config_text,
			g_str_has_suffix(config_text, "\n") || config_text[0] == '\0' ? "" : "\n",
			line);
	fleet += strlen("[fleet]\n");
	return g_strdup_printf("%.*s%s%s", (gint)(fleet - config_text), config_text, line, fleet);
}

void
fl_test_env_write_config(FlTestEnv *env, const gchar *config_text)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_path_get_dirname(env->config_path);
	g_autofree gchar *text = fl_test_env_shared_config(env, config_text);

	g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
	if (text == NULL) {
		g_unlink(env->config_path);
		return;
	}
	g_file_set_contents(env->config_path, text, -1, &error);
	g_assert_no_error(error);
}

static void
fl_test_env_changed_cb(GDBusConnection *conn, const gchar *sender, const gchar *path,
		       const gchar *iface, const gchar *signal, GVariant *params,
		       gpointer user_data)
{
	FlTestEnv *env = user_data;

	env->changes++;
}

static FlTestEnv *
fl_test_env_new_full(const gchar *config_text, gboolean confined);

FlTestEnv *
fl_test_env_new(const gchar *config_text)
{
	return fl_test_env_new_full(config_text, FALSE);
}

FlTestEnv *
fl_test_env_new_confined(const gchar *config_text)
{
	return fl_test_env_new_full(config_text, TRUE);
}

static FlTestEnv *
fl_test_env_new_full(const gchar *config_text, gboolean confined)
{
	FlTestEnv *env = g_new0(FlTestEnv, 1);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *state_home = NULL;
	g_autofree gchar *config_home = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *src_dir = g_path_get_dirname(g_getenv("FLOTILLA"));
	gchar **envp;

	env->confined = confined;
	env->root = fl_test_mkdtemp();
	env->home = g_build_filename(env->root, "home", NULL);
	state_home = g_build_filename(env->root, "state", NULL);
	config_home = g_build_filename(env->root, "config", NULL);
	env->state_dir = g_build_filename(state_home, "flotilla", NULL);
	env->config_path = g_build_filename(config_home, "flotilla", "flotilla.conf", NULL);
	g_assert_cmpint(g_mkdir_with_parents(env->home, 0700), ==, 0);
	fl_test_env_write_config(env, config_text);

	env->bus = g_test_dbus_new(G_TEST_DBUS_NONE);
	g_test_dbus_up(env->bus);
	env->conn = g_dbus_connection_new_for_address_sync(
		g_test_dbus_get_bus_address(env->bus),
		G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
			G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
		NULL, NULL, &error);
	g_assert_no_error(error);
	env->sub_id = g_dbus_connection_signal_subscribe(
		env->conn, NULL, "io.github.flotilla.Flotilla1", "SessionChanged",
		"/io/github/flotilla/Flotilla1", NULL, G_DBUS_SIGNAL_FLAGS_NONE,
		fl_test_env_changed_cb, env, NULL);

	envp = g_get_environ();
	envp = g_environ_setenv(envp, "DBUS_SESSION_BUS_ADDRESS",
				g_test_dbus_get_bus_address(env->bus), TRUE);
	envp = g_environ_setenv(envp, "HOME", env->home, TRUE);
	envp = g_environ_setenv(envp, "XDG_STATE_HOME", state_home, TRUE);
	envp = g_environ_setenv(envp, "XDG_CONFIG_HOME", config_home, TRUE);
	envp = g_environ_setenv(envp, "XDG_RUNTIME_DIR", env->root, TRUE);
	envp = g_environ_setenv(envp, "GIT_CONFIG_NOSYSTEM", "1", TRUE);
	envp = g_environ_setenv(envp, "NO_COLOR", "1", TRUE);
	envp = g_environ_unsetenv(envp, "FLOTILLA_SESSION");
	envp = g_environ_unsetenv(envp, "FLOTILLA_CONFIG");
	envp = g_environ_unsetenv(envp, "DISPLAY");
	path = g_strdup_printf("%s:%s", src_dir, g_getenv("PATH"));
	envp = g_environ_setenv(envp, "PATH", path, TRUE);
	env->envp = envp;
	return env;
}

static void
fl_test_name_cb(GDBusConnection *conn, const gchar *name, const gchar *owner, gpointer user_data)
{
	gboolean *owned = user_data;

	*owned = TRUE;
}

static gboolean
fl_test_bool_cond(gpointer user_data)
{
	return *(gboolean *)user_data;
}

void
fl_test_env_start_daemon(FlTestEnv *env, const gchar *extra_arg)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GSubprocessLauncher) launcher =
		g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	gboolean owned = FALSE;
	guint watch;

	if (g_getenv("FL_TEST_VALGRIND") != NULL) {
		g_ptr_array_add(argv, "valgrind");
		g_ptr_array_add(argv, "--quiet");
		g_ptr_array_add(argv, "--error-exitcode=99");
		g_ptr_array_add(argv, "--leak-check=full");
		g_ptr_array_add(argv, "--errors-for-leak-kinds=definite");
	}
	g_ptr_array_add(argv, (gpointer)g_getenv("FLOTILLAD"));
	if (extra_arg != NULL)
		g_ptr_array_add(argv, (gpointer)extra_arg);
	g_ptr_array_add(argv, NULL);
	g_subprocess_launcher_set_environ(launcher, env->envp);
	/* not our stdout: a test that aborts must not leave meson waiting on a pipe the
	 * daemon still holds */
	{
		g_autofree gchar *log = g_build_filename(env->root, "flotillad.log", NULL);
		g_subprocess_launcher_set_stdout_file_path(launcher, "/dev/null");
		g_subprocess_launcher_set_stderr_file_path(launcher, log);
	}
	g_clear_object(&env->daemon);
	env->daemon =
		g_subprocess_launcher_spawnv(launcher, (const gchar *const *)argv->pdata, &error);
	g_assert_no_error(error);
	watch = g_bus_watch_name_on_connection(env->conn, "io.github.flotilla.Flotilla1",
					       G_BUS_NAME_WATCHER_FLAGS_NONE, fl_test_name_cb, NULL,
					       &owned, NULL);
	g_assert_true(fl_test_wait_for(fl_test_bool_cond, &owned, 30000));
	g_bus_unwatch_name(watch);
}

gint
fl_test_env_stop_daemon(FlTestEnv *env, gint sig)
{
	g_autoptr(GError) error = NULL;
	gint status;

	if (env->daemon == NULL)
		return 0;
	g_subprocess_send_signal(env->daemon, sig);
	g_subprocess_wait(env->daemon, NULL, &error);
	g_assert_no_error(error);
	status = g_subprocess_get_status(env->daemon);
	g_clear_object(&env->daemon);
	/* the daemon ran under valgrind: 99 means it found errors */
	if (WIFEXITED(status))
		g_assert_cmpint(WEXITSTATUS(status), !=, 99);
	return status;
}

void
fl_test_env_free(FlTestEnv *env)
{
	if (env == NULL)
		return;
	fl_test_env_stop_daemon(env, SIGTERM);
	/* sessions outlive the daemon by design: end them so nothing leaks into other tests */
	{
		g_autofree gchar *cmd = g_strdup_printf(
			"for f in '%s'/sessions/*/started.json; do [ -f \"$f\" ] || continue; "
			"pid=$(sed -n 's/.*\"runner_pid\": *\\([0-9]*\\).*/\\1/p' \"$f\"); "
			"[ -n \"$pid\" ] && kill -USR1 \"$pid\" 2>/dev/null; kill \"$pid\" "
			"2>/dev/null; "
			"done; true",
			env->state_dir);
		g_autofree gchar *out = fl_test_sh(NULL, cmd);
	}
	g_dbus_connection_signal_unsubscribe(env->conn, env->sub_id);
	g_dbus_connection_close_sync(env->conn, NULL, NULL);
	g_object_unref(env->conn);
	g_test_dbus_down(env->bus);
	g_object_unref(env->bus);
	fl_test_rm_rf(env->root);
	g_free(env->root);
	g_free(env->home);
	g_free(env->state_dir);
	g_free(env->config_path);
	g_strfreev(env->envp);
	g_free(env);
}

gint
fl_test_cliv(FlTestEnv *env, const gchar *cwd, const gchar *const *args, gchar **out, gchar **err)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autoptr(GError) error = NULL;
	gint status = 0;

	g_ptr_array_add(argv, (gpointer)g_getenv("FLOTILLA"));
	for (guint i = 0; args[i] != NULL; i++)
		g_ptr_array_add(argv, (gpointer)args[i]);
	g_ptr_array_add(argv, NULL);
	/* never the test's own stdout: it speaks TAP */
	g_spawn_sync(cwd != NULL ? cwd : env->root, (gchar **)argv->pdata, env->envp,
		     out != NULL ? G_SPAWN_DEFAULT : G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, out,
		     err, &status, &error);
	g_assert_no_error(error);
	if (err != NULL && *err != NULL && (*err)[0] != '\0')
		g_test_message("flotilla %s: stderr: %s", args[0], *err);
	if (!WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static GPtrArray *
fl_test_collect_args(va_list ap)
{
	GPtrArray *args = g_ptr_array_new();
	const gchar *arg;

	while ((arg = va_arg(ap, const gchar *)) != NULL)
		g_ptr_array_add(args, (gpointer)arg);
	g_ptr_array_add(args, NULL);
	return args;
}

gint
fl_test_cli(FlTestEnv *env, const gchar *cwd, gchar **out, gchar **err, ...)
{
	g_autoptr(GPtrArray) args = NULL;
	va_list ap;

	va_start(ap, err);
	args = fl_test_collect_args(ap);
	va_end(ap);
	return fl_test_cliv(env, cwd, (const gchar *const *)args->pdata, out, err);
}

gchar *
fl_test_cli_ok(FlTestEnv *env, const gchar *cwd, ...)
{
	g_autoptr(GPtrArray) args = NULL;
	g_autofree gchar *err = NULL;
	gchar *out = NULL;
	va_list ap;
	gint rc;

	va_start(ap, cwd);
	args = fl_test_collect_args(ap);
	va_end(ap);
	rc = fl_test_cliv(env, cwd, (const gchar *const *)args->pdata, &out, &err);
	if (rc != 0)
		g_test_message("flotilla %s exited %d: %s", (gchar *)args->pdata[0], rc, err);
	g_assert_cmpint(rc, ==, 0);
	return out;
}

guint
fl_test_run_session(FlTestEnv *env, const gchar *cwd, ...)
{
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	const gchar *arg;
	guint64 id = 0;
	va_list ap;
	gint rc;

	g_ptr_array_add(args, "run");
	va_start(ap, cwd);
	while ((arg = va_arg(ap, const gchar *)) != NULL)
		g_ptr_array_add(args, (gpointer)arg);
	va_end(ap);
	g_ptr_array_add(args, NULL);
	rc = fl_test_cliv(env, cwd, (const gchar *const *)args->pdata, &out, &err);
	if (rc != 0)
		g_test_message("flotilla run exited %d: %s", rc, err);
	g_assert_cmpint(rc, ==, 0);
	/* run prints the id alone */
	g_assert_true(g_str_has_suffix(out, "\n"));
	g_assert_true(g_ascii_string_to_unsigned(g_strstrip(out), 10, 1, G_MAXUINT, &id, NULL));
	return (guint)id;
}

JsonObject *
fl_test_show(FlTestEnv *env, guint id)
{
	g_autofree gchar *ids = g_strdup_printf("%u", id);
	g_autofree gchar *out = fl_test_cli_ok(env, NULL, "show", ids, "--json", NULL);
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;

	json_parser_load_from_data(parser, out, -1, &error);
	g_assert_no_error(error);
	g_assert_true(JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)));
	return json_object_ref(json_node_get_object(json_parser_get_root(parser)));
}

static gchar *
fl_test_get_state(FlTestEnv *env, guint id)
{
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GVariant) props = NULL;
	g_autoptr(GError) error = NULL;
	const gchar *state = NULL;

	reply = g_dbus_connection_call_sync(
		env->conn, "io.github.flotilla.Flotilla1", "/io/github/flotilla/Flotilla1",
		"io.github.flotilla.Flotilla1", "GetSession", g_variant_new("(u)", id),
		G_VARIANT_TYPE("(a{sv})"), G_DBUS_CALL_FLAGS_NO_AUTO_START, 5000, NULL, &error);
	if (reply == NULL)
		return NULL;
	props = g_variant_get_child_value(reply, 0);
	if (!g_variant_lookup(props, "state", "&s", &state))
		return NULL;
	return g_strdup(state);
}

typedef struct {
	FlTestEnv *env;
	guint id;
	const gchar *state; /* NULL = any ended state */
	guint seen;
	gchar *result;
} StateWait;

static gboolean
fl_test_state_cond(gpointer user_data)
{
	StateWait *w = user_data;
	g_autofree gchar *state = NULL;

	/* ask again only after a change: the first time, and after each SessionChanged */
	if (w->seen == w->env->changes && w->result != NULL)
		return FALSE;
	w->seen = w->env->changes;
	state = fl_test_get_state(w->env, w->id);
	g_free(w->result);
	w->result = g_strdup(state != NULL ? state : "");
	if (w->state != NULL)
		return g_strcmp0(state, w->state) == 0;
	return state != NULL && g_strcmp0(state, "queued") != 0 &&
	       g_strcmp0(state, "running") != 0 && g_strcmp0(state, "blocked") != 0;
}

gboolean
fl_test_wait_state(FlTestEnv *env, guint id, const gchar *state, guint timeout_ms)
{
	StateWait w = {env, id, state, 0, NULL};
	gboolean ok = fl_test_wait_for(fl_test_state_cond, &w, timeout_ms);

	if (!ok)
		g_test_message("session %u: wanted %s, is %s", id, state, w.result);
	g_free(w.result);
	return ok;
}

gchar *
fl_test_wait_ended(FlTestEnv *env, guint id, guint timeout_ms)
{
	StateWait w = {env, id, NULL, 0, NULL};

	if (!fl_test_wait_for(fl_test_state_cond, &w, timeout_ms)) {
		g_test_message("session %u did not end: %s", id, w.result);
		g_free(w.result);
		return NULL;
	}
	return w.result;
}

static gboolean
fl_test_file_exists_cond(gpointer user_data)
{
	return g_file_test(user_data, G_FILE_TEST_EXISTS);
}

static void
fl_test_monitor_changed_cb(GFileMonitor *monitor, GFile *file, GFile *other,
			   GFileMonitorEvent event, gpointer user_data)
{
}

gboolean
fl_test_wait_file(const gchar *path, guint timeout_ms)
{
	g_autofree gchar *dir = g_path_get_dirname(path);
	g_autoptr(GFile) file = g_file_new_for_path(dir);
	g_autoptr(GFileMonitor) monitor =
		g_file_monitor_directory(file, G_FILE_MONITOR_NONE, NULL, NULL);

	g_signal_connect(monitor, "changed", G_CALLBACK(fl_test_monitor_changed_cb), NULL);
	return fl_test_wait_for(fl_test_file_exists_cond, (gpointer)path, timeout_ms);
}
