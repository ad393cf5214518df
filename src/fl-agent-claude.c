/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-agent-claude.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "fl-agent.h"
#include "fl-error.h"
#include "fl-i18n.h"
#include "fl-jsonl.h"
#include "fl-msg.h"
#include "fl-util.h"

/* a reason or description is one line a notification can show in full */
#define FL_CLAUDE_LINE_MAX_CHARS FL_JSONL_LINE_MAX_CHARS
#define FL_CLAUDE_TOOL_MAX_CHARS 200

/* ------------------------------------------------------------------ small helpers */

static gboolean
fl_agent_claude_json_number(JsonObject *obj, const gchar *name, gdouble *value)
{
	JsonNode *node = json_object_get_member(obj, name);
	GType type;

	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node))
		return FALSE;
	type = json_node_get_value_type(node);
	if (type != G_TYPE_INT64 && type != G_TYPE_DOUBLE)
		return FALSE;
	*value = json_node_get_double(node);
	return TRUE;
}

static gboolean
fl_agent_claude_json_bool(JsonObject *obj, const gchar *name)
{
	JsonNode *node = json_object_get_member(obj, name);

	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_BOOLEAN)
		return FALSE;
	return json_node_get_boolean(node);
}

static JsonObject *
fl_agent_claude_json_object(JsonObject *obj, const gchar *name)
{
	JsonNode *node = json_object_get_member(obj, name);

	if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
		return NULL;
	return json_node_get_object(node);
}

static JsonArray *
fl_agent_claude_json_array(JsonObject *obj, const gchar *name)
{
	JsonNode *node = json_object_get_member(obj, name);

	if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node))
		return NULL;
	return json_node_get_array(node);
}

static void
fl_agent_claude_replace(gchar **field, const gchar *value)
{
	if (g_strcmp0(*field, value) == 0)
		return;
	g_free(*field);
	*field = g_strdup(value);
}

/* ------------------------------------------------------------------ argv and settings */

gchar **
fl_agent_claude_build_argv(const gchar *const *base_argv, const gchar *goal,
			   const gchar *session_uuid, const gchar *settings_path,
			   const gchar *resume_reply, gdouble max_budget_usd)
{
	static const gchar *const default_base[] = {"claude", NULL};
	g_autoptr(GStrvBuilder) builder = g_strv_builder_new();

	g_return_val_if_fail(session_uuid != NULL, NULL);
	g_return_val_if_fail(settings_path != NULL, NULL);
	g_return_val_if_fail(goal != NULL || resume_reply != NULL, NULL);

	if (base_argv == NULL || base_argv[0] == NULL)
		base_argv = default_base;
	g_strv_builder_addv(builder, (const gchar **)base_argv);
	g_strv_builder_add_many(builder, "-p", "--output-format", "stream-json", "--verbose", NULL);
	g_strv_builder_add(builder, resume_reply != NULL ? "--resume" : "--session-id");
	g_strv_builder_add(builder, session_uuid);
	g_strv_builder_add_many(builder, "--settings", settings_path, "--permission-mode",
				FL_AGENT_CLAUDE_PERMISSION_MODE, NULL);
	/* infinity and NaN mean no cap too */
	if (max_budget_usd > 0 && isfinite(max_budget_usd)) {
		gchar buf[G_ASCII_DTOSTR_BUF_SIZE];
		g_strv_builder_add_many(builder, "--max-budget-usd",
					g_ascii_dtostr(buf, sizeof(buf), max_budget_usd), NULL);
	}
	/* the prompt is positional: after "--" even "-rf" or "--help" is only text */
	g_strv_builder_add_many(builder, "--", resume_reply != NULL ? resume_reply : goal, NULL);
	return g_strv_builder_end(builder);
}

static void
fl_agent_claude_add_hook(JsonBuilder *builder, const gchar *event, const gchar *matcher,
			 const gchar *command, gint64 timeout_s)
{
	json_builder_set_member_name(builder, event);
	json_builder_begin_array(builder);
	json_builder_begin_object(builder);
	if (matcher != NULL) {
		json_builder_set_member_name(builder, "matcher");
		json_builder_add_string_value(builder, matcher);
	}
	json_builder_set_member_name(builder, "hooks");
	json_builder_begin_array(builder);
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "type");
	json_builder_add_string_value(builder, "command");
	json_builder_set_member_name(builder, "command");
	json_builder_add_string_value(builder, command);
	json_builder_set_member_name(builder, "timeout");
	json_builder_add_int_value(builder, timeout_s);
	json_builder_end_object(builder);
	json_builder_end_array(builder);
	json_builder_end_object(builder);
	json_builder_end_array(builder);
}

