/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "fl-agent-claude.h"
#include "fl-agent.h"
#include "fl-config.h"
#include "fl-error.h"
#include "fl-test-harness.h"

/*
 * The Claude Code agent pieces, unit-tested and then proven against the real CLI: the pinned
 * npm package (tests/setup-claude.sh, env FL_CLAUDE) talking to tests/doubles/anthropic-double.py
 * on 127.0.0.1. This binary is also the hook command of those runs: Claude starts it as
 * `'…/hook dir/fl's hook' hook claude` (a symlink to it), and it answers with the module's own
 * parser and response.
 */

#define CLAUDE_WAIT_MS 120000
#define HOOK_WAIT_MS   10000
#define DENY_MESSAGE   "flotilla test: the operator said no"

static gchar *self_exe;

/* ------------------------------------------------------------------ hook mode */

static gint
hook_main(gint argc, gchar **argv)
{
	const gchar *dir = g_getenv("FL_TEST_HOOK_DIR");
	const gchar *decision = g_getenv("FL_TEST_HOOK_DECISION");
	g_autoptr(GByteArray) input = g_byte_array_new();
	g_autoptr(FlClaudeHook) hook = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *record = NULL;
	g_autofree gchar *payload = NULL;
	guint8 buf[65536];

	if (dir == NULL)
		return 1;
	for (;;) {
		gssize n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		g_byte_array_append(input, buf, (guint)n);
	}
	g_byte_array_append(input, (const guint8 *)"", 1);
	payload = (gchar *)g_byte_array_free(g_steal_pointer(&input), FALSE);
	hook = fl_claude_hook_parse(payload, &error);
	if (hook == NULL) {
		g_autofree gchar *path = g_build_filename(dir, "hook-error.txt", NULL);
		g_file_set_contents(path, error->message, -1, NULL);
		return 1;
	}
	/* the arguments prove the settings' shell quoting reached us intact */
	if (argc != 3) {
		g_autofree gchar *path = g_build_filename(dir, "hook-error.txt", NULL);
		g_file_set_contents(path, "wrong arguments", -1, NULL);
		return 1;
	}
	if (fl_claude_hook_get_kind(hook) == FL_CLAUDE_HOOK_PERMISSION_REQUEST &&
	    decision != NULL) {
		g_autofree gchar *response = fl_claude_hook_response(
			hook, g_strcmp0(decision, "allow") == 0, DENY_MESSAGE);
		g_print("%s\n", response);
	}
	/* written last and atomically: its appearance means the hook has answered */
	record = g_strdup_printf("%s/%s.json", dir, fl_claude_hook_get_event(hook));
	g_file_set_contents(record, payload, -1, NULL);
	return 0;
}

/* ------------------------------------------------------------------ argv */

static void
test_argv_new(void)
{
	const gchar *goal = "--help; rm -rf ~ $(touch pwned) `id` 'q' \"d\" \\ *\n|& <>";
	g_auto(GStrv) argv = fl_agent_claude_build_argv(
		NULL, goal, "0b8f8e4e-1c2d-4e5f-8a9b-1c2d3e4f5a6b", "/s/settings.json", NULL, 0);
	const gchar *expected[] = {"claude",
				   "-p",
				   "--output-format",
				   "stream-json",
				   "--verbose",
				   "--session-id",
				   "0b8f8e4e-1c2d-4e5f-8a9b-1c2d3e4f5a6b",
				   "--settings",
				   "/s/settings.json",
				   "--permission-mode",
				   "acceptEdits",
				   "--",
				   goal,
				   NULL};

	g_assert_cmpstrv(argv, expected);
}

static void
test_argv_resume(void)
{
	const gchar *base[] = {"/opt/claude/bin/claude", "--model", "opus", NULL};
	g_auto(GStrv) argv = fl_agent_claude_build_argv(base, "the old goal", "u-1", "/s.json",
							"-n blue; please", 2.5);
	const gchar *expected[] = {"/opt/claude/bin/claude",
				   "--model",
				   "opus",
				   "-p",
				   "--output-format",
				   "stream-json",
				   "--verbose",
				   "--resume",
				   "u-1",
				   "--settings",
				   "/s.json",
				   "--permission-mode",
				   "acceptEdits",
				   "--max-budget-usd",
				   "2.5",
				   "--",
				   "-n blue; please",
				   NULL};

	g_assert_cmpstrv(argv, expected);
	g_assert_false(g_strv_contains((const gchar *const *)argv, "--session-id"));
	g_assert_false(g_strv_contains((const gchar *const *)argv, "the old goal"));
}

static void
test_argv_budget(void)
{
	const gchar *empty[] = {NULL};
	g_auto(GStrv) tiny = fl_agent_claude_build_argv(empty, "g", "u", "/s", NULL, 0.001);
	g_auto(GStrv) none = fl_agent_claude_build_argv(NULL, "g", "u", "/s", NULL, -1);
	g_auto(GStrv) nan = fl_agent_claude_build_argv(NULL, "g", "u", "/s", NULL, NAN);
	guint n = g_strv_length(tiny);

	/* an empty base is the default one; a small cap is not rounded away */
	g_assert_cmpstr(tiny[0], ==, "claude");
	g_assert_cmpstr(tiny[n - 4], ==, "--max-budget-usd");
	g_assert_cmpstr(tiny[n - 3], ==, "0.001");
	g_assert_false(g_strv_contains((const gchar *const *)none, "--max-budget-usd"));
	g_assert_false(g_strv_contains((const gchar *const *)nan, "--max-budget-usd"));
}

/* run --budget reaches claude as --max-budget-usd: what is left of it when resumed */
static gchar *
class_budget_arg(gdouble budget, gdouble cost)
{
	g_autoptr(FlConfig) config = fl_config_new_default();
	g_autoptr(FlSessionData) d = fl_session_data_new();
	g_autofree gchar *dir = fl_test_mkdtemp();
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) argv = NULL;
	FlAgentRun run = {.data = d, .config = config, .session_dir = dir, .cli_path = "flotilla"};
	gchar *value = NULL;

	run.agent = fl_config_get_agent(config, "claude");
	d->id = 1;
	d->goal = g_strdup("g");
	d->budget_usd = budget;
	d->cost_usd = cost;
	argv = run.agent->klass->build_argv(&run, &error);
	g_assert_no_error(error);
	for (guint i = 0; argv[i] != NULL && argv[i + 1] != NULL; i++) {
		if (g_strcmp0(argv[i], "--max-budget-usd") == 0)
			value = g_strdup(argv[i + 1]);
	}
	fl_test_rm_rf(dir);
	return value;
}

static void
test_class_budget(void)
{
	g_autofree gchar *none = class_budget_arg(0, -1);
	g_autofree gchar *fresh = class_budget_arg(2.5, -1);
	g_autofree gchar *resumed = class_budget_arg(2.5, 2);
	g_autofree gchar *spent = class_budget_arg(2.5, 3);

	g_assert_null(none);
	g_assert_cmpstr(fresh, ==, "2.5");
	g_assert_cmpstr(resumed, ==, "0.5");
	/* spent already: a cent, so that claude stops at once and says why */
	g_assert_cmpstr(spent, ==, "0.01");
}

/* ------------------------------------------------------------------ settings */

