/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <curl/curl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>

#include "fl-error.h"
#include "fl-http.h"
#include "fl-llm.h"
#include "fl-test-harness.h"
#include "fl-webhook.h"

/* what every scripted stream of the double says */
#define ANSWER     "Hello, w\xC3\xB6rld!\nSecond line \xE2\x80\x94 done."
#define API_KEY    "sk-test-SECRET-4f9a2c71e0"
#define KEY_ENV    "FL_TEST_API_KEY"
#define GOAL       "Write \"DRAFT.md\" \xE2\x80\x94 caf\xC3\xA9\nsecond line"
#define WAIT_MS    30000
#define N_PARALLEL 50

static GThread *main_thread;
static GSubprocess *double_proc;
static guint double_port;
static gchar *tmp_dir;
static GString *log_text; /* every GLib log message while the tests run, debug included */

/* one agent run and what its callbacks saw */
typedef struct {
	FlAgentConfig agent;
	gchar *log_path;
	FlLlmOptions options;
	GCancellable *cancellable;
	GString *streamed;
	guint n_pieces;
	guint cancel_after_pieces; /* 0: never */
	gint64 start_time;
	gint64 cancel_time;
	gint64 done_time;
	gboolean done;
	FlLlmResult *result;
	GError *error;
} Run;

static gchar *
url_for(const gchar *path)
{
	return g_strdup_printf("http://127.0.0.1:%u%s", double_port, path);
}

static void
run_text_cb(const gchar *text, gpointer user_data)
{
	Run *run = user_data;

	g_assert_true(g_thread_self() == main_thread);
	g_assert_true(g_utf8_validate(text, -1, NULL));
	g_assert_cmpstr(text, !=, "");
	g_string_append(run->streamed, text);
	run->n_pieces++;
	if (run->cancel_after_pieces != 0 && run->n_pieces == run->cancel_after_pieces) {
		run->cancel_time = g_get_monotonic_time();
		g_cancellable_cancel(run->cancellable);
	}
}

/* @api "anthropic" or "openai", @path below it, e.g. "split" or "429?n=1&id=x" */
static Run *
run_new(const gchar *api, const gchar *path)
{
	Run *run = g_new0(Run, 1);
	g_autofree gchar *where = g_strdup_printf("/%s/%s", api, path);
	g_autofree gchar *log_name = g_strdup_printf("log-%s-%p", api, (gpointer)run);

	run->agent.name = g_strdup("writer");
	run->agent.api = g_strdup(api);
	run->agent.url = url_for(where);
	run->agent.model = g_strdup(g_str_equal(api, "openai") ? "gpt-test" : "claude-test");
	run->agent.api_key_env = g_strdup(KEY_ENV);
	run->agent.max_tokens = 1024;
	run->log_path = g_build_filename(tmp_dir, log_name, NULL);
	run->options.connect_timeout_s = 5;
	run->options.idle_timeout_s = 10;
	run->options.text_func = run_text_cb;
	run->options.text_func_data = run;
	run->cancellable = g_cancellable_new();
	run->streamed = g_string_new(NULL);
	return run;
}

static void
run_free(Run *run)
{
	g_free(run->agent.name);
	g_free(run->agent.api);
	g_free(run->agent.url);
	g_free(run->agent.model);
	g_free(run->agent.api_key_env);
	g_unlink(run->log_path);
	g_free(run->log_path);
	g_object_unref(run->cancellable);
	g_string_free(run->streamed, TRUE);
	g_clear_pointer(&run->result, fl_llm_result_free);
	g_clear_error(&run->error);
	g_free(run);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Run, run_free)

static void
run_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Run *run = user_data;

	g_assert_true(g_thread_self() == main_thread);
	g_assert_false(run->done);
	g_assert_null(source);
	run->result = fl_llm_run_finish(result, &run->error);
	g_assert_true((run->result == NULL) != (run->error == NULL));
	run->done_time = g_get_monotonic_time();
	run->done = TRUE;
}

static gboolean
run_is_done(gpointer user_data)
{
	Run *run = user_data;

	return run->done;
}

static void
run_start(FlHttp *http, Run *run, const gchar *goal)
{
	run->start_time = g_get_monotonic_time();
	fl_llm_run_full_async(http, &run->agent, goal, run->log_path, &run->options,
			      run->cancellable, run_done_cb, run);
}

static void
run_wait(Run *run)
{
	g_assert_true(fl_test_wait_for(run_is_done, run, WAIT_MS));
}

static Run *
run_agent(FlHttp *http, const gchar *api, const gchar *path)
{
	Run *run = run_new(api, path);

	run_start(http, run, GOAL);
	run_wait(run);
	return run;
}

static gchar *
read_log(Run *run)
{
	g_autoptr(GError) error = NULL;
	gchar *contents = NULL;

	g_assert_true(g_file_get_contents(run->log_path, &contents, NULL, &error));
	g_assert_no_error(error);
	return contents;
}

static void
assert_no_secret(const gchar *text)
{
	g_assert_null(strstr(text, API_KEY));
	/* nor a recognisable part of it */
	g_assert_null(strstr(text, "SECRET-4f9a"));
}

/* the double's records, fetched with FlHttp itself: no blocking client in a test either */

typedef struct {
	GString *body;
	gboolean done;
	guint status;
	GError *error;
} Fetch;

