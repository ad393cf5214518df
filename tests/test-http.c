/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <curl/curl.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "fl-error.h"
#include "fl-http.h"
#include "fl-sse.h"
#include "fl-test-harness.h"

/* what the double's /sse-split and /sse-crlf streams must parse into */
#define SPLIT_EVENTS                                                                               \
	"delta|{\"text\":\"caf\xC3\xA9\"}|\n"                                                      \
	"message|line1\nline2|7\n"                                                                 \
	"message|last|7\n"
#define CRLF_EVENTS                                                                                \
	"start|a|\n"                                                                               \
	"message|b\nc|\n"

#define WAIT_MS 20000

static GThread *main_thread;
static GSubprocess *double_proc;
static guint double_port;
static GString *log_text; /* every log message written while the tests run */

/* one streamed request and everything its callbacks saw */
typedef struct {
	FlSseParser *parser;
	GString *events;
	GString *body; /* raw body of non-200 responses */
	guint n_events;
	gboolean response_seen;
	guint response_status;
	gchar *retry_after;
	guint chunks_after_cancel;
	GCancellable *cancellable;
	guint cancel_after_events; /* 0: never; else cancel from inside the data callback */
	gboolean cancel_from_idle; /* cancel from the main loop instead */
	gint64 cancel_time;
	gint64 done_time;
	gboolean done;
	gboolean ok;
	guint status;
	GError *error;
	GError *finish_error; /* from the SSE parser at the end of a complete transfer */
} Stream;

static gchar *
url_for(const gchar *path)
{
	return g_strdup_printf("http://127.0.0.1:%u%s", double_port, path);
}

static void
stream_event_cb(const gchar *event_type, const gchar *data, const gchar *id, gpointer user_data);

static Stream *
stream_new(void)
{
	Stream *stream = g_new0(Stream, 1);

	stream->events = g_string_new(NULL);
	stream->body = g_string_new(NULL);
	stream->parser = fl_sse_parser_new(4096, 65536, stream_event_cb, stream);
	stream->cancellable = g_cancellable_new();
	return stream;
}

static void
stream_free(Stream *stream)
{
	fl_sse_parser_free(stream->parser);
	g_string_free(stream->events, TRUE);
	g_string_free(stream->body, TRUE);
	g_free(stream->retry_after);
	g_object_unref(stream->cancellable);
	g_clear_error(&stream->error);
	g_clear_error(&stream->finish_error);
	g_free(stream);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Stream, stream_free)

static void
stream_cancel_idle_cb(gpointer user_data)
{
	Stream *stream = user_data;

	stream->cancel_time = g_get_monotonic_time();
	g_cancellable_cancel(stream->cancellable);
}

static void
stream_event_cb(const gchar *event_type, const gchar *data, const gchar *id, gpointer user_data)
{
	Stream *stream = user_data;

	g_assert_true(g_thread_self() == main_thread);
	g_string_append_printf(stream->events, "%s|%s|%s\n", event_type, data, id);
	stream->n_events++;
	if (stream->cancel_after_events == 0 || stream->n_events != stream->cancel_after_events)
		return;
	if (stream->cancel_from_idle) {
		g_idle_add_once(stream_cancel_idle_cb, stream);
		return;
	}
	stream->cancel_time = g_get_monotonic_time();
	g_cancellable_cancel(stream->cancellable);
}

static gboolean
stream_response_cb(guint status, GHashTable *headers, gpointer user_data, GError **error)
{
	Stream *stream = user_data;

	g_assert_true(g_thread_self() == main_thread);
	g_assert_false(stream->response_seen);
	stream->response_seen = TRUE;
	stream->response_status = status;
	stream->retry_after = g_strdup(g_hash_table_lookup(headers, "retry-after"));
	return TRUE;
}

static gboolean
stream_data_cb(const guint8 *data, gsize len, gpointer user_data, GError **error)
{
	Stream *stream = user_data;

	g_assert_true(g_thread_self() == main_thread);
	g_assert_true(stream->response_seen);
	if (g_cancellable_is_cancelled(stream->cancellable))
		stream->chunks_after_cancel++;
	if (stream->response_status != 200) {
		g_string_append_len(stream->body, (const gchar *)data, (gssize)len);
		return TRUE;
	}
	return fl_sse_parser_feed(stream->parser, data, len, error);
}

