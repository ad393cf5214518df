/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Each caller reads flotillad in its own language: how a caller's locale is resolved
 * (fl-locale.c, as gettext would), and one daemon answering a German and an English CLI at
 * once, each in its language, and a caller that never said (gdbus, busctl) in the daemon's.
 * German comes from locales made here (fl_test_locales), so no installed locale is needed.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "fl-i18n.h"
#include "fl-locale.h"
#include "fl-test-harness.h"

#define WAIT_MS 30000

/* a daemon text and its German (po/de.po) */
#define STARTING    "flotillad is starting; try again"
#define STARTING_DE "flotillad startet gerade; versuchen Sie es erneut"

static gchar *
translate_in(locale_t locale)
{
	g_auto(FlLocaleScope) scope = fl_locale_scope_enter(locale);

	return g_strdup(_(STARTING));
}

static void
assert_language(const gchar *lc_messages, const gchar *language, const gchar *want)
{
	locale_t locale = fl_locale_resolve(lc_messages, language);
	g_autofree gchar *got = NULL;

	g_assert_true(locale != (locale_t)0);
	got = translate_in(locale);
	if (g_strcmp0(got, want) != 0)
		g_error("LC_MESSAGES=%s LANGUAGE=%s: '%s', expected '%s'", lc_messages, language,
			got, want);
}

static void
test_resolve(void)
{
	locale_t german;

	g_setenv("LOCPATH", fl_test_locales(), TRUE);
	/* our own $LANGUAGE would override every thread locale but C's */
	g_unsetenv("LANGUAGE");
	bindtextdomain(GETTEXT_PACKAGE, fl_i18n_localedir());
	bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");

	assert_language("de_DE.UTF-8", "", STARTING_DE);
	/* C and POSIX are the program's own texts, whatever LANGUAGE says */
	assert_language("C", "de", STARTING);
	assert_language("POSIX", "de_DE.UTF-8", STARTING);
	/* but C.UTF-8 is a locale like others: LANGUAGE comes first, a bare "de" included */
	assert_language("C.UTF-8", "de", STARTING_DE);
	assert_language("C.UTF-8", "de_DE", STARTING_DE);
	/* LANGUAGE in order: what this machine lacks is skipped, the first it has wins */
	assert_language("C.UTF-8", "xx_XX:tlh:de:fr", STARTING_DE);
	assert_language("de_DE.UTF-8", "C.UTF-8:de", STARTING);
	assert_language("de_DE.UTF-8", "::", STARTING_DE);

	/* nothing this machine has: the daemon's own, and not a word in the log (fatal here) */
	g_assert_true(fl_locale_resolve("xx_YY.UTF-8", "qq:zz_ZZ") == (locale_t)0);
	g_assert_true(fl_locale_resolve("", "") == (locale_t)0);
	g_assert_true(fl_locale_resolve(NULL, NULL) == (locale_t)0);
	g_assert_true(fl_locale_resolve("../../../etc/passwd", "/etc:..") == (locale_t)0);

	/* the same locale_t for the same pair: callers keep it past their own lifetime */
	german = fl_locale_resolve("de_DE.UTF-8", "");
	g_assert_true(german == fl_locale_resolve("de_DE.UTF-8", ""));

	/* a scope ends with its block, nested ones in order; NULL changes nothing */
	{
		g_auto(FlLocaleScope) outer = fl_locale_scope_enter(german);
		g_autofree gchar *in_german = g_strdup(_(STARTING));

		g_assert_cmpstr(in_german, ==, STARTING_DE);
		{
			g_auto(FlLocaleScope) inner =
				fl_locale_scope_enter(fl_locale_resolve("C", ""));
			g_autofree gchar *in_english = g_strdup(_(STARTING));

			g_assert_cmpstr(in_english, ==, STARTING);
		}
		{
			g_auto(FlLocaleScope) none = fl_locale_scope_enter((locale_t)0);
			g_autofree gchar *still = g_strdup(_(STARTING));

			g_assert_cmpstr(still, ==, STARTING_DE);
		}
	}
	g_assert_true(uselocale((locale_t)0) == LC_GLOBAL_LOCALE);
	g_assert_cmpstr(_(STARTING), ==, STARTING);

	/* anyone may ask: a flood of pairs ends in the daemon's own language, not in memory,
	 * and what was resolved before stays */
	{
		g_autofree gchar *huge = g_strnfill(4096, 'd');
		guint resolved = 0;

		g_assert_true(fl_locale_resolve("de_DE.UTF-8", huge) == (locale_t)0);
		for (guint i = 0; i < 1000; i++) {
			g_autofree gchar *language = g_strdup_printf("zz%u", i);

			if (fl_locale_resolve("de_DE.UTF-8", language) != (locale_t)0)
				resolved++;
		}
		g_assert_cmpuint(resolved, >, 0);
		g_assert_cmpuint(resolved, <, 100);
		assert_language("C.UTF-8", "de", STARTING_DE);
	}
}

