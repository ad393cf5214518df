/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "fl-agent.h"
#include "fl-config.h"
#include "fl-msg.h"
#include "fl-test-harness.h"
#include "fl-util.h"

/*
 * kind=gemini (src/fl-agent-gemini.c): its argv, its outcome read from runs recorded from the
 * real CLI (tests/doubles/gemini-*.jsonl), and whole sessions of the real CLI from npm
 * (tests/setup-gemini.sh, env FL_GEMINI) run by the real daemon against a loopback Gemini API
 * double (tests/doubles/gemini-double.py): the draft, the cost, a resume after a reply and an
 * API error.
 */

#define GEMINI_WAIT_MS 120000

static gchar *
fixture_path(const gchar *name)
{
	return g_test_build_filename(G_TEST_DIST, "doubles", name, NULL);
}

/* the class as a session calls it, with a session directory of its own */
typedef struct {
	gchar *dir;
	FlConfig *config;
	FlSessionData *data;
	FlAgentRun run;
} Kind;

static Kind *
kind_new(const gchar *config_text)
{
	Kind *k = g_new0(Kind, 1);
	g_autoptr(GError) error = NULL;

	k->dir = fl_test_mkdtemp();
	if (config_text != NULL) {
		g_autofree gchar *path = g_build_filename(k->dir, "flotilla.conf", NULL);
		g_assert_true(g_file_set_contents(path, config_text, -1, NULL));
		k->config = fl_config_load(path, &error);
		g_assert_no_error(error);
	} else {
		k->config = fl_config_new_default();
	}
	k->data = fl_session_data_new();
	k->data->id = 1;
	k->data->goal = g_strdup("-rf write notes");
	k->run = (FlAgentRun){
		.data = k->data,
		.agent = fl_config_get_agent(k->config, "gemini"),
		.config = k->config,
		.session_dir = k->dir,
		.cli_path = "flotilla",
	};
	g_assert_nonnull(k->run.agent);
	g_assert_cmpstr(k->run.agent->klass->kind, ==, "gemini");
	return k;
}

static void
kind_free(Kind *k)
{
	fl_test_rm_rf(k->dir);
	g_free(k->dir);
	fl_config_free(k->config);
	fl_session_data_free(k->data);
	g_free(k);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Kind, kind_free)

static void
kind_set_log(Kind *k, const gchar *text)
{
	g_autofree gchar *log = g_build_filename(k->dir, "output.log", NULL);

	g_assert_true(g_file_set_contents(log, text, -1, NULL));
}

static void
kind_set_log_fixture(Kind *k, const gchar *name)
{
	g_autofree gchar *path = fixture_path(name);
	g_autofree gchar *text = NULL;

	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	kind_set_log(k, text);
}

/* ------------------------------------------------------------------ argv */

static gboolean
strv_has_prefix_arg(gchar **argv, const gchar *prefix)
{
	for (guint i = 0; argv[i] != NULL; i++) {
		if (g_str_has_prefix(argv[i], prefix))
			return TRUE;
	}
	return FALSE;
}

/* the goal is one --prompt= element (never an option), the session id is chosen up front and
 * a resume names it */
static void
test_argv(void)
{
	g_autoptr(Kind) k = kind_new(NULL);
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) argv = k->run.agent->klass->build_argv(&k->run, &error);
	g_auto(GStrv) resume = NULL;
	g_autofree gchar *joined = NULL;
	guint n;

	g_assert_no_error(error);
	n = g_strv_length(argv);
	g_assert_cmpstr(argv[0], ==, "gemini");
	g_assert_cmpstr(argv[n - 1], ==, "--prompt=-rf write notes");
	g_assert_nonnull(k->data->agent_session);
	g_assert_true(g_uuid_string_is_valid(k->data->agent_session));
	g_assert_cmpstr(argv[n - 2], ==, k->data->agent_session);
	g_assert_cmpstr(argv[n - 3], ==, "--session-id");
	joined = g_strjoinv(" ", argv);
	g_assert_nonnull(strstr(joined, "--output-format stream-json"));
	g_assert_nonnull(strstr(joined, "--approval-mode auto_edit"));
	g_assert_nonnull(strstr(joined, "--skip-trust"));

	k->run.resume_reply = "--yolo; rm -rf ~";
	resume = k->run.agent->klass->build_argv(&k->run, &error);
	n = g_strv_length(resume);
	g_assert_cmpstr(resume[n - 3], ==, "--resume");
	g_assert_cmpstr(resume[n - 2], ==, k->data->agent_session);
	g_assert_cmpstr(resume[n - 1], ==, "--prompt=--yolo; rm -rf ~");
}

