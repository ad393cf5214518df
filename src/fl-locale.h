/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>
#include <locale.h>

G_BEGIN_DECLS

/*
 * The message language of one reader (a D-Bus caller), as a locale_t for uselocale(): glibc's
 * gettext translates in the calling thread's locale, so flotillad renders each reply in the
 * caller's language while its notifications and journal keep the daemon's own.
 *
 * @lc_messages is the caller's setlocale(LC_MESSAGES, NULL), @language its $LANGUAGE (a colon
 * list, may be empty). Resolved as gettext would: "C"/"POSIX" is English whatever LANGUAGE
 * says; otherwise the first LANGUAGE entry that exists here (as given, + ".UTF-8", or "de" as
 * "de_DE.UTF-8"), else @lc_messages. Returns (locale_t)0 when none exists: the daemon's own.
 * Results are cached for the life of the process and never freed, so a locale_t stays valid
 * after its caller left the bus; a few dozen pairs at most (then (locale_t)0 for new ones).
 */
locale_t
fl_locale_resolve(const gchar *lc_messages, const gchar *language);

/* a thread's locale for a stretch of code; use with g_auto so it cannot leak past it */
typedef struct {
	locale_t previous; /* (locale_t)0 when nothing was changed */
} FlLocaleScope;

/* @locale (nullable: no change) becomes the calling thread's locale until the scope ends;
 * LC_GLOBAL_LOCALE is the process's own (what notifications are written in) */
FlLocaleScope
fl_locale_scope_enter(locale_t locale);
void
fl_locale_scope_leave(FlLocaleScope *scope);

/*
 * flotillad's own language (notifications, the digest, callers that never said theirs).
 * glibc's gettext lets $LANGUAGE override every thread's locale that is not "C", so a
 * daemon started with LANGUAGE=de would answer every caller in German whatever its
 * SetLocale said. fl_locale_take_own(), called once at start-up before any thread, takes
 * LANGUAGE out of the environment and keeps it as the daemon's own locale instead;
 * fl_locale_child_environ() gives it back to the processes flotillad starts for the user.
 */
void
fl_locale_take_own(void);
/* LC_GLOBAL_LOCALE when the environment had no LANGUAGE */
locale_t
fl_locale_own(void);
/* g_get_environ() with LANGUAGE as flotillad found it */
gchar **
fl_locale_child_environ(void);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(FlLocaleScope, fl_locale_scope_leave)

G_END_DECLS
