/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Agents other than the shell, through the real daemon: an HTTP LLM agent against a scripted
 * model API on 127.0.0.1 (tests/doubles/llm-double.py).
 */
#include "config.h"

#include <string.h>

#include "fl-test-harness.h"
#include "fl-util.h"

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

/* @method ("GET" or "POST") @path of the double; returns the reply's body */
static gchar *
double_call(Double *d, const gchar *method, const gchar *path)
{
	g_autofree gchar *cmd = g_strdup_printf(
		"%s -c \"import urllib.request; print(urllib.request.urlopen("
		"urllib.request.Request('http://127.0.0.1:%u%s', method='%s'), timeout=90)"
		".read().decode())\"",
		g_getenv("FL_TEST_PYTHON"), d->port, path, method);

	return fl_test_sh(NULL, cmd);
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

/* nothing the session left behind (log, request, result, patch …) holds the key */
static void
assert_no_key_in_session_dir(FlTestEnv *env, guint id)
{
	g_autofree gchar *name = g_strdup_printf("%u", id);
	g_autofree gchar *dir = g_build_filename(env->state_dir, "sessions", name, NULL);
	g_autoptr(GDir) listing = g_dir_open(dir, 0, NULL);
	const gchar *file;
	guint n = 0;

	g_assert_nonnull(listing);
	while ((file = g_dir_read_name(listing)) != NULL) {
		g_autofree gchar *path = g_build_filename(dir, file, NULL);
		g_autofree gchar *contents = NULL;

		/* agent/: the sandbox's scratch space, which the agent itself fills */
		if (!g_file_test(path, G_FILE_TEST_IS_REGULAR))
			continue;
		g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
		assert_no_key(file, contents);
		n++;
	}
	/* at least the log, the request, the result, started.json and exit.json */
	g_assert_cmpuint(n, >=, 5);
}

/* session @id of the "writer" agent ended as the scripted answer's draft: done, pending review,
 * priced (12 tokens in at $3/M, 7 out at $15/M), the text committed as docs/RELEASE.md */
static void
assert_writer_draft(FlTestEnv *env, guint id, gchar **diff_out, gchar **log_out)
{
	g_autofree gchar *name = g_strdup_printf("%u", id);
	g_autofree gchar *state = fl_test_wait_ended(env, id, WAIT_MS);
	g_autoptr(JsonObject) obj = NULL;
	g_autofree gchar *diff = NULL;
	g_autofree gchar *log = NULL;

	g_assert_cmpstr(state, ==, "done");
	obj = fl_test_show(env, id);
	g_assert_cmpstr(json_object_get_string_member(obj, "review"), ==, "pending");
	g_assert_cmpfloat_with_epsilon(json_object_get_double_member(obj, "cost_usd"),
				       (12 * 3.0 + 7 * 15.0) / 1e6, 1e-9);
	g_assert_cmpstr(json_object_get_string_member(obj, "final_message"), ==,
			"Hello, wörld!\nSecond line — done.");
	diff = fl_test_cli_ok(env, NULL, "diff", name, NULL);
	g_assert_nonnull(strstr(diff, "docs/RELEASE.md"));
	g_assert_nonnull(strstr(diff, "+Hello, wörld!"));
	g_assert_nonnull(strstr(diff, "+Second line — done."));
	log = fl_test_cli_ok(env, NULL, "log", name, NULL);
	g_assert_cmpstr(log, ==, "Hello, wörld!\nSecond line — done.\n");
	*diff_out = g_steal_pointer(&diff);
	*log_out = g_steal_pointer(&log);
}

static void
test_http_draft(void)
{
	Double d = {0};
	g_autoptr(FlTestEnv) env = NULL;
	g_autofree gchar *repo = NULL;
	g_autofree gchar *diff = NULL;
	g_autofree gchar *log = NULL;
	g_autofree gchar *json = NULL;
	g_autofree gchar *daemon_log = NULL;
	g_autofree gchar *daemon_log_path = NULL;
	guint id;

	double_start(&d);
	env = env_with_writer(&d, "split");
	repo = make_repo(env);
	id = fl_test_run_session(env, repo, "--agent", "writer", "--", "draft release notes for v2",
				 NULL);
	/* the text is the draft, committed on the draft branch and merged on approval */
	assert_writer_draft(env, id, &diff, &log);
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
	assert_no_key_in_session_dir(env, id);
	fl_test_env_stop_daemon(env, SIGTERM);
	double_stop(&d);
}

/* the command line (NUL-separated, its length in @len) of the first process below @pid whose
 * program ends with @suffix, NULL when there is none */
static gchar *
find_descendant(gint pid, const gchar *suffix, gsize *len)
{
	g_autoptr(GArray) queue = g_array_new(FALSE, FALSE, sizeof(gint));

	g_array_append_val(queue, pid);
	for (guint i = 0; i < queue->len; i++) {
		gint p = g_array_index(queue, gint, i);
		g_autofree gchar *path = g_strdup_printf("/proc/%d/task/%d/children", p, p);
		g_autofree gchar *children = NULL;
		g_auto(GStrv) pids = NULL;

		if (!g_file_get_contents(path, &children, NULL, NULL))
			continue;
		pids = g_strsplit(g_strstrip(children), " ", -1);
		for (guint j = 0; pids[j] != NULL && pids[j][0] != '\0'; j++) {
			gint child = (gint)g_ascii_strtoll(pids[j], NULL, 10);
			g_autofree gchar *cmdline_path = g_strdup_printf("/proc/%d/cmdline", child);
			gchar *cmdline = NULL;

			if (g_file_get_contents(cmdline_path, &cmdline, len, NULL) &&
			    g_str_has_suffix(cmdline, suffix))
				return cmdline;
			g_free(cmdline);
			g_array_append_val(queue, child);
		}
	}
	return NULL;
}

/* an http session runs under its runner like any other: it outlives a daemon killed in the
 * middle of the answer, and the next daemon records it */
static void
test_http_survives_restart(void)
{
	Double d = {0};
	g_autoptr(FlTestEnv) env = NULL;
	g_autoptr(JsonObject) started = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *repo = NULL;
	g_autofree gchar *name = NULL;
	g_autofree gchar *started_path = NULL;
	g_autofree gchar *cmdline = NULL;
	g_autofree gchar *diff = NULL;
	g_autofree gchar *log = NULL;
	gsize cmdline_len = 0;
	gint64 runner_pid;
	guint id;

	double_start(&d);
	env = env_with_writer(&d, "held");
	repo = make_repo(env);
	id = fl_test_run_session(env, repo, "--agent", "writer", "--", "draft release notes for v2",
				 NULL);
	/* the first words of the answer have arrived, the rest waits for the release */
	g_free(double_call(&d, "GET", "/held"));

	/* the program that is asking: flotilla-http with its request file, no key in argv */
	name = g_strdup_printf("%u", id);
	started_path = g_build_filename(env->state_dir, "sessions", name, "started.json", NULL);
	started = fl_read_json_object(started_path, &error);
	g_assert_no_error(error);
	/* below the runner (inside its sandbox) */
	runner_pid = json_object_get_int_member_with_default(started, "runner_pid", 0);
	cmdline = find_descendant((gint)runner_pid, "flotilla-http", &cmdline_len);
	g_assert_nonnull(cmdline);
	g_assert_cmpstr(cmdline + strlen(cmdline) + 1, ==, "agent");
	for (gsize i = 0; i < cmdline_len; i++) {
		if (cmdline[i] == '\0')
			cmdline[i] = ' ';
	}
	assert_no_key("the agent's command line", cmdline);

	fl_test_env_stop_daemon(env, SIGKILL);
	fl_test_env_start_daemon(env, NULL);
	g_free(double_call(&d, "POST", "/release"));
	assert_writer_draft(env, id, &diff, &log);
	assert_no_key_in_session_dir(env, id);
	fl_test_env_stop_daemon(env, SIGTERM);
	double_stop(&d);
}

/* the repository holds a committed link, docs -> a directory outside it: the answer meant for
 * docs/RELEASE.md must not land out there; the session fails saying why */
static void
test_http_output_through_link(void)
{
	Double d = {0};
	g_autoptr(FlTestEnv) env = NULL;
	g_autoptr(JsonObject) obj = NULL;
	g_autofree gchar *repo = NULL;
	g_autofree gchar *outside = NULL;
	g_autofree gchar *cmd = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *listing = NULL;
	const gchar *reason;
	guint id;

	double_start(&d);
	env = env_with_writer(&d, "split");
	repo = make_repo(env);
	outside = g_build_filename(env->root, "outside", NULL);
	g_assert_cmpint(g_mkdir_with_parents(outside, 0700), ==, 0);
	cmd = g_strdup_printf("ln -s %s docs && git add docs && git commit -q -m link", outside);
	g_free(fl_test_sh(repo, cmd));
	id = fl_test_run_session(env, repo, "--agent", "writer", "--", "draft release notes", NULL);
	state = fl_test_wait_ended(env, id, WAIT_MS);
	g_assert_cmpstr(state, ==, "failed");
	obj = fl_test_show(env, id);
	reason = json_object_get_string_member(obj, "reason");
	g_assert_nonnull(strstr(reason, "docs/RELEASE.md"));
	g_assert_nonnull(strstr(reason, "symbolic link"));
	listing = fl_test_sh(outside, "ls -A");
	g_assert_cmpstr(listing, ==, "");
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

/* a daemon whose [checkin] webhook is the double's @path, after a check-in that had one
 * draft ("notes") to tell */
static FlTestEnv *
webhook_env_after_checkin(Double *d, const gchar *path)
{
	g_autofree gchar *config = NULL;
	g_autofree gchar *repo = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *text = NULL;
	FlTestEnv *env;
	guint id;

	config = g_strdup_printf("[checkin]\nevery=12h\nwebhook=http://127.0.0.1:%u%s\n", d->port,
				 path);
	env = fl_test_env_new(config);
	fl_test_env_start_daemon(env, NULL);
	repo = make_repo(env);
	id = fl_test_run_session(env, repo, "--name", "notes", "--", "echo v2 >> CHANGES", NULL);
	state = fl_test_wait_ended(env, id, WAIT_MS);
	g_assert_cmpstr(state, ==, "done");
	text = fl_test_cli_ok(env, NULL, "checkin", "--now", NULL);
	g_assert_nonnull(strstr(text, "notes"));
	return env;
}

/* a check-in goes to the webhook too, even with no notification server at all */
static void
test_webhook_checkin(void)
{
	Double d = {0};
	g_autoptr(FlTestEnv) env = NULL;
	g_autofree gchar *log = NULL;
	gint64 deadline;

	double_start(&d);
	env = webhook_env_after_checkin(&d, "/webhook");
	/* the double has no event to wait for: ask it until the POST arrived */
	deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	while (g_get_monotonic_time() < deadline) {
		g_free(log);
		log = double_call(&d, "GET", "/webhook-log");
		if (strstr(log, "notes") != NULL)
			break;
		g_usleep(50000);
	}
	g_assert_nonnull(strstr(log, "Check-in"));
	g_assert_nonnull(strstr(log, "notes"));
	fl_test_env_stop_daemon(env, SIGTERM);
	double_stop(&d);
}

/* a webhook that refuses the digest costs one line in the daemon's log, without the token
 * its path carries */
static void
test_webhook_refused(void)
{
	Double d = {0};
	g_autoptr(FlTestEnv) env = NULL;
	g_autofree gchar *daemon_log_path = NULL;
	g_autofree gchar *daemon_log = NULL;
	g_autofree gchar *line = NULL;
	gint64 deadline;

	double_start(&d);
	env = webhook_env_after_checkin(&d, "/webhook/403/TOKEN-0xdeadbeef");
	/* the daemon's log is a file: read it until the line is there */
	daemon_log_path = g_build_filename(env->root, "flotillad.log", NULL);
	deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	while (g_get_monotonic_time() < deadline) {
		g_clear_pointer(&daemon_log, g_free);
		g_file_get_contents(daemon_log_path, &daemon_log, NULL, NULL);
		if (daemon_log != NULL && strstr(daemon_log, "check-in webhook: ") != NULL)
			break;
		g_usleep(50000);
	}
	g_assert_nonnull(daemon_log);
	line = g_strdup(strstr(daemon_log, "check-in webhook: "));
	g_assert_nonnull(line);
	*strchrnul(line, '\n') = '\0';
	g_test_message("%s", line);
	g_assert_nonnull(strstr(line, "refused the digest: HTTP 403: scripted failure"));
	g_assert_null(strstr(daemon_log, "TOKEN"));
	fl_test_env_stop_daemon(env, SIGTERM);
	double_stop(&d);
}

/* ------------------------------------------------------------------ Claude Code */

typedef struct {
	GSubprocess *proc;
	gchar *requests;
	FlTestEnv *env;
	gchar *repo;
	const gchar *agent_config; /* more [agent claude] keys, set before claude_world_new() */
} ClaudeWorld;

/* the real CLI against tests/doubles/anthropic-double.py replaying @script_template, where
 * WORKTREE stands for the first session's worktree */
static gboolean
claude_world_new(ClaudeWorld *w, const gchar *script_template)
{
	const gchar *claude = g_getenv("FL_CLAUDE");
	g_autoptr(GError) error = NULL;
	g_autofree gchar *double_py =
		g_test_build_filename(G_TEST_DIST, "doubles", "anthropic-double.py", NULL);
	g_autofree gchar *config = NULL;
	g_autofree gchar *script = NULL;
	g_autofree gchar *worktree = NULL;
	g_autofree gchar *base_url = NULL;
	g_autoptr(GString) text = g_string_new(script_template);
	g_autoptr(GDataInputStream) out = NULL;
	g_autofree gchar *line = NULL;

	if (claude == NULL || !g_file_test(claude, G_FILE_TEST_IS_EXECUTABLE)) {
		g_test_skip("the Claude Code CLI is not installed: run tests/setup-claude.sh");
		return FALSE;
	}
	config = g_strdup_printf("[agent claude]\nkind=claude\ncommand=%s\n%s", claude,
				 w->agent_config != NULL ? w->agent_config : "");
	w->env = fl_test_env_new(config);
	w->repo = make_repo(w->env);
	worktree = g_build_filename(w->env->state_dir, "worktrees", "1", NULL);
	g_string_replace(text, "WORKTREE", worktree, 0);
	script = g_build_filename(w->env->root, "script.json", NULL);
	w->requests = g_build_filename(w->env->root, "requests.jsonl", NULL);
	g_file_set_contents(script, text->str, -1, &error);
	g_assert_no_error(error);
	w->proc = g_subprocess_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE,
				   &error, g_getenv("FL_TEST_PYTHON"), double_py, script,
				   w->requests, NULL);
	g_assert_no_error(error);
	out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(w->proc));
	line = g_data_input_stream_read_line(out, NULL, NULL, &error);
	g_assert_no_error(error);
	base_url = g_strdup_printf("http://127.0.0.1:%s", line);
	w->env->envp = g_environ_setenv(w->env->envp, "ANTHROPIC_BASE_URL", base_url, TRUE);
	w->env->envp = g_environ_setenv(w->env->envp, "ANTHROPIC_API_KEY", "dummy", TRUE);
	w->env->envp = g_environ_setenv(w->env->envp, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
					"1", TRUE);
	fl_test_env_start_daemon(w->env, NULL);
	return TRUE;
}