static gboolean
fetch_data_cb(const guint8 *data, gsize len, gpointer user_data, GError **error)
{
	Fetch *fetch = user_data;

	g_string_append_len(fetch->body, (const gchar *)data, (gssize)len);
	return TRUE;
}

static void
fetch_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Fetch *fetch = user_data;

	fl_http_request_finish(FL_HTTP(source), result, &fetch->status, &fetch->error);
	fetch->done = TRUE;
}

static gboolean
fetch_is_done(gpointer user_data)
{
	Fetch *fetch = user_data;

	return fetch->done;
}

/* the entries of GET @what whose path is @path: (element-type JsonObject) */
static GPtrArray *
double_records(FlHttp *http, const gchar *what, const gchar *path)
{
	g_autofree gchar *url = url_for(what);
	Fetch fetch = {g_string_new(NULL)};
	FlHttpRequest request = {.url = url, .data_func = fetch_data_cb, .func_data = &fetch};
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	GPtrArray *records = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);
	JsonArray *array;

	fl_http_request_async(http, &request, NULL, fetch_done_cb, &fetch);
	g_assert_true(fl_test_wait_for(fetch_is_done, &fetch, WAIT_MS));
	g_assert_no_error(fetch.error);
	g_assert_cmpuint(fetch.status, ==, 200);
	g_assert_true(json_parser_load_from_data(parser, fetch.body->str, -1, &error));
	g_assert_no_error(error);
	g_string_free(fetch.body, TRUE);
	array = json_node_get_array(json_parser_get_root(parser));
	for (guint i = 0; i < json_array_get_length(array); i++) {
		JsonObject *record = json_array_get_object_element(array, i);

		if (g_str_equal(json_object_get_string_member(record, "path"), path))
			g_ptr_array_add(records, json_object_ref(record));
	}
	return records;
}

static guint
requests_to(FlHttp *http, const gchar *path)
{
	g_autoptr(GPtrArray) records = double_records(http, "/requests", path);

	return records->len;
}

static JsonObject *
parse_object(const gchar *text)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;

	g_assert_true(json_parser_load_from_data(parser, text, -1, &error));
	g_assert_no_error(error);
	return json_object_ref(json_node_get_object(json_parser_get_root(parser)));
}

static void
assert_answer(Run *run)
{
	g_autofree gchar *log = NULL;

	g_assert_no_error(run->error);
	g_assert_nonnull(run->result);
	g_assert_cmpstr(run->result->text, ==, ANSWER);
	/* the text was streamed piece by piece, and landed in the log as it came */
	g_assert_cmpstr(run->streamed->str, ==, ANSWER);
	g_assert_cmpuint(run->n_pieces, ==, 4);
	log = read_log(run);
	g_assert_cmpstr(log, ==, ANSWER "\n");
}

