/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <glib/gstdio.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "fl-agent.h"
#include "fl-config.h"
#include "fl-error.h"

/* a private directory per test, removed again by rm_rf() */
static gchar *
make_tmpdir(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp("fl-test-config-XXXXXX", &error);
	gchar *real;

	g_assert_no_error(error);
	/* the repository keys resolve symlinks: compare against the resolved path */
	real = realpath(dir, NULL);
	g_assert_nonnull(real);
	return real;
}

static void
rm_rf(const gchar *path)
{
	g_autoptr(GDir) dir = NULL;
	const gchar *name;

	if (!g_file_test(path, G_FILE_TEST_IS_SYMLINK) && g_file_test(path, G_FILE_TEST_IS_DIR)) {
		dir = g_dir_open(path, 0, NULL);
		while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
			g_autofree gchar *child = g_build_filename(path, name, NULL);
			rm_rf(child);
		}
	}
	g_assert_cmpint(g_remove(path), ==, 0);
}

static gchar *
write_config(const gchar *dir, const gchar *text)
{
	g_autoptr(GError) error = NULL;
	gchar *path = g_build_filename(dir, "flotilla.conf", NULL);

	g_file_set_contents(path, text, -1, &error);
	g_assert_no_error(error);
	return path;
}

static FlConfig *
load_ok(const gchar *dir, const gchar *text)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = write_config(dir, text);
	FlConfig *config = fl_config_load(path, &error);

	g_assert_no_error(error);
	g_assert_nonnull(config);
	g_assert_cmpstr(config->path, ==, path);
	return config;
}

static void
assert_argv(gchar **argv, const gchar *const *expected)
{
	g_assert_nonnull(argv);
	g_assert_cmpuint(g_strv_length(argv), ==, g_strv_length((gchar **)expected));
	for (guint i = 0; expected[i] != NULL; i++)
		g_assert_cmpstr(argv[i], ==, expected[i]);
}

static void
assert_defaults(const FlConfig *config)
{
	const gchar *shell[] = {"sh", "-c", "{goal}", NULL};
	const gchar *aider[] = {"aider", "--message", "{goal}", "--yes-always", NULL};
	const FlAgentConfig *agent;

	g_assert_cmpuint(config->max_parallel, ==, 3);
	g_assert_cmpuint(config->max_unreviewed, ==, 5);
	g_assert_cmpuint(config->cancel_grace, ==, 10);
	g_assert_cmpuint(config->verify_timeout, ==, 600);
	g_assert_true(config->now_blocked);
	g_assert_false(config->now_failed);
	/* none configured: the check-in finds a terminal itself */
	g_assert_null(config->review_command);
	agent = fl_config_get_agent(config, "shell");
	g_assert_nonnull(agent);
	g_assert_cmpstr(agent->name, ==, "shell");
	g_assert_cmpstr(agent->klass->kind, ==, "command");
	assert_argv(agent->command, shell);
	agent = fl_config_get_agent(config, "aider");
	g_assert_nonnull(agent);
	assert_argv(agent->command, aider);
	g_assert_null(fl_config_get_agent(config, "nosuchagent"));
	g_assert_null(fl_config_get_repo_verify(config, "/nowhere"));
}

static void
test_config_defaults(void)
{
	g_autoptr(FlConfig) config = fl_config_new_default();

	g_assert_null(config->path);
	g_assert_null(config->checkin_times);
	g_assert_null(config->checkin_every);
	assert_defaults(config);
}

static void
test_config_missing_file(void)
{
	g_autofree gchar *dir = make_tmpdir();
	g_autofree gchar *path = g_build_filename(dir, "no", "such", "flotilla.conf", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlConfig) config = fl_config_load(path, &error);

	g_assert_no_error(error);
	g_assert_nonnull(config);
	assert_defaults(config);
	rm_rf(dir);
}

static void
test_config_empty_file(void)
{
	g_autofree gchar *dir = make_tmpdir();
	g_autoptr(FlConfig) config = load_ok(dir, "# nothing set\n\n");

	assert_defaults(config);
	rm_rf(dir);
}

static gchar *
example_path(void)
{
	gchar *path =
		g_test_build_filename(G_TEST_DIST, "..", "data", "flotilla.conf.example", NULL);

	if (!g_file_test(path, G_FILE_TEST_IS_REGULAR))
		g_test_message("set G_TEST_SRCDIR to the tests/ source directory");
	g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));
	return path;
}

