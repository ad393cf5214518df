/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "fl-agent-codex.h"
#include "fl-error.h"

/*
 * The Codex agent's pure parts: the argv it runs and the parser of its `exec --json` output,
 * on the recorded runs in tests/doubles (shaped after @openai/codex 0.171.0's real output)
 * and on damaged, hostile and oversized input.
 */

#define MIB (1024 * 1024)

static gchar *
read_double(const gchar *name, gsize *len)
{
	g_autofree gchar *path = g_test_build_filename(G_TEST_DIST, "doubles", name, NULL);
	g_autoptr(GError) error = NULL;
	gchar *contents = NULL;

	g_file_get_contents(path, &contents, len, &error);
	g_assert_no_error(error);
	return contents;
}

/* everything a caller can read from a finished stream, one line each, so two ways of
 * feeding the same bytes can be compared in one assertion */
static gchar *
describe(FlCodexStream *stream, const GError *feed_error, const GError *finish_error)
{
	g_autoptr(GString) s = g_string_new(NULL);
	g_autofree gchar *message = g_strescape(fl_codex_stream_get_last_message(stream) != NULL
							? fl_codex_stream_get_last_message(stream)
							: "(null)",
						NULL);

	g_string_append_printf(s, "feed: %s\n", feed_error != NULL ? feed_error->message : "ok");
	g_string_append_printf(s, "finish: %s\n",
			       finish_error != NULL ? finish_error->message : "ok");
	g_string_append_printf(s, "thread: %s\n", fl_codex_stream_get_thread_id(stream));
	g_string_append_printf(s, "message: %s\n", message);
	g_string_append_printf(s, "turns: %u failed: %u\n", fl_codex_stream_get_turns(stream),
			       fl_codex_stream_get_failed_turns(stream));
	g_string_append_printf(
		s, "tokens: %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT "\n",
		fl_codex_stream_get_input_tokens(stream),
		fl_codex_stream_get_cached_input_tokens(stream),
		fl_codex_stream_get_output_tokens(stream));
	g_string_append_printf(s, "error: %s\n", fl_codex_stream_get_last_error(stream));
	g_string_append_printf(s, "noise: %u %s\n", fl_codex_stream_get_noise_lines(stream),
			       fl_codex_stream_get_last_noise(stream));
	g_string_append_printf(s, "outcome: %s %s\n",
			       fl_codex_outcome_to_string(fl_codex_stream_get_outcome(stream)),
			       fl_codex_stream_get_reason(stream));
	return g_string_free(g_steal_pointer(&s), FALSE);
}

/* feeds @data cut at @cuts (ascending offsets), then finishes */
static gchar *
parse_split(const gchar *data, gsize len, const gsize *cuts, guint n_cuts)
{
	g_autoptr(FlCodexStream) stream = fl_codex_stream_new();
	g_autoptr(GError) feed_error = NULL;
	g_autoptr(GError) finish_error = NULL;
	gsize start = 0;

	for (guint i = 0; i <= n_cuts && feed_error == NULL; i++) {
		gsize end = i < n_cuts ? cuts[i] : len;
		if (!fl_codex_stream_feed(stream, data + start, end - start, &feed_error))
			g_assert_nonnull(feed_error);
		start = end;
	}
	if (!fl_codex_stream_finish(stream, &finish_error))
		g_assert_nonnull(finish_error);
	return describe(stream, feed_error, finish_error);
}

static gchar *
parse_whole(const gchar *data, gsize len)
{
	return parse_split(data, len, NULL, 0);
}

static gchar *
parse_string(const gchar *data)
{
	return parse_whole(data, strlen(data));
}

/* ------------------------------------------------------------------ argv */

static void
test_argv_new(void)
{
	const gchar *goal = "--help; rm -rf ~ $(touch pwned) `id` 'q' \"d\" \\ *\n|& <>";
	g_auto(GStrv) argv = fl_agent_codex_build_argv(NULL, goal, NULL, NULL);
	const gchar *expected[] = {"codex",           "exec", "--json", "--sandbox",
				   "workspace-write", "--",   goal,     NULL};

	g_assert_cmpstrv(argv, expected);
}

