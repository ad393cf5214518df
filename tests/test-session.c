/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "fl-agent.h"
#include "fl-config.h"
#include "fl-error.h"
#include "fl-msg.h"
#include "fl-proc.h"
#include "fl-session.h"
#include "fl-util.h"

/*
 * A session's lifecycle (src/fl-session.c) driven by a fake agent kind that
 * exists only here: the real flotilla-runner runs `sh -c GOAL`, and the fake
 * reads its outcome from lines the goal prints. No daemon, no store, no git:
 * what a session does on its own.
 *
 * The fake's output protocol, one line each:
 *   fake: turn          one more turn (live progress)
 *   fake: final=TEXT    the final message
 *   fake: fail=REASON   failed although the exit status was 0
 *   fake: session=ID    a conversation that can be resumed
 * A resumed run gets the user's reply as $1.
 */

#define WAIT_MS 20000

typedef struct {
	guint turns;
	gchar *final;
	gchar *fail;
	gchar *session;
} FakeOutcome;

static void
fake_outcome_clear(FakeOutcome *o)
{
	g_free(o->final);
	g_free(o->fail);
	g_free(o->session);
}

static void
fake_parse_line(FakeOutcome *o, const gchar *line)
{
	if (g_str_equal(line, "fake: turn")) {
		o->turns++;
	} else if (g_str_has_prefix(line, "fake: final=")) {
		g_free(o->final);
		o->final = g_strdup(line + strlen("fake: final="));
	} else if (g_str_has_prefix(line, "fake: fail=")) {
		g_free(o->fail);
		o->fail = g_strdup(line + strlen("fake: fail="));
	} else if (g_str_has_prefix(line, "fake: session=")) {
		g_free(o->session);
		o->session = g_strdup(line + strlen("fake: session="));
	}
}

static gchar **
fake_build_argv(const FlAgentRun *run, GError **error)
{
	const gchar *argv[] = {"sh",
			       "-c",
			       run->data->goal,
			       "fake",
			       run->resume_reply != NULL ? run->resume_reply : "",
			       NULL};

	if (g_str_has_prefix(run->data->goal, "refuse")) {
		g_set_error_literal(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT,
				    "the fake refuses this goal");
		return NULL;
	}
	return g_strdupv((gchar **)argv);
}

typedef struct {
	GString *line;
	FakeOutcome outcome;
} FakeLive;

static gpointer
fake_live_new(void)
{
	FakeLive *live = g_new0(FakeLive, 1);

	live->line = g_string_new(NULL);
	return live;
}

static void
fake_live_free(gpointer data)
{
	FakeLive *live = data;

	g_string_free(live->line, TRUE);
	fake_outcome_clear(&live->outcome);
	g_free(live);
}

static gboolean
fake_live_feed(gpointer data, const gchar *buf, gsize len, FlSessionData *d, gboolean *changed)
{
	FakeLive *live = data;

	for (gsize i = 0; i < len; i++) {
		if (buf[i] != '\n') {
			g_string_append_c(live->line, buf[i]);
			continue;
		}
		fake_parse_line(&live->outcome, live->line->str);
		g_string_truncate(live->line, 0);
	}
	if (live->outcome.turns != d->turns) {
		d->turns = live->outcome.turns;
		*changed = TRUE;
	}
	return TRUE;
}

static void
fake_read_outcome(const FlAgentRun *run, FlState *end_state)
{
	g_autofree gchar *log = fl_agent_run_file(run, "output.log");
	g_autofree gchar *text = NULL;
	g_auto(GStrv) lines = NULL;
	FakeOutcome o = {0};

	if (!g_file_get_contents(log, &text, NULL, NULL))
		return;
	lines = g_strsplit(text, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++)
		fake_parse_line(&o, lines[i]);
	run->data->turns = o.turns;
	fl_agent_set_final_message(run->data, o.final);
	if (o.session != NULL) {
		g_free(run->data->agent_session);
		run->data->agent_session = g_strdup(o.session);
	}
	if (o.fail != NULL && *end_state == FL_STATE_DONE) {
		*end_state = FL_STATE_FAILED;
		g_free(run->data->reason);
		run->data->reason = g_strdup(o.fail);
	}
	fake_outcome_clear(&o);
}

static const FlAgentPreset fake_presets[] = {{"fake", NULL}, {NULL, NULL}};

