/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "fl-error.h"
#include "fl-sse.h"

#define BIG 65536

/* one line per event, data escaped so "\n" inside it stays visible in assertion messages */
static void
record_event_cb(const gchar *event_type, const gchar *data, const gchar *id, gpointer user_data)
{
	GString *log = user_data;
	g_autofree gchar *escaped = g_strescape(data, NULL);

	g_assert_true(g_utf8_validate(event_type, -1, NULL));
	g_assert_true(g_utf8_validate(data, -1, NULL));
	g_assert_true(g_utf8_validate(id, -1, NULL));
	g_string_append_printf(log, "%s|%s|%s\n", event_type, escaped, id);
}

/* feeds @stream cut at @cuts (ascending offsets), then finishes; returns what a caller sees */
static gchar *
parse_split(const gchar *stream, gsize len, const gsize *cuts, guint n_cuts, gsize max_line,
	    gsize max_event)
{
	g_autoptr(GString) log = g_string_new(NULL);
	g_autoptr(FlSseParser) parser =
		fl_sse_parser_new(max_line, max_event, record_event_cb, log);
	g_autoptr(GError) error = NULL;
	gsize start = 0;

	for (guint i = 0; i <= n_cuts && error == NULL; i++) {
		gsize end = i < n_cuts ? cuts[i] : len;

		fl_sse_parser_feed(parser, (const guint8 *)stream + start, end - start, &error);
		start = end;
	}
	if (error != NULL) {
		g_string_append_printf(log, "feed error: %s\n", error->message);
		g_clear_error(&error);
	}
	if (!fl_sse_parser_finish(parser, &error))
		g_string_append_printf(log, "finish error: %s\n", error->message);
	g_string_append_printf(log, "retry=%" G_GINT64_FORMAT " last-id=%s\n",
			       fl_sse_parser_get_retry(parser),
			       fl_sse_parser_get_last_event_id(parser));
	return g_string_free(g_steal_pointer(&log), FALSE);
}

static gchar *
parse_whole(const gchar *stream)
{
	return parse_split(stream, strlen(stream), NULL, 0, BIG, BIG);
}

/* the events only, for rules that do not care about the trailer */
static gchar *
events_of(const gchar *stream)
{
	g_autofree gchar *all = parse_whole(stream);
	gchar *trailer = strstr(all, "retry=");

	*trailer = '\0';
	return g_strdup(all);
}

static void
assert_events(const gchar *stream, const gchar *expected)
{
	g_autofree gchar *got = events_of(stream);

	g_assert_cmpstr(got, ==, expected);
}

static void
test_sse_basic(void)
{
	assert_events("data: hello\n\n", "message|hello|\n");
	assert_events("data: one\n\ndata: two\n\n", "message|one|\nmessage|two|\n");
	/* no blank line yet: nothing dispatched */
	assert_events("data: hello\n", "finish error: stream ended in the middle of an event\n");
}

static void
test_sse_line_ends(void)
{
	assert_events("data: lf\n\n", "message|lf|\n");
	assert_events("data: cr\r\r", "message|cr|\n");
	assert_events("data: crlf\r\n\r\n", "message|crlf|\n");
	assert_events("data: a\r\ndata: b\rdata: c\n\r\n", "message|a\\nb\\nc|\n");
	/* CR CR is two line ends (a blank line), CR LF only one */
	assert_events("data: a\r\rdata: b\r\n\r\n", "message|a|\nmessage|b|\n");
	assert_events("data: a\n\rdata: b\n\n", "message|a|\nmessage|b|\n");
}

static void
test_sse_crlf_split(void)
{
	const gchar *stream = "data: a\r\ndata: b\r\n\r\n";
	/* cut between every CR and its LF: were the LF a line end of its own, "a" would be
	 * dispatched alone by the resulting blank line */
	const gsize cuts[] = {8, 17, 19};
	g_autofree gchar *got = parse_split(stream, strlen(stream), cuts, 3, BIG, BIG);

	g_assert_cmpstr(got, ==, "message|a\\nb|\nretry=-1 last-id=\n");
}

static void
test_sse_bom(void)
{
	const gchar *stream = "\xEF\xBB\xBF"
			      "data: x\n\n";
	const gsize cuts[] = {1, 2, 3};
	g_autofree gchar *split = parse_split(stream, strlen(stream), cuts, 3, BIG, BIG);

	assert_events(stream, "message|x|\n");
	g_assert_cmpstr(split, ==, "message|x|\nretry=-1 last-id=\n");
	/* only one leading BOM is stripped: a second one makes the field name unknown */
	assert_events("\xEF\xBB\xBF\xEF\xBB\xBF"
		      "data: x\n\n",
		      "");
	/* a BOM later in the stream is ordinary text */
	assert_events("data: x\n\n\xEF\xBB\xBF"
		      "data: y\n\n",
		      "message|x|\n");
	/* a BOM prefix that does not complete is kept as text, not silently dropped */
	assert_events("\xEF\xBB"
		      "data: x\n\n",
		      "");
	assert_events("\xEF"
		      "data: x\n\n",
		      "");
}

