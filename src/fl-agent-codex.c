/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-agent-codex.h"

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "fl-error.h"
#include "fl-util.h"

/* a reason or noise line is one line a notification can show in full */
#define FL_CODEX_LINE_MAX_CHARS 300

/* ------------------------------------------------------------------ small helpers */

/* the first line of @s (up to @len bytes) as valid single-line UTF-8 of at most @max_chars
 * characters, "…" marking a cut; NULL for NULL or an empty result */
static gchar *
fl_codex_one_line(const gchar *s, gssize len, gsize max_chars)
{
	g_autofree gchar *clean = NULL;
	g_autofree gchar *stripped = NULL;
	const gchar *nl;
	gsize n;

	if (s == NULL)
		return NULL;
	if (len < 0)
		len = (gssize)strlen(s);
	/* skip leading blank lines, then keep the first line with text */
	while (len > 0 && g_ascii_isspace(s[0])) {
		s++;
		len--;
	}
	nl = memchr(s, '\n', (gsize)len);
	if (nl != NULL)
		len = nl - s;
	/* never sanitize megabytes to show a few hundred characters */
	len = MIN(len, (gssize)(max_chars * 4 + 4));
	clean = fl_text_sanitize(s, len, FALSE);
	stripped = g_strdup(g_strstrip(clean));
	if (stripped[0] == '\0')
		return NULL;
	n = (gsize)g_utf8_strlen(stripped, -1);
	if (n > max_chars) {
		g_autofree gchar *cut = g_utf8_substring(stripped, 0, (glong)max_chars - 1);
		return g_strconcat(cut, "…", NULL);
	}
	return g_steal_pointer(&stripped);
}

static JsonObject *
fl_codex_json_object(JsonObject *obj, const gchar *name)
{
	JsonNode *node = json_object_get_member(obj, name);

	if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
		return NULL;
	return json_node_get_object(node);
}

/* a token count: a non-negative integer (a whole double is accepted too), else 0 */
static guint64
fl_codex_json_count(JsonObject *obj, const gchar *name)
{
	JsonNode *node = json_object_get_member(obj, name);
	GType type;

	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node))
		return 0;
	type = json_node_get_value_type(node);
	if (type == G_TYPE_INT64) {
		gint64 v = json_node_get_int(node);
		return v > 0 ? (guint64)v : 0;
	}
	if (type == G_TYPE_DOUBLE) {
		gdouble v = json_node_get_double(node);
		if (isfinite(v) && v > 0 && v < 9.0e18)
			return (guint64)v;
	}
	return 0;
}

static void
fl_codex_replace(gchar **field, const gchar *value)
{
	if (g_strcmp0(*field, value) == 0)
		return;
	g_free(*field);
	*field = g_strdup(value);
}

/* Codex passes an API error's body through as the message, e.g.
 * {"error":{"message":"The model … does not exist","type":"invalid_request_error"}}: the
 * inner message is what the user needs */
static gchar *
fl_codex_error_line(const gchar *message)
{
	const gchar *s = message;

	if (message == NULL)
		return NULL;
	while (g_ascii_isspace(*s))
		s++;
	if (s[0] == '{') {
		g_autoptr(JsonParser) parser = json_parser_new_immutable();
		if (json_parser_load_from_data(parser, s, -1, NULL)) {
			JsonNode *root = json_parser_get_root(parser);
			if (root != NULL && JSON_NODE_HOLDS_OBJECT(root)) {
				JsonObject *obj = json_node_get_object(root);
				JsonObject *inner = fl_codex_json_object(obj, "error");
				const gchar *text = inner != NULL
							    ? fl_json_get_string(inner, "message")
							    : fl_json_get_string(obj, "message");
				g_autofree gchar *line =
					fl_codex_one_line(text, -1, FL_CODEX_LINE_MAX_CHARS);
				if (line != NULL)
					return g_steal_pointer(&line);
			}
		}
	}
	return fl_codex_one_line(message, -1, FL_CODEX_LINE_MAX_CHARS);
}

/* ------------------------------------------------------------------ argv */

