/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * The line framing every agent with JSON Lines output shares (Claude's stream-json, Codex's
 * exec --json, Gemini's stream-json): a push reader that does no I/O and hands each JSON
 * object to its owner's callback. The session log also holds the agent's stderr, so a line
 * that does not start with '{' is noise: skipped and counted, the last one kept (sanitized,
 * one line, capped) because it is often the agent's own complaint before it died. A line that
 * starts with '{' but is not valid UTF-8 or not a JSON object is garbage and fails the reader,
 * as does a line longer than its limit (never buffered past it); after a failure every call
 * fails with the same error. Blank lines, a trailing '\r' and leading blanks are ignored.
 */

/* a noise line or a reason kept for the user: one line a notification can show in full */
#define FL_JSONL_LINE_MAX_CHARS 300

typedef struct _FlJsonlReader FlJsonlReader;

/* one JSON object from the stream, borrowed for the call */
typedef void (*FlJsonlObjectFunc)(JsonObject *object, gpointer user_data);

/**
 * fl_jsonl_reader_new:
 * @what: who wrote the stream, for messages ("Claude", "Codex"…); not copied, a literal
 * @max_line: the longest line accepted, in bytes
 * @func: called with every object, in order
 */
FlJsonlReader *
fl_jsonl_reader_new(const gchar *what, gsize max_line, FlJsonlObjectFunc func, gpointer user_data);
void
fl_jsonl_reader_free(FlJsonlReader *self);

/* feeds @len bytes, chunks of any size; FALSE with the sticky error once the stream failed */
gboolean
fl_jsonl_reader_feed(FlJsonlReader *self, const gchar *data, gsize len, GError **error);
/* takes an unterminated last line; after it, feeding is a programmer error */
gboolean
fl_jsonl_reader_finish(FlJsonlReader *self, GError **error);

/* lines completed so far */
guint
fl_jsonl_reader_get_line_no(FlJsonlReader *self);
guint
fl_jsonl_reader_get_noise_lines(FlJsonlReader *self);
/* the last noise line, NULL if none */
const gchar *
fl_jsonl_reader_get_last_noise(FlJsonlReader *self);

/*
 * @s (up to @len bytes, or -1) as valid single-line UTF-8 of at most @max_chars characters,
 * "…" marking a cut: leading blank lines skipped, then its first line when @first_line (else
 * newlines become spaces). NULL for NULL or an empty result.
 */
gchar *
fl_jsonl_one_line(const gchar *s, gssize len, gboolean first_line, gsize max_chars);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlJsonlReader, fl_jsonl_reader_free)

G_END_DECLS
