/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "fl-agent.h"
#include "fl-error.h"
#include "fl-i18n.h"
#include "fl-jsonl.h"
#include "fl-msg.h"
#include "fl-util.h"

/*
 * kind=gemini: Google's Gemini CLI (npm @google/gemini-cli), run headless as
 *   gemini [USER FLAGS] --skip-trust --output-format stream-json --approval-mode auto_edit
 *          --session-id UUID --prompt=GOAL
 * and resumed with --resume UUID --prompt=REPLY. The whole kind is this file and its line in
 * the registry (fl-agent.c).
 *
 * Verified against the real CLI, @google/gemini-cli 0.61.0, talking to a loopback Gemini API
 * double (tests/test-gemini.c, tests/doubles/gemini-double.py):
 *  - stream-json is one JSON object per line: init {session_id, model}, message {role,
 *    content, delta}, tool_use, tool_result, error {severity, message} (warnings too) and a
 *    last result {status "success" or "error", error {type, message}, stats {input_tokens,
 *    output_tokens, models {NAME: {input_tokens, output_tokens}}}};
 *  - an assistant answer streams as message events with delta true, to be concatenated;
 *  - headless runs refuse an untrusted directory (exit 55): every worktree is new, so flotilla
 *    passes --skip-trust; the prompt goes as one --prompt=TEXT element so a goal starting
 *    with '-' is never an option;
 *  - tools that need a confirmation are refused in headless mode: auto_edit lets it edit
 *    files (like Claude's acceptEdits), a command= of the user's with --approval-mode or
 *    --yolo decides instead;
 *  - --session-id takes a UUID chosen up front, so a run that dies before its init event can
 *    still be resumed; sessions are stored per working directory under ~/.gemini.
 */

/* the longest stream-json line accepted; the CLI's own lines stay far below */
#define FL_AGENT_GEMINI_MAX_LINE (8 * 1024 * 1024)

static const gchar *const fl_agent_gemini_command[] = {"gemini", NULL};

static const FlAgentPreset fl_agent_gemini_presets[] = {
	{"gemini", fl_agent_gemini_command},
	{NULL, NULL},
};

/* settings, login and the per-project session store that --resume reads */
static const gchar *const fl_agent_gemini_home_rw[] = {".gemini/", NULL};

/* ------------------------------------------------------------------ stream-json */

typedef struct {
	FlJsonlReader *reader; /* (owned) */
	GString *answer;       /* the assistant's text since the last tool call or result */
	gboolean in_answer;    /* the model is speaking: the next tool result ends a turn */
	guint turns;           /* stretches of model output */
	gboolean has_result;   /* the last result event came */
	gboolean succeeded;    /* its status was "success" */
	gchar *failure;        /* (nullable) its error message */
	gchar *last_error;     /* (nullable) the last error event of severity "error" */
	/* (element-type JsonObject) stats.models of every result: each run reports its own
	 * tokens, so a resumed session costs the sum */
	GPtrArray *models;
} FlAgentGeminiStream;

static void
fl_agent_gemini_stream_free(FlAgentGeminiStream *self)
{
	if (self == NULL)
		return;
	fl_jsonl_reader_free(self->reader);
	g_string_free(self->answer, TRUE);
	g_free(self->failure);
	g_free(self->last_error);
	g_ptr_array_unref(self->models);
	g_free(self);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlAgentGeminiStream, fl_agent_gemini_stream_free)

static JsonObject *
fl_agent_gemini_object(JsonObject *obj, const gchar *name)
{
	JsonNode *node = json_object_get_member(obj, name);

	return node != NULL && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
}

static void
fl_agent_gemini_replace(gchar **field, const gchar *value)
{
	g_free(*field);
	*field = g_strdup(value);
}

/* model output (text or a tool call) after anything else starts a turn */
static void
fl_agent_gemini_stream_model_speaks(FlAgentGeminiStream *self)
{
	if (!self->in_answer)
		self->turns++;
	self->in_answer = TRUE;
}

/*
 * One line saying what went wrong. An API error arrives as "[API Error: {JSON body}]": the
 * body's own message says it best.
 */
static gchar *
fl_agent_gemini_error_line(const gchar *message)
{
	const gchar *brace = message != NULL ? strchr(message, '{') : NULL;
	const gchar *end = message != NULL ? strrchr(message, '}') : NULL;

	if (brace != NULL && end != NULL && end > brace) {
		g_autoptr(JsonParser) parser = json_parser_new_immutable();

		if (json_parser_load_from_data(parser, brace, end - brace + 1, NULL)) {
			JsonNode *root = json_parser_get_root(parser);
			JsonObject *obj = root != NULL && JSON_NODE_HOLDS_OBJECT(root)
						  ? json_node_get_object(root)
						  : NULL;
			JsonObject *inner =
				obj != NULL ? fl_agent_gemini_object(obj, "error") : NULL;
			g_autofree gchar *line = fl_jsonl_one_line(
				fl_json_get_string(inner != NULL ? inner : obj, "message"), -1,
				TRUE, FL_JSONL_LINE_MAX_CHARS);

			if (line != NULL)
				return g_steal_pointer(&line);
		}
	}
	return fl_jsonl_one_line(message, -1, TRUE, FL_JSONL_LINE_MAX_CHARS);
}