/* ---- one daemon, callers in different languages ---- */

static gchar *
make_repo(FlTestEnv *env)
{
	gchar *repo = g_build_filename(env->root, "api", NULL);

	g_assert_cmpint(g_mkdir_with_parents(repo, 0700), ==, 0);
	g_free(fl_test_sh(repo, "git init -q -b main . && git config user.name 'Test User' && "
				"git config user.email test@example.com && echo one > notes.txt && "
				"git add notes.txt && git commit -q -m initial"));
	return repo;
}

static GSubprocess *
spawn_cli(FlTestEnv *env, const gchar *lc_all, const gchar *const *args)
{
	g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
		G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
	g_auto(GStrv) envp = g_strdupv(env->envp);
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autoptr(GError) error = NULL;
	GSubprocess *proc;

	envp = g_environ_setenv(envp, "LC_ALL", lc_all, TRUE);
	envp = g_environ_unsetenv(envp, "LANGUAGE");
	g_subprocess_launcher_set_environ(launcher, envp);
	g_subprocess_launcher_set_cwd(launcher, env->root);
	g_ptr_array_add(argv, (gpointer)g_getenv("FLOTILLA"));
	for (guint i = 0; args[i] != NULL; i++)
		g_ptr_array_add(argv, (gpointer)args[i]);
	g_ptr_array_add(argv, NULL);
	proc = g_subprocess_launcher_spawnv(launcher, (const gchar *const *)argv->pdata, &error);
	g_assert_no_error(error);
	return proc;
}

/* waits for @proc; returns its stderr, asserting exit @status and empty stdout */
static gchar *
finish_cli(GSubprocess *proc, gint status)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *out = NULL;
	gchar *err = NULL;

	g_subprocess_communicate_utf8(proc, NULL, NULL, &out, &err, &error);
	g_assert_no_error(error);
	g_test_message("stderr: %s", err);
	g_assert_cmpint(g_subprocess_get_exit_status(proc), ==, status);
	g_assert_cmpstr(out, ==, "");
	return err;
}

/* a call of ours, straight on the bus: an option ListSessions does not take */
static gchar *
list_error(GDBusConnection *conn)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariantDict) options = g_variant_dict_new(NULL);
	g_autoptr(GVariant) reply = NULL;

	g_variant_dict_insert(options, "bogus", "b", TRUE);
	reply = g_dbus_connection_call_sync(
		conn, "io.github.flotilla.Flotilla1", "/io/github/flotilla/Flotilla1",
		"io.github.flotilla.Flotilla1", "ListSessions",
		g_variant_new("(@a{sv})", g_variant_dict_end(options)), NULL,
		G_DBUS_CALL_FLAGS_NO_AUTO_START, WAIT_MS, NULL, &error);
	g_assert_null(reply);
	g_assert_nonnull(error);
	g_dbus_error_strip_remote_error(error);
	return g_strdup(error->message);
}

static GDBusConnection *
connect_bus(FlTestEnv *env)
{
	g_autoptr(GError) error = NULL;
	GDBusConnection *conn = g_dbus_connection_new_for_address_sync(
		g_test_dbus_get_bus_address(env->bus),
		G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
			G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
		NULL, NULL, &error);

	g_assert_no_error(error);
	return conn;
}

