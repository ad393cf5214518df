/* SPDX-License-Identifier: GPL-2.0-or-later */
/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-llm.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fl-error.h"
#include "fl-i18n.h"
#include "fl-sse.h"
#include "fl-text.h"
#include "fl-util.h"

/* generous for one SSE line or event; real deltas are tiny */
#define FL_LLM_MAX_LINE  (1024 * 1024)
#define FL_LLM_MAX_EVENT (4 * 1024 * 1024)
/* far beyond max-tokens=1000000: only a broken or hostile server gets here */
#define FL_LLM_MAX_TEXT (16 * 1024 * 1024)
/* enough for any API error message */
#define FL_LLM_MAX_ERROR_BODY (64 * 1024)
#define FL_LLM_REDACTED       "[redacted]"

/* owned by the GTask as its task data */
typedef struct {
	FlHttp *http; /* (owned) */
	gchar *agent_name;
	gboolean openai;
	gchar *url;
	gchar *model;
	gchar *key;      /* (owned) (nullable) secret: wiped when freed */
	gchar **headers; /* (owned) carry the key: wiped when freed */
	GBytes *body;    /* (owned) */
	gchar *log_path; /* (nullable) */
	gint log_fd;     /* -1 when there is no log */
	gboolean log_at_line_start;
	FlLlmOptions options;
	GCancellable *cancellable; /* (unowned) (nullable) the task's */
	guint attempt;             /* requests started so far */

	/* the current attempt */
	FlSseParser *parser; /* (owned) */
	guint status;
	gchar *retry_after;
	GString *error_body;  /* (owned) body of a non-2xx response */
	GError *stream_error; /* (owned) (nullable) what stopped the stream on our side */
	gboolean done_marker; /* message_stop or [DONE] */

	/* the answer */
	GString *text; /* (owned) */
	guint input_tokens;
	guint output_tokens;
	gchar *reported_model;
	gchar *stop_reason;
} FlLlmRun;

void
fl_llm_result_free(FlLlmResult *result)
{
	if (result == NULL)
		return;
	g_free(result->text);
	g_free(result->model);
	g_free(result->stop_reason);
	g_free(result);
}

static void
fl_llm_wipe(gchar *secret)
{
	if (secret != NULL)
		explicit_bzero(secret, strlen(secret));
}

static void
fl_llm_run_free(FlLlmRun *run)
{
	if (run->log_fd >= 0)
		g_close(run->log_fd, NULL);
	fl_llm_wipe(run->key);
	g_free(run->key);
	for (guint i = 0; run->headers != NULL && run->headers[i] != NULL; i++)
		fl_llm_wipe(run->headers[i]);
	g_strfreev(run->headers);
	g_clear_object(&run->http);
	g_clear_pointer(&run->body, g_bytes_unref);
	g_clear_pointer(&run->parser, fl_sse_parser_free);
	g_string_free(run->error_body, TRUE);
	g_string_free(run->text, TRUE);
	g_clear_error(&run->stream_error);
	g_free(run->agent_name);
	g_free(run->url);
	g_free(run->model);
	g_free(run->log_path);
	g_free(run->retry_after);
	g_free(run->reported_model);
	g_free(run->stop_reason);
	g_free(run);
}

/* whatever a server or libcurl says goes through here before anyone sees it */
static gchar *
fl_llm_redact(FlLlmRun *run, const gchar *message)
{
	GString *str = g_string_new(message);

	if (run->key != NULL && run->key[0] != '\0')
		g_string_replace(str, run->key, FL_LLM_REDACTED, 0);
	return g_string_free(str, FALSE);
}

static void
fl_llm_return_error(GTask *task, GError *error)
{
	FlLlmRun *run = g_task_get_task_data(task);
	g_autofree gchar *message = fl_llm_redact(run, error->message);

	g_debug("http agent %s: failed after %u request(s): %s", run->agent_name, run->attempt,
		message);
	g_task_return_new_error(task, error->domain, error->code, "%s", message);
	g_error_free(error);
}