gchar *
fl_agent_claude_settings_json(const gchar *flotilla_cli)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonGenerator) generator = json_generator_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree gchar *quoted = NULL;
	g_autofree gchar *command = NULL;

	g_return_val_if_fail(flotilla_cli != NULL, NULL);

	/* Claude runs a hook's command line through a shell */
	quoted = g_shell_quote(flotilla_cli);
	command = g_strdup_printf("%s hook claude", quoted);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "hooks");
	json_builder_begin_object(builder);
	fl_agent_claude_add_hook(builder, "Notification", NULL, command,
				 FL_AGENT_CLAUDE_REPORT_TIMEOUT_S);
	/* PermissionRequest matches on the tool name: all of them */
	fl_agent_claude_add_hook(builder, "PermissionRequest", "*", command,
				 FL_AGENT_CLAUDE_PERMISSION_TIMEOUT_S);
	fl_agent_claude_add_hook(builder, "Stop", NULL, command, FL_AGENT_CLAUDE_REPORT_TIMEOUT_S);
	fl_agent_claude_add_hook(builder, "StopFailure", NULL, command,
				 FL_AGENT_CLAUDE_REPORT_TIMEOUT_S);
	json_builder_end_object(builder);
	json_builder_end_object(builder);

	root = json_builder_get_root(builder);
	json_generator_set_root(generator, root);
	json_generator_set_pretty(generator, TRUE);
	json_generator_set_indent(generator, 2);
	return json_generator_to_data(generator, NULL);
}

gboolean
fl_agent_claude_write_settings(const gchar *path, const gchar *flotilla_cli, GError **error)
{
	g_autofree gchar *json = NULL;
	g_autofree gchar *text = NULL;

	g_return_val_if_fail(path != NULL, FALSE);
	g_return_val_if_fail(flotilla_cli != NULL, FALSE);

	json = fl_agent_claude_settings_json(flotilla_cli);
	text = g_strconcat(json, "\n", NULL);
	return fl_write_file_durable(path, text, -1, error);
}

/* ------------------------------------------------------------------ stream-json */

struct _FlClaudeStream {
	FlJsonlReader *reader; /* (owned) the line framing, the noise and the sticky error */
	gchar *session_id;
	gchar *last_message_id; /* of the main agent's latest assistant message */
	guint assistant_messages;
	gdouble cost_usd;
	/* a resumed session's log holds one claude process after the other, each counting from
	 * zero: what the ones before the current one spent and took */
	gdouble earlier_cost_usd;
	guint earlier_turns;
	gboolean result_counted; /* the latest result's counts are in the earlier ones */
	guint api_retries;
	gchar *last_retry_error;
	gboolean has_result;
	gboolean is_error;
	gchar *subtype;
	gchar *terminal_reason;
	gchar *result_text;
	gboolean result_text_is_error; /* Claude's error message, not the agent's */
	gchar *deferred_tool;
	guint result_turns;
	FlClaudeOutcome outcome;
	gchar *reason;
	gchar *reason_stored; /* (owned) (nullable) the same as a stored message */
	gboolean finished;
};

const gchar *
fl_claude_outcome_to_string(FlClaudeOutcome outcome)
{
	switch (outcome) {
	case FL_CLAUDE_OUTCOME_NONE:
		return "none";
	case FL_CLAUDE_OUTCOME_SUCCEEDED:
		return "succeeded";
	case FL_CLAUDE_OUTCOME_FAILED:
		return "failed";
	case FL_CLAUDE_OUTCOME_BLOCKED:
		return "blocked";
	default:
		return "unknown";
	}
}

static void
fl_agent_claude_stream_take_event_cb(JsonObject *obj, gpointer user_data);

FlClaudeStream *
fl_claude_stream_new(void)
{
	FlClaudeStream *self = g_new0(FlClaudeStream, 1);

	self->reader = fl_jsonl_reader_new("Claude", FL_CLAUDE_STREAM_MAX_LINE,
					   fl_agent_claude_stream_take_event_cb, self);
	return self;
}

void
fl_claude_stream_free(FlClaudeStream *self)
{
	if (self == NULL)
		return;
	fl_jsonl_reader_free(self->reader);
	g_free(self->session_id);
	g_free(self->last_message_id);
	g_free(self->last_retry_error);
	g_free(self->subtype);
	g_free(self->terminal_reason);
	g_free(self->result_text);
	g_free(self->deferred_tool);
	g_free(self->reason);
	g_free(self->reason_stored);
	g_free(self);
}

/* what a terminal_reason or error subtype means; @is_limit: the phrase says more than
 * Claude's own text (a limit the user set), otherwise Claude's error text wins */