static const FlAgentClass fake_class = {
	.kind = "fake",
	.presets = fake_presets,
	.build_argv = fake_build_argv,
	.live_new = fake_live_new,
	.live_feed = fake_live_feed,
	.live_free = fake_live_free,
	.read_outcome = fake_read_outcome,
};

/* ------------------------------------------------------------------ fixture */

typedef struct {
	gchar *state_dir;
	FlConfig *config;
	FlSessionEnv env;
	GPtrArray *states; /* (element-type utf8) the state at every "changed" */
	gboolean ended;
	guint max_turns_seen;
} Fixture;

static void
fixture_set_up(Fixture *f, gconstpointer user_data)
{
	f->state_dir = g_dir_make_tmp("flotilla-test-session-XXXXXX", NULL);
	g_assert_nonnull(f->state_dir);
	f->config = fl_config_new_default();
	f->config->cancel_grace = 2;
	f->env = (FlSessionEnv){
		.config = f->config,
		.state_dir = f->state_dir,
		.runner_path = g_getenv("FLOTILLA_RUNNER"),
		.http_path = g_getenv("FLOTILLA_HTTP"),
	};
	g_assert_nonnull(f->env.runner_path);
	f->states = g_ptr_array_new_with_free_func(g_free);
}

static void
fixture_tear_down(Fixture *f, gconstpointer user_data)
{
	const gchar *argv[] = {"rm", "-rf", f->state_dir, NULL};

	g_assert_true(g_spawn_sync(NULL, (gchar **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
				   NULL, NULL, NULL, NULL));
	fl_config_free(f->config);
	g_free(f->state_dir);
	g_ptr_array_unref(f->states);
}

static void
changed_cb(FlSession *session, gpointer user_data)
{
	Fixture *f = user_data;
	FlSessionData *d = fl_session_get_data(session);

	g_ptr_array_add(f->states, g_strdup(fl_state_to_string(d->state)));
	f->max_turns_seen = MAX(f->max_turns_seen, d->turns);
}

static void
ended_cb(FlSession *session, gpointer user_data)
{
	Fixture *f = user_data;

	f->ended = TRUE;
}

static FlSession *
session_new(Fixture *f, guint id, const gchar *goal)
{
	FlSessionData *d = fl_session_data_new();
	FlSession *session;

	d->id = id;
	d->goal = g_strdup(goal);
	d->agent = g_strdup("fake");
	d->state = FL_STATE_QUEUED;
	session = fl_session_new(d, &f->env);
	g_signal_connect(session, "changed", G_CALLBACK(changed_cb), f);
	g_signal_connect(session, "ended", G_CALLBACK(ended_cb), f);
	return session;
}

static gboolean
timeout_cb(gpointer user_data)
{
	gboolean *timed_out = user_data;

	*timed_out = TRUE;
	return G_SOURCE_REMOVE;
}

/* runs the main loop until *@flag, failing the test after WAIT_MS */
static void
await_flag(const gboolean *flag, const gchar *what)
{
	gboolean timed_out = FALSE;
	guint id = g_timeout_add(WAIT_MS, timeout_cb, &timed_out);

	while (!*flag && !timed_out)
		g_main_context_iteration(NULL, TRUE);
	if (timed_out)
		g_error("timed out waiting for %s", what);
	g_source_remove(id);
}

static void
await_ended(Fixture *f)
{
	await_flag(&f->ended, "the session to end");
}

static void
await_turns(Fixture *f, guint turns)
{
	gboolean timed_out = FALSE;
	guint id = g_timeout_add(WAIT_MS, timeout_cb, &timed_out);

	while (f->max_turns_seen < turns && !timed_out && !f->ended)
		g_main_context_iteration(NULL, TRUE);
	if (timed_out)
		g_error("timed out waiting for turn %u", turns);
	g_assert_false(f->ended);
	g_source_remove(id);
}

static gchar *
session_file(Fixture *f, guint id, const gchar *name)
{
	g_autofree gchar *dir = fl_session_data_dir(f->state_dir, id);

	return g_build_filename(dir, name, NULL);
}

/* ------------------------------------------------------------------ tests */

/* queued → running → done: the outcome comes from the agent's own output */
static void
test_session_done(Fixture *f, gconstpointer user_data)
{
	g_autoptr(FlSession) session =
		session_new(f, 1, "echo 'fake: turn'; echo 'fake: final=all good'; exit 0");
	FlSessionData *d = fl_session_get_data(session);

	fl_session_start(session);
	/* recorded as running before anything runs: a crash then is never a rerun */
	g_assert_cmpuint(f->states->len, >=, 1);
	g_assert_cmpstr(g_ptr_array_index(f->states, 0), ==, "running");
	await_ended(f);
	g_assert_cmpint(d->state, ==, FL_STATE_DONE);
	g_assert_cmpstr(d->final_message, ==, "all good");
	g_assert_true(d->has_exit);
	g_assert_cmpint(d->exit_code, ==, 0);
	g_assert_cmpuint(d->turns, ==, 1);
	g_assert_null(d->reason);
	g_assert_cmpint(d->started, >, 0);
	g_assert_cmpint(d->finished, >=, d->started);
	/* nothing left in its scratch directory: no draft, and the directory is gone
	 */
	g_assert_cmpint(d->review, ==, FL_REVIEW_NONE);
	g_assert_false(g_file_test(d->worktree, G_FILE_TEST_EXISTS));
}

/* a scratch session's files are its draft */
static void
test_session_draft(Fixture *f, gconstpointer user_data)
{
	g_autoptr(FlSession) session = session_new(f, 2, "echo notes > NOTES.md; echo done");
	FlSessionData *d = fl_session_get_data(session);
	g_autofree gchar *notes = NULL;

	fl_session_start(session);
	await_ended(f);
	g_assert_cmpint(d->state, ==, FL_STATE_DONE);
	g_assert_cmpint(d->review, ==, FL_REVIEW_PENDING);
	g_assert_cmpstr(d->diffstat, ==, "1 file");
	notes = g_build_filename(d->worktree, "NOTES.md", NULL);
	g_assert_true(g_file_test(notes, G_FILE_TEST_IS_REGULAR));
	/* an agent that said nothing structured: its log tail is its final word (cleaned: no
	 * trailing line break) */
	g_assert_cmpstr(d->final_message, ==, "done");
}

/* a non-zero exit fails; so does an agent whose own output says it failed */
static void
test_session_failed(Fixture *f, gconstpointer user_data)
{
	struct {
		const gchar *goal;
		const gchar *reason;
	} cases[] = {
		{"echo 'fake: final=half way'; exit 3", "exited with status 3"},
		{"echo 'fake: fail=model refused'; exit 0", "model refused"},
		{"kill -KILL $$", "killed by signal 9"},
		{"refuse this", "the fake refuses this goal"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(FlSession) session = session_new(f, 10 + i, cases[i].goal);
		FlSessionData *d = fl_session_get_data(session);

		f->ended = FALSE;
		fl_session_start(session);
		await_ended(f);
		g_assert_cmpint(d->state, ==, FL_STATE_FAILED);
		/* kept as a message: what a reader gets is its rendering */
		{
			g_autofree gchar *reason = fl_msg_render_stored(d->reason);
			g_assert_cmpstr(reason, ==, cases[i].reason);
		}
	}
}

/* a cancel stops the agent (and what it started) and ends as cancelled, not
 * failed */
static void
test_session_cancelled(Fixture *f, gconstpointer user_data)
{
	g_autoptr(FlSession) session =
		session_new(f, 3, "echo 'fake: turn'; sleep 600 & wait; echo 'fake: final=late'");
	FlSessionData *d = fl_session_get_data(session);

	fl_session_start(session);
	/* live progress arrives while it runs */
	await_turns(f, 1);
	g_assert_cmpint(d->state, ==, FL_STATE_RUNNING);
	g_assert_cmpuint(d->turns, ==, 1);
	fl_session_cancel(session);
	await_ended(f);
	g_assert_cmpint(d->state, ==, FL_STATE_CANCELLED);
	g_assert_cmpstr(d->final_message, !=, "late");
}

/* a cancel while the session is still preparing means it never runs at all */
static void
test_session_cancel_before_spawn(Fixture *f, gconstpointer user_data)
{
	g_autoptr(FlSession) session = session_new(f, 4, "echo 'fake: final=ran'");
	FlSessionData *d = fl_session_get_data(session);
	g_autofree gchar *started = session_file(f, 4, "started.json");

	fl_session_cancel(session);
	fl_session_start(session);
	await_ended(f);
	g_assert_cmpint(d->state, ==, FL_STATE_CANCELLED);
	g_assert_false(g_file_test(started, G_FILE_TEST_EXISTS));
}

/* a reply to an ended session with a conversation resumes it with the reply */
static void
test_session_resume(Fixture *f, gconstpointer user_data)
{
	g_autoptr(FlSession) session = session_new(f, 5,
						   "if [ -n \"$1\" ]; then echo \"fake: final=got "
						   "$1\"; else echo 'fake: session=conv-1'; "
						   "echo 'fake: final=which colour?'; fi");
	FlSessionData *d = fl_session_get_data(session);
	g_autoptr(GError) error = NULL;

	fl_session_start(session);
	await_ended(f);
	g_assert_cmpint(d->state, ==, FL_STATE_DONE);
	g_assert_cmpstr(d->agent_session, ==, "conv-1");
	g_assert_cmpstr(d->final_message, ==, "which colour?");
	/* the conversation can go on: the scratch directory is kept */
	g_assert_true(g_file_test(d->worktree, G_FILE_TEST_IS_DIR));

	g_assert_true(fl_session_prepare_resume(session, "blue; rm -rf ~", &error));
	g_assert_no_error(error);
	g_assert_cmpint(d->state, ==, FL_STATE_QUEUED);
	g_assert_null(d->reason);
	f->ended = FALSE;
	fl_session_start(session);
	await_ended(f);
	g_assert_cmpint(d->state, ==, FL_STATE_DONE);
	/* the reply reached the agent as one argument, not as shell text */
	g_assert_cmpstr(d->final_message, ==, "got blue; rm -rf ~");
}

/* an agent with no conversation cannot be resumed, and nothing changes */
static void
test_session_resume_refused(Fixture *f, gconstpointer user_data)
{
	g_autoptr(FlSession) session = session_new(f, 6, "echo 'fake: final=x'");
	FlSessionData *d = fl_session_get_data(session);
	g_autoptr(GError) error = NULL;

	fl_session_start(session);
	await_ended(f);
	g_assert_false(fl_session_prepare_resume(session, "more", &error));
	g_assert_error(error, FL_ERROR, FL_ERROR_WRONG_STATE);
	g_assert_cmpint(d->state, ==, FL_STATE_DONE);
}

/*
 * A daemon restart while the agent runs: a new session object for the same data
 * adopts the runner (by pid, boot id and start time) and records its outcome
 * when it exits.
 */
static void
test_session_adopt(Fixture *f, gconstpointer user_data)
{
	/* in its worktree, which the session's sandbox shows */
	g_autofree gchar *go = g_build_filename(f->state_dir, "worktrees", "7", ".go", NULL);
	g_autofree gchar *goal =
		g_strdup_printf("echo 'fake: turn'; while [ ! -e '%s' ]; do sleep 0.05; done; "
				"echo 'fake: final=adopted'",
				go);
	FlSession *first = session_new(f, 7, goal);
	g_autoptr(FlSession) second = NULL;
	FlSessionData *copy = fl_session_data_new();
	FlSessionData *d;

	fl_session_start(first);
	await_turns(f, 1);
	/* the old daemon is gone: it hears nothing more */
	g_signal_handlers_disconnect_by_data(first, f);
	g_object_run_dispose(G_OBJECT(first));
	g_object_unref(first);

	copy->id = 7;
	copy->goal = g_strdup(goal);
	copy->agent = g_strdup("fake");
	copy->state = FL_STATE_RUNNING;
	copy->worktree = g_build_filename(f->state_dir, "worktrees", "7", NULL);
	second = fl_session_new(copy, &f->env);
	g_signal_connect(second, "ended", G_CALLBACK(ended_cb), f);
	g_assert_true(fl_session_adopt(second));
	g_assert_false(f->ended);
	g_assert_true(g_file_set_contents(go, "", 0, NULL));
	await_ended(f);
	d = fl_session_get_data(second);
	g_assert_cmpint(d->state, ==, FL_STATE_DONE);
	g_assert_cmpstr(d->final_message, ==, "adopted");
	g_assert_cmpint(d->exit_code, ==, 0);
}

/* after a restart, a session whose runner is gone without an exit record is
 * interrupted; one that never got to spawn goes back to the queue */
static void
test_session_interrupted(Fixture *f, gconstpointer user_data)
{
	g_autofree gchar *dir = fl_session_data_dir(f->state_dir, 8);
	g_autofree gchar *started = g_build_filename(dir, "started.json", NULL);
	g_autofree gchar *json = g_strdup_printf(
		"{\"v\":1,\"runner_pid\":%d,\"runner_starttime\":1,\"boot_id\":\"%s\"}", G_MAXINT,
		fl_boot_id());
	g_autoptr(FlSession) gone = NULL;
	g_autoptr(FlSession) never = NULL;
	FlSessionData *d = fl_session_data_new();
	FlSessionData *q = fl_session_data_new();

	g_assert_true(fl_ensure_dir(dir, NULL));
	g_assert_true(g_file_set_contents(started, json, -1, NULL));
	d->id = 8;
	d->goal = g_strdup("true");
	d->agent = g_strdup("fake");
	d->state = FL_STATE_RUNNING;
	gone = fl_session_new(d, &f->env);
	g_signal_connect(gone, "ended", G_CALLBACK(ended_cb), f);
	g_assert_true(fl_session_adopt(gone));
	await_ended(f);
	g_assert_cmpint(d->state, ==, FL_STATE_INTERRUPTED);
	g_assert_nonnull(d->reason);

	q->id = 9;
	q->goal = g_strdup("true");
	q->agent = g_strdup("fake");
	q->state = FL_STATE_RUNNING;
	never = fl_session_new(q, &f->env);
	g_assert_false(fl_session_adopt(never));
	g_assert_cmpint(q->state, ==, FL_STATE_QUEUED);
}

/* an agent removed from the configuration while its session waited fails it,
 * clearly */
static void
test_session_unknown_agent(Fixture *f, gconstpointer user_data)
{
	g_autoptr(FlSession) session = session_new(f, 20, "true");
	FlSessionData *d = fl_session_get_data(session);

	g_free(d->agent);
	d->agent = g_strdup("gone");
	fl_session_start(session);
	await_ended(f);
	g_assert_cmpint(d->state, ==, FL_STATE_FAILED);
	{
		g_autofree gchar *reason = fl_msg_render_stored(d->reason);
		g_assert_cmpstr(reason, ==, "unknown agent 'gone'");
	}
}

/*
 * Sessions a daemon from before the agent kinds had files for (the names, keys
 * and formats it wrote, kept here as they were): the runner finished while no
 * daemon ran, and the new one adopts them and reads their outcome through the
 * agent's kind.
 */
static FlSession *
old_session_new(Fixture *f, guint id, const gchar *agent, const gchar *const *files)
{
	g_autofree gchar *dir = fl_session_data_dir(f->state_dir, id);
	g_autofree gchar *worktree = g_strdup_printf("%s/worktrees/%u", f->state_dir, id);
	FlSessionData *d = fl_session_data_new();
	FlSession *session;

	g_assert_true(fl_ensure_dir(dir, NULL));
	g_assert_true(fl_ensure_dir(worktree, NULL));
	for (guint i = 0; files[i] != NULL; i += 2) {
		g_autofree gchar *path = g_build_filename(dir, files[i], NULL);
		g_assert_true(g_file_set_contents(path, files[i + 1], -1, NULL));
	}
	d->id = id;
	d->goal = g_strdup("old goal");
	d->agent = g_strdup(agent);
	d->state = FL_STATE_RUNNING;
	d->worktree = g_steal_pointer(&worktree);
	session = fl_session_new(d, &f->env);
	g_signal_connect(session, "ended", G_CALLBACK(ended_cb), f);
	return session;
}

static void
test_session_adopt_old_http(Fixture *f, gconstpointer user_data)
{
	const gchar *files[] = {
		"started.json",
		"{\"v\":1,\"runner_pid\":2147483647,\"runner_starttime\":1,\"boot_id\":"
		"\"x\","
		"\"started_at\":\"2026-01-01T00:00:00Z\"}\n",
		"http-request.json",
		"{\"v\":1,\"agent\":\"writer\",\"api\":\"anthropic\",\"url\":\"http://"
		"127.0.0.1:1\","
		"\"model\":\"claude-test\",\"max_tokens\":4096,\"goal\":\"old goal\","
		"\"result\":\"/nowhere/http-result.json\"}",
		"http-result.json",
		"{\"v\":1,\"model\":\"claude-test-1\",\"input_tokens\":1000,\"output_"
		"tokens\":2000,"
		"\"stop_reason\":\"end_turn\",\"attempts\":1,\"text\":\"The old "
		"answer.\"}",
		"exit.json",
		"{\"v\":1,\"status\":\"exited\",\"code\":0,\"signal\":0,\"cancelled\":"
		"false,"
		"\"finished_at\":\"2026-01-01T00:01:00Z\"}\n",
		"output.log",
		"The old answer.\n",
		NULL};
	g_autoptr(GError) error = NULL;
	g_autofree gchar *conf = g_build_filename(f->state_dir, "flotilla.conf", NULL);
	g_autoptr(FlSession) session = NULL;
	FlSessionData *d;

	g_assert_true(
		g_file_set_contents(conf,
				    "[agent writer]\nurl=http://127.0.0.1:1\nmodel=claude-test\n"
				    "[prices]\nclaude-test=1;2\n",
				    -1, NULL));
	fl_config_free(f->config);
	f->config = fl_config_load(conf, &error);
	g_assert_no_error(error);
	f->env.config = f->config;
	session = old_session_new(f, 30, "writer", files);
	d = fl_session_get_data(session);
	g_assert_true(fl_session_adopt(session));
	await_ended(f);
	g_assert_cmpint(d->state, ==, FL_STATE_DONE);
	g_assert_cmpstr(d->final_message, ==, "The old answer.");
	g_assert_cmpfloat_with_epsilon(d->cost_usd, 0.005, 1e-12);
	g_assert_cmpuint(d->turns, ==, 1);
}

static void
test_session_adopt_old_claude(Fixture *f, gconstpointer user_data)
{
	const gchar *files[] = {
		"claude-settings.json",
		"{\"hooks\":{}}\n",
		"output.log",
		"{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s-1\"}\n"
		"{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,"
		"\"terminal_reason\":\"completed\",\"num_turns\":4,\"total_cost_usd\":0."
		"25,"
		"\"result\":\"API Error: 400 bad request\",\"session_id\":\"s-1\"}\n",
		"exit.json",
		"{\"v\":1,\"status\":\"exited\",\"code\":0,\"signal\":0,\"cancelled\":"
		"false,"
		"\"finished_at\":\"2026-01-01T00:01:00Z\"}\n",
		NULL};
	g_autoptr(FlSession) session = old_session_new(f, 31, "claude", files);
	FlSessionData *d = fl_session_get_data(session);

	d->agent_session = g_strdup("s-1");
	g_assert_true(fl_session_adopt(session));
	await_ended(f);
	/* exit status 0, but Claude's own result says it failed */
	g_assert_cmpint(d->state, ==, FL_STATE_FAILED);
	g_assert_cmpuint(d->turns, ==, 4);
	g_assert_cmpfloat_with_epsilon(d->cost_usd, 0.25, 1e-12);
	{
		g_autofree gchar *reason = fl_msg_render_stored(d->reason);
		g_assert_nonnull(strstr(reason, "API Error: 400"));
	}
}

int
main(int argc, char *argv[])
{
	g_test_init(&argc, &argv, NULL);
	/* a session that cannot start says so with a warning in the daemon's log,
	 * which is what some of these tests make happen; criticals stay fatal */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	/* before any configuration exists, so that the preset "fake" is in every one
	 */
	fl_agent_class_register(&fake_class);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
	ADD("/session/done", test_session_done);
	ADD("/session/draft", test_session_draft);
	ADD("/session/failed", test_session_failed);
	ADD("/session/cancelled", test_session_cancelled);
	ADD("/session/cancel-before-spawn", test_session_cancel_before_spawn);
	ADD("/session/resume", test_session_resume);
	ADD("/session/resume-refused", test_session_resume_refused);
	ADD("/session/adopt", test_session_adopt);
	ADD("/session/interrupted", test_session_interrupted);
	ADD("/session/unknown-agent", test_session_unknown_agent);
	ADD("/session/adopt-old-http", test_session_adopt_old_http);
	ADD("/session/adopt-old-claude", test_session_adopt_old_claude);
#undef ADD
	return g_test_run();
}
