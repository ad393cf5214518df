/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The one text sanitizer. Text that an agent, a repository or a user wrote reaches terminals,
 * notification servers, webhooks and JSON consumers; every one of them gets it through
 * fl_text_clean(), so the same input reads the same wherever it is shown.
 *
 * Rules, always applied:
 *  1. The result is valid UTF-8: each invalid byte becomes U+FFFD.
 *  2. Terminal escape sequences go whole, not just their ESC: CSI (ESC [ or U+009B, up to its
 *     final byte), OSC, DCS, SOS, PM and APC strings (ESC ] P X ^ _ or U+009D U+0090 U+0098
 *     U+009E U+009F, up to BEL, ESC \ or U+009C; an unterminated one ends at the line break)
 *     and two- or three-byte ESC sequences. So "\e[31mred" becomes "red", not "[31mred".
 *  3. Bidirectional controls go: U+202A-U+202E (embeddings, overrides), U+2066-U+2069
 *     (isolates), U+200E, U+200F, U+061C (marks). They make text display as something other
 *     than what it says.
 *  4. Line breaks (LF, CR LF, CR, VT, FF, U+0085, U+2028, U+2029) become "\n" with
 *     FL_TEXT_MULTILINE, else a space; a tab stays a tab with FL_TEXT_MULTILINE, else a space.
 *  5. Every other control character (C0, DEL, C1) goes.
 *  6. Whitespace at the end of a line and at the end of the text goes.
 */
typedef enum {
	FL_TEXT_NONE = 0,
	/* keep line breaks (as "\n") and tabs */
	FL_TEXT_MULTILINE = 1 << 0,
	/* a run of spaces and tabs (without MULTILINE: and line breaks) becomes one space, and no
	 * line starts with one */
	FL_TEXT_COLLAPSE_SPACE = 1 << 1,
	/* with MULTILINE: at most one empty line in a row, none before the first line */
	FL_TEXT_MAX_BLANK_LINES_1 = 1 << 2,
} FlTextFlags;

/* @len bytes of @s (-1: up to its NUL) cleaned by the rules above; NULL when @s is NULL */
gchar *
fl_text_clean(const gchar *s, gssize len, FlTextFlags flags);

/* at most @max_chars characters of @s, cut on a character boundary, the last one "…" when
 * cut (@max_chars 0: ""); never splits a character */
gchar *
fl_text_ellipsize(const gchar *s, gsize max_chars);

G_END_DECLS