static gboolean
fl_llm_write_all(gint fd, const gchar *data, gsize len, GError **error)
{
	while (len > 0) {
		gssize n = write(fd, data, len);

		if (n < 0) {
			gint errsv = errno;

			if (errsv == EINTR)
				continue;
			g_set_error(error, FL_ERROR, FL_ERROR_FAILED,
				    _("cannot write to the session log: %s"), g_strerror(errsv));
			return FALSE;
		}
		data += n;
		len -= (gsize)n;
	}
	return TRUE;
}

static gboolean
fl_llm_log(FlLlmRun *run, const gchar *data, gsize len, GError **error)
{
	if (run->log_fd < 0 || len == 0)
		return TRUE;
	if (!fl_llm_write_all(run->log_fd, data, len, error))
		return FALSE;
	run->log_at_line_start = data[len - 1] == '\n';
	return TRUE;
}

/* a flotilla note in the log starts on a line of its own */
static void
fl_llm_log_line_end(FlLlmRun *run)
{
	g_autoptr(GError) error = NULL;

	if (run->log_fd < 0 || run->log_at_line_start)
		return;
	if (!fl_llm_log(run, "\n", 1, &error))
		g_debug("http agent %s: %s", run->agent_name, error->message);
}

static void
fl_llm_log_note(FlLlmRun *run, const gchar *note)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *safe = fl_llm_redact(run, note);
	g_autofree gchar *line = g_strdup_printf("flotilla: %s\n", safe);

	fl_llm_log_line_end(run);
	if (!fl_llm_log(run, line, strlen(line), &error))
		g_debug("http agent %s: %s", run->agent_name, error->message);
}

/* JSON accessors that tolerate whatever shape a server sends */

static JsonObject *
fl_llm_json_object(JsonObject *obj, const gchar *name)
{
	JsonNode *node = obj != NULL ? json_object_get_member(obj, name) : NULL;

	if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
		return NULL;
	return json_node_get_object(node);
}

static void
fl_llm_set_string(gchar **dst, const gchar *value)
{
	if (value == NULL || g_strcmp0(*dst, value) == 0)
		return;
	g_free(*dst);
	*dst = g_strdup(value);
}

static void
fl_llm_stream_fail(FlLlmRun *run, GError *error)
{
	if (run->stream_error == NULL) {
		run->stream_error = error;
		return;
	}
	g_error_free(error);
}

static void
fl_llm_add_text(FlLlmRun *run, const gchar *text)
{
	gsize len = strlen(text);
	GError *error = NULL;

	if (len == 0)
		return;
	if (len > FL_LLM_MAX_TEXT - run->text->len) {
		fl_llm_stream_fail(run, g_error_new(FL_ERROR, FL_ERROR_LIMIT_EXCEEDED,
						    _("the model's answer is longer than %u MiB"),
						    (guint)(FL_LLM_MAX_TEXT / (1024 * 1024))));
		return;
	}
	g_string_append_len(run->text, text, (gssize)len);
	if (!fl_llm_log(run, text, len, &error)) {
		fl_llm_stream_fail(run, error);
		return;
	}
	if (run->options.text_func != NULL)
		run->options.text_func(text, run->options.text_func_data);
}

/* the API's own words from an Anthropic or OpenAI error object */
static gchar *
fl_llm_error_object_message(JsonObject *error_obj)
{
	const gchar *message = fl_json_get_string(error_obj, "message");
	const gchar *type = fl_json_get_string(error_obj, "type");

	if (message != NULL)
		return g_strdup(message);
	if (type != NULL)
		return g_strdup(type);
	return g_strdup(_("no error message"));
}

/* an error event in a stream that started fine: its type tells overload from bad input */
static void
fl_llm_error_event(FlLlmRun *run, JsonObject *error_obj)
{
	g_autofree gchar *message = fl_llm_error_object_message(error_obj);
	const gchar *type = fl_json_get_string(error_obj, "type");

	if (type != NULL && g_strcmp0(type, message) != 0) {
		fl_llm_stream_fail(run, g_error_new(FL_ERROR, FL_ERROR_FAILED,
						    _("the model API reported an error "
						      "(%s): %s"),
						    type, message));
		return;
	}
	fl_llm_stream_fail(run, g_error_new(FL_ERROR, FL_ERROR_FAILED,
					    _("the model API reported an error: %s"), message));
}