static void
stream_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	Stream *stream = user_data;

	g_assert_true(g_thread_self() == main_thread);
	g_assert_false(stream->done);
	stream->ok =
		fl_http_request_finish(FL_HTTP(source), result, &stream->status, &stream->error);
	if (stream->ok && stream->status == 200)
		fl_sse_parser_finish(stream->parser, &stream->finish_error);
	stream->done_time = g_get_monotonic_time();
	stream->done = TRUE;
}

static gboolean
stream_is_done(gpointer user_data)
{
	Stream *stream = user_data;

	return stream->done;
}

static void
stream_start(FlHttp *http, Stream *stream, const gchar *path, guint idle_timeout_s)
{
	g_autofree gchar *url = url_for(path);
	const gchar *headers[] = {"Accept: text/event-stream", NULL};
	FlHttpRequest request = {
		.url = url,
		.headers = headers,
		.connect_timeout_s = 5,
		.idle_timeout_s = idle_timeout_s,
		.response_func = stream_response_cb,
		.data_func = stream_data_cb,
		.func_data = stream,
	};

	fl_http_request_async(http, &request, stream->cancellable, stream_done_cb, stream);
}

static Stream *
stream_run(FlHttp *http, const gchar *path, guint idle_timeout_s)
{
	Stream *stream = stream_new();

	stream_start(http, stream, path, idle_timeout_s);
	g_assert_true(fl_test_wait_for(stream_is_done, stream, WAIT_MS));
	return stream;
}

static void
test_http_sse_split(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(Stream) stream = stream_run(http, "/sse-split", 0);

	g_assert_no_error(stream->error);
	g_assert_true(stream->ok);
	g_assert_cmpuint(stream->status, ==, 200);
	g_assert_cmpuint(stream->response_status, ==, 200);
	g_assert_no_error(stream->finish_error);
	g_assert_cmpstr(stream->events->str, ==, SPLIT_EVENTS);
}

static void
test_http_sse_crlf(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(Stream) stream = stream_run(http, "/sse-crlf", 0);

	g_assert_no_error(stream->error);
	g_assert_cmpuint(stream->status, ==, 200);
	g_assert_no_error(stream->finish_error);
	g_assert_cmpstr(stream->events->str, ==, CRLF_EVENTS);
}

static void
test_http_cut_chunked(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(Stream) stream = stream_run(http, "/cut", 0);

	/* the complete event still arrived; the broken transfer is an error naming the URL */
	g_assert_cmpstr(stream->events->str, ==, "message|complete|\n");
	g_assert_error(stream->error, FL_ERROR, FL_ERROR_FAILED);
	g_assert_nonnull(strstr(stream->error->message, "/cut"));
	g_assert_nonnull(strstr(stream->error->message, "transfer closed"));
	g_assert_cmpuint(stream->status, ==, 200);
	g_assert_true(fl_sse_parser_is_mid_event(stream->parser));
}

static void
test_http_cut_close(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(Stream) stream = stream_run(http, "/cut-close", 0);

	/* the TCP stream ended cleanly, so only the SSE parser can tell the event was cut */
	g_assert_no_error(stream->error);
	g_assert_cmpuint(stream->status, ==, 200);
	g_assert_cmpstr(stream->events->str, ==, "message|complete|\n");
	g_assert_error(stream->finish_error, FL_ERROR, FL_ERROR_FAILED);
	g_assert_cmpstr(stream->finish_error->message, ==,
			"stream ended in the middle of an event");
}

typedef struct {
	gboolean fired;
} RetryWait;

static void
retry_wait_cb(gpointer user_data)
{
	RetryWait *wait = user_data;

	wait->fired = TRUE;
}

static gboolean
retry_wait_fired(gpointer user_data)
{
	RetryWait *wait = user_data;

	return wait->fired;
}

