/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "fl-agent-http.h"
#include "fl-agent.h"
#include "fl-config.h"
#include "fl-error.h"
#include "fl-util.h"

/* the agent kinds behind src/fl-agent.h, called the way a session calls them */

static gchar *tmp_dir;

static void
run_init(FlAgentRun *run, FlSessionData *d, const FlConfig *config, const gchar *name)
{
	*run = (FlAgentRun){
		.data = d,
		.agent = fl_config_get_agent(config, name),
		.config = config,
		.session_dir = tmp_dir,
		.cli_path = "/opt/fl test/flotilla",
		.http_path = "/usr/libexec/flotilla-http",
	};
	g_assert_nonnull(run->agent);
}

/* every kind is found by its name and only by it; the built-in agents come from the kinds */
static void
test_agent_registry(void)
{
	const FlAgentClass *const *list = fl_agent_class_list();
	g_autoptr(FlConfig) config = fl_config_new_default();
	g_autofree gchar *names = fl_agent_class_list_names();
	const gchar *presets[][2] = {{"shell", "command"},
				     {"aider", "command"},
				     {"claude", "claude"},
				     {"codex", "codex"}};

	for (guint i = 0; list[i] != NULL; i++) {
		g_assert_true(fl_agent_class_lookup(list[i]->kind) == list[i]);
		g_assert_nonnull(list[i]->build_argv);
		g_assert_nonnull(strstr(names, list[i]->kind));
		/* a kind that parks permissions can also answer them */
		g_assert_true(list[i]->hook == NULL || list[i]->permission_respond != NULL);
		g_assert_true((list[i]->live_new == NULL) == (list[i]->live_feed == NULL));
	}
	g_assert_null(fl_agent_class_lookup("Claude"));
	g_assert_null(fl_agent_class_lookup(""));
	g_assert_null(fl_agent_class_lookup(NULL));
	for (guint i = 0; i < G_N_ELEMENTS(presets); i++) {
		const FlAgentConfig *agent = fl_config_get_agent(config, presets[i][0]);
		g_assert_nonnull(agent);
		g_assert_cmpstr(agent->klass->kind, ==, presets[i][1]);
	}
}

