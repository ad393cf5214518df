/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Texts formatted early and translated late (fl-msg.h), against the real German catalogue. */
#include "config.h"

#include <gio/gio.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <libintl.h>
#include <locale.h>
#include <string.h>

#include "fl-config.h"
#include "fl-error.h"
#include "fl-msg.h"
#include "fl-util.h"

/* German from the catalogue the build made, through LANGUAGE (honoured with C.UTF-8) */
static void
use_german(gboolean german)
{
	if (german)
		g_setenv("LANGUAGE", "de", TRUE);
	else
		g_unsetenv("LANGUAGE");
	/* tells gettext its cached answers are stale, as the gettext manual says to */
	{
		extern int _nl_msg_cat_cntr;
		++_nl_msg_cat_cntr;
	}
}

/* every conversion our msgids use comes out exactly as printf would have made it */
static void
test_capture(void)
{
	struct {
		const gchar *expected;
		FlMsg *msg;
	} cases[] = {
		{"7 a", fl_msg_new("%u %s", 7u, "a")},
		{"-3|  x|y  |", fl_msg_new("%d|%3s|%-3s|", -3, "x", "y")},
		{"1099511627776", fl_msg_new("%" G_GINT64_FORMAT, (gint64)1 << 40)},
		{"18446744073709551615", fl_msg_new("%" G_GUINT64_FORMAT, G_MAXUINT64)},
		{"42 ff", fl_msg_new("%" G_GSIZE_FORMAT " %x", (gsize)42, 255u)},
		{"2.50 $", fl_msg_new("%.2f %c", 2.5, '$')},
		{"100% abc", fl_msg_new("100%% %.*s", 3, "abcdef")},
		{"[   5]", fl_msg_new("[%*d]", 4, 5)},
		{"(null)", fl_msg_new("%s", (const gchar *)NULL)},
		{"%n$ stays", fl_msg_new_literal("%n$ stays")},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *english = fl_msg_render_english(cases[i].msg);
		g_autofree gchar *rendered = fl_msg_render(cases[i].msg);

		g_assert_cmpstr(english, ==, cases[i].expected);
		/* nothing here is in the catalogue: the same in any language */
		g_assert_cmpstr(rendered, ==, cases[i].expected);
		fl_msg_free(cases[i].msg);
	}
}

static void
test_german(void)
{
	g_autoptr(FlMsg) msg = fl_msg_new(N_("session %u was already %s; nothing changed"), 7u,
					  fl_msg_word(N_("rejected")));
	g_autofree gchar *english = fl_msg_render_english(msg);
	g_autofree gchar *german = NULL;
	g_autofree gchar *again = NULL;

	use_german(TRUE);
	german = fl_msg_render(msg);
	g_assert_cmpstr(english, ==, "session 7 was already rejected; nothing changed");
	/* the word argument is translated too, in the same language */
	g_assert_cmpstr(german, ==,
			"Sitzung 7 wurde bereits entschieden (abgelehnt); nichts geändert");

	/* a plain argument is not, even when it happens to read like a word: an agent the
	 * user named "rejected" */
	{
		g_autofree gchar *name = g_strdup("rejected");
		g_autoptr(FlMsg) plain = fl_msg_new(N_("unknown agent '%s'"), name);
		g_autofree gchar *text = fl_msg_render(plain);
		g_assert_cmpstr(text, ==, "unbekannter Agent »rejected«");
	}

	use_german(FALSE);
	again = fl_msg_render(msg);
	g_assert_cmpstr(again, ==, english);
}

/* what the store keeps reads back the same, in either language; old plain texts too */
static void
test_serialize(void)
{
	g_autoptr(FlMsg) msg = fl_msg_new(N_("unknown agent '%s'"), "it's \"quoted\"\n");
	g_autoptr(FlMsg) prefix = fl_msg_new(N_("goal %u: "), 2u);
	g_autofree gchar *stored = NULL;
	g_autofree gchar *english = NULL;
	g_autofree gchar *german = NULL;
	const gchar *plain[] = {"exited with status 1", "", "fl-msg:", "fl-msg:[(true,",
				"fl-msg:[(true, 'x', just ['a'], 1)] trailing"};

	fl_msg_prepend(msg, g_steal_pointer(&prefix));
	stored = fl_msg_serialize(msg);
	g_assert_true(g_str_has_prefix(stored, "fl-msg:"));
	english = fl_msg_render_stored(stored);
	g_assert_cmpstr(english, ==, "goal 2: unknown agent 'it's \"quoted\"\n'");
	use_german(TRUE);
	german = fl_msg_render_stored(stored);
	use_german(FALSE);
	g_assert_cmpstr(german, ==, "Ziel 2: unbekannter Agent »it's \"quoted\"\n«");

	/* a reason stored before this format, or damaged, is shown as it is */
	for (guint i = 0; i < G_N_ELEMENTS(plain); i++) {
		g_autofree gchar *text = fl_msg_render_stored(plain[i]);
		g_assert_cmpstr(text, ==, plain[i]);
	}
	g_assert_null(fl_msg_render_stored(NULL));
}