static void
test_anthropic_split(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(Run) run = run_agent(http, "anthropic", "split");
	g_autoptr(GPtrArray) requests = double_records(http, "/requests", "/anthropic/split");
	g_autoptr(JsonObject) body = NULL;
	JsonObject *headers;
	JsonObject *message;
	struct stat st;

	assert_answer(run);
	g_assert_cmpuint(run->result->input_tokens, ==, 12);
	g_assert_cmpuint(run->result->output_tokens, ==, 7);
	g_assert_cmpstr(run->result->model, ==, "claude-test-20250101");
	g_assert_cmpstr(run->result->stop_reason, ==, "end_turn");
	g_assert_cmpuint(run->result->attempts, ==, 1);
	/* the log is private to the user */
	g_assert_cmpint(g_stat(run->log_path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);

	/* the request the Messages API expects */
	g_assert_nonnull(requests);
	g_assert_cmpuint(requests->len, ==, 1);
	headers = json_object_get_object_member(g_ptr_array_index(requests, 0), "headers");
	g_assert_cmpstr(json_object_get_string_member(headers, "x-api-key"), ==, API_KEY);
	g_assert_cmpstr(json_object_get_string_member(headers, "anthropic-version"), ==,
			"2023-06-01");
	g_assert_cmpstr(json_object_get_string_member(headers, "content-type"), ==,
			"application/json");
	g_assert_false(json_object_has_member(headers, "authorization"));
	body = parse_object(json_object_get_string_member(g_ptr_array_index(requests, 0), "body"));
	g_assert_cmpstr(json_object_get_string_member(body, "model"), ==, "claude-test");
	g_assert_cmpint(json_object_get_int_member(body, "max_tokens"), ==, 1024);
	g_assert_true(json_object_get_boolean_member(body, "stream"));
	g_assert_cmpuint(json_array_get_length(json_object_get_array_member(body, "messages")), ==,
			 1);
	message = json_array_get_object_element(json_object_get_array_member(body, "messages"), 0);
	g_assert_cmpstr(json_object_get_string_member(message, "role"), ==, "user");
	g_assert_cmpstr(json_object_get_string_member(message, "content"), ==, GOAL);
}

static void
test_anthropic_crlf(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(Run) run = run_agent(http, "anthropic", "crlf");

	assert_answer(run);
	g_assert_cmpuint(run->result->output_tokens, ==, 7);
}

static void
test_openai(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(Run) run = run_agent(http, "openai", "ok");
	g_autoptr(Run) split = run_agent(http, "openai", "split");
	g_autoptr(GPtrArray) requests = double_records(http, "/requests", "/openai/ok");
	g_autoptr(JsonObject) body = NULL;
	JsonObject *headers;
	JsonObject *message;

	assert_answer(run);
	g_assert_cmpuint(run->result->input_tokens, ==, 9);
	g_assert_cmpuint(run->result->output_tokens, ==, 5);
	g_assert_cmpstr(run->result->model, ==, "gpt-test");
	g_assert_cmpstr(run->result->stop_reason, ==, "stop");
	g_assert_cmpuint(run->result->attempts, ==, 1);
	assert_answer(split);
	g_assert_cmpuint(split->result->output_tokens, ==, 5);

	g_assert_cmpuint(requests->len, ==, 1);
	headers = json_object_get_object_member(g_ptr_array_index(requests, 0), "headers");
	g_assert_cmpstr(json_object_get_string_member(headers, "authorization"), ==,
			"Bearer " API_KEY);
	g_assert_false(json_object_has_member(headers, "x-api-key"));
	body = parse_object(json_object_get_string_member(g_ptr_array_index(requests, 0), "body"));
	g_assert_cmpstr(json_object_get_string_member(body, "model"), ==, "gpt-test");
	g_assert_true(json_object_get_boolean_member(body, "stream"));
	g_assert_true(json_object_get_boolean_member(
		json_object_get_object_member(body, "stream_options"), "include_usage"));
	message = json_array_get_object_element(json_object_get_array_member(body, "messages"), 0);
	g_assert_cmpstr(json_object_get_string_member(message, "role"), ==, "user");
	g_assert_cmpstr(json_object_get_string_member(message, "content"), ==, GOAL);
}

static void
test_cut(void)
{
	const gchar *apis[] = {"anthropic", "openai"};
	const gchar *paths[] = {"cut", "cut-chunked"};
	g_autoptr(FlHttp) http = fl_http_new();

	for (guint i = 0; i < G_N_ELEMENTS(apis); i++) {
		for (guint j = 0; j < G_N_ELEMENTS(paths); j++) {
			g_autoptr(Run) run = run_agent(http, apis[i], paths[j]);
			g_autofree gchar *log = read_log(run);
			g_autofree gchar *where = g_strdup_printf("/%s/%s", apis[i], paths[j]);

			g_test_message("%s: %s", where, run->error->message);
			g_assert_error(run->error, FL_ERROR, FL_ERROR_FAILED);
			g_assert_nonnull(strstr(run->error->message,
						"stream ended in the middle of an event"));
			/* what arrived before the cut is in the log; the request was not
			 * repeated, as the model would start over */
			g_assert_true(g_str_has_prefix(log, "Hello"));
			g_assert_true(g_str_has_suffix(log, "\n"));
			g_assert_cmpuint(requests_to(http, where), ==, 1);
		}
	}
}

static void
test_truncated(void)
{
	const gchar *apis[] = {"anthropic", "openai"};
	g_autoptr(FlHttp) http = fl_http_new();

	for (guint i = 0; i < G_N_ELEMENTS(apis); i++) {
		g_autoptr(Run) run = run_agent(http, apis[i], "truncated");

		g_assert_error(run->error, FL_ERROR, FL_ERROR_FAILED);
		g_assert_cmpstr(run->error->message, ==,
				"the model API stream ended before the answer was complete");
	}
}

static void
test_error_event(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(Run) anthropic = run_agent(http, "anthropic", "error-event");
	g_autoptr(Run) openai = run_agent(http, "openai", "error-event");
	g_autoptr(Run) garbage = run_agent(http, "anthropic", "garbage");
	g_autofree gchar *log = read_log(anthropic);

	g_assert_error(anthropic->error, FL_ERROR, FL_ERROR_FAILED);
	g_assert_cmpstr(anthropic->error->message, ==,
			"the model API reported an error (overloaded_error): Overloaded");
	g_assert_cmpstr(log, ==, "Hello\n");
	g_assert_error(openai->error, FL_ERROR, FL_ERROR_FAILED);
	g_assert_cmpstr(openai->error->message, ==,
			"the model API reported an error (server_error): Overloaded");
	g_assert_error(garbage->error, FL_ERROR, FL_ERROR_FAILED);
	g_assert_true(g_str_has_prefix(garbage->error->message, "the model API sent invalid JSON"));
}

static void
test_retry_429(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(Run) run = run_agent(http, "anthropic", "429?n=1&id=retry");
	g_autofree gchar *log = read_log(run);
	gint64 elapsed = run->done_time - run->start_time;

	g_assert_no_error(run->error);
	g_assert_cmpstr(run->result->text, ==, ANSWER);
	g_assert_cmpuint(run->result->attempts, ==, 2);
	g_assert_cmpuint(requests_to(http, "/anthropic/429?n=1&id=retry"), ==, 2);
	/* the log says why it paused, then the answer follows */
	g_assert_cmpstr(log, ==, "flotilla: retrying in 1 s (HTTP 429)\n" ANSWER "\n");
	/* Retry-After: 1 was honoured */
	g_assert_cmpint(elapsed, >=, G_USEC_PER_SEC);
}

static void
test_server_error(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(Run) run = run_agent(http, "anthropic", "500?id=always");
	g_autoptr(Run) transient = run_agent(http, "openai", "500?n=1&id=once");
	g_autofree gchar *log = read_log(run);
	g_auto(GStrv) lines = g_strsplit(log, "\n", -1);
	gint64 elapsed = run->done_time - run->start_time;

	/* four requests, exponential backoff between them: at least 0.5 + 1 + 2 s */
	g_assert_error(run->error, FL_ERROR, FL_ERROR_FAILED);
	g_assert_cmpstr(run->error->message, ==,
			"HTTP 500: Internal server error (gave up after 4 attempts)");
	g_assert_cmpuint(requests_to(http, "/anthropic/500?id=always"), ==, 4);
	g_assert_cmpint(elapsed, >=, 3500 * 1000);
	g_assert_cmpuint(g_strv_length(lines), ==, 4);
	for (guint i = 0; i < 3; i++) {
		g_assert_true(g_str_has_prefix(lines[i], "flotilla: retrying in "));
		g_assert_true(g_str_has_suffix(lines[i], " s (HTTP 500)"));
	}
	g_assert_cmpstr(lines[3], ==, "");

	g_assert_no_error(transient->error);
	g_assert_cmpstr(transient->result->text, ==, ANSWER);
	g_assert_cmpuint(transient->result->attempts, ==, 2);
}

static GSocket *
refusing_socket(guint *port);

/* no server at all: retried like a 5xx, then the connection error is the reason */
static void
test_connection_refused(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	guint port = 0;
	g_autoptr(GSocket) socket = refusing_socket(&port);
	g_autoptr(Run) run = run_new("anthropic", "ok");
	g_autofree gchar *log = NULL;
	g_auto(GStrv) lines = NULL;

	g_free(run->agent.url);
	run->agent.url = g_strdup_printf("http://127.0.0.1:%u/v1/messages", port);
	run->options.max_attempts = 2;
	run_start(http, run, GOAL);
	run_wait(run);
	g_test_message("%s", run->error->message);
	g_assert_error(run->error, FL_ERROR, FL_ERROR_FAILED);
	g_assert_nonnull(strstr(run->error->message, "onnect"));
	g_assert_true(g_str_has_suffix(run->error->message, "(gave up after 2 attempts)"));
	log = read_log(run);
	lines = g_strsplit(log, "\n", -1);
	g_assert_cmpuint(g_strv_length(lines), ==, 2);
	g_assert_true(g_str_has_prefix(lines[0], "flotilla: retrying in "));
	g_assert_nonnull(strstr(lines[0], "onnect"));
}

static void
test_http_400(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(Run) anthropic = run_agent(http, "anthropic", "400");
	g_autoptr(Run) openai = run_agent(http, "openai", "400");

	/* refused requests are not retried; the API's own message is the reason */
	g_assert_error(anthropic->error, FL_ERROR, FL_ERROR_FAILED);
	g_assert_cmpstr(anthropic->error->message, ==,
			"HTTP 400: max_tokens: 999999999 > 8192, the maximum for this model");
	g_assert_cmpuint(requests_to(http, "/anthropic/400"), ==, 1);
	g_assert_error(openai->error, FL_ERROR, FL_ERROR_FAILED);
	g_assert_cmpstr(openai->error->message, ==, "HTTP 400: The model `nope` does not exist");
	g_assert_cmpuint(requests_to(http, "/openai/400"), ==, 1);
	g_assert_cmpuint(anthropic->n_pieces, ==, 0);
}

static void
test_missing_key(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	const gchar *bad_values[] = {NULL, "", "   ", "sk-with space", "sk-line\nX-Evil: 1"};

	for (guint i = 0; i < G_N_ELEMENTS(bad_values); i++) {
		g_autoptr(Run) run = run_new("anthropic", "ok?id=nokey");

		g_free(run->agent.api_key_env);
		run->agent.api_key_env = g_strdup("FL_TEST_NO_SUCH_KEY");
		if (bad_values[i] != NULL)
			g_setenv("FL_TEST_NO_SUCH_KEY", bad_values[i], TRUE);
		else
			g_unsetenv("FL_TEST_NO_SUCH_KEY");
		run_start(http, run, GOAL);
		run_wait(run);
		g_test_message("%s", run->error->message);
		g_assert_error(run->error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT);
		/* names the variable, never its value */
		g_assert_nonnull(strstr(run->error->message, "FL_TEST_NO_SUCH_KEY"));
		if (bad_values[i] != NULL && strlen(bad_values[i]) > 3)
			g_assert_null(strstr(run->error->message, bad_values[i]));
		g_assert_null(strstr(run->error->message, "sk-"));
		/* failed before anything happened */
		g_assert_false(g_file_test(run->log_path, G_FILE_TEST_EXISTS));
	}
	g_unsetenv("FL_TEST_NO_SUCH_KEY");
	g_assert_cmpuint(requests_to(http, "/anthropic/ok?id=nokey"), ==, 0);
}

/* the key reaches the API and nothing else: not the log, errors or any debug output */
static void
test_key_never_leaks(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	const gchar *paths[] = {"401-echo", "429?n=1&id=leak", "cut", "400", "hang"};
	g_autoptr(GPtrArray) runs = g_ptr_array_new_with_free_func((GDestroyNotify)run_free);
	g_autoptr(GPtrArray) requests = NULL;
	Run *echo;

	g_log_set_debug_enabled(TRUE);
	g_string_truncate(log_text, 0);
	for (guint i = 0; i < G_N_ELEMENTS(paths); i++) {
		Run *run = run_new("anthropic", paths[i]);

		run->options.idle_timeout_s = 1;
		g_ptr_array_add(runs, run);
		run_start(http, run, GOAL);
		run_wait(run);
	}
	for (guint i = 0; i < G_N_ELEMENTS(paths); i++) {
		Run *run = run_new("openai", paths[i]);

		run->options.idle_timeout_s = 1;
		g_ptr_array_add(runs, run);
		run_start(http, run, GOAL);
		run_wait(run);
	}
	g_log_set_debug_enabled(FALSE);

	/* the double did get the key */
	requests = double_records(http, "/requests", "/anthropic/401-echo");
	g_assert_cmpuint(requests->len, >=, 1);
	g_assert_cmpstr(
		json_object_get_string_member(
			json_object_get_object_member(g_ptr_array_index(requests, 0), "headers"),
			"x-api-key"),
		==, API_KEY);

	/* an API quoting the key back has it blacked out */
	echo = g_ptr_array_index(runs, 0);
	g_assert_error(echo->error, FL_ERROR, FL_ERROR_FAILED);
	g_assert_cmpstr(echo->error->message, ==, "HTTP 401: invalid key: [redacted]");

	for (guint i = 0; i < runs->len; i++) {
		Run *run = g_ptr_array_index(runs, i);
		g_autofree gchar *log = read_log(run);

		assert_no_secret(log);
		if (run->error != NULL)
			assert_no_secret(run->error->message);
	}
	/* debug output was captured (so the check means something) and is clean */
	g_assert_nonnull(strstr(log_text->str, "http agent writer"));
	g_assert_nonnull(strstr(log_text->str, "/anthropic/401-echo"));
	assert_no_secret(log_text->str);
}

static void
test_cancel_never_ending(void)
{
	const gchar *apis[] = {"anthropic", "openai"};
	g_autoptr(FlHttp) http = fl_http_new();

	for (guint i = 0; i < G_N_ELEMENTS(apis); i++) {
		g_autoptr(Run) run = run_new(apis[i], "never-ending");
		g_autofree gchar *log = NULL;

		run->cancel_after_pieces = 5;
		run_start(http, run, GOAL);
		run_wait(run);
		g_assert_error(run->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
		g_assert_cmpint(run->done_time - run->cancel_time, <, G_USEC_PER_SEC);
		/* nothing after the cancellation reached the caller or the log */
		g_assert_cmpuint(run->n_pieces, ==, 5);
		log = read_log(run);
		g_assert_cmpstr(log, ==, "tick 1\ntick 2\ntick 3\ntick 4\ntick 5\n");
	}
}

typedef struct {
	const gchar *path;
	const gchar *needle;
} FileWait;

static gboolean
file_contains(gpointer user_data)
{
	FileWait *wait = user_data;
	g_autofree gchar *contents = NULL;

	return g_file_get_contents(wait->path, &contents, NULL, NULL) &&
	       strstr(contents, wait->needle) != NULL;
}

static gboolean
tick_cb(gpointer user_data)
{
	guint *ticks = user_data;

	(*ticks)++;
	return G_SOURCE_CONTINUE;
}

/* a cancellation during the wait before a retry ends the run at once, with no new request */
static void
test_cancel_retry_wait(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(Run) run = run_new("anthropic", "429?n=5&id=cancelwait");
	FileWait wait = {run->log_path, "flotilla: retrying in 1 s (HTTP 429)\n"};
	guint ticks = 0;
	guint poll_id;

	run_start(http, run, GOAL);
	/* the log note is the only sign of the wait: poll for it */
	poll_id = g_timeout_add(10, tick_cb, &ticks);
	g_assert_true(fl_test_wait_for(file_contains, &wait, WAIT_MS));
	g_source_remove(poll_id);
	g_assert_false(run->done);
	run->cancel_time = g_get_monotonic_time();
	g_cancellable_cancel(run->cancellable);
	run_wait(run);
	g_assert_error(run->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_cmpint(run->done_time - run->cancel_time, <, 500 * 1000);
	g_assert_cmpuint(requests_to(http, "/anthropic/429?n=5&id=cancelwait"), ==, 1);
}

static void
test_idle_timeout(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(Run) run = run_new("anthropic", "hang?id=idle");
	gint64 elapsed;

	run->options.idle_timeout_s = 1;
	run_start(http, run, GOAL);
	run_wait(run);
	elapsed = run->done_time - run->start_time;
	g_assert_error(run->error, FL_ERROR, FL_ERROR_FAILED);
	g_assert_nonnull(strstr(run->error->message, "no data for 1 s"));
	g_assert_cmpint(elapsed, >=, G_USEC_PER_SEC);
	g_assert_cmpint(elapsed, <, 5 * G_USEC_PER_SEC);
	/* a stream that started is not retried */
	g_assert_cmpuint(requests_to(http, "/anthropic/hang?id=idle"), ==, 1);
}

static gboolean
all_done(gpointer user_data)
{
	GPtrArray *runs = user_data;

	for (guint i = 0; i < runs->len; i++) {
		Run *run = g_ptr_array_index(runs, i);

		if (!run->done)
			return FALSE;
	}
	return TRUE;
}

/* many streams, one thread: every callback asserts it runs on the main thread */
static void
test_concurrent(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(GPtrArray) runs = g_ptr_array_new_with_free_func((GDestroyNotify)run_free);

	for (guint i = 0; i < N_PARALLEL; i++) {
		Run *run = run_new(i % 2 == 0 ? "anthropic" : "openai", "split");

		g_ptr_array_add(runs, run);
		run_start(http, run, GOAL);
	}
	g_assert_true(fl_test_wait_for(all_done, runs, WAIT_MS));
	for (guint i = 0; i < runs->len; i++)
		assert_answer(g_ptr_array_index(runs, i));
}

/* ---------------------------------------------------------------------------- webhooks */

typedef struct {
	gboolean done;
	gboolean ok;
	GError *error;
	gint64 done_time;
} Send;

static void
send_clear(Send *send)
{
	g_clear_error(&send->error);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Send, send_clear)

static void
send_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Send *send = user_data;

	g_assert_true(g_thread_self() == main_thread);
	send->ok = fl_webhook_send_finish(result, &send->error);
	send->done_time = g_get_monotonic_time();
	send->done = TRUE;
}

static gboolean
send_is_done(gpointer user_data)
{
	Send *send = user_data;

	return send->done;
}

static void
send_webhook(FlHttp *http, const gchar *path, const gchar *format, const gchar *summary,
	     const gchar *text, GPtrArray *items, gboolean urgent, Send *send)
{
	g_autofree gchar *url = url_for(path);

	fl_webhook_send_async(http, url, format, summary, text, items, urgent, NULL, send_done_cb,
			      send);
	g_assert_true(fl_test_wait_for(send_is_done, send, WAIT_MS));
}

static JsonNode *
item_node(guint id, const gchar *state)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "id");
	json_builder_add_int_value(builder, id);
	json_builder_set_member_name(builder, "state");
	json_builder_add_string_value(builder, state);
	json_builder_end_object(builder);
	return json_builder_get_root(builder);
}

