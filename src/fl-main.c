/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <glib-unix.h>
#include <glib/gstdio.h>
#include <locale.h>
#include <stdlib.h>

#include "fl-config.h"
#include "fl-daemon.h"
#include "fl-i18n.h"
#include "fl-locale.h"
#include "fl-msg.h"
#include "fl-store.h"
#include "fl-text.h"
#include "fl-util.h"

typedef struct {
	GMainLoop *loop;
	FlDaemon *daemon; /* (unowned) */
	gint status;
} FlMain;

static gboolean
fl_main_signal_cb(gpointer user_data)
{
	FlMain *m = user_data;

	/* sessions live in their runners: leaving now loses nothing */
	g_main_loop_quit(m->loop);
	return G_SOURCE_CONTINUE;
}

/* SIGHUP, as daemons do: re-read the configuration; a bad file is logged and changes nothing */
static gboolean
fl_main_hup_cb(gpointer user_data)
{
	FlMain *m = user_data;
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) notes = fl_daemon_reload(m->daemon, &error);

	if (notes == NULL)
		g_warning("reload: %s", error->message);
	for (guint i = 0; notes != NULL && notes[i] != NULL; i++)
		g_message("reload: %s", notes[i]);
	return G_SOURCE_CONTINUE;
}

static void
fl_main_quit_cb(FlDaemon *daemon, gint status, gpointer user_data)
{
	FlMain *m = user_data;

	m->status = status;
	g_main_loop_quit(m->loop);
}

/*
 * The reason on stderr (the log or journal, in English) and where the CLI that started us
 * looks for it: there as a message (fl-msg.h), so the CLI shows it in its own language.
 */
static gint
fl_main_fatal(const GError *error)
{
	g_autofree gchar *path = fl_start_error_path();
	g_autofree gchar *dir = g_path_get_dirname(path);
	g_autofree gchar *stored = fl_error_serialize(error);
	g_autofree gchar *line = fl_text_clean(stored, -1, FL_TEXT_NONE);

	g_printerr("flotillad: %s\n", error->message);
	if (g_mkdir_with_parents(dir, 0700) == 0)
		g_file_set_contents_full(path, line, -1, G_FILE_SET_CONTENTS_NONE, 0600, NULL);
	return 1;
}

/* --check and --rebuild: offline, on the store of the state directory; never start the daemon */
static int
fl_main_doctor(gboolean check, const gchar *rebuild)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *state_dir = g_build_filename(g_get_user_state_dir(), "flotilla", NULL);
	g_autofree gchar *db = g_build_filename(state_dir, "flotilla.db", NULL);
	guint count = 0;

	if (check) {
		if (!fl_store_check_path(db, &count, &error)) {
			g_printerr("flotillad: %s\n", error->message);
			/* TRANSLATORS: how to recover; keep the option and the file name */
			g_printerr(
				_("flotillad: flotillad --rebuild NEW.db builds a new store from "
				  "the sessions' files; stop flotillad and move NEW.db to %s to "
				  "use it\n"),
				db);
			return 1;
		}
		g_print(g_dngettext(GETTEXT_PACKAGE, "%s: ok, %u session\n",
				    "%s: ok, %u sessions\n", count),
			db, count);
		return 0;
	}
	if (!fl_store_rebuild(state_dir, rebuild, &count, &error)) {
		g_printerr("flotillad: %s\n", error->message);
		return 1;
	}
	g_print(g_dngettext(GETTEXT_PACKAGE,
			    "%s: %u session rebuilt; stop flotillad and move it to %s to use it\n",
			    "%s: %u sessions rebuilt; stop flotillad and move it to %s to use it\n",
			    count),
		rebuild, count, db);
	return 0;
}

int
main(int argc, char *argv[])
{
	gboolean replace = FALSE;
	gboolean verbose = FALSE;
	gboolean version = FALSE;
	gboolean check = FALSE;
	g_autofree gchar *rebuild = NULL;
	const GOptionEntry entries[] = {
		{"check", 0, 0, G_OPTION_ARG_NONE, &check,
		 N_("Check the store's integrity and exit"), NULL},
		{"rebuild", 0, 0, G_OPTION_ARG_FILENAME, &rebuild,
		 N_("Build a new store in FILE from the sessions' files and draft branches, and "
		    "exit"),
		 N_("FILE")},
		{"replace", 'r', 0, G_OPTION_ARG_NONE, &replace, N_("Replace a running flotillad"),
		 NULL},
		{"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, N_("Log debug messages"), NULL},
		{"version", 0, 0, G_OPTION_ARG_NONE, &version, N_("Print the version"), NULL},
		{NULL}};
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(FlConfig) config = NULL;
	g_autoptr(FlDaemon) daemon = NULL;
	g_autofree gchar *config_path = NULL;
	g_autofree gchar *state_dir = NULL;
	FlMain m = {NULL, NULL, 0};

	setlocale(LC_ALL, "");
	bindtextdomain(GETTEXT_PACKAGE, fl_i18n_localedir());
	bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
	textdomain(GETTEXT_PACKAGE);
	/* before any thread: $LANGUAGE would outvote every caller's language (fl-locale.h) */
	fl_locale_take_own();
	uselocale(fl_locale_own());

	context = g_option_context_new(NULL);
	g_option_context_set_summary(context, _("The Flotilla fleet daemon (session bus)"));
	g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		g_printerr("flotillad: %s\n", error->message);
		return 2;
	}
	if (version) {
		g_print("flotillad %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (verbose)
		g_log_set_debug_enabled(TRUE);

	if (check || rebuild != NULL)
		return fl_main_doctor(check, rebuild);

	/* a reason left by an earlier start must not explain this one */
	{
		g_autofree gchar *start_error = fl_start_error_path();
		g_unlink(start_error);
	}
	config_path = g_strdup(g_getenv("FLOTILLA_CONFIG"));
	if (config_path == NULL)
		config_path = fl_config_default_path();
	config = fl_config_load(config_path, &error);
	if (config == NULL)
		return fl_main_fatal(error);
	state_dir = g_build_filename(g_get_user_state_dir(), "flotilla", NULL);
	daemon = fl_daemon_new(g_steal_pointer(&config), state_dir, &error);
	if (daemon == NULL)
		return fl_main_fatal(error);
	m.loop = g_main_loop_new(NULL, FALSE);
	m.daemon = daemon;
	g_signal_connect(daemon, "quit", G_CALLBACK(fl_main_quit_cb), &m);
	g_unix_signal_add(SIGTERM, fl_main_signal_cb, &m);
	g_unix_signal_add(SIGINT, fl_main_signal_cb, &m);
	g_unix_signal_add(SIGHUP, fl_main_hup_cb, &m);
	fl_daemon_start(daemon, replace);
	/* GLib's pool would retire its idle worker 15 s after each call: a wake-up the idle
	 * daemon does not need */
	g_thread_pool_set_max_idle_time(0);
	g_main_loop_run(m.loop);
	g_clear_object(&daemon);
	g_main_loop_unref(m.loop);
	return m.status;
}