/* FL_ERRORs keep their message through copies and prefixes; their text stays English */
static void
test_error(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) copy = NULL;
	g_autoptr(GError) other = NULL;
	g_autoptr(GError) literal = NULL;
	g_autofree gchar *german = NULL;
	g_autofree gchar *copied = NULL;
	g_autofree gchar *stored = NULL;
	g_autofree gchar *text = NULL;

	fl_set_error(&error, FL_ERROR_WRONG_STATE, N_("session %u was already %s; nothing changed"),
		     4u, fl_msg_word(N_("rejected")));
	fl_prefix_error(&error, N_("session %u: "), 9u);
	g_assert_error(error, FL_ERROR, FL_ERROR_WRONG_STATE);
	g_assert_cmpstr(error->message, ==,
			"session 9: session 4 was already rejected; nothing changed");
	copy = g_error_copy(error);
	stored = fl_error_serialize(error);

	use_german(TRUE);
	german = fl_error_render(error);
	copied = fl_error_render(copy);
	text = fl_msg_render_stored(stored);
	g_assert_cmpstr(german, ==,
			"Sitzung 9: Sitzung 4 wurde bereits entschieden (abgelehnt); nichts "
			"geändert");
	g_assert_cmpstr(copied, ==, german);
	g_assert_cmpstr(text, ==, german);

	/* an error from elsewhere: its own text, the prefix in the current language */
	g_set_error_literal(&other, G_IO_ERROR, G_IO_ERROR_FAILED, "disk full");
	fl_prefix_error(&other, N_("goal %u: "), 1u);
	g_clear_pointer(&text, g_free);
	text = fl_error_render(other);
	g_assert_cmpstr(text, ==, "Ziel 1: disk full");

	/* a literal msgid: a "%" in it is not a conversion */
	fl_set_error_literal(&literal, FL_ERROR_FAILED, "100% sure");
	g_clear_pointer(&text, g_free);
	text = fl_error_render(literal);
	g_assert_cmpstr(text, ==, "100% sure");
	g_assert_cmpstr(literal->message, ==, "100% sure");
	use_german(FALSE);

	/* NULL error: nothing happens, nothing leaks */
	fl_set_error(NULL, FL_ERROR_FAILED, "%s", "ignored");
	fl_prefix_error(NULL, "%s", "ignored");
}

/* the CLI's state words carry a context: German from it, English without it, also stored */
static void
test_context_word(void)
{
	static const gchar running[] = "session state\004running";
	g_autoptr(FlMsg) msg =
		fl_msg_new(N_("session %u is still %s: there is no draft to decide yet"), 3u,
			   fl_msg_word(running));
	g_autofree gchar *english = fl_msg_render_english(msg);
	g_autofree gchar *stored = fl_msg_serialize(msg);
	g_autofree gchar *german = NULL;
	g_autofree gchar *english_again = NULL;

	g_assert_cmpstr(english, ==, "session 3 is still running: there is no draft to decide yet");
	use_german(TRUE);
	german = fl_msg_render_stored(stored);
	use_german(FALSE);
	g_assert_cmpstr(german, ==,
			"Sitzung 3 ist noch läuft: es gibt noch keinen Entwurf zum Entscheiden");
	english_again = fl_msg_render_stored(stored);
	g_assert_cmpstr(english_again, ==, english);
}

/*
 * Errors the shared modules make (here a config file's mistake, as flotillad reports it at
 * start-up or on reload, and a directory that cannot be made) are made in one language and
 * read in another: English text, German rendering, file names and values left as they are.
 */
