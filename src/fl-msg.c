/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-msg.h"

#include <errno.h>
#include <libintl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fl-error.h"

/* one piece of a text: a msgid and its arguments, or a literal that is never translated */
typedef struct {
	gboolean translatable;
	gchar *text;
	GStrv args;    /* NULL: @text is the whole msgid, with no conversions in it */
	guint64 words; /* bit i: args[i] is a msgid itself (fl_msg_word) */
} FlMsgPart;

struct _FlMsg {
	GPtrArray *parts; /* FlMsgPart, rendered one after the other */
};

/* the marker of a serialized message; what does not start with it is a literal text */
#define FL_MSG_MAGIC "fl-msg:"
#define FL_MSG_TYPE  "a(bsmast)"

static void
fl_msg_part_free(FlMsgPart *part)
{
	g_free(part->text);
	g_strfreev(part->args);
	g_free(part);
}

static FlMsgPart *
fl_msg_part_copy(const FlMsgPart *part)
{
	FlMsgPart *copy = g_new0(FlMsgPart, 1);

	copy->translatable = part->translatable;
	copy->text = g_strdup(part->text);
	copy->args = g_strdupv(part->args);
	copy->words = part->words;
	return copy;
}

static FlMsg *
fl_msg_alloc(void)
{
	FlMsg *msg = g_new0(FlMsg, 1);

	msg->parts = g_ptr_array_new_with_free_func((GDestroyNotify)fl_msg_part_free);
	return msg;
}

/* ------------------------------------------------------------------ words */

static GMutex fl_msg_words_lock;
static GHashTable *fl_msg_words = NULL; /* the msgid pointers passed through fl_msg_word() */

const gchar *
fl_msg_word(const gchar *msgid)
{
	if (msgid == NULL)
		return NULL;
	g_mutex_lock(&fl_msg_words_lock);
	if (fl_msg_words == NULL)
		fl_msg_words = g_hash_table_new(NULL, NULL);
	g_hash_table_add(fl_msg_words, (gpointer)msgid);
	g_mutex_unlock(&fl_msg_words_lock);
	return msgid;
}

static gboolean
fl_msg_is_word(const gchar *text)
{
	gboolean found;

	g_mutex_lock(&fl_msg_words_lock);
	found = fl_msg_words != NULL && g_hash_table_contains(fl_msg_words, text);
	g_mutex_unlock(&fl_msg_words_lock);
	return found;
}

/* ------------------------------------------------------------------ capture */

