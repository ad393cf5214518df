/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* a fresh private directory under the system temp dir, removed by fl_test_rm_rf() */
gchar *
fl_test_mkdtemp(void);
void
fl_test_rm_rf(const gchar *path);

/* runs @argv (NULL-terminated) synchronously in @cwd, returns the exit status (-1 on signal) */
gint
fl_test_run(const gchar *cwd, const gchar *const *argv, gchar **out, gchar **err);
/* like fl_test_run() with a shell command line; asserts it exits 0, returns stdout */
gchar *
fl_test_sh(const gchar *cwd, const gchar *cmdline);
/* `git ARGS` run by the shell in @repo; its output without the surrounding white space */
gchar *
fl_test_git(const gchar *repo, const gchar *args);

/* waits for another process to create @path (inotify on its directory) */
gboolean
fl_test_wait_file(const gchar *path, guint timeout_ms);

/* iterates the default main context until @cond returns TRUE or @timeout_ms passes */
gboolean
fl_test_wait_for(gboolean (*cond)(gpointer), gpointer user_data, guint timeout_ms);

/*
 * One private world per test: a private session bus, a temporary HOME and XDG tree, the real
 * flotillad binary ($FLOTILLAD) and the real CLI ($FLOTILLA), both talking to that bus only.
 */
typedef struct {
	GTestDBus *bus;
	gchar *root; /* temporary directory holding everything below */
	gchar *home;
	gchar *state_dir; /* $XDG_STATE_HOME/flotilla */
	gchar *config_path;
	gchar **envp; /* the environment for the daemon and the CLI */
	GSubprocess *daemon;
	GDBusConnection *conn;
	guint changes; /* SessionChanged signals seen */
	guint sub_id;
	gboolean confined; /* sessions do not get env->root shared with them */
} FlTestEnv;

FlTestEnv *
fl_test_env_new(const gchar *config_text);
/* sessions see nothing of env->root: for tests of what a session cannot reach */
FlTestEnv *
fl_test_env_new_confined(const gchar *config_text);
void
fl_test_env_free(FlTestEnv *env);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlTestEnv, fl_test_env_free)

/*
 * German for daemon and CLI on any machine: a LOCPATH directory with de_DE.UTF-8 and
 * C.UTF-8 made by localedef (no root, once per test binary, removed at exit)
 */
const gchar *
fl_test_locales(void);
/* @env's daemon and CLI find those locales (set LC_ALL in env->envp to choose one) */
void
fl_test_env_use_locales(FlTestEnv *env);

/* replaces the config file (takes effect at the next daemon start) */
void
fl_test_env_write_config(FlTestEnv *env, const gchar *config_text);
/* starts flotillad (optionally with extra args) and waits until it owns its name */
void
fl_test_env_start_daemon(FlTestEnv *env, const gchar *extra_arg);
/* sends @sig to the daemon and waits for it to exit; returns its wait status */
gint
fl_test_env_stop_daemon(FlTestEnv *env, gint sig);

/* runs the CLI with NULL-terminated args in @cwd (NULL = root); returns the exit code */
gint
fl_test_cli(FlTestEnv *env, const gchar *cwd, gchar **out, gchar **err, ...) G_GNUC_NULL_TERMINATED;
gint
fl_test_cliv(FlTestEnv *env, const gchar *cwd, const gchar *const *args, gchar **out, gchar **err);
/* runs the CLI, asserting exit 0; returns stdout */
gchar *
fl_test_cli_ok(FlTestEnv *env, const gchar *cwd, ...) G_GNUC_NULL_TERMINATED;
/* `flotilla run [args…]` asserting success; returns the new id */
guint
fl_test_run_session(FlTestEnv *env, const gchar *cwd, ...) G_GNUC_NULL_TERMINATED;
/* `flotilla show ID --json` parsed */
JsonObject *
fl_test_show(FlTestEnv *env, guint id);
/* waits (on SessionChanged signals) until session @id is in @state; FALSE on timeout */
gboolean
fl_test_wait_state(FlTestEnv *env, guint id, const gchar *state, guint timeout_ms);
/* waits until session @id is no longer queued/running/blocked; returns its state */
gchar *
fl_test_wait_ended(FlTestEnv *env, guint id, guint timeout_ms);

G_END_DECLS