static void
fl_llm_anthropic_event(FlLlmRun *run, const gchar *type, JsonObject *obj)
{
	if (g_strcmp0(type, "message_start") == 0) {
		JsonObject *message = fl_llm_json_object(obj, "message");
		JsonObject *usage = fl_llm_json_object(message, "usage");

		fl_llm_set_string(&run->reported_model, fl_json_get_string(message, "model"));
		fl_json_get_uint(usage, "input_tokens", &run->input_tokens);
		fl_json_get_uint(usage, "output_tokens", &run->output_tokens);
		return;
	}
	if (g_strcmp0(type, "content_block_delta") == 0) {
		JsonObject *delta = fl_llm_json_object(obj, "delta");
		const gchar *text = fl_json_get_string(delta, "text");

		/* thinking and tool-input deltas are not part of the answer */
		if (g_strcmp0(fl_json_get_string(delta, "type"), "text_delta") == 0 && text != NULL)
			fl_llm_add_text(run, text);
		return;
	}
	if (g_strcmp0(type, "message_delta") == 0) {
		JsonObject *delta = fl_llm_json_object(obj, "delta");
		JsonObject *usage = fl_llm_json_object(obj, "usage");

		fl_llm_set_string(&run->stop_reason, fl_json_get_string(delta, "stop_reason"));
		/* cumulative counts: the last ones win */
		fl_json_get_uint(usage, "input_tokens", &run->input_tokens);
		fl_json_get_uint(usage, "output_tokens", &run->output_tokens);
		return;
	}
	if (g_strcmp0(type, "message_stop") == 0) {
		run->done_marker = TRUE;
		return;
	}
	if (g_strcmp0(type, "error") == 0)
		fl_llm_error_event(run, fl_llm_json_object(obj, "error"));
	/* ping, content_block_start/stop and future events carry nothing we need */
}

static void
fl_llm_openai_event(FlLlmRun *run, JsonObject *obj)
{
	JsonObject *error_obj = fl_llm_json_object(obj, "error");
	JsonObject *usage = fl_llm_json_object(obj, "usage");
	JsonNode *choices = json_object_get_member(obj, "choices");

	if (error_obj != NULL) {
		fl_llm_error_event(run, error_obj);
		return;
	}
	fl_llm_set_string(&run->reported_model, fl_json_get_string(obj, "model"));
	if (choices != NULL && JSON_NODE_HOLDS_ARRAY(choices) &&
	    json_array_get_length(json_node_get_array(choices)) > 0) {
		JsonNode *first = json_array_get_element(json_node_get_array(choices), 0);
		JsonObject *choice =
			JSON_NODE_HOLDS_OBJECT(first) ? json_node_get_object(first) : NULL;
		JsonObject *delta = fl_llm_json_object(choice, "delta");
		const gchar *content = fl_json_get_string(delta, "content");

		if (content != NULL)
			fl_llm_add_text(run, content);
		fl_llm_set_string(&run->stop_reason, fl_json_get_string(choice, "finish_reason"));
	}
	fl_json_get_uint(usage, "prompt_tokens", &run->input_tokens);
	fl_json_get_uint(usage, "completion_tokens", &run->output_tokens);
}

static void
fl_llm_sse_event_cb(const gchar *event_type, const gchar *data, const gchar *id, gpointer user_data)
{
	FlLlmRun *run = user_data;
	g_autoptr(JsonParser) parser = NULL;
	g_autoptr(GError) error = NULL;
	JsonNode *root;

	/* the rest of a chunk must not reach the caller after a cancellation */
	if (run->stream_error != NULL || run->done_marker ||
	    g_cancellable_is_cancelled(run->cancellable))
		return;
	if (run->openai && g_strcmp0(data, "[DONE]") == 0) {
		run->done_marker = TRUE;
		return;
	}
	parser = json_parser_new_immutable();
	if (!json_parser_load_from_data(parser, data, -1, &error)) {
		fl_llm_stream_fail(run, g_error_new(FL_ERROR, FL_ERROR_FAILED,
						    _("the model API sent invalid JSON: %s"),
						    error->message));
		return;
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		fl_llm_stream_fail(
			run, g_error_new_literal(FL_ERROR, FL_ERROR_FAILED,
						 _("the model API sent an event that is not a "
						   "JSON object")));
		return;
	}
	if (run->openai) {
		fl_llm_openai_event(run, json_node_get_object(root));
		return;
	}
	/* the type inside the data is authoritative; the SSE event name is the fallback */
	fl_llm_anthropic_event(run,
			       fl_json_get_string(json_node_get_object(root), "type") != NULL
				       ? fl_json_get_string(json_node_get_object(root), "type")
				       : event_type,
			       json_node_get_object(root));
}