/* a goal that is a subcommand's name stays the prompt: it comes after "--" */
static void
test_argv_subcommand_word(void)
{
	g_auto(GStrv) argv = fl_agent_codex_build_argv(NULL, "resume", NULL, NULL);
	const gchar *expected[] = {"codex",           "exec", "--json", "--sandbox",
				   "workspace-write", "--",   "resume", NULL};

	g_assert_cmpstrv(argv, expected);
}

static void
test_argv_resume(void)
{
	const gchar *base[] = {"/opt/codex/bin/codex", "-m", "o3", "-c",
			       "model_reasoning=high", NULL};
	g_auto(GStrv) argv = fl_agent_codex_build_argv(
		base, "the old goal", "019ab3f2-5c1e-7d40-9a7e-3c5b2f8e41d7", "-n yes; $(reboot)");
	const gchar *expected[] = {
		"/opt/codex/bin/codex", "-m",     "o3",     "-c",
		"model_reasoning=high", "exec",   "--json", "--sandbox",
		"workspace-write",      "resume", "--",     "019ab3f2-5c1e-7d40-9a7e-3c5b2f8e41d7",
		"-n yes; $(reboot)",    NULL};

	g_assert_cmpstrv(argv, expected);
}

/* an empty base argv is no command: the default one is used */
static void
test_argv_empty_base(void)
{
	const gchar *base[] = {NULL};
	g_auto(GStrv) argv = fl_agent_codex_build_argv(base, "", NULL, NULL);
	const gchar *expected[] = {"codex",           "exec", "--json", "--sandbox",
				   "workspace-write", "--",   "",       NULL};

	g_assert_cmpstrv(argv, expected);
}

/* ------------------------------------------------------------------ recorded runs */

static const gchar *const recorded_expected =
	"feed: ok\n"
	"finish: ok\n"
	"thread: 019ab3f2-5c1e-7d40-9a7e-3c5b2f8e41d7\n"
	"message: Checked CODEX.md: it ends with \\\"codex-was-here\\\".\\n\\nNothing else "
	"changed \\342\\200\\224 no tests were run.\n"
	"turns: 2 failed: 0\n"
	/* the second turn's running total, not 240+360 */
	"tokens: 360 60 90\n"
	"error: (null)\n"
	"noise: 2 Reading additional input from stdin...\n"
	"outcome: succeeded (null)\n";

static const gchar *const failed_expected =
	"feed: ok\n"
	"finish: ok\n"
	"thread: 019ab3f4-0b7a-7c21-8e55-91d0c4a6f3b2\n"
	"message: (null)\n"
	"turns: 0 failed: 1\n"
	"tokens: 0 0 0\n"
	"error: The model `gpt-9` does not exist or you do not have access to it.\n"
	"noise: 2 Reading additional input from stdin...\n"
	"outcome: failed The model `gpt-9` does not exist or you do not have access to it.\n";

static void
test_recorded_whole(void)
{
	gsize len = 0;
	g_autofree gchar *data = read_double("codex-recorded.jsonl", &len);
	g_autofree gchar *got = parse_whole(data, len);
	g_autoptr(FlCodexStream) stream = fl_codex_stream_new();

	g_assert_cmpstr(got, ==, recorded_expected);

	/* the getters follow the stream while it runs, too */
	g_assert_cmpint(fl_codex_stream_get_outcome(stream), ==, FL_CODEX_OUTCOME_NONE);
	g_assert_true(fl_codex_stream_feed(stream, data, len, NULL));
	g_assert_cmpint(fl_codex_stream_get_outcome(stream), ==, FL_CODEX_OUTCOME_SUCCEEDED);
	g_assert_cmpuint(fl_codex_stream_get_turns(stream), ==, 2);
}

static void
test_failed_whole(void)
{
	gsize len = 0;
	g_autofree gchar *data = read_double("codex-failed.jsonl", &len);
	g_autofree gchar *got = parse_whole(data, len);

	g_assert_cmpstr(got, ==, failed_expected);
}

