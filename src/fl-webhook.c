/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-webhook.h"

#include <string.h>

#include "fl-error.h"
#include "fl-i18n.h"
#include "fl-text.h"

#define FL_WEBHOOK_CONNECT_TIMEOUT_S 10
#define FL_WEBHOOK_IDLE_TIMEOUT_S    30
/* enough for the error message of any webhook server */
#define FL_WEBHOOK_MAX_REPLY 4096
/* longer titles are cut by every client anyway */
#define FL_WEBHOOK_MAX_TITLE_CHARS 200
/* an RFC 2047 encoded-word is at most 75 characters: 45 bytes make 60 of base64 */
#define FL_WEBHOOK_WORD_BYTES 45

/* owned by the GTask as its task data */
typedef struct {
	FlHttp *http; /* (owned) */
	gchar *url;
	gchar *where;    /* scheme://host[:port]: webhook paths often carry a token */
	gchar *path;     /* (nullable) kept out of messages */
	gchar **headers; /* (owned) */
	GBytes *body;    /* (owned) */
	guint attempt;
	/* the current attempt */
	guint status;
	gchar *retry_after;
	GString *reply; /* (owned) the start of the response body */
} FlWebhookSend;

static void
fl_webhook_send_free(FlWebhookSend *send)
{
	g_clear_object(&send->http);
	g_strfreev(send->headers);
	g_clear_pointer(&send->body, g_bytes_unref);
	g_string_free(send->reply, TRUE);
	g_free(send->url);
	g_free(send->where);
	g_free(send->path);
	g_free(send->retry_after);
	g_free(send);
}

gchar *
fl_webhook_header_value(const gchar *text)
{
	g_autofree gchar *clean = fl_text_clean(text != NULL ? text : "", -1, FL_TEXT_NONE);
	GString *out = g_string_new(NULL);
	gboolean ascii = TRUE;
	const gchar *p;

	g_strstrip(clean);
	if (g_utf8_strlen(clean, -1) > FL_WEBHOOK_MAX_TITLE_CHARS)
		*g_utf8_offset_to_pointer(clean, FL_WEBHOOK_MAX_TITLE_CHARS) = '\0';
	for (p = clean; *p != '\0'; p++) {
		if ((guchar)*p >= 0x80)
			ascii = FALSE;
	}
	/* plain ASCII that a decoder could mistake for an encoded-word is encoded too */
	if (ascii && strstr(clean, "=?") == NULL) {
		g_string_append(out, clean);
		return g_string_free(out, FALSE);
	}
	p = clean;
	while (*p != '\0') {
		const gchar *end = p;
		g_autofree gchar *b64 = NULL;

		/* whole characters only: a word must decode on its own */
		while (*end != '\0') {
			const gchar *next = g_utf8_next_char(end);

			if (next - p > FL_WEBHOOK_WORD_BYTES)
				break;
			end = next;
		}
		b64 = g_base64_encode((const guchar *)p, (gsize)(end - p));
		if (out->len > 0)
			g_string_append_c(out, ' ');
		g_string_append_printf(out, "=?UTF-8?B?%s?=", b64);
		p = end;
	}
	return g_string_free(out, FALSE);
}

static GBytes *
fl_webhook_json_body(const gchar *summary, const gchar *text, GPtrArray *items, gboolean urgent)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonGenerator) generator = json_generator_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree gchar *clean_summary =
		fl_text_clean(summary != NULL ? summary : "", -1, FL_TEXT_NONE);
	g_autofree gchar *clean_text = g_utf8_make_valid(text != NULL ? text : "", -1);
	gsize len = 0;
	gchar *data;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "summary");
	json_builder_add_string_value(builder, clean_summary);
	json_builder_set_member_name(builder, "text");
	json_builder_add_string_value(builder, clean_text);
	json_builder_set_member_name(builder, "urgent");
	json_builder_add_boolean_value(builder, urgent);
	json_builder_set_member_name(builder, "items");
	json_builder_begin_array(builder);
	for (guint i = 0; items != NULL && i < items->len; i++) {
		JsonNode *item = g_ptr_array_index(items, i);

		json_builder_add_value(builder, item != NULL ? json_node_copy(item)
							     : json_node_new(JSON_NODE_NULL));
	}
	json_builder_end_array(builder);
	json_builder_end_object(builder);

	root = json_builder_get_root(builder);
	json_generator_set_root(generator, root);
	data = json_generator_to_data(generator, &len);
	return g_bytes_new_take(data, len);
}

static void
fl_webhook_return_error(GTask *task, GError *error)
{
	g_debug("%s", error->message);
	g_task_return_error(task, error);
}

