/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "fl-error.h"
#include "fl-jsonl.h"

/* the JSON Lines reader every structured agent's parser stands on (src/fl-jsonl.h) */

typedef struct {
	GPtrArray *types; /* "type" of every object handed over */
} Seen;

static void
seen_object_cb(JsonObject *object, gpointer user_data)
{
	Seen *seen = user_data;

	g_ptr_array_add(seen->types,
			g_strdup(json_object_get_string_member_with_default(object, "type", "?")));
}

static gchar *
seen_join(Seen *seen)
{
	g_ptr_array_add(seen->types, NULL);
	return g_strjoinv(",", (gchar **)seen->types->pdata);
}

/* split at every byte, the objects and the noise come out the same as in one piece */
static void
test_jsonl_chunking(void)
{
	const gchar *input = "{\"type\":\"a\"}\r\n  \n"
			     "warning: \x1b[31mred\x1b[0m\n"
			     "\t{\"type\":\"b\"}\n"
			     "{\"type\":\"c\"}"; /* no final newline */

	for (gsize step = 1; step <= strlen(input); step++) {
		Seen seen = {g_ptr_array_new_with_free_func(g_free)};
		g_autoptr(FlJsonlReader) reader =
			fl_jsonl_reader_new("Test", 1024, seen_object_cb, &seen);
		g_autoptr(GError) error = NULL;
		g_autofree gchar *joined = NULL;

		for (gsize at = 0; at < strlen(input); at += step)
			g_assert_true(fl_jsonl_reader_feed(reader, input + at,
							   MIN(step, strlen(input) - at), &error));
		g_assert_true(fl_jsonl_reader_finish(reader, &error));
		g_assert_no_error(error);
		joined = seen_join(&seen);
		g_assert_cmpstr(joined, ==, "a,b,c");
		g_assert_cmpuint(fl_jsonl_reader_get_noise_lines(reader), ==, 1);
		/* the escape is gone: a noise line reaches notifications */
		g_assert_null(strchr(fl_jsonl_reader_get_last_noise(reader), '\x1b'));
		g_ptr_array_unref(seen.types);
	}
}

/* garbage after '{' fails with the line number, and keeps failing */
static void
test_jsonl_garbage_sticks(void)
{
	const gchar *bad[] = {"{\"type\":\"a\"}\n{not json\n", "{\"a\":1}\n{\"a\":[1}\n",
			      "{\"type\":\"a\"}\n{\"x\":\"\xff\"}\n"};

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		Seen seen = {g_ptr_array_new_with_free_func(g_free)};
		g_autoptr(FlJsonlReader) reader =
			fl_jsonl_reader_new("Test", 1024, seen_object_cb, &seen);
		g_autoptr(GError) error = NULL;
		g_autoptr(GError) again = NULL;

		g_assert_false(fl_jsonl_reader_feed(reader, bad[i], strlen(bad[i]), &error));
		g_assert_error(error, FL_ERROR, FL_ERROR_FAILED);
		g_assert_nonnull(strstr(error->message, "Test output line 2"));
		g_assert_false(fl_jsonl_reader_feed(reader, "{}\n", 3, &again));
		g_assert_cmpstr(again->message, ==, error->message);
		g_ptr_array_unref(seen.types);
	}
}

/* a line past the limit fails before it is buffered, even one with no newline ever */
static void
test_jsonl_line_limit(void)
{
	Seen seen = {g_ptr_array_new_with_free_func(g_free)};
	g_autoptr(FlJsonlReader) reader =
		fl_jsonl_reader_new("Test", 1024 * 1024, seen_object_cb, &seen);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *chunk = g_malloc(64 * 1024);
	gboolean ok = TRUE;

	memset(chunk, 'x', 64 * 1024);
	chunk[0] = '{';
	for (guint i = 0; i < 17 && ok; i++)
		ok = fl_jsonl_reader_feed(reader, chunk, 64 * 1024, &error);
	g_assert_false(ok);
	g_assert_error(error, FL_ERROR, FL_ERROR_LIMIT_EXCEEDED);
	g_assert_nonnull(strstr(error->message, "Test output line 1 is longer than 1 MiB"));
	g_assert_cmpuint(seen.types->len, ==, 0);
	g_ptr_array_unref(seen.types);
}

static void
test_jsonl_one_line(void)
{
	g_autofree gchar *first = fl_jsonl_one_line("\n\n  first\nsecond", -1, TRUE, 300);
	g_autofree gchar *joined = fl_jsonl_one_line("first\nsecond", -1, FALSE, 300);
	g_autofree gchar *cut = fl_jsonl_one_line("abcdef", -1, TRUE, 4);

	g_assert_cmpstr(first, ==, "first");
	g_assert_cmpstr(joined, ==, "first second");
	g_assert_cmpstr(cut, ==, "abc…");
	g_assert_null(fl_jsonl_one_line(" \n\t", -1, TRUE, 300));
	g_assert_null(fl_jsonl_one_line(NULL, -1, TRUE, 300));
}

int
main(int argc, char *argv[])
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/jsonl/chunking", test_jsonl_chunking);
	g_test_add_func("/jsonl/garbage-sticks", test_jsonl_garbage_sticks);
	g_test_add_func("/jsonl/line-limit", test_jsonl_line_limit);
	g_test_add_func("/jsonl/one-line", test_jsonl_one_line);
	return g_test_run();
}