static void
test_settings(void)
{
	g_autofree gchar *dir = fl_test_mkdtemp();
	g_autofree gchar *path = g_build_filename(dir, "settings.json", NULL);
	g_autofree gchar *missing = g_build_filename(dir, "no", "such", "settings.json", NULL);
	const gchar *cli = "/opt/my tools/it's \"flotilla\"";
	const gchar *events[] = {"Notification", "PermissionRequest", "Stop", "StopFailure"};
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonParser) parser = json_parser_new();
	GStatBuf st;
	JsonObject *hooks;

	g_assert_true(fl_agent_claude_write_settings(path, cli, &error));
	g_assert_no_error(error);
	g_assert_cmpint(g_stat(path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);

	g_assert_true(json_parser_load_from_file(parser, path, &error));
	g_assert_no_error(error);
	hooks = json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)),
					      "hooks");
	g_assert_cmpuint(json_object_get_size(hooks), ==, G_N_ELEMENTS(events));
	for (guint i = 0; i < G_N_ELEMENTS(events); i++) {
		JsonArray *groups = json_object_get_array_member(hooks, events[i]);
		JsonObject *group = json_array_get_object_element(groups, 0);
		JsonObject *hook = json_array_get_object_element(
			json_object_get_array_member(group, "hooks"), 0);
		g_auto(GStrv) words = NULL;
		gint64 timeout = json_object_get_int_member(hook, "timeout");

		g_assert_cmpuint(json_array_get_length(groups), ==, 1);
		g_assert_cmpstr(json_object_get_string_member(hook, "type"), ==, "command");
		/* a shell splits the command back into exactly these words */
		g_assert_true(g_shell_parse_argv(json_object_get_string_member(hook, "command"),
						 NULL, &words, &error));
		g_assert_no_error(error);
		g_assert_cmpuint(g_strv_length(words), ==, 3);
		g_assert_cmpstr(words[0], ==, cli);
		g_assert_cmpstr(words[1], ==, "hook");
		g_assert_cmpstr(words[2], ==, "claude");
		if (g_str_equal(events[i], "PermissionRequest")) {
			g_assert_cmpstr(json_object_get_string_member(group, "matcher"), ==, "*");
			g_assert_cmpint(timeout, ==, FL_AGENT_CLAUDE_PERMISSION_TIMEOUT_S);
		} else {
			g_assert_false(json_object_has_member(group, "matcher"));
			g_assert_cmpint(timeout, ==, FL_AGENT_CLAUDE_REPORT_TIMEOUT_S);
		}
	}

	g_assert_false(fl_agent_claude_write_settings(missing, cli, &error));
	g_assert_nonnull(error);
	fl_test_rm_rf(dir);
}

/* ------------------------------------------------------------------ stream-json */

/* shaped like the real 2.1.328 output, with stderr noise mixed in as in a session log */
static const gchar stream_ok[] =
	"{\"type\":\"system\",\"subtype\":\"init\",\"cwd\":\"/r\",\"session_id\":\"s-1\","
	"\"tools\":[\"Bash\",\"Write\"],\"model\":\"claude-opus-5-5\"}\n"
	"(node:12) Warning: something on stderr\r\n"
	"\n"
	"{\"type\":\"system\",\"subtype\":\"api_retry\",\"attempt\":1,\"max_retries\":3,"
	"\"retry_delay_ms\":500,\"error_status\":529,\"error\":\"overloaded\",\"session_id\":\"s-"
	"1\"}\n"
	"{\"type\":\"assistant\",\"message\":{\"id\":\"msg_1\",\"role\":\"assistant\",\"content\":"
	"[{\"type\":\"text\",\"text\":\"I'll write it.\"}]},\"parent_tool_use_id\":null,"
	"\"session_id\":\"s-1\"}\n"
	"{\"type\":\"assistant\",\"message\":{\"id\":\"msg_1\",\"role\":\"assistant\",\"content\":"
	"[{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"Write\",\"input\":{}}]},"
	"\"parent_tool_use_id\":null,\"session_id\":\"s-1\"}\n"
	"{\"type\":\"assistant\",\"message\":{\"id\":\"msg_sub\",\"role\":\"assistant\","
	"\"content\":"
	"[]},\"parent_tool_use_id\":\"t9\",\"session_id\":\"s-1\"}\n"
	"{\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
	"\"tool_use_id\":\"t1\",\"content\":\"ok \\u00e9\"}]},\"session_id\":\"s-1\"}\n"
	"{\"type\":\"assistant\",\"message\":{\"id\":\"msg_2\",\"role\":\"assistant\",\"content\":"
	"[{\"type\":\"text\",\"text\":\"Done\"}]},\"parent_tool_use_id\":null,\"session_id\":\"s-"
	"1\"}\n"
	"{\"duration_api_ms\":833,\"stop_reason\":\"end_turn\",\"session_id\":\"s-1\","
	"\"total_cost_usd\":0.0112,\"terminal_reason\":\"completed\",\"is_error\":false,"
	"\"num_turns\":2,\"subtype\":\"success\",\"result\":\"Done: wrote caf\xc3\xa9.txt\","
	"\"type\":\"result\"}\n";

static void
assert_stream_ok(FlClaudeStream *stream)
{
	g_assert_cmpstr(fl_claude_stream_get_session_id(stream), ==, "s-1");
	g_assert_cmpuint(fl_claude_stream_get_num_turns(stream), ==, 2);
	g_assert_cmpfloat(fl_claude_stream_get_cost_usd(stream), ==, 0.0112);
	g_assert_cmpuint(fl_claude_stream_get_api_retries(stream), ==, 1);
	g_assert_cmpstr(fl_claude_stream_get_last_retry_error(stream), ==, "overloaded (529)");
	g_assert_cmpuint(fl_claude_stream_get_noise_lines(stream), ==, 1);
	g_assert_cmpstr(fl_claude_stream_get_last_noise(stream), ==,
			"(node:12) Warning: something on stderr");
	g_assert_true(fl_claude_stream_has_result(stream));
	g_assert_false(fl_claude_stream_get_is_error(stream));
	g_assert_cmpstr(fl_claude_stream_get_subtype(stream), ==, "success");
	g_assert_cmpstr(fl_claude_stream_get_terminal_reason(stream), ==, "completed");
	g_assert_cmpstr(fl_claude_stream_get_result_text(stream), ==,
			"Done: wrote caf\xc3\xa9.txt");
	g_assert_cmpint(fl_claude_stream_get_outcome(stream), ==, FL_CLAUDE_OUTCOME_SUCCEEDED);
	g_assert_null(fl_claude_stream_get_reason(stream));
}

static void
test_stream_chunks(void)
{
	gsize len = strlen(stream_ok);

	/* every chunk size from 1 byte up, and every two-way split: the same result */
	for (gsize size = 1; size <= len; size += (size < 64 ? 1 : 97)) {
		g_autoptr(FlClaudeStream) stream = fl_claude_stream_new();
		g_autoptr(GError) error = NULL;

		for (gsize off = 0; off < len; off += size) {
			g_assert_true(fl_claude_stream_feed(stream, stream_ok + off,
							    MIN(size, len - off), &error));
			g_assert_no_error(error);
		}
		g_assert_true(fl_claude_stream_finish(stream, &error));
		g_assert_no_error(error);
		assert_stream_ok(stream);
	}
	for (gsize cut = 0; cut <= len; cut++) {
		g_autoptr(FlClaudeStream) stream = fl_claude_stream_new();
		g_autoptr(GError) error = NULL;

		g_assert_true(fl_claude_stream_feed(stream, stream_ok, cut, &error));
		g_assert_true(fl_claude_stream_feed(stream, stream_ok + cut, len - cut, &error));
		g_assert_true(fl_claude_stream_finish(stream, &error));
		g_assert_no_error(error);
		assert_stream_ok(stream);
	}
}

/* a resumed session's log: two processes, each counting from zero; the session's turns and
 * cost are both of them together */