/* the shipped example is valid as it stands, and shows the defaults */
static void
test_config_example(void)
{
	g_autofree gchar *path = example_path();
	g_autoptr(GError) error = NULL;
	g_autoptr(FlConfig) config = fl_config_load(path, &error);

	g_assert_no_error(error);
	g_assert_nonnull(config);
	assert_defaults(config);
}

/* "[name]" or "#[name]" */
static gchar *
example_group(const gchar *line)
{
	if (line[0] == '#')
		line++;
	if (line[0] != '[' || strchr(line, ']') == NULL)
		return NULL;
	return g_strndup(line + 1, strchr(line, ']') - line - 1);
}

/* "key=value" or "#key=value" (a comment in prose has a space after the '#') */
static gchar *
example_key(const gchar *line)
{
	const gchar *eq;

	if (line[0] == '#')
		line++;
	eq = strchr(line, '=');
	if (eq == NULL || eq == line || line[0] == ' ' || line[0] == '[')
		return NULL;
	for (const gchar *c = line; c < eq; c++) {
		if (!g_ascii_isalnum(*c) && *c != '-')
			return NULL;
	}
	return g_strndup(line, eq - line);
}

static FlConfig *
load_uncommented(const gchar *dir, gchar **lines, const gboolean *uncomment, GError **error)
{
	g_autoptr(GString) text = g_string_new(NULL);
	g_autofree gchar *path = NULL;

	for (guint j = 0; lines[j] != NULL; j++) {
		const gchar *line = lines[j];
		if (uncomment[j] && line[0] == '#')
			line++;
		g_string_append_printf(text, "%s\n", line);
	}
	path = write_config(dir, text->str);
	return fl_config_load(path, error);
}

/*
 * Every commented-out example in the file is valid too: a commented key under a live group
 * is uncommented on its own; a commented group is uncommented with its commented keys.
 */
static void
test_config_example_commented(void)
{
	g_autofree gchar *path = example_path();
	g_autofree gchar *text = NULL;
	g_autofree gchar *dir = make_tmpdir();
	g_auto(GStrv) lines = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gboolean *uncomment = NULL;
	guint n_lines;
	guint tried = 0;

	g_file_get_contents(path, &text, NULL, &error);
	g_assert_no_error(error);
	lines = g_strsplit(text, "\n", -1);
	n_lines = g_strv_length(lines);
	uncomment = g_new0(gboolean, n_lines);
	for (guint i = 0; i < n_lines; i++) {
		g_autofree gchar *group = example_group(lines[i]);
		g_autofree gchar *key = example_key(lines[i]);
		g_autoptr(FlConfig) config = NULL;

		if (lines[i][0] != '#' || (group == NULL && key == NULL))
			continue;
		memset(uncomment, 0, n_lines * sizeof(gboolean));
		uncomment[i] = TRUE;
		if (group != NULL) {
			for (guint j = i + 1; j < n_lines; j++) {
				g_autofree gchar *next_group = example_group(lines[j]);
				g_autofree gchar *next_key = example_key(lines[j]);
				if (next_group != NULL)
					break;
				if (next_key != NULL && lines[j][0] == '#')
					uncomment[j] = TRUE;
			}
		} else {
			/* a key under a commented group was tried with its group */
			gboolean live_group = FALSE;
			for (gint j = (gint)i - 1; j >= 0; j--) {
				g_autofree gchar *prev_group = example_group(lines[j]);
				if (prev_group != NULL) {
					live_group = lines[j][0] != '#';
					break;
				}
			}
			if (!live_group)
				continue;
		}
		g_test_message("uncommented: %s", lines[i]);
		config = load_uncommented(dir, lines, uncomment, &error);
		g_assert_no_error(error);
		g_assert_nonnull(config);
		tried++;
	}
	/* times, every, days, quiet-hours, the [repo] group, the [agent] group */
	g_assert_cmpuint(tried, >=, 6);
	rm_rf(dir);
}

