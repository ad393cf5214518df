/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-agent-codex.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "fl-agent.h"
#include "fl-error.h"
#include "fl-i18n.h"
#include "fl-jsonl.h"
#include "fl-msg.h"
#include "fl-util.h"

/* a reason or noise line is one line a notification can show in full */
#define FL_CODEX_LINE_MAX_CHARS FL_JSONL_LINE_MAX_CHARS

/* ------------------------------------------------------------------ small helpers */

static JsonObject *
fl_agent_codex_json_object(JsonObject *obj, const gchar *name)
{
	JsonNode *node = json_object_get_member(obj, name);

	if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
		return NULL;
	return json_node_get_object(node);
}

/* a token count: a non-negative integer (a whole double is accepted too), else 0 */
static guint64
fl_agent_codex_json_count(JsonObject *obj, const gchar *name)
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
fl_agent_codex_replace(gchar **field, const gchar *value)
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
fl_agent_codex_error_line(const gchar *message)
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
				JsonObject *inner = fl_agent_codex_json_object(obj, "error");
				const gchar *text = inner != NULL
							    ? fl_json_get_string(inner, "message")
							    : fl_json_get_string(obj, "message");
				g_autofree gchar *line =
					fl_jsonl_one_line(text, -1, TRUE, FL_CODEX_LINE_MAX_CHARS);
				if (line != NULL)
					return g_steal_pointer(&line);
			}
		}
	}
	return fl_jsonl_one_line(message, -1, TRUE, FL_CODEX_LINE_MAX_CHARS);
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
	FlJsonlReader *reader; /* (owned) the line framing, the noise and the sticky error */
	gboolean finished;

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
	const gchar *reason_msgid; /* (nullable) @reason untranslated, when it is ours */
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

static void
fl_agent_codex_stream_take_event_cb(JsonObject *obj, gpointer user_data);

FlCodexStream *
fl_codex_stream_new(void)
{
	FlCodexStream *self = g_new0(FlCodexStream, 1);

	self->reader = fl_jsonl_reader_new("Codex", FL_CODEX_STREAM_MAX_LINE,
					   fl_agent_codex_stream_take_event_cb, self);
	return self;
}

void
fl_codex_stream_free(FlCodexStream *self)
{
	if (self == NULL)
		return;
	fl_jsonl_reader_free(self->reader);
	g_free(self->thread_id);
	g_free(self->last_message);
	g_free(self->last_error);
	g_free(self->reason);
	g_free(self);
}

/* @msgid: our own words, kept untranslated for the store too; NULL: @reason is Codex's */
static void
fl_agent_codex_stream_set_failed(FlCodexStream *self, const gchar *reason, const gchar *msgid)
{
	self->outcome = FL_CODEX_OUTCOME_FAILED;
	fl_agent_codex_replace(&self->reason, reason);
	self->reason_msgid = msgid;
}

/* remembers @message as the last error; FALSE when it says nothing */
static gboolean
fl_agent_codex_stream_take_error(FlCodexStream *self, const gchar *message)
{
	g_autofree gchar *line = fl_agent_codex_error_line(message);

	if (line == NULL)
		return FALSE;
	g_free(self->last_error);
	self->last_error = g_steal_pointer(&line);
	return TRUE;
}

static void
fl_agent_codex_stream_take_event(FlCodexStream *self, JsonObject *obj)
{
	const gchar *type = fl_json_get_string(obj, "type");

	if (g_strcmp0(type, "thread.started") == 0) {
		const gchar *id = fl_json_get_string(obj, "thread_id");
		if (id != NULL && id[0] != '\0')
			fl_agent_codex_replace(&self->thread_id, id);
	} else if (g_strcmp0(type, "turn.started") == 0) {
		self->turn_open = TRUE;
		self->error_in_turn = FALSE;
	} else if (g_strcmp0(type, "turn.completed") == 0) {
		JsonObject *usage = fl_agent_codex_json_object(obj, "usage");
		self->turn_open = FALSE;
		self->error_in_turn = FALSE;
		self->turns++;
		/* a running total: the latest replaces, never adds */
		if (usage != NULL) {
			self->input_tokens = fl_agent_codex_json_count(usage, "input_tokens");
			self->cached_input_tokens =
				fl_agent_codex_json_count(usage, "cached_input_tokens");
			self->output_tokens = fl_agent_codex_json_count(usage, "output_tokens");
		}
		self->outcome = FL_CODEX_OUTCOME_SUCCEEDED;
		g_clear_pointer(&self->reason, g_free);
	} else if (g_strcmp0(type, "turn.failed") == 0) {
		JsonObject *err = fl_agent_codex_json_object(obj, "error");
		const gchar *message = err != NULL ? fl_json_get_string(err, "message") : NULL;
		self->turn_open = FALSE;
		self->failed_turns++;
		/* without a message of its own an error event of this turn says why */
		if (fl_agent_codex_stream_take_error(self, message) || self->error_in_turn)
			fl_agent_codex_stream_set_failed(self, self->last_error, NULL);
		else
			fl_agent_codex_stream_set_failed(self, _("Codex failed the turn"),
							 N_("Codex failed the turn"));
		self->error_in_turn = FALSE;
	} else if (g_strcmp0(type, "error") == 0) {
		if (fl_agent_codex_stream_take_error(self, fl_json_get_string(obj, "message")))
			self->error_in_turn = TRUE;
	} else if (g_strcmp0(type, "item.completed") == 0) {
		JsonObject *item = fl_agent_codex_json_object(obj, "item");
		const gchar *text = NULL;
		/* items of type "error" are warnings: only turn.failed fails a turn */
		if (item != NULL &&
		    g_strcmp0(fl_json_get_string(item, "type"), "agent_message") == 0)
			text = fl_json_get_string(item, "text");
		if (text != NULL)
			fl_agent_codex_replace(&self->last_message, text);
	}
}