static void
claude_world_free(ClaudeWorld *w)
{
	if (w->proc != NULL) {
		g_subprocess_force_exit(w->proc);
		g_subprocess_wait(w->proc, NULL, NULL);
		g_clear_object(&w->proc);
	}
	g_clear_pointer(&w->env, fl_test_env_free);
	g_free(w->requests);
	g_free(w->repo);
}

#define CLAUDE_WAIT_MS 120000

static void
test_claude_draft(void)
{
	ClaudeWorld w = {0};
	g_autoptr(JsonObject) obj = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *diff = NULL;
	guint id;

	if (!claude_world_new(&w, "[{\"text\": \"Writing.\", \"tool_use\": {\"name\": "
				  "\"Write\", \"input\": {\"file_path\": \"WORKTREE/hello.txt\", "
				  "\"content\": \"hello from claude\\n\"}}}, {\"text\": \"Wrote "
				  "hello.txt\"}]"))
		return;
	id = fl_test_run_session(w.env, w.repo, "--agent", "claude", "--", "say hello in a file",
				 NULL);
	state = fl_test_wait_ended(w.env, id, CLAUDE_WAIT_MS);
	g_assert_cmpstr(state, ==, "done");
	obj = fl_test_show(w.env, id);
	g_assert_cmpstr(json_object_get_string_member(obj, "review"), ==, "pending");
	g_assert_cmpstr(json_object_get_string_member(obj, "final_message"), ==, "Wrote hello.txt");
	g_assert_cmpfloat(json_object_get_double_member(obj, "cost_usd"), >, 0);
	g_assert_cmpint(json_object_get_int_member(obj, "turns"), >=, 2);
	diff = fl_test_cli_ok(w.env, NULL, "diff", "1", NULL);
	g_assert_nonnull(strstr(diff, "+hello from claude"));
	claude_world_free(&w);
}