/* the example names every key the parser accepts, each under its group */
static void
test_config_example_documents_keys(void)
{
	const gchar *required[] = {"fleet",   "max-parallel", "fleet",   "max-unreviewed",
				   "fleet",   "cancel-grace", "fleet",   "verify-timeout",
				   "checkin", "times",        "checkin", "every",
				   "checkin", "days",         "checkin", "quiet-hours",
				   "checkin", "now",          "checkin", "review-command",
				   "checkin", "webhook",      "checkin", "webhook-format",
				   "repo",    "verify",       "agent",   "command",
				   "agent",   "env",          "agent",   "kind",
				   "agent",   "api",          "agent",   "url",
				   "agent",   "model",        "agent",   "api-key-env",
				   "agent",   "output",       "agent",   "max-tokens",
				   "fleet",   "placement",    "cluster", "kind",
				   "cluster", "partition",    "cluster", "shared-dir",
				   "cluster", "memory",       "cluster", "time",
				   "cluster", "cpus",         NULL};
	g_autofree gchar *path = example_path();
	g_autofree gchar *text = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_auto(GStrv) lines = NULL;
	g_autofree gchar *group = NULL;

	g_file_get_contents(path, &text, NULL, &error);
	g_assert_no_error(error);
	lines = g_strsplit(text, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		g_autofree gchar *header = example_group(lines[i]);
		g_autofree gchar *key = NULL;
		if (header != NULL) {
			/* "[agent lint]" documents the keys of every "[agent NAME]" */
			gchar *space = strchr(header, ' ');
			if (space != NULL)
				*space = '\0';
			g_free(group);
			group = g_steal_pointer(&header);
			continue;
		}
		key = example_key(lines[i]);
		if (key != NULL && group != NULL)
			g_hash_table_add(seen, g_strdup_printf("%s/%s", group, key));
	}
	for (guint i = 0; required[i] != NULL; i += 2) {
		g_autofree gchar *want = g_strdup_printf("%s/%s", required[i], required[i + 1]);
		if (!g_hash_table_contains(seen, want))
			g_test_message("data/flotilla.conf.example does not show %s", want);
		g_assert_true(g_hash_table_contains(seen, want));
	}
}

static void
test_config_values(void)
{
	g_autofree gchar *dir = make_tmpdir();
	const gchar *review[] = {"gnome-terminal", "--", "flotilla", "review", "--all", NULL};
	g_autoptr(FlConfig) config =
		load_ok(dir, "[fleet]\n"
			     "max-parallel = 8\n"
			     "max-unreviewed=0\n"
			     "cancel-grace=0\n"
			     "verify-timeout=1\n"
			     "[checkin]\n"
			     "times=10:00;17:30\n"
			     "days=mon-fri\n"
			     "quiet-hours=19:00-09:00\n"
			     "now=blocked, failed\n"
			     "review-command=gnome-terminal -- flotilla review "
			     "'--all'\n");
	g_autoptr(FlConfig) none = NULL;

	g_assert_cmpuint(config->max_parallel, ==, 8);
	g_assert_cmpuint(config->max_unreviewed, ==, 0);
	g_assert_cmpuint(config->cancel_grace, ==, 0);
	g_assert_cmpuint(config->verify_timeout, ==, 1);
	g_assert_cmpstr(config->checkin_times, ==, "10:00;17:30");
	g_assert_null(config->checkin_every);
	g_assert_cmpstr(config->checkin_days, ==, "mon-fri");
	g_assert_cmpstr(config->checkin_quiet_hours, ==, "19:00-09:00");
	g_assert_true(config->now_blocked);
	g_assert_true(config->now_failed);
	assert_argv(config->review_command, review);

	g_assert_cmpstr(config->default_agent, ==, "shell");
	/* a default agent: a preset or one of the file's own, whatever the group order */
	{
		g_autoptr(FlConfig) preset = load_ok(dir, "[fleet]\ndefault-agent = claude\n");
		g_autoptr(FlConfig) own = load_ok(dir, "[fleet]\ndefault-agent=mine\n"
						       "[agent mine]\ncommand=true\n");
		g_assert_cmpstr(preset->default_agent, ==, "claude");
		g_assert_cmpstr(own->default_agent, ==, "mine");
	}

	none = load_ok(dir, "[checkin]\nevery=1h30m\nnow=none\n");
	g_assert_cmpstr(none->checkin_every, ==, "1h30m");
	g_assert_false(none->now_blocked);
	g_assert_false(none->now_failed);
	rm_rf(dir);
}

