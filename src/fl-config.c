#include "config.h"

#include "fl-config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "fl-error.h"
#include "fl-schedule.h"

static void
fl_agent_config_free(FlAgentConfig *agent)
{
	if (agent == NULL)
		return;
	g_free(agent->name);
	g_free(agent->kind);
	g_strfreev(agent->command);
	g_strfreev(agent->env);
	g_free(agent->api);
	g_free(agent->url);
	g_free(agent->model);
	g_free(agent->api_key_env);
	g_free(agent->output);
	g_free(agent);
}

static FlAgentConfig *
fl_agent_preset(const gchar *name, const gchar *const *command)
{
	FlAgentConfig *agent = g_new0(FlAgentConfig, 1);

	agent->name = g_strdup(name);
	agent->kind = g_strdup("command");
	agent->command = g_strdupv((gchar **)command);
	return agent;
}

FlConfig *
fl_config_new_default(void)
{
	FlConfig *self = g_new0(FlConfig, 1);
	const gchar *shell[] = {"sh", "-c", "{goal}", NULL};
	const gchar *aider[] = {"aider", "--message", "{goal}", "--yes-always", NULL};
	const gchar *review[] = {"x-terminal-emulator", "-e", "flotilla", "review", NULL};

	self->max_parallel = 3;
	self->max_unreviewed = 5;
	self->cancel_grace = 10;
	self->verify_timeout = 600;
	self->now_blocked = TRUE;
	self->review_command = g_strdupv((gchar **)review);
	self->repo_verify = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	self->agents = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					     (GDestroyNotify)fl_agent_config_free);
	g_hash_table_insert(self->agents, g_strdup("shell"), fl_agent_preset("shell", shell));
	g_hash_table_insert(self->agents, g_strdup("aider"), fl_agent_preset("aider", aider));
	return self;
}

void
fl_config_free(FlConfig *self)
{
	if (self == NULL)
		return;
	g_free(self->path);
	g_free(self->checkin_times);
	g_free(self->checkin_every);
	g_free(self->checkin_days);
	g_free(self->checkin_quiet_hours);
	g_strfreev(self->review_command);
	g_hash_table_unref(self->repo_verify);
	g_hash_table_unref(self->agents);
	g_free(self);
}

gchar *
fl_config_default_path(void)
{
	return g_build_filename(g_get_user_config_dir(), "flotilla", "flotilla.conf", NULL);
}

static gboolean
fl_config_fail(GError **error, const gchar *path, const gchar *group, const gchar *key,
	       const gchar *what)
{
	if (key != NULL)
		g_set_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT, "%s: [%s] %s: %s", path,
			    group, key, what);
	else
		g_set_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT, "%s: [%s]: %s", path, group,
			    what);
	return FALSE;
}

static gboolean
fl_config_check_keys(GKeyFile *kf, const gchar *path, const gchar *group,
		     const gchar *const *allowed, GError **error)
{
	g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);

	for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
		if (!g_strv_contains(allowed, keys[i]))
			return fl_config_fail(error, path, group, keys[i], _("unknown key"));
	}
	return TRUE;
}

static gboolean
fl_config_get_uint(GKeyFile *kf, const gchar *path, const gchar *group, const gchar *key, guint min,
		   guint max, guint *value, GError **error)
{
	g_autofree gchar *raw = NULL;
	guint64 v = 0;

	if (!g_key_file_has_key(kf, group, key, NULL))
		return TRUE;
	raw = g_key_file_get_value(kf, group, key, NULL);
	g_strstrip(raw);
	if (!g_ascii_string_to_unsigned(raw, 10, min, max, &v, NULL)) {
		g_autofree gchar *what = g_strdup_printf(
			_("'%s' is not a whole number from %u to %u"), raw, min, max);
		return fl_config_fail(error, path, group, key, what);
	}
	*value = (guint)v;
	return TRUE;
}

static gchar *
fl_config_get_str(GKeyFile *kf, const gchar *group, const gchar *key)
{
	g_autofree gchar *raw = g_key_file_get_string(kf, group, key, NULL);

	if (raw == NULL)
		return NULL;
	g_strstrip(raw);
	if (raw[0] == '\0')
		return NULL;
	return g_steal_pointer(&raw);
}