static void
check_splits(const gchar *name, const gchar *expected)
{
	gsize len = 0;
	g_autofree gchar *data = read_double(name, &len);
	g_autofree gsize *cuts = g_new(gsize, len + 1);
	g_autofree gchar *bytewise = NULL;

	/* one byte at a time: every line, UTF-8 sequence and escape cut everywhere */
	for (gsize i = 0; i < len; i++)
		cuts[i] = i + 1;
	bytewise = parse_split(data, len, cuts, (guint)len);
	g_assert_cmpstr(bytewise, ==, expected);

	for (guint round = 0; round < 200; round++) {
		g_autofree gchar *got = NULL;
		guint n = 0;
		gsize at = 0;

		for (;;) {
			at += (gsize)g_test_rand_int_range(0, 64);
			if (at >= len)
				break;
			cuts[n++] = at;
		}
		got = parse_split(data, len, cuts, n);
		g_assert_cmpstr(got, ==, expected);
	}
}

static void
test_recorded_splits(void)
{
	check_splits("codex-recorded.jsonl", recorded_expected);
}

static void
test_failed_splits(void)
{
	check_splits("codex-failed.jsonl", failed_expected);
}

/* CRLF line ends and no newline after the last line change nothing */
static void
test_recorded_crlf_unterminated(void)
{
	gsize len = 0;
	g_autofree gchar *data = read_double("codex-recorded.jsonl", &len);
	g_auto(GStrv) lines = g_strsplit(data, "\n", -1);
	g_autofree gchar *crlf = g_strjoinv("\r\n", lines);
	g_autofree gchar *got = NULL;

	g_strchomp(crlf);
	got = parse_string(crlf);
	g_assert_cmpstr(got, ==, recorded_expected);
}

/* ------------------------------------------------------------------ outcomes */

static void
test_killed_mid_turn(void)
{
	gsize len = 0;
	g_autofree gchar *data = read_double("codex-recorded.jsonl", &len);
	/* cut right after the second turn.started */
	const gchar *second = strstr(strstr(data, "\"turn.started\"") + 1, "\"turn.started\"");
	gsize cut = (gsize)(strchr(second, '\n') + 1 - data);
	g_autoptr(FlCodexStream) stream = fl_codex_stream_new();
	g_autoptr(GError) error = NULL;

	g_assert_true(fl_codex_stream_feed(stream, data, cut, &error));
	g_assert_no_error(error);
	g_assert_cmpint(fl_codex_stream_get_outcome(stream), ==, FL_CODEX_OUTCOME_SUCCEEDED);
	g_assert_true(fl_codex_stream_finish(stream, &error));
	g_assert_no_error(error);
	g_assert_cmpint(fl_codex_stream_get_outcome(stream), ==, FL_CODEX_OUTCOME_FAILED);
	g_assert_cmpstr(fl_codex_stream_get_reason(stream), ==,
			"Codex stopped in the middle of a turn");
	/* what the first turn did is still there */
	g_assert_cmpstr(fl_codex_stream_get_last_message(stream), ==,
			"Appended a line to CODEX.md.");
	g_assert_cmpuint(fl_codex_stream_get_input_tokens(stream), ==, 240);
}

static void
test_no_turn(void)
{
	g_autofree gchar *empty = parse_string("");
	g_autofree gchar *outside_git = parse_string(
		"Reading additional input from stdin...\n"
		"Not inside a trusted directory and --skip-git-repo-check was not specified.\n");
	g_autofree gchar *error_event = parse_string(
		"{\"type\":\"thread.started\",\"thread_id\":\"t-1\"}\n"
		"{\"type\":\"error\",\"message\":\"unexpected status 401 Unauthorized: "
		"Missing bearer authentication in header\\nmore detail\"}\n"
		"stderr after it\n");

	g_assert_cmpstr(empty, ==,
			"feed: ok\n"
			"finish: Codex ended without finishing a turn\n"
			"thread: (null)\n"
			"message: (null)\n"
			"turns: 0 failed: 0\n"
			"tokens: 0 0 0\n"
			"error: (null)\n"
			"noise: 0 (null)\n"
			"outcome: none (null)\n");
	g_assert_nonnull(strstr(outside_git, "finish: Codex ended without finishing a turn (last "
					     "output: Not inside a trusted directory and "
					     "--skip-git-repo-check was not specified.)\n"));
	g_assert_nonnull(strstr(outside_git, "noise: 2 Not inside"));
	g_assert_nonnull(strstr(outside_git, "outcome: none (null)\n"));
	/* an error event says more than the noise after it, in one line */
	g_assert_nonnull(strstr(error_event, "finish: Codex ended without finishing a turn (last "
					     "output: unexpected status 401 Unauthorized: Missing "
					     "bearer authentication in header)\n"));
	g_assert_nonnull(strstr(error_event, "thread: t-1\n"));
}