static const gchar *
fl_agent_claude_known_reason(const gchar *key, gboolean *is_limit)
{
	static const struct {
		const gchar *key;
		const gchar *text;
		gboolean is_limit;
	} table[] = {
		{"max_turns", N_("stopped at the turn limit"), TRUE},
		{"error_max_turns", N_("stopped at the turn limit"), TRUE},
		{"budget_exhausted", N_("stopped at the spending limit"), TRUE},
		{"error_max_budget_usd", N_("stopped at the spending limit"), TRUE},
		{"prompt_too_long", N_("the conversation grew too long for the model"), TRUE},
		{"hook_stopped", N_("a hook stopped the run"), FALSE},
		{"stop_hook_prevented", N_("a hook stopped the run"), FALSE},
		{"aborted_streaming", N_("the run was aborted"), FALSE},
		{"aborted_tools", N_("the run was aborted"), FALSE},
		{"tool_deferred_unavailable", N_("the deferred tool call is no longer available"),
		 FALSE},
		{"error_during_execution", N_("Claude failed during execution"), FALSE},
	};

	for (guint i = 0; key != NULL && i < G_N_ELEMENTS(table); i++) {
		if (g_strcmp0(table[i].key, key) == 0) {
			*is_limit = table[i].is_limit;
			return table[i].text;
		}
	}
	return NULL;
}

/* the reason in this process's language for the stream's readers, and as a message for the
 * store; takes @msg */
static void
fl_agent_claude_stream_set_reason(FlClaudeStream *self, FlMsg *msg)
{
	g_autoptr(FlMsg) owned = msg;

	g_free(self->reason);
	self->reason = fl_msg_render(owned);
	g_free(self->reason_stored);
	self->reason_stored = fl_msg_serialize(owned);
}

static void
fl_agent_claude_stream_classify(FlClaudeStream *self)
{
	const gchar *why = self->terminal_reason != NULL ? self->terminal_reason : self->subtype;
	const gchar *known = NULL;
	gboolean is_limit = FALSE;
	gboolean failed;
	g_autoptr(FlMsg) msg = NULL;

	g_clear_pointer(&self->reason, g_free);
	g_clear_pointer(&self->reason_stored, g_free);
	/* subtype says "success" even for API errors: is_error and terminal_reason decide */
	if (!self->is_error && g_strcmp0(self->terminal_reason, "tool_deferred") == 0) {
		self->outcome = FL_CLAUDE_OUTCOME_BLOCKED;
		if (self->deferred_tool != NULL)
			msg = fl_msg_new(N_("waiting for approval to use %s"), self->deferred_tool);
		else
			msg = fl_msg_new(N_("waiting for approval of a tool call"));
		fl_agent_claude_stream_set_reason(self, g_steal_pointer(&msg));
		return;
	}
	failed = self->is_error ||
		 (self->terminal_reason != NULL &&
		  g_strcmp0(self->terminal_reason, "completed") != 0) ||
		 (self->subtype != NULL && g_str_has_prefix(self->subtype, "error"));
	if (!failed) {
		self->outcome = FL_CLAUDE_OUTCOME_SUCCEEDED;
		return;
	}
	self->outcome = FL_CLAUDE_OUTCOME_FAILED;
	known = fl_agent_claude_known_reason(self->terminal_reason, &is_limit);
	if (known == NULL)
		known = fl_agent_claude_known_reason(self->subtype, &is_limit);
	/* Claude's error text names API errors best ("API Error: 400 …"); the text of a result
	 * that is no error is the agent's last message, no reason */
	if (!is_limit && self->result_text_is_error) {
		g_autofree gchar *line =
			fl_jsonl_one_line(self->result_text, -1, TRUE, FL_CLAUDE_LINE_MAX_CHARS);

		/* Claude's own words: never a msgid */
		if (line != NULL)
			msg = fl_msg_new_literal(line);
	}
	if (msg == NULL && known != NULL)
		msg = fl_msg_new("%s", fl_msg_word(known));
	if (msg == NULL)
		msg = fl_msg_new(N_("Claude stopped: %s"), why != NULL ? why : "is_error");
	fl_agent_claude_stream_set_reason(self, g_steal_pointer(&msg));
}

static void
fl_agent_claude_stream_take_result(FlClaudeStream *self, JsonObject *obj)
{
	JsonObject *deferred = fl_agent_claude_json_object(obj, "deferred_tool_use");
	JsonArray *errors = fl_agent_claude_json_array(obj, "errors");
	const gchar *text = fl_json_get_string(obj, "result");
	gdouble turns = 0;

	self->has_result = TRUE;
	self->result_counted = FALSE;
	self->is_error = fl_agent_claude_json_bool(obj, "is_error");
	fl_agent_claude_replace(&self->subtype, fl_json_get_string(obj, "subtype"));
	fl_agent_claude_replace(&self->terminal_reason, fl_json_get_string(obj, "terminal_reason"));
	fl_agent_claude_replace(&self->deferred_tool,
				deferred != NULL ? fl_json_get_string(deferred, "name") : NULL);
	g_clear_pointer(&self->result_text, g_free);
	self->result_text_is_error = self->is_error;
	if (text != NULL) {
		self->result_text = g_strdup(text);
	} else if (errors != NULL && json_array_get_length(errors) > 0) {
		g_autoptr(GString) joined = g_string_new(NULL);
		for (guint i = 0; i < json_array_get_length(errors); i++) {
			JsonNode *node = json_array_get_element(errors, i);
			if (!JSON_NODE_HOLDS_VALUE(node) ||
			    json_node_get_value_type(node) != G_TYPE_STRING)
				continue;
			if (joined->len > 0)
				g_string_append(joined, "; ");
			g_string_append(joined, json_node_get_string(node));
		}
		if (joined->len > 0) {
			self->result_text = g_string_free(g_steal_pointer(&joined), FALSE);
			self->result_text_is_error = TRUE;
		}
	}
	self->result_turns = 0;
	if (fl_agent_claude_json_number(obj, "num_turns", &turns) && turns >= 0 &&
	    turns < G_MAXUINT)
		self->result_turns = (guint)turns;
	fl_agent_claude_stream_classify(self);
}

