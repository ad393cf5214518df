/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib/gi18n-lib.h>
#include <libintl.h>

/*
 * Translation through libc's gettext, never GLib's g_dgettext(): flotillad renders each reply
 * in its caller's language by switching the thread's locale (fl-locale.h), but g_dgettext()
 * decides once per process, from the global LC_MESSAGES, whether to translate at all, and a
 * daemon started under C.UTF-8 (which has no catalogue of ours) would then never translate
 * for a German caller. libc's dgettext() looks at the thread's locale on every call.
 * g_dngettext() and g_dpgettext2() are redirected here so that every file stays written as
 * GLib code; N_() and NC_() only mark strings and stay as they are.
 */
#undef _
#define _(String) dgettext(GETTEXT_PACKAGE, String)
#undef C_
#define C_(Context, String) g_dpgettext2(GETTEXT_PACKAGE, Context, String)
#undef g_dngettext
#define g_dngettext(Domain, Singular, Plural, N) dngettext(Domain, Singular, Plural, N)
#undef g_dpgettext2
#define g_dpgettext2(Domain, Context, Msgid) fl_i18n_dpgettext2(Domain, Context, Msgid)

/* dpgettext: the catalogue keys a text with a context as "context\004text" */
static inline const gchar *
fl_i18n_dpgettext2(const gchar *domain, const gchar *context, const gchar *msgid)
{
	g_autofree gchar *key = g_strconcat(context, "\004", msgid, NULL);
	const gchar *translated = dgettext(domain, key);

	return translated == key ? msgid : translated;
}

/* where the catalogues are: the installed ones, or the build tree's for the tests */
static inline const gchar *
fl_i18n_localedir(void)
{
	const gchar *dir = g_getenv("FL_TEST_LOCALEDIR");

	return dir != NULL ? dir : LOCALEDIR;
}