gchar **
fl_agent_codex_build_argv(const gchar *const *base_argv, const gchar *goal,
			  const gchar *resume_thread, const gchar *reply)
{
	static const gchar *const default_base[] = {"codex", NULL};
	g_autoptr(GStrvBuilder) builder = g_strv_builder_new();

	g_return_val_if_fail(resume_thread != NULL || goal != NULL, NULL);
	g_return_val_if_fail(resume_thread == NULL || reply != NULL, NULL);

	if (base_argv == NULL || base_argv[0] == NULL)
		base_argv = default_base;
	g_strv_builder_addv(builder, (const gchar **)base_argv);
	/* the sandbox again on resume: Codex does not keep it with the thread, and its default
	 * (read-only) makes every edit fail */
	g_strv_builder_add_many(builder, "exec", "--json", "--sandbox", FL_AGENT_CODEX_SANDBOX,
				NULL);
	/* after "--" even "-rf", "--help" or "resume" is only text */
	if (resume_thread != NULL)
		g_strv_builder_add_many(builder, "resume", "--", resume_thread, reply, NULL);
	else
		g_strv_builder_add_many(builder, "--", goal, NULL);
	return g_strv_builder_end(builder);
}

/* ------------------------------------------------------------------ the JSONL stream */

struct _FlCodexStream {
	GString *line; /* the unfinished line, never longer than the limit */
	guint line_no;
	gboolean finished;
	GError *error; /* sticky: once set, every call fails with it */

	guint noise_lines;
	gchar *last_noise;

	gchar *thread_id;
	gchar *last_message;
	guint turns;
	guint failed_turns;
	gboolean turn_open; /* turn.started with no end yet */
	guint64 input_tokens;
	guint64 cached_input_tokens;
	guint64 output_tokens;
	gchar *last_error;
	gboolean error_in_turn; /* an error event since the current turn started */

	FlCodexOutcome outcome;
	gchar *reason;
};

const gchar *
fl_codex_outcome_to_string(FlCodexOutcome outcome)
{
	switch (outcome) {
	case FL_CODEX_OUTCOME_NONE:
		return "none";
	case FL_CODEX_OUTCOME_SUCCEEDED:
		return "succeeded";
	case FL_CODEX_OUTCOME_FAILED:
		return "failed";
	default:
		return "unknown";
	}
}

FlCodexStream *
fl_codex_stream_new(void)
{
	FlCodexStream *self = g_new0(FlCodexStream, 1);

	self->line = g_string_new(NULL);
	return self;
}

void
fl_codex_stream_free(FlCodexStream *self)
{
	if (self == NULL)
		return;
	g_string_free(self->line, TRUE);
	g_free(self->last_noise);
	g_free(self->thread_id);
	g_free(self->last_message);
	g_free(self->last_error);
	g_free(self->reason);
	g_clear_error(&self->error);
	g_free(self);
}

static gboolean
fl_codex_stream_fail(FlCodexStream *self, GError **error)
{
	g_propagate_error(error, g_error_copy(self->error));
	return FALSE;
}

static void
fl_codex_stream_set_failed(FlCodexStream *self, const gchar *reason)
{
	self->outcome = FL_CODEX_OUTCOME_FAILED;
	fl_codex_replace(&self->reason, reason);
}

/* remembers @message as the last error; FALSE when it says nothing */
static gboolean
fl_codex_stream_take_error(FlCodexStream *self, const gchar *message)
{
	g_autofree gchar *line = fl_codex_error_line(message);

	if (line == NULL)
		return FALSE;
	g_free(self->last_error);
	self->last_error = g_steal_pointer(&line);
	return TRUE;
}