static void
test_claude_api_error(void)
{
	ClaudeWorld w = {0};
	g_autoptr(JsonObject) obj = NULL;
	g_autofree gchar *state = NULL;
	guint id;

	if (!claude_world_new(&w, "[{\"error\": {\"status\": 400, \"body\": {\"type\": "
				  "\"error\", \"error\": {\"type\": \"invalid_request_error\", "
				  "\"message\": \"scripted bad request\"}}}}]"))
		return;
	id = fl_test_run_session(w.env, w.repo, "--agent", "claude", "--", "fail please", NULL);
	state = fl_test_wait_ended(w.env, id, CLAUDE_WAIT_MS);
	g_assert_cmpstr(state, ==, "failed");
	obj = fl_test_show(w.env, id);
	g_assert_nonnull(strstr(json_object_get_string_member(obj, "reason"), "API Error: 400"));
	claude_world_free(&w);
}

#define CLAUDE_RUNS_A_COMMAND                                                                      \
	"[{\"tool_use\": {\"name\": \"Bash\", \"input\": "                                         \
	"{\"command\": \"python3 -c \\\"open('ran.txt','w')."                                      \
	"write('ran')\\\"\", \"description\": \"write a marker\"}}}, "                             \
	"{\"text\": \"Finished\"}]"