static void
fl_agent_claude_stream_take_event(FlClaudeStream *self, JsonObject *obj)
{
	const gchar *type = fl_json_get_string(obj, "type");
	const gchar *subtype = fl_json_get_string(obj, "subtype");
	const gchar *session_id = fl_json_get_string(obj, "session_id");
	gdouble cost = 0;

	if (session_id != NULL && session_id[0] != '\0')
		fl_agent_claude_replace(&self->session_id, session_id);
	/* the next process of a resumed session: its counts start again */
	if (g_strcmp0(type, "system") == 0 && g_strcmp0(subtype, "init") == 0 && self->has_result &&
	    !self->result_counted) {
		self->result_counted = TRUE;
		self->earlier_turns += fl_claude_stream_get_num_turns(self);
		self->earlier_cost_usd += self->cost_usd;
		self->cost_usd = 0;
		self->assistant_messages = 0;
		self->result_turns = 0;
	}
	/* cumulative within one process: the latest is its total */
	if (fl_agent_claude_json_number(obj, "total_cost_usd", &cost) && cost >= 0 &&
	    isfinite(cost))
		self->cost_usd = cost;

	if (g_strcmp0(type, "system") == 0 && g_strcmp0(subtype, "api_retry") == 0) {
		const gchar *kind = fl_json_get_string(obj, "error");
		gdouble status = 0;
		self->api_retries++;
		g_clear_pointer(&self->last_retry_error, g_free);
		if (fl_agent_claude_json_number(obj, "error_status", &status) && status > 0)
			self->last_retry_error = g_strdup_printf(
				"%s (%d)", kind != NULL ? kind : "error", (gint)status);
		else
			self->last_retry_error = g_strdup(kind != NULL ? kind : "error");
	} else if (g_strcmp0(type, "assistant") == 0) {
		JsonObject *message = fl_agent_claude_json_object(obj, "message");
		JsonNode *parent = json_object_get_member(obj, "parent_tool_use_id");
		const gchar *id = message != NULL ? fl_json_get_string(message, "id") : NULL;
		/* subagents' messages carry their parent tool call; one message arrives as one
		 * event per content block, all with its id */
		if (parent != NULL && !JSON_NODE_HOLDS_NULL(parent))
			return;
		if (id != NULL && g_strcmp0(id, self->last_message_id) == 0)
			return;
		fl_agent_claude_replace(&self->last_message_id, id);
		self->assistant_messages++;
	} else if (g_strcmp0(type, "result") == 0) {
		fl_agent_claude_stream_take_result(self, obj);
	}
}

static void
fl_agent_claude_stream_take_event_cb(JsonObject *obj, gpointer user_data)
{
	fl_agent_claude_stream_take_event(user_data, obj);
}

gboolean
fl_claude_stream_feed(FlClaudeStream *self, const gchar *data, gsize len, GError **error)
{
	g_return_val_if_fail(self != NULL, FALSE);
	g_return_val_if_fail(!self->finished, FALSE);

	return fl_jsonl_reader_feed(self->reader, data, len, error);
}

gboolean
fl_claude_stream_finish(FlClaudeStream *self, GError **error)
{
	g_return_val_if_fail(self != NULL, FALSE);
	g_return_val_if_fail(!self->finished, FALSE);

	self->finished = TRUE;
	if (!fl_jsonl_reader_finish(self->reader, error))
		return FALSE;
	if (!self->has_result) {
		const gchar *last_noise = fl_jsonl_reader_get_last_noise(self->reader);
		if (last_noise != NULL)
			fl_set_error(error, FL_ERROR_FAILED,
				     N_("Claude ended without a result (last output: %s)"),
				     last_noise);
		else
			fl_set_error_literal(error, FL_ERROR_FAILED,
					     N_("Claude ended without a result"));
		return FALSE;
	}
	return TRUE;
}

const gchar *
fl_claude_stream_get_session_id(FlClaudeStream *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->session_id;
}