static void
test_stream_resumed_counts(void)
{
	g_autofree gchar *twice = g_strconcat(stream_ok, stream_ok, NULL);
	g_autoptr(FlClaudeStream) stream = fl_claude_stream_new();
	g_autoptr(GError) error = NULL;

	g_assert_true(fl_claude_stream_feed(stream, twice, strlen(twice), &error));
	g_assert_true(fl_claude_stream_finish(stream, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(fl_claude_stream_get_num_turns(stream), ==, 4);
	g_assert_cmpfloat_with_epsilon(fl_claude_stream_get_cost_usd(stream), 0.0224, 1e-9);
	g_assert_cmpint(fl_claude_stream_get_outcome(stream), ==, FL_CLAUDE_OUTCOME_SUCCEEDED);
}

static FlClaudeStream *
stream_from(const gchar *text)
{
	FlClaudeStream *stream = fl_claude_stream_new();
	g_autoptr(GError) error = NULL;

	g_assert_true(fl_claude_stream_feed(stream, text, strlen(text), &error));
	g_assert_no_error(error);
	g_assert_true(fl_claude_stream_finish(stream, &error));
	g_assert_no_error(error);
	return stream;
}

static void
test_stream_classify(void)
{
	const struct {
		const gchar *result;
		FlClaudeOutcome outcome;
		const gchar *reason;
	} cases[] = {
		/* what 2.1.328 prints for an HTTP 400: subtype still says success */
		{"{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,"
		 "\"terminal_reason\":\"api_error\",\"api_error_status\":400,"
		 "\"result\":\"API Error: 400 messages: bad\\nmore detail\",\"num_turns\":1}",
		 FL_CLAUDE_OUTCOME_FAILED, "API Error: 400 messages: bad"},
		{"{\"type\":\"result\",\"subtype\":\"error_max_turns\",\"is_error\":true,"
		 "\"terminal_reason\":\"max_turns\",\"errors\":[\"Reached maximum number of "
		 "turns\"]}",
		 FL_CLAUDE_OUTCOME_FAILED, "stopped at the turn limit"},
		{"{\"type\":\"result\",\"subtype\":\"error_max_budget_usd\",\"is_error\":true,"
		 "\"terminal_reason\":\"budget_exhausted\",\"total_cost_usd\":1.5}",
		 FL_CLAUDE_OUTCOME_FAILED, "stopped at the spending limit"},
		{"{\"type\":\"result\",\"subtype\":\"error_during_execution\",\"is_error\":true,"
		 "\"errors\":[\"tool exploded\",\"and again\"]}",
		 FL_CLAUDE_OUTCOME_FAILED, "tool exploded; and again"},
		{"{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,"
		 "\"terminal_reason\":\"tool_deferred\",\"stop_reason\":\"tool_deferred\","
		 "\"deferred_tool_use\":{\"id\":\"t\",\"name\":\"AskUserQuestion\",\"input\":{}}}",
		 FL_CLAUDE_OUTCOME_BLOCKED, "waiting for approval to use AskUserQuestion"},
		{"{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,"
		 "\"terminal_reason\":\"rapid_refill_breaker\",\"result\":\"\"}",
		 FL_CLAUDE_OUTCOME_FAILED, "Claude stopped: rapid_refill_breaker"},
		{"{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,"
		 "\"result\":\"\\u001b[31mboom\\u001b[0m\"}",
		 /* the colour codes go whole (fl-text.h), not just their ESC */
		 FL_CLAUDE_OUTCOME_FAILED, "boom"},
		/* older CLIs send no terminal_reason */
		{"{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":"
		 "\"ok\"}",
		 FL_CLAUDE_OUTCOME_SUCCEEDED, NULL},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *text = g_strconcat(cases[i].result, "\n", NULL);
		g_autoptr(FlClaudeStream) stream = stream_from(text);

		g_test_message("case %u", i);
		g_assert_cmpstr(fl_claude_outcome_to_string(fl_claude_stream_get_outcome(stream)),
				==, fl_claude_outcome_to_string(cases[i].outcome));
		g_assert_cmpstr(fl_claude_stream_get_reason(stream), ==, cases[i].reason);
	}
}

static void
test_stream_no_result(void)
{
	const gchar init[] = "{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s\"}\n";
	const gchar noise[] = "error: unknown option '--bogus'\n";
	g_autoptr(FlClaudeStream) quiet = fl_claude_stream_new();
	g_autoptr(FlClaudeStream) noisy = fl_claude_stream_new();
	g_autoptr(FlClaudeStream) empty = fl_claude_stream_new();
	g_autoptr(GError) error = NULL;

	g_assert_true(fl_claude_stream_feed(quiet, init, strlen(init), NULL));
	g_assert_false(fl_claude_stream_finish(quiet, &error));
	g_assert_error(error, FL_ERROR, FL_ERROR_FAILED);
	g_assert_cmpstr(error->message, ==, "Claude ended without a result");
	g_assert_cmpstr(fl_claude_stream_get_session_id(quiet), ==, "s");
	g_assert_cmpint(fl_claude_stream_get_outcome(quiet), ==, FL_CLAUDE_OUTCOME_NONE);
	g_clear_error(&error);

	g_assert_true(fl_claude_stream_feed(noisy, noise, strlen(noise), NULL));
	g_assert_false(fl_claude_stream_finish(noisy, &error));
	g_assert_cmpstr(error->message, ==,
			"Claude ended without a result (last output: error: unknown option "
			"'--bogus')");
	g_clear_error(&error);

	g_assert_false(fl_claude_stream_finish(empty, &error));
	g_assert_error(error, FL_ERROR, FL_ERROR_FAILED);
}

static void
test_stream_garbage(void)
{
	const gchar truncated[] = "{\"type\":\"system\",\"subtype\":\"init\"}\n"
				  "{\"type\":\"result\",\"is_err\n"
				  "{\"type\":\"result\",\"is_error\":false}\n";
	const gchar binary_noise[] = "\x01\xff\xfe\x00\x80 binary\n\x1b[2J\n";
	const gchar binary_json[] = "{\"type\":\"result\",\"result\":\"\xff\xfe\"}\n";
	const gchar unterminated[] = "{\"type\":\"result\",\"is_error\":false,\"res";
	g_autoptr(FlClaudeStream) stream = fl_claude_stream_new();
	g_autoptr(FlClaudeStream) noise = fl_claude_stream_new();
	g_autoptr(FlClaudeStream) bad_utf8 = fl_claude_stream_new();
	g_autoptr(FlClaudeStream) cut = fl_claude_stream_new();
	g_autoptr(GError) error = NULL;

	/* a line that starts like JSON but is not: the stream fails, naming the line */
	g_assert_false(fl_claude_stream_feed(stream, truncated, sizeof(truncated) - 1, &error));
	g_assert_error(error, FL_ERROR, FL_ERROR_FAILED);
	g_assert_true(g_str_has_prefix(error->message, "Claude output line 2 is not valid JSON"));
	g_clear_error(&error);
	/* and stays failed: the valid result after it changes nothing */
	g_assert_false(fl_claude_stream_feed(stream, "\n", 1, &error));
	g_assert_true(g_str_has_prefix(error->message, "Claude output line 2 is not valid JSON"));
	g_clear_error(&error);
	g_assert_false(fl_claude_stream_finish(stream, &error));
	g_assert_true(g_str_has_prefix(error->message, "Claude output line 2 is not valid JSON"));
	g_assert_false(fl_claude_stream_has_result(stream));
	g_clear_error(&error);

	/* binary bytes that do not start with '{' are stderr noise: skipped, counted */
	g_assert_true(fl_claude_stream_feed(noise, binary_noise, sizeof(binary_noise) - 1, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(fl_claude_stream_get_noise_lines(noise), ==, 2);
	g_assert_true(g_utf8_validate(fl_claude_stream_get_last_noise(noise), -1, NULL));
	/* the last line is only an escape sequence: cleaned (fl-text.h) it says nothing, so the
	 * line before stays the last noise */
	g_assert_cmpstr(fl_claude_stream_get_last_noise(noise), ==,
			"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd binary");

	g_assert_false(
		fl_claude_stream_feed(bad_utf8, binary_json, sizeof(binary_json) - 1, &error));
	g_assert_error(error, FL_ERROR, FL_ERROR_FAILED);
	g_assert_cmpstr(error->message, ==, "Claude output line 1 is not valid UTF-8");
	g_clear_error(&error);

	/* cut off in the middle of the last line: parsed at finish, and refused */
	g_assert_true(fl_claude_stream_feed(cut, unterminated, sizeof(unterminated) - 1, &error));
	g_assert_no_error(error);
	g_assert_false(fl_claude_stream_finish(cut, &error));
	g_assert_true(g_str_has_prefix(error->message, "Claude output line 1 is not valid JSON"));
}

static void
test_stream_huge_line(void)
{
	const gsize huge = 100 * 1024 * 1024;
	const gsize chunk = 1024 * 1024;
	g_autofree gchar *line = g_malloc(huge);
	g_autoptr(FlClaudeStream) whole = fl_claude_stream_new();
	g_autoptr(FlClaudeStream) pieces = fl_claude_stream_new();
	g_autoptr(FlClaudeStream) just_fits = fl_claude_stream_new();
	g_autoptr(GError) error = NULL;
	gsize fed = 0;
	gboolean ok = TRUE;

	memset(line, 'x', huge);
	memcpy(line, "{\"type\":\"result\",\"result\":\"", 27);

	g_assert_false(fl_claude_stream_feed(whole, line, huge, &error));
	g_assert_error(error, FL_ERROR, FL_ERROR_LIMIT_EXCEEDED);
	g_assert_cmpstr(error->message, ==, "Claude output line 1 is longer than 8 MiB");
	g_clear_error(&error);

	/* in 1 MiB chunks it fails as soon as the limit is crossed, not at the end */
	while (ok && fed < huge) {
		ok = fl_claude_stream_feed(pieces, line + fed, chunk, &error);
		fed += chunk;
	}
	g_assert_false(ok);
	g_assert_error(error, FL_ERROR, FL_ERROR_LIMIT_EXCEEDED);
	g_assert_cmpuint(fed, ==, FL_CLAUDE_STREAM_MAX_LINE + chunk);
	g_clear_error(&error);

	/* a line right at the limit is still fine (here: noise) */
	line[0] = 'n';
	line[FL_CLAUDE_STREAM_MAX_LINE] = '\n';
	g_assert_true(
		fl_claude_stream_feed(just_fits, line, FL_CLAUDE_STREAM_MAX_LINE + 1, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(fl_claude_stream_get_noise_lines(just_fits), ==, 1);
	g_assert_cmpuint(strlen(fl_claude_stream_get_last_noise(just_fits)), <, 1024);
}

/* ------------------------------------------------------------------ hooks */

/* payloads as 2.1.328 sent them to the hook command */
static const gchar hook_permission[] =
	"{\"session_id\":\"c52e57ce-1772-43a9-ad94-87201a98e385\",\"transcript_path\":\"/h/"
	"t.jsonl\","
	"\"cwd\":\"/r\",\"prompt_id\":\"p\",\"permission_mode\":\"acceptEdits\","
	"\"effort\":{\"level\":\"medium\"},\"hook_event_name\":\"PermissionRequest\","
	"\"tool_name\":\"Bash\",\"tool_input\":{\"command\":\"python3 -c \\\"open('x','w')\\\"\\n"
	"echo two\",\"description\":\"write a marker\"},\"permission_suggestions\":[{\"type\":"
	"\"addRules\",\"rules\":[{\"toolName\":\"Bash\",\"ruleContent\":\"python3\"}],"
	"\"behavior\":\"allow\",\"destination\":\"localSettings\"}]}";
static const gchar hook_stop[] =
	"{\"session_id\":\"s\",\"cwd\":\"/"
	"r\",\"hook_event_name\":\"Stop\",\"stop_hook_active\":false,"
	"\"last_assistant_message\":\"Finished\\nwith details\",\"background_tasks\":[],"
	"\"session_crons\":[]}";
static const gchar hook_stop_busy[] =
	"{\"session_id\":\"s\",\"hook_event_name\":\"Stop\",\"last_assistant_message\":\"x\","
	"\"background_tasks\":[{\"id\":\"b1\",\"type\":\"bash\",\"status\":\"running\"}],"
	"\"session_crons\":[]}";
static const gchar hook_stop_failure[] =
	"{\"session_id\":\"s\",\"hook_event_name\":\"StopFailure\",\"error\":\"server_error\","
	"\"last_assistant_message\":\"API Error: 529 Overloaded.\"}";
static const gchar hook_notification[] =
	"{\"session_id\":\"s\",\"hook_event_name\":\"Notification\",\"message\":\"Claude needs "
	"your permission to use Bash\",\"title\":\"Permission\",\"notification_type\":"
	"\"permission_prompt\"}";

static void
test_hook_parse(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(FlClaudeHook) perm = fl_claude_hook_parse(hook_permission, &error);
	g_autoptr(FlClaudeHook) stop = NULL;
	g_autoptr(FlClaudeHook) busy = NULL;
	g_autoptr(FlClaudeHook) failure = NULL;
	g_autoptr(FlClaudeHook) note = NULL;
	g_autoptr(FlClaudeHook) write = NULL;
	g_autoptr(FlClaudeHook) odd = NULL;
	g_autoptr(FlClaudeHook) other = NULL;

	g_assert_no_error(error);
	g_assert_cmpint(fl_claude_hook_get_kind(perm), ==, FL_CLAUDE_HOOK_PERMISSION_REQUEST);
	g_assert_cmpstr(fl_claude_hook_get_event(perm), ==, "PermissionRequest");
	g_assert_cmpstr(fl_claude_hook_get_session_id(perm), ==,
			"c52e57ce-1772-43a9-ad94-87201a98e385");
	g_assert_cmpstr(fl_claude_hook_get_tool_name(perm), ==, "Bash");
	g_assert_cmpstr(fl_claude_hook_get_tool_description(perm), ==,
			"python3 -c \"open('x','w')\" echo two");
	g_assert_cmpstr(fl_claude_hook_get_summary(perm), ==,
			"asks to use Bash: python3 -c \"open('x','w')\" echo two");
	g_assert_null(fl_claude_hook_get_message(perm));

	stop = fl_claude_hook_parse(hook_stop, &error);
	g_assert_no_error(error);
	g_assert_cmpint(fl_claude_hook_get_kind(stop), ==, FL_CLAUDE_HOOK_STOP);
	g_assert_cmpstr(fl_claude_hook_get_message(stop), ==, "Finished\nwith details");
	g_assert_cmpstr(fl_claude_hook_get_summary(stop), ==, "Finished");
	g_assert_false(fl_claude_hook_get_has_background_work(stop));
	busy = fl_claude_hook_parse(hook_stop_busy, &error);
	g_assert_no_error(error);
	g_assert_true(fl_claude_hook_get_has_background_work(busy));

	failure = fl_claude_hook_parse(hook_stop_failure, &error);
	g_assert_no_error(error);
	g_assert_cmpint(fl_claude_hook_get_kind(failure), ==, FL_CLAUDE_HOOK_STOP_FAILURE);
	g_assert_cmpstr(fl_claude_hook_get_error(failure), ==, "server_error");
	g_assert_cmpstr(fl_claude_hook_get_summary(failure), ==, "API Error: 529 Overloaded.");

	note = fl_claude_hook_parse(hook_notification, &error);
	g_assert_no_error(error);
	g_assert_cmpint(fl_claude_hook_get_kind(note), ==, FL_CLAUDE_HOOK_NOTIFICATION);
	g_assert_cmpstr(fl_claude_hook_get_notification_type(note), ==, "permission_prompt");
	g_assert_cmpstr(fl_claude_hook_get_message(note), ==,
			"Claude needs your permission to use Bash");
	g_assert_cmpstr(fl_claude_hook_get_summary(note), ==,
			"Claude needs your permission to use Bash");

	write = fl_claude_hook_parse(
		"{\"session_id\":\"s\",\"hook_event_name\":\"PermissionRequest\",\"tool_name\":"
		"\"Write\",\"tool_input\":{\"content\":\"big\",\"file_path\":\"/etc/passwd\"}}",
		&error);
	g_assert_no_error(error);
	g_assert_cmpstr(fl_claude_hook_get_tool_description(write), ==, "/etc/passwd");

	/* a tool with nothing we know in its input: its input as compact JSON, where control
	 * characters stay escaped */
	odd = fl_claude_hook_parse(
		"{\"session_id\":\"s\",\"hook_event_name\":\"PermissionRequest\",\"tool_name\":"
		"\"mcp__x__y\",\"tool_input\":{\"n\":1,\"s\":\"\\u001b]0;t\\u0007\"}}",
		&error);
	g_assert_no_error(error);
	g_assert_cmpstr(fl_claude_hook_get_tool_description(odd), ==,
			"{\"n\":1,\"s\":\"\\u001b]0;t\\u0007\"}");

	other = fl_claude_hook_parse(
		"{\"session_id\":\"s\",\"hook_event_name\":\"SessionEnd\",\"reason\":\"other\"}",
		&error);
	g_assert_no_error(error);
	g_assert_cmpint(fl_claude_hook_get_kind(other), ==, FL_CLAUDE_HOOK_OTHER);
	g_assert_cmpstr(fl_claude_hook_get_summary(other), ==, "SessionEnd");
}

static void
test_hook_response(void)
{
	g_autoptr(FlClaudeHook) perm = fl_claude_hook_parse(hook_permission, NULL);
	g_autofree gchar *allow = fl_claude_hook_response(perm, TRUE, "ignored");
	g_autofree gchar *deny = fl_claude_hook_response(perm, FALSE, "not \"today\"");
	g_autofree gchar *deny_default = fl_claude_hook_response(perm, FALSE, NULL);

	g_assert_cmpstr(allow, ==,
			"{\"hookSpecificOutput\":{\"hookEventName\":\"PermissionRequest\","
			"\"decision\":{\"behavior\":\"allow\"}}}");
	g_assert_cmpstr(deny, ==,
			"{\"hookSpecificOutput\":{\"hookEventName\":\"PermissionRequest\","
			"\"decision\":{\"behavior\":\"deny\",\"message\":\"not \\\"today\\\"\"}}}");
	g_assert_cmpstr(deny_default, ==,
			"{\"hookSpecificOutput\":{\"hookEventName\":\"PermissionRequest\","
			"\"decision\":{\"behavior\":\"deny\",\"message\":\"The user denied "
			"this.\"}}}");
}

static void
test_hook_garbage(void)
{
	const struct {
		const gchar *json;
		gint code;
		const gchar *message;
	} cases[] = {
		{"", FL_ERROR_INVALID_ARGUMENT, NULL},
		{"{\"session_id\":\"s\",\"hook_event_name\":\"Stop\"", FL_ERROR_INVALID_ARGUMENT,
		 NULL},
		{"[1,2]", FL_ERROR_INVALID_ARGUMENT, "Claude hook payload is not a JSON object"},
		{"{\"session_id\":\"s\"}", FL_ERROR_INVALID_ARGUMENT,
		 "Claude hook payload has no hook_event_name"},
		{"{\"session_id\":\"s\",\"hook_event_name\":7}", FL_ERROR_INVALID_ARGUMENT,
		 "Claude hook payload has no hook_event_name"},
		{"{\"hook_event_name\":\"Stop\"}", FL_ERROR_INVALID_ARGUMENT,
		 "Claude Stop hook payload has no session_id"},
		{"{\"session_id\":\"s\",\"hook_event_name\":\"PermissionRequest\",\"tool_name\":[]"
		 "}",
		 FL_ERROR_INVALID_ARGUMENT,
		 "Claude PermissionRequest hook payload has no tool_name"},
		{"{\"session_id\":\"\xff\",\"hook_event_name\":\"Stop\"}",
		 FL_ERROR_INVALID_ARGUMENT, "Claude hook payload is not valid UTF-8"},
	};
	g_autofree gchar *big = g_malloc(FL_CLAUDE_HOOK_MAX_SIZE + 2);
	g_autoptr(GError) error = NULL;

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(FlClaudeHook) hook = fl_claude_hook_parse(cases[i].json, &error);

		g_test_message("case %u", i);
		g_assert_null(hook);
		g_assert_error(error, FL_ERROR, cases[i].code);
		if (cases[i].message != NULL)
			g_assert_cmpstr(error->message, ==, cases[i].message);
		g_clear_error(&error);
	}

	memset(big, ' ', FL_CLAUDE_HOOK_MAX_SIZE + 1);
	big[FL_CLAUDE_HOOK_MAX_SIZE + 1] = '\0';
	g_assert_null(fl_claude_hook_parse(big, &error));
	g_assert_error(error, FL_ERROR, FL_ERROR_LIMIT_EXCEEDED);
}

/* ------------------------------------------------------------------ the real CLI */

typedef struct {
	gchar *root;
	gchar *home;
	gchar *repo;
	gchar *hook_dir;   /* where the hook records payloads */
	gchar *hook_cli;   /* this binary, behind a path that needs shell quoting */
	gchar *settings;   /* written by fl_agent_claude_write_settings() */
	gchar *requests;   /* what the model API double received */
	gchar *session_id; /* a fresh UUID for --session-id */
	GSubprocess *double_proc;
	guint port;
} Claude;

static const gchar *
claude_binary(void)
{
	const gchar *path = g_getenv("FL_CLAUDE");

	if (path == NULL || path[0] == '\0' || !g_file_test(path, G_FILE_TEST_IS_EXECUTABLE))
		return NULL;
	return path;
}

static gboolean
claude_skip(void)
{
	if (claude_binary() != NULL)
		return FALSE;
	g_test_skip(
		"FL_CLAUDE does not name the Claude Code CLI: run tests/setup-claude.sh BUILDDIR "
		"and set FL_CLAUDE to the path it prints");
	return TRUE;
}

static void
claude_free(Claude *c)
{
	g_autoptr(GError) error = NULL;

	if (c->double_proc != NULL) {
		/* the double exits when its stdin closes */
		g_output_stream_close(g_subprocess_get_stdin_pipe(c->double_proc), NULL, NULL);
		g_subprocess_wait(c->double_proc, NULL, &error);
		g_assert_no_error(error);
		g_object_unref(c->double_proc);
	}
	fl_test_rm_rf(c->root);
	g_free(c->root);
	g_free(c->home);
	g_free(c->repo);
	g_free(c->hook_dir);
	g_free(c->hook_cli);
	g_free(c->settings);
	g_free(c->requests);
	g_free(c->session_id);
	g_free(c);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Claude, claude_free)

static Claude *
claude_new(const gchar *script_template)
{
	Claude *c = g_new0(Claude, 1);
	g_autoptr(GString) script_text = g_string_new(script_template);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *script = NULL;
	g_autofree gchar *link_dir = NULL;
	g_autofree gchar *double_py = NULL;
	g_autofree gchar *line = NULL;
	g_autofree gchar *out = NULL;
	g_autoptr(GDataInputStream) stdout_data = NULL;
	guint64 port;

	c->root = fl_test_mkdtemp();
	c->home = g_build_filename(c->root, "home", NULL);
	c->repo = g_build_filename(c->root, "repo", NULL);
	c->hook_dir = g_build_filename(c->root, "hooks", NULL);
	c->settings = g_build_filename(c->root, "settings.json", NULL);
	c->requests = g_build_filename(c->root, "requests.jsonl", NULL);
	c->session_id = g_uuid_string_random();
	link_dir = g_build_filename(c->root, "hook dir", NULL);
	c->hook_cli = g_build_filename(link_dir, "fl's $(hook)", NULL);
	g_assert_cmpint(g_mkdir_with_parents(c->home, 0700), ==, 0);
	g_assert_cmpint(g_mkdir_with_parents(c->repo, 0700), ==, 0);
	g_assert_cmpint(g_mkdir_with_parents(c->hook_dir, 0700), ==, 0);
	g_assert_cmpint(g_mkdir_with_parents(link_dir, 0700), ==, 0);
	g_assert_cmpint(symlink(self_exe, c->hook_cli), ==, 0);

	out = fl_test_sh(c->repo, "git init -q -b main && git config user.email t@example.com && "
				  "git config user.name Test && echo base > README && "
				  "git add README && git commit -q -m base");
	g_assert_true(fl_agent_claude_write_settings(c->settings, c->hook_cli, &error));
	g_assert_no_error(error);

	/* scripts name files in the repository as REPO */
	g_string_replace(script_text, "REPO", c->repo, 0);
	script = g_build_filename(c->root, "script.json", NULL);
	g_file_set_contents(script, script_text->str, -1, &error);
	g_assert_no_error(error);
	double_py = g_test_build_filename(G_TEST_DIST, "doubles", "anthropic-double.py", NULL);
	c->double_proc =
		g_subprocess_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE,
				 &error, "/usr/bin/python3", double_py, script, c->requests, NULL);
	g_assert_no_error(error);
	stdout_data = g_data_input_stream_new(g_subprocess_get_stdout_pipe(c->double_proc));
	line = g_data_input_stream_read_line(stdout_data, NULL, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(line);
	g_assert_true(g_ascii_string_to_unsigned(line, 10, 1, 65535, &port, &error));
	c->port = (guint)port;
	return c;
}

typedef struct {
	FlClaudeStream *stream;
	GInputStream *out;
	GString *raw;    /* everything Claude printed, for failure messages */
	guint8 buf[997]; /* odd-sized reads split lines at arbitrary places */
	gboolean eof;
	gboolean exited;
	GError *feed_error;
	GError *finish_error;
	gint status;
} Run;

static void
run_free(Run *run)
{
	fl_claude_stream_free(run->stream);
	g_clear_object(&run->out);
	g_string_free(run->raw, TRUE);
	g_clear_error(&run->feed_error);
	g_clear_error(&run->finish_error);
	g_free(run);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Run, run_free)

static void
run_read_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	Run *run = user_data;
	g_autoptr(GError) error = NULL;
	gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), res, &error);

	g_assert_no_error(error);
	if (n == 0) {
		run->eof = TRUE;
		return;
	}
	g_string_append_len(run->raw, (const gchar *)run->buf, n);
	if (run->feed_error == NULL)
		fl_claude_stream_feed(run->stream, (const gchar *)run->buf, (gsize)n,
				      &run->feed_error);
	g_input_stream_read_async(run->out, run->buf, sizeof(run->buf), G_PRIORITY_DEFAULT, NULL,
				  run_read_cb, run);
}

static void
run_wait_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	Run *run = user_data;
	g_autoptr(GError) error = NULL;

	g_subprocess_wait_finish(G_SUBPROCESS(source), res, &error);
	g_assert_no_error(error);
	run->status = g_subprocess_get_exit_status(G_SUBPROCESS(source));
	run->exited = TRUE;
}

static gboolean
run_done_cond(gpointer user_data)
{
	Run *run = user_data;

	return run->eof && run->exited;
}

/* runs the real CLI with @argv (from fl_agent_claude_build_argv(), its base replaced by the
 * pinned binary) in the repository, feeding its output (stdout and stderr, as in a session
 * log) to an FlClaudeStream as it arrives */
static Run *
claude_run(Claude *c, gchar **argv, const gchar *const *extra_env)
{
	g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
		G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE);
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *base_url = g_strdup_printf("http://127.0.0.1:%u", c->port);
	Run *run = g_new0(Run, 1);
	gchar **envp = NULL;

	/* nothing of the developer's own Claude set-up may leak in */
	envp = g_environ_setenv(envp, "PATH", g_getenv("PATH"), TRUE);
	envp = g_environ_setenv(envp, "HOME", c->home, TRUE);
	envp = g_environ_setenv(envp, "LANG", "C.UTF-8", TRUE);
	envp = g_environ_setenv(envp, "ANTHROPIC_BASE_URL", base_url, TRUE);
	envp = g_environ_setenv(envp, "ANTHROPIC_API_KEY", "dummy", TRUE);
	envp = g_environ_setenv(envp, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1", TRUE);
	envp = g_environ_setenv(envp, "DISABLE_AUTOUPDATER", "1", TRUE);
	envp = g_environ_setenv(envp, "GIT_CONFIG_NOSYSTEM", "1", TRUE);
	envp = g_environ_setenv(envp, "FL_TEST_HOOK_DIR", c->hook_dir, TRUE);
	for (guint i = 0; extra_env != NULL && extra_env[i] != NULL; i += 2)
		envp = g_environ_setenv(envp, extra_env[i], extra_env[i + 1], TRUE);
	g_subprocess_launcher_set_environ(launcher, envp);
	g_strfreev(envp);
	g_subprocess_launcher_set_cwd(launcher, c->repo);

	g_free(argv[0]);
	argv[0] = g_strdup(claude_binary());
	proc = g_subprocess_launcher_spawnv(launcher, (const gchar *const *)argv, &error);
	g_assert_no_error(error);

	run->stream = fl_claude_stream_new();
	run->raw = g_string_new(NULL);
	run->out = g_object_ref(g_subprocess_get_stdout_pipe(proc));
	g_input_stream_read_async(run->out, run->buf, sizeof(run->buf), G_PRIORITY_DEFAULT, NULL,
				  run_read_cb, run);
	g_subprocess_wait_async(proc, NULL, run_wait_cb, run);
	if (!fl_test_wait_for(run_done_cond, run, CLAUDE_WAIT_MS)) {
		g_subprocess_force_exit(proc);
		fl_test_wait_for(run_done_cond, run, CLAUDE_WAIT_MS);
		g_test_message("claude printed:\n%s", run->raw->str);
		g_test_fail_printf("claude did not finish within %u s", CLAUDE_WAIT_MS / 1000);
		return run;
	}
	if (run->feed_error == NULL)
		fl_claude_stream_finish(run->stream, &run->finish_error);
	if (run->feed_error != NULL || run->finish_error != NULL)
		g_test_message("claude printed:\n%s", run->raw->str);
	g_assert_no_error(run->feed_error);
	return run;
}

/* the hook payload Claude sent for @event, parsed; NULL if that hook did not run */
static FlClaudeHook *
claude_hook(Claude *c, const gchar *event)
{
	g_autofree gchar *path = g_strdup_printf("%s/%s.json", c->hook_dir, event);
	g_autofree gchar *error_path = g_build_filename(c->hook_dir, "hook-error.txt", NULL);
	g_autofree gchar *text = NULL;
	g_autofree gchar *hook_error = NULL;
	g_autoptr(GError) error = NULL;
	FlClaudeHook *hook;

	if (g_file_get_contents(error_path, &hook_error, NULL, NULL))
		g_test_fail_printf("the hook failed: %s", hook_error);
	if (!g_file_get_contents(path, &text, NULL, NULL))
		return NULL;
	hook = fl_claude_hook_parse(text, &error);
	g_assert_no_error(error);
	return hook;
}

/* the bodies of the conversation requests (those offering tools) the double received */
static GPtrArray *
claude_requests(Claude *c)
{
	GPtrArray *bodies = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
	g_autofree gchar *text = NULL;
	g_auto(GStrv) lines = NULL;
	g_autoptr(GError) error = NULL;

	g_file_get_contents(c->requests, &text, NULL, &error);
	g_assert_no_error(error);
	lines = g_strsplit(text, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		g_autoptr(JsonParser) parser = json_parser_new();
		JsonObject *record;
		JsonNode *body;

		if (lines[i][0] == '\0')
			continue;
		g_assert_true(json_parser_load_from_data(parser, lines[i], -1, &error));
		g_assert_no_error(error);
		record = json_node_get_object(json_parser_get_root(parser));
		if (g_strcmp0(json_object_get_string_member(record, "path"), "/v1/messages") != 0)
			continue;
		body = json_object_get_member(record, "body");
		if (!json_object_has_member(json_node_get_object(body), "tools"))
			continue;
		g_ptr_array_add(bodies, json_node_copy(body));
	}
	return bodies;
}

/* the texts a message carries: text blocks and tool results, "\n"-joined, with the role */
static gchar *
message_text(JsonObject *message)
{
	JsonNode *content = json_object_get_member(message, "content");
	g_autoptr(GString) s = g_string_new(json_object_get_string_member(message, "role"));

	g_string_append_c(s, ':');
	if (JSON_NODE_HOLDS_VALUE(content)) {
		g_string_append_printf(s, "\n%s", json_node_get_string(content));
		return g_string_free(g_steal_pointer(&s), FALSE);
	}
	for (guint i = 0; i < json_array_get_length(json_node_get_array(content)); i++) {
		JsonObject *block = json_array_get_object_element(json_node_get_array(content), i);
		const gchar *type = json_object_get_string_member(block, "type");
		JsonNode *inner;

		if (g_str_equal(type, "text")) {
			g_string_append_printf(s, "\n%s",
					       json_object_get_string_member(block, "text"));
		} else if (g_str_equal(type, "tool_result")) {
			inner = json_object_get_member(block, "content");
			if (JSON_NODE_HOLDS_VALUE(inner)) {
				g_string_append_printf(s, "\ntool_result%s: %s",
						       json_object_get_boolean_member_with_default(
							       block, "is_error", FALSE)
							       ? " (error)"
							       : "",
						       json_node_get_string(inner));
			}
		}
	}
	return g_string_free(g_steal_pointer(&s), FALSE);
}

/* the non-system messages of a request, one message_text() each */
static GPtrArray *
request_messages(JsonNode *body)
{
	JsonArray *messages = json_object_get_array_member(json_node_get_object(body), "messages");
	GPtrArray *texts = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; i < json_array_get_length(messages); i++) {
		JsonObject *m = json_array_get_object_element(messages, i);
		const gchar *role = json_object_get_string_member(m, "role");

		if (g_str_equal(role, "user") || g_str_equal(role, "assistant"))
			g_ptr_array_add(texts, message_text(m));
	}
	return texts;
}