static void
test_http_retry_429(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	gint64 start = g_get_monotonic_time();
	guint attempt = 0;

	for (;;) {
		g_autoptr(Stream) stream = stream_run(http, "/429?n=2", 0);
		RetryWait wait = {FALSE};
		guint delay;

		g_assert_no_error(stream->error);
		if (stream->status == 200) {
			g_assert_cmpstr(stream->events->str, ==, "message|ok after 2|\n");
			break;
		}
		g_assert_cmpuint(stream->status, ==, 429);
		g_assert_cmpstr(stream->retry_after, ==, "1");
		g_assert_cmpstr(stream->body->str, ==, "{\"error\": \"rate limited\"}");
		g_assert_cmpuint(attempt, <, 2);
		delay = fl_http_backoff_delay(attempt, stream->retry_after);
		g_assert_cmpuint(delay, >=, 1000);
		g_assert_cmpuint(delay, <=, 1100);
		attempt++;
		/* the retry delay is the behaviour under test, not a wait for an event */
		g_timeout_add_once(delay, retry_wait_cb, &wait);
		g_assert_true(fl_test_wait_for(retry_wait_fired, &wait, WAIT_MS));
	}
	g_assert_cmpuint(attempt, ==, 2);
	/* Retry-After: 1, twice */
	g_assert_cmpint(g_get_monotonic_time() - start, >=, 2 * G_USEC_PER_SEC);
}

static void
test_http_server_error(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(Stream) stream = stream_run(http, "/500", 0);

	/* a complete 500 is a response, not a transport failure: the caller sees the status */
	g_assert_no_error(stream->error);
	g_assert_true(stream->ok);
	g_assert_cmpuint(stream->status, ==, 500);
	g_assert_cmpuint(stream->response_status, ==, 500);
	g_assert_nonnull(strstr(stream->body->str, "boom"));
	g_assert_cmpstr(stream->events->str, ==, "");
}