/* confined, Claude runs commands without asking: the session never blocks */
static void
test_claude_confined_acts(void)
{
	ClaudeWorld w = {0};
	g_autoptr(JsonObject) obj = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *diff = NULL;
	g_autofree gchar *events = NULL;
	guint id;

	if (!claude_world_new(&w, CLAUDE_RUNS_A_COMMAND))
		return;
	id = fl_test_run_session(w.env, w.repo, "--agent", "claude", "--", "run the script", NULL);
	state = fl_test_wait_ended(w.env, id, CLAUDE_WAIT_MS);
	g_assert_cmpstr(state, ==, "done");
	diff = fl_test_cli_ok(w.env, NULL, "diff", "1", NULL);
	g_assert_nonnull(strstr(diff, "ran.txt"));
	obj = fl_test_show(w.env, id);
	g_assert_cmpstr(json_object_get_string_member(obj, "final_message"), ==, "Finished");
	events = fl_test_cli_ok(w.env, NULL, "show", "1", NULL);
	g_assert_null(strstr(events, "blocked"));
	claude_world_free(&w);
}

/* confined, Claude commits on its draft branch as usual: the commit is in the draft */
static void
test_claude_confined_commits(void)
{
	ClaudeWorld w = {0};
	g_autofree gchar *state = NULL;
	g_autofree gchar *log = NULL;
	g_autofree gchar *diff = NULL;
	guint id;

	if (!claude_world_new(&w, "[{\"tool_use\": {\"name\": \"Bash\", \"input\": "
				  "{\"command\": \"echo hi > hi.txt && git add hi.txt && git "
				  "commit -q -m 'commit by claude'\", \"description\": "
				  "\"commit\"}}}, {\"text\": \"Committed\"}]"))
		return;
	id = fl_test_run_session(w.env, w.repo, "--agent", "claude", "--", "commit a file", NULL);
	state = fl_test_wait_ended(w.env, id, CLAUDE_WAIT_MS);
	g_assert_cmpstr(state, ==, "done");
	log = fl_test_sh(w.repo, "git log --format=%s main..flotilla/1");
	g_assert_nonnull(strstr(log, "commit by claude"));
	diff = fl_test_cli_ok(w.env, NULL, "diff", "1", NULL);
	g_assert_nonnull(strstr(diff, "+hi"));
	claude_world_free(&w);
}

