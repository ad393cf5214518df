/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-agent-http.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "fl-agent.h"
#include "fl-error.h"
#include "fl-i18n.h"
#include "fl-msg.h"
#include "fl-safe-path.h"
#include "fl-text.h"
#include "fl-util.h"

/* what flotilla-http asks for when the agent sets no max-tokens (fl-llm.c) */
#define FL_AGENT_HTTP_DEFAULT_MAX_TOKENS 4096
/* tokens of the request around the goal (roles, the system prompt), over-counted */
#define FL_AGENT_HTTP_PROMPT_OVERHEAD 1024

/* ------------------------------------------------------------------ the contract */

void
fl_agent_http_request_free(FlAgentHttpRequest *request)
{
	if (request == NULL)
		return;
	g_free(request->agent);
	g_free(request->api);
	g_free(request->url);
	g_free(request->model);
	g_free(request->api_key_env);
	g_free(request->goal);
	g_free(request->output);
	g_free(request->result);
	g_free(request);
}

void
fl_agent_http_result_free(FlAgentHttpResult *result)
{
	if (result == NULL)
		return;
	g_free(result->model);
	g_free(result->stop_reason);
	g_free(result->text);
	g_free(result->error);
	g_free(result);
}

static void
fl_agent_http_add_string(JsonBuilder *builder, const gchar *name, const gchar *value)
{
	if (value == NULL)
		return;
	json_builder_set_member_name(builder, name);
	json_builder_add_string_value(builder, value);
}

static void
fl_agent_http_add_uint(JsonBuilder *builder, const gchar *name, guint value)
{
	json_builder_set_member_name(builder, name);
	json_builder_add_int_value(builder, value);
}

static gchar *
fl_agent_http_to_data(JsonBuilder *builder)
{
	g_autoptr(JsonGenerator) generator = json_generator_new();
	g_autoptr(JsonNode) root = NULL;

	json_builder_end_object(builder);
	root = json_builder_get_root(builder);
	json_generator_set_root(generator, root);
	return json_generator_to_data(generator, NULL);
}

static gchar *
fl_agent_http_dup(JsonObject *obj, const gchar *name)
{
	return g_strdup(fl_json_get_string(obj, name));
}

gboolean
fl_agent_http_request_write(const FlAgentHttpRequest *request, const gchar *path, GError **error)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autofree gchar *json = NULL;
	g_autofree gchar *dir = NULL;
	g_autofree gchar *name = NULL;

	g_return_val_if_fail(request != NULL, FALSE);
	g_return_val_if_fail(path != NULL, FALSE);

	json_builder_begin_object(builder);
	fl_agent_http_add_uint(builder, FL_AGENT_HTTP_KEY_VERSION, 1);
	fl_agent_http_add_string(builder, FL_AGENT_HTTP_KEY_AGENT, request->agent);
	fl_agent_http_add_string(builder, FL_AGENT_HTTP_KEY_API, request->api);
	fl_agent_http_add_string(builder, FL_AGENT_HTTP_KEY_URL, request->url);
	fl_agent_http_add_string(builder, FL_AGENT_HTTP_KEY_MODEL, request->model);
	fl_agent_http_add_uint(builder, FL_AGENT_HTTP_KEY_MAX_TOKENS, request->max_tokens);
	fl_agent_http_add_string(builder, FL_AGENT_HTTP_KEY_API_KEY_ENV, request->api_key_env);
	fl_agent_http_add_string(builder, FL_AGENT_HTTP_KEY_GOAL, request->goal);
	fl_agent_http_add_string(builder, FL_AGENT_HTTP_KEY_OUTPUT, request->output);
	fl_agent_http_add_string(builder, FL_AGENT_HTTP_KEY_RESULT, request->result);
	json = fl_agent_http_to_data(builder);
	dir = g_path_get_dirname(path);
	name = g_path_get_basename(path);
	/* the goal may be private: 0600 like the log; never through a link planted there; no
	 * fsync on the main loop for a file read at once */
	return fl_safe_write_file(dir, name, json, -1, 0600, FALSE, FALSE, error);
}