/* a command= of the user's that decides on approvals is not overridden */
static void
test_argv_user_approval(void)
{
	g_autoptr(Kind) k = kind_new("[agent gemini]\nkind=gemini\ncommand=gemini --yolo -m m\n");
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) argv = k->run.agent->klass->build_argv(&k->run, &error);

	g_assert_no_error(error);
	g_assert_cmpstr(argv[1], ==, "--yolo");
	g_assert_false(strv_has_prefix_arg(argv, "--approval-mode"));
}

/* ------------------------------------------------------------------ recorded runs */

/* a run with a tool call, then a resumed one, with the CLI's stderr in between */
static void
test_recorded(void)
{
	g_autoptr(Kind) k = kind_new("[agent gemini]\nkind=gemini\n"
				     "[prices]\ngemini-2.5-pro=1.25;10\n");
	FlState state = FL_STATE_DONE;

	kind_set_log_fixture(k, "gemini-recorded.jsonl");
	k->run.agent->klass->read_outcome(&k->run, &state);
	g_assert_cmpint(state, ==, FL_STATE_DONE);
	/* the last answer, not the words before the tool call */
	g_assert_cmpstr(k->data->final_message, ==, "Resumed: blue it is.");
	g_assert_null(k->data->reason);
	/* model output before the tool result, after it, and the resumed answer */
	g_assert_cmpuint(k->data->turns, ==, 3);
	/* each run reports its own tokens: (2000 + 1000) × 1.25 + (100 + 50) × 10 per million */
	g_assert_cmpfloat_with_epsilon(k->data->cost_usd, 0.00525, 1e-12);
}

/* without a price for its model the cost stays unknown, not zero */
static void
test_recorded_no_price(void)
{
	g_autoptr(Kind) k = kind_new(NULL);
	FlState state = FL_STATE_DONE;

	kind_set_log_fixture(k, "gemini-recorded.jsonl");
	k->run.agent->klass->read_outcome(&k->run, &state);
	g_assert_cmpint(state, ==, FL_STATE_DONE);
	g_assert_cmpfloat(k->data->cost_usd, <, 0);
}

/* an API error fails the session with the API's own words */
static void
test_recorded_failed(void)
{
	g_autoptr(Kind) k = kind_new(NULL);
	FlState state = FL_STATE_FAILED;

	kind_set_log_fixture(k, "gemini-failed.jsonl");
	k->run.agent->klass->read_outcome(&k->run, &state);
	g_assert_cmpint(state, ==, FL_STATE_FAILED);
	{
		g_autofree gchar *reason = fl_msg_render_stored(k->data->reason);
		g_assert_cmpstr(reason, ==, "API key not valid. Please pass a valid API key.");
	}
}