static void
test_config_agent_command(void)
{
	g_autofree gchar *dir = make_tmpdir();
	const gchar *echo[] = {"printf", "%s\\n", "{goal}", NULL};
	const gchar *grep[] = {"grep", "-e", "a\\.b", "--", "{goal}", NULL};
	const gchar *quoted[] = {"sh", "-c", "echo \"$1\" > 'out file'", "sh", "{goal}", NULL};
	const gchar *env[] = {"A=1", "B=two words", "C=x;y", "D=", NULL};
	g_autoptr(FlConfig) config =
		load_ok(dir, "[agent echo]\n"
			     "command=printf '%s\\n' {goal}\n"
			     "[agent grep]\n"
			     "command = grep -e 'a\\.b' -- {goal}\n"
			     "[agent quoted]\n"
			     "command=sh -c \"echo \\\"$1\\\" > 'out file'\" sh {goal}\n"
			     "env=A=1;B=two words;C=x\\;y;D=\n");
	const FlAgentConfig *agent;

	agent = fl_config_get_agent(config, "echo");
	g_assert_nonnull(agent);
	g_assert_cmpstr(agent->name, ==, "echo");
	g_assert_cmpstr(agent->klass->kind, ==, "command");
	assert_argv(agent->command, echo);
	g_assert_null(agent->env);
	assert_argv(fl_config_get_agent(config, "grep")->command, grep);
	agent = fl_config_get_agent(config, "quoted");
	assert_argv(agent->command, quoted);
	assert_argv(agent->env, env);
	/* the presets are still there next to the configured agents */
	g_assert_nonnull(fl_config_get_agent(config, "shell"));
	g_assert_nonnull(fl_config_get_agent(config, "aider"));
	rm_rf(dir);
}

static void
test_config_agent_override(void)
{
	g_autofree gchar *dir = make_tmpdir();
	const gchar *bash[] = {"bash", "-lc", "{goal}", NULL};
	const gchar *aider[] = {"aider", "--message", "{goal}", "--yes-always", NULL};
	g_autoptr(FlConfig) config = load_ok(dir, "[agent shell]\n"
						  "command=bash -lc {goal}\n"
						  "env=SHELLOPTS=errexit\n");
	const FlAgentConfig *agent = fl_config_get_agent(config, "shell");

	g_assert_nonnull(agent);
	g_assert_cmpstr(agent->klass->kind, ==, "command");
	assert_argv(agent->command, bash);
	g_assert_cmpstr(agent->env[0], ==, "SHELLOPTS=errexit");
	assert_argv(fl_config_get_agent(config, "aider")->command, aider);
	rm_rf(dir);
}

static void
test_config_agent_http(void)
{
	g_autofree gchar *dir = make_tmpdir();
	g_autoptr(FlConfig) config = load_ok(dir, "[agent claude-api]\n"
						  "url=https://api.anthropic.com/v1/messages\n"
						  "model=claude-sonnet-4-5\n"
						  "api-key-env=ANTHROPIC_API_KEY\n"
						  "[agent local]\n"
						  "kind=http\n"
						  "api=openai\n"
						  "url=http://127.0.0.1:8080/v1/chat/completions\n"
						  "model=qwen\n"
						  "max-tokens=512\n"
						  "output=answer.md\n");
	const FlAgentConfig *agent = fl_config_get_agent(config, "claude-api");

	g_assert_nonnull(agent);
	g_assert_cmpstr(agent->klass->kind, ==, "http");
	g_assert_cmpstr(agent->api, ==, "anthropic");
	g_assert_cmpstr(agent->url, ==, "https://api.anthropic.com/v1/messages");
	g_assert_cmpstr(agent->model, ==, "claude-sonnet-4-5");
	g_assert_cmpstr(agent->api_key_env, ==, "ANTHROPIC_API_KEY");
	g_assert_cmpuint(agent->max_tokens, ==, 4096);
	g_assert_null(agent->command);
	agent = fl_config_get_agent(config, "local");
	g_assert_cmpstr(agent->klass->kind, ==, "http");
	g_assert_cmpstr(agent->api, ==, "openai");
	g_assert_cmpuint(agent->max_tokens, ==, 512);
	g_assert_cmpstr(agent->output, ==, "answer.md");
	rm_rf(dir);
}