static void
test_webhook_json(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(GPtrArray) items =
		g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
	g_autoptr(GPtrArray) records = NULL;
	g_autoptr(JsonObject) body = NULL;
	JsonArray *array;
	JsonObject *headers;
	g_auto(Send) send = {FALSE};

	g_ptr_array_add(items, item_node(7, "draft"));
	g_ptr_array_add(items, item_node(9, "failed"));
	send_webhook(http, "/webhook?id=json", "json", "Check-in 15:00 \xC2\xB7 2 drafts",
		     "#7 draft\n#9 failed\n", items, TRUE, &send);
	g_assert_no_error(send.error);
	g_assert_true(send.ok);

	records = double_records(http, "/webhook-log", "/webhook?id=json");
	g_assert_cmpuint(records->len, ==, 1);
	headers = json_object_get_object_member(g_ptr_array_index(records, 0), "headers");
	g_assert_cmpstr(json_object_get_string_member(g_ptr_array_index(records, 0), "method"), ==,
			"POST");
	g_assert_cmpstr(json_object_get_string_member(headers, "content-type"), ==,
			"application/json");
	body = parse_object(json_object_get_string_member(g_ptr_array_index(records, 0), "body"));
	g_assert_cmpstr(json_object_get_string_member(body, "summary"), ==,
			"Check-in 15:00 \xC2\xB7 2 drafts");
	g_assert_cmpstr(json_object_get_string_member(body, "text"), ==, "#7 draft\n#9 failed\n");
	g_assert_true(json_object_get_boolean_member(body, "urgent"));
	array = json_object_get_array_member(body, "items");
	g_assert_cmpuint(json_array_get_length(array), ==, 2);
	g_assert_cmpint(json_object_get_int_member(json_array_get_object_element(array, 0), "id"),
			==, 7);
	g_assert_cmpstr(
		json_object_get_string_member(json_array_get_object_element(array, 1), "state"), ==,
		"failed");
}