guint
fl_claude_stream_get_num_turns(FlClaudeStream *self)
{
	g_return_val_if_fail(self != NULL, 0);
	if (self->has_result && self->result_turns > 0)
		return self->earlier_turns + self->result_turns;
	return self->earlier_turns + self->assistant_messages;
}

gdouble
fl_claude_stream_get_cost_usd(FlClaudeStream *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return self->earlier_cost_usd + self->cost_usd;
}

guint
fl_claude_stream_get_api_retries(FlClaudeStream *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return self->api_retries;
}

const gchar *
fl_claude_stream_get_last_retry_error(FlClaudeStream *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->last_retry_error;
}

guint
fl_claude_stream_get_noise_lines(FlClaudeStream *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return fl_jsonl_reader_get_noise_lines(self->reader);
}

const gchar *
fl_claude_stream_get_last_noise(FlClaudeStream *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return fl_jsonl_reader_get_last_noise(self->reader);
}

gboolean
fl_claude_stream_has_result(FlClaudeStream *self)
{
	g_return_val_if_fail(self != NULL, FALSE);
	return self->has_result;
}

gboolean
fl_claude_stream_get_is_error(FlClaudeStream *self)
{
	g_return_val_if_fail(self != NULL, FALSE);
	return self->is_error;
}

const gchar *
fl_claude_stream_get_subtype(FlClaudeStream *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->subtype;
}

const gchar *
fl_claude_stream_get_terminal_reason(FlClaudeStream *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->terminal_reason;
}

const gchar *
fl_claude_stream_get_result_text(FlClaudeStream *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->result_text;
}

const gchar *
fl_claude_stream_get_deferred_tool(FlClaudeStream *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->deferred_tool;
}

FlClaudeOutcome
fl_claude_stream_get_outcome(FlClaudeStream *self)
{
	g_return_val_if_fail(self != NULL, FL_CLAUDE_OUTCOME_NONE);
	return self->outcome;
}

const gchar *
fl_claude_stream_get_reason(FlClaudeStream *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->reason;
}

const gchar *
fl_claude_stream_get_reason_stored(FlClaudeStream *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->reason_stored;
}

/* ------------------------------------------------------------------ hooks */

struct _FlClaudeHook {
	FlClaudeHookKind kind;
	gchar *event;
	gchar *session_id;
	gchar *message;
	gchar *notification_type;
	gchar *tool_name;
	gchar *tool_description;
	gchar *error;
	gchar *summary;
	gboolean has_background_work;
};

void
fl_claude_hook_free(FlClaudeHook *self)
{
	if (self == NULL)
		return;
	g_free(self->event);
	g_free(self->session_id);
	g_free(self->message);
	g_free(self->notification_type);
	g_free(self->tool_name);
	g_free(self->tool_description);
	g_free(self->error);
	g_free(self->summary);
	g_free(self);
}

static FlClaudeHookKind
fl_agent_claude_hook_kind_from_event(const gchar *event)
{
	if (g_strcmp0(event, "Notification") == 0)
		return FL_CLAUDE_HOOK_NOTIFICATION;
	if (g_strcmp0(event, "PermissionRequest") == 0)
		return FL_CLAUDE_HOOK_PERMISSION_REQUEST;
	if (g_strcmp0(event, "Stop") == 0)
		return FL_CLAUDE_HOOK_STOP;
	if (g_strcmp0(event, "StopFailure") == 0)
		return FL_CLAUDE_HOOK_STOP_FAILURE;
	return FL_CLAUDE_HOOK_OTHER;
}

/* the field of a tool's input that says what it would do, for any of Claude's tools: Bash's
 * command, Write's file_path, WebFetch's url, Grep's pattern… */
static gchar *
fl_agent_claude_describe_tool_input(JsonNode *input)
{
	static const gchar *const keys[] = {"command", "file_path", "notebook_path", "path",  "url",
					    "query",   "pattern",   "description",   "prompt"};
	g_autofree gchar *compact = NULL;

	if (input == NULL)
		return NULL;
	if (JSON_NODE_HOLDS_OBJECT(input)) {
		JsonObject *obj = json_node_get_object(input);
		for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
			const gchar *value = fl_json_get_string(obj, keys[i]);
			gchar *line = fl_jsonl_one_line(value, -1, FALSE, FL_CLAUDE_TOOL_MAX_CHARS);
			if (line != NULL)
				return line;
		}
	}
	compact = json_to_string(input, FALSE);
	return fl_jsonl_one_line(compact, -1, FALSE, FL_CLAUDE_TOOL_MAX_CHARS);
}

