/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "fl-sse.h"

/*
 * Input layout: byte 0 gives how many chunk-size bytes follow (0-15) and which limits to use;
 * the chunk sizes are used in turn, 0 meaning an empty chunk, until the stream is consumed.
 * The same stream is also fed in one piece: both parsers must report the same events, the
 * same error and the same end state, or the splitting logic is wrong.
 */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
record_cb(const gchar *event_type, const gchar *event_data, const gchar *id, gpointer user_data)
{
	GString *log = user_data;

	/* the parser promises valid UTF-8 C strings */
	if (!g_utf8_validate(event_type, -1, NULL) || !g_utf8_validate(event_data, -1, NULL) ||
	    !g_utf8_validate(id, -1, NULL))
		__builtin_trap();
	g_string_append(log, event_type);
	g_string_append_c(log, '\x1f');
	g_string_append(log, event_data);
	g_string_append_c(log, '\x1f');
	g_string_append(log, id);
	g_string_append_c(log, '\x1e');
}

static void
summarise(FlSseParser *parser, GString *log, gboolean fed)
{
	g_autoptr(GError) error = NULL;

	g_string_append_printf(log, "fed=%d mid=%d ", fed, fl_sse_parser_is_mid_event(parser));
	if (!fl_sse_parser_finish(parser, &error))
		g_string_append_printf(log, "finish=%s ", error->message);
	g_string_append_printf(log, "retry=%" G_GINT64_FORMAT " id=%s",
			       fl_sse_parser_get_retry(parser),
			       fl_sse_parser_get_last_event_id(parser));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GString) whole_log = g_string_new(NULL);
	g_autoptr(GString) split_log = g_string_new(NULL);
	g_autoptr(FlSseParser) whole = NULL;
	g_autoptr(FlSseParser) split = NULL;
	const uint8_t *sizes;
	const uint8_t *stream;
	size_t n_sizes;
	size_t stream_len;
	size_t offset = 0;
	gsize max_line;
	gsize max_event;
	gboolean whole_ok;
	gboolean split_ok = TRUE;

	if (size == 0)
		return 0;
	n_sizes = data[0] & 0x0f;
	/* small limits reach the limit paths, large ones the long-line paths */
	max_line = (data[0] & 0x10) ? 64 : 4096;
	max_event = (data[0] & 0x20) ? 96 : 65536;
	if (size < 1 + n_sizes)
		return 0;
	sizes = data + 1;
	stream = data + 1 + n_sizes;
	stream_len = size - 1 - n_sizes;

	whole = fl_sse_parser_new(max_line, max_event, record_cb, whole_log);
	split = fl_sse_parser_new(max_line, max_event, record_cb, split_log);

	whole_ok = fl_sse_parser_feed(whole, stream, stream_len, NULL);
	for (size_t i = 0; split_ok && offset < stream_len; i++) {
		size_t chunk = n_sizes > 0 ? sizes[i % n_sizes] : 1;

		chunk = MIN(chunk, stream_len - offset);
		split_ok = fl_sse_parser_feed(split, stream + offset, chunk, NULL);
		offset += chunk;
		/* all-zero sizes would never advance */
		if (i > stream_len * 2 + 16 && chunk == 0)
			break;
	}
	if (split_ok && offset < stream_len)
		split_ok = fl_sse_parser_feed(split, stream + offset, stream_len - offset, NULL);

	summarise(whole, whole_log, whole_ok);
	summarise(split, split_log, split_ok);
	if (!g_string_equal(whole_log, split_log))
		__builtin_trap();
	return 0;
}

#ifdef FL_FUZZ_STANDALONE
/* replays files without libFuzzer, so a plain gcc build can run the corpus as a test */
int
main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		g_autofree gchar *contents = NULL;
		gsize len = 0;
		g_autoptr(GError) error = NULL;

		if (!g_file_get_contents(argv[i], &contents, &len, &error)) {
			g_printerr("%s\n", error->message);
			return 1;
		}
		LLVMFuzzerTestOneInput((const uint8_t *)contents, len);
	}
	return 0;
}
#endif