static gboolean
fl_llm_is_success(guint status)
{
	return status >= 200 && status < 300;
}

static gboolean
fl_llm_response_cb(guint status, GHashTable *headers, gpointer user_data, GError **error)
{
	FlLlmRun *run = user_data;

	run->status = status;
	fl_llm_set_string(&run->retry_after, g_hash_table_lookup(headers, "retry-after"));
	return TRUE;
}

static gboolean
fl_llm_data_cb(const guint8 *data, gsize len, gpointer user_data, GError **error)
{
	FlLlmRun *run = user_data;
	GError *feed_error = NULL;

	if (!fl_llm_is_success(run->status)) {
		/* only the start of an error body: the message is always near the top */
		gsize room = FL_LLM_MAX_ERROR_BODY - run->error_body->len;

		g_string_append_len(run->error_body, (const gchar *)data, (gssize)MIN(len, room));
		return TRUE;
	}
	if (!fl_sse_parser_feed(run->parser, data, len, &feed_error))
		fl_llm_stream_fail(run, feed_error);
	if (run->stream_error != NULL) {
		g_propagate_error(error, g_error_copy(run->stream_error));
		return FALSE;
	}
	return TRUE;
}

/* "HTTP 400: <what the API said>", the API's own words when its body has them */
static GError *
fl_llm_status_error(FlLlmRun *run)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	g_autofree gchar *message = NULL;
	g_autofree gchar *body = g_utf8_make_valid(run->error_body->str, run->error_body->len);
	JsonNode *root = NULL;

	if (json_parser_load_from_data(parser, body, -1, NULL))
		root = json_parser_get_root(parser);
	if (root != NULL && JSON_NODE_HOLDS_OBJECT(root)) {
		JsonObject *obj = json_node_get_object(root);
		JsonObject *error_obj = fl_llm_json_object(obj, "error");

		if (error_obj != NULL)
			message = fl_llm_error_object_message(error_obj);
		else if (fl_json_get_string(obj, "error") != NULL)
			message = g_strdup(fl_json_get_string(obj, "error"));
		else if (fl_json_get_string(obj, "message") != NULL)
			message = g_strdup(fl_json_get_string(obj, "message"));
		else if (fl_json_get_string(obj, "detail") != NULL)
			message = g_strdup(fl_json_get_string(obj, "detail"));
	}
	if (message == NULL) {
		/* not JSON: one line of the body is better than nothing */
		g_autofree gchar *line = fl_text_clean(body, -1, FL_TEXT_COLLAPSE_SPACE);

		message = line[0] != '\0' ? fl_text_ellipsize(line, 200)
					  : g_strdup(_("no error message"));
	}
	return g_error_new(FL_ERROR, FL_ERROR_FAILED, _("HTTP %u: %s"), run->status, message);
}

static void
fl_llm_start_attempt(GTask *task);

static void
fl_llm_retry_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	g_autoptr(GError) error = NULL;

	if (!fl_http_wait_finish(res, &error)) {
		fl_llm_log_line_end(g_task_get_task_data(task));
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	fl_llm_start_attempt(task);
}

static void
fl_llm_schedule_retry(GTask *task, const gchar *reason)
{
	FlLlmRun *run = g_task_get_task_data(task);
	guint delay_ms = fl_http_backoff_delay(run->attempt - 1, run->retry_after);
	guint delay_s = delay_ms == 0 ? 0 : MAX(1u, (delay_ms + 500) / 1000);
	g_autofree gchar *note = NULL;
	g_autofree gchar *safe_reason = fl_llm_redact(run, reason);

	/* TRANSLATORS: a line in the session log; the reason is e.g. "HTTP 429" */
	note = g_strdup_printf(_("retrying in %u s (%s)"), delay_s, safe_reason);
	fl_llm_log_note(run, note);
	g_debug("http agent %s: request %u failed (%s), retrying in %u ms", run->agent_name,
		run->attempt, safe_reason, delay_ms);

	fl_http_wait_async(delay_ms, g_task_get_cancellable(task), fl_llm_retry_cb,
			   g_object_ref(task));
}