/* RFC 2047 encoded-words back to UTF-8, for what the tests send */
static gchar *
decode_header(const gchar *value)
{
	g_auto(GStrv) words = g_strsplit(value, " ", -1);
	GString *out = g_string_new(NULL);

	for (guint i = 0; words[i] != NULL; i++) {
		const gchar *word = words[i];
		g_autofree gchar *b64 = NULL;
		g_autofree guchar *raw = NULL;
		gsize len = 0;

		g_assert_true(g_str_has_prefix(word, "=?UTF-8?B?"));
		g_assert_true(g_str_has_suffix(word, "?="));
		/* RFC 2047: an encoded-word is at most 75 characters */
		g_assert_cmpuint(strlen(word), <=, 75);
		b64 = g_strndup(word + 10, strlen(word) - 12);
		raw = g_base64_decode(b64, &len);
		/* each word decodes to whole characters on its own */
		g_assert_true(g_utf8_validate_len((const gchar *)raw, len, NULL));
		g_string_append_len(out, (const gchar *)raw, (gssize)len);
	}
	return g_string_free(out, FALSE);
}

static void
test_webhook_ntfy(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(GPtrArray) urgent = NULL;
	g_autoptr(GPtrArray) calm = NULL;
	g_autofree gchar *title = NULL;
	const gchar *summary =
		"Check-in 15:00 \xC2\xB7 2 drafts \xC2\xB7 1 blocked \xF0\x9F\x9A\xA7";
	JsonObject *headers;
	g_auto(Send) first = {FALSE};
	g_auto(Send) second = {FALSE};

	send_webhook(http, "/webhook?id=ntfy-urgent", "ntfy", summary, "#7 asks: which branch?\n",
		     NULL, TRUE, &first);
	g_assert_no_error(first.error);
	send_webhook(http, "/webhook?id=ntfy-calm", "ntfy", "Check-in 09:00\r\nX-Evil: 1",
		     "all reviewed", NULL, FALSE, &second);
	g_assert_no_error(second.error);

	urgent = double_records(http, "/webhook-log", "/webhook?id=ntfy-urgent");
	g_assert_cmpuint(urgent->len, ==, 1);
	headers = json_object_get_object_member(g_ptr_array_index(urgent, 0), "headers");
	title = decode_header(json_object_get_string_member(headers, "title"));
	g_assert_cmpstr(title, ==, summary);
	g_assert_cmpstr(json_object_get_string_member(headers, "priority"), ==, "4");
	g_assert_cmpstr(json_object_get_string_member(headers, "tags"), ==, "robot");
	g_assert_cmpstr(json_object_get_string_member(g_ptr_array_index(urgent, 0), "body"), ==,
			"#7 asks: which branch?\n");

	/* ASCII goes as it is; a line break cannot smuggle in a header */
	calm = double_records(http, "/webhook-log", "/webhook?id=ntfy-calm");
	g_assert_cmpuint(calm->len, ==, 1);
	headers = json_object_get_object_member(g_ptr_array_index(calm, 0), "headers");
	g_assert_cmpstr(json_object_get_string_member(headers, "title"), ==,
			"Check-in 09:00 X-Evil: 1");
	g_assert_false(json_object_has_member(headers, "x-evil"));
	g_assert_cmpstr(json_object_get_string_member(headers, "priority"), ==, "3");
	g_assert_cmpstr(json_object_get_string_member(g_ptr_array_index(calm, 0), "body"), ==,
			"all reviewed");
}