static void
fl_agent_codex_stream_take_event_cb(JsonObject *obj, gpointer user_data)
{
	fl_agent_codex_stream_take_event(user_data, obj);
}

gboolean
fl_codex_stream_feed(FlCodexStream *self, const gchar *data, gsize len, GError **error)
{
	g_return_val_if_fail(self != NULL, FALSE);
	g_return_val_if_fail(!self->finished, FALSE);

	return fl_jsonl_reader_feed(self->reader, data, len, error);
}

gboolean
fl_codex_stream_finish(FlCodexStream *self, GError **error)
{
	g_return_val_if_fail(self != NULL, FALSE);
	g_return_val_if_fail(!self->finished, FALSE);

	self->finished = TRUE;
	if (!fl_jsonl_reader_finish(self->reader, error))
		return FALSE;
	if (self->turns == 0 && self->failed_turns == 0) {
		/* Codex's own words say most: an error event, else its last line on stderr */
		const gchar *last = self->last_error != NULL
					    ? self->last_error
					    : fl_jsonl_reader_get_last_noise(self->reader);
		if (last != NULL)
			fl_set_error(error, FL_ERROR_FAILED,
				     N_("Codex ended without finishing a turn (last output: %s)"),
				     last);
		else
			fl_set_error_literal(error, FL_ERROR_FAILED,
					     N_("Codex ended without finishing a turn"));
		return FALSE;
	}
	/* killed, or crashed, after starting another turn: its work is unfinished */
	if (self->turn_open)
		fl_agent_codex_stream_set_failed(self, _("Codex stopped in the middle of a turn"),
						 N_("Codex stopped in the middle of a turn"));
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
	return fl_jsonl_reader_get_noise_lines(self->reader);
}

const gchar *
fl_codex_stream_get_last_noise(FlCodexStream *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return fl_jsonl_reader_get_last_noise(self->reader);
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

gchar *
fl_codex_stream_dup_reason_stored(FlCodexStream *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	if (self->reason == NULL)
		return NULL;
	return self->reason_msgid != NULL ? fl_msg_stored("%s", fl_msg_word(self->reason_msgid))
					  : fl_msg_stored_literal(self->reason);
}

/* ------------------------------------------------------------------ the agent kind */

static const gchar *const fl_agent_codex_command[] = {"codex", NULL};

static const FlAgentPreset fl_agent_codex_presets[] = {
	{"codex", fl_agent_codex_command},
	{NULL, NULL},
};

/* auth.json, config.toml and the rollout files `exec resume` reads */
static const gchar *const fl_agent_codex_home_rw[] = {".codex/", NULL};

static gchar **
fl_agent_codex_class_build_argv(const FlAgentRun *run, GError **error)
{
	const gchar *resume = run->resume_reply != NULL ? run->data->agent_session : NULL;

	return fl_agent_codex_build_argv((const gchar *const *)run->agent->command, run->data->goal,
					 resume, resume != NULL ? run->resume_reply : NULL);
}

/* codex exec --json: its events decide the outcome and give the thread to resume */
static void
fl_agent_codex_read_outcome(const FlAgentRun *run, FlState *end_state)
{
	g_autoptr(FlCodexStream) stream = fl_codex_stream_new();
	g_autoptr(GError) error = NULL;
	FlSessionData *d = run->data;

	if (!fl_agent_feed_log(run, (FlAgentFeedFunc)fl_codex_stream_feed, stream, &error))
		return;
	if (error == NULL)
		fl_codex_stream_finish(stream, &error);
	if (fl_codex_stream_get_thread_id(stream) != NULL) {
		g_free(d->agent_session);
		d->agent_session = g_strdup(fl_codex_stream_get_thread_id(stream));
	}
	d->turns = fl_codex_stream_get_turns(stream);
	fl_agent_set_final_message(d, fl_codex_stream_get_last_message(stream));
	if (*end_state == FL_STATE_CANCELLED || *end_state == FL_STATE_INTERRUPTED)
		return;
	g_clear_pointer(&d->reason, g_free);
	if (error != NULL) {
		/* our own parse errors are messages too: in the reader's language */
		g_autofree gchar *inner = fl_error_serialize(error);

		*end_state = FL_STATE_FAILED;
		d->reason = fl_msg_stored(N_("Codex's output: %s"), inner);
	} else if (fl_codex_stream_get_outcome(stream) == FL_CODEX_OUTCOME_SUCCEEDED) {
		*end_state = FL_STATE_DONE;
	} else {
		*end_state = FL_STATE_FAILED;
		d->reason = fl_codex_stream_dup_reason_stored(stream);
	}
}

FL_AGENT_DEFINE_CLASS(codex) = {
	.kind = "codex",
	.runs_command = TRUE,
	.presets = fl_agent_codex_presets,
	.default_command = fl_agent_codex_command,
	.home_rw = fl_agent_codex_home_rw,
	.needs_network = TRUE,
	.build_argv = fl_agent_codex_class_build_argv,
	.read_outcome = fl_agent_codex_read_outcome,
};
