/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * FlHttp:
 *
 * Runs HTTP requests on the GLib main loop with one libcurl multi handle driven by fd and timer
 * sources: no threads, no polling. Built for long streamed responses (SSE): there is no total
 * timeout, only a connect timeout and an idle timeout. Every callback runs on the thread whose
 * thread-default main context was current when the FlHttp was created.
 *
 * The program must call curl_global_init() before creating one. A request in flight holds a
 * reference on its FlHttp: dropping yours does not stop it, its GCancellable does.
 */
#define FL_TYPE_HTTP (fl_http_get_type())
G_DECLARE_FINAL_TYPE(FlHttp, fl_http, FL, HTTP, GObject)

/**
 * FlHttpResponseFunc:
 * @status: the final HTTP status code (1xx interim responses are skipped)
 * @headers: (element-type utf8 utf8): lower-case header name to value; repeated headers are
 *   joined with ", "
 *
 * Called once, when the status line and headers of the final response have arrived, before
 * any body. Return FALSE with @error set to abort the request with that error.
 */
typedef gboolean (*FlHttpResponseFunc)(guint status, GHashTable *headers, gpointer user_data,
				       GError **error);

/**
 * FlHttpDataFunc:
 *
 * Called for each piece of the body as it arrives; pieces have arbitrary sizes and are not
 * NUL-terminated. Return FALSE with @error set to abort the request with that error.
 */
typedef gboolean (*FlHttpDataFunc)(const guint8 *data, gsize len, gpointer user_data,
				   GError **error);

/**
 * FlHttpRequest:
 * @url: http:// or https:// only
 * @headers: (nullable): NULL-terminated "Name: value" lines; they may carry API keys and are
 *   never logged
 * @body: (nullable): the POST body; NULL makes a GET
 * @connect_timeout_s: 0 for libcurl's default
 * @idle_timeout_s: fail with "no data for N s" when nothing arrives for this long; 0 for never
 * @response_func: (nullable)
 * @data_func: (nullable)
 * @func_data: passed to both; must stay valid until the request completes
 *
 * Everything is copied by fl_http_request_async(); the struct can live on the stack.
 */
typedef struct {
	const gchar *url;
	const gchar *const *headers;
	GBytes *body;
	guint connect_timeout_s;
	guint idle_timeout_s;
	FlHttpResponseFunc response_func;
	FlHttpDataFunc data_func;
	gpointer func_data;
} FlHttpRequest;

FlHttp *
fl_http_new(void);

/**
 * fl_http_request_async:
 *
 * Starts @request. Cancelling @cancellable aborts the transfer at once and completes it with
 * %G_IO_ERROR_CANCELLED; no callback of @request runs after the cancellation.
 */
void
fl_http_request_async(FlHttp *self, const FlHttpRequest *request, GCancellable *cancellable,
		      GAsyncReadyCallback callback, gpointer user_data);

/**
 * fl_http_request_finish:
 * @status: (out) (optional): the HTTP status, 0 if none arrived; set on failure too
 *
 * Any complete response succeeds, whatever its status: 4xx and 5xx are for the caller to
 * judge. Fails with %FL_ERROR_FAILED when the transfer did (curl's message included), the
 * error returned by a callback, or %G_IO_ERROR_CANCELLED.
 */
gboolean
fl_http_request_finish(FlHttp *self, GAsyncResult *result, guint *status, GError **error);

/**
 * fl_http_backoff_delay:
 * @attempt: how many retries came before this one (0 for the first retry)
 * @retry_after: (nullable): the response's Retry-After header
 *
 * Milliseconds to wait before retrying: exponential from 1 s, doubling to at most 60 s, half
 * of it random so that clients do not retry in lockstep. A Retry-After in seconds is honoured
 * (never retry sooner; capped at 600 s) with up to 10% added; the HTTP-date form is ignored.
 */
guint
fl_http_backoff_delay(guint attempt, const gchar *retry_after);

/**
 * fl_http_wait_async:
 *
 * Completes after @delay_ms in the thread-default main context, or at once with
 * %G_IO_ERROR_CANCELLED when @cancellable is cancelled first: the pause before a retry.
 */
void
fl_http_wait_async(guint delay_ms, GCancellable *cancellable, GAsyncReadyCallback callback,
		   gpointer user_data);

gboolean
fl_http_wait_finish(GAsyncResult *result, GError **error);

G_END_DECLS