static const gchar write_script[] =
	"[{\"text\": \"I'll write it.\", \"tool_use\": {\"name\": \"Write\", \"input\": "
	"{\"file_path\": \"REPO/hello.txt\", \"content\": \"hello from claude\\n\"}}},"
	" {\"text\": \"Wrote hello.txt\"}]";

static void
test_cli_write(void)
{
	const gchar *goal =
		"--write hello.txt; touch pwned $(touch pwned2) `touch pwned3` 'q' \"d\"";
	g_autoptr(Claude) c = NULL;
	g_autofree gchar *hello = NULL;
	g_autofree gchar *contents = NULL;
	g_autofree gchar *pwned = NULL;
	g_autoptr(Run) run = NULL;
	g_autoptr(FlClaudeHook) stop = NULL;
	g_autoptr(GPtrArray) requests = NULL;
	g_autoptr(GPtrArray) first = NULL;
	g_auto(GStrv) argv = NULL;

	if (claude_skip())
		return;
	c = claude_new(write_script);
	argv = fl_agent_claude_build_argv(NULL, goal, c->session_id, c->settings, NULL, 0);
	run = claude_run(c, argv, NULL);

	hello = g_build_filename(c->repo, "hello.txt", NULL);
	g_assert_true(g_file_get_contents(hello, &contents, NULL, NULL));
	g_assert_cmpstr(contents, ==, "hello from claude\n");
	pwned = g_build_filename(c->repo, "pwned", NULL);
	g_assert_false(g_file_test(pwned, G_FILE_TEST_EXISTS));

	g_assert_no_error(run->finish_error);
	g_assert_cmpint(run->status, ==, 0);
	g_assert_cmpint(fl_claude_stream_get_outcome(run->stream), ==, FL_CLAUDE_OUTCOME_SUCCEEDED);
	g_assert_cmpstr(fl_claude_stream_get_result_text(run->stream), ==, "Wrote hello.txt");
	g_assert_cmpstr(fl_claude_stream_get_session_id(run->stream), ==, c->session_id);
	g_assert_cmpfloat(fl_claude_stream_get_cost_usd(run->stream), >, 0);
	g_assert_cmpuint(fl_claude_stream_get_num_turns(run->stream), >=, 2);
	g_assert_cmpuint(fl_claude_stream_get_api_retries(run->stream), ==, 0);

	/* the goal reached the model as one piece of text, untouched */
	requests = claude_requests(c);
	g_assert_cmpuint(requests->len, ==, 2);
	first = request_messages(g_ptr_array_index(requests, 0));
	g_assert_true(g_str_has_suffix(g_ptr_array_index(first, 0), goal));

	/* the settings' Stop hook ran this binary through its quoted path */
	stop = claude_hook(c, "Stop");
	g_assert_nonnull(stop);
	g_assert_cmpstr(fl_claude_hook_get_session_id(stop), ==, c->session_id);
	g_assert_cmpstr(fl_claude_hook_get_message(stop), ==, "Wrote hello.txt");
	g_assert_false(fl_claude_hook_get_has_background_work(stop));
}

