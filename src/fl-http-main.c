/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <curl/curl.h>
#include <gio/gunixinputstream.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <stdlib.h>
#include <unistd.h>

#include "fl-llm.h"
#include "fl-util.h"
#include "fl-webhook.h"

/*
 * flotilla-http: what flotilla does over HTTP, in a process of its own so that flotillad never
 * loads libcurl and the dozens of libraries that come with it.
 *
 * flotilla-http agent REQUEST.json
 *   An http agent's run. flotillad has it run by flotilla-runner like any agent: cwd is the
 *   worktree, stdout and stderr are the session log, a cancel kills it, and it outlives a
 *   daemon restart. REQUEST.json, written by flotillad, holds the agent ("agent", "api",
 *   "url", "model", "max_tokens", "api_key_env"), the "goal", where the answer goes
 *   ("output", relative to the worktree, already checked; absent: nowhere) and where the
 *   result goes ("result"). Never the API key: it comes from the environment variable
 *   api_key_env names. The answer streams into the log as it arrives; then the result is
 *   written durably: {"model", "input_tokens", "output_tokens", "stop_reason", "attempts",
 *   "text"} once an answer arrived, with "error" (one line) when the run failed.
 *
 * flotilla-http webhook
 *   POSTs one check-in digest read from stdin as {"url", "format", "summary", "text",
 *   "items", "urgent"}, with retries.
 *
 * Exit status: 0 done; 1 failed, with the reason as the last line on stderr; 2 bad usage.
 */

#define FL_HTTP_MAIN_EXIT_FAILED 1
#define FL_HTTP_MAIN_EXIT_USAGE  2

typedef struct {
	GMainLoop *loop;
	GAsyncResult *result; /* (owned) (nullable) */
} FlHttpMain;

static void
fl_http_main_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	FlHttpMain *m = user_data;

	m->result = g_object_ref(res);
	g_main_loop_quit(m->loop);
}

static void
fl_http_main_clear(FlHttpMain *m)
{
	g_clear_object(&m->result);
	g_clear_pointer(&m->loop, g_main_loop_unref);
}

/* the reason as one line on stderr, @prefix first */
static gint
fl_http_main_fail(const gchar *prefix, const gchar *message)
{
	g_autofree gchar *line = fl_text_sanitize(message, -1, FALSE);

	g_printerr("%s%s\n", prefix, line);
	return FL_HTTP_MAIN_EXIT_FAILED;
}

static gboolean
fl_http_main_write_output(const gchar *output, const gchar *text, GError **error)
{
	g_autofree gchar *dir = g_path_get_dirname(output);

	if (!fl_ensure_dir(dir, error))
		return FALSE;
	return g_file_set_contents(output, text, -1, error);
}

static gchar *
fl_http_main_result_json(const FlLlmResult *result, const GError *error)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonGenerator) generator = json_generator_new();
	g_autoptr(JsonNode) root = NULL;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "v");
	json_builder_add_int_value(builder, 1);
	if (result != NULL) {
		json_builder_set_member_name(builder, "model");
		json_builder_add_string_value(builder, result->model);
		json_builder_set_member_name(builder, "input_tokens");
		json_builder_add_int_value(builder, result->input_tokens);
		json_builder_set_member_name(builder, "output_tokens");
		json_builder_add_int_value(builder, result->output_tokens);
		if (result->stop_reason != NULL) {
			json_builder_set_member_name(builder, "stop_reason");
			json_builder_add_string_value(builder, result->stop_reason);
		}
		json_builder_set_member_name(builder, "attempts");
		json_builder_add_int_value(builder, result->attempts);
		json_builder_set_member_name(builder, "text");
		json_builder_add_string_value(builder, result->text);
	}
	if (error != NULL) {
		g_autofree gchar *line = fl_text_sanitize(error->message, -1, FALSE);

		json_builder_set_member_name(builder, "error");
		json_builder_add_string_value(builder, line);
	}
	json_builder_end_object(builder);
	root = json_builder_get_root(builder);
	json_generator_set_root(generator, root);
	return json_generator_to_data(generator, NULL);
}