static gchar *
fl_agent_claude_hook_make_summary(FlClaudeHook *self)
{
	g_autofree gchar *first = NULL;

	switch (self->kind) {
	case FL_CLAUDE_HOOK_PERMISSION_REQUEST:
		if (self->tool_description != NULL)
			return g_strdup_printf(_("asks to use %s: %s"), self->tool_name,
					       self->tool_description);
		return g_strdup_printf(_("asks to use %s"), self->tool_name);
	case FL_CLAUDE_HOOK_NOTIFICATION:
		first = fl_jsonl_one_line(self->message, -1, FALSE, FL_CLAUDE_LINE_MAX_CHARS);
		if (first != NULL)
			return g_steal_pointer(&first);
		return g_strdup(self->notification_type != NULL ? self->notification_type
								: self->event);
	case FL_CLAUDE_HOOK_STOP:
		first = fl_jsonl_one_line(self->message, -1, TRUE, FL_CLAUDE_LINE_MAX_CHARS);
		return first != NULL ? g_steal_pointer(&first) : g_strdup(_("finished a turn"));
	case FL_CLAUDE_HOOK_STOP_FAILURE:
		first = fl_jsonl_one_line(self->message, -1, TRUE, FL_CLAUDE_LINE_MAX_CHARS);
		if (first != NULL)
			return g_steal_pointer(&first);
		return g_strdup_printf(_("failed: %s"),
				       self->error != NULL ? self->error : "unknown");
	case FL_CLAUDE_HOOK_OTHER:
	default:
		return g_strdup(self->event);
	}
}

FlClaudeHook *
fl_claude_hook_parse(const gchar *json, GError **error)
{
	g_autoptr(FlClaudeHook) self = NULL;
	g_autoptr(JsonParser) parser = NULL;
	g_autoptr(GError) error_local = NULL;
	gsize len;
	JsonNode *root;
	JsonObject *obj;
	const gchar *event;
	const gchar *session_id;

	g_return_val_if_fail(json != NULL, NULL);

	len = strnlen(json, FL_CLAUDE_HOOK_MAX_SIZE + 1);
	if (len > FL_CLAUDE_HOOK_MAX_SIZE) {
		fl_set_error(error, FL_ERROR_LIMIT_EXCEEDED,
			     N_("Claude hook payload is larger than %u MiB"),
			     (guint)(FL_CLAUDE_HOOK_MAX_SIZE / (1024 * 1024)));
		return NULL;
	}
	if (!g_utf8_validate_len(json, len, NULL)) {
		fl_set_error_literal(error, FL_ERROR_INVALID_ARGUMENT,
				     N_("Claude hook payload is not valid UTF-8"));
		return NULL;
	}
	parser = json_parser_new_immutable();
	if (!json_parser_load_from_data(parser, json, (gssize)len, &error_local)) {
		fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
			     N_("Claude hook payload is not valid JSON: %s"), error_local->message);
		return NULL;
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		fl_set_error_literal(error, FL_ERROR_INVALID_ARGUMENT,
				     N_("Claude hook payload is not a JSON object"));
		return NULL;
	}
	obj = json_node_get_object(root);
	event = fl_json_get_string(obj, "hook_event_name");
	if (event == NULL || event[0] == '\0') {
		fl_set_error_literal(error, FL_ERROR_INVALID_ARGUMENT,
				     N_("Claude hook payload has no hook_event_name"));
		return NULL;
	}
	session_id = fl_json_get_string(obj, "session_id");
	if (session_id == NULL || session_id[0] == '\0') {
		fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
			     N_("Claude %s hook payload has no session_id"), event);
		return NULL;
	}

	self = g_new0(FlClaudeHook, 1);
	self->event = g_strdup(event);
	self->session_id = g_strdup(session_id);
	self->kind = fl_agent_claude_hook_kind_from_event(event);
	switch (self->kind) {
	case FL_CLAUDE_HOOK_NOTIFICATION:
		self->message = g_strdup(fl_json_get_string(obj, "message"));
		self->notification_type = g_strdup(fl_json_get_string(obj, "notification_type"));
		break;
	case FL_CLAUDE_HOOK_PERMISSION_REQUEST:
		self->tool_name = g_strdup(fl_json_get_string(obj, "tool_name"));
		if (self->tool_name == NULL || self->tool_name[0] == '\0') {
			fl_set_error_literal(error, FL_ERROR_INVALID_ARGUMENT,
					     N_("Claude PermissionRequest hook payload has no "
						"tool_name"));
			return NULL;
		}
		self->tool_description = fl_agent_claude_describe_tool_input(
			json_object_get_member(obj, "tool_input"));
		break;
	case FL_CLAUDE_HOOK_STOP: {
		JsonArray *tasks = fl_agent_claude_json_array(obj, "background_tasks");
		JsonArray *crons = fl_agent_claude_json_array(obj, "session_crons");
		self->message = g_strdup(fl_json_get_string(obj, "last_assistant_message"));
		self->has_background_work = (tasks != NULL && json_array_get_length(tasks) > 0) ||
					    (crons != NULL && json_array_get_length(crons) > 0);
		break;
	}
	case FL_CLAUDE_HOOK_STOP_FAILURE:
		self->message = g_strdup(fl_json_get_string(obj, "last_assistant_message"));
		self->error = g_strdup(fl_json_get_string(obj, "error"));
		break;
	case FL_CLAUDE_HOOK_OTHER:
	default:
		break;
	}
	self->summary = fl_agent_claude_hook_make_summary(self);
	return g_steal_pointer(&self);
}