static void
test_webhook_header_value(void)
{
	g_autofree gchar *ascii = fl_webhook_header_value("  Check-in 15:00 - 4 drafts ");
	g_autofree gchar *tricky = fl_webhook_header_value("=?UTF-8?B?eA==?=");
	g_autofree gchar *tricky_back = NULL;
	g_autoptr(GString) long_title = g_string_new(NULL);
	g_autofree gchar *encoded = NULL;
	g_autofree gchar *decoded = NULL;

	g_assert_cmpstr(ascii, ==, "Check-in 15:00 - 4 drafts");
	/* ASCII that looks encoded is encoded, so it arrives as written */
	tricky_back = decode_header(tricky);
	g_assert_cmpstr(tricky_back, ==, "=?UTF-8?B?eA==?=");

	/* long titles are cut at 200 characters, never inside one */
	for (guint i = 0; i < 150; i++)
		g_string_append(long_title, "\xC3\xA9\xE2\x82\xAC");
	encoded = fl_webhook_header_value(long_title->str);
	decoded = decode_header(encoded);
	g_assert_cmpuint(g_utf8_strlen(decoded, -1), ==, 200);
	g_assert_true(g_str_has_prefix(long_title->str, decoded));
}

static void
test_webhook_retry(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(GPtrArray) records = NULL;
	g_auto(Send) send = {FALSE};

	send_webhook(http, "/webhook/503?n=2&id=retry", "json", "s", "t", NULL, FALSE, &send);
	g_assert_no_error(send.error);
	g_assert_true(send.ok);
	records = double_records(http, "/webhook-log", "/webhook/503?n=2&id=retry");
	g_assert_cmpuint(records->len, ==, 3);
}