static gint
fl_http_main_agent(const gchar *request_path)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) write_error = NULL;
	g_autoptr(JsonObject) request = fl_read_json_object(request_path, &error);
	g_autoptr(FlHttp) http = NULL;
	g_autoptr(FlLlmResult) result = NULL;
	g_autofree gchar *json = NULL;
	FlHttpMain m = {NULL};
	FlAgentConfig agent = {NULL};
	const gchar *goal;
	const gchar *output;
	const gchar *result_path;

	if (request == NULL)
		return fl_http_main_fail("flotilla: ", error->message);
	/* borrowed from @request: the run copies what it keeps */
	agent.name = (gchar *)fl_json_get_string(request, "agent");
	agent.api = (gchar *)fl_json_get_string(request, "api");
	agent.url = (gchar *)fl_json_get_string(request, "url");
	agent.model = (gchar *)fl_json_get_string(request, "model");
	agent.api_key_env = (gchar *)fl_json_get_string(request, "api_key_env");
	fl_json_get_uint(request, "max_tokens", &agent.max_tokens);
	goal = fl_json_get_string(request, "goal");
	output = fl_json_get_string(request, "output");
	result_path = fl_json_get_string(request, "result");
	if (agent.url == NULL || agent.model == NULL || goal == NULL || result_path == NULL) {
		g_autofree gchar *message =
			g_strdup_printf(_("%s is not a complete HTTP agent request"), request_path);
		return fl_http_main_fail("flotilla: ", message);
	}

	http = fl_http_new();
	m.loop = g_main_loop_new(NULL, FALSE);
	/* our stdout is the session log: the answer lands there as it streams in */
	fl_llm_run_async(http, &agent, goal, "/dev/stdout", NULL, fl_http_main_done_cb, &m);
	g_main_loop_run(m.loop);
	result = fl_llm_run_finish(m.result, &error);
	fl_http_main_clear(&m);
	if (result != NULL && output != NULL)
		fl_http_main_write_output(output, result->text, &error);

	json = fl_http_main_result_json(result, error);
	if (!fl_write_file_durable(result_path, json, -1, &write_error))
		return fl_http_main_fail("flotilla: ", write_error->message);
	if (error != NULL)
		return fl_http_main_fail("flotilla: ", error->message);
	return EXIT_SUCCESS;
}

static gint
fl_http_main_webhook(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GInputStream) in = g_unix_input_stream_new(STDIN_FILENO, FALSE);
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	g_autoptr(GPtrArray) items =
		g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
	g_autoptr(FlHttp) http = NULL;
	FlHttpMain m = {NULL};
	JsonObject *digest;
	JsonNode *node;
	const gchar *url;
	const gchar *summary;
	const gchar *text;
	gboolean urgent = FALSE;
	gboolean ok;

	if (!json_parser_load_from_stream(parser, in, NULL, &error))
		return fl_http_main_fail("", error->message);
	node = json_parser_get_root(parser);
	digest = node != NULL && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
	url = digest != NULL ? fl_json_get_string(digest, "url") : NULL;
	if (url == NULL)
		return fl_http_main_fail("",
					 _("the digest on stdin is not a JSON object with a url"));
	summary = fl_json_get_string(digest, "summary");
	text = fl_json_get_string(digest, "text");
	node = json_object_get_member(digest, "items");
	if (node != NULL && JSON_NODE_HOLDS_ARRAY(node)) {
		JsonArray *array = json_node_get_array(node);

		for (guint i = 0; i < json_array_get_length(array); i++)
			g_ptr_array_add(items, json_node_copy(json_array_get_element(array, i)));
	}
	node = json_object_get_member(digest, "urgent");
	if (node != NULL && JSON_NODE_HOLDS_VALUE(node) &&
	    json_node_get_value_type(node) == G_TYPE_BOOLEAN)
		urgent = json_node_get_boolean(node);

	http = fl_http_new();
	m.loop = g_main_loop_new(NULL, FALSE);
	fl_webhook_send_async(http, url, fl_json_get_string(digest, "format"),
			      summary != NULL ? summary : "", text != NULL ? text : "", items,
			      urgent, NULL, fl_http_main_done_cb, &m);
	g_main_loop_run(m.loop);
	ok = fl_webhook_send_finish(m.result, &error);
	fl_http_main_clear(&m);
	if (!ok)
		return fl_http_main_fail("", error->message);
	return EXIT_SUCCESS;
}

int
main(int argc, char *argv[])
{
	gint status;

	setlocale(LC_ALL, "");
	bindtextdomain(GETTEXT_PACKAGE, LOCALEDIR);
	bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
	textdomain(GETTEXT_PACKAGE);

	if (argc == 3 && g_strcmp0(argv[1], "agent") == 0) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		status = fl_http_main_agent(argv[2]);
	} else if (argc == 2 && g_strcmp0(argv[1], "webhook") == 0) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		status = fl_http_main_webhook();
	} else {
		g_printerr("%s\n", _("usage: flotilla-http agent REQUEST.json | flotilla-http "
				     "webhook < DIGEST.json"));
		return FL_HTTP_MAIN_EXIT_USAGE;
	}
	curl_global_cleanup();
	return status;
}
