/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * FlSseParser:
 *
 * A push parser for text/event-stream (WHATWG HTML "server-sent events"). It does no I/O: feed
 * it the bytes of one stream in chunks of any size, it calls back once per dispatched event.
 * Splitting the same stream differently never changes the events.
 *
 * Values are UTF-8 decoded as the standard says: invalid sequences (and NUL bytes) become
 * U+FFFD, so every string handed to the callback is valid, NUL-terminated UTF-8.
 */
typedef struct _FlSseParser FlSseParser;

/**
 * FlSseEventFunc:
 * @event_type: the `event` field, "message" when the event has none
 * @data: the `data` lines joined with "\n"
 * @id: the last event id seen on the stream so far ("" if none); ids persist across events
 * @user_data: as given to fl_sse_parser_new()
 *
 * Called from inside fl_sse_parser_feed(); the strings are only valid during the call. The
 * callback must not free the parser.
 */
typedef void (*FlSseEventFunc)(const gchar *event_type, const gchar *data, const gchar *id,
			       gpointer user_data);

/**
 * fl_sse_parser_new:
 * @max_line_length: longest line accepted, in bytes, without its line end
 * @max_event_size: largest event accepted: bytes of its joined data plus its event type
 * @func: called once per event
 * @user_data: passed to @func
 *
 * Both limits must be non-zero: a peer sending garbage must not make us buffer without bound.
 */
FlSseParser *
fl_sse_parser_new(gsize max_line_length, gsize max_event_size, FlSseEventFunc func,
		  gpointer user_data);
void
fl_sse_parser_free(FlSseParser *self);

/**
 * fl_sse_parser_feed:
 *
 * Parses @len more bytes of the stream, calling the event callback for each event completed.
 * Fails with %FL_ERROR_LIMIT_EXCEEDED when a limit is crossed; after any failure the parser
 * refuses further input with the same error.
 */
gboolean
fl_sse_parser_feed(FlSseParser *self, const guint8 *data, gsize len, GError **error);

/**
 * fl_sse_parser_finish:
 *
 * Marks the end of the stream. An incomplete last event is dropped, as the standard says, and
 * reported: this fails with %FL_ERROR_FAILED "stream ended in the middle of an event" when
 * fl_sse_parser_is_mid_event() is TRUE, or with the earlier error if feeding failed.
 * Feeding after finish is a programmer error.
 */
gboolean
fl_sse_parser_finish(FlSseParser *self, GError **error);

/**
 * fl_sse_parser_is_mid_event:
 *
 * TRUE when bytes of an event have arrived that no blank line has dispatched yet: a data or
 * event field, or an unterminated line that is not a comment. Also TRUE once feeding failed:
 * the event being parsed is lost.
 */
gboolean
fl_sse_parser_is_mid_event(FlSseParser *self);

/* the last valid `retry` field in milliseconds, or -1 if the stream sent none */
gint64
fl_sse_parser_get_retry(FlSseParser *self);

/* the last event id buffer, "" if none; sent as Last-Event-ID when reconnecting */
const gchar *
fl_sse_parser_get_last_event_id(FlSseParser *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlSseParser, fl_sse_parser_free)

G_END_DECLS
