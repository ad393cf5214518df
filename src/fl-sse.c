/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-sse.h"

#include <string.h>

#include "fl-error.h"
#include "fl-i18n.h"

struct _FlSseParser {
	gsize max_line_length;
	gsize max_event_size;
	FlSseEventFunc func;
	gpointer user_data;
	GString *line;       /* (owned) current line, without its line end */
	GString *data;       /* (owned) data buffer: each data line plus "\n" */
	GString *event_type; /* (owned) */
	GString *last_id;    /* (owned) */
	gint64 retry;
	gboolean pending_fields; /* a data or event field since the last blank line */
	guint bom_matched;       /* bytes of a leading BOM matched so far */
	gboolean bom_done;
	gboolean after_cr; /* an LF right after a CR ends the same line, even in the next chunk */
	gboolean finished;
	gboolean ended_mid_event;
	GError *error; /* (owned) (nullable): the failure that stopped the parser */
};

static const guint8 fl_sse_bom[] = {0xEF, 0xBB, 0xBF};

FlSseParser *
fl_sse_parser_new(gsize max_line_length, gsize max_event_size, FlSseEventFunc func,
		  gpointer user_data)
{
	FlSseParser *self;

	g_return_val_if_fail(max_line_length > 0, NULL);
	g_return_val_if_fail(max_event_size > 0, NULL);
	g_return_val_if_fail(func != NULL, NULL);

	self = g_new0(FlSseParser, 1);
	self->max_line_length = max_line_length;
	self->max_event_size = max_event_size;
	self->func = func;
	self->user_data = user_data;
	self->line = g_string_new(NULL);
	self->data = g_string_new(NULL);
	self->event_type = g_string_new(NULL);
	self->last_id = g_string_new(NULL);
	self->retry = -1;
	return self;
}

void
fl_sse_parser_free(FlSseParser *self)
{
	if (self == NULL)
		return;
	g_string_free(self->line, TRUE);
	g_string_free(self->data, TRUE);
	g_string_free(self->event_type, TRUE);
	g_string_free(self->last_id, TRUE);
	g_clear_error(&self->error);
	g_free(self);
}

/* the standard decodes the stream as UTF-8 with replacement; NUL becomes U+FFFD too, so
 * consumers can treat every value as a C string */
static void
fl_sse_append_utf8(GString *dst, const gchar *value, gsize len)
{
	g_autofree gchar *valid = NULL;

	if (g_utf8_validate_len(value, len, NULL)) {
		g_string_append_len(dst, value, (gssize)len);
		return;
	}
	valid = g_utf8_make_valid(value, (gssize)len);
	g_string_append(dst, valid);
}

static gboolean
fl_sse_parser_fail(FlSseParser *self, GError *error_owned, GError **error)
{
	self->error = error_owned;
	g_propagate_error(error, g_error_copy(self->error));
	return FALSE;
}

static gboolean
fl_sse_parser_check_event_size(FlSseParser *self, GError **error)
{
	if (self->data->len + self->event_type->len <= self->max_event_size)
		return TRUE;
	return fl_sse_parser_fail(self,
				  g_error_new(FL_ERROR, FL_ERROR_LIMIT_EXCEEDED,
					      _("SSE event larger than %lu bytes"),
					      (gulong)self->max_event_size),
				  error);
}

static void
fl_sse_parser_dispatch(FlSseParser *self)
{
	self->pending_fields = FALSE;
	if (self->data->len > 0) {
		/* every data line appended a "\n"; the last one is not part of the data */
		g_string_truncate(self->data, self->data->len - 1);
		self->func(self->event_type->len > 0 ? self->event_type->str : "message",
			   self->data->str, self->last_id->str, self->user_data);
	}
	g_string_truncate(self->data, 0);
	g_string_truncate(self->event_type, 0);
}

static void
fl_sse_parser_set_retry(FlSseParser *self, const gchar *value, gsize len)
{
	gint64 retry = 0;

	if (len == 0)
		return;
	for (gsize i = 0; i < len; i++) {
		gint digit;

		if (!g_ascii_isdigit(value[i]))
			return;
		digit = value[i] - '0';
		/* a value this large is nonsense: ignore it like any other invalid one */
		if (retry > (G_MAXINT64 - digit) / 10)
			return;
		retry = retry * 10 + digit;
	}
	self->retry = retry;
}