static void
fl_agent_gemini_stream_take_result(FlAgentGeminiStream *self, JsonObject *obj)
{
	JsonObject *stats = fl_agent_gemini_object(obj, "stats");
	JsonObject *error = fl_agent_gemini_object(obj, "error");
	JsonObject *models = stats != NULL ? fl_agent_gemini_object(stats, "models") : NULL;

	/* a resumed session's log holds every run: the last result decides */
	self->has_result = TRUE;
	self->succeeded = g_strcmp0(fl_json_get_string(obj, "status"), "success") == 0;
	g_clear_pointer(&self->failure, g_free);
	if (!self->succeeded)
		self->failure = fl_agent_gemini_error_line(fl_json_get_string(error, "message"));
	if (models != NULL)
		g_ptr_array_add(self->models, json_object_ref(models));
}

static void
fl_agent_gemini_stream_take_event(JsonObject *obj, gpointer user_data)
{
	FlAgentGeminiStream *self = user_data;
	const gchar *type = fl_json_get_string(obj, "type");

	if (g_strcmp0(type, "init") == 0) {
		/* a new run (a resumed session's log holds them all) */
		self->in_answer = FALSE;
	} else if (g_strcmp0(type, "message") == 0) {
		const gchar *content = fl_json_get_string(obj, "content");

		if (g_strcmp0(fl_json_get_string(obj, "role"), "assistant") != 0) {
			self->in_answer = FALSE;
			g_string_truncate(self->answer, 0);
			return;
		}
		fl_agent_gemini_stream_model_speaks(self);
		if (content != NULL)
			g_string_append(self->answer, content);
	} else if (g_strcmp0(type, "tool_use") == 0) {
		fl_agent_gemini_stream_model_speaks(self);
		/* the words before a tool call are not the final answer */
		g_string_truncate(self->answer, 0);
	} else if (g_strcmp0(type, "tool_result") == 0) {
		self->in_answer = FALSE;
	} else if (g_strcmp0(type, "error") == 0) {
		if (g_strcmp0(fl_json_get_string(obj, "severity"), "error") == 0) {
			g_autofree gchar *line =
				fl_agent_gemini_error_line(fl_json_get_string(obj, "message"));
			if (line != NULL)
				fl_agent_gemini_replace(&self->last_error, line);
		}
	} else if (g_strcmp0(type, "result") == 0) {
		fl_agent_gemini_stream_take_result(self, obj);
	}
}

static FlAgentGeminiStream *
fl_agent_gemini_stream_new(void)
{
	FlAgentGeminiStream *self = g_new0(FlAgentGeminiStream, 1);

	self->reader = fl_jsonl_reader_new("Gemini", FL_AGENT_GEMINI_MAX_LINE,
					   fl_agent_gemini_stream_take_event, self);
	self->answer = g_string_new(NULL);
	self->models = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);
	return self;
}

static gboolean
fl_agent_gemini_stream_feed(FlAgentGeminiStream *self, const gchar *data, gsize len, GError **error)
{
	return fl_jsonl_reader_feed(self->reader, data, len, error);
}

/* the cost of every run's per-model tokens by [prices]; -1 unless every model has a price */
static gdouble
fl_agent_gemini_stream_cost(FlAgentGeminiStream *self, const FlConfig *config)
{
	gdouble total = 0;
	gboolean any = FALSE;

	for (guint i = 0; i < self->models->len; i++) {
		JsonObject *models = g_ptr_array_index(self->models, i);
		g_autoptr(GList) names = json_object_get_members(models);

		for (GList *l = names; l != NULL; l = l->next) {
			JsonObject *model = fl_agent_gemini_object(models, l->data);
			guint in = 0;
			guint out = 0;
			gdouble cost;

			fl_json_get_uint(model, "input_tokens", &in);
			fl_json_get_uint(model, "output_tokens", &out);
			cost = fl_config_get_cost(config, l->data, in, out);
			if (cost < 0)
				return -1;
			total += cost;
			any = TRUE;
		}
	}
	return any ? total : -1;
}

/* ------------------------------------------------------------------ the agent kind */