static void
test_turn_order(void)
{
	const gchar *failed =
		"{\"type\":\"turn.started\"}\n"
		"{\"type\":\"turn.failed\",\"error\":{\"message\":\"stream disconnected before "
		"completion\"}}\n";
	const gchar *completed = "{\"type\":\"turn.started\"}\n"
				 "{\"type\":\"item.completed\",\"item\":{\"type\":\"agent_"
				 "message\",\"text\":\"ok\"}}\n"
				 "{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":10,"
				 "\"cached_input_tokens\":0,\"output_tokens\":3}}\n";
	g_autofree gchar *fail_then_ok = g_strconcat(failed, completed, NULL);
	g_autofree gchar *ok_then_fail = g_strconcat(completed, failed, NULL);
	g_autofree gchar *a = parse_string(fail_then_ok);
	g_autofree gchar *b = parse_string(ok_then_fail);

	g_assert_nonnull(strstr(a, "turns: 1 failed: 1\n"));
	g_assert_nonnull(strstr(a, "outcome: succeeded (null)\n"));
	/* still known, for the log */
	g_assert_nonnull(strstr(a, "error: stream disconnected before completion\n"));

	g_assert_nonnull(strstr(b, "turns: 1 failed: 1\n"));
	g_assert_nonnull(strstr(b, "message: ok\n"));
	g_assert_nonnull(strstr(b, "outcome: failed stream disconnected before completion\n"));
}

static void
test_failure_reasons(void)
{
	/* no message of its own: the error event of the same turn says why */
	g_autofree gchar *from_event = parse_string(
		"{\"type\":\"turn.started\"}\n"
		"{\"type\":\"error\",\"message\":\"Quota exceeded. Check your plan.\"}\n"
		"{\"type\":\"turn.failed\",\"error\":{}}\n");
	/* an error event of an earlier turn does not explain a later failure */
	g_autofree gchar *stale = parse_string("{\"type\":\"turn.started\"}\n"
					       "{\"type\":\"error\",\"message\":\"old trouble\"}\n"
					       "{\"type\":\"turn.completed\",\"usage\":{}}\n"
					       "{\"type\":\"turn.started\"}\n"
					       "{\"type\":\"turn.failed\"}\n");
	/* an API error body is reduced to its message; a long one is cut to one line */
	g_autofree gchar *long_text = g_strnfill(1000, 'x');
	g_autofree gchar *long_line = g_strdup_printf(
		"{\"type\":\"turn.failed\",\"error\":{\"message\":\"%s\\nsecond line\"}}\n",
		long_text);
	g_autofree gchar *long_reason = parse_string(long_line);
	g_autofree gchar *body = parse_string(
		"{\"type\":\"turn.failed\",\"error\":{\"message\":\"{\\\"message\\\":\\\"Rate "
		"limit reached\\\"}\"}}\n");
	g_autofree gchar *not_json_body =
		parse_string("{\"type\":\"turn.failed\",\"error\":{\"message\":\"{not json: a "
			     "\\u0007bell\"}}\n");
	g_autoptr(FlCodexStream) stream = fl_codex_stream_new();
	const gchar *reason;

	g_assert_nonnull(strstr(from_event, "outcome: failed Quota exceeded. Check your plan.\n"));
	g_assert_nonnull(strstr(stale, "outcome: failed Codex failed the turn\n"));
	g_assert_nonnull(strstr(stale, "error: old trouble\n"));
	g_assert_nonnull(strstr(body, "outcome: failed Rate limit reached\n"));
	g_assert_nonnull(strstr(not_json_body, "outcome: failed {not json: a bell\n"));

	g_assert_true(fl_codex_stream_feed(stream, long_line, strlen(long_line), NULL));
	reason = fl_codex_stream_get_reason(stream);
	g_assert_nonnull(reason);
	g_assert_null(strchr(reason, '\n'));
	g_assert_cmpint(g_utf8_strlen(reason, -1), ==, 300);
	g_assert_true(g_str_has_suffix(reason, "…"));
	g_assert_nonnull(strstr(long_reason, "turns: 0 failed: 1\n"));
}