static void
test_config_cost(void)
{
	g_autoptr(FlConfig) config = fl_config_new_default();
	const gchar *prices[][2] = {
		{"claude-x", "3.00;15.00"}, {"claude", "1;1"},    {"gpt-local", " 0 ; 0 "},
		{"bad-one", "3.00"},        {"bad-two", "abc;1"}, {"bad-three", "-1;2"},
		{"bad-four", "1;2;3"},
	};

	/* no prices: no cost */
	g_assert_cmpfloat(fl_config_get_cost(config, "claude-x", 1, 1), ==, -1);
	/* entries the file would refuse too, to see that a bad one never prices anything */
	for (guint i = 0; i < G_N_ELEMENTS(prices); i++)
		g_hash_table_insert(config->prices, g_strdup(prices[i][0]), g_strdup(prices[i][1]));

	g_assert_cmpfloat_with_epsilon(fl_config_get_cost(config, "claude-x", 1000000, 1000000),
				       18.0, 1e-9);
	g_assert_cmpfloat_with_epsilon(fl_config_get_cost(config, "claude-x", 1200, 350),
				       (1200 * 3.0 + 350 * 15.0) / 1e6, 1e-12);
	/* a dated model takes its family's price; the longest prefix wins */
	g_assert_cmpfloat_with_epsilon(fl_config_get_cost(config, "claude-x-20250101", 1000, 0),
				       0.003, 1e-12);
	g_assert_cmpfloat_with_epsilon(fl_config_get_cost(config, "claude-y", 1000000, 0), 1.0,
				       1e-12);
	g_assert_cmpfloat(fl_config_get_cost(config, "claude-x", 0, 0), ==, 0.0);
	g_assert_cmpfloat(fl_config_get_cost(config, "gpt-local", 5000, 5000), ==, 0.0);
	/* a prefix only counts at a '-' boundary */
	g_assert_cmpfloat(fl_config_get_cost(config, "claudette", 1, 1), ==, -1);
	g_assert_cmpfloat(fl_config_get_cost(config, "gpt-4o", 1, 1), ==, -1);
	g_assert_cmpfloat(fl_config_get_cost(config, "bad-one", 1, 1), ==, -1);
	g_assert_cmpfloat(fl_config_get_cost(config, "bad-two", 1, 1), ==, -1);
	g_assert_cmpfloat(fl_config_get_cost(config, "bad-three", 1, 1), ==, -1);
	g_assert_cmpfloat(fl_config_get_cost(config, "bad-four", 1, 1), ==, -1);
	g_assert_cmpfloat(fl_config_get_cost(config, NULL, 1, 1), ==, -1);
}

static void
test_config_repo_verify(void)
{
	g_autofree gchar *dir = make_tmpdir();
	g_autofree gchar *api = g_build_filename(dir, "api", NULL);
	g_autofree gchar *web = g_build_filename(dir, "web", NULL);
	g_autofree gchar *link = g_build_filename(dir, "link-to-web", NULL);
	g_autofree gchar *text = NULL;
	g_autoptr(FlConfig) config = NULL;

	g_assert_cmpint(g_mkdir(api, 0700), ==, 0);
	g_assert_cmpint(g_mkdir(web, 0700), ==, 0);
	g_assert_cmpint(symlink(web, link), ==, 0);
	/* a path spelled loosely, one through a symlink, one that does not exist (yet) */
	text = g_strdup_printf("[repo %s/./api/]\n"
			       "verify=make check && grep -q 'a\\.b' NEWS\n"
			       "[repo %s]\n"
			       "verify = npm test\n"
			       "[repo /nonexistent/src/../proj]\n"
			       "verify=true\n"
			       "[repo /nonexistent/empty]\n"
			       "verify=\n",
			       dir, link);
	config = load_ok(dir, text);
	g_assert_cmpstr(fl_config_get_repo_verify(config, api), ==,
			"make check && grep -q 'a\\.b' NEWS");
	g_assert_cmpstr(fl_config_get_repo_verify(config, web), ==, "npm test");
	g_assert_cmpstr(fl_config_get_repo_verify(config, "/nonexistent/proj"), ==, "true");
	g_assert_cmpstr(fl_config_get_repo_verify(config, "/nonexistent/proj/"), ==, "true");
	g_assert_null(fl_config_get_repo_verify(config, "/nonexistent/empty"));
	g_assert_null(fl_config_get_repo_verify(config, dir));
	rm_rf(dir);
}

typedef struct {
	const gchar *text;
	/* what the message must name besides the file: the group and the key, and the value */
	const gchar *expect[3];
} FlBadConfig;