static gboolean
fl_sse_parser_process_line(FlSseParser *self, const gchar *line, gsize len, GError **error)
{
	const gchar *colon;
	const gchar *value = "";
	gsize name_len = len;
	gsize value_len = 0;

	if (len == 0) {
		fl_sse_parser_dispatch(self);
		return TRUE;
	}
	if (line[0] == ':')
		return TRUE;

	colon = memchr(line, ':', len);
	if (colon != NULL) {
		name_len = (gsize)(colon - line);
		value = colon + 1;
		value_len = len - name_len - 1;
		if (value_len > 0 && value[0] == ' ') {
			value++;
			value_len--;
		}
	}

	if (name_len == 4 && memcmp(line, "data", 4) == 0) {
		self->pending_fields = TRUE;
		fl_sse_append_utf8(self->data, value, value_len);
		g_string_append_c(self->data, '\n');
		return fl_sse_parser_check_event_size(self, error);
	}
	if (name_len == 5 && memcmp(line, "event", 5) == 0) {
		self->pending_fields = TRUE;
		g_string_truncate(self->event_type, 0);
		fl_sse_append_utf8(self->event_type, value, value_len);
		return fl_sse_parser_check_event_size(self, error);
	}
	if (name_len == 2 && memcmp(line, "id", 2) == 0) {
		/* the standard ignores ids containing NUL */
		if (memchr(value, '\0', value_len) == NULL) {
			g_string_truncate(self->last_id, 0);
			fl_sse_append_utf8(self->last_id, value, value_len);
		}
		return TRUE;
	}
	if (name_len == 5 && memcmp(line, "retry", 5) == 0) {
		fl_sse_parser_set_retry(self, value, value_len);
		return TRUE;
	}
	/* unknown fields are ignored so servers can extend the format */
	return TRUE;
}

static gboolean
fl_sse_parser_append_line(FlSseParser *self, const guint8 *data, gsize len, GError **error)
{
	if (len > self->max_line_length - self->line->len) {
		return fl_sse_parser_fail(self,
					  g_error_new(FL_ERROR, FL_ERROR_LIMIT_EXCEEDED,
						      _("SSE line longer than %lu bytes"),
						      (gulong)self->max_line_length),
					  error);
	}
	g_string_append_len(self->line, (const gchar *)data, (gssize)len);
	return TRUE;
}

/* everything after the optional BOM */
static gboolean
fl_sse_parser_scan(FlSseParser *self, const guint8 *data, gsize len, GError **error)
{
	gsize i = 0;

	while (i < len) {
		gsize end = i;

		if (self->after_cr) {
			self->after_cr = FALSE;
			if (data[i] == '\n') {
				i++;
				continue;
			}
		}
		while (end < len && data[end] != '\r' && data[end] != '\n')
			end++;
		if (!fl_sse_parser_append_line(self, data + i, end - i, error))
			return FALSE;
		if (end == len)
			break;
		self->after_cr = data[end] == '\r';
		if (!fl_sse_parser_process_line(self, self->line->str, self->line->len, error))
			return FALSE;
		g_string_truncate(self->line, 0);
		i = end + 1;
	}
	return TRUE;
}

gboolean
fl_sse_parser_feed(FlSseParser *self, const guint8 *data, gsize len, GError **error)
{
	g_return_val_if_fail(self != NULL, FALSE);
	g_return_val_if_fail(data != NULL || len == 0, FALSE);
	g_return_val_if_fail(!self->finished, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (self->error != NULL) {
		g_propagate_error(error, g_error_copy(self->error));
		return FALSE;
	}

	/* the BOM may arrive one byte per chunk; hold matching bytes back until we know */
	while (!self->bom_done && len > 0) {
		if (data[0] == fl_sse_bom[self->bom_matched]) {
			self->bom_matched++;
			data++;
			len--;
			if (self->bom_matched == sizeof(fl_sse_bom))
				self->bom_done = TRUE;
			continue;
		}
		self->bom_done = TRUE;
		if (!fl_sse_parser_scan(self, fl_sse_bom, self->bom_matched, error))
			return FALSE;
	}
	return fl_sse_parser_scan(self, data, len, error);
}

gboolean
fl_sse_parser_is_mid_event(FlSseParser *self)
{
	g_return_val_if_fail(self != NULL, FALSE);

	if (self->finished)
		return self->ended_mid_event;
	/* a limit always stops the parser inside a line or an event, which is then lost */
	if (self->error != NULL || self->pending_fields)
		return TRUE;
	if (!self->bom_done && self->bom_matched > 0)
		return TRUE;
	return self->line->len > 0 && self->line->str[0] != ':';
}

gboolean
fl_sse_parser_finish(FlSseParser *self, GError **error)
{
	g_return_val_if_fail(self != NULL, FALSE);
	g_return_val_if_fail(!self->finished, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	self->ended_mid_event = fl_sse_parser_is_mid_event(self);
	self->finished = TRUE;
	g_string_truncate(self->line, 0);
	g_string_truncate(self->data, 0);
	g_string_truncate(self->event_type, 0);

	if (self->error != NULL) {
		g_propagate_error(error, g_error_copy(self->error));
		return FALSE;
	}
	if (self->ended_mid_event) {
		g_set_error_literal(error, FL_ERROR, FL_ERROR_FAILED,
				    _("stream ended in the middle of an event"));
		return FALSE;
	}
	return TRUE;
}

gint64
fl_sse_parser_get_retry(FlSseParser *self)
{
	g_return_val_if_fail(self != NULL, -1);
	return self->retry;
}

const gchar *
fl_sse_parser_get_last_event_id(FlSseParser *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->last_id->str;
}