FlAgentHttpRequest *
fl_agent_http_request_read(const gchar *path, GError **error)
{
	g_autoptr(JsonObject) obj = fl_read_json_object(path, error);
	g_autoptr(FlAgentHttpRequest) request = NULL;

	if (obj == NULL)
		return NULL;
	request = g_new0(FlAgentHttpRequest, 1);
	request->agent = fl_agent_http_dup(obj, FL_AGENT_HTTP_KEY_AGENT);
	request->api = fl_agent_http_dup(obj, FL_AGENT_HTTP_KEY_API);
	request->url = fl_agent_http_dup(obj, FL_AGENT_HTTP_KEY_URL);
	request->model = fl_agent_http_dup(obj, FL_AGENT_HTTP_KEY_MODEL);
	fl_json_get_uint(obj, FL_AGENT_HTTP_KEY_MAX_TOKENS, &request->max_tokens);
	request->api_key_env = fl_agent_http_dup(obj, FL_AGENT_HTTP_KEY_API_KEY_ENV);
	request->goal = fl_agent_http_dup(obj, FL_AGENT_HTTP_KEY_GOAL);
	request->output = fl_agent_http_dup(obj, FL_AGENT_HTTP_KEY_OUTPUT);
	request->result = fl_agent_http_dup(obj, FL_AGENT_HTTP_KEY_RESULT);
	if (request->url == NULL || request->model == NULL || request->goal == NULL ||
	    request->result == NULL) {
		fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
			     N_("%s is not a complete HTTP agent request"), path);
		return NULL;
	}
	return g_steal_pointer(&request);
}

gboolean
fl_agent_http_result_write(const FlAgentHttpResult *result, const gchar *path, GError **error)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autofree gchar *json = NULL;

	g_return_val_if_fail(result != NULL, FALSE);
	g_return_val_if_fail(path != NULL, FALSE);

	json_builder_begin_object(builder);
	fl_agent_http_add_uint(builder, FL_AGENT_HTTP_KEY_VERSION, 1);
	if (result->text != NULL) {
		fl_agent_http_add_string(builder, FL_AGENT_HTTP_KEY_MODEL, result->model);
		fl_agent_http_add_uint(builder, FL_AGENT_HTTP_KEY_INPUT_TOKENS,
				       result->input_tokens);
		fl_agent_http_add_uint(builder, FL_AGENT_HTTP_KEY_OUTPUT_TOKENS,
				       result->output_tokens);
		fl_agent_http_add_string(builder, FL_AGENT_HTTP_KEY_STOP_REASON,
					 result->stop_reason);
		fl_agent_http_add_uint(builder, FL_AGENT_HTTP_KEY_ATTEMPTS, result->attempts);
		fl_agent_http_add_string(builder, FL_AGENT_HTTP_KEY_TEXT, result->text);
	}
	if (result->error != NULL) {
		g_autofree gchar *line = fl_text_clean(result->error, -1, FL_TEXT_NONE);

		fl_agent_http_add_string(builder, FL_AGENT_HTTP_KEY_ERROR, line);
	}
	json = fl_agent_http_to_data(builder);
	return fl_write_file_durable(path, json, -1, error);
}

FlAgentHttpResult *
fl_agent_http_result_read(const gchar *path, GError **error)
{
	g_autoptr(JsonObject) obj = fl_read_json_object(path, error);
	FlAgentHttpResult *result;

	if (obj == NULL)
		return NULL;
	result = g_new0(FlAgentHttpResult, 1);
	result->model = fl_agent_http_dup(obj, FL_AGENT_HTTP_KEY_MODEL);
	fl_json_get_uint(obj, FL_AGENT_HTTP_KEY_INPUT_TOKENS, &result->input_tokens);
	fl_json_get_uint(obj, FL_AGENT_HTTP_KEY_OUTPUT_TOKENS, &result->output_tokens);
	result->stop_reason = fl_agent_http_dup(obj, FL_AGENT_HTTP_KEY_STOP_REASON);
	fl_json_get_uint(obj, FL_AGENT_HTTP_KEY_ATTEMPTS, &result->attempts);
	result->text = fl_agent_http_dup(obj, FL_AGENT_HTTP_KEY_TEXT);
	result->error = fl_agent_http_dup(obj, FL_AGENT_HTTP_KEY_ERROR);
	return result;
}

