/*
 * Agents other than the shell, through the real daemon: an HTTP LLM agent against a scripted
 * model API on 127.0.0.1 (tests/doubles/llm-double.py).
 */
#include "config.h"

#include <string.h>

#include "fl-test-harness.h"

#define WAIT_MS 30000
#define API_KEY "sk-test-SECRET-4242"

typedef struct {
	GSubprocess *proc;
	guint port;
} Double;

static void
double_start(Double *d)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *script =
		g_test_build_filename(G_TEST_DIST, "doubles", "llm-double.py", NULL);
	g_autoptr(GDataInputStream) out = NULL;
	g_autofree gchar *line = NULL;
	guint64 port = 0;

	d->proc = g_subprocess_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE,
				   &error, g_getenv("FL_TEST_PYTHON"), script, NULL);
	g_assert_no_error(error);
	out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(d->proc));
	line = g_data_input_stream_read_line(out, NULL, NULL, &error);
	g_assert_no_error(error);
	g_assert_true(g_ascii_string_to_unsigned(line, 10, 1, 65535, &port, NULL));
	d->port = (guint)port;
}

static void
double_stop(Double *d)
{
	g_subprocess_force_exit(d->proc);
	g_subprocess_wait(d->proc, NULL, NULL);
	g_clear_object(&d->proc);
}

static gchar *
make_repo(FlTestEnv *env)
{
	gchar *repo = g_build_filename(env->root, "api", NULL);

	g_assert_cmpint(g_mkdir_with_parents(repo, 0700), ==, 0);
	g_free(fl_test_sh(repo, "git init -q -b main . && git config user.name T && git config "
				"user.email t@example.com && echo v1 > CHANGES && git add . && "
				"git commit -q -m initial"));
	return repo;
}

static FlTestEnv *
env_with_writer(Double *d, const gchar *behaviour)
{
	g_autofree gchar *config = g_strdup_printf(
		"[agent writer]\nkind=http\napi=anthropic\nurl=http://127.0.0.1:%u/anthropic/%s\n"
		"model=claude-test\napi-key-env=FL_TEST_API_KEY\noutput=docs/RELEASE.md\n"
		"[prices]\nclaude-test=3.00;15.00\n",
		d->port, behaviour);
	FlTestEnv *env = fl_test_env_new(config);

	env->envp = g_environ_setenv(env->envp, "FL_TEST_API_KEY", API_KEY, TRUE);
	fl_test_env_start_daemon(env, NULL);
	return env;
}

static void
assert_no_key(const gchar *what, const gchar *text)
{
	if (text != NULL && strstr(text, API_KEY) != NULL)
		g_test_message("the API key leaked into %s", what);
	g_assert_true(text == NULL || strstr(text, API_KEY) == NULL);
}

static void
test_http_draft(void)
{
	Double d = {0};
	g_autoptr(FlTestEnv) env = NULL;
	g_autofree gchar *repo = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *diff = NULL;
	g_autofree gchar *log = NULL;
	g_autofree gchar *json = NULL;
	g_autofree gchar *daemon_log = NULL;
	g_autofree gchar *daemon_log_path = NULL;
	g_autoptr(JsonObject) obj = NULL;
	guint id;

	double_start(&d);
	env = env_with_writer(&d, "split");
	repo = make_repo(env);
	id = fl_test_run_session(env, repo, "--agent", "writer", "--", "draft release notes for v2",
				 NULL);
	state = fl_test_wait_ended(env, id, WAIT_MS);
	g_assert_cmpstr(state, ==, "done");
	obj = fl_test_show(env, id);
	g_assert_cmpstr(json_object_get_string_member(obj, "review"), ==, "pending");
	/* 12 tokens in at $3/M, 7 out at $15/M */
	g_assert_cmpfloat_with_epsilon(json_object_get_double_member(obj, "cost_usd"),
				       (12 * 3.0 + 7 * 15.0) / 1e6, 1e-9);
	g_assert_nonnull(strstr(json_object_get_string_member(obj, "final_message"), "wörld"));
	/* the text is the draft, committed on the draft branch and merged on approval */
	diff = fl_test_cli_ok(env, NULL, "diff", "1", NULL);
	g_assert_nonnull(strstr(diff, "docs/RELEASE.md"));
	g_assert_nonnull(strstr(diff, "+Hello, wörld!"));
	log = fl_test_cli_ok(env, NULL, "log", "1", NULL);
	g_assert_nonnull(strstr(log, "Second line"));
	g_free(fl_test_cli_ok(env, NULL, "approve", "1", NULL));
	g_free(fl_test_sh(repo, "grep -q 'Second line' docs/RELEASE.md"));

	/* the key went to the API, and nowhere else */
	json = fl_test_cli_ok(env, NULL, "ls", "--all", "--json", NULL);
	assert_no_key("ls --json", json);
	assert_no_key("the session log", log);
	assert_no_key("the patch", diff);
	daemon_log_path = g_build_filename(env->root, "flotillad.log", NULL);
	g_file_get_contents(daemon_log_path, &daemon_log, NULL, NULL);
	assert_no_key("the daemon's log", daemon_log);
	fl_test_env_stop_daemon(env, SIGTERM);
	double_stop(&d);
}

static void
test_http_failures(void)
{
	Double d = {0};
	g_autoptr(FlTestEnv) env = NULL;
	g_autoptr(JsonObject) obj = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *state2 = NULL;
	g_autofree gchar *config = NULL;
	const gchar *reason;
	guint id, never;

	double_start(&d);
	config = g_strdup_printf(
		"[agent bad]\nkind=http\napi=anthropic\nurl=http://127.0.0.1:%u/anthropic/400\n"
		"model=m\napi-key-env=FL_TEST_API_KEY\n"
		"[agent "
		"forever]\nkind=http\napi=openai\nurl=http://127.0.0.1:%u/openai/never-ending\n"
		"model=m\napi-key-env=FL_TEST_API_KEY\n",
		d.port, d.port);
	env = fl_test_env_new(config);
	env->envp = g_environ_setenv(env->envp, "FL_TEST_API_KEY", API_KEY, TRUE);
	fl_test_env_start_daemon(env, NULL);

	id = fl_test_run_session(env, NULL, "--agent", "bad", "--", "anything", NULL);
	state = fl_test_wait_ended(env, id, WAIT_MS);
	g_assert_cmpstr(state, ==, "failed");
	obj = fl_test_show(env, id);
	reason = json_object_get_string_member(obj, "reason");
	g_assert_nonnull(strstr(reason, "HTTP 400"));
	assert_no_key("the reason", reason);

	/* a never-ending stream stops at once on cancel */
	never = fl_test_run_session(env, NULL, "--agent", "forever", "--", "go on", NULL);
	g_assert_true(fl_test_wait_state(env, never, "running", WAIT_MS));
	{
		g_autofree gchar *ids = g_strdup_printf("%u", never);
		g_free(fl_test_cli_ok(env, NULL, "cancel", ids, NULL));
	}
	state2 = fl_test_wait_ended(env, never, 5000);
	g_assert_cmpstr(state2, ==, "cancelled");
	fl_test_env_stop_daemon(env, SIGTERM);
	double_stop(&d);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/agents/http-draft", test_http_draft);
	g_test_add_func("/agents/http-failures", test_http_failures);
	return g_test_run();
}