/* untrusted fields of the wrong type are ignored, never trusted or crashed on */
static void
test_hostile_fields(void)
{
	g_autofree gchar *got = parse_string(
		"{}\n"
		"{\"type\":42}\n"
		"{\"type\":\"thread.started\",\"thread_id\":42}\n"
		"{\"type\":\"thread.started\",\"thread_id\":\"\"}\n"
		"{\"type\":\"item.completed\",\"item\":\"agent_message\"}\n"
		"{\"type\":\"item.completed\",\"item\":{\"type\":\"agent_message\",\"text\":[1]}}\n"
		"{\"type\":\"item.completed\",\"item\":{\"type\":\"error\",\"message\":\"warn\"}}\n"
		"{\"type\":\"item.completed\",\"item\":{\"type\":\"reasoning\",\"text\":\"hm\"}}\n"
		"{\"type\":\"some.future.event\",\"x\":{\"y\":[null]}}\n"
		"{\"type\":\"error\",\"message\":{\"nested\":true}}\n"
		"{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":-5,\"output_tokens\":"
		"\"7\","
		"\"cached_input_tokens\":1.5e300}}\n"
		"{\"type\":\"turn.completed\",\"usage\":[1]}\n");

	g_assert_cmpstr(got, ==,
			"feed: ok\n"
			"finish: ok\n"
			"thread: (null)\n"
			"message: (null)\n"
			"turns: 2 failed: 0\n"
			"tokens: 0 0 0\n"
			"error: (null)\n"
			"noise: 0 (null)\n"
			"outcome: succeeded (null)\n");
}

/* ------------------------------------------------------------------ damaged input */

static void
test_truncated_line(void)
{
	const gchar *data = "{\"type\":\"thread.started\",\"thread_id\":\"t\"}\n"
			    "noise\n"
			    "{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":1\n"
			    "{\"type\":\"turn.completed\"}\n";
	g_autoptr(FlCodexStream) stream = fl_codex_stream_new();
	g_autoptr(FlCodexStream) unterminated = fl_codex_stream_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) again = NULL;
	g_autoptr(GError) at_finish = NULL;
	const gchar *cut = "{\"type\":\"turn.completed\",\"us";

	g_assert_false(fl_codex_stream_feed(stream, data, strlen(data), &error));
	g_assert_error(error, FL_ERROR, FL_ERROR_FAILED);
	g_assert_true(g_str_has_prefix(error->message, "Codex output line 3 is not valid JSON"));
	/* nothing after the bad line was taken, and the stream stays failed */
	g_assert_cmpuint(fl_codex_stream_get_turns(stream), ==, 0);
	g_assert_false(fl_codex_stream_feed(stream, "{}\n", 3, &again));
	g_assert_error(again, FL_ERROR, FL_ERROR_FAILED);
	g_assert_cmpstr(again->message, ==, error->message);
	g_clear_error(&again);
	g_assert_false(fl_codex_stream_finish(stream, &again));
	g_assert_cmpstr(again->message, ==, error->message);

	/* a process killed in the middle of writing a line */
	g_assert_true(fl_codex_stream_feed(unterminated, cut, strlen(cut), NULL));
	g_assert_false(fl_codex_stream_finish(unterminated, &at_finish));
	g_assert_error(at_finish, FL_ERROR, FL_ERROR_FAILED);
	g_assert_true(
		g_str_has_prefix(at_finish->message, "Codex output line 1 is not valid JSON"));
}

