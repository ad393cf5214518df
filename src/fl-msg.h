/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * A text for a person, kept as its untranslated format (the msgid) and its arguments, each
 * already formatted as a string, so that it can be rendered in whatever language the reader
 * has: the caller of a D-Bus method (its locale, see fl_locale_scope), the session's desktop
 * (notifications), or English for the journal.
 *
 * flotillad formats texts long before it knows who reads them (a merge conflict found in a
 * git callback, a reason stored in the database and listed days later), so formatting early
 * and translating late is the only way every reader gets their own language.
 *
 * Arguments that are translatable words themselves (a state, a review) are passed through
 * fl_msg_word() as their untranslated msgid and rendered in the reader's language too; an
 * argument that is a serialized message (fl_msg_serialize, fl_error_serialize) is rendered
 * in that language as well.
 */
typedef struct _FlMsg FlMsg;

FlMsg *
fl_msg_new(const gchar *format, ...) G_GNUC_PRINTF(1, 2);
FlMsg *
fl_msg_new_valist(const gchar *format, va_list args) G_GNUC_PRINTF(1, 0);
/* a text that is not translated (a file name, an agent's own words, an old stored reason) */
FlMsg *
fl_msg_new_literal(const gchar *text);
FlMsg *
fl_msg_copy(const FlMsg *msg);
void
fl_msg_free(FlMsg *msg);
/* @prefix (a message itself) comes first: "session 7: " + msg */
void
fl_msg_prepend(FlMsg *msg, FlMsg *prefix);

/* in the calling thread's current message locale (uselocale) */
gchar *
fl_msg_render(const FlMsg *msg);
/* untranslated: for the journal and anything read by programs */
gchar *
fl_msg_render_english(const FlMsg *msg);

/* a compact string for the store and the runner protocol; fl_msg_parse() takes any text
 * and treats what is not such a string as a literal (reasons stored before this format) */
gchar *
fl_msg_serialize(const FlMsg *msg);
FlMsg *
fl_msg_parse(const gchar *text);
/* render a stored text (serialized or plain) in the current locale */
gchar *
fl_msg_render_stored(const gchar *text);
/* fl_msg_serialize(fl_msg_new(...)) in one: a reason the store keeps, in no language yet */
gchar *
fl_msg_stored(const gchar *format, ...) G_GNUC_PRINTF(1, 2);
/* the same for a text that is never translated (an agent's own words), even one that looks
 * like a serialized message */
gchar *
fl_msg_stored_literal(const gchar *text);

/* marks a translatable word passed as an argument; returns @msgid itself. A msgid with a
 * context is spelled as the catalogue keys it, "CONTEXT\004MSGID" (fl_state_msgid()) */
const gchar *
fl_msg_word(const gchar *msgid);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlMsg, fl_msg_free)

/*
 * GErrors in FL_ERROR carry their FlMsg (fl-error.h). These set one: the GError's message
 * is the English rendering, so logs and other D-Bus clients read a plain sentence; the
 * D-Bus edge renders it again in the caller's language (fl_error_render).
 */
void
fl_set_error(GError **error, gint code, const gchar *format, ...) G_GNUC_PRINTF(3, 4);
GError *
fl_error_new_valist(gint code, const gchar *format, va_list args) G_GNUC_PRINTF(2, 0);
void
fl_set_error_literal(GError **error, gint code, const gchar *msgid);
/* like g_prefix_error(), and the prefix is translated late too */
void
fl_prefix_error(GError **error, const gchar *format, ...) G_GNUC_PRINTF(2, 3);
/* @error's text in the current locale: its FlMsg when it has one, else its message */
gchar *
fl_error_render(const GError *error);
/* @error as a storable text (fl_msg_serialize), for reasons built from errors */
gchar *
fl_error_serialize(const GError *error);
/* the same after a prefix (a msgid with its arguments): "verify could not run: " + @error */
gchar *
fl_error_serialize_prefixed(const GError *error, const gchar *format, ...) G_GNUC_PRINTF(2, 3);

G_END_DECLS