static void
assert_cancelled_promptly(Stream *stream)
{
	g_assert_error(stream->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_cmpuint(stream->chunks_after_cancel, ==, 0);
	g_assert_cmpuint(stream->n_events, ==, stream->cancel_after_events);
	g_assert_cmpint(stream->cancel_time, >, 0);
	/* the stream sends every 100 ms and never ends: only an abort completes it */
	g_assert_cmpint(stream->done_time - stream->cancel_time, <, G_USEC_PER_SEC);
	g_assert_cmpuint(stream->status, ==, 200);
}

static void
test_http_cancel_in_callback(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(Stream) stream = stream_new();

	stream->cancel_after_events = 3;
	stream_start(http, stream, "/never-ending", 0);
	g_assert_true(fl_test_wait_for(stream_is_done, stream, WAIT_MS));
	assert_cancelled_promptly(stream);
	g_assert_cmpstr(stream->events->str, ==,
			"message|tick 1|1\nmessage|tick 2|2\nmessage|tick 3|3\n");
}

static void
test_http_cancel_from_loop(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(Stream) stream = stream_new();

	stream->cancel_after_events = 1;
	stream->cancel_from_idle = TRUE;
	stream_start(http, stream, "/never-ending", 0);
	g_assert_true(fl_test_wait_for(stream_is_done, stream, WAIT_MS));
	assert_cancelled_promptly(stream);
}

typedef struct {
	FlHttp *http;
	Stream *first;
	Stream *second;
} Nested;

static gboolean
start_second_cb(guint status, GHashTable *headers, gpointer user_data, GError **error)
{
	Nested *nested = user_data;

	stream_response_cb(status, headers, nested->first, error);
	/* we are inside libcurl here, where it refuses new handles */
	stream_start(nested->http, nested->second, "/sse-crlf", 0);
	return TRUE;
}

static gboolean
nested_data_cb(const guint8 *data, gsize len, gpointer user_data, GError **error)
{
	Nested *nested = user_data;

	return stream_data_cb(data, len, nested->first, error);
}

static void
test_http_start_from_callback(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(Stream) first = stream_new();
	g_autoptr(Stream) second = stream_new();
	g_autofree gchar *url = url_for("/sse-split");
	Nested nested = {http, first, second};
	FlHttpRequest request = {
		.url = url,
		.response_func = start_second_cb,
		.data_func = nested_data_cb,
		.func_data = &nested,
	};

	fl_http_request_async(http, &request, NULL, stream_done_cb, first);
	g_assert_true(fl_test_wait_for(stream_is_done, first, WAIT_MS));
	g_assert_true(fl_test_wait_for(stream_is_done, second, WAIT_MS));
	g_assert_no_error(first->error);
	g_assert_no_error(second->error);
	g_assert_cmpstr(first->events->str, ==, SPLIT_EVENTS);
	g_assert_cmpstr(second->events->str, ==, CRLF_EVENTS);
}

/* all 20 chunks reach libcurl in one read: cancelling in the first must stop the rest */
static void
test_http_cancel_burst(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(Stream) stream = stream_new();

	stream->cancel_after_events = 1;
	stream_start(http, stream, "/burst", 0);
	g_assert_true(fl_test_wait_for(stream_is_done, stream, WAIT_MS));
	g_assert_error(stream->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_cmpstr(stream->events->str, ==, "message|burst 1|\n");
	g_assert_cmpuint(stream->chunks_after_cancel, ==, 0);
}

/* the same burst uncancelled, so the test above cannot pass for want of data */
static void
test_http_burst(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(Stream) stream = stream_run(http, "/burst", 0);

	g_assert_no_error(stream->error);
	g_assert_cmpuint(stream->n_events, ==, 20);
}

static gboolean
cancel_on_response_cb(guint status, GHashTable *headers, gpointer user_data, GError **error)
{
	Stream *stream = user_data;

	stream_response_cb(status, headers, user_data, error);
	g_idle_add_once(stream_cancel_idle_cb, stream);
	return TRUE;
}

/* nothing arrives on /hang after the headers: only the cancellation itself can end it */
static void
test_http_cancel_silent(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(Stream) stream = stream_new();
	g_autofree gchar *url = url_for("/hang");
	FlHttpRequest request = {
		.url = url,
		.response_func = cancel_on_response_cb,
		.data_func = stream_data_cb,
		.func_data = stream,
	};

	fl_http_request_async(http, &request, stream->cancellable, stream_done_cb, stream);
	g_assert_true(fl_test_wait_for(stream_is_done, stream, WAIT_MS));
	g_assert_error(stream->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_cmpint(stream->cancel_time, >, 0);
	g_assert_cmpint(stream->done_time - stream->cancel_time, <, G_USEC_PER_SEC);
}

static void
test_http_cancel_before_start(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(Stream) stream = stream_new();

	g_cancellable_cancel(stream->cancellable);
	stream_start(http, stream, "/sse-split", 0);
	g_assert_true(fl_test_wait_for(stream_is_done, stream, WAIT_MS));
	g_assert_error(stream->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_false(stream->response_seen);
	g_assert_cmpuint(stream->status, ==, 0);
}

static void
test_http_idle_timeout(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	gint64 start = g_get_monotonic_time();
	g_autoptr(Stream) stream = stream_run(http, "/hang", 1);
	gint64 elapsed = g_get_monotonic_time() - start;

	g_assert_true(stream->response_seen);
	g_assert_error(stream->error, FL_ERROR, FL_ERROR_FAILED);
	g_assert_cmpstr(stream->error->message, ==, "no data for 1 s");
	g_assert_cmpuint(stream->status, ==, 200);
	g_assert_cmpint(elapsed, >=, G_USEC_PER_SEC);
	g_assert_cmpint(elapsed, <, 5 * G_USEC_PER_SEC);
}

/* a trickling stream resets the idle timer: 100 ms ticks never trip a 1 s timeout */
static void
test_http_idle_timeout_reset(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(Stream) stream = stream_new();

	stream->cancel_after_events = 25;
	stream_start(http, stream, "/never-ending", 1);
	g_assert_true(fl_test_wait_for(stream_is_done, stream, WAIT_MS));
	g_assert_error(stream->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_cmpuint(stream->n_events, ==, 25);
}

#define N_CONCURRENT 50

static gboolean
all_done(gpointer user_data)
{
	GPtrArray *streams = user_data;

	for (guint i = 0; i < streams->len; i++) {
		Stream *stream = g_ptr_array_index(streams, i);

		if (!stream->done)
			return FALSE;
	}
	return TRUE;
}

static gboolean
all_have_two_events(gpointer user_data)
{
	GPtrArray *streams = user_data;

	for (guint i = 0; i < streams->len; i++) {
		Stream *stream = g_ptr_array_index(streams, i);

		if (stream->n_events < 2)
			return FALSE;
	}
	return TRUE;
}

static void
test_http_concurrent(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(GPtrArray) streams = g_ptr_array_new_with_free_func((GDestroyNotify)stream_free);

	for (guint i = 0; i < N_CONCURRENT; i++) {
		Stream *stream = stream_new();

		g_ptr_array_add(streams, stream);
		stream_start(http, stream, "/sse-split", 10);
	}
	g_assert_true(fl_test_wait_for(all_done, streams, WAIT_MS));
	for (guint i = 0; i < streams->len; i++) {
		Stream *stream = g_ptr_array_index(streams, i);

		g_assert_no_error(stream->error);
		g_assert_cmpuint(stream->status, ==, 200);
		g_assert_no_error(stream->finish_error);
		g_assert_cmpstr(stream->events->str, ==, SPLIT_EVENTS);
	}
}

/* streams that never end can only all have events if they really run at the same time */
static void
test_http_concurrent_never_ending(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(GPtrArray) streams = g_ptr_array_new_with_free_func((GDestroyNotify)stream_free);

	for (guint i = 0; i < N_CONCURRENT; i++) {
		Stream *stream = stream_new();

		g_ptr_array_add(streams, stream);
		stream_start(http, stream, "/never-ending", 10);
	}
	g_assert_true(fl_test_wait_for(all_have_two_events, streams, WAIT_MS));
	for (guint i = 0; i < streams->len; i++) {
		Stream *stream = g_ptr_array_index(streams, i);

		g_assert_false(stream->done);
		g_cancellable_cancel(stream->cancellable);
	}
	g_assert_true(fl_test_wait_for(all_done, streams, WAIT_MS));
	for (guint i = 0; i < streams->len; i++) {
		Stream *stream = g_ptr_array_index(streams, i);

		g_assert_error(stream->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
		g_assert_cmpuint(stream->chunks_after_cancel, ==, 0);
	}
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
test_http_connection_refused(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(Stream) stream = stream_new();
	guint port = 0;
	g_autoptr(GSocket) socket = refusing_socket(&port);
	g_autofree gchar *url =
		g_strdup_printf("http://user:hunter2@127.0.0.1:%u/v1/messages?key=SECRETKEY", port);
	g_autofree gchar *where = g_strdup_printf("http://127.0.0.1:%u/v1/messages", port);
	FlHttpRequest request = {
		.url = url,
		.connect_timeout_s = 5,
		.response_func = stream_response_cb,
		.data_func = stream_data_cb,
		.func_data = stream,
	};

	fl_http_request_async(http, &request, NULL, stream_done_cb, stream);
	g_assert_true(fl_test_wait_for(stream_is_done, stream, WAIT_MS));
	g_assert_error(stream->error, FL_ERROR, FL_ERROR_FAILED);
	g_test_message("connection refused: %s", stream->error->message);
	/* names where it tried, with curl's reason, and leaks neither password nor key */
	g_assert_true(g_str_has_prefix(stream->error->message, "HTTP request to "));
	g_assert_nonnull(strstr(stream->error->message, where));
	g_assert_nonnull(strstr(stream->error->message, "onnect"));
	g_assert_null(strstr(stream->error->message, "hunter2"));
	g_assert_null(strstr(stream->error->message, "SECRETKEY"));
	g_assert_false(stream->response_seen);
	g_assert_cmpuint(stream->status, ==, 0);
}

static void
test_http_bad_url(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	const gchar *urls[] = {"ftp://127.0.0.1/x", "file:///etc/passwd", "not a url"};

	for (guint i = 0; i < G_N_ELEMENTS(urls); i++) {
		g_autoptr(Stream) stream = stream_new();
		FlHttpRequest request = {.url = urls[i], .func_data = stream};

		fl_http_request_async(http, &request, NULL, stream_done_cb, stream);
		g_assert_true(fl_test_wait_for(stream_is_done, stream, WAIT_MS));
		g_assert_error(stream->error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT);
	}
}

/* keeps every message our code logs (structured: the writer sees them all), to check that
 * none carries a secret */
static GLogWriterOutput
capture_log_writer(GLogLevelFlags log_level, const GLogField *fields, gsize n_fields,
		   gpointer user_data)
{
	for (gsize i = 0; i < n_fields; i++) {
		if (g_str_equal(fields[i].key, "MESSAGE"))
			g_string_append_printf(log_text, "%s\n", (const gchar *)fields[i].value);
	}
	/* captured only: debug lines would drown the TAP output */
	if (log_level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO))
		return G_LOG_WRITER_HANDLED;
	return g_log_writer_default(log_level, fields, n_fields, user_data);
}

static gboolean
collect_body_cb(const guint8 *data, gsize len, gpointer user_data, GError **error)
{
	Stream *stream = user_data;

	g_assert_true(g_thread_self() == main_thread);
	g_string_append_len(stream->body, (const gchar *)data, (gssize)len);
	return TRUE;
}

static void
test_http_post_echo(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(Stream) stream = stream_new();
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) body = g_bytes_new_static("{\"prompt\": \"hi\"}", 16);
	g_autofree gchar *url = url_for("/echo-headers?x=1");
	const gchar *headers[] = {"Authorization: Bearer sk-SECRET-TOKEN",
				  "Content-Type: application/json", NULL};
	FlHttpRequest request = {
		.url = url,
		.headers = headers,
		.body = body,
		.response_func = stream_response_cb,
		.data_func = collect_body_cb,
		.func_data = stream,
	};
	JsonObject *reply;
	JsonObject *echoed;

	/* debug output on, to check that no level logs the key */
	g_log_set_debug_enabled(TRUE);
	g_string_truncate(log_text, 0);
	fl_http_request_async(http, &request, NULL, stream_done_cb, stream);
	g_assert_true(fl_test_wait_for(stream_is_done, stream, WAIT_MS));
	g_log_set_debug_enabled(FALSE);

	g_assert_no_error(stream->error);
	g_assert_cmpuint(stream->status, ==, 200);
	g_assert_true(json_parser_load_from_data(parser, stream->body->str, -1, &error));
	g_assert_no_error(error);
	reply = json_node_get_object(json_parser_get_root(parser));
	echoed = json_object_get_object_member(reply, "headers");
	g_assert_cmpstr(json_object_get_string_member(reply, "method"), ==, "POST");
	g_assert_cmpstr(json_object_get_string_member(reply, "path"), ==, "/echo-headers?x=1");
	g_assert_cmpstr(json_object_get_string_member(reply, "body"), ==, "{\"prompt\": \"hi\"}");
	g_assert_cmpstr(json_object_get_string_member(echoed, "authorization"), ==,
			"Bearer sk-SECRET-TOKEN");
	g_assert_cmpstr(json_object_get_string_member(echoed, "content-type"), ==,
			"application/json");
	g_assert_true(
		g_str_has_prefix(json_object_get_string_member(echoed, "user-agent"), "flotilla/"));
	/* no "Expect: 100-continue" round trip */
	g_assert_false(json_object_has_member(echoed, "expect"));

	/* the request was logged (so the capture works), its key was not */
	g_assert_nonnull(strstr(log_text->str, "/echo-headers"));
	g_assert_null(strstr(log_text->str, "SECRET"));
}

static gboolean
reject_response_cb(guint status, GHashTable *headers, gpointer user_data, GError **error)
{
	Stream *stream = user_data;

	stream->response_seen = TRUE;
	stream->response_status = status;
	g_set_error(error, FL_ERROR, FL_ERROR_FAILED, "model API answered HTTP %u", status);
	return FALSE;
}

static void
test_http_callback_errors(void)
{
	g_autoptr(FlHttp) http = fl_http_new();
	g_autoptr(Stream) limited = stream_new();
	g_autoptr(Stream) rejected = stream_new();
	g_autofree gchar *url = url_for("/500");
	FlHttpRequest request = {
		.url = url,
		.response_func = reject_response_cb,
		.data_func = stream_data_cb,
		.func_data = rejected,
	};

	/* a data callback's error (here the parser's limit) ends the transfer with it */
	fl_sse_parser_free(limited->parser);
	limited->parser = fl_sse_parser_new(4096, 8, stream_event_cb, limited);
	stream_start(http, limited, "/sse-split", 0);
	g_assert_true(fl_test_wait_for(stream_is_done, limited, WAIT_MS));
	g_assert_error(limited->error, FL_ERROR, FL_ERROR_LIMIT_EXCEEDED);
	g_assert_cmpuint(limited->n_events, ==, 0);

	/* so does a response callback's, before any body is delivered */
	fl_http_request_async(http, &request, NULL, stream_done_cb, rejected);
	g_assert_true(fl_test_wait_for(stream_is_done, rejected, WAIT_MS));
	g_assert_error(rejected->error, FL_ERROR, FL_ERROR_FAILED);
	g_assert_cmpstr(rejected->error->message, ==, "model API answered HTTP 500");
	g_assert_cmpuint(rejected->status, ==, 500);
	g_assert_cmpstr(rejected->body->str, ==, "");
}

static void
test_http_backoff(void)
{
	guint previous_max = 0;

	/* exponential, half of it random, capped at 60 s */
	for (guint attempt = 0; attempt < 12; attempt++) {
		guint full = MIN(1000u << MIN(attempt, 6u), 60000u);
		guint lo = G_MAXUINT;
		guint hi = 0;

		for (guint i = 0; i < 200; i++) {
			guint delay = fl_http_backoff_delay(attempt, NULL);

			lo = MIN(lo, delay);
			hi = MAX(hi, delay);
		}
		g_assert_cmpuint(lo, >=, full / 2);
		g_assert_cmpuint(hi, <=, full);
		/* jitter: 200 draws from a range this wide are never all equal */
		g_assert_cmpuint(hi, >, lo);
		g_assert_cmpuint(hi, >=, previous_max / 2);
		previous_max = hi;
	}
	g_assert_cmpuint(previous_max, <=, 60000);

	/* Retry-After in seconds wins and is never undercut */
	for (guint i = 0; i < 100; i++) {
		guint delay = fl_http_backoff_delay(0, "7");

		g_assert_cmpuint(delay, >=, 7000);
		g_assert_cmpuint(delay, <=, 7700);
		delay = fl_http_backoff_delay(5, " 2 ");
		g_assert_cmpuint(delay, >=, 2000);
		g_assert_cmpuint(delay, <=, 2200);
	}
	g_assert_cmpuint(fl_http_backoff_delay(3, "0"), ==, 0);
	/* absurd values are capped at 10 minutes (+10%) */
	g_assert_cmpuint(fl_http_backoff_delay(0, "99999999999999999999"), >=, 600000);
	g_assert_cmpuint(fl_http_backoff_delay(0, "99999999999999999999"), <=, 660000);
	/* dates, garbage and negatives fall back to the exponential delay */
	g_assert_cmpuint(fl_http_backoff_delay(0, "Wed, 21 Oct 2015 07:28:00 GMT"), <=, 1000);
	g_assert_cmpuint(fl_http_backoff_delay(0, "-5"), <=, 1000);
	g_assert_cmpuint(fl_http_backoff_delay(0, ""), <=, 1000);
	g_assert_cmpuint(fl_http_backoff_delay(0, "1.5"), <=, 1000);
	g_assert_cmpuint(fl_http_backoff_delay(2, "abc"), >=, 2000);
}

static void
start_double(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *script =
		g_test_build_filename(G_TEST_DIST, "doubles", "http-double.py", NULL);
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

typedef struct {
	gboolean done;
	gboolean ok;
	GError *error;
	gint64 done_time;
} WaitResult;

static void
wait_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	WaitResult *w = user_data;

	w->ok = fl_http_wait_finish(res, &w->error);
	w->done_time = g_get_monotonic_time();
	w->done = TRUE;
}

static gboolean
cancel_cb(gpointer user_data)
{
	g_cancellable_cancel(user_data);
	return G_SOURCE_REMOVE;
}

/* the pause before a retry: it lasts its delay, and a cancel ends it at once */
static void
test_http_wait(void)
{
	g_autoptr(GCancellable) cancellable = g_cancellable_new();
	WaitResult full = {0};
	WaitResult cut = {0};
	WaitResult already = {0};
	gint64 start = g_get_monotonic_time();

	fl_http_wait_async(200, cancellable, wait_done_cb, &full);
	while (!full.done)
		g_main_context_iteration(NULL, TRUE);
	g_assert_true(full.ok);
	g_assert_no_error(full.error);
	g_assert_cmpint(full.done_time - start, >=, 200 * 1000);

	/* an hour's wait, cancelled from the main loop 50 ms in */
	start = g_get_monotonic_time();
	fl_http_wait_async(3600 * 1000, cancellable, wait_done_cb, &cut);
	g_timeout_add(50, cancel_cb, cancellable);
	while (!cut.done)
		g_main_context_iteration(NULL, TRUE);
	g_assert_false(cut.ok);
	g_assert_error(cut.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_cmpint(cut.done_time - start, <, G_USEC_PER_SEC);
	g_clear_error(&cut.error);

	/* already cancelled: over without waiting */
	start = g_get_monotonic_time();
	fl_http_wait_async(3600 * 1000, cancellable, wait_done_cb, &already);
	while (!already.done)
		g_main_context_iteration(NULL, TRUE);
	g_assert_error(already.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_cmpint(already.done_time - start, <, G_USEC_PER_SEC);
	g_clear_error(&already.error);
}

int
main(int argc, char **argv)
{
	int rc;

	g_log_set_writer_func(capture_log_writer, NULL, NULL);
	g_test_init(&argc, &argv, NULL);
	/* only loopback: a proxy from the environment must not see these requests */
	g_unsetenv("http_proxy");
	g_unsetenv("HTTP_PROXY");
	g_unsetenv("https_proxy");
	g_unsetenv("HTTPS_PROXY");
	g_unsetenv("all_proxy");
	g_unsetenv("ALL_PROXY");
	/* libcurl's global state, as the program's main() does */
	g_assert_cmpint(curl_global_init(CURL_GLOBAL_DEFAULT), ==, CURLE_OK);
	main_thread = g_thread_self();
	log_text = g_string_new(NULL);
	/* GTest's handler prints every level itself; the plain one hands all to the writer */
	g_log_set_default_handler(g_log_default_handler, NULL);
	start_double();

	g_test_add_func("/http/sse-split", test_http_sse_split);
	g_test_add_func("/http/sse-crlf", test_http_sse_crlf);
	g_test_add_func("/http/cut-chunked", test_http_cut_chunked);
	g_test_add_func("/http/cut-close", test_http_cut_close);
	g_test_add_func("/http/retry-429", test_http_retry_429);
	g_test_add_func("/http/server-error", test_http_server_error);
	g_test_add_func("/http/cancel-in-callback", test_http_cancel_in_callback);
	g_test_add_func("/http/cancel-from-loop", test_http_cancel_from_loop);
	g_test_add_func("/http/start-from-callback", test_http_start_from_callback);
	g_test_add_func("/http/burst", test_http_burst);
	g_test_add_func("/http/cancel-burst", test_http_cancel_burst);
	g_test_add_func("/http/cancel-silent", test_http_cancel_silent);
	g_test_add_func("/http/cancel-before-start", test_http_cancel_before_start);
	g_test_add_func("/http/idle-timeout", test_http_idle_timeout);
	g_test_add_func("/http/idle-timeout-reset", test_http_idle_timeout_reset);
	g_test_add_func("/http/concurrent", test_http_concurrent);
	g_test_add_func("/http/concurrent-never-ending", test_http_concurrent_never_ending);
	g_test_add_func("/http/connection-refused", test_http_connection_refused);
	g_test_add_func("/http/bad-url", test_http_bad_url);
	g_test_add_func("/http/post-echo", test_http_post_echo);
	g_test_add_func("/http/callback-errors", test_http_callback_errors);
	g_test_add_func("/http/backoff", test_http_backoff);
	g_test_add_func("/http/wait", test_http_wait);
	rc = g_test_run();

	stop_double();
	g_string_free(log_text, TRUE);
	curl_global_cleanup();
	return rc;
}