static const gchar error_script[] =
	"[{\"error\": {\"status\": 400, \"body\": {\"type\": \"error\", \"error\": {\"type\": "
	"\"invalid_request_error\", \"message\": \"messages: scripted bad request\"}}}}]";

static void
test_cli_api_error(void)
{
	g_autoptr(Claude) c = NULL;
	g_autoptr(Run) run = NULL;
	g_auto(GStrv) argv = NULL;

	if (claude_skip())
		return;
	c = claude_new(error_script);
	argv = fl_agent_claude_build_argv(NULL, "do something", c->session_id, c->settings, NULL,
					  0);
	run = claude_run(c, argv, NULL);

	g_assert_no_error(run->finish_error);
	g_assert_cmpint(run->status, !=, 0);
	g_assert_true(fl_claude_stream_get_is_error(run->stream));
	g_assert_cmpstr(fl_claude_stream_get_terminal_reason(run->stream), ==, "api_error");
	g_assert_cmpint(fl_claude_stream_get_outcome(run->stream), ==, FL_CLAUDE_OUTCOME_FAILED);
	g_assert_cmpstr(fl_claude_stream_get_reason(run->stream), ==,
			"API Error: 400 messages: scripted bad request");
}

static const gchar overloaded_script[] =
	"[{\"error\": {\"status\": 529, \"body\": {\"type\": \"error\", \"error\": {\"type\": "
	"\"overloaded_error\", \"message\": \"Overloaded\"}}}}]";

