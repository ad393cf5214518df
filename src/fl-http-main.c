/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <curl/curl.h>
#include <gio/gunixinputstream.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <stdlib.h>
#include <unistd.h>

#include "fl-agent-http.h"
#include "fl-i18n.h"
#include "fl-llm.h"
#include "fl-safe-path.h"
#include "fl-text.h"
#include "fl-util.h"
#include "fl-webhook.h"

/*
 * flotilla-http: what flotilla does over HTTP, in a process of its own so that flotillad never
 * loads libcurl and the dozens of libraries that come with it.
 *
 * flotilla-http agent REQUEST.json
 *   An http agent's run. flotillad has it run by flotilla-runner like any agent: cwd is the
 *   worktree, stdout and stderr are the session log, a cancel kills it, and it outlives a
 *   daemon restart. REQUEST.json and the result it leaves are defined, written and read in
 *   fl-agent-http.[ch], shared with flotillad. The answer streams into the log as it arrives
 *   (fl-llm.c); then the result is written durably.
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
	g_autofree gchar *line = fl_text_clean(message, -1, FL_TEXT_NONE);

	g_printerr("%s%s\n", prefix, line);
	return FL_HTTP_MAIN_EXIT_FAILED;
}

/* the worktree (our cwd) is the agent's: a directory it made a symbolic link, committed or
 * not, must not carry the answer out of it */
static gboolean
fl_http_main_write_output(const gchar *output, const gchar *text, GError **error)
{
	return fl_safe_write_file(".", output, text, -1, 0644, TRUE, FALSE, error);
}

static gint
fl_http_main_agent(const gchar *request_path)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) write_error = NULL;
	g_autoptr(FlAgentHttpRequest) request = fl_agent_http_request_read(request_path, &error);
	g_autoptr(FlHttp) http = NULL;
	g_autoptr(FlLlmResult) answer = NULL;
	FlAgentHttpResult result = {NULL};
	FlHttpMain m = {NULL};
	FlAgentConfig agent = {NULL};

	if (request == NULL)
		return fl_http_main_fail("flotilla: ", error->message);
	/* borrowed from @request: the run copies what it keeps */
	agent.name = request->agent;
	agent.api = request->api;
	agent.url = request->url;
	agent.model = request->model;
	agent.api_key_env = request->api_key_env;
	agent.max_tokens = request->max_tokens;

	http = fl_http_new();
	m.loop = g_main_loop_new(NULL, FALSE);
	/* our stdout is the session log: the answer lands there as it streams in */
	fl_llm_run_async(http, &agent, request->goal, "/dev/stdout", NULL, fl_http_main_done_cb,
			 &m);
	g_main_loop_run(m.loop);
	answer = fl_llm_run_finish(m.result, &error);
	fl_http_main_clear(&m);
	if (answer != NULL && request->output != NULL)
		fl_http_main_write_output(request->output, answer->text, &error);

	if (answer != NULL) {
		/* borrowed from @answer */
		result.model = answer->model;
		result.input_tokens = answer->input_tokens;
		result.output_tokens = answer->output_tokens;
		result.stop_reason = answer->stop_reason;
		result.attempts = answer->attempts;
		result.text = answer->text;
	}
	if (error != NULL)
		result.error = error->message;
	if (!fl_agent_http_result_write(&result, request->result, &write_error))
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
	bindtextdomain(GETTEXT_PACKAGE, fl_i18n_localedir());
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