/* what a successful exit status cannot hide: no result, garbage; a cancel stays a cancel */
static void
test_broken_output(void)
{
	struct {
		const gchar *log;
		FlState before;
		FlState after;
		const gchar *reason;
	} cases[] = {
		{"{\"type\":\"init\",\"session_id\":\"s\"}\nKilled\n", FL_STATE_DONE,
		 FL_STATE_FAILED, "Gemini ended without a result (last output: Killed)"},
		{"{\"type\":\"init\"}\n{\"type\":\"error\",\"severity\":\"error\",\"message\":"
		 "\"quota exceeded\"}\n",
		 FL_STATE_DONE, FL_STATE_FAILED,
		 "Gemini ended without a result (last output: quota exceeded)"},
		{"{\"type\":\"init\"}\n{\"type\":\"result\",\"status\":\"success\"\n",
		 FL_STATE_DONE, FL_STATE_FAILED, NULL},
		{"{\"type\":\"result\",\"status\":\"error\",\"error\":{\"message\":\"boom\"}}\n",
		 FL_STATE_CANCELLED, FL_STATE_CANCELLED, NULL},
		{"", FL_STATE_DONE, FL_STATE_FAILED, "Gemini ended without a result"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(Kind) k = kind_new(NULL);
		FlState state = cases[i].before;
		g_autofree gchar *reason = NULL;

		kind_set_log(k, cases[i].log);
		k->run.agent->klass->read_outcome(&k->run, &state);
		g_assert_cmpint(state, ==, cases[i].after);
		reason = fl_msg_render_stored(k->data->reason);
		if (cases[i].reason != NULL)
			g_assert_cmpstr(reason, ==, cases[i].reason);
		else if (cases[i].after == FL_STATE_FAILED)
			g_assert_true(g_str_has_prefix(reason, "Gemini's output: "));
	}
}

/* live progress: turns while it runs, from the log in pieces of any size */
static void
test_live(void)
{
	g_autoptr(Kind) k = kind_new(NULL);
	const FlAgentClass *klass = k->run.agent->klass;
	g_autofree gchar *path = fixture_path("gemini-recorded.jsonl");
	g_autofree gchar *text = NULL;
	gsize len;
	gpointer live;
	guint changes = 0;

	g_assert_true(g_file_get_contents(path, &text, &len, NULL));
	live = klass->live_new();
	for (gsize at = 0; at < len; at += 7) {
		gboolean changed = FALSE;
		g_assert_true(
			klass->live_feed(live, text + at, MIN(7, len - at), k->data, &changed));
		if (changed)
			changes++;
	}
	klass->live_free(live);
	g_assert_cmpuint(k->data->turns, ==, 3);
	g_assert_cmpuint(changes, ==, 3);
}

/* ------------------------------------------------------------------ the real CLI */

typedef struct {
	FlTestEnv *env;
	gchar *repo;
	gchar *requests;
	GSubprocess *double_proc;
} Gemini;

static const gchar *
gemini_binary(void)
{
	const gchar *path = g_getenv("FL_GEMINI");

	if (path == NULL || path[0] == '\0' || !g_file_test(path, G_FILE_TEST_IS_EXECUTABLE))
		return NULL;
	return path;
}

static gboolean
gemini_skip(void)
{
	if (gemini_binary() != NULL)
		return FALSE;
	g_test_skip("FL_GEMINI does not name the Gemini CLI: run tests/setup-gemini.sh BUILDDIR "
		    "and set FL_GEMINI to the path it prints");
	return TRUE;
}

static void
gemini_free(Gemini *g)
{
	g_autoptr(GError) error = NULL;

	if (g->double_proc != NULL) {
		/* the double exits when its stdin closes */
		g_output_stream_close(g_subprocess_get_stdin_pipe(g->double_proc), NULL, NULL);
		g_subprocess_wait(g->double_proc, NULL, &error);
		g_assert_no_error(error);
		g_object_unref(g->double_proc);
	}
	fl_test_env_free(g->env);
	g_free(g->repo);
	g_free(g->requests);
	g_free(g);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Gemini, gemini_free)

/* the double with @script, the daemon with a gemini agent pointed at it, a repository */
static Gemini *
gemini_new(const gchar *script)
{
	Gemini *g = g_new0(Gemini, 1);
	g_autoptr(GError) error = NULL;
	g_autoptr(GDataInputStream) stdout_data = NULL;
	g_autofree gchar *double_py = fixture_path("gemini-double.py");
	g_autofree gchar *script_path = NULL;
	g_autofree gchar *line = NULL;
	g_autofree gchar *config = NULL;
	g_autofree gchar *settings_dir = NULL;
	g_autofree gchar *settings = NULL;
	g_autofree gchar *out = NULL;
	guint64 port;

	g->env = fl_test_env_new(NULL);
	g->repo = g_build_filename(g->env->root, "repo", NULL);
	g->requests = g_build_filename(g->env->root, "requests.jsonl", NULL);
	script_path = g_build_filename(g->env->root, "script.json", NULL);
	g_assert_true(g_file_set_contents(script_path, script, -1, NULL));
	g->double_proc = g_subprocess_new(
		G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error,
		"/usr/bin/python3", double_py, script_path, g->requests, NULL);
	g_assert_no_error(error);
	stdout_data = g_data_input_stream_new(g_subprocess_get_stdout_pipe(g->double_proc));
	line = g_data_input_stream_read_line(stdout_data, NULL, NULL, &error);
	g_assert_no_error(error);
	g_assert_true(g_ascii_string_to_unsigned(line, 10, 1, 65535, &port, &error));

	/* the key goes to the CLI, never anywhere flotilla shows; an explicit model skips the
	 * CLI's routing side query */
	config = g_strdup_printf("[agent gemini]\nkind=gemini\ncommand=%s -m gemini-2.5-pro\n"
				 "env=GEMINI_API_KEY=test-key;GOOGLE_GEMINI_BASE_URL=http://"
				 "127.0.0.1:%u\n"
				 "[prices]\ngemini-2.5-pro=1.25;10\n",
				 gemini_binary(), (guint)port);
	fl_test_env_write_config(g->env, config);
	/* an API key, not a Google login: 0.61.0 otherwise takes a base URL for a gateway it
	 * then refuses */
	settings_dir = g_build_filename(g->env->home, ".gemini", NULL);
	settings = g_build_filename(settings_dir, "settings.json", NULL);
	g_assert_cmpint(g_mkdir_with_parents(settings_dir, 0700), ==, 0);
	g_assert_true(g_file_set_contents(
		settings, "{\"security\":{\"auth\":{\"selectedType\":\"gemini-api-key\"}}}", -1,
		NULL));
	g_assert_cmpint(g_mkdir_with_parents(g->repo, 0700), ==, 0);
	out = fl_test_sh(g->repo, "git init -q -b main && git config user.email t@example.com && "
				  "git config user.name Test && echo base > README && "
				  "git add README && git commit -q -m base");
	fl_test_env_start_daemon(g->env, NULL);
	return g;
}

/* the conversation requests the double answered, as their bodies */
static guint
gemini_count_requests(Gemini *g)
{
	g_autofree gchar *text = NULL;
	g_auto(GStrv) lines = NULL;
	guint n = 0;

	if (!g_file_get_contents(g->requests, &text, NULL, NULL))
		return 0;
	lines = g_strsplit(text, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		if (strstr(lines[i], ":streamGenerateContent") != NULL)
			n++;
	}
	return n;
}

static void
assert_ended(Gemini *g, guint id, const gchar *state)
{
	g_autofree gchar *ended = fl_test_wait_ended(g->env, id, GEMINI_WAIT_MS);

	if (g_strcmp0(ended, state) != 0) {
		g_autofree gchar *log = fl_test_cli_ok(g->env, NULL, "log", "1", NULL);
		g_printerr("session log:\n%s\n", log);
	}
	g_assert_cmpstr(ended, ==, state);
}

static const gchar write_script[] =
	"[{\"text\": \"I will write it.\", \"call\": {\"name\": \"write_file\", \"args\": "
	"{\"file_path\": \"NOTES.md\", \"content\": \"hello\\n\"}}},"
	" {\"text\": \"Wrote NOTES.md.\"},"
	" {\"text\": \"Resumed: blue it is.\"}]";

/*
 * A whole session: the CLI edits the worktree, the draft has the file, the answer, the turns
 * and the cost come from its output; a reply resumes the same conversation.
 */
static void
test_cli_session(void)
{
	g_autoptr(Gemini) g = NULL;
	g_autoptr(JsonObject) show = NULL;
	g_autoptr(JsonObject) resumed = NULL;
	g_autofree gchar *out = NULL;
	guint id;

	if (gemini_skip())
		return;
	g = gemini_new(write_script);
	id = fl_test_run_session(g->env, g->repo, "--agent", "gemini", "--", "-rf write notes",
				 NULL);
	assert_ended(g, id, "done");
	show = fl_test_show(g->env, id);
	g_assert_cmpstr(json_object_get_string_member(show, "final_message"), ==,
			"Wrote NOTES.md.");
	g_assert_cmpstr(json_object_get_string_member(show, "review"), ==, "pending");
	g_assert_nonnull(strstr(json_object_get_string_member(show, "diffstat"), "1 file"));
	g_assert_cmpint(json_object_get_int_member(show, "turns"), ==, 2);
	g_assert_cmpfloat_with_epsilon(json_object_get_double_member(show, "cost_usd"), 0.0035,
				       1e-9);
	g_assert_cmpuint(gemini_count_requests(g), ==, 2);
	/* the key reached the CLI through its environment, and nowhere flotilla shows */
	out = fl_test_cli_ok(g->env, NULL, "log", "1", NULL);
	g_assert_null(strstr(out, "test-key"));

	fl_test_cli_ok(g->env, NULL, "reply", "1", "blue", NULL);
	assert_ended(g, id, "done");
	resumed = fl_test_show(g->env, id);
	g_assert_cmpstr(json_object_get_string_member(resumed, "final_message"), ==,
			"Resumed: blue it is.");
	/* the same conversation: the third request carried the first two answers */
	g_assert_cmpuint(gemini_count_requests(g), ==, 3);
	g_assert_cmpint(json_object_get_int_member(resumed, "turns"), ==, 3);
}

/* an API error: the session fails with the API's words, although the CLI printed JSON */
static void
test_cli_api_error(void)
{
	g_autoptr(Gemini) g = NULL;
	g_autoptr(JsonObject) show = NULL;
	guint id;

	if (gemini_skip())
		return;
	g = gemini_new("[{\"error\": {\"status\": 400, \"message\": "
		       "\"API key not valid. Please pass a valid API key.\"}}]");
	id = fl_test_run_session(g->env, g->repo, "--agent", "gemini", "--", "fix it", NULL);
	assert_ended(g, id, "failed");
	show = fl_test_show(g->env, id);
	g_assert_cmpstr(json_object_get_string_member(show, "reason"), ==,
			"API key not valid. Please pass a valid API key.");
}

int
main(int argc, char *argv[])
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/gemini/argv", test_argv);
	g_test_add_func("/gemini/argv-user-approval", test_argv_user_approval);
	g_test_add_func("/gemini/recorded", test_recorded);
	g_test_add_func("/gemini/recorded-no-price", test_recorded_no_price);
	g_test_add_func("/gemini/recorded-failed", test_recorded_failed);
	g_test_add_func("/gemini/broken-output", test_broken_output);
	g_test_add_func("/gemini/live", test_live);
	g_test_add_func("/gemini/cli-session", test_cli_session);
	g_test_add_func("/gemini/cli-api-error", test_cli_api_error);
	return g_test_run();
}