/* with permission-mode=acceptEdits, a permission request blocks the session until the user
 * allows it */
static void
test_claude_permission(void)
{
	ClaudeWorld w = {.agent_config = "permission-mode=acceptEdits\n"};
	g_autoptr(JsonObject) blocked = NULL;
	g_autoptr(JsonObject) obj = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *diff = NULL;
	g_autofree gchar *status = NULL;
	guint id;

	if (!claude_world_new(&w, CLAUDE_RUNS_A_COMMAND))
		return;
	id = fl_test_run_session(w.env, w.repo, "--agent", "claude", "--", "run the script", NULL);
	g_assert_true(fl_test_wait_state(w.env, id, "blocked", CLAUDE_WAIT_MS));
	blocked = fl_test_show(w.env, id);
	g_assert_nonnull(strstr(json_object_get_string_member(blocked, "waiting_for"), "python3"));
	status = fl_test_cli_ok(w.env, NULL, "approve", "1", NULL);
	g_assert_nonnull(strstr(status, "allowed"));
	state = fl_test_wait_ended(w.env, id, CLAUDE_WAIT_MS);
	g_assert_cmpstr(state, ==, "done");
	diff = fl_test_cli_ok(w.env, NULL, "diff", "1", NULL);
	g_assert_nonnull(strstr(diff, "ran.txt"));
	obj = fl_test_show(w.env, id);
	g_assert_cmpstr(json_object_get_string_member(obj, "final_message"), ==, "Finished");
	claude_world_free(&w);
}