static void
test_sse_comments(void)
{
	assert_events(": keep-alive\n\n", "");
	assert_events(":\n:\n\n", "");
	assert_events("data: a\n: between lines\ndata: b\n\n", "message|a\\nb|\n");
	assert_events(": data: no\n\ndata: yes\n\n", "message|yes|\n");
}

static void
test_sse_space(void)
{
	assert_events("data:x\n\n", "message|x|\n");
	assert_events("data: x\n\n", "message|x|\n");
	assert_events("data:  x\n\n", "message| x|\n");
	assert_events("data: x \n\n", "message|x |\n");
	assert_events("data:\tx\n\n", "message|\\tx|\n");
	assert_events("data: a: b\n\n", "message|a: b|\n");
	assert_events("event:  spaced\ndata: x\n\n", " spaced|x|\n");
}

static void
test_sse_data_lines(void)
{
	assert_events("data: a\ndata: b\ndata: c\n\n", "message|a\\nb\\nc|\n");
	/* a data field without a colon or value adds an empty line */
	assert_events("data\n\n", "message||\n");
	assert_events("data:\n\n", "message||\n");
	assert_events("data: a\ndata\n\n", "message|a\\n|\n");
	assert_events("data\ndata\n\n", "message|\\n|\n");
}

static void
test_sse_blank_without_data(void)
{
	/* no data: nothing dispatched, and the event type does not leak into the next event */
	assert_events("event: ping\n\ndata: x\n\n", "message|x|\n");
	assert_events("\n\n\n", "");
	assert_events("id: 3\n\n", "");
}

static void
test_sse_event_type(void)
{
	assert_events("event: delta\ndata: x\n\n", "delta|x|\n");
	assert_events("event: a\nevent: b\ndata: x\n\n", "b|x|\n");
	assert_events("event:\ndata: x\n\n", "message|x|\n");
	assert_events("event: delta\ndata: x\n\ndata: y\n\n", "delta|x|\nmessage|y|\n");
}

static void
test_sse_id(void)
{
	g_autofree gchar *all = NULL;

	/* the last event id persists across events until an id field changes it */
	assert_events("id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n",
		      "message|a|1\nmessage|b|1\nmessage|c|\n");
	assert_events("data: a\nid: 7\n\n", "message|a|7\n");
	/* an id containing NUL is ignored */
	all = parse_split("id: 1\n\nid: 2\0x\ndata: a\n\n", 24, NULL, 0, BIG, BIG);
	g_assert_cmpstr(all, ==, "message|a|1\nretry=-1 last-id=1\n");
}

static void
test_sse_retry(void)
{
	g_autofree gchar *valid = parse_whole("retry: 1500\n\n");
	g_autofree gchar *invalid = parse_whole("retry: 2000\nretry: 15x\nretry: -1\nretry:\n"
						"retry:  15\nretry: 1.5\n\n");
	g_autofree gchar *overflow = parse_whole("retry: 99999999999999999999999\n\n");
	g_autofree gchar *none = parse_whole("data: x\n\n");

	g_assert_cmpstr(valid, ==, "retry=1500 last-id=\n");
	g_assert_cmpstr(invalid, ==, "retry=2000 last-id=\n");
	g_assert_cmpstr(overflow, ==, "retry=-1 last-id=\n");
	g_assert_cmpstr(none, ==, "message|x|\nretry=-1 last-id=\n");
}

static void
test_sse_unknown_fields(void)
{
	assert_events("foo: bar\ndata: x\n\n", "message|x|\n");
	/* field names are case-sensitive */
	assert_events("Data: x\nEVENT: y\n\n", "");
	assert_events("foo: bar\n\n", "");
	assert_events("datax: y\ndat: z\ndata: x\n\n", "message|x|\n");
}

static void
test_sse_utf8(void)
{
	/* "é" arrives split between two chunks and survives */
	const gchar *stream = "data: caf\xC3\xA9\n\n";
	const gsize cuts[] = {10};
	g_autofree gchar *split = parse_split(stream, strlen(stream), cuts, 1, BIG, BIG);
	g_autofree gchar *nul = parse_split("data: a\0b\n\n", 11, NULL, 0, BIG, BIG);

	g_assert_cmpstr(split, ==, "message|caf\\303\\251|\nretry=-1 last-id=\n");
	/* invalid bytes and NUL become U+FFFD: consumers always get valid C strings */
	assert_events("data: \xFF\n\n", "message|\\357\\277\\275|\n");
	g_assert_cmpstr(nul, ==, "message|a\\357\\277\\275b|\nretry=-1 last-id=\n");
}