FlClaudeHookKind
fl_claude_hook_get_kind(FlClaudeHook *self)
{
	g_return_val_if_fail(self != NULL, FL_CLAUDE_HOOK_OTHER);
	return self->kind;
}

const gchar *
fl_claude_hook_get_event(FlClaudeHook *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->event;
}

const gchar *
fl_claude_hook_get_session_id(FlClaudeHook *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->session_id;
}

const gchar *
fl_claude_hook_get_message(FlClaudeHook *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->message;
}

const gchar *
fl_claude_hook_get_notification_type(FlClaudeHook *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->notification_type;
}

const gchar *
fl_claude_hook_get_tool_name(FlClaudeHook *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->tool_name;
}

const gchar *
fl_claude_hook_get_tool_description(FlClaudeHook *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->tool_description;
}

const gchar *
fl_claude_hook_get_error(FlClaudeHook *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->error;
}

gboolean
fl_claude_hook_get_has_background_work(FlClaudeHook *self)
{
	g_return_val_if_fail(self != NULL, FALSE);
	return self->has_background_work;
}

const gchar *
fl_claude_hook_get_summary(FlClaudeHook *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->summary;
}

gchar *
fl_claude_hook_response(FlClaudeHook *self, gboolean allow, const gchar *message)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) root = NULL;

	g_return_val_if_fail(self != NULL, NULL);
	g_return_val_if_fail(self->kind == FL_CLAUDE_HOOK_PERMISSION_REQUEST, NULL);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "hookSpecificOutput");
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "hookEventName");
	json_builder_add_string_value(builder, "PermissionRequest");
	json_builder_set_member_name(builder, "decision");
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "behavior");
	json_builder_add_string_value(builder, allow ? "allow" : "deny");
	if (!allow) {
		/* Claude hands this to the model as the tool's result */
		json_builder_set_member_name(builder, "message");
		json_builder_add_string_value(builder, message != NULL && message[0] != '\0'
							       ? message
							       : _("The user denied this."));
	}
	json_builder_end_object(builder);
	json_builder_end_object(builder);
	json_builder_end_object(builder);
	root = json_builder_get_root(builder);
	return json_to_string(root, FALSE);
}

/* ------------------------------------------------------------------ the agent kind */

static const gchar *const fl_agent_claude_command[] = {"claude", NULL};

static const FlAgentPreset fl_agent_claude_presets[] = {
	{"claude", fl_agent_claude_command},
	{NULL, NULL},
};

/* its login, settings and session store (resume needs it); Claude rewrites ~/.claude.json
 * (account and project state) on every run, so both are written */
static const gchar *const fl_agent_claude_home_rw[] = {".claude/", ".claude.json", NULL};
/* Claude refuses to skip permission prompts as root unless told it is in a sandbox, which
 * it then is */
static const gchar *const fl_agent_claude_sandbox_env[] = {"IS_SANDBOX=1", NULL};

/* run --budget covers all of a session's runs: a resumed one may spend what is left of it,
 * and one that spent it all gets a cent, so that Claude stops at once and says why */
static gdouble
fl_agent_claude_budget_left(const FlSessionData *d)
{
	if (d->budget_usd <= 0)
		return -1;
	if (d->cost_usd <= 0)
		return d->budget_usd;
	return MAX(d->budget_usd - d->cost_usd, 0.01);
}

/* claude -p with flotilla's hooks, a session id we chose, resumed with the user's reply */
static gchar **
fl_agent_claude_class_build_argv(const FlAgentRun *run, GError **error)
{
	g_autofree gchar *settings = fl_agent_run_file(run, "claude-settings.json");
	gchar **argv;

	if (run->data->agent_session == NULL)
		run->data->agent_session = g_uuid_string_random();
	if (!fl_agent_claude_write_settings(settings, run->cli_path, error))
		return NULL;
	argv = fl_agent_claude_build_argv((const gchar *const *)run->agent->command,
					  run->data->goal, run->data->agent_session, settings,
					  run->resume_reply,
					  fl_agent_claude_budget_left(run->data));
	/*
	 * Inside the sandbox the fence is the sandbox, so Claude acts without asking and a
	 * session blocks only on a real question; unconfined, edits only. [agent]
	 * permission-mode= chooses otherwise.
	 */
	for (guint i = 0; argv[i] != NULL && argv[i + 1] != NULL; i++) {
		if (g_strcmp0(argv[i], "--permission-mode") != 0)
			continue;
		g_free(argv[i + 1]);
		argv[i + 1] =
			g_strdup(run->agent->permission_mode != NULL ? run->agent->permission_mode
				 : run->confined ? FL_AGENT_CLAUDE_PERMISSION_MODE_CONFINED
						 : FL_AGENT_CLAUDE_PERMISSION_MODE);
		break;
	}
	return argv;
}