static void
test_cli_retry(void)
{
	const gchar *env[] = {"CLAUDE_CODE_MAX_RETRIES", "1", NULL};
	g_autoptr(Claude) c = NULL;
	g_autoptr(Run) run = NULL;
	g_autoptr(FlClaudeHook) failure = NULL;
	g_autoptr(GPtrArray) requests = NULL;
	g_autofree gchar *record = NULL;
	g_auto(GStrv) argv = NULL;

	if (claude_skip())
		return;
	c = claude_new(overloaded_script);
	argv = fl_agent_claude_build_argv(NULL, "do something", c->session_id, c->settings, NULL,
					  0);
	run = claude_run(c, argv, env);

	g_assert_no_error(run->finish_error);
	requests = claude_requests(c);
	g_assert_cmpuint(requests->len, ==, 2);
	g_assert_cmpuint(fl_claude_stream_get_api_retries(run->stream), ==, 1);
	g_assert_cmpstr(fl_claude_stream_get_last_retry_error(run->stream), ==, "overloaded (529)");
	g_assert_cmpint(fl_claude_stream_get_outcome(run->stream), ==, FL_CLAUDE_OUTCOME_FAILED);
	g_assert_true(g_str_has_prefix(fl_claude_stream_get_reason(run->stream),
				       "API Error: 529 Overloaded"));

	/* StopFailure runs detached from the turn: it may land just after Claude exits */
	record = g_build_filename(c->hook_dir, "StopFailure.json", NULL);
	g_assert_true(fl_test_wait_file(record, HOOK_WAIT_MS));
	failure = claude_hook(c, "StopFailure");
	g_assert_nonnull(failure);
	g_assert_cmpint(fl_claude_hook_get_kind(failure), ==, FL_CLAUDE_HOOK_STOP_FAILURE);
	g_assert_cmpstr(fl_claude_hook_get_session_id(failure), ==, c->session_id);
	g_assert_cmpstr(fl_claude_hook_get_error(failure), ==, "server_error");
	g_assert_true(g_str_has_prefix(fl_claude_hook_get_summary(failure), "API Error: 529"));
}