/* SetLocale as the CLI sends it: no reply awaited */
static void
send_locale(GDBusConnection *conn, const gchar *lc_messages, const gchar *language)
{
	g_autoptr(GDBusMessage) message = g_dbus_message_new_method_call(
		"io.github.flotilla.Flotilla1", "/io/github/flotilla/Flotilla1",
		"io.github.flotilla.Flotilla1", "SetLocale");
	g_autoptr(GError) error = NULL;

	g_dbus_message_set_body(message, g_variant_new("(ss)", lc_messages, language));
	g_dbus_message_set_flags(message, G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED);
	g_dbus_connection_send_message(conn, message, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL, &error);
	g_assert_no_error(error);
}

static void
test_two_callers(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *german = NULL;
	g_autofree gchar *english = NULL;
	g_autofree gchar *plain = NULL;
	g_autofree gchar *want_de = NULL;
	g_autofree gchar *want_en = NULL;
	g_autoptr(GDBusConnection) de_conn = NULL;
	g_autoptr(GDBusConnection) odd_conn = NULL;
	g_autoptr(GSubprocess) de_cli = NULL;
	g_autoptr(GSubprocess) en_cli = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = NULL;
	guint failed;

	fl_test_env_use_locales(env);
	env->envp = g_environ_setenv(env->envp, "LC_ALL", "C.UTF-8", TRUE);
	fl_test_env_start_daemon(env, NULL);
	repo = make_repo(env);
	failed = fl_test_run_session(env, repo, "--", "exit 1", NULL);
	g_free(fl_test_wait_ended(env, failed, WAIT_MS));
	id = g_strdup_printf("%u", failed);

	/* the same refusal for both, asked at the same time */
	{
		const gchar *args[] = {"cancel", id, NULL};

		de_cli = spawn_cli(env, "de_DE.UTF-8", args);
		en_cli = spawn_cli(env, "C.UTF-8", args);
		german = finish_cli(de_cli, 1);
		english = finish_cli(en_cli, 1);
	}
	want_de = g_strdup_printf("Sitzung %u ist bereits beendet", failed);
	want_en = g_strdup_printf("session %u already ended", failed);
	g_assert_nonnull(strstr(german, want_de));
	g_assert_nonnull(strstr(english, want_en));

	/* a caller that never sent SetLocale: the daemon's language (C.UTF-8) */
	plain = list_error(env->conn);
	g_assert_cmpstr(plain, ==, "unknown option 'bogus'");

	/* a connection that asked for German gets it from its very next call on, while the
	 * first connection on the same bus keeps English */
	de_conn = connect_bus(env);
	send_locale(de_conn, "C.UTF-8", "de");
	g_free(german);
	german = list_error(de_conn);
	g_assert_cmpstr(german, ==, "unbekannte Option »bogus«");
	g_free(plain);
	plain = list_error(env->conn);
	g_assert_cmpstr(plain, ==, "unknown option 'bogus'");

	/* asked with a reply (gdbus call), answered; asked for C, English again */
	reply = g_dbus_connection_call_sync(
		de_conn, "io.github.flotilla.Flotilla1", "/io/github/flotilla/Flotilla1",
		"io.github.flotilla.Flotilla1", "SetLocale", g_variant_new("(ss)", "C", "de"),
		G_VARIANT_TYPE_UNIT, G_DBUS_CALL_FLAGS_NO_AUTO_START, WAIT_MS, NULL, &error);
	g_assert_no_error(error);
	g_free(german);
	german = list_error(de_conn);
	g_assert_cmpstr(german, ==, "unknown option 'bogus'");

	/* hostile: what is no locale, or not text at all, changes nothing and breaks nothing */
	odd_conn = connect_bus(env);
	send_locale(odd_conn, "de_DE.UTF-8", "");
	send_locale(odd_conn, "../../../../tmp/x", "/:../..:\t");
	g_free(plain);
	plain = list_error(odd_conn);
	g_assert_cmpstr(plain, ==, "unknown option 'bogus'");
	g_clear_pointer(&reply, g_variant_unref);
	reply = g_dbus_connection_call_sync(
		odd_conn, "io.github.flotilla.Flotilla1", "/io/github/flotilla/Flotilla1",
		"io.github.flotilla.Flotilla1", "SetLocale", g_variant_new("(s)", "de_DE.UTF-8"),
		NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START, WAIT_MS, NULL, &error);
	g_assert_error(error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS);
	g_clear_error(&error);
	g_free(plain);
	plain = list_error(odd_conn);
	g_assert_cmpstr(plain, ==, "unknown option 'bogus'");
	g_dbus_connection_close_sync(de_conn, NULL, NULL);
	g_dbus_connection_close_sync(odd_conn, NULL, NULL);
}