static gpointer
fl_agent_claude_live_new(void)
{
	return fl_claude_stream_new();
}

/* turns and cost as they change, while the session runs */
static gboolean
fl_agent_claude_live_feed(gpointer live, const gchar *buf, gsize len, FlSessionData *data,
			  gboolean *changed)
{
	FlClaudeStream *stream = live;
	guint turns;
	gdouble cost;

	if (!fl_claude_stream_feed(stream, buf, len, NULL))
		return FALSE;
	turns = fl_claude_stream_get_num_turns(stream);
	cost = fl_claude_stream_get_cost_usd(stream);
	if (turns != data->turns || (cost > 0 && cost != data->cost_usd)) {
		data->turns = turns;
		if (cost > 0)
			data->cost_usd = cost;
		*changed = TRUE;
	}
	return TRUE;
}

/* Claude's stream-json decides done vs failed and carries cost, turns, final message */
static void
fl_agent_claude_read_outcome(const FlAgentRun *run, FlState *end_state)
{
	g_autoptr(FlClaudeStream) stream = fl_claude_stream_new();
	g_autoptr(GError) error = NULL;
	FlSessionData *d = run->data;

	/* a resumed session's log holds every run: the last result is the one that counts */
	if (!fl_agent_feed_log(run, (FlAgentFeedFunc)fl_claude_stream_feed, stream, &error))
		return;
	if (error == NULL)
		fl_claude_stream_finish(stream, &error);
	if (fl_claude_stream_get_cost_usd(stream) > 0)
		d->cost_usd = fl_claude_stream_get_cost_usd(stream);
	d->turns = fl_claude_stream_get_num_turns(stream);
	fl_agent_set_final_message(d, fl_claude_stream_get_result_text(stream));
	if (*end_state == FL_STATE_CANCELLED || *end_state == FL_STATE_INTERRUPTED)
		return;
	g_clear_pointer(&d->reason, g_free);
	if (error != NULL) {
		/* our own parse errors are messages too: in the reader's language */
		g_autofree gchar *inner = fl_error_serialize(error);

		*end_state = FL_STATE_FAILED;
		d->reason = fl_msg_stored(N_("Claude's output: %s"), inner);
	} else if (fl_claude_stream_get_outcome(stream) == FL_CLAUDE_OUTCOME_SUCCEEDED) {
		*end_state = FL_STATE_DONE;
	} else {
		*end_state = FL_STATE_FAILED;
		d->reason = g_strdup(fl_claude_stream_get_reason_stored(stream));
	}
}

FL_AGENT_DECLARE_CLASS(claude);

/* a permission request waits for the user; a notification goes to the audit trail */
static gboolean
fl_agent_claude_hook(const gchar *payload, FlAgentHookResult *result, GError **error)
{
	g_autoptr(FlClaudeHook) hook = fl_claude_hook_parse(payload, error);

	if (hook == NULL)
		return FALSE;
	switch (fl_claude_hook_get_kind(hook)) {
	case FL_CLAUDE_HOOK_PERMISSION_REQUEST:
		result->asks = g_strdup_printf(_("permission: %s"),
					       fl_claude_hook_get_tool_description(hook) != NULL
						       ? fl_claude_hook_get_tool_description(hook)
						       : fl_claude_hook_get_tool_name(hook));
		result->permission =
			fl_agent_permission_new(&fl_agent_claude_class, g_steal_pointer(&hook));
		break;
	case FL_CLAUDE_HOOK_NOTIFICATION:
		result->notice = g_strdup(fl_claude_hook_get_message(hook));
		break;
	default:
		break;
	}
	return TRUE;
}

static gchar *
fl_agent_claude_permission_respond(gpointer request, gboolean allow, const gchar *message)
{
	return fl_claude_hook_response(request, allow, message);
}

FL_AGENT_DEFINE_CLASS(claude) = {
	.kind = "claude",
	.runs_command = TRUE,
	.presets = fl_agent_claude_presets,
	.default_command = fl_agent_claude_command,
	.home_rw = fl_agent_claude_home_rw,
	.needs_network = TRUE,
	.sandbox_env = fl_agent_claude_sandbox_env,
	.build_argv = fl_agent_claude_class_build_argv,
	.live_new = fl_agent_claude_live_new,
	.live_feed = fl_agent_claude_live_feed,
	.live_free = (GDestroyNotify)fl_claude_stream_free,
	.read_outcome = fl_agent_claude_read_outcome,
	.hook = fl_agent_claude_hook,
	.permission_respond = fl_agent_claude_permission_respond,
	.permission_free = (GDestroyNotify)fl_claude_hook_free,
};