/* a command acceptEdits does not pre-allow, so Claude asks the PermissionRequest hook */
static const gchar bash_script[] =
	"[{\"tool_use\": {\"name\": \"Bash\", \"input\": {\"command\": \"python3 -c "
	"\\\"open('bash-ran.txt','w').write('ran')\\\"\", \"description\": \"write a marker\"}}},"
	" {\"text\": \"Finished\"}]";

static void
cli_permission(gboolean allow)
{
	const gchar *env[] = {"FL_TEST_HOOK_DECISION", allow ? "allow" : "deny", NULL};
	g_autoptr(Claude) c = NULL;
	g_autoptr(Run) run = NULL;
	g_autoptr(FlClaudeHook) request = NULL;
	g_autoptr(GPtrArray) requests = NULL;
	g_autoptr(GPtrArray) last = NULL;
	g_autofree gchar *marker = NULL;
	g_autofree gchar *expected = NULL;
	g_auto(GStrv) argv = NULL;

	if (claude_skip())
		return;
	c = claude_new(bash_script);
	argv = fl_agent_claude_build_argv(NULL, "run the marker command", c->session_id,
					  c->settings, NULL, 0);
	run = claude_run(c, argv, env);

	g_assert_no_error(run->finish_error);
	g_assert_cmpint(fl_claude_stream_get_outcome(run->stream), ==, FL_CLAUDE_OUTCOME_SUCCEEDED);
	g_assert_cmpstr(fl_claude_stream_get_result_text(run->stream), ==, "Finished");

	request = claude_hook(c, "PermissionRequest");
	g_assert_nonnull(request);
	g_assert_cmpstr(fl_claude_hook_get_session_id(request), ==, c->session_id);
	g_assert_cmpstr(fl_claude_hook_get_tool_name(request), ==, "Bash");
	g_assert_cmpstr(fl_claude_hook_get_tool_description(request), ==,
			"python3 -c \"open('bash-ran.txt','w').write('ran')\"");

	marker = g_build_filename(c->repo, "bash-ran.txt", NULL);
	g_assert_true(g_file_test(marker, G_FILE_TEST_EXISTS) == allow);

	/* what the model was told about its tool call */
	requests = claude_requests(c);
	g_assert_cmpuint(requests->len, ==, 2);
	last = request_messages(g_ptr_array_index(requests, 1));
	expected =
		allow ? g_strdup("tool_result: ") : g_strdup("tool_result (error): " DENY_MESSAGE);
	g_assert_nonnull(strstr(g_ptr_array_index(last, last->len - 1), expected));
}