/* the daemon in German, the CLI in English: the reply follows the caller */
static void
test_german_daemon(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *plain = NULL;
	g_autofree gchar *english = NULL;
	g_autofree gchar *want_en = NULL;
	guint failed;

	fl_test_env_use_locales(env);
	env->envp = g_environ_setenv(env->envp, "LC_ALL", "de_DE.UTF-8", TRUE);
	fl_test_env_start_daemon(env, NULL);
	repo = make_repo(env);
	failed = fl_test_run_session(env, repo, "--", "exit 1", NULL);
	g_free(fl_test_wait_ended(env, failed, WAIT_MS));
	id = g_strdup_printf("%u", failed);

	plain = list_error(env->conn);
	g_assert_cmpstr(plain, ==, "unbekannte Option »bogus«");
	{
		const gchar *args[] = {"cancel", id, NULL};
		g_autoptr(GSubprocess) cli = spawn_cli(env, "C.UTF-8", args);

		english = finish_cli(cli, 1);
	}
	want_en = g_strdup_printf("session %u already ended", failed);
	g_assert_nonnull(strstr(english, want_en));
}

/*
 * A daemon whose session says LANGUAGE=de: glibc would let that outvote every caller; the
 * daemon keeps it for its own texts and its sessions instead.
 */
static void
test_language_daemon(void)
{
	g_autoptr(FlTestEnv) env = fl_test_env_new(NULL);
	g_autofree gchar *repo = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *plain = NULL;
	g_autofree gchar *english = NULL;
	g_autofree gchar *want_en = NULL;
	g_autofree gchar *log = NULL;
	guint failed;
	guint session;

	fl_test_env_use_locales(env);
	env->envp = g_environ_setenv(env->envp, "LC_ALL", "C.UTF-8", TRUE);
	env->envp = g_environ_setenv(env->envp, "LANGUAGE", "de", TRUE);
	fl_test_env_start_daemon(env, NULL);
	repo = make_repo(env);
	failed = fl_test_run_session(env, repo, "--", "exit 1", NULL);
	g_free(fl_test_wait_ended(env, failed, WAIT_MS));
	id = g_strdup_printf("%u", failed);

	/* its own language for a caller that said nothing */
	plain = list_error(env->conn);
	g_assert_cmpstr(plain, ==, "unbekannte Option »bogus«");
	/* an English terminal (no LANGUAGE) gets English, not the daemon's German */
	{
		const gchar *args[] = {"cancel", id, NULL};
		g_autoptr(GSubprocess) cli = spawn_cli(env, "C.UTF-8", args);

		english = finish_cli(cli, 1);
	}
	want_en = g_strdup_printf("session %u already ended", failed);
	g_assert_nonnull(strstr(english, want_en));
	/* and the user's sessions still see the LANGUAGE the user has */
	session = fl_test_run_session(env, repo, "--", "echo \"language=$LANGUAGE.\"", NULL);
	g_free(fl_test_wait_ended(env, session, WAIT_MS));
	g_free(id);
	id = g_strdup_printf("%u", session);
	log = fl_test_cli_ok(env, NULL, "log", id, NULL);
	g_assert_nonnull(strstr(log, "language=de."));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/locale/resolve", test_resolve);
	g_test_add_func("/locale/two-callers", test_two_callers);
	g_test_add_func("/locale/german-daemon", test_german_daemon);
	g_test_add_func("/locale/language-daemon", test_language_daemon);
	return g_test_run();
}