/* ------------------------------------------------------------------ the agent kind */

static gboolean
fl_agent_http_validate(FlAgentConfig *agent, const gchar **key, GError **error)
{
	if (agent->url == NULL) {
		*key = "url";
		fl_set_error_literal(error, FL_ERROR_INVALID_ARGUMENT,
				     N_("an http agent needs a url"));
		return FALSE;
	}
	if (agent->api == NULL)
		agent->api = g_strdup("anthropic");
	if (g_strcmp0(agent->api, "anthropic") != 0 && g_strcmp0(agent->api, "openai") != 0) {
		*key = "api";
		fl_set_error_literal(error, FL_ERROR_INVALID_ARGUMENT,
				     N_("must be 'anthropic' or 'openai'"));
		return FALSE;
	}
	if (agent->model == NULL) {
		*key = "model";
		fl_set_error_literal(error, FL_ERROR_INVALID_ARGUMENT,
				     N_("an http agent needs a model"));
		return FALSE;
	}
	return TRUE;
}

/* where the answer lands, relative to the worktree and never outside it; NULL without an
 * error for nowhere */
static const gchar *
fl_agent_http_output_path(const FlAgentRun *run, GError **error)
{
	const gchar *output = run->agent->output;
	g_auto(GStrv) parts = NULL;

	if (output == NULL)
		output = run->data->repo == NULL ? "draft.md" : NULL;
	if (output == NULL)
		return NULL;
	parts = g_strsplit(output, "/", -1);
	for (guint i = 0; parts[i] != NULL; i++) {
		if (g_path_is_absolute(output) || g_strcmp0(parts[i], "..") == 0) {
			fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
				     N_("output=%s must stay inside the worktree"), output);
			return NULL;
		}
	}
	return output;
}

/*
 * run --budget: the answer is cut off where [prices] says it would cost more than what is
 * left of the budget, counting the prompt as if each of its bytes were a token (more than it
 * is), so that the recorded cost stays within it. @max_tokens: the agent's own limit.
 */
static gboolean
fl_agent_http_budget_tokens(const FlAgentRun *run, guint *max_tokens, GError **error)
{
	const FlSessionData *d = run->data;
	gdouble in_price = 0;
	gdouble out_price = 0;
	gdouble left;
	gdouble tokens;

	if (d->budget_usd <= 0)
		return TRUE;
	/* checked at run; a reload may have dropped the price since */
	if (!fl_config_get_prices(run->config, run->agent->model, &in_price, &out_price)) {
		fl_set_error(error, FL_ERROR_FAILED,
			     N_("no [prices] entry for %s: its budget cannot be kept"),
			     run->agent->model);
		return FALSE;
	}
	left = d->budget_usd - MAX(d->cost_usd, 0) -
	       (gdouble)(strlen(d->goal) + FL_AGENT_HTTP_PROMPT_OVERHEAD) * in_price / 1e6;
	if (out_price <= 0)
		return TRUE;
	tokens = left * 1e6 / out_price;
	if (!(tokens >= 1)) {
		fl_set_error(error, FL_ERROR_FAILED,
			     N_("the budget of $%.2f does not pay for an answer at [prices]"),
			     d->budget_usd);
		return FALSE;
	}
	if (tokens < (gdouble)*max_tokens)
		*max_tokens = (guint)tokens;
	return TRUE;
}