static void
fl_llm_return_result(GTask *task)
{
	FlLlmRun *run = g_task_get_task_data(task);
	FlLlmResult *result = g_new0(FlLlmResult, 1);

	fl_llm_log_line_end(run);
	result->text = g_strndup(run->text->str, run->text->len);
	result->input_tokens = run->input_tokens;
	result->output_tokens = run->output_tokens;
	result->model = g_strdup(run->reported_model != NULL ? run->reported_model : run->model);
	result->stop_reason = g_strdup(run->stop_reason);
	result->attempts = run->attempt;
	g_debug("http agent %s: done after %u request(s): %u bytes, %u+%u tokens", run->agent_name,
		run->attempt, (guint)run->text->len, run->input_tokens, run->output_tokens);
	g_task_return_pointer(task, result, (GDestroyNotify)fl_llm_result_free);
}

/* the outcome of a request that got a 2xx status */
static GError *
fl_llm_stream_outcome(FlLlmRun *run, GError *transfer_error)
{
	GError *error = NULL;

	if (transfer_error != NULL) {
		if (fl_sse_parser_is_mid_event(run->parser))
			return g_error_new(FL_ERROR, FL_ERROR_FAILED,
					   _("the model API stream ended in the middle of an "
					     "event: %s"),
					   transfer_error->message);
		return g_error_new(FL_ERROR, FL_ERROR_FAILED, _("the model API stream broke: %s"),
				   transfer_error->message);
	}
	if (!fl_sse_parser_finish(run->parser, &error)) {
		if (fl_sse_parser_is_mid_event(run->parser)) {
			g_clear_error(&error);
			return g_error_new_literal(FL_ERROR, FL_ERROR_FAILED,
						   _("the model API stream ended in the middle "
						     "of an event"));
		}
		g_prefix_error(&error, "%s", _("the model API stream broke: "));
		return error;
	}
	if (!run->done_marker && run->stop_reason == NULL)
		return g_error_new_literal(FL_ERROR, FL_ERROR_FAILED,
					   _("the model API stream ended before the answer was "
					     "complete"));
	return NULL;
}

static void
fl_llm_request_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlLlmRun *run = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) failure = NULL;
	g_autofree gchar *reason = NULL;
	guint status = 0;
	gboolean retryable = FALSE;

	fl_http_request_finish(FL_HTTP(source), res, &status, &error);
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		fl_llm_log_line_end(run);
		fl_llm_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (run->stream_error != NULL) {
		/* our own reason, which fl_http also reports */
		fl_llm_log_line_end(run);
		fl_llm_return_error(task, g_steal_pointer(&run->stream_error));
		return;
	}
	if (status == 0) {
		/* no response at all: nothing was generated, trying again is safe */
		failure = error != NULL ? g_steal_pointer(&error)
					: g_error_new_literal(FL_ERROR, FL_ERROR_FAILED,
							      _("the model API sent no response"));
		reason = g_strdup(failure->message);
		retryable = g_error_matches(failure, FL_ERROR, FL_ERROR_FAILED);
	} else if (fl_llm_is_success(status)) {
		/* a stream that started is not retried: the model would start over */
		failure = fl_llm_stream_outcome(run, error);
		if (failure == NULL) {
			fl_llm_return_result(task);
			return;
		}
	} else {
		run->status = status;
		failure = fl_llm_status_error(run);
		reason = g_strdup_printf("HTTP %u", status);
		retryable = status == 408 || status == 429 || status >= 500;
	}

	if (retryable && run->attempt < run->options.max_attempts) {
		fl_llm_schedule_retry(task, reason);
		return;
	}
	fl_llm_log_line_end(run);
	if (retryable && run->attempt > 1) {
		fl_llm_return_error(task, g_error_new(failure->domain, failure->code,
						      _("%s (gave up after %u attempts)"),
						      failure->message, run->attempt));
		return;
	}
	fl_llm_return_error(task, g_steal_pointer(&failure));
}