/*
 * Walks @format as printf would and formats each argument on its own, with its own flags,
 * width and precision, so that the translation only has to put finished strings in place.
 * FALSE for what this cannot take apart (positional arguments in a msgid, %n).
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static gboolean
fl_msg_capture(FlMsgPart *part, const gchar *format, va_list args)
{
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
	gint saved_errno = errno;

	for (const gchar *p = format; *p != '\0'; p++) {
		g_autoptr(GString) spec = NULL;
		gchar *value = NULL;
		enum { L_NONE, L_HH, L_H, L_L, L_LL, L_BIG_L, L_J, L_Z, L_T } len = L_NONE;

		if (*p != '%')
			continue;
		p++;
		if (*p == '%')
			continue;
		spec = g_string_new("%");
		while (*p != '\0' && strchr("-+ #0'I", *p) != NULL)
			g_string_append_c(spec, *p++);
		if (*p == '*') {
			g_string_append_printf(spec, "%d", va_arg(args, gint));
			p++;
		} else {
			while (g_ascii_isdigit(*p))
				g_string_append_c(spec, *p++);
		}
		if (*p == '$')
			return FALSE;
		if (*p == '.') {
			g_string_append_c(spec, *p++);
			if (*p == '*') {
				g_string_append_printf(spec, "%d", va_arg(args, gint));
				p++;
			} else {
				while (g_ascii_isdigit(*p))
					g_string_append_c(spec, *p++);
			}
		}
		if (p[0] == 'h' && p[1] == 'h')
			len = L_HH, p += 2;
		else if (p[0] == 'l' && p[1] == 'l')
			len = L_LL, p += 2;
		else if (*p == 'h')
			len = L_H, p++;
		else if (*p == 'l')
			len = L_L, p++;
		else if (*p == 'L' || *p == 'q')
			len = L_BIG_L, p++;
		else if (*p == 'j')
			len = L_J, p++;
		else if (*p == 'z')
			len = L_Z, p++;
		else if (*p == 't')
			len = L_T, p++;

		switch (*p) {
		case 'd':
		case 'i':
			g_string_append(spec, "ll");
			g_string_append_c(spec, *p);
			if (len == L_L)
				value = g_strdup_printf(spec->str, (long long)va_arg(args, long));
			else if (len == L_LL || len == L_BIG_L)
				value = g_strdup_printf(spec->str, va_arg(args, long long));
			else if (len == L_J)
				value = g_strdup_printf(spec->str,
							(long long)va_arg(args, intmax_t));
			else if (len == L_Z)
				value = g_strdup_printf(spec->str, (long long)va_arg(args, gssize));
			else if (len == L_T)
				value = g_strdup_printf(spec->str,
							(long long)va_arg(args, ptrdiff_t));
			else if (len == L_HH)
				value = g_strdup_printf(spec->str,
							(long long)(signed char)va_arg(args, int));
			else if (len == L_H)
				value = g_strdup_printf(spec->str,
							(long long)(short)va_arg(args, int));
			else
				value = g_strdup_printf(spec->str, (long long)va_arg(args, int));
			break;
		case 'o':
		case 'u':
		case 'x':
		case 'X':
			g_string_append(spec, "ll");
			g_string_append_c(spec, *p);
			if (len == L_L)
				value = g_strdup_printf(
					spec->str, (unsigned long long)va_arg(args, unsigned long));
			else if (len == L_LL || len == L_BIG_L)
				value = g_strdup_printf(spec->str,
							va_arg(args, unsigned long long));
			else if (len == L_J)
				value = g_strdup_printf(
					spec->str, (unsigned long long)va_arg(args, uintmax_t));
			else if (len == L_Z)
				value = g_strdup_printf(spec->str,
							(unsigned long long)va_arg(args, gsize));
			else if (len == L_T)
				value = g_strdup_printf(
					spec->str, (unsigned long long)va_arg(args, ptrdiff_t));
			else if (len == L_HH)
				value = g_strdup_printf(
					spec->str,
					(unsigned long long)(unsigned char)va_arg(args, int));
			else if (len == L_H)
				value = g_strdup_printf(
					spec->str,
					(unsigned long long)(unsigned short)va_arg(args, int));
			else
				value = g_strdup_printf(
					spec->str, (unsigned long long)va_arg(args, unsigned int));
			break;
		case 'e':
		case 'E':
		case 'f':
		case 'F':
		case 'g':
		case 'G':
		case 'a':
		case 'A':
			if (len == L_BIG_L) {
				g_string_append_c(spec, 'L');
				g_string_append_c(spec, *p);
				value = g_strdup_printf(spec->str, va_arg(args, long double));
			} else {
				g_string_append_c(spec, *p);
				value = g_strdup_printf(spec->str, va_arg(args, double));
			}
			break;
		case 'c':
			g_string_append_c(spec, 'c');
			value = g_strdup_printf(spec->str, va_arg(args, int));
			break;
		case 's': {
			const gchar *s = va_arg(args, const gchar *);
			if (s != NULL && fl_msg_is_word(s) && out->len < 64)
				part->words |= G_GUINT64_CONSTANT(1) << out->len;
			g_string_append_c(spec, 's');
			value = g_strdup_printf(spec->str, s != NULL ? s : "(null)");
			break;
		}
		case 'p':
			g_string_append_c(spec, 'p');
			value = g_strdup_printf(spec->str, va_arg(args, gpointer));
			break;
		case 'm':
			value = g_strdup(g_strerror(saved_errno));
			break;
		default:
			return FALSE;
		}
		g_ptr_array_add(out, value);
	}
	g_ptr_array_add(out, NULL);
	part->translatable = TRUE;
	part->text = g_strdup(format);
	part->args = (GStrv)g_ptr_array_steal(out, NULL);
	return TRUE;
}
#pragma GCC diagnostic pop

FlMsg *
fl_msg_new_valist(const gchar *format, va_list args)
{
	FlMsg *msg = fl_msg_alloc();
	FlMsgPart *part = g_new0(FlMsgPart, 1);
	va_list copy;
	gboolean ok;

	g_return_val_if_fail(format != NULL, msg);

	va_copy(copy, args);
	ok = fl_msg_capture(part, format, copy);
	va_end(copy);
	if (!ok) {
		/* a format this cannot take apart still reads right, in English */
		fl_msg_part_free(part);
		part = g_new0(FlMsgPart, 1);
		part->text = g_strdup_vprintf(format, args);
	}
	g_ptr_array_add(msg->parts, part);
	return msg;
}