static void
test_config_cluster(void)
{
	g_autofree gchar *dir = make_tmpdir();
	g_autoptr(FlConfig) config = load_ok(dir, "[fleet]\n"
						  "placement=lab\n"
						  "[cluster lab]\n"
						  "kind=slurm\n"
						  "partition=agents\n"
						  "shared-dir=/shared/flotilla\n"
						  "memory=4G\n"
						  "time=2h\n"
						  "cpus=2\n"
						  "[cluster big]\n"
						  "kind=slurm\n"
						  "shared-dir=/srv/f\n");
	g_autoptr(FlConfig) local = load_ok(dir, "[fleet]\nplacement=local\n");
	const FlClusterConfig *lab = fl_config_get_cluster(config, "lab");
	const FlClusterConfig *big = fl_config_get_cluster(config, "big");
	g_autoptr(GList) names = fl_config_get_cluster_names(config);

	g_assert_cmpstr(config->placement, ==, "lab");
	g_assert_nonnull(lab);
	g_assert_cmpstr(lab->kind, ==, "slurm");
	g_assert_cmpstr(lab->partition, ==, "agents");
	g_assert_cmpstr(lab->shared_dir, ==, "/shared/flotilla");
	g_assert_cmpuint(lab->memory_mb, ==, 4096);
	g_assert_cmpuint(lab->time_minutes, ==, 120);
	g_assert_cmpuint(lab->cpus, ==, 2);
	/* what is not said is the partition's default */
	g_assert_null(big->partition);
	g_assert_cmpuint(big->memory_mb, ==, 0);
	g_assert_cmpuint(big->time_minutes, ==, 0);
	g_assert_cmpuint(big->cpus, ==, 0);
	g_assert_cmpuint(g_list_length(names), ==, 2);
	g_assert_cmpstr(names->data, ==, "big");
	g_assert_null(fl_config_get_cluster(config, "nosuch"));
	g_assert_null(fl_config_get_cluster(config, NULL));
	g_assert_null(local->placement);
	rm_rf(dir);
}