static gboolean
fl_webhook_response_cb(guint status, GHashTable *headers, gpointer user_data, GError **error)
{
	FlWebhookSend *send = user_data;

	send->status = status;
	g_free(send->retry_after);
	send->retry_after = g_strdup(g_hash_table_lookup(headers, "retry-after"));
	return TRUE;
}

static gboolean
fl_webhook_data_cb(const guint8 *data, gsize len, gpointer user_data, GError **error)
{
	FlWebhookSend *send = user_data;
	gsize room = FL_WEBHOOK_MAX_REPLY - send->reply->len;

	g_string_append_len(send->reply, (const gchar *)data, (gssize)MIN(len, room));
	return TRUE;
}

/* the transfer error without the URL fl_http puts in, whose path may be a secret */
static gchar *
fl_webhook_transfer_reason(FlWebhookSend *send, const GError *error)
{
	const gchar *failed = strstr(error->message, " failed: ");
	GString *reason;

	if (g_str_has_prefix(error->message, "HTTP request to ") && failed != NULL)
		return g_strdup(failed + strlen(" failed: "));
	reason = g_string_new(error->message);
	if (send->path != NULL && strlen(send->path) > 1)
		g_string_replace(reason, send->path, "/…", 0);
	return g_string_free(reason, FALSE);
}

/* what the server said, when it said it in JSON as ntfy and most services do */
static gchar *
fl_webhook_reply_message(FlWebhookSend *send)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	g_autofree gchar *reply = g_utf8_make_valid(send->reply->str, send->reply->len);
	const gchar *names[] = {"error", "message", "detail", NULL};
	JsonObject *obj;

	if (!json_parser_load_from_data(parser, reply, -1, NULL) ||
	    json_parser_get_root(parser) == NULL ||
	    !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
		return NULL;
	obj = json_node_get_object(json_parser_get_root(parser));
	for (guint i = 0; names[i] != NULL; i++) {
		JsonNode *node = json_object_get_member(obj, names[i]);

		if (node != NULL && JSON_NODE_HOLDS_VALUE(node) &&
		    json_node_get_value_type(node) == G_TYPE_STRING)
			return fl_text_clean(json_node_get_string(node), -1, FL_TEXT_NONE);
	}
	return NULL;
}

static void
fl_webhook_start_attempt(GTask *task);

static void
fl_webhook_retry_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	g_autoptr(GError) error = NULL;

	if (!fl_http_wait_finish(res, &error)) {
		fl_webhook_return_error(task, g_steal_pointer(&error));
		return;
	}
	fl_webhook_start_attempt(task);
}

static void
fl_webhook_schedule_retry(GTask *task, const gchar *reason)
{
	FlWebhookSend *send = g_task_get_task_data(task);
	guint delay_ms = fl_http_backoff_delay(send->attempt - 1, send->retry_after);

	g_debug("webhook at %s: attempt %u failed (%s), retrying in %u ms", send->where,
		send->attempt, reason, delay_ms);
	fl_http_wait_async(delay_ms, g_task_get_cancellable(task), fl_webhook_retry_cb,
			   g_object_ref(task));
}

static void
fl_webhook_request_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlWebhookSend *send = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reason = NULL;
	guint status = 0;
	gboolean retryable;

	fl_http_request_finish(FL_HTTP(source), res, &status, &error);
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		fl_webhook_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (status >= 200 && status < 300) {
		/* delivered: a reply cut short afterwards changes nothing */
		g_debug("webhook at %s: delivered (HTTP %u)", send->where, status);
		g_task_return_boolean(task, TRUE);
		return;
	}
	if (status == 0) {
		if (error != NULL && !g_error_matches(error, FL_ERROR, FL_ERROR_FAILED)) {
			fl_webhook_return_error(task, g_error_new(error->domain, error->code,
								  _("webhook at %s: %s"),
								  send->where, error->message));
			return;
		}
		reason = error != NULL ? fl_webhook_transfer_reason(send, error)
				       : g_strdup(_("no response"));
		retryable = TRUE;
	} else {
		g_autofree gchar *said = fl_webhook_reply_message(send);

		reason = said != NULL ? g_strdup_printf("HTTP %u: %s", status, said)
				      : g_strdup_printf("HTTP %u", status);
		retryable = status == 408 || status == 429 || status >= 500;
	}
	if (retryable && send->attempt < FL_WEBHOOK_MAX_ATTEMPTS) {
		fl_webhook_schedule_retry(task, reason);
		return;
	}
	if (retryable) {
		fl_webhook_return_error(task, g_error_new(FL_ERROR, FL_ERROR_FAILED,
							  _("webhook at %s failed after %u "
							    "attempts: %s"),
							  send->where, send->attempt, reason));
		return;
	}
	fl_webhook_return_error(task, g_error_new(FL_ERROR, FL_ERROR_FAILED,
						  _("webhook at %s refused the digest: %s"),
						  send->where, reason));
}