static gboolean
fl_config_load_fleet(FlConfig *self, GKeyFile *kf, GError **error)
{
	const gchar *keys[] = {"max-parallel", "max-unreviewed", "cancel-grace", "verify-timeout",
			       NULL};

	if (!g_key_file_has_group(kf, "fleet"))
		return TRUE;
	return fl_config_check_keys(kf, self->path, "fleet", keys, error) &&
	       fl_config_get_uint(kf, self->path, "fleet", "max-parallel", 1, 256,
				  &self->max_parallel, error) &&
	       fl_config_get_uint(kf, self->path, "fleet", "max-unreviewed", 0, 10000,
				  &self->max_unreviewed, error) &&
	       fl_config_get_uint(kf, self->path, "fleet", "cancel-grace", 0, 3600,
				  &self->cancel_grace, error) &&
	       fl_config_get_uint(kf, self->path, "fleet", "verify-timeout", 1, 86400,
				  &self->verify_timeout, error);
}

static gboolean
fl_config_load_checkin(FlConfig *self, GKeyFile *kf, GError **error)
{
	const gchar *keys[] = {"times", "every",          "days", "quiet-hours",
			       "now",   "review-command", NULL};
	g_autoptr(FlSchedule) schedule = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *now = NULL;
	g_autofree gchar *review = NULL;

	if (!g_key_file_has_group(kf, "checkin"))
		return TRUE;
	if (!fl_config_check_keys(kf, self->path, "checkin", keys, error))
		return FALSE;
	self->checkin_times = fl_config_get_str(kf, "checkin", "times");
	self->checkin_every = fl_config_get_str(kf, "checkin", "every");
	self->checkin_days = fl_config_get_str(kf, "checkin", "days");
	self->checkin_quiet_hours = fl_config_get_str(kf, "checkin", "quiet-hours");
	schedule = fl_schedule_new(self->checkin_times, self->checkin_every, self->checkin_days,
				   self->checkin_quiet_hours, &error_local);
	if (schedule == NULL) {
		/* the schedule's message starts with the key name */
		g_set_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT, "%s: [checkin] %s",
			    self->path, error_local->message);
		return FALSE;
	}
	now = fl_config_get_str(kf, "checkin", "now");
	if (now != NULL) {
		g_auto(GStrv) events = g_strsplit_set(now, ";,", -1);
		self->now_blocked = FALSE;
		self->now_failed = FALSE;
		for (guint i = 0; events[i] != NULL; i++) {
			g_strstrip(events[i]);
			if (g_strcmp0(events[i], "blocked") == 0) {
				self->now_blocked = TRUE;
			} else if (g_strcmp0(events[i], "failed") == 0) {
				self->now_failed = TRUE;
			} else if (events[i][0] != '\0' && g_strcmp0(events[i], "none") != 0) {
				g_autofree gchar *what = g_strdup_printf(
					_("'%s' is not an event (blocked, failed or none)"),
					events[i]);
				return fl_config_fail(error, self->path, "checkin", "now", what);
			}
		}
	}
	review = fl_config_get_str(kf, "checkin", "review-command");
	if (review != NULL) {
		g_auto(GStrv) argv = NULL;
		if (!g_shell_parse_argv(review, NULL, &argv, &error_local))
			return fl_config_fail(error, self->path, "checkin", "review-command",
					      error_local->message);
		g_strfreev(self->review_command);
		self->review_command = g_steal_pointer(&argv);
	}
	return TRUE;
}