static gboolean
fl_agent_gemini_user_decides_approval(const gchar *const *command)
{
	for (guint i = 0; command != NULL && command[i] != NULL; i++) {
		if (g_str_has_prefix(command[i], "--approval-mode") ||
		    g_strcmp0(command[i], "--yolo") == 0 || g_strcmp0(command[i], "-y") == 0)
			return TRUE;
	}
	return FALSE;
}

static gchar **
fl_agent_gemini_build_argv(const FlAgentRun *run, GError **error)
{
	const gchar *const *command = (const gchar *const *)run->agent->command;
	g_autoptr(GStrvBuilder) argv = g_strv_builder_new();
	g_autofree gchar *prompt = NULL;

	if (command == NULL || command[0] == NULL)
		command = fl_agent_gemini_command;
	/* chosen before the first run: a run that dies early can still be resumed */
	if (run->data->agent_session == NULL)
		run->data->agent_session = g_uuid_string_random();
	g_strv_builder_addv(argv, (const gchar **)command);
	g_strv_builder_add_many(argv, "--skip-trust", "--output-format", "stream-json", NULL);
	if (!fl_agent_gemini_user_decides_approval(command))
		g_strv_builder_add_many(argv, "--approval-mode", "auto_edit", NULL);
	g_strv_builder_add(argv, run->resume_reply != NULL ? "--resume" : "--session-id");
	g_strv_builder_add(argv, run->data->agent_session);
	/* one element: even "-rf" or "--help" is only text */
	prompt = g_strconcat(
		"--prompt=", run->resume_reply != NULL ? run->resume_reply : run->data->goal, NULL);
	g_strv_builder_add(argv, prompt);
	return g_strv_builder_end(argv);
}

static gpointer
fl_agent_gemini_live_new(void)
{
	return fl_agent_gemini_stream_new();
}

static gboolean
fl_agent_gemini_live_feed(gpointer live, const gchar *buf, gsize len, FlSessionData *data,
			  gboolean *changed)
{
	FlAgentGeminiStream *stream = live;

	if (!fl_agent_gemini_stream_feed(stream, buf, len, NULL))
		return FALSE;
	if (stream->turns != data->turns) {
		data->turns = stream->turns;
		*changed = TRUE;
	}
	return TRUE;
}

static void
fl_agent_gemini_read_outcome(const FlAgentRun *run, FlState *end_state)
{
	g_autoptr(FlAgentGeminiStream) stream = fl_agent_gemini_stream_new();
	g_autoptr(GError) error = NULL;
	FlSessionData *d = run->data;

	if (!fl_agent_feed_log(run, (FlAgentFeedFunc)fl_agent_gemini_stream_feed, stream, &error))
		return;
	if (error == NULL)
		fl_jsonl_reader_finish(stream->reader, &error);
	d->turns = stream->turns;
	if (stream->answer->len > 0)
		fl_agent_set_final_message(d, stream->answer->str);
	if (stream->has_result)
		d->cost_usd = fl_agent_gemini_stream_cost(stream, run->config);
	if (*end_state == FL_STATE_CANCELLED || *end_state == FL_STATE_INTERRUPTED)
		return;
	g_clear_pointer(&d->reason, g_free);
	if (error != NULL) {
		/* our own parse errors are messages too: in the reader's language */
		g_autofree gchar *inner = fl_error_serialize(error);

		*end_state = FL_STATE_FAILED;
		d->reason = fl_msg_stored(N_("Gemini's output: %s"), inner);
	} else if (!stream->has_result) {
		const gchar *last = stream->last_error != NULL
					    ? stream->last_error
					    : fl_jsonl_reader_get_last_noise(stream->reader);
		*end_state = FL_STATE_FAILED;
		d->reason = last != NULL ? fl_msg_stored(N_("Gemini ended without a result (last "
							    "output: %s)"),
							 last)
					 : fl_msg_stored(N_("Gemini ended without a result"));
	} else if (stream->succeeded) {
		*end_state = FL_STATE_DONE;
	} else {
		*end_state = FL_STATE_FAILED;
		/* Gemini's own words, or ours */
		d->reason = stream->failure != NULL ? fl_msg_stored_literal(stream->failure)
						    : fl_msg_stored(N_("Gemini failed"));
	}
}

FL_AGENT_DEFINE_CLASS(gemini) = {
	.kind = "gemini",
	.presets = fl_agent_gemini_presets,
	.default_command = fl_agent_gemini_command,
	.home_rw = fl_agent_gemini_home_rw,
	.needs_network = TRUE,
	.build_argv = fl_agent_gemini_build_argv,
	.live_new = fl_agent_gemini_live_new,
	.live_feed = fl_agent_gemini_live_feed,
	.live_free = (GDestroyNotify)fl_agent_gemini_stream_free,
	.read_outcome = fl_agent_gemini_read_outcome,
};