static void
test_sse_line_limit(void)
{
	g_autoptr(GString) log = g_string_new(NULL);
	g_autoptr(FlSseParser) parser = fl_sse_parser_new(10, BIG, record_event_cb, log);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *exact = NULL;
	g_autofree gchar *over = NULL;
	const gsize cuts[] = {3, 6, 9};

	/* "data: abcd" is exactly 10 bytes: accepted, its line end not counted */
	exact = parse_split("data: abcd\r\n\r\n", 14, NULL, 0, 10, BIG);
	g_assert_cmpstr(exact, ==, "message|abcd|\nretry=-1 last-id=\n");
	/* the limit holds for a line arriving in pieces, before its end is seen */
	over = parse_split("data: abcde", 11, cuts, 3, 10, BIG);
	g_assert_cmpstr(over, ==,
			"feed error: SSE line longer than 10 bytes\n"
			"finish error: SSE line longer than 10 bytes\nretry=-1 last-id=\n");

	g_assert_true(fl_sse_parser_feed(parser, (const guint8 *)"data: a\n\n", 9, &error));
	g_assert_no_error(error);
	g_assert_false(fl_sse_parser_feed(parser, (const guint8 *)"data: 0123456789", 16, &error));
	g_assert_error(error, FL_ERROR, FL_ERROR_LIMIT_EXCEEDED);
	g_clear_error(&error);
	/* refused from then on, even input that would be fine */
	g_assert_false(fl_sse_parser_feed(parser, (const guint8 *)"\n\ndata: b\n\n", 11, &error));
	g_assert_error(error, FL_ERROR, FL_ERROR_LIMIT_EXCEEDED);
	g_clear_error(&error);
	g_assert_false(fl_sse_parser_finish(parser, &error));
	g_assert_error(error, FL_ERROR, FL_ERROR_LIMIT_EXCEEDED);
	g_assert_cmpstr(log->str, ==, "message|a|\n");
}

static void
test_sse_event_limit(void)
{
	g_autofree gchar *fits = parse_split("data: abc\ndata: def\n\n", 21, NULL, 0, BIG, 8);
	g_autofree gchar *over =
		parse_split("data: abc\ndata: defg\n\ndata: x\n\n", 32, NULL, 0, BIG, 8);
	g_autofree gchar *typed = parse_split("event: abcdefgh\ndata: x\n\n", 25, NULL, 0, BIG, 8);
	g_autofree gchar *many = NULL;
	g_autoptr(GString) stream = g_string_new(NULL);
	g_autoptr(GString) expected = g_string_new(NULL);

	/* "abc\ndef\n" is 8 bytes with the joining newlines */
	g_assert_cmpstr(fits, ==, "message|abc\\ndef|\nretry=-1 last-id=\n");
	g_assert_cmpstr(over, ==,
			"feed error: SSE event larger than 8 bytes\n"
			"finish error: SSE event larger than 8 bytes\nretry=-1 last-id=\n");
	/* the event type counts too */
	g_assert_cmpstr(typed, ==,
			"feed error: SSE event larger than 8 bytes\n"
			"finish error: SSE event larger than 8 bytes\nretry=-1 last-id=\n");
	/* the limit is per event: many small events are fine */
	for (guint i = 0; i < 100; i++) {
		g_string_append(stream, "data: 1234567\n\n");
		g_string_append(expected, "message|1234567|\n");
	}
	g_string_append(expected, "retry=-1 last-id=\n");
	many = parse_split(stream->str, stream->len, NULL, 0, BIG, 8);
	g_assert_cmpstr(many, ==, expected->str);
}

static void
test_sse_finish(void)
{
	g_autoptr(GString) log = g_string_new(NULL);
	g_autoptr(FlSseParser) parser = fl_sse_parser_new(BIG, BIG, record_event_cb, log);
	g_autoptr(GError) error = NULL;
	const gchar *partial = "data: a\n\ndata: b";

	assert_events("data: a\n\n", "message|a|\n");
	/* an unterminated last event is dropped, and said to be */
	assert_events("data: a\n\ndata: b\n",
		      "message|a|\nfinish error: stream ended in the middle of an event\n");
	assert_events("data: a\n\nevent: x\n",
		      "message|a|\nfinish error: stream ended in the middle of an event\n");
	/* ending inside a comment or after an id is not the middle of an event */
	assert_events("data: a\n\n: ping", "message|a|\n");
	assert_events("data: a\n\nid: 4\n", "message|a|\n");
	assert_events("", "");

	g_assert_false(fl_sse_parser_is_mid_event(parser));
	g_assert_true(fl_sse_parser_feed(parser, (const guint8 *)partial, strlen(partial), &error));
	g_assert_true(fl_sse_parser_is_mid_event(parser));
	g_assert_false(fl_sse_parser_finish(parser, &error));
	g_assert_error(error, FL_ERROR, FL_ERROR_FAILED);
	g_assert_true(fl_sse_parser_is_mid_event(parser));
	g_assert_cmpstr(log->str, ==, "message|a|\n");
}