/* a reply to a finished session resumes the conversation */
static void
test_claude_reply_resumes(void)
{
	ClaudeWorld w = {0};
	g_autoptr(JsonObject) first = NULL;
	g_autoptr(JsonObject) second = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *state2 = NULL;
	g_autofree gchar *requests = NULL;
	guint id;

	if (!claude_world_new(&w, "[{\"text\": \"Which colour should the shed be?\"}, "
				  "{\"text\": \"Blue it is.\"}]"))
		return;
	id = fl_test_run_session(w.env, w.repo, "--agent", "claude", "--", "paint the shed", NULL);
	state = fl_test_wait_ended(w.env, id, CLAUDE_WAIT_MS);
	g_assert_cmpstr(state, ==, "done");
	first = fl_test_show(w.env, id);
	g_assert_cmpstr(json_object_get_string_member(first, "final_message"), ==,
			"Which colour should the shed be?");
	g_free(fl_test_cli_ok(w.env, NULL, "reply", "1", "blue", NULL));
	g_assert_true(fl_test_wait_state(w.env, id, "running", CLAUDE_WAIT_MS));
	state2 = fl_test_wait_ended(w.env, id, CLAUDE_WAIT_MS);
	g_assert_cmpstr(state2, ==, "done");
	second = fl_test_show(w.env, id);
	g_assert_cmpstr(json_object_get_string_member(second, "final_message"), ==, "Blue it is.");
	/* the model saw the earlier exchange and the reply */
	g_file_get_contents(w.requests, &requests, NULL, NULL);
	g_assert_nonnull(strstr(requests, "Which colour should the shed be?"));
	g_assert_nonnull(strstr(requests, "blue"));
	claude_world_free(&w);
}

/* ------------------------------------------------------------------ Codex and aider */

/* recorded runs replayed by stand-ins of the real CLIs (tests/doubles/fake-*.sh) */
static FlTestEnv *
env_with_recorded_agents(void)
{
	g_autofree gchar *codex =
		g_test_build_filename(G_TEST_DIST, "doubles", "fake-codex.sh", NULL);
	g_autofree gchar *aider =
		g_test_build_filename(G_TEST_DIST, "doubles", "fake-aider.sh", NULL);
	g_autofree gchar *config = g_strdup_printf(
		"[agent codex]\nkind=codex\ncommand='%s'\n[agent aider]\ncommand='%s' --message "
		"{goal} --yes-always\n",
		codex, aider);
	FlTestEnv *env = fl_test_env_new(config);

	fl_test_env_start_daemon(env, NULL);
	return env;
}