FlMsg *
fl_msg_new(const gchar *format, ...)
{
	va_list args;
	FlMsg *msg;

	va_start(args, format);
	msg = fl_msg_new_valist(format, args);
	va_end(args);
	return msg;
}

FlMsg *
fl_msg_new_literal(const gchar *text)
{
	FlMsg *msg = fl_msg_alloc();
	FlMsgPart *part = g_new0(FlMsgPart, 1);

	part->text = g_strdup(text != NULL ? text : "");
	g_ptr_array_add(msg->parts, part);
	return msg;
}

FlMsg *
fl_msg_copy(const FlMsg *msg)
{
	FlMsg *copy = fl_msg_alloc();

	for (guint i = 0; i < msg->parts->len; i++)
		g_ptr_array_add(copy->parts, fl_msg_part_copy(g_ptr_array_index(msg->parts, i)));
	return copy;
}

void
fl_msg_free(FlMsg *msg)
{
	if (msg == NULL)
		return;
	g_ptr_array_unref(msg->parts);
	g_free(msg);
}

void
fl_msg_prepend(FlMsg *msg, FlMsg *prefix)
{
	for (guint i = prefix->parts->len; i > 0; i--)
		g_ptr_array_insert(msg->parts, 0,
				   fl_msg_part_copy(g_ptr_array_index(prefix->parts, i - 1)));
	fl_msg_free(prefix);
}

/* ------------------------------------------------------------------ render */

/*
 * A word argument in the reader's language. A word may carry a context as GLib's pgettext
 * spells it ("session state\004running", the words the CLI shows): where the catalogue has
 * no entry for it, as in English, the context is cut off.
 */
static const gchar *
fl_msg_word_text(const gchar *msgid, gboolean translate)
{
	const gchar *text = translate ? dgettext(GETTEXT_PACKAGE, msgid) : msgid;
	const gchar *eot;

	if (text != msgid)
		return text;
	eot = strchr(msgid, '\004');
	return eot != NULL ? eot + 1 : msgid;
}

/* a message inside a message is rarely deeper than two; a hostile one stops here */
#define FL_MSG_MAX_DEPTH 4

static gchar *
fl_msg_render_full(const FlMsg *msg, gboolean translate, guint depth);

/*
 * Puts @part's finished arguments into @template (its msgid, or the translation of it),
 * where the conversions are; a translation may reorder them ("%2$s … %1$u"). FALSE when the
 * template asks for an argument there is not, so a broken translation falls back to English.
 * An argument that is a serialized message itself (an error's message inside a reason) is
 * rendered in the same language.
 */
static gboolean
fl_msg_fill(GString *out, const gchar *template, const FlMsgPart *part, gboolean translate,
	    guint depth)
{
	guint n_args = part->args != NULL ? g_strv_length(part->args) : 0;
	guint next = 0;
	gsize start = out->len;

	for (const gchar *p = template; *p != '\0'; p++) {
		guint index;
		const gchar *value;

		if (*p != '%') {
			g_string_append_c(out, *p);
			continue;
		}
		p++;
		if (*p == '%') {
			g_string_append_c(out, '%');
			continue;
		}
		index = next++;
		if (g_ascii_isdigit(*p)) {
			const gchar *q = p;
			guint n = 0;
			while (g_ascii_isdigit(*q))
				n = n * 10 + (guint)(*q++ - '0');
			if (*q == '$' && n > 0) {
				index = n - 1;
				p = q + 1;
			}
		}
		/* the width, precision and length were applied when the argument was captured */
		while (*p != '\0' && strchr("-+ #0'I*.0123456789$hlLqjzt", *p) != NULL)
			p++;
		if (*p == '\0' || strchr("diouxXeEfFgGaAcspm", *p) == NULL || index >= n_args) {
			g_string_truncate(out, start);
			return FALSE;
		}
		value = part->args[index];
		if (index < 64 && (part->words & (G_GUINT64_CONSTANT(1) << index))) {
			value = fl_msg_word_text(value, translate);
		} else if (depth < FL_MSG_MAX_DEPTH && g_str_has_prefix(value, FL_MSG_MAGIC)) {
			g_autoptr(FlMsg) inner = fl_msg_parse(value);
			g_autofree gchar *text = fl_msg_render_full(inner, translate, depth + 1);

			g_string_append(out, text);
			continue;
		}
		g_string_append(out, value);
	}
	return TRUE;
}