/* placeholders fill whole arguments: a hostile goal stays one argument, never a shell word */
static void
test_agent_command_argv(void)
{
	g_autoptr(FlConfig) config = NULL;
	g_autoptr(FlSessionData) d = fl_session_data_new();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = g_build_filename(tmp_dir, "argv.conf", NULL);
	g_auto(GStrv) argv = NULL;
	FlAgentRun run;

	g_assert_true(g_file_set_contents(
		path,
		"[agent tmpl]\ncommand=tool --id {session_id} -- {goal} x{goal} {session_uuid}\n",
		-1, NULL));
	config = fl_config_load(path, &error);
	g_assert_no_error(error);
	d->id = 42;
	d->goal = g_strdup("$(rm -rf ~); `id` 'q' \"x\"\n-rf");
	run_init(&run, d, config, "tmpl");
	argv = run.agent->klass->build_argv(&run, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_strv_length(argv), ==, 7);
	g_assert_cmpstr(argv[0], ==, "tool");
	g_assert_cmpstr(argv[2], ==, "42");
	g_assert_cmpstr(argv[4], ==, d->goal);
	/* only whole elements are placeholders */
	g_assert_cmpstr(argv[5], ==, "x{goal}");
	g_assert_cmpstr(argv[6], ==, "");
	g_strfreev(g_steal_pointer(&argv));

	run_init(&run, d, config, "shell");
	argv = run.agent->klass->build_argv(&run, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(argv[0], ==, "sh");
	g_assert_cmpstr(argv[2], ==, d->goal);
	g_assert_null(argv[3]);
}

/* the tail of the log is a command's final word, replacing one from an earlier run */
static void
test_agent_command_outcome(void)
{
	g_autoptr(FlConfig) config = fl_config_new_default();
	g_autoptr(FlSessionData) d = fl_session_data_new();
	g_autofree gchar *log = g_build_filename(tmp_dir, "output.log", NULL);
	FlState state = FL_STATE_DONE;
	FlAgentRun run;

	d->final_message = g_strdup("from the run before");
	g_assert_true(g_file_set_contents(log, "working\n\x1b[31mall done\x1b[0m\n", -1, NULL));
	run_init(&run, d, config, "aider");
	run.agent->klass->read_outcome(&run, &state);
	g_assert_cmpint(state, ==, FL_STATE_DONE);
	g_assert_nonnull(strstr(d->final_message, "all done"));
	g_assert_null(strchr(d->final_message, '\x1b'));
	g_unlink(log);
}

/*
 * The request and result files are read by another process, and by a later flotillad after
 * an upgrade: the keys are the ones flotilla has always written.
 */
static void
test_agent_http_contract(void)
{
	g_autofree gchar *req_path = g_build_filename(tmp_dir, FL_AGENT_HTTP_REQUEST_FILE, NULL);
	g_autofree gchar *res_path = g_build_filename(tmp_dir, FL_AGENT_HTTP_RESULT_FILE, NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlAgentHttpRequest) back = NULL;
	g_autoptr(FlAgentHttpResult) result_back = NULL;
	g_autoptr(JsonObject) raw = NULL;
	FlAgentHttpRequest request = {
		.agent = (gchar *)"writer",
		.api = (gchar *)"openai",
		.url = (gchar *)"http://127.0.0.1:1/v1",
		.model = (gchar *)"gpt-test",
		.max_tokens = 77,
		.api_key_env = (gchar *)"KEY",
		.goal = (gchar *)"caf\xC3\xA9 \"quoted\"\n",
		.output = (gchar *)"docs/out.md",
		.result = res_path,
	};
	FlAgentHttpResult result = {
		.model = (gchar *)"gpt-test-1",
		.input_tokens = 10,
		.output_tokens = 20,
		.stop_reason = (gchar *)"stop",
		.attempts = 2,
		.text = (gchar *)"answer",
		.error = (gchar *)"cut\nshort \x1b[31m",
	};
	/* as a daemon from before this module wrote it */
	const gchar *old_request = "{\"v\":1,\"agent\":\"w\",\"api\":\"anthropic\",\"url\":\"u\","
				   "\"model\":\"m\",\"max_tokens\":9,\"api_key_env\":\"K\","
				   "\"goal\":\"g\",\"result\":\"r\"}";

	g_assert_true(fl_agent_http_request_write(&request, req_path, &error));
	g_assert_no_error(error);
	back = fl_agent_http_request_read(req_path, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(back->agent, ==, "writer");
	g_assert_cmpstr(back->api, ==, "openai");
	g_assert_cmpstr(back->goal, ==, request.goal);
	g_assert_cmpstr(back->output, ==, "docs/out.md");
	g_assert_cmpuint(back->max_tokens, ==, 77);
	g_assert_cmpstr(back->result, ==, res_path);
	raw = fl_read_json_object(req_path, &error);
	g_assert_cmpstr(json_object_get_string_member(raw, "api_key_env"), ==, "KEY");
	g_assert_cmpint(json_object_get_int_member(raw, "v"), ==, 1);
	g_clear_pointer(&back, fl_agent_http_request_free);

	g_assert_true(g_file_set_contents(req_path, old_request, -1, NULL));
	back = fl_agent_http_request_read(req_path, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(back->model, ==, "m");
	g_assert_cmpuint(back->max_tokens, ==, 9);
	g_assert_null(back->output);
	g_clear_pointer(&back, fl_agent_http_request_free);

	/* a request without a goal is refused, not run */
	g_assert_true(g_file_set_contents(
		req_path, "{\"url\":\"u\",\"model\":\"m\",\"result\":\"r\"}", -1, NULL));
	g_assert_null(fl_agent_http_request_read(req_path, &error));
	g_assert_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);

	g_assert_true(fl_agent_http_result_write(&result, res_path, &error));
	result_back = fl_agent_http_result_read(res_path, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(result_back->text, ==, "answer");
	g_assert_cmpstr(result_back->model, ==, "gpt-test-1");
	g_assert_cmpuint(result_back->output_tokens, ==, 20);
	g_assert_cmpuint(result_back->attempts, ==, 2);
	/* one clean line */
	g_assert_null(strchr(result_back->error, '\n'));
	g_assert_null(strchr(result_back->error, '\x1b'));
	g_unlink(req_path);
	g_unlink(res_path);
}

/* an old result file is read the same; a missing one fails a run that claims success */
static void
test_agent_http_outcome(void)
{
	g_autoptr(FlConfig) config = NULL;
	g_autoptr(FlSessionData) d = fl_session_data_new();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *conf = g_build_filename(tmp_dir, "http.conf", NULL);
	g_autofree gchar *res_path = g_build_filename(tmp_dir, FL_AGENT_HTTP_RESULT_FILE, NULL);
	FlState state = FL_STATE_DONE;
	FlAgentRun run;

	g_assert_true(g_file_set_contents(conf,
					  "[agent w]\nurl=http://127.0.0.1:1\nmodel=m\n"
					  "[prices]\nm=1;2\n",
					  -1, NULL));
	config = fl_config_load(conf, &error);
	g_assert_no_error(error);
	run_init(&run, d, config, "w");
	run.agent->klass->read_outcome(&run, &state);
	g_assert_cmpint(state, ==, FL_STATE_FAILED);
	g_assert_nonnull(d->reason);

	state = FL_STATE_DONE;
	g_assert_true(
		g_file_set_contents(res_path,
				    "{\"v\":1,\"model\":\"m\",\"input_tokens\":1000000,"
				    "\"output_tokens\":1000000,\"attempts\":1,\"text\":\"hi\"}",
				    -1, NULL));
	run.agent->klass->read_outcome(&run, &state);
	g_assert_cmpint(state, ==, FL_STATE_DONE);
	g_assert_cmpstr(d->final_message, ==, "hi");
	g_assert_cmpfloat_with_epsilon(d->cost_usd, 3.0, 1e-9);

	/* a cancel stays a cancel even when the answer says it failed */
	state = FL_STATE_CANCELLED;
	g_assert_true(g_file_set_contents(res_path, "{\"v\":1,\"error\":\"HTTP 500\"}", -1, NULL));
	run.agent->klass->read_outcome(&run, &state);
	g_assert_cmpint(state, ==, FL_STATE_CANCELLED);
	g_unlink(res_path);
}

/* output= never leads out of the worktree, and nothing is written or sent then */
static void
test_agent_http_output_escape(void)
{
	const gchar *bad[] = {"../x.md", "/etc/passwd", "a/../../b"};

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(FlConfig) config = NULL;
		g_autoptr(FlSessionData) d = fl_session_data_new();
		g_autoptr(GError) error = NULL;
		g_autofree gchar *conf = g_build_filename(tmp_dir, "out.conf", NULL);
		g_autofree gchar *text = g_strdup_printf(
			"[agent w]\nurl=http://127.0.0.1:1\nmodel=m\noutput=%s\n", bad[i]);
		g_autofree gchar *req = g_build_filename(tmp_dir, FL_AGENT_HTTP_REQUEST_FILE, NULL);
		g_auto(GStrv) argv = NULL;
		FlAgentRun run;

		g_assert_true(g_file_set_contents(conf, text, -1, NULL));
		config = fl_config_load(conf, &error);
		g_assert_no_error(error);
		d->goal = g_strdup("g");
		run_init(&run, d, config, "w");
		argv = run.agent->klass->build_argv(&run, &error);
		g_assert_null(argv);
		g_assert_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT);
		g_assert_false(g_file_test(req, G_FILE_TEST_EXISTS));
	}
}

/* run --budget on an http agent: the answer is cut where [prices] says the budget ends,
 * the prompt counted as a token a byte; a budget that pays for nothing sends nothing */
static guint
http_budget_tokens(gdouble budget, gdouble cost, GError **error)
{
	g_autoptr(FlConfig) config = NULL;
	g_autoptr(FlSessionData) d = fl_session_data_new();
	g_autoptr(FlAgentHttpRequest) request = NULL;
	g_autofree gchar *conf = g_build_filename(tmp_dir, "budget.conf", NULL);
	g_autofree gchar *req = g_build_filename(tmp_dir, FL_AGENT_HTTP_REQUEST_FILE, NULL);
	g_auto(GStrv) argv = NULL;
	FlAgentRun run;

	g_unlink(req);
	g_assert_true(g_file_set_contents(conf,
					  "[agent w]\nurl=http://127.0.0.1:1\nmodel=m\n"
					  "[prices]\nm=1;10\n",
					  -1, NULL));
	config = fl_config_load(conf, NULL);
	g_assert_nonnull(config);
	d->goal = g_strdup("g");
	d->budget_usd = budget;
	d->cost_usd = cost;
	run_init(&run, d, config, "w");
	argv = run.agent->klass->build_argv(&run, error);
	if (argv == NULL) {
		g_assert_false(g_file_test(req, G_FILE_TEST_EXISTS));
		return 0;
	}
	request = fl_agent_http_request_read(req, NULL);
	g_assert_nonnull(request);
	return request->max_tokens;
}

static void
test_agent_http_budget(void)
{
	g_autoptr(GError) error = NULL;

	/* no budget: the agent's own limit */
	g_assert_cmpuint(http_budget_tokens(0, -1, NULL), ==, 4096);
	g_assert_cmpuint(http_budget_tokens(100, -1, NULL), ==, 4096);
	/* $0.01 less (1 + 1024) tokens of prompt at $1/M, at $10/M for the answer */
	g_assert_cmpuint(http_budget_tokens(0.01, -1, NULL), ==, 897);
	/* a resumed run has only what is left */
	g_assert_cmpuint(http_budget_tokens(0.01, 0.005, NULL), ==, 397);
	g_assert_cmpuint(http_budget_tokens(0.001, -1, &error), ==, 0);
	g_assert_error(error, FL_ERROR, FL_ERROR_FAILED);
}

/* a permission request is parked and answered through the generic permission */
static void
test_agent_claude_hook(void)
{
	const FlAgentClass *claude = fl_agent_class_lookup("claude");
	g_autoptr(GError) error = NULL;
	g_autofree gchar *deny = NULL;
	FlAgentHookResult result = {NULL};
	const gchar *permission =
		"{\"session_id\":\"s\",\"hook_event_name\":\"PermissionRequest\","
		"\"tool_name\":\"Bash\",\"tool_input\":{\"command\":\"rm -rf /\"}}";
	const gchar *notification = "{\"session_id\":\"s\",\"hook_event_name\":\"Notification\","
				    "\"message\":\"Claude needs your permission\"}";

	g_assert_true(claude->hook(permission, &result, &error));
	g_assert_no_error(error);
	g_assert_nonnull(result.permission);
	g_assert_nonnull(strstr(result.asks, "rm -rf /"));
	deny = fl_agent_permission_respond(result.permission, FALSE, "not that");
	g_assert_nonnull(strstr(deny, "\"deny\""));
	g_assert_nonnull(strstr(deny, "not that"));
	fl_agent_hook_result_clear(&result);

	g_assert_true(claude->hook(notification, &result, &error));
	g_assert_null(result.permission);
	g_assert_cmpstr(result.notice, ==, "Claude needs your permission");
	fl_agent_hook_result_clear(&result);

	g_assert_false(claude->hook("{\"hook_event_name\":", &result, &error));
	g_assert_nonnull(error);
	g_assert_null(result.permission);
	/* the command kind takes no hooks: the fleet refuses `flotilla hook command` */
	g_assert_null(fl_agent_class_lookup("command")->hook);
}

int
main(int argc, char *argv[])
{
	gint status;

	g_test_init(&argc, &argv, NULL);
	tmp_dir = g_dir_make_tmp("flotilla-test-agent-XXXXXX", NULL);
	g_test_add_func("/agent/registry", test_agent_registry);
	g_test_add_func("/agent/command-argv", test_agent_command_argv);
	g_test_add_func("/agent/command-outcome", test_agent_command_outcome);
	g_test_add_func("/agent/http-contract", test_agent_http_contract);
	g_test_add_func("/agent/http-outcome", test_agent_http_outcome);
	g_test_add_func("/agent/http-output-escape", test_agent_http_output_escape);
	g_test_add_func("/agent/http-budget", test_agent_http_budget);
	g_test_add_func("/agent/claude-hook", test_agent_claude_hook);
	status = g_test_run();
	for (guint i = 0; i < 3; i++) {
		const gchar *names[] = {"argv.conf", "http.conf", "out.conf"};
		g_autofree gchar *path = g_build_filename(tmp_dir, names[i], NULL);
		g_unlink(path);
	}
	g_rmdir(tmp_dir);
	g_free(tmp_dir);
	return status;
}