static void
test_binary_garbage(void)
{
	const gchar garbage[] = "{\"type\":\"turn.started\"}\n{\xff\xfe\x00\x01\x80garbage}\n";
	const gchar nul_in_json[] = "{\"type\":\"turn.\x00started\"}\n";
	const gchar binary_noise[] = "\x1b[31m\xff\xfe stack \x01trace\n";
	g_autoptr(FlCodexStream) stream = fl_codex_stream_new();
	g_autoptr(FlCodexStream) nul_stream = fl_codex_stream_new();
	g_autoptr(FlCodexStream) noise_stream = fl_codex_stream_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) nul_error = NULL;
	const gchar *noise;

	g_assert_false(fl_codex_stream_feed(stream, garbage, sizeof(garbage) - 1, &error));
	g_assert_error(error, FL_ERROR, FL_ERROR_FAILED);
	g_assert_cmpstr(error->message, ==, "Codex output line 2 is not valid UTF-8");

	g_assert_false(
		fl_codex_stream_feed(nul_stream, nul_in_json, sizeof(nul_in_json) - 1, &nul_error));
	g_assert_error(nul_error, FL_ERROR, FL_ERROR_FAILED);
	g_assert_true(g_str_has_prefix(nul_error->message, "Codex output line 1 "));

	/* binary that does not look like JSON is stderr noise, kept only as a clean line */
	g_assert_true(
		fl_codex_stream_feed(noise_stream, binary_noise, sizeof(binary_noise) - 1, NULL));
	g_assert_cmpuint(fl_codex_stream_get_noise_lines(noise_stream), ==, 1);
	noise = fl_codex_stream_get_last_noise(noise_stream);
	g_assert_nonnull(noise);
	g_assert_true(g_utf8_validate(noise, -1, NULL));
	g_assert_null(strchr(noise, '\x1b'));
	g_assert_nonnull(strstr(noise, "stack"));
}

/* the peak resident set size in KiB, after resetting it when the kernel lets us */
static guint64
peak_rss_kib(gboolean reset)
{
	g_autofree gchar *status = NULL;
	const gchar *line;

	if (reset) {
		FILE *f = fopen("/proc/self/clear_refs", "w");
		g_assert_nonnull(f);
		g_assert_cmpint(fputs("5", f), >=, 0);
		g_assert_cmpint(fclose(f), ==, 0);
	}
	g_assert_true(g_file_get_contents("/proc/self/status", &status, NULL, NULL));
	line = strstr(status, "VmHWM:");
	g_assert_nonnull(line);
	return g_ascii_strtoull(line + strlen("VmHWM:"), NULL, 10);
}

/* a 100 MB line fed in 1 MiB chunks: refused as soon as it passes the limit, with its
 * buffer given back, and never held in memory beyond the limit */
static void
test_huge_line(void)
{
	const gchar *prefix =
		"{\"type\":\"item.completed\",\"item\":{\"type\":\"agent_message\",\"text\":\"";
	g_autofree gchar *chunk = g_malloc(MIB);
	g_autoptr(FlCodexStream) stream = fl_codex_stream_new();
	g_autoptr(GError) first_error = NULL;
	gboolean measure = g_getenv("FL_TEST_VALGRIND") == NULL;
	guint64 before = 0;
	guint64 after;
	guint failed_at = 0;

	memset(chunk, 'a', MIB);
	if (measure)
		before = peak_rss_kib(TRUE);
	g_assert_true(fl_codex_stream_feed(stream, prefix, strlen(prefix), NULL));
	for (guint i = 0; i < 100; i++) {
		g_autoptr(GError) error = NULL;
		if (fl_codex_stream_feed(stream, chunk, MIB, &error)) {
			g_assert_no_error(error);
			g_assert_null(first_error);
			continue;
		}
		g_assert_error(error, FL_ERROR, FL_ERROR_LIMIT_EXCEEDED);
		if (first_error == NULL) {
			failed_at = i;
			first_error = g_steal_pointer(&error);
		} else {
			g_assert_cmpstr(error->message, ==, first_error->message);
		}
	}
	if (measure) {
		after = peak_rss_kib(FALSE);
		g_test_message("peak RSS grew by %" G_GUINT64_FORMAT " KiB",
			       after - MIN(after, before));
		/* at most the limit held (twice while the buffer grows), not 100 MB */
		g_assert_cmpuint(after - MIN(after, before), <, 32 * 1024);
	}
	g_assert_nonnull(first_error);
	g_assert_cmpstr(first_error->message, ==, "Codex output line 1 is longer than 8 MiB");
	/* the prefix plus 8 MiB passes the limit: the 8th chunk is refused */
	g_assert_cmpuint(failed_at, ==, 7);
	g_assert_false(fl_codex_stream_finish(stream, NULL));
	g_assert_cmpuint(fl_codex_stream_get_noise_lines(stream), ==, 0);
}

