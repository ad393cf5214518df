/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-text.h"

#include <string.h>

static gboolean
fl_text_is_bidi_control(gunichar c)
{
	return (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069) || c == 0x200E ||
	       c == 0x200F || c == 0x061C;
}

static gboolean
fl_text_is_break(gunichar c)
{
	return c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == 0x85 || c == 0x2028 ||
	       c == 0x2029;
}

/* whether @c starts an escape sequence: ESC, or a C1 introducer of a CSI or a string */
static gboolean
fl_text_is_escape(gunichar c)
{
	return c == 0x1b || c == 0x9b || c == 0x9d || c == 0x90 || c == 0x98 || c == 0x9e ||
	       c == 0x9f;
}

/* the end of the escape sequence at @p (valid UTF-8, at ESC or a C1 introducer) */
static const gchar *
fl_text_skip_escape(const gchar *p)
{
	gunichar c = g_utf8_get_char(p);

	p = g_utf8_next_char(p);
	if (c == 0x1b) {
		/* the 7-bit forms: ESC and one byte standing for the C1 introducer */
		switch (*p) {
		case '[':
			c = 0x9b;
			break;
		case ']':
			c = 0x9d;
			break;
		case 'P':
		case 'X':
		case '^':
		case '_':
			c = 0x9d; /* a string like OSC: to its terminator */
			break;
		default:
			/* ESC, intermediate bytes, one final byte ("ESC ( B", "ESC 7") */
			while (*p >= 0x20 && *p <= 0x2f)
				p++;
			if (*p >= 0x30 && *p <= 0x7e)
				p++;
			return p;
		}
		p++;
	}
	if (c == 0x9b) {
		/* CSI: parameter and intermediate bytes, then one final byte */
		while (*p >= 0x20 && *p <= 0x3f)
			p++;
		if (*p >= 0x40 && *p <= 0x7e)
			p++;
		return p;
	}
	/* a string: up to BEL, ESC \ or ST; a line break ends an unterminated one, so a stray
	 * introducer cannot hide the rest of a message */
	while (*p != '\0') {
		gunichar d = g_utf8_get_char(p);

		if (d == '\a' || d == 0x9c)
			return g_utf8_next_char(p);
		if (d == 0x1b)
			return p[1] == '\\' ? p + 2 : p;
		if (fl_text_is_break(d))
			return p;
		p = g_utf8_next_char(p);
	}
	return p;
}

gchar *
fl_text_clean(const gchar *s, gssize len, FlTextFlags flags)
{
	gboolean multiline = (flags & FL_TEXT_MULTILINE) != 0;
	gboolean collapse = (flags & FL_TEXT_COLLAPSE_SPACE) != 0;
	gboolean one_blank = multiline && (flags & FL_TEXT_MAX_BLANK_LINES_1) != 0;
	g_autofree gchar *valid = NULL;
	g_autoptr(GString) blank = g_string_new(NULL); /* spaces and tabs not written yet */
	guint breaks = 0;                              /* line breaks not written yet */
	GString *out;

	if (s == NULL)
		return NULL;
	valid = g_utf8_make_valid(s, len);
	out = g_string_sized_new(strlen(valid));
	for (const gchar *p = valid; *p != '\0';) {
		gunichar c = g_utf8_get_char(p);

		if (fl_text_is_escape(c)) {
			p = fl_text_skip_escape(p);
			continue;
		}
		p = g_utf8_next_char(p);
		if (fl_text_is_break(c)) {
			/* CR LF is one break */
			if (c == '\r' && *p == '\n')
				p++;
			if (multiline) {
				breaks++;
				g_string_truncate(blank, 0);
				continue;
			}
			c = ' ';
		}
		if (c == '\t' && (!multiline || collapse))
			c = ' ';
		if (c == ' ' || c == '\t') {
			g_string_append_c(blank, (gchar)c);
			continue;
		}
		if (g_unichar_iscntrl(c) || fl_text_is_bidi_control(c))
			continue;

		/* a visible character: first the whitespace before it */
		if (breaks > 0) {
			if (one_blank)
				breaks = out->len == 0 ? 0 : MIN(breaks, 2);
			for (guint i = 0; i < breaks; i++)
				g_string_append_c(out, '\n');
		}
		if (blank->len > 0) {
			gboolean line_start = out->len == 0 || out->str[out->len - 1] == '\n';
			if (!collapse)
				g_string_append_len(out, blank->str, (gssize)blank->len);
			else if (!line_start)
				g_string_append_c(out, ' ');
		}
		breaks = 0;
		g_string_truncate(blank, 0);
		g_string_append_unichar(out, c);
	}
	/* whatever whitespace is still pending ends the text: it goes */
	return g_string_free(out, FALSE);
}

gchar *
fl_text_ellipsize(const gchar *s, gsize max_chars)
{
	const gchar *end = s;
	GString *out;

	if (max_chars == 0)
		return g_strdup("");
	for (gsize n = 0; n < max_chars; n++) {
		if (*end == '\0')
			return g_strdup(s);
		end = g_utf8_next_char(end);
	}
	if (*end == '\0')
		return g_strdup(s);
	out = g_string_new_len(s, g_utf8_offset_to_pointer(s, (glong)max_chars - 1) - s);
	g_string_append(out, "…");
	return g_string_free(out, FALSE);
}