static void
fl_llm_start_attempt(GTask *task)
{
	FlLlmRun *run = g_task_get_task_data(task);
	FlHttpRequest request = {
		.url = run->url,
		.headers = (const gchar *const *)run->headers,
		.body = run->body,
		.connect_timeout_s = run->options.connect_timeout_s,
		.idle_timeout_s = run->options.idle_timeout_s,
		.response_func = fl_llm_response_cb,
		.data_func = fl_llm_data_cb,
		.func_data = run,
	};

	run->attempt++;
	run->status = 0;
	run->done_marker = FALSE;
	g_clear_pointer(&run->retry_after, g_free);
	g_clear_pointer(&run->parser, fl_sse_parser_free);
	run->parser =
		fl_sse_parser_new(FL_LLM_MAX_LINE, FL_LLM_MAX_EVENT, fl_llm_sse_event_cb, run);
	g_string_truncate(run->error_body, 0);
	g_string_truncate(run->text, 0);
	g_clear_pointer(&run->stop_reason, g_free);
	g_debug("http agent %s: request %u of %u", run->agent_name, run->attempt,
		run->options.max_attempts);
	fl_http_request_async(run->http, &request, g_task_get_cancellable(task),
			      fl_llm_request_done_cb, g_object_ref(task));
}

static GBytes *
fl_llm_build_body(FlLlmRun *run, const gchar *goal, guint max_tokens)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonGenerator) generator = json_generator_new();
	g_autoptr(JsonNode) root = NULL;
	gsize len = 0;
	gchar *data;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "model");
	json_builder_add_string_value(builder, run->model);
	if (!run->openai) {
		json_builder_set_member_name(builder, "max_tokens");
		json_builder_add_int_value(builder, max_tokens);
	}
	json_builder_set_member_name(builder, "stream");
	json_builder_add_boolean_value(builder, TRUE);
	if (run->openai) {
		/* the usage arrives in one last chunk only when asked for */
		json_builder_set_member_name(builder, "stream_options");
		json_builder_begin_object(builder);
		json_builder_set_member_name(builder, "include_usage");
		json_builder_add_boolean_value(builder, TRUE);
		json_builder_end_object(builder);
	}
	json_builder_set_member_name(builder, "messages");
	json_builder_begin_array(builder);
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "role");
	json_builder_add_string_value(builder, "user");
	json_builder_set_member_name(builder, "content");
	json_builder_add_string_value(builder, goal);
	json_builder_end_object(builder);
	json_builder_end_array(builder);
	json_builder_end_object(builder);

	root = json_builder_get_root(builder);
	json_generator_set_root(generator, root);
	data = json_generator_to_data(generator, &len);
	return g_bytes_new_take(data, len);
}

/* the key from the environment, checked so that it cannot break the header it goes in */
static gboolean
fl_llm_read_key(FlLlmRun *run, const gchar *env_name, GError **error)
{
	const gchar *value = g_getenv(env_name);
	g_autofree gchar *key = NULL;

	if (value == NULL || value[0] == '\0') {
		g_set_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT,
			    _("the environment variable %s is not set: agent %s needs it for its "
			      "API key"),
			    env_name, run->agent_name);
		return FALSE;
	}
	/* a trailing newline from $(cat keyfile) is common and harmless */
	key = g_strstrip(g_strdup(value));
	for (const gchar *p = key; *p != '\0'; p++) {
		if (*p > 0x20 && *p < 0x7f)
			continue;
		fl_llm_wipe(key);
		g_set_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT,
			    _("the environment variable %s does not hold a usable API key (it "
			      "contains spaces, control or non-ASCII characters)"),
			    env_name);
		return FALSE;
	}
	if (key[0] == '\0') {
		g_set_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT,
			    _("the environment variable %s is empty: agent %s needs it for its "
			      "API key"),
			    env_name, run->agent_name);
		return FALSE;
	}
	run->key = g_steal_pointer(&key);
	return TRUE;
}

