/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-jsonl.h"

#include <string.h>

#include "fl-error.h"
#include "fl-i18n.h"
#include "fl-msg.h"
#include "fl-text.h"
#include "fl-util.h"

struct _FlJsonlReader {
	const gchar *what;
	gsize max_line;
	FlJsonlObjectFunc func;
	gpointer user_data;
	GString *line; /* (owned) the unfinished line, never longer than max_line */
	guint line_no; /* lines completed so far */
	guint noise_lines;
	gchar *last_noise;
	gboolean finished;
	GError *error; /* (owned) (nullable) sticky: once set, every call fails with it */
};

gchar *
fl_jsonl_one_line(const gchar *s, gssize len, gboolean first_line, gsize max_chars)
{
	g_autofree gchar *clean = NULL;

	if (s == NULL)
		return NULL;
	if (len < 0)
		len = (gssize)strlen(s);
	if (first_line) {
		const gchar *nl;

		/* skip leading blank lines, then keep the first line with text */
		while (len > 0 && g_ascii_isspace(s[0])) {
			s++;
			len--;
		}
		nl = memchr(s, '\n', (gsize)len);
		if (nl != NULL)
			len = nl - s;
	}
	/* never sanitize megabytes to show a few hundred characters */
	len = MIN(len, (gssize)(max_chars * 4 + 4));
	clean = fl_text_clean(s, len, FL_TEXT_COLLAPSE_SPACE);
	if (clean[0] == '\0')
		return NULL;
	return fl_text_ellipsize(clean, max_chars);
}

FlJsonlReader *
fl_jsonl_reader_new(const gchar *what, gsize max_line, FlJsonlObjectFunc func, gpointer user_data)
{
	FlJsonlReader *self = g_new0(FlJsonlReader, 1);

	g_return_val_if_fail(what != NULL, NULL);
	g_return_val_if_fail(func != NULL, NULL);
	self->what = what;
	self->max_line = max_line;
	self->func = func;
	self->user_data = user_data;
	self->line = g_string_new(NULL);
	return self;
}

void
fl_jsonl_reader_free(FlJsonlReader *self)
{
	if (self == NULL)
		return;
	g_string_free(self->line, TRUE);
	g_free(self->last_noise);
	g_clear_error(&self->error);
	g_free(self);
}

static gboolean
fl_jsonl_reader_fail(FlJsonlReader *self, GError **error)
{
	g_propagate_error(error, g_error_copy(self->error));
	return FALSE;
}

static gboolean
fl_jsonl_reader_take_line(FlJsonlReader *self, const gchar *s, gsize len)
{
	g_autoptr(JsonParser) parser = NULL;
	g_autoptr(GError) error_local = NULL;
	JsonNode *root;

	self->line_no++;
	if (len > 0 && s[len - 1] == '\r')
		len--;
	while (len > 0 && (s[0] == ' ' || s[0] == '\t')) {
		s++;
		len--;
	}
	if (len == 0)
		return TRUE;
	if (s[0] != '{') {
		/* stderr shares the log: warnings, stack traces, "Error: …" */
		g_autofree gchar *noise =
			fl_jsonl_one_line(s, (gssize)len, FALSE, FL_JSONL_LINE_MAX_CHARS);
		self->noise_lines++;
		if (noise != NULL) {
			g_free(self->last_noise);
			self->last_noise = g_steal_pointer(&noise);
		}
		return TRUE;
	}
	if (!g_utf8_validate_len(s, len, NULL)) {
		/* TRANSLATORS: %s is the agent ("Claude", "Codex"…), %u a line number */
		fl_set_error(&self->error, FL_ERROR_FAILED,
			     N_("%s output line %u is not valid UTF-8"), self->what, self->line_no);
		return FALSE;
	}
	parser = json_parser_new_immutable();
	if (!json_parser_load_from_data(parser, s, (gssize)len, &error_local)) {
		fl_set_error(&self->error, FL_ERROR_FAILED,
			     N_("%s output line %u is not valid JSON: %s"), self->what,
			     self->line_no, error_local->message);
		return FALSE;
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		fl_set_error(&self->error, FL_ERROR_FAILED,
			     N_("%s output line %u is not a JSON object"), self->what,
			     self->line_no);
		return FALSE;
	}
	self->func(json_node_get_object(root), self->user_data);
	return TRUE;
}

gboolean
fl_jsonl_reader_feed(FlJsonlReader *self, const gchar *data, gsize len, GError **error)
{
	g_return_val_if_fail(self != NULL, FALSE);
	g_return_val_if_fail(data != NULL || len == 0, FALSE);
	g_return_val_if_fail(!self->finished, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (self->error != NULL)
		return fl_jsonl_reader_fail(self, error);
	while (len > 0) {
		const gchar *nl = memchr(data, '\n', len);
		gsize piece = nl != NULL ? (gsize)(nl - data) : len;
		gboolean ok;

		/* checked before buffering, so a runaway line never grows the buffer past the
		 * limit */
		if (self->line->len + piece > self->max_line) {
			fl_set_error(&self->error, FL_ERROR_LIMIT_EXCEEDED,
				     N_("%s output line %u is longer than %u MiB"), self->what,
				     self->line_no + 1, (guint)(self->max_line / (1024 * 1024)));
			/* give the memory back now, not when the reader is freed */
			g_string_free(self->line, TRUE);
			self->line = g_string_new(NULL);
			return fl_jsonl_reader_fail(self, error);
		}
		if (nl == NULL) {
			g_string_append_len(self->line, data, (gssize)piece);
			return TRUE;
		}
		if (self->line->len == 0) {
			/* the whole line is in this chunk: no copy */
			ok = fl_jsonl_reader_take_line(self, data, piece);
		} else {
			g_string_append_len(self->line, data, (gssize)piece);
			ok = fl_jsonl_reader_take_line(self, self->line->str, self->line->len);
			g_string_truncate(self->line, 0);
		}
		if (!ok)
			return fl_jsonl_reader_fail(self, error);
		data += piece + 1;
		len -= piece + 1;
	}
	return TRUE;
}

gboolean
fl_jsonl_reader_finish(FlJsonlReader *self, GError **error)
{
	g_return_val_if_fail(self != NULL, FALSE);
	g_return_val_if_fail(!self->finished, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	self->finished = TRUE;
	if (self->error != NULL)
		return fl_jsonl_reader_fail(self, error);
	if (self->line->len > 0) {
		gboolean ok = fl_jsonl_reader_take_line(self, self->line->str, self->line->len);
		g_string_truncate(self->line, 0);
		if (!ok)
			return fl_jsonl_reader_fail(self, error);
	}
	return TRUE;
}

guint
fl_jsonl_reader_get_line_no(FlJsonlReader *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return self->line_no;
}

guint
fl_jsonl_reader_get_noise_lines(FlJsonlReader *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return self->noise_lines;
}

const gchar *
fl_jsonl_reader_get_last_noise(FlJsonlReader *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->last_noise;
}