static void
test_webhook_refused(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(GPtrArray) records = NULL;
	g_autofree gchar *where = g_strdup_printf("http://127.0.0.1:%u", double_port);
	g_auto(Send) send = {FALSE};
	g_auto(Send) bad_format = {FALSE};
	g_auto(Send) bad_url = {FALSE};

	/* a refusal is final; the message names the host, not the path */
	send_webhook(http, "/webhook/404", "ntfy", "s", "t", NULL, FALSE, &send);
	g_assert_error(send.error, FL_ERROR, FL_ERROR_FAILED);
	g_assert_nonnull(strstr(send.error->message, where));
	g_assert_nonnull(strstr(send.error->message, "HTTP 404: scripted failure"));
	g_assert_null(strstr(send.error->message, "/webhook"));
	records = double_records(http, "/webhook-log", "/webhook/404");
	g_assert_cmpuint(records->len, ==, 1);

	send_webhook(http, "/webhook?id=format", "xml", "s", "t", NULL, FALSE, &bad_format);
	g_assert_error(bad_format.error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT);
	fl_webhook_send_async(http, "file:///etc/passwd", "json", "s", "t", NULL, FALSE, NULL,
			      send_done_cb, &bad_url);
	g_assert_true(fl_test_wait_for(send_is_done, &bad_url, WAIT_MS));
	g_assert_error(bad_url.error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT);
}

/* a port bound but not listening refuses connections, and nobody else can take it */
static GSocket *
refusing_socket(guint *port)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) any_port = g_inet_socket_address_new(loopback, 0);
	g_autoptr(GSocketAddress) bound = NULL;
	GSocket *socket = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
				       G_SOCKET_PROTOCOL_TCP, &error);

	g_assert_no_error(error);
	g_assert_true(g_socket_bind(socket, any_port, FALSE, &error));
	bound = g_socket_get_local_address(socket, &error);
	g_assert_no_error(error);
	*port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
	return socket;
}