static void
test_module_errors(void)
{
	g_autofree gchar *dir = g_dir_make_tmp("test-msg-XXXXXX", NULL);
	g_autofree gchar *path = g_build_filename(dir, "flotilla.conf", NULL);
	g_autofree gchar *blocker = g_build_filename(dir, "file", NULL);
	g_autofree gchar *below = g_build_filename(blocker, "sub", NULL);
	const struct {
		const gchar *config;
		const gchar *english;
		const gchar *german;
	} cases[] = {
		{"[fleet]\nmax-paralel=3\n", "[fleet] max-paralel: unknown key",
		 "[fleet] max-paralel: unbekannter Schlüssel"},
		{"[fleet]\nmax-parallel=lots\n",
		 "[fleet] max-parallel: 'lots' is not a whole number from 1 to",
		 "[fleet] max-parallel: »lots« ist keine ganze Zahl von 1 bis"},
		{"[checkin]\ntimes=25:00\n", "[checkin] ", "[checkin] "},
	};
	g_autoptr(GError) error = NULL;
	g_autofree gchar *german = NULL;

	g_assert_nonnull(dir);
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) local = NULL;
		g_autoptr(FlConfig) config = NULL;
		g_autofree gchar *text = NULL;
		g_autofree gchar *english = NULL;

		g_assert_true(g_file_set_contents(path, cases[i].config, -1, NULL));
		config = fl_config_load(path, &local);
		g_assert_null(config);
		g_assert_error(local, FL_ERROR, FL_ERROR_INVALID_ARGUMENT);
		g_assert_nonnull(strstr(local->message, path));
		g_assert_nonnull(strstr(local->message, cases[i].english));
		english = fl_error_render(local);
		g_assert_cmpstr(english, ==, local->message);
		use_german(TRUE);
		text = fl_error_render(local);
		use_german(FALSE);
		g_assert_nonnull(strstr(text, path));
		g_assert_nonnull(strstr(text, cases[i].german));
		g_assert_cmpstr(text, !=, local->message);
	}

	g_assert_true(g_file_set_contents(blocker, "", 0, NULL));
	g_assert_false(fl_ensure_dir(below, &error));
	g_assert_error(error, FL_ERROR, FL_ERROR_FAILED);
	g_assert_true(g_str_has_prefix(error->message, "cannot create "));
	use_german(TRUE);
	german = fl_error_render(error);
	use_german(FALSE);
	g_assert_true(g_str_has_prefix(german, below));
	g_assert_nonnull(strstr(german, " kann nicht angelegt werden: "));

	g_unlink(blocker);
	g_unlink(path);
	g_rmdir(dir);
}

/* a message inside a message (an error inside a reason) reads in one language */
static void
test_nested(void)
{
	g_autoptr(FlMsg) inner = fl_msg_new(N_("unknown agent '%s'"), "x");
	g_autofree gchar *stored = fl_msg_serialize(inner);
	g_autoptr(FlMsg) outer = fl_msg_new(N_("rejected: %s"), stored);
	g_autofree gchar *english = fl_msg_render_english(outer);
	g_autofree gchar *german = NULL;
	g_autofree gchar *deep = g_strdup("fl-msg:[(false, 'bottom', nothing, 0)]");
	g_autofree gchar *text = NULL;

	g_assert_cmpstr(english, ==, "rejected: unknown agent 'x'");
	use_german(TRUE);
	german = fl_msg_render(outer);
	g_assert_cmpstr(german, ==, "abgelehnt: unbekannter Agent »x«");

	/* a user's text that only looks like one is shown as it is */
	{
		g_autoptr(FlMsg) odd = fl_msg_new(N_("unknown agent '%s'"), "fl-msg:[(true,");
		g_free(text);
		text = fl_msg_render(odd);
		g_assert_cmpstr(text, ==, "unbekannter Agent »fl-msg:[(true,«");
	}
	/* nesting has a floor: a message nested 20 deep renders, the depth stops it */
	for (guint i = 0; i < 20; i++) {
		g_autoptr(FlMsg) level = fl_msg_new("(%s)", deep);
		g_free(deep);
		deep = fl_msg_serialize(level);
	}
	{
		g_autoptr(FlMsg) top = fl_msg_parse(deep);
		g_free(text);
		text = fl_msg_render(top);
		g_assert_true(g_str_has_prefix(text, "(((((fl-msg:"));
	}
	use_german(FALSE);
}

int
main(int argc, char **argv)
{
	g_autofree gchar *localedir = NULL;

	setlocale(LC_ALL, "C.UTF-8");
	g_unsetenv("LANGUAGE");
	g_test_init(&argc, &argv, NULL);
	/* the catalogue the build made of po/de.po */
	localedir = g_test_build_filename(G_TEST_BUILT, "..", "po", NULL);
	bindtextdomain(GETTEXT_PACKAGE, localedir);
	bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
	g_test_add_func("/msg/capture", test_capture);
	g_test_add_func("/msg/german", test_german);
	g_test_add_func("/msg/serialize", test_serialize);
	g_test_add_func("/msg/error", test_error);
	g_test_add_func("/msg/nested", test_nested);
	g_test_add_func("/msg/context-word", test_context_word);
	g_test_add_func("/msg/module-errors", test_module_errors);
	return g_test_run();
}