static void
fl_llm_build_headers(FlLlmRun *run)
{
	g_autoptr(GPtrArray) headers = g_ptr_array_new();

	if (run->openai) {
		if (run->key != NULL)
			g_ptr_array_add(headers,
					g_strdup_printf("Authorization: Bearer %s", run->key));
		g_ptr_array_add(headers, g_strdup("Content-Type: application/json"));
	} else {
		if (run->key != NULL)
			g_ptr_array_add(headers, g_strdup_printf("x-api-key: %s", run->key));
		g_ptr_array_add(headers, g_strdup("anthropic-version: 2023-06-01"));
		g_ptr_array_add(headers, g_strdup("content-type: application/json"));
	}
	g_ptr_array_add(headers, g_strdup("Accept: text/event-stream"));
	g_ptr_array_add(headers, NULL);
	run->headers = (gchar **)g_ptr_array_steal(headers, NULL);
}

static gboolean
fl_llm_open_log(FlLlmRun *run, GError **error)
{
	gint fd = g_open(run->log_path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	gchar last = '\n';
	struct stat st;

	if (fd < 0) {
		gint errsv = errno;

		g_set_error(error, FL_ERROR, FL_ERROR_FAILED,
			    _("cannot open the session log %s: %s"), run->log_path,
			    g_strerror(errsv));
		return FALSE;
	}
	run->log_fd = fd;
	/* our notes go on lines of their own even after what others wrote */
	if (fstat(fd, &st) == 0 && st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) != 1)
		last = '\n';
	run->log_at_line_start = last == '\n';
	return TRUE;
}

void
fl_llm_run_full_async(FlHttp *http, const FlAgentConfig *agent, const gchar *goal,
		      const gchar *log_path, const FlLlmOptions *options, GCancellable *cancellable,
		      GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autoptr(GError) error = NULL;
	FlLlmRun *run;

	g_return_if_fail(FL_IS_HTTP(http));
	g_return_if_fail(agent != NULL);
	g_return_if_fail(agent->url != NULL);
	g_return_if_fail(agent->model != NULL);
	g_return_if_fail(goal != NULL);
	g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

	task = g_task_new(NULL, cancellable, callback, user_data);
	g_task_set_source_tag(task, fl_llm_run_full_async);
	run = g_new0(FlLlmRun, 1);
	run->log_fd = -1;
	run->log_at_line_start = TRUE;
	run->http = g_object_ref(http);
	run->agent_name = g_strdup(agent->name != NULL ? agent->name : "http");
	run->openai = g_strcmp0(agent->api, "openai") == 0;
	run->url = g_strdup(agent->url);
	run->model = g_strdup(agent->model);
	run->log_path = g_strdup(log_path);
	run->error_body = g_string_new(NULL);
	run->text = g_string_new(NULL);
	if (options != NULL)
		run->options = *options;
	if (run->options.connect_timeout_s == 0)
		run->options.connect_timeout_s = FL_LLM_CONNECT_TIMEOUT_S;
	if (run->options.idle_timeout_s == 0)
		run->options.idle_timeout_s = FL_LLM_IDLE_TIMEOUT_S;
	if (run->options.max_attempts == 0)
		run->options.max_attempts = FL_LLM_MAX_ATTEMPTS;
	run->cancellable = g_task_get_cancellable(task);
	g_task_set_task_data(task, run, (GDestroyNotify)fl_llm_run_free);

	if (g_task_return_error_if_cancelled(task))
		return;
	if (!g_utf8_validate(goal, -1, NULL)) {
		g_task_return_new_error(task, FL_ERROR, FL_ERROR_INVALID_ARGUMENT, "%s",
					_("the goal is not valid UTF-8"));
		return;
	}
	if (agent->api_key_env != NULL && !fl_llm_read_key(run, agent->api_key_env, &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (run->log_path != NULL && !fl_llm_open_log(run, &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	fl_llm_build_headers(run);
	run->body = fl_llm_build_body(run, goal, agent->max_tokens > 0 ? agent->max_tokens : 4096);
	fl_llm_start_attempt(task);
}

void
fl_llm_run_async(FlHttp *http, const FlAgentConfig *agent, const gchar *goal, const gchar *log_path,
		 GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	fl_llm_run_full_async(http, agent, goal, log_path, NULL, cancellable, callback, user_data);
}

FlLlmResult *
fl_llm_run_finish(GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
	g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == fl_llm_run_full_async, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	return g_task_propagate_pointer(G_TASK(result), error);
}
