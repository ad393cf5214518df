/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-locale.h"

#include <string.h>

/* "lc_messages\nlanguage" → locale_t (a pointer; NULL for "none exists"); a caller sends
 * what its environment has, so the table stays as small as the set of environments seen */
static GHashTable *fl_locale_cache;
static GMutex fl_locale_lock;

/* anyone on the bus may send SetLocale: beyond this many pairs (or this long a name) a new
 * one gets the daemon's own language instead of another entry that is never freed */
#define FL_LOCALE_CACHE_MAX 64
#define FL_LOCALE_NAME_MAX  256

/* no warning when @name does not exist here: callers send whatever they have */
static locale_t
fl_locale_try(const gchar *name)
{
	locale_t locale;

	locale_t base;

	if (name == NULL || name[0] == '\0')
		return (locale_t)0;
	/* only the messages (and their charset) change: times, numbers and the rest stay the
	 * daemon's, as for every other text it makes */
	base = duplocale(LC_GLOBAL_LOCALE);
	if (base == (locale_t)0)
		return (locale_t)0;
	locale = newlocale(LC_MESSAGES_MASK | LC_CTYPE_MASK, name, base);
	if (locale == (locale_t)0) {
		g_debug("no locale '%s' here", name);
		freelocale(base);
	}
	return locale;
}

/* one LANGUAGE entry: as given, with ".UTF-8", and a bare "de" as "de_DE.UTF-8" */
static locale_t
fl_locale_try_language(const gchar *entry)
{
	g_autofree gchar *utf8 = NULL;
	g_autofree gchar *upper = NULL;
	g_autofree gchar *full = NULL;
	locale_t locale;

	if ((locale = fl_locale_try(entry)) != (locale_t)0)
		return locale;
	if (strchr(entry, '.') == NULL) {
		utf8 = g_strconcat(entry, ".UTF-8", NULL);
		if ((locale = fl_locale_try(utf8)) != (locale_t)0)
			return locale;
	}
	if (strlen(entry) == 2 && g_ascii_isalpha(entry[0]) && g_ascii_isalpha(entry[1])) {
		upper = g_ascii_strup(entry, -1);
		full = g_strdup_printf("%s_%s.UTF-8", entry, upper);
		return fl_locale_try(full);
	}
	return (locale_t)0;
}

static locale_t
fl_locale_lookup(const gchar *lc_messages, const gchar *language)
{
	g_auto(GStrv) entries = NULL;
	locale_t locale;

	/* like gettext: the C locale means the program's own (English) texts, LANGUAGE or not */
	if (g_strcmp0(lc_messages, "C") == 0 || g_strcmp0(lc_messages, "POSIX") == 0)
		return fl_locale_try("C");
	entries = g_strsplit(language != NULL ? language : "", ":", -1);
	for (guint i = 0; entries[i] != NULL; i++) {
		if (entries[i][0] != '\0' &&
		    (locale = fl_locale_try_language(entries[i])) != (locale_t)0)
			return locale;
	}
	return fl_locale_try(lc_messages);
}

locale_t
fl_locale_resolve(const gchar *lc_messages, const gchar *language)
{
	g_autofree gchar *key = g_strdup_printf("%s\n%s", lc_messages != NULL ? lc_messages : "",
						language != NULL ? language : "");
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&fl_locale_lock);
	gpointer value;
	locale_t locale;

	if (fl_locale_cache == NULL)
		fl_locale_cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	if (g_hash_table_lookup_extended(fl_locale_cache, key, NULL, &value))
		return (locale_t)value;
	if (g_hash_table_size(fl_locale_cache) >= FL_LOCALE_CACHE_MAX ||
	    strlen(key) > FL_LOCALE_NAME_MAX) {
		g_debug("locale '%s' not resolved: too many or too long", key);
		return (locale_t)0;
	}
	locale = fl_locale_lookup(lc_messages, language);
	g_hash_table_insert(fl_locale_cache, g_steal_pointer(&key), (gpointer)locale);
	return locale;
}

FlLocaleScope
fl_locale_scope_enter(locale_t locale)
{
	FlLocaleScope scope = {(locale_t)0};

	if (locale != (locale_t)0)
		scope.previous = uselocale(locale);
	return scope;
}

void
fl_locale_scope_leave(FlLocaleScope *scope)
{
	if (scope->previous != (locale_t)0)
		uselocale(scope->previous);
	scope->previous = (locale_t)0;
}

/* ------------------------------------------------------------------ the daemon's own */

static gchar *fl_locale_own_language;
static locale_t fl_locale_own_locale;

void
fl_locale_take_own(void)
{
	const gchar *language = g_getenv("LANGUAGE");

	if (language == NULL || language[0] == '\0')
		return;
	fl_locale_own_language = g_strdup(language);
	g_unsetenv("LANGUAGE");
	fl_locale_own_locale = fl_locale_resolve(setlocale(LC_MESSAGES, NULL), language);
}

locale_t
fl_locale_own(void)
{
	return fl_locale_own_locale != (locale_t)0 ? fl_locale_own_locale : LC_GLOBAL_LOCALE;
}

gchar **
fl_locale_child_environ(void)
{
	gchar **env = g_get_environ();

	if (fl_locale_own_language != NULL)
		env = g_environ_setenv(env, "LANGUAGE", fl_locale_own_language, TRUE);
	return env;
}