static void
fl_codex_stream_take_event(FlCodexStream *self, JsonObject *obj)
{
	const gchar *type = fl_json_get_string(obj, "type");

	if (g_strcmp0(type, "thread.started") == 0) {
		const gchar *id = fl_json_get_string(obj, "thread_id");
		if (id != NULL && id[0] != '\0')
			fl_codex_replace(&self->thread_id, id);
	} else if (g_strcmp0(type, "turn.started") == 0) {
		self->turn_open = TRUE;
		self->error_in_turn = FALSE;
	} else if (g_strcmp0(type, "turn.completed") == 0) {
		JsonObject *usage = fl_codex_json_object(obj, "usage");
		self->turn_open = FALSE;
		self->error_in_turn = FALSE;
		self->turns++;
		/* a running total: the latest replaces, never adds */
		if (usage != NULL) {
			self->input_tokens = fl_codex_json_count(usage, "input_tokens");
			self->cached_input_tokens =
				fl_codex_json_count(usage, "cached_input_tokens");
			self->output_tokens = fl_codex_json_count(usage, "output_tokens");
		}
		self->outcome = FL_CODEX_OUTCOME_SUCCEEDED;
		g_clear_pointer(&self->reason, g_free);
	} else if (g_strcmp0(type, "turn.failed") == 0) {
		JsonObject *err = fl_codex_json_object(obj, "error");
		const gchar *message = err != NULL ? fl_json_get_string(err, "message") : NULL;
		self->turn_open = FALSE;
		self->failed_turns++;
		/* without a message of its own an error event of this turn says why */
		if (fl_codex_stream_take_error(self, message) || self->error_in_turn)
			fl_codex_stream_set_failed(self, self->last_error);
		else
			fl_codex_stream_set_failed(self, _("Codex failed the turn"));
		self->error_in_turn = FALSE;
	} else if (g_strcmp0(type, "error") == 0) {
		if (fl_codex_stream_take_error(self, fl_json_get_string(obj, "message")))
			self->error_in_turn = TRUE;
	} else if (g_strcmp0(type, "item.completed") == 0) {
		JsonObject *item = fl_codex_json_object(obj, "item");
		const gchar *text = NULL;
		/* items of type "error" are warnings: only turn.failed fails a turn */
		if (item != NULL &&
		    g_strcmp0(fl_json_get_string(item, "type"), "agent_message") == 0)
			text = fl_json_get_string(item, "text");
		if (text != NULL)
			fl_codex_replace(&self->last_message, text);
	}
}

static gboolean
fl_codex_stream_take_line(FlCodexStream *self, const gchar *s, gsize len)
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
		/* stderr may share the log: "Reading additional input from stdin...", warnings,
		 * Codex's complaint before it exits */
		g_autofree gchar *noise =
			fl_codex_one_line(s, (gssize)len, FL_CODEX_LINE_MAX_CHARS);
		self->noise_lines++;
		if (noise != NULL) {
			g_free(self->last_noise);
			self->last_noise = g_steal_pointer(&noise);
		}
		return TRUE;
	}
	if (!g_utf8_validate_len(s, len, NULL)) {
		self->error =
			g_error_new(FL_ERROR, FL_ERROR_FAILED,
				    _("Codex output line %u is not valid UTF-8"), self->line_no);
		return FALSE;
	}
	parser = json_parser_new_immutable();
	if (!json_parser_load_from_data(parser, s, (gssize)len, &error_local)) {
		self->error = g_error_new(FL_ERROR, FL_ERROR_FAILED,
					  _("Codex output line %u is not valid JSON: %s"),
					  self->line_no, error_local->message);
		return FALSE;
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		self->error =
			g_error_new(FL_ERROR, FL_ERROR_FAILED,
				    _("Codex output line %u is not a JSON object"), self->line_no);
		return FALSE;
	}
	fl_codex_stream_take_event(self, json_node_get_object(root));
	return TRUE;
}

