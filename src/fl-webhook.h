/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "fl-http.h"

G_BEGIN_DECLS

#define FL_WEBHOOK_MAX_ATTEMPTS 3

/**
 * fl_webhook_send_async:
 * @url: http:// or https://
 * @format: (nullable): "json" (the default) or "ntfy"
 * @summary: one line, e.g. "Check-in 15:00 · 4 drafts · 1 failed"
 * @text: the plain-text digest
 * @items: (element-type JsonNode) (nullable): one JSON value per digest item
 * @urgent: something is blocked or failed: ntfy priority 4 instead of 3
 *
 * POSTs a digest. "json" sends {"summary", "text", "urgent", "items": [...]}; "ntfy" sends
 * @text as the body with Title (RFC 2047 encoded when not ASCII), Priority and Tags headers,
 * as ntfy.sh and compatible servers take them. 429, 5xx and failures to get any response are
 * retried (%FL_WEBHOOK_MAX_ATTEMPTS requests, exponential backoff with jitter, Retry-After
 * honoured). Runs on the main loop without ever blocking it. Errors name the host but not the
 * path, which often carries a token.
 */
void
fl_webhook_send_async(FlHttp *http, const gchar *url, const gchar *format, const gchar *summary,
		      const gchar *text, GPtrArray *items, gboolean urgent,
		      GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);

/* fails with %FL_ERROR_INVALID_ARGUMENT for an unknown format or URL, %FL_ERROR_FAILED once
 * the attempts are spent or for a refusal (4xx other than 429), or %G_IO_ERROR_CANCELLED */
gboolean
fl_webhook_send_finish(GAsyncResult *result, GError **error);

/* @text as one RFC 2047 header value: ASCII unchanged, else UTF-8 "B" encoded-words; control
 * characters become spaces. Exposed for tests. */
gchar *
fl_webhook_header_value(const gchar *text);

G_END_DECLS