static gchar *
fl_msg_render_full(const FlMsg *msg, gboolean translate, guint depth)
{
	GString *out = g_string_new(NULL);

	for (guint i = 0; i < msg->parts->len; i++) {
		const FlMsgPart *part = g_ptr_array_index(msg->parts, i);

		if (!part->translatable) {
			g_string_append(out, part->text);
			continue;
		}
		/* libc's dgettext: it follows uselocale(), which the D-Bus edge sets per caller */
		if (part->args == NULL) {
			g_string_append(out, translate ? dgettext(GETTEXT_PACKAGE, part->text)
						       : part->text);
			continue;
		}
		if (translate &&
		    fl_msg_fill(out, dgettext(GETTEXT_PACKAGE, part->text), part, TRUE, depth))
			continue;
		if (!fl_msg_fill(out, part->text, part, FALSE, depth))
			g_string_append(out, part->text);
	}
	return g_string_free(out, FALSE);
}

gchar *
fl_msg_render(const FlMsg *msg)
{
	return fl_msg_render_full(msg, TRUE, 0);
}

gchar *
fl_msg_render_english(const FlMsg *msg)
{
	return fl_msg_render_full(msg, FALSE, 0);
}

/* ------------------------------------------------------------------ storage */

gchar *
fl_msg_serialize(const FlMsg *msg)
{
	g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT(G_VARIANT_TYPE(FL_MSG_TYPE));
	g_autoptr(GVariant) value = NULL;
	g_autofree gchar *text = NULL;

	for (guint i = 0; i < msg->parts->len; i++) {
		const FlMsgPart *part = g_ptr_array_index(msg->parts, i);
		GVariant *args = part->args != NULL
					 ? g_variant_new_strv((const gchar *const *)part->args, -1)
					 : NULL;

		g_variant_builder_add(&builder, "(bs@mast)", part->translatable, part->text,
				      g_variant_new_maybe(G_VARIANT_TYPE_STRING_ARRAY, args),
				      (guint64)part->words);
	}
	value = g_variant_ref_sink(g_variant_builder_end(&builder));
	text = g_variant_print(value, FALSE);
	return g_strconcat(FL_MSG_MAGIC, text, NULL);
}

FlMsg *
fl_msg_parse(const gchar *text)
{
	g_autoptr(GVariant) value = NULL;
	g_autoptr(GVariantIter) iter = NULL;
	FlMsg *msg;
	gboolean translatable;
	const gchar *part_text;
	GVariant *args;
	guint64 words;

	if (text == NULL || !g_str_has_prefix(text, FL_MSG_MAGIC))
		return fl_msg_new_literal(text);
	value = g_variant_parse(G_VARIANT_TYPE(FL_MSG_TYPE), text + strlen(FL_MSG_MAGIC), NULL,
				NULL, NULL);
	if (value == NULL)
		return fl_msg_new_literal(text);
	msg = fl_msg_alloc();
	g_variant_get(value, FL_MSG_TYPE, &iter);
	while (g_variant_iter_next(iter, "(b&s@mast)", &translatable, &part_text, &args, &words)) {
		g_autoptr(GVariant) strv = g_variant_get_maybe(args);
		FlMsgPart *part = g_new0(FlMsgPart, 1);

		part->translatable = translatable;
		part->text = g_strdup(part_text);
		part->args = strv != NULL ? g_variant_dup_strv(strv, NULL) : NULL;
		part->words = words;
		g_variant_unref(args);
		g_ptr_array_add(msg->parts, part);
	}
	return msg;
}