static void
test_webhook_dead(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	guint port = 0;
	g_autoptr(GSocket) socket = refusing_socket(&port);
	g_autofree gchar *url = g_strdup_printf("http://127.0.0.1:%u/hooks/TOKEN-0xdeadbeef", port);
	g_auto(Send) send = {FALSE};
	guint ticks = 0;
	guint tick_id = g_timeout_add(20, tick_cb, &ticks);
	gint64 start = g_get_monotonic_time();
	gint64 elapsed;

	fl_webhook_send_async(http, url, "json", "s", "t", NULL, FALSE, NULL, send_done_cb, &send);
	g_assert_true(fl_test_wait_for(send_is_done, &send, WAIT_MS));
	g_source_remove(tick_id);
	elapsed = send.done_time - start;

	g_test_message("%s", send.error->message);
	g_assert_error(send.error, FL_ERROR, FL_ERROR_FAILED);
	g_assert_nonnull(strstr(send.error->message, "failed after 3 attempts"));
	g_assert_null(strstr(send.error->message, "TOKEN"));
	/* two backoff waits: at least 0.5 + 1 s */
	g_assert_cmpint(elapsed, >=, 1500 * 1000);
	/* the main loop kept running meanwhile: a 20 ms timer fired most of the time */
	g_assert_cmpuint(ticks, >=, elapsed / (20 * 1000) / 2);
}

static GLogWriterOutput
capture_writer(GLogLevelFlags log_level, const GLogField *fields, gsize n_fields,
	       gpointer user_data)
{
	for (gsize i = 0; i < n_fields; i++) {
		if (g_str_equal(fields[i].key, "MESSAGE")) {
			g_string_append_len(log_text, fields[i].value,
					    fields[i].length < 0 ? (gssize)strlen(fields[i].value)
								 : fields[i].length);
			g_string_append_c(log_text, '\n');
		}
	}
	/* captured only: debug lines would drown the TAP output */
	if (log_level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO))
		return G_LOG_WRITER_HANDLED;
	return g_log_writer_default(log_level, fields, n_fields, user_data);
}

static void
start_double(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *script =
		g_test_build_filename(G_TEST_DIST, "doubles", "llm-double.py", NULL);
	const gchar *python = g_getenv("FL_TEST_PYTHON");
	g_autoptr(GDataInputStream) out = NULL;
	g_autofree gchar *line = NULL;
	guint64 port = 0;

	double_proc = g_subprocess_new(
		G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error,
		python != NULL ? python : "/usr/bin/python3", script, NULL);
	g_assert_no_error(error);
	/* the port is printed once it listens: reading the line waits for exactly that */
	out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(double_proc));
	line = g_data_input_stream_read_line(out, NULL, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(line);
	g_assert_true(g_ascii_string_to_unsigned(line, 10, 1, 65535, &port, &error));
	double_port = (guint)port;
}

static void
stop_double(void)
{
	g_autoptr(GError) error = NULL;

	/* closing its stdin makes it exit on its own */
	g_output_stream_close(g_subprocess_get_stdin_pipe(double_proc), NULL, NULL);
	g_subprocess_wait(double_proc, NULL, &error);
	g_assert_no_error(error);
	g_clear_object(&double_proc);
}

int
main(int argc, char **argv)
{
	int rc;

	g_log_set_writer_func(capture_writer, NULL, NULL);
	g_test_init(&argc, &argv, NULL);
	/* GTest's handler prints every level itself; the plain one hands all to the writer */
	g_log_set_default_handler(g_log_default_handler, NULL);
	/* only loopback: a proxy from the environment must not see these requests */
	g_unsetenv("http_proxy");
	g_unsetenv("HTTP_PROXY");
	g_unsetenv("https_proxy");
	g_unsetenv("HTTPS_PROXY");
	g_unsetenv("all_proxy");
	g_unsetenv("ALL_PROXY");
	g_setenv(KEY_ENV, API_KEY, TRUE);
	g_assert_cmpint(curl_global_init(CURL_GLOBAL_DEFAULT), ==, CURLE_OK);
	main_thread = g_thread_self();
	log_text = g_string_new(NULL);
	tmp_dir = fl_test_mkdtemp();
	start_double();

	g_test_add_func("/llm/anthropic-split", test_anthropic_split);
	g_test_add_func("/llm/anthropic-crlf", test_anthropic_crlf);
	g_test_add_func("/llm/openai", test_openai);
	g_test_add_func("/llm/cut", test_cut);
	g_test_add_func("/llm/truncated", test_truncated);
	g_test_add_func("/llm/error-event", test_error_event);
	g_test_add_func("/llm/retry-429", test_retry_429);
	g_test_add_func("/llm/server-error", test_server_error);
	g_test_add_func("/llm/connection-refused", test_connection_refused);
	g_test_add_func("/llm/http-400", test_http_400);
	g_test_add_func("/llm/missing-key", test_missing_key);
	g_test_add_func("/llm/key-never-leaks", test_key_never_leaks);
	g_test_add_func("/llm/cancel-never-ending", test_cancel_never_ending);
	g_test_add_func("/llm/cancel-retry-wait", test_cancel_retry_wait);
	g_test_add_func("/llm/idle-timeout", test_idle_timeout);
	g_test_add_func("/llm/concurrent", test_concurrent);
	g_test_add_func("/webhook/json", test_webhook_json);
	g_test_add_func("/webhook/ntfy", test_webhook_ntfy);
	g_test_add_func("/webhook/header-value", test_webhook_header_value);
	g_test_add_func("/webhook/retry", test_webhook_retry);
	g_test_add_func("/webhook/refused", test_webhook_refused);
	g_test_add_func("/webhook/dead", test_webhook_dead);
	rc = g_test_run();

	stop_double();
	fl_test_rm_rf(tmp_dir);
	g_free(tmp_dir);
	g_string_free(log_text, TRUE);
	curl_global_cleanup();
	return rc;
}