/* streams exercising every rule at once; each must parse the same however it is cut */
static const gchar *property_streams[] = {
	"\xEF\xBB\xBF"
	"data: a\r\n\r\nevent: e\rdata: b\rdata:c\r\r: c\nid: 5\ndata: caf\xC3\xA9\n\n",
	"retry: 100\r\nid: x\r\ndata\r\n\r\ndata: tail",
	"data: 1\n\n\n\r\n\r\rdata: 2\r\n\r\nfoo: bar\nevent\ndata: 3\n\n",
	"\xEF\xBB"
	"data: no-bom\n\ndata: x\n\n",
	": only a comment\r\n",
	"data: 0123456789\ndata: 0123456789\n\ndata: toolong-toolong-toolong\n\n",
	"data: 0123456789\ndata: 0123456789\ndata: xy\n\n",
};

static void
test_sse_property_splits(void)
{
	for (guint s = 0; s < G_N_ELEMENTS(property_streams); s++) {
		const gchar *stream = property_streams[s];
		gsize len = strlen(stream);
		/* small limits so the limit paths are split too */
		g_autofree gchar *expected = parse_split(stream, len, NULL, 0, 20, 24);
		g_autofree gsize *ones = g_new(gsize, len);

		/* 1-byte chunks */
		for (gsize i = 1; i < len; i++)
			ones[i - 1] = i;
		{
			g_autofree gchar *got = parse_split(stream, len, ones, len - 1, 20, 24);
			g_assert_cmpstr(got, ==, expected);
		}
		/* every 2-way and 3-way split (empty chunks included) */
		for (gsize a = 0; a <= len; a++) {
			for (gsize b = a; b <= len; b++) {
				const gsize cuts[] = {a, b};
				g_autofree gchar *got = parse_split(stream, len, cuts, 2, 20, 24);

				if (g_strcmp0(got, expected) != 0)
					g_test_message("stream %u cut at %" G_GSIZE_FORMAT
						       ", %" G_GSIZE_FORMAT,
						       s, a, b);
				g_assert_cmpstr(got, ==, expected);
			}
		}
	}
}

/* the property test would pass vacuously if the streams produced nothing */
static void
test_sse_property_streams_meaningful(void)
{
	g_autofree gchar *first =
		parse_split(property_streams[0], strlen(property_streams[0]), NULL, 0, 20, 24);
	g_autofree gchar *long_line =
		parse_split(property_streams[5], strlen(property_streams[5]), NULL, 0, 20, 24);
	g_autofree gchar *big_event =
		parse_split(property_streams[6], strlen(property_streams[6]), NULL, 0, 20, 24);

	g_assert_cmpstr(first, ==,
			"message|a|\ne|b\\nc|\nmessage|caf\\303\\251|5\nretry=-1 last-id=5\n");
	g_assert_cmpstr(long_line, ==,
			"message|0123456789\\n0123456789|\n"
			"feed error: SSE line longer than 20 bytes\n"
			"finish error: SSE line longer than 20 bytes\nretry=-1 last-id=\n");
	g_assert_cmpstr(big_event, ==,
			"feed error: SSE event larger than 24 bytes\n"
			"finish error: SSE event larger than 24 bytes\nretry=-1 last-id=\n");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/sse/basic", test_sse_basic);
	g_test_add_func("/sse/line-ends", test_sse_line_ends);
	g_test_add_func("/sse/crlf-split", test_sse_crlf_split);
	g_test_add_func("/sse/bom", test_sse_bom);
	g_test_add_func("/sse/comments", test_sse_comments);
	g_test_add_func("/sse/space", test_sse_space);
	g_test_add_func("/sse/data-lines", test_sse_data_lines);
	g_test_add_func("/sse/blank-without-data", test_sse_blank_without_data);
	g_test_add_func("/sse/event-type", test_sse_event_type);
	g_test_add_func("/sse/id", test_sse_id);
	g_test_add_func("/sse/retry", test_sse_retry);
	g_test_add_func("/sse/unknown-fields", test_sse_unknown_fields);
	g_test_add_func("/sse/utf8", test_sse_utf8);
	g_test_add_func("/sse/line-limit", test_sse_line_limit);
	g_test_add_func("/sse/event-limit", test_sse_event_limit);
	g_test_add_func("/sse/finish", test_sse_finish);
	g_test_add_func("/sse/property-splits", test_sse_property_splits);
	g_test_add_func("/sse/property-streams-meaningful", test_sse_property_streams_meaningful);
	return g_test_run();
}