gchar *
fl_msg_render_stored(const gchar *text)
{
	g_autoptr(FlMsg) msg = NULL;

	if (text == NULL)
		return NULL;
	msg = fl_msg_parse(text);
	return fl_msg_render(msg);
}

gchar *
fl_msg_stored(const gchar *format, ...)
{
	va_list args;
	g_autoptr(FlMsg) msg = NULL;

	va_start(args, format);
	msg = fl_msg_new_valist(format, args);
	va_end(args);
	return fl_msg_serialize(msg);
}

gchar *
fl_msg_stored_literal(const gchar *text)
{
	g_autoptr(FlMsg) msg = fl_msg_new_literal(text);

	return fl_msg_serialize(msg);
}

/* ------------------------------------------------------------------ errors */

GError *
fl_error_new_valist(gint code, const gchar *format, va_list args)
{
	FlMsg *msg = fl_msg_new_valist(format, args);
	g_autofree gchar *english = fl_msg_render_english(msg);
	GError *error = g_error_new_literal(FL_ERROR, code, english);

	fl_error_set_msg(error, msg);
	return error;
}

void
fl_set_error(GError **error, gint code, const gchar *format, ...)
{
	va_list args;

	if (error == NULL)
		return;
	va_start(args, format);
	g_propagate_error(error, fl_error_new_valist(code, format, args));
	va_end(args);
}

void
fl_set_error_literal(GError **error, gint code, const gchar *msgid)
{
	FlMsg *msg;
	FlMsgPart *part;
	GError *local;

	if (error == NULL)
		return;
	/* the msgid is the whole text: nothing to capture, and a "%" in it is just a "%" */
	msg = fl_msg_alloc();
	part = g_new0(FlMsgPart, 1);
	part->translatable = TRUE;
	part->text = g_strdup(msgid);
	g_ptr_array_add(msg->parts, part);
	local = g_error_new_literal(FL_ERROR, code, msgid);
	fl_error_set_msg(local, msg);
	g_propagate_error(error, local);
}

void
fl_prefix_error(GError **error, const gchar *format, ...)
{
	va_list args;
	FlMsg *prefix;
	g_autofree gchar *english = NULL;
	FlMsg *msg;

	if (error == NULL || *error == NULL)
		return;
	va_start(args, format);
	prefix = fl_msg_new_valist(format, args);
	va_end(args);
	if ((*error)->domain != FL_ERROR) {
		/* another domain keeps no message of ours: the prefix in the current language */
		g_autofree gchar *text = fl_msg_render(prefix);
		g_prefix_error_literal(error, text);
		fl_msg_free(prefix);
		return;
	}
	english = fl_msg_render_english(prefix);
	msg = fl_error_get_msg(*error) != NULL ? fl_msg_copy(fl_error_get_msg(*error))
					       : fl_msg_new_literal((*error)->message);
	fl_msg_prepend(msg, prefix);
	g_prefix_error_literal(error, english);
	fl_error_set_msg(*error, msg);
}

gchar *
fl_error_render(const GError *error)
{
	const FlMsg *msg = error->domain == FL_ERROR ? fl_error_get_msg(error) : NULL;

	return msg != NULL ? fl_msg_render(msg) : g_strdup(error->message);
}

gchar *
fl_error_serialize(const GError *error)
{
	const FlMsg *msg = error->domain == FL_ERROR ? fl_error_get_msg(error) : NULL;

	return msg != NULL ? fl_msg_serialize(msg) : g_strdup(error->message);
}

gchar *
fl_error_serialize_prefixed(const GError *error, const gchar *format, ...)
{
	const FlMsg *own = error->domain == FL_ERROR ? fl_error_get_msg(error) : NULL;
	g_autoptr(FlMsg) msg = own != NULL ? fl_msg_copy(own) : fl_msg_new_literal(error->message);
	va_list args;
	FlMsg *prefix;

	va_start(args, format);
	prefix = fl_msg_new_valist(format, args);
	va_end(args);
	fl_msg_prepend(msg, prefix);
	return fl_msg_serialize(msg);
}