static gboolean
fl_config_load_agent(FlConfig *self, GKeyFile *kf, const gchar *group, const gchar *name,
		     GError **error)
{
	const gchar *keys[] = {"kind",  "command",     "env",    "api",        "url",
			       "model", "api-key-env", "output", "max-tokens", NULL};
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *command = NULL;
	FlAgentConfig *agent;

	if (!fl_config_check_keys(kf, self->path, group, keys, error))
		return FALSE;
	if (name[0] == '\0' || strpbrk(name, " \t/") != NULL)
		return fl_config_fail(error, self->path, group, NULL,
				      _("an agent name must be one word"));
	agent = g_new0(FlAgentConfig, 1);
	agent->name = g_strdup(name);
	g_hash_table_insert(self->agents, g_strdup(name), agent);
	agent->kind = fl_config_get_str(kf, group, "kind");
	if (agent->kind == NULL)
		agent->kind =
			g_strdup(g_key_file_has_key(kf, group, "url", NULL) ? "http" : "command");
	if (g_strcmp0(agent->kind, "command") != 0 && g_strcmp0(agent->kind, "http") != 0)
		return fl_config_fail(error, self->path, group, "kind",
				      _("must be 'command' or 'http'"));
	command = fl_config_get_str(kf, group, "command");
	if (command != NULL && !g_shell_parse_argv(command, NULL, &agent->command, &error_local))
		return fl_config_fail(error, self->path, group, "command", error_local->message);
	if (g_strcmp0(agent->kind, "command") == 0 && agent->command == NULL)
		return fl_config_fail(error, self->path, group, "command",
				      _("a command agent needs a command"));
	agent->env = g_key_file_get_string_list(kf, group, "env", NULL, NULL);
	for (guint i = 0; agent->env != NULL && agent->env[i] != NULL; i++) {
		if (strchr(agent->env[i], '=') == NULL || agent->env[i][0] == '=')
			return fl_config_fail(error, self->path, group, "env",
					      _("entries must be KEY=VALUE, separated by ';'"));
	}
	agent->api = fl_config_get_str(kf, group, "api");
	agent->url = fl_config_get_str(kf, group, "url");
	agent->model = fl_config_get_str(kf, group, "model");
	agent->api_key_env = fl_config_get_str(kf, group, "api-key-env");
	agent->output = fl_config_get_str(kf, group, "output");
	agent->max_tokens = 4096;
	if (!fl_config_get_uint(kf, self->path, group, "max-tokens", 1, 1000000, &agent->max_tokens,
				error))
		return FALSE;
	if (g_strcmp0(agent->kind, "http") == 0) {
		if (agent->url == NULL)
			return fl_config_fail(error, self->path, group, "url",
					      _("an http agent needs a url"));
		if (agent->api == NULL)
			agent->api = g_strdup("anthropic");
		if (g_strcmp0(agent->api, "anthropic") != 0 && g_strcmp0(agent->api, "openai") != 0)
			return fl_config_fail(error, self->path, group, "api",
					      _("must be 'anthropic' or 'openai'"));
		if (agent->model == NULL)
			return fl_config_fail(error, self->path, group, "model",
					      _("an http agent needs a model"));
	}
	return TRUE;
}

FlConfig *
fl_config_load(const gchar *path, GError **error)
{
	g_autoptr(FlConfig) self = fl_config_new_default();
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) error_local = NULL;
	g_auto(GStrv) groups = NULL;

	self->path = g_strdup(path);
	if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &error_local)) {
		if (g_error_matches(error_local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return g_steal_pointer(&self);
		g_set_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT, "%s: %s", path,
			    error_local->message);
		return NULL;
	}
	groups = g_key_file_get_groups(kf, NULL);
	for (guint i = 0; groups[i] != NULL; i++) {
		const gchar *group = groups[i];
		if (g_strcmp0(group, "fleet") == 0 || g_strcmp0(group, "checkin") == 0)
			continue;
		if (g_str_has_prefix(group, "agent ")) {
			if (!fl_config_load_agent(self, kf, group, group + 6, error))
				return NULL;
		} else if (g_str_has_prefix(group, "repo ")) {
			const gchar *keys[] = {"verify", NULL};
			const gchar *repo = group + 5;
			g_autofree gchar *verify = NULL;
			if (!g_path_is_absolute(repo)) {
				fl_config_fail(error, path, group, NULL,
					       _("the repository must be an absolute path"));
				return NULL;
			}
			if (!fl_config_check_keys(kf, path, group, keys, error))
				return NULL;
			verify = fl_config_get_str(kf, group, "verify");
			if (verify != NULL) {
				g_autofree gchar *canon = g_canonicalize_filename(repo, NULL);
				g_hash_table_insert(self->repo_verify, g_steal_pointer(&canon),
						    g_steal_pointer(&verify));
			}
		} else {
			fl_config_fail(error, path, group, NULL, _("unknown group"));
			return NULL;
		}
	}
	if (!fl_config_load_fleet(self, kf, error) || !fl_config_load_checkin(self, kf, error))
		return NULL;
	return g_steal_pointer(&self);
}

const FlAgentConfig *
fl_config_get_agent(const FlConfig *self, const gchar *name)
{
	return g_hash_table_lookup(self->agents, name);
}

const gchar *
fl_config_get_repo_verify(const FlConfig *self, const gchar *toplevel)
{
	return g_hash_table_lookup(self->repo_verify, toplevel);
}