static void
test_cli_permission_allow(void)
{
	cli_permission(TRUE);
}

static void
test_cli_permission_deny(void)
{
	cli_permission(FALSE);
}

/* acceptEdits allows edits inside the working directory only: a write elsewhere is asked */
static const gchar outside_script[] =
	"[{\"tool_use\": {\"name\": \"Write\", \"input\": {\"file_path\": \"REPO/../outside.txt\", "
	"\"content\": \"x\\n\"}}}, {\"text\": \"Could not write it\"}]";

static void
test_cli_outside_write(void)
{
	g_autoptr(Claude) c = NULL;
	g_autoptr(Run) run = NULL;
	g_autoptr(FlClaudeHook) request = NULL;
	g_autoptr(GPtrArray) requests = NULL;
	g_autoptr(GPtrArray) last = NULL;
	g_autofree gchar *outside = NULL;
	g_auto(GStrv) argv = NULL;

	if (claude_skip())
		return;
	c = claude_new(outside_script);
	argv = fl_agent_claude_build_argv(NULL, "write outside", c->session_id, c->settings, NULL,
					  0);
	/* no FL_TEST_HOOK_DECISION: the hook answers nothing, as a timed-out one would */
	run = claude_run(c, argv, NULL);

	g_assert_no_error(run->finish_error);
	g_assert_cmpint(fl_claude_stream_get_outcome(run->stream), ==, FL_CLAUDE_OUTCOME_SUCCEEDED);
	outside = g_build_filename(c->root, "outside.txt", NULL);
	g_assert_false(g_file_test(outside, G_FILE_TEST_EXISTS));
	request = claude_hook(c, "PermissionRequest");
	g_assert_nonnull(request);
	g_assert_cmpstr(fl_claude_hook_get_tool_name(request), ==, "Write");
	/* Claude normalizes the path before it asks */
	g_assert_cmpstr(fl_claude_hook_get_tool_description(request), ==, outside);

	/* no answer is a denial */
	requests = claude_requests(c);
	g_assert_cmpuint(requests->len, ==, 2);
	last = request_messages(g_ptr_array_index(requests, 1));
	g_assert_nonnull(strstr(g_ptr_array_index(last, last->len - 1), "tool_result (error): "));
}

static const gchar resume_script[] =
	"[{\"text\": \"Which colour should the shed be?\"}, {\"text\": \"Blue it is.\"}]";

static void
test_cli_resume(void)
{
	g_autoptr(Claude) c = NULL;
	g_autoptr(Run) first = NULL;
	g_autoptr(Run) second = NULL;
	g_autoptr(GPtrArray) requests = NULL;
	g_autoptr(GPtrArray) conversation = NULL;
	g_auto(GStrv) argv = NULL;
	g_auto(GStrv) resume_argv = NULL;

	if (claude_skip())
		return;
	c = claude_new(resume_script);
	argv = fl_agent_claude_build_argv(NULL, "Paint the shed", c->session_id, c->settings, NULL,
					  0);
	first = claude_run(c, argv, NULL);
	g_assert_no_error(first->finish_error);
	g_assert_cmpstr(fl_claude_stream_get_result_text(first->stream), ==,
			"Which colour should the shed be?");
	g_assert_cmpstr(fl_claude_stream_get_session_id(first->stream), ==, c->session_id);

	resume_argv = fl_agent_claude_build_argv(NULL, NULL, c->session_id, c->settings,
						 "-blue, please", 5);
	second = claude_run(c, resume_argv, NULL);
	g_assert_no_error(second->finish_error);
	g_assert_cmpint(fl_claude_stream_get_outcome(second->stream), ==,
			FL_CLAUDE_OUTCOME_SUCCEEDED);
	g_assert_cmpstr(fl_claude_stream_get_result_text(second->stream), ==, "Blue it is.");
	g_assert_cmpstr(fl_claude_stream_get_session_id(second->stream), ==, c->session_id);
	g_assert_cmpfloat(fl_claude_stream_get_cost_usd(second->stream), >, 0);

	/* the resumed request carried the whole earlier exchange, then the reply */
	requests = claude_requests(c);
	g_assert_cmpuint(requests->len, ==, 2);
	conversation = request_messages(g_ptr_array_index(requests, 1));
	g_assert_cmpuint(conversation->len, ==, 3);
	g_assert_true(g_str_has_prefix(g_ptr_array_index(conversation, 0), "user:"));
	g_assert_true(g_str_has_suffix(g_ptr_array_index(conversation, 0), "\nPaint the shed"));
	g_assert_cmpstr(g_ptr_array_index(conversation, 1), ==,
			"assistant:\nWhich colour should the shed be?");
	g_assert_cmpstr(g_ptr_array_index(conversation, 2), ==, "user:\n-blue, please");
}

gint
main(gint argc, gchar **argv)
{
	gint rc;

	/* Claude runs this binary as its hook command; never fall into the test suite then */
	if (argc >= 2 && g_str_equal(argv[1], "hook")) {
		if (argc != 3 || !g_str_equal(argv[2], "claude"))
			return 2;
		return hook_main(argc, argv);
	}

	self_exe = g_file_read_link("/proc/self/exe", NULL);
	g_test_init(&argc, &argv, NULL);
	g_assert_nonnull(self_exe);

	g_test_add_func("/claude/argv/new", test_argv_new);
	g_test_add_func("/claude/argv/resume", test_argv_resume);
	g_test_add_func("/claude/stream/resumed-counts", test_stream_resumed_counts);
	g_test_add_func("/claude/argv/budget", test_argv_budget);
	g_test_add_func("/claude/argv/class-budget", test_class_budget);
	g_test_add_func("/claude/settings", test_settings);
	g_test_add_func("/claude/stream/chunks", test_stream_chunks);
	g_test_add_func("/claude/stream/classify", test_stream_classify);
	g_test_add_func("/claude/stream/no-result", test_stream_no_result);
	g_test_add_func("/claude/stream/garbage", test_stream_garbage);
	g_test_add_func("/claude/stream/huge-line", test_stream_huge_line);
	g_test_add_func("/claude/hook/parse", test_hook_parse);
	g_test_add_func("/claude/hook/response", test_hook_response);
	g_test_add_func("/claude/hook/garbage", test_hook_garbage);
	g_test_add_func("/claude/cli/write", test_cli_write);
	g_test_add_func("/claude/cli/api-error", test_cli_api_error);
	g_test_add_func("/claude/cli/retry", test_cli_retry);
	g_test_add_func("/claude/cli/permission-allow", test_cli_permission_allow);
	g_test_add_func("/claude/cli/permission-deny", test_cli_permission_deny);
	g_test_add_func("/claude/cli/outside-write", test_cli_outside_write);
	g_test_add_func("/claude/cli/resume", test_cli_resume);
	rc = g_test_run();
	g_free(self_exe);
	return rc;
}