static void
test_config_errors(void)
{
	const FlBadConfig cases[] = {
		{"[fleets]\nmax-parallel=2\n", {"[fleets]", "unknown group"}},
		{"[fleet]\nmax-parallel=2\n[checkin]\nevery=1h\n[fleet]\nmax-parallel=3\n",
		 {"[fleet]", "twice"}},
		{"[agent x]\ncommand=true\n[agent x]\ncommand=false\n", {"[agent x]", "twice"}},
		{"[agent x]\ncommand=tool --msg {goal\n", {"[agent x] command", "'{goal'"}},
		{"[agent x]\ncommand=tool goal}\n", {"[agent x] command", "unbalanced"}},
		{"[Fleet]\n", {"[Fleet]", "unknown group"}},
		{"[agent]\ncommand=true\n", {"[agent]", "unknown group"}},
		{"[fleet]\nmax-paralel=2\n", {"[fleet] max-paralel", "unknown key"}},
		{"[fleet]\nmax-parallel[de]=2\n", {"[fleet] max-parallel[de]", "unknown key"}},
		{"[checkin]\nevery-day=yes\n", {"[checkin] every-day", "unknown key"}},
		{"[agent x]\ncommand=true\nurll=http://x\n", {"[agent x] urll", "unknown key"}},
		{"[repo /srv/api]\nverfy=make\n", {"[repo /srv/api] verfy", "unknown key"}},
		{"[fleet]\nmax-parallel=0\n", {"[fleet] max-parallel", "'0'"}},
		{"[fleet]\nmax-parallel=abc\n", {"[fleet] max-parallel", "'abc'"}},
		{"[fleet]\nmax-parallel=99999\n", {"[fleet] max-parallel", "'99999'"}},
		{"[fleet]\nmax-parallel=\n", {"[fleet] max-parallel", "whole number"}},
		{"[fleet]\nmax-parallel=3.5\n", {"[fleet] max-parallel", "'3.5'"}},
		{"[fleet]\nmax-unreviewed=-1\n", {"[fleet] max-unreviewed", "'-1'"}},
		{"[fleet]\ncancel-grace=1h\n", {"[fleet] cancel-grace", "'1h'"}},
		{"[fleet]\nverify-timeout=0\n", {"[fleet] verify-timeout", "'0'"}},
		{"[fleet]\ndaily-budget=lots\n", {"[fleet] daily-budget", "'lots'"}},
		{"[fleet]\ndaily-budget=-5\n", {"[fleet] daily-budget", "'-5'"}},
		{"[checkin]\ntimes=25:00\n", {"[checkin] times", "'25:00'"}},
		{"[checkin]\nevery=0m\n", {"[checkin] every", "'0m'"}},
		{"[checkin]\nevery=soon\n", {"[checkin] every", "'soon'"}},
		{"[checkin]\ntimes=10:00\nevery=1h\n", {"[checkin] every", "times"}},
		{"[checkin]\ndays=someday\n", {"[checkin] days", "'someday'"}},
		{"[checkin]\nquiet-hours=19:00\n", {"[checkin] quiet-hours", "'19:00'"}},
		{"[checkin]\ndays=mon\\x\n", {"[checkin] days", "'mon\\x'"}},
		{"[checkin]\ndays=mon\xff\n", {"[checkin] days", "UTF-8"}},
		{"[agent x]\ncommand=true\nenv=A=\xff\n", {"[agent x] env", "UTF-8"}},
		{"[checkin]\nnow=sometimes\n", {"[checkin] now", "'sometimes'"}},
		{"[checkin]\nnow=blocked;never\n", {"[checkin] now", "'never'"}},
		{"[checkin]\nreview-command=open 'unterminated\n", {"[checkin] review-command"}},
		{"[agent x]\nkind=command\n", {"[agent x] command", "needs a command"}},
		{"[agent x]\nenv=A=1\n", {"[agent x] command", "needs a command"}},
		{"[agent x]\ncommand=printf 'oops {goal}\n", {"[agent x] command"}},
		{"[agent x]\nkind=ftp\ncommand=true\n",
		 {"[agent x] kind", "must be one of 'command', 'claude', 'codex', 'http'"}},
		{"[agent x]\nkind=http\nmodel=m\n", {"[agent x] url", "needs a url"}},
		{"[agent x]\nurl=https://example.invalid/v1\n",
		 {"[agent x] model", "needs a model"}},
		{"[agent x]\nurl=https://example.invalid/v1\nmodel=m\napi=gemini\n",
		 {"[agent x] api", "'anthropic' or 'openai'"}},
		{"[agent x]\ncommand=true\nenv=FOO\n", {"[agent x] env", "'FOO'"}},
		{"[agent x]\ncommand=true\nenv=A=1;=2\n", {"[agent x] env", "'=2'"}},
		{"[agent x]\ncommand=true\nmax-tokens=0\n", {"[agent x] max-tokens", "'0'"}},
		{"[agent two words]\ncommand=true\n", {"[agent two words]", "one word"}},
		{"[agent a/b]\ncommand=true\n", {"[agent a/b]", "one word"}},
		{"[repo src/api]\nverify=make\n", {"[repo src/api]", "absolute path"}},
		{"[repo ~/src/api]\nverify=make\n", {"[repo ~/src/api]", "absolute path"}},
		{"[fleet]\ndefault-agent=cluade\n", {"[fleet] default-agent", "'cluade'"}},
		{"[fleet]\ndefault-agent=\n", {"[fleet] default-agent", "unknown agent"}},
		{"[cluster lab]\nshared-dir=/srv/f\n", {"[cluster lab] kind", "slurm"}},
		{"[cluster lab]\nkind=k8s\nshared-dir=/srv/f\n", {"[cluster lab] kind", "'slurm'"}},
		{"[cluster lab]\nkind=slurm\n", {"[cluster lab] shared-dir", "missing"}},
		{"[cluster lab]\nkind=slurm\nshared-dir=srv/f\n",
		 {"[cluster lab] shared-dir", "absolute path"}},
		{"[cluster lab]\nkind=slurm\nshared-dir=/srv/f\nmemory=lots\n",
		 {"[cluster lab] memory", "4G"}},
		{"[cluster lab]\nkind=slurm\nshared-dir=/srv/f\nmemory=0\n",
		 {"[cluster lab] memory", "4G"}},
		{"[cluster lab]\nkind=slurm\nshared-dir=/srv/f\ntime=forever\n",
		 {"[cluster lab] time", "2h"}},
		{"[cluster lab]\nkind=slurm\nshared-dir=/srv/f\ncpus=0\n",
		 {"[cluster lab] cpus", "'0'"}},
		{"[cluster lab]\nkind=slurm\nshared-dir=/srv/f\npartition=a b\n",
		 {"[cluster lab] partition", "one word"}},
		{"[cluster lab]\nkind=slurm\nshared-dir=/srv/f\nqueue=x\n",
		 {"[cluster lab] queue", "unknown key"}},
		{"[cluster local]\nkind=slurm\nshared-dir=/srv/f\n",
		 {"[cluster local]", "'local'"}},
		{"[cluster a b]\nkind=slurm\nshared-dir=/srv/f\n", {"[cluster a b]", "one word"}},
		{"[fleet]\nplacement=lab\n", {"[fleet] placement", "[cluster lab]"}},
	};
	g_autofree gchar *dir = make_tmpdir();

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *path = write_config(dir, cases[i].text);
		g_autoptr(FlConfig) config = fl_config_load(path, &error);

		g_test_message("%s", cases[i].text);
		g_assert_null(config);
		g_assert_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT);
		g_test_message("→ %s", error->message);
		g_assert_true(g_str_has_prefix(error->message, path));
		g_assert_null(strchr(error->message, '\n'));
		g_assert_true(g_utf8_validate(error->message, -1, NULL));
		for (guint j = 0; j < G_N_ELEMENTS(cases[i].expect); j++) {
			if (cases[i].expect[j] != NULL)
				g_assert_nonnull(strstr(error->message, cases[i].expect[j]));
		}
	}
	rm_rf(dir);
}