static void
test_codex_and_aider(void)
{
	g_autoptr(FlTestEnv) env = env_with_recorded_agents();
	g_autofree gchar *repo = make_repo(env);
	g_autoptr(JsonObject) codex = NULL;
	g_autoptr(JsonObject) resumed = NULL;
	g_autoptr(JsonObject) aider = NULL;
	g_autofree gchar *s1 = NULL;
	g_autofree gchar *s2 = NULL;
	g_autofree gchar *s3 = NULL;
	g_autofree gchar *diff = NULL;
	g_autofree gchar *diff2 = NULL;
	g_autofree gchar *diff3 = NULL;
	guint c, a;

	c = fl_test_run_session(env, repo, "--agent", "codex", "--", "fix the flaky test", NULL);
	s1 = fl_test_wait_ended(env, c, WAIT_MS);
	g_assert_cmpstr(s1, ==, "done");
	codex = fl_test_show(env, c);
	g_assert_cmpstr(json_object_get_string_member(codex, "review"), ==, "pending");
	g_assert_nonnull(json_object_get_string_member(codex, "final_message"));
	g_assert_cmpint(json_object_get_int_member(codex, "turns"), >=, 1);
	diff = fl_test_cli_ok(env, NULL, "diff", "1", NULL);
	g_assert_nonnull(strstr(diff, "+codex: fix the flaky test"));

	/* reply resumes the Codex thread in the same worktree */
	g_free(fl_test_cli_ok(env, NULL, "reply", "1", "also the docs", NULL));
	g_assert_true(fl_test_wait_state(env, c, "running", WAIT_MS) ||
		      fl_test_wait_state(env, c, "done", WAIT_MS));
	s2 = fl_test_wait_ended(env, c, WAIT_MS);
	g_assert_cmpstr(s2, ==, "done");
	diff2 = fl_test_cli_ok(env, NULL, "diff", "1", NULL);
	g_assert_nonnull(strstr(diff2, "+reply: also the docs"));

	a = fl_test_run_session(env, repo, "--agent", "aider", "--", "update the changelog", NULL);
	s3 = fl_test_wait_ended(env, a, WAIT_MS);
	g_assert_cmpstr(s3, ==, "done");
	aider = fl_test_show(env, a);
	g_assert_cmpstr(json_object_get_string_member(aider, "review"), ==, "pending");
	diff3 = fl_test_cli_ok(env, NULL, "diff", "2", NULL);
	g_assert_nonnull(strstr(diff3, "+aider: update the changelog"));
}

static void
test_codex_failure(void)
{
	g_autoptr(FlTestEnv) env = NULL;
	g_autofree gchar *repo = NULL;
	g_autoptr(JsonObject) obj = NULL;
	g_autofree gchar *state = NULL;
	guint id;

	env = fl_test_env_new(NULL);
	{
		g_autofree gchar *codex =
			g_test_build_filename(G_TEST_DIST, "doubles", "fake-codex.sh", NULL);
		g_autofree gchar *config =
			g_strdup_printf("[agent codex]\nkind=codex\ncommand='%s'\n", codex);
		fl_test_env_write_config(env, config);
	}
	env->envp = g_environ_setenv(env->envp, "FAKE_CODEX_SCRIPT", "codex-failed.jsonl", TRUE);
	fl_test_env_start_daemon(env, NULL);
	repo = make_repo(env);
	id = fl_test_run_session(env, repo, "--agent", "codex", "--", "break", NULL);
	state = fl_test_wait_ended(env, id, WAIT_MS);
	g_assert_cmpstr(state, ==, "failed");
	obj = fl_test_show(env, id);
	g_assert_nonnull(json_object_get_string_member(obj, "reason"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/agents/http-draft", test_http_draft);
	g_test_add_func("/agents/http-failures", test_http_failures);
	g_test_add_func("/agents/http-output-through-link", test_http_output_through_link);
	g_test_add_func("/agents/http-survives-restart", test_http_survives_restart);
	g_test_add_func("/agents/webhook-checkin", test_webhook_checkin);
	g_test_add_func("/agents/webhook-refused", test_webhook_refused);
	g_test_add_func("/agents/codex-and-aider", test_codex_and_aider);
	g_test_add_func("/agents/codex-failure", test_codex_failure);
	g_test_add_func("/agents/claude-draft", test_claude_draft);
	g_test_add_func("/agents/claude-api-error", test_claude_api_error);
	g_test_add_func("/agents/claude-permission", test_claude_permission);
	g_test_add_func("/agents/claude-confined-acts", test_claude_confined_acts);
	g_test_add_func("/agents/claude-confined-commits", test_claude_confined_commits);
	g_test_add_func("/agents/claude-reply-resumes", test_claude_reply_resumes);
	return g_test_run();
}