/* a long line just under the limit is fine, in one piece or many */
static void
test_long_line_under_limit(void)
{
	const gchar *prefix =
		"{\"type\":\"item.completed\",\"item\":{\"type\":\"agent_message\",\"text\":\"";
	const gchar *suffix = "\"}}\n{\"type\":\"turn.completed\",\"usage\":{}}\n";
	gsize text_len = FL_CODEX_STREAM_MAX_LINE - strlen(prefix) - strlen("\"}}");
	g_autoptr(GString) data = g_string_new(prefix);
	g_autoptr(FlCodexStream) stream = fl_codex_stream_new();
	g_autoptr(GError) error = NULL;
	const gchar *message;

	g_string_set_size(data, strlen(prefix) + text_len);
	memset(data->str + strlen(prefix), 'b', text_len);
	g_string_append(data, suffix);
	for (gsize at = 0; at < data->len; at += 65536) {
		gsize n = MIN(65536, data->len - at);
		g_assert_true(fl_codex_stream_feed(stream, data->str + at, n, &error));
		g_assert_no_error(error);
	}
	g_assert_true(fl_codex_stream_finish(stream, &error));
	g_assert_no_error(error);
	message = fl_codex_stream_get_last_message(stream);
	g_assert_nonnull(message);
	g_assert_cmpuint(strlen(message), ==, text_len);
	g_assert_cmpint(fl_codex_stream_get_outcome(stream), ==, FL_CODEX_OUTCOME_SUCCEEDED);
}

gint
main(gint argc, gchar **argv)
{
	g_test_init(&argc, &argv, NULL);

	g_test_add_func("/codex/argv/new", test_argv_new);
	g_test_add_func("/codex/argv/subcommand-word", test_argv_subcommand_word);
	g_test_add_func("/codex/argv/resume", test_argv_resume);
	g_test_add_func("/codex/argv/empty-base", test_argv_empty_base);
	g_test_add_func("/codex/stream/recorded", test_recorded_whole);
	g_test_add_func("/codex/stream/failed", test_failed_whole);
	g_test_add_func("/codex/stream/recorded-splits", test_recorded_splits);
	g_test_add_func("/codex/stream/failed-splits", test_failed_splits);
	g_test_add_func("/codex/stream/crlf-unterminated", test_recorded_crlf_unterminated);
	g_test_add_func("/codex/stream/killed-mid-turn", test_killed_mid_turn);
	g_test_add_func("/codex/stream/no-turn", test_no_turn);
	g_test_add_func("/codex/stream/turn-order", test_turn_order);
	g_test_add_func("/codex/stream/failure-reasons", test_failure_reasons);
	g_test_add_func("/codex/stream/hostile-fields", test_hostile_fields);
	g_test_add_func("/codex/stream/truncated-line", test_truncated_line);
	g_test_add_func("/codex/stream/binary-garbage", test_binary_garbage);
	g_test_add_func("/codex/stream/huge-line", test_huge_line);
	g_test_add_func("/codex/stream/long-line-under-limit", test_long_line_under_limit);
	return g_test_run();
}