/* a file GKeyFile cannot parse at all: the message names the file and quotes the line */
static void
test_config_syntax_error(void)
{
	const gchar *texts[] = {
		"[fleet]\nthis is not a key file\n",
		"[fleet]\n\xff\xfe binary\n",
		"max-parallel=3\n[fleet]\n",
		"[fleet\nmax-parallel=3\n",
	};
	g_autofree gchar *dir = make_tmpdir();
	g_autofree gchar *subdir = g_build_filename(dir, "conf.d", NULL);

	for (guint i = 0; i < G_N_ELEMENTS(texts); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *path = write_config(dir, texts[i]);
		g_autoptr(FlConfig) config = fl_config_load(path, &error);

		g_assert_null(config);
		g_assert_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT);
		g_test_message("%s", error->message);
		g_assert_true(g_str_has_prefix(error->message, path));
		g_assert_null(strchr(error->message, '\n'));
		g_assert_true(g_utf8_validate(error->message, -1, NULL));
	}
	/* a directory where the file should be is not "missing" */
	{
		g_autoptr(GError) error = NULL;
		g_autoptr(FlConfig) config = NULL;

		g_assert_cmpint(g_mkdir(subdir, 0700), ==, 0);
		config = fl_config_load(subdir, &error);
		g_assert_null(config);
		g_assert_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT);
		g_assert_true(g_str_has_prefix(error->message, subdir));
	}
	rm_rf(dir);
}

static void
test_config_default_path(void)
{
	g_autofree gchar *path = fl_config_default_path();
	g_autofree gchar *expected =
		g_build_filename(g_get_user_config_dir(), "flotilla", "flotilla.conf", NULL);

	g_assert_cmpstr(path, ==, expected);
}

int
main(int argc, char **argv)
{
	setlocale(LC_ALL, "");
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/config/defaults", test_config_defaults);
	g_test_add_func("/config/default-path", test_config_default_path);
	g_test_add_func("/config/missing-file", test_config_missing_file);
	g_test_add_func("/config/empty-file", test_config_empty_file);
	g_test_add_func("/config/example", test_config_example);
	g_test_add_func("/config/example-commented", test_config_example_commented);
	g_test_add_func("/config/example-documents-keys", test_config_example_documents_keys);
	g_test_add_func("/config/values", test_config_values);
	g_test_add_func("/config/agent-command", test_config_agent_command);
	g_test_add_func("/config/agent-override", test_config_agent_override);
	g_test_add_func("/config/agent-http", test_config_agent_http);
	g_test_add_func("/config/cost", test_config_cost);
	g_test_add_func("/config/repo-verify", test_config_repo_verify);
	g_test_add_func("/config/cluster", test_config_cluster);
	g_test_add_func("/config/errors", test_config_errors);
	g_test_add_func("/config/syntax-error", test_config_syntax_error);
	return g_test_run();
}