/* flotilla-http run like any command (see src/fl-http-main.c), with the request it reads
 * from the session directory */
static gchar **
fl_agent_http_build_argv(const FlAgentRun *run, GError **error)
{
	g_autoptr(GError) local_error = NULL;
	g_autofree gchar *request_path = fl_agent_run_file(run, FL_AGENT_HTTP_REQUEST_FILE);
	g_autofree gchar *result_path = fl_agent_run_file(
		run, FL_AGENT_HTTP_RESULT_DIR G_DIR_SEPARATOR_S FL_AGENT_HTTP_RESULT_FILE);
	const gchar *output = fl_agent_http_output_path(run, &local_error);
	const FlAgentConfig *agent = run->agent;
	const gchar *argv[] = {run->http_path, "agent", request_path, NULL};
	FlAgentHttpRequest request = {
		.agent = agent->name,
		.api = agent->api,
		.url = agent->url,
		.model = agent->model,
		.max_tokens = agent->max_tokens,
		.api_key_env = agent->api_key_env,
		.goal = run->data->goal,
		.output = (gchar *)output,
		.result = result_path,
	};

	/* before the request is sent and paid for */
	if (local_error != NULL) {
		g_propagate_error(error, g_steal_pointer(&local_error));
		return NULL;
	}
	if (request.max_tokens == 0)
		request.max_tokens = FL_AGENT_HTTP_DEFAULT_MAX_TOKENS;
	if (!fl_agent_http_budget_tokens(run, &request.max_tokens, error))
		return NULL;
	if (!fl_agent_http_request_write(&request, request_path, error))
		return NULL;
	{
		g_autofree gchar *result_dir = g_path_get_dirname(result_path);
		if (g_mkdir_with_parents(result_dir, 0700) < 0) {
			fl_set_error(error, FL_ERROR_FAILED, N_("cannot create %s: %s"), result_dir,
				     g_strerror(errno));
			return NULL;
		}
	}
	return g_strdupv((gchar **)argv);
}

/* flotilla-http's result: the answer with its token counts, and the error if it failed */
static void
fl_agent_http_read_outcome(const FlAgentRun *run, FlState *end_state)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = fl_agent_run_file(
		run, FL_AGENT_HTTP_RESULT_DIR G_DIR_SEPARATOR_S FL_AGENT_HTTP_RESULT_FILE);
	g_autofree gchar *old_path = fl_agent_run_file(run, FL_AGENT_HTTP_RESULT_FILE);
	g_autoptr(FlAgentHttpResult) result = fl_agent_http_result_read(
		g_file_test(path, G_FILE_TEST_EXISTS) ? path : old_path, &error);
	FlSessionData *d = run->data;

	if (result == NULL) {
		/* killed, or it could not even start: the exit status tells; a success needs
		 * the result, though */
		if (*end_state == FL_STATE_DONE) {
			*end_state = FL_STATE_FAILED;
			g_free(d->reason);
			d->reason = fl_error_serialize(error);
		}
		return;
	}
	if (result->text != NULL) {
		d->cost_usd = fl_config_get_cost(run->config, result->model, result->input_tokens,
						 result->output_tokens);
		d->turns = 1;
		fl_agent_set_final_message(d, result->text);
	}
	if (*end_state == FL_STATE_CANCELLED || *end_state == FL_STATE_INTERRUPTED)
		return;
	if (result->error != NULL) {
		*end_state = FL_STATE_FAILED;
		g_free(d->reason);
		/* the agent's (or flotilla-http's) own words */
		d->reason = fl_msg_stored_literal(result->error);
	}
}

FL_AGENT_DEFINE_CLASS(http) = {
	.kind = "http",
	/* flotilla-http needs no file of the user's: the key comes in its environment */
	.needs_network = TRUE,
	.validate = fl_agent_http_validate,
	.build_argv = fl_agent_http_build_argv,
	.read_outcome = fl_agent_http_read_outcome,
};