gboolean
fl_codex_stream_feed(FlCodexStream *self, const gchar *data, gsize len, GError **error)
{
	g_return_val_if_fail(self != NULL, FALSE);
	g_return_val_if_fail(data != NULL || len == 0, FALSE);
	g_return_val_if_fail(!self->finished, FALSE);

	if (self->error != NULL)
		return fl_codex_stream_fail(self, error);
	while (len > 0) {
		const gchar *nl = memchr(data, '\n', len);
		gsize piece = nl != NULL ? (gsize)(nl - data) : len;
		gboolean ok;

		/* checked before buffering, so a runaway line never grows the buffer past the
		 * limit */
		if (self->line->len + piece > FL_CODEX_STREAM_MAX_LINE) {
			self->error = g_error_new(
				FL_ERROR, FL_ERROR_LIMIT_EXCEEDED,
				_("Codex output line %u is longer than %u MiB"), self->line_no + 1,
				(guint)(FL_CODEX_STREAM_MAX_LINE / (1024 * 1024)));
			/* give the memory back now, not when the stream is freed */
			g_string_free(self->line, TRUE);
			self->line = g_string_new(NULL);
			return fl_codex_stream_fail(self, error);
		}
		if (nl == NULL) {
			g_string_append_len(self->line, data, (gssize)piece);
			return TRUE;
		}
		if (self->line->len == 0) {
			/* the whole line is in this chunk: no copy */
			ok = fl_codex_stream_take_line(self, data, piece);
		} else {
			g_string_append_len(self->line, data, (gssize)piece);
			ok = fl_codex_stream_take_line(self, self->line->str, self->line->len);
			g_string_truncate(self->line, 0);
		}
		if (!ok)
			return fl_codex_stream_fail(self, error);
		data += piece + 1;
		len -= piece + 1;
	}
	return TRUE;
}

gboolean
fl_codex_stream_finish(FlCodexStream *self, GError **error)
{
	g_return_val_if_fail(self != NULL, FALSE);
	g_return_val_if_fail(!self->finished, FALSE);

	self->finished = TRUE;
	if (self->error != NULL)
		return fl_codex_stream_fail(self, error);
	if (self->line->len > 0) {
		gboolean ok = fl_codex_stream_take_line(self, self->line->str, self->line->len);
		g_string_truncate(self->line, 0);
		if (!ok)
			return fl_codex_stream_fail(self, error);
	}
	if (self->turns == 0 && self->failed_turns == 0) {
		/* Codex's own words say most: an error event, else its last line on stderr */
		const gchar *last = self->last_error != NULL ? self->last_error : self->last_noise;
		if (last != NULL)
			self->error = g_error_new(
				FL_ERROR, FL_ERROR_FAILED,
				_("Codex ended without finishing a turn (last output: %s)"), last);
		else
			self->error =
				g_error_new_literal(FL_ERROR, FL_ERROR_FAILED,
						    _("Codex ended without finishing a turn"));
		return fl_codex_stream_fail(self, error);
	}
	/* killed, or crashed, after starting another turn: its work is unfinished */
	if (self->turn_open)
		fl_codex_stream_set_failed(self, _("Codex stopped in the middle of a turn"));
	return TRUE;
}

const gchar *
fl_codex_stream_get_thread_id(FlCodexStream *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->thread_id;
}

const gchar *
fl_codex_stream_get_last_message(FlCodexStream *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->last_message;
}

guint
fl_codex_stream_get_turns(FlCodexStream *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return self->turns;
}

guint
fl_codex_stream_get_failed_turns(FlCodexStream *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return self->failed_turns;
}

guint64
fl_codex_stream_get_input_tokens(FlCodexStream *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return self->input_tokens;
}

guint64
fl_codex_stream_get_cached_input_tokens(FlCodexStream *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return self->cached_input_tokens;
}

guint64
fl_codex_stream_get_output_tokens(FlCodexStream *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return self->output_tokens;
}

const gchar *
fl_codex_stream_get_last_error(FlCodexStream *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->last_error;
}

guint
fl_codex_stream_get_noise_lines(FlCodexStream *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return self->noise_lines;
}

const gchar *
fl_codex_stream_get_last_noise(FlCodexStream *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->last_noise;
}

FlCodexOutcome
fl_codex_stream_get_outcome(FlCodexStream *self)
{
	g_return_val_if_fail(self != NULL, FL_CODEX_OUTCOME_NONE);
	return self->outcome;
}

const gchar *
fl_codex_stream_get_reason(FlCodexStream *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->reason;
}