static void
fl_webhook_start_attempt(GTask *task)
{
	FlWebhookSend *send = g_task_get_task_data(task);
	FlHttpRequest request = {
		.url = send->url,
		.headers = (const gchar *const *)send->headers,
		.body = send->body,
		.connect_timeout_s = FL_WEBHOOK_CONNECT_TIMEOUT_S,
		.idle_timeout_s = FL_WEBHOOK_IDLE_TIMEOUT_S,
		.response_func = fl_webhook_response_cb,
		.data_func = fl_webhook_data_cb,
		.func_data = send,
	};

	send->attempt++;
	send->status = 0;
	g_clear_pointer(&send->retry_after, g_free);
	g_string_truncate(send->reply, 0);
	fl_http_request_async(send->http, &request, g_task_get_cancellable(task),
			      fl_webhook_request_done_cb, g_object_ref(task));
}

/* scheme://host[:port] for messages, and the path to keep out of them */
static gboolean
fl_webhook_parse_url(FlWebhookSend *send, const gchar *url, GError **error)
{
	g_autoptr(GUri) uri = g_uri_parse(url, G_URI_FLAGS_NONE, NULL);
	const gchar *scheme = uri != NULL ? g_uri_get_scheme(uri) : NULL;

	if (uri == NULL || g_uri_get_host(uri) == NULL ||
	    (g_strcmp0(scheme, "http") != 0 && g_strcmp0(scheme, "https") != 0)) {
		g_set_error_literal(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT,
				    _("the webhook URL must be an http:// or https:// URL"));
		return FALSE;
	}
	if (g_uri_get_port(uri) > 0)
		send->where = g_strdup_printf("%s://%s:%d", scheme, g_uri_get_host(uri),
					      g_uri_get_port(uri));
	else
		send->where = g_strdup_printf("%s://%s", scheme, g_uri_get_host(uri));
	send->path = g_strdup(g_uri_get_path(uri));
	return TRUE;
}

void
fl_webhook_send_async(FlHttp *http, const gchar *url, const gchar *format, const gchar *summary,
		      const gchar *text, GPtrArray *items, gboolean urgent,
		      GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) headers = g_ptr_array_new_with_free_func(g_free);
	FlWebhookSend *send;

	g_return_if_fail(FL_IS_HTTP(http));
	g_return_if_fail(url != NULL);
	g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

	task = g_task_new(NULL, cancellable, callback, user_data);
	g_task_set_source_tag(task, fl_webhook_send_async);
	send = g_new0(FlWebhookSend, 1);
	send->http = g_object_ref(http);
	send->url = g_strdup(url);
	send->reply = g_string_new(NULL);
	g_task_set_task_data(task, send, (GDestroyNotify)fl_webhook_send_free);

	if (!fl_webhook_parse_url(send, url, &error)) {
		fl_webhook_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (format == NULL || g_strcmp0(format, "json") == 0) {
		g_ptr_array_add(headers, g_strdup("Content-Type: application/json"));
		send->body = fl_webhook_json_body(summary, text, items, urgent);
	} else if (g_strcmp0(format, "ntfy") == 0) {
		g_autofree gchar *title = fl_webhook_header_value(summary);
		gchar *body = g_utf8_make_valid(text != NULL ? text : "", -1);

		g_ptr_array_add(headers, g_strdup("Content-Type: text/plain; charset=utf-8"));
		if (title[0] != '\0')
			g_ptr_array_add(headers, g_strdup_printf("Title: %s", title));
		g_ptr_array_add(headers, g_strdup_printf("Priority: %d", urgent ? 4 : 3));
		g_ptr_array_add(headers, g_strdup("Tags: robot"));
		send->body = g_bytes_new_take(body, strlen(body));
	} else {
		fl_webhook_return_error(task, g_error_new(FL_ERROR, FL_ERROR_INVALID_ARGUMENT,
							  _("unknown webhook format '%s': use json "
							    "or ntfy"),
							  format));
		return;
	}
	g_ptr_array_add(headers, NULL);
	send->headers = (gchar **)g_ptr_array_steal(headers, NULL);
	fl_webhook_start_attempt(task);
}

gboolean
fl_webhook_send_finish(GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, NULL), FALSE);
	g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == fl_webhook_send_async, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	return g_task_propagate_boolean(G_TASK(result), error);
}
