/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fl-agent.h"
#include "fl-error.h"
#include "fl-i18n.h"
#include "fl-msg.h"
#include "fl-schedule.h"
#include "fl-slurm.h"

static void
fl_config_agent_config_free(FlAgentConfig *agent)
{
	if (agent == NULL)
		return;
	g_free(agent->name);
	g_strfreev(agent->command);
	g_strfreev(agent->env);
	g_free(agent->api);
	g_free(agent->url);
	g_free(agent->model);
	g_free(agent->api_key_env);
	g_free(agent->output);
	g_free(agent->permission_mode);
	g_free(agent);
}

static void
fl_config_cluster_config_free(FlClusterConfig *cluster)
{
	if (cluster == NULL)
		return;
	g_free(cluster->name);
	g_free(cluster->kind);
	g_free(cluster->partition);
	g_free(cluster->shared_dir);
	g_free(cluster);
}

static FlAgentConfig *
fl_config_agent_new(void)
{
	FlAgentConfig *agent = g_new0(FlAgentConfig, 1);

	agent->network = TRUE;
	agent->memory = FL_LIMIT_INHERIT;
	agent->pids = FL_LIMIT_INHERIT;
	agent->cpu = FL_LIMIT_INHERIT;
	agent->timeout = FL_LIMIT_INHERIT;
	return agent;
}

static FlAgentConfig *
fl_config_agent_preset(const FlAgentClass *klass, const FlAgentPreset *preset)
{
	FlAgentConfig *agent = fl_config_agent_new();

	agent->name = g_strdup(preset->name);
	agent->klass = klass;
	agent->command = g_strdupv((gchar **)preset->command);
	return agent;
}

FlConfig *
fl_config_new_default(void)
{
	FlConfig *self = g_new0(FlConfig, 1);
	const FlAgentClass *const *kinds = fl_agent_class_list();

	self->max_parallel = 3;
	self->max_unreviewed = 5;
	self->cancel_grace = 10;
	self->verify_timeout = 600;
	self->default_agent = g_strdup("shell");
	self->confinement = TRUE;
	self->now_blocked = TRUE;
	self->repo_verify = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	self->prices = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	self->agents = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					     (GDestroyNotify)fl_config_agent_config_free);
	self->clusters = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					       (GDestroyNotify)fl_config_cluster_config_free);
	for (guint i = 0; kinds[i] != NULL; i++) {
		for (const FlAgentPreset *p = kinds[i]->presets; p != NULL && p->name != NULL; p++)
			g_hash_table_insert(self->agents, g_strdup(p->name),
					    fl_config_agent_preset(kinds[i], p));
	}
	return self;
}

void
fl_config_free(FlConfig *self)
{
	if (self == NULL)
		return;
	g_free(self->path);
	g_free(self->default_agent);
	g_strfreev(self->writable);
	g_strfreev(self->read_only);
	g_free(self->checkin_times);
	g_free(self->checkin_every);
	g_free(self->checkin_days);
	g_free(self->checkin_quiet_hours);
	g_strfreev(self->review_command);
	g_hash_table_unref(self->repo_verify);
	g_hash_table_unref(self->prices);
	g_free(self->webhook);
	g_free(self->webhook_format);
	g_hash_table_unref(self->agents);
	g_hash_table_unref(self->clusters);
	g_free(self->placement);
	g_free(self);
}

gchar *
fl_config_default_path(void)
{
	return g_build_filename(g_get_user_config_dir(), "flotilla", "flotilla.conf", NULL);
}

/*
 * "PATH: [GROUP] KEY: WHAT", WHAT translated late (fl-msg.h): flotillad reports it to a CLI
 * that may read another language (reload, set, a start-up that failed). Takes @what.
 */
static gboolean
fl_config_fail_msg(GError **error, const gchar *path, const gchar *group, const gchar *key,
		   FlMsg *what)
{
	/* the message quotes the file's bytes, which need not be UTF-8 */
	g_autofree gchar *where = NULL;
	g_autofree gchar *english = NULL;
	g_autofree gchar *valid = NULL;
	FlMsg *msg = what;
	GError *local;

	if (key != NULL)
		where = g_strdup_printf("%s: [%s] %s: ", path, group, key);
	else
		where = g_strdup_printf("%s: [%s]: ", path, group);
	fl_msg_prepend(msg, fl_msg_new_literal(where));
	english = fl_msg_render_english(msg);
	valid = g_utf8_make_valid(english, -1);
	if (g_strcmp0(valid, english) != 0) {
		/* bytes that are no text cannot be cleaned inside the arguments: English */
		fl_msg_free(msg);
		msg = fl_msg_new_literal(valid);
	}
	local = g_error_new_literal(FL_ERROR, FL_ERROR_INVALID_ARGUMENT, valid);
	fl_error_set_msg(local, msg);
	g_propagate_error(error, local);
	return FALSE;
}

/* the same with a msgid that has no arguments */
static gboolean
fl_config_fail(GError **error, const gchar *path, const gchar *group, const gchar *key,
	       const gchar *msgid)
{
	return fl_config_fail_msg(error, path, group, key, fl_msg_new("%s", fl_msg_word(msgid)));
}

static gboolean
fl_config_check_keys(GKeyFile *kf, const gchar *path, const gchar *group,
		     const gchar *const *allowed, GError **error)
{
	g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);

	for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
		if (!g_strv_contains(allowed, keys[i]))
			return fl_config_fail(error, path, group, keys[i], N_("unknown key"));
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
		FlMsg *what =
			fl_msg_new(N_("'%s' is not a whole number from %u to %u"), raw, min, max);
		return fl_config_fail_msg(error, path, group, key, what);
	}
	*value = (guint)v;
	return TRUE;
}

/*
 * A string value, stripped, NULL when missing or empty. GKeyFile escapes (\s, \n, \t, \\)
 * apply; a value that is not UTF-8 is an error rather than a silently missing value.
 */
static gboolean
fl_config_get_str(GKeyFile *kf, const gchar *path, const gchar *group, const gchar *key,
		  gchar **value, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *raw = NULL;

	*value = NULL;
	if (!g_key_file_has_key(kf, group, key, NULL))
		return TRUE;
	raw = g_key_file_get_string(kf, group, key, &error_local);
	if (raw == NULL)
		return fl_config_fail_msg(error, path, group, key,
					  fl_msg_new_literal(error_local->message));
	g_strstrip(raw);
	if (raw[0] != '\0')
		*value = g_steal_pointer(&raw);
	return TRUE;
}

/*
 * A command line, parsed with shell quoting and taken verbatim from the file: GKeyFile
 * escapes would otherwise eat the backslashes a shell user writes ('%s\n', 'a\.b').
 * @argv stays NULL when the key is missing or empty.
 */
static gboolean
fl_config_get_argv(GKeyFile *kf, const gchar *path, const gchar *group, const gchar *key,
		   gchar ***argv, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *raw = NULL;

	*argv = NULL;
	if (!g_key_file_has_key(kf, group, key, NULL))
		return TRUE;
	raw = g_key_file_get_value(kf, group, key, NULL);
	g_strstrip(raw);
	if (raw[0] == '\0')
		return TRUE;
	if (!g_shell_parse_argv(raw, NULL, argv, &error_local))
		return fl_config_fail_msg(error, path, group, key,
					  fl_msg_new_literal(error_local->message));
	/* "{goal" or "goal}" would reach the agent as it stands: a typo, not a placeholder */
	for (guint i = 0; (*argv)[i] != NULL; i++) {
		const gchar *arg = (*argv)[i];
		gint depth = 0;

		for (const gchar *p = arg; *p != '\0' && depth >= 0 && depth <= 1; p++)
			depth += *p == '{' ? 1 : *p == '}' ? -1 : 0;
		if (depth != 0) {
			FlMsg *what = fl_msg_new(
				/* TRANSLATORS: an argument of a command line in the config file */
				N_("unbalanced brace in '%s' (placeholders are whole arguments "
				   "like "
				   "{goal})"),
				arg);
			g_clear_pointer(argv, g_strfreev);
			return fl_config_fail_msg(error, path, group, key, what);
		}
	}
	return TRUE;
}

/* GKeyFile merges a group written twice into one; in a config that hides a mistake */
static gboolean
fl_config_check_duplicate_groups(const gchar *path, const gchar *data, GError **error)
{
	g_auto(GStrv) lines = g_strsplit(data, "\n", -1);
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	for (guint i = 0; lines[i] != NULL; i++) {
		gchar *line = g_strstrip(lines[i]);
		gsize len = strlen(line);

		if (len < 2 || line[0] != '[' || line[len - 1] != ']')
			continue;
		line[len - 1] = '\0';
		if (!g_hash_table_add(seen, g_strdup(line + 1)))
			return fl_config_fail(error, path, line + 1, NULL,
					      N_("the group appears twice"));
	}
	return TRUE;
}

/*
 * A limit: "none" or 0 for no limit, else a whole number with an optional unit; @units maps
 * suffixes to factors (NULL: plain numbers only). Missing keys leave @value alone.
 */
static gboolean
fl_config_get_limit(GKeyFile *kf, const gchar *path, const gchar *group, const gchar *key,
		    const gchar *const *units, const guint64 *factors, gint64 *value,
		    GError **error)
{
	g_autofree gchar *raw = NULL;
	g_autofree gchar *number = NULL;
	guint64 factor = 1;
	guint64 v = 0;
	gsize len;

	if (!g_key_file_has_key(kf, group, key, NULL))
		return TRUE;
	raw = g_key_file_get_value(kf, group, key, NULL);
	g_strstrip(raw);
	if (g_ascii_strcasecmp(raw, "none") == 0) {
		*value = 0;
		return TRUE;
	}
	number = g_strdup(raw);
	len = strlen(number);
	for (guint i = 0; units != NULL && units[i] != NULL && len > 0; i++) {
		if (g_ascii_strcasecmp(number + len - 1, units[i]) == 0) {
			factor = factors[i];
			number[len - 1] = '\0';
			break;
		}
	}
	if (!g_ascii_string_to_unsigned(number, 10, 0, G_MAXINT64 / factor, &v, NULL)) {
		g_autofree gchar *list = units != NULL ? g_strjoinv(", ", (gchar **)units) : NULL;
		FlMsg *what = units == NULL
				      ? fl_msg_new(N_("'%s' is not a whole number or 'none'"), raw)
				      : fl_msg_new(N_("'%s' is not a whole number with an optional "
						      "unit (%s) or 'none'"),
						   raw, list);
		return fl_config_fail_msg(error, path, group, key, what);
	}
	*value = (gint64)(v * factor);
	return TRUE;
}

static const gchar *const fl_config_size_units[] = {"K", "M", "G", "T", NULL};
static const guint64 fl_config_size_factors[] = {
	G_GUINT64_CONSTANT(1) << 10, G_GUINT64_CONSTANT(1) << 20, G_GUINT64_CONSTANT(1) << 30,
	G_GUINT64_CONSTANT(1) << 40};
static const gchar *const fl_config_time_units[] = {"s", "m", "h", "d", NULL};
static const guint64 fl_config_time_factors[] = {1, 60, 3600, 86400};

/* memory=, pids=, cpu=, timeout= of [fleet] or an [agent NAME] */
static gboolean
fl_config_get_limits(GKeyFile *kf, const gchar *path, const gchar *group, gint64 *memory,
		     gint64 *pids, gint64 *cpu, gint64 *timeout, GError **error)
{
	return fl_config_get_limit(kf, path, group, "memory", fl_config_size_units,
				   fl_config_size_factors, memory, error) &&
	       fl_config_get_limit(kf, path, group, "pids", NULL, NULL, pids, error) &&
	       fl_config_get_limit(kf, path, group, "cpu", fl_config_time_units,
				   fl_config_time_factors, cpu, error) &&
	       fl_config_get_limit(kf, path, group, "timeout", fl_config_time_units,
				   fl_config_time_factors, timeout, error);
}

static gboolean
fl_config_get_switch(GKeyFile *kf, const gchar *path, const gchar *group, const gchar *key,
		     const gchar *on, const gchar *off, gboolean *value, GError **error)
{
	g_autofree gchar *raw = NULL;

	if (!g_key_file_has_key(kf, group, key, NULL))
		return TRUE;
	raw = g_key_file_get_value(kf, group, key, NULL);
	g_strstrip(raw);
	if (g_strcmp0(raw, on) == 0) {
		*value = TRUE;
	} else if (g_strcmp0(raw, off) == 0) {
		*value = FALSE;
	} else {
		FlMsg *what = fl_msg_new(N_("must be '%s' or '%s'"), on, off);
		return fl_config_fail_msg(error, path, group, key, what);
	}
	return TRUE;
}

/* a ';'-separated list of absolute paths */
static gboolean
fl_config_get_paths(GKeyFile *kf, const gchar *path, const gchar *group, const gchar *key,
		    gchar ***paths, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_auto(GStrv) list = NULL;

	if (!g_key_file_has_key(kf, group, key, NULL))
		return TRUE;
	list = g_key_file_get_string_list(kf, group, key, NULL, &error_local);
	if (list == NULL)
		return fl_config_fail_msg(error, path, group, key,
					  fl_msg_new_literal(error_local->message));
	for (guint i = 0; list[i] != NULL; i++) {
		g_strstrip(list[i]);
		if (!g_path_is_absolute(list[i])) {
			FlMsg *what = fl_msg_new(N_("'%s' is not an absolute path"), list[i]);
			return fl_config_fail_msg(error, path, group, key, what);
		}
	}
	g_strfreev(*paths);
	*paths = g_steal_pointer(&list);
	return TRUE;
}

static gboolean
fl_config_parse_price(const gchar *text, gdouble *value);

static gboolean
fl_config_load_fleet(FlConfig *self, GKeyFile *kf, GError **error)
{
	const gchar *keys[] = {
		"max-parallel", "max-unreviewed", "cancel-grace", "verify-timeout", "default-agent",
		"placement",    "confinement",    "memory",       "pids",           "cpu",
		"timeout",      "writable",       "read-only",    "daily-budget",   NULL};
	g_autofree gchar *agent = NULL;
	gint64 memory = (gint64)self->memory;
	gint64 pids = (gint64)self->pids;
	gint64 cpu = (gint64)self->cpu;
	gint64 timeout = (gint64)self->timeout;

	if (!g_key_file_has_group(kf, "fleet"))
		return TRUE;
	if (!fl_config_check_keys(kf, self->path, "fleet", keys, error) ||
	    !fl_config_get_uint(kf, self->path, "fleet", "max-parallel", 1, 256,
				&self->max_parallel, error) ||
	    !fl_config_get_uint(kf, self->path, "fleet", "max-unreviewed", 0, 10000,
				&self->max_unreviewed, error) ||
	    !fl_config_get_uint(kf, self->path, "fleet", "cancel-grace", 0, 3600,
				&self->cancel_grace, error) ||
	    !fl_config_get_uint(kf, self->path, "fleet", "verify-timeout", 1, 86400,
				&self->verify_timeout, error) ||
	    !fl_config_get_switch(kf, self->path, "fleet", "confinement", "on", "off",
				  &self->confinement, error) ||
	    !fl_config_get_limits(kf, self->path, "fleet", &memory, &pids, &cpu, &timeout, error) ||
	    !fl_config_get_paths(kf, self->path, "fleet", "writable", &self->writable, error) ||
	    !fl_config_get_paths(kf, self->path, "fleet", "read-only", &self->read_only, error))
		return FALSE;
	self->memory = (guint64)memory;
	self->pids = (guint64)pids;
	self->cpu = (guint64)cpu;
	self->timeout = (guint64)timeout;
	if (!fl_config_get_str(kf, self->path, "fleet", "placement", &self->placement, error))
		return FALSE;
	{
		g_autofree gchar *budget = g_key_file_get_value(kf, "fleet", "daily-budget", NULL);

		if (budget != NULL && !fl_config_parse_price(budget, &self->daily_budget)) {
			FlMsg *what = fl_msg_new(
				N_("'%s' is not an amount in dollars, e.g. 20 or 7.50"), budget);
			return fl_config_fail_msg(error, self->path, "fleet", "daily-budget", what);
		}
	}
	/* "local" is the default spelled out */
	if (g_strcmp0(self->placement, "local") == 0)
		g_clear_pointer(&self->placement, g_free);
	if (self->placement != NULL && fl_config_get_cluster(self, self->placement) == NULL) {
		FlMsg *what = fl_msg_new(N_("no [cluster %s] in this file (or 'local')"),
					 self->placement);
		return fl_config_fail_msg(error, self->path, "fleet", "placement", what);
	}
	agent = g_key_file_get_value(kf, "fleet", "default-agent", NULL);
	if (agent == NULL)
		return TRUE;
	g_strstrip(agent);
	/* the [agent] groups are loaded by now: a name that runs nothing fails here, not at run */
	if (fl_config_get_agent(self, agent) == NULL) {
		FlMsg *what = fl_msg_new(N_("unknown agent '%s'"), agent);
		return fl_config_fail_msg(error, self->path, "fleet", "default-agent", what);
	}
	g_free(self->default_agent);
	self->default_agent = g_steal_pointer(&agent);
	return TRUE;
}

static gboolean
fl_config_load_now(FlConfig *self, GKeyFile *kf, GError **error)
{
	g_autofree gchar *now = NULL;
	g_auto(GStrv) events = NULL;

	if (!fl_config_get_str(kf, self->path, "checkin", "now", &now, error))
		return FALSE;
	if (now == NULL)
		return TRUE;
	events = g_strsplit_set(now, ";,", -1);
	self->now_blocked = FALSE;
	self->now_failed = FALSE;
	for (guint i = 0; events[i] != NULL; i++) {
		g_strstrip(events[i]);
		if (g_strcmp0(events[i], "blocked") == 0) {
			self->now_blocked = TRUE;
		} else if (g_strcmp0(events[i], "failed") == 0) {
			self->now_failed = TRUE;
		} else if (events[i][0] != '\0' && g_strcmp0(events[i], "none") != 0) {
			FlMsg *what = fl_msg_new(
				N_("'%s' is not an event (blocked, failed or none)"), events[i]);
			return fl_config_fail_msg(error, self->path, "checkin", "now", what);
		}
	}
	return TRUE;
}

static gboolean
fl_config_load_checkin(FlConfig *self, GKeyFile *kf, GError **error)
{
	const gchar *keys[] = {"times",          "every",   "days",           "quiet-hours", "now",
			       "review-command", "webhook", "webhook-format", NULL};
	g_autoptr(FlSchedule) schedule = NULL;
	g_autoptr(GError) error_local = NULL;
	g_auto(GStrv) review = NULL;

	if (!g_key_file_has_group(kf, "checkin"))
		return TRUE;
	if (!fl_config_check_keys(kf, self->path, "checkin", keys, error))
		return FALSE;
	if (!fl_config_get_str(kf, self->path, "checkin", "times", &self->checkin_times, error) ||
	    !fl_config_get_str(kf, self->path, "checkin", "every", &self->checkin_every, error) ||
	    !fl_config_get_str(kf, self->path, "checkin", "days", &self->checkin_days, error) ||
	    !fl_config_get_str(kf, self->path, "checkin", "quiet-hours", &self->checkin_quiet_hours,
			       error))
		return FALSE;
	schedule = fl_schedule_new(self->checkin_times, self->checkin_every, self->checkin_days,
				   self->checkin_quiet_hours, &error_local);
	if (schedule == NULL) {
		/* the schedule's message starts with the key name; it stays a message */
		g_propagate_error(error, g_steal_pointer(&error_local));
		fl_prefix_error(error, "%s: [checkin] ", self->path);
		return FALSE;
	}
	if (!fl_config_load_now(self, kf, error))
		return FALSE;
	if (!fl_config_get_str(kf, self->path, "checkin", "webhook", &self->webhook, error) ||
	    !fl_config_get_str(kf, self->path, "checkin", "webhook-format", &self->webhook_format,
			       error))
		return FALSE;
	if (self->webhook != NULL && !g_str_has_prefix(self->webhook, "http://") &&
	    !g_str_has_prefix(self->webhook, "https://"))
		return fl_config_fail(error, self->path, "checkin", "webhook",
				      N_("must be an http:// or https:// URL"));
	if (self->webhook_format == NULL)
		self->webhook_format = g_strdup("json");
	if (g_strcmp0(self->webhook_format, "json") != 0 &&
	    g_strcmp0(self->webhook_format, "ntfy") != 0)
		return fl_config_fail(error, self->path, "checkin", "webhook-format",
				      N_("must be 'json' or 'ntfy'"));
	if (!fl_config_get_argv(kf, self->path, "checkin", "review-command", &review, error))
		return FALSE;
	if (review != NULL) {
		g_strfreev(self->review_command);
		self->review_command = g_steal_pointer(&review);
	}
	return TRUE;
}

static gboolean
fl_config_load_agent(FlConfig *self, GKeyFile *kf, const gchar *group, const gchar *name,
		     GError **error)
{
	const gchar *keys[] = {"kind",   "command",     "env",    "api",        "url",
			       "model",  "api-key-env", "output", "max-tokens", "network",
			       "memory", "pids",        "cpu",    "timeout",    "permission-mode",
			       NULL};
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *kind = NULL;
	const gchar *key = NULL;
	FlAgentConfig *agent;

	if (!fl_config_check_keys(kf, self->path, group, keys, error))
		return FALSE;
	if (name[0] == '\0' || strpbrk(name, " \t/") != NULL)
		return fl_config_fail(error, self->path, group, NULL,
				      N_("an agent name must be one word"));
	/* replaces a preset of the same name; freed with the config even when invalid */
	agent = fl_config_agent_new();
	agent->name = g_strdup(name);
	g_hash_table_insert(self->agents, g_strdup(name), agent);
	if (!fl_config_get_str(kf, self->path, group, "kind", &kind, error))
		return FALSE;
	if (kind == NULL)
		kind = g_strdup(g_key_file_has_key(kf, group, "url", NULL) ? "http" : "command");
	agent->klass = fl_agent_class_lookup(kind);
	if (agent->klass == NULL) {
		g_autofree gchar *kinds = fl_agent_class_list_names();
		FlMsg *what = fl_msg_new(N_("must be one of %s"), kinds);
		return fl_config_fail_msg(error, self->path, group, "kind", what);
	}
	if (!fl_config_get_argv(kf, self->path, group, "command", &agent->command, error))
		return FALSE;
	if (agent->command == NULL && agent->klass->default_command != NULL)
		agent->command = g_strdupv((gchar **)agent->klass->default_command);
	if (g_key_file_has_key(kf, group, "env", NULL)) {
		agent->env = g_key_file_get_string_list(kf, group, "env", NULL, &error_local);
		if (agent->env == NULL)
			return fl_config_fail_msg(error, self->path, group, "env",
						  fl_msg_new_literal(error_local->message));
	}
	for (guint i = 0; agent->env != NULL && agent->env[i] != NULL; i++) {
		if (strchr(agent->env[i], '=') == NULL || agent->env[i][0] == '=') {
			FlMsg *what = fl_msg_new(
				N_("'%s' is not KEY=VALUE (entries are separated by ';')"),
				agent->env[i]);
			return fl_config_fail_msg(error, self->path, group, "env", what);
		}
	}
	if (!fl_config_get_str(kf, self->path, group, "api", &agent->api, error) ||
	    !fl_config_get_str(kf, self->path, group, "url", &agent->url, error) ||
	    !fl_config_get_str(kf, self->path, group, "model", &agent->model, error) ||
	    !fl_config_get_str(kf, self->path, group, "api-key-env", &agent->api_key_env, error) ||
	    !fl_config_get_str(kf, self->path, group, "output", &agent->output, error))
		return FALSE;
	agent->max_tokens = 4096;
	if (!fl_config_get_uint(kf, self->path, group, "max-tokens", 1, 1000000, &agent->max_tokens,
				error) ||
	    !fl_config_get_switch(kf, self->path, group, "network", "on", "none", &agent->network,
				  error) ||
	    !fl_config_get_limits(kf, self->path, group, &agent->memory, &agent->pids, &agent->cpu,
				  &agent->timeout, error) ||
	    !fl_config_get_str(kf, self->path, group, "permission-mode", &agent->permission_mode,
			       error))
		return FALSE;
	if (agent->klass->validate != NULL && !agent->klass->validate(agent, &key, &error_local))
		return fl_config_fail_msg(error, self->path, group, key,
					  fl_msg_new_literal(error_local->message));
	return TRUE;
}

/*
 * The key under which a repository's settings are kept: git reports the top level with
 * symlinks resolved, so a configured path through a symlink must resolve the same way.
 */
static gchar *
fl_config_repo_key(const gchar *path)
{
	g_autofree gchar *canon = g_canonicalize_filename(path, NULL);
	g_autofree gchar *real = realpath(canon, NULL);

	if (real != NULL)
		return g_strdup(real);
	return g_steal_pointer(&canon);
}

static gboolean
fl_config_load_repo(FlConfig *self, GKeyFile *kf, const gchar *group, const gchar *repo,
		    GError **error)
{
	const gchar *keys[] = {"verify", NULL};
	g_autofree gchar *verify = NULL;

	if (!g_path_is_absolute(repo))
		return fl_config_fail(error, self->path, group, NULL,
				      N_("the repository must be an absolute path"));
	if (!fl_config_check_keys(kf, self->path, group, keys, error))
		return FALSE;
	/* a shell command line: taken verbatim, like a command agent's */
	verify = g_key_file_get_value(kf, group, "verify", NULL);
	if (verify == NULL)
		return TRUE;
	g_strstrip(verify);
	if (verify[0] == '\0')
		return TRUE;
	g_hash_table_insert(self->repo_verify, fl_config_repo_key(repo), g_steal_pointer(&verify));
	return TRUE;
}

/* [prices] MODEL=IN;OUT: US dollars per million input and output tokens */
static gboolean
fl_config_load_prices(FlConfig *self, GKeyFile *kf, GError **error)
{
	g_auto(GStrv) keys = g_key_file_get_keys(kf, "prices", NULL, NULL);

	for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
		g_autofree gchar *value = NULL;
		g_auto(GStrv) parts = NULL;
		gdouble in, out;
		gchar *end_in = NULL, *end_out = NULL;
		if (!fl_config_get_str(kf, self->path, "prices", keys[i], &value, error))
			return FALSE;
		parts = value != NULL ? g_strsplit(value, ";", -1) : NULL;
		if (parts == NULL || g_strv_length(parts) != 2)
			return fl_config_fail(
				error, self->path, "prices", keys[i],
				N_("must be INPUT;OUTPUT dollars per million tokens"));
		in = g_ascii_strtod(g_strstrip(parts[0]), &end_in);
		out = g_ascii_strtod(g_strstrip(parts[1]), &end_out);
		if (end_in == parts[0] || *end_in != '\0' || end_out == parts[1] ||
		    *end_out != '\0' || in < 0 || out < 0)
			return fl_config_fail(
				error, self->path, "prices", keys[i],
				N_("must be INPUT;OUTPUT dollars per million tokens"));
		g_hash_table_insert(self->prices, g_strdup(keys[i]), g_strdup(value));
	}
	return TRUE;
}

static gboolean
fl_config_load_cluster(FlConfig *self, GKeyFile *kf, const gchar *group, const gchar *name,
		       GError **error)
{
	const gchar *keys[] = {"kind", "partition", "shared-dir", "memory", "time", "cpus", NULL};
	g_autofree gchar *memory = NULL;
	g_autofree gchar *time = NULL;
	FlClusterConfig *cluster;

	if (!fl_config_check_keys(kf, self->path, group, keys, error))
		return FALSE;
	if (name[0] == '\0' || strpbrk(name, " \t/") != NULL || g_strcmp0(name, "local") == 0)
		return fl_config_fail(error, self->path, group, NULL,
				      N_("a cluster name must be one word other than 'local'"));
	/* freed with the config even when invalid */
	cluster = g_new0(FlClusterConfig, 1);
	cluster->name = g_strdup(name);
	g_hash_table_insert(self->clusters, g_strdup(name), cluster);
	if (!fl_config_get_str(kf, self->path, group, "kind", &cluster->kind, error) ||
	    !fl_config_get_str(kf, self->path, group, "partition", &cluster->partition, error) ||
	    !fl_config_get_str(kf, self->path, group, "shared-dir", &cluster->shared_dir, error) ||
	    !fl_config_get_str(kf, self->path, group, "memory", &memory, error) ||
	    !fl_config_get_str(kf, self->path, group, "time", &time, error) ||
	    !fl_config_get_uint(kf, self->path, group, "cpus", 1, 4096, &cluster->cpus, error))
		return FALSE;
	if (cluster->kind == NULL)
		return fl_config_fail(error, self->path, group, "kind",
				      N_("missing: which scheduler it is (slurm)"));
	if (g_strcmp0(cluster->kind, "slurm") != 0)
		return fl_config_fail(error, self->path, group, "kind",
				      N_("must be 'slurm' (the only kind so far)"));
	if (cluster->shared_dir == NULL)
		return fl_config_fail(
			error, self->path, group, "shared-dir",
			N_("missing: a directory this machine and the nodes both see"));
	if (!g_path_is_absolute(cluster->shared_dir))
		return fl_config_fail(error, self->path, group, "shared-dir",
				      N_("must be an absolute path"));
	if (cluster->partition != NULL && strpbrk(cluster->partition, " \t") != NULL)
		return fl_config_fail(error, self->path, group, "partition",
				      N_("must be one word"));
	if (memory != NULL && !fl_slurm_parse_memory(memory, &cluster->memory_mb))
		return fl_config_fail(error, self->path, group, "memory",
				      N_("must be a size like 512M or 4G"));
	if (time != NULL && !fl_slurm_parse_minutes(time, &cluster->time_minutes))
		return fl_config_fail(error, self->path, group, "time",
				      N_("must be a duration like 90m or 2h"));
	return TRUE;
}

FlConfig *
fl_config_load(const gchar *path, GError **error)
{
	g_autoptr(FlConfig) self = NULL;
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) error_local = NULL;
	g_auto(GStrv) groups = NULL;
	g_autofree gchar *data = NULL;
	gsize len = 0;

	g_return_val_if_fail(path != NULL, NULL);

	self = fl_config_new_default();
	self->path = g_strdup(path);
	if (!g_file_get_contents(path, &data, &len, &error_local) &&
	    g_error_matches(error_local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
		return g_steal_pointer(&self);
	/* translations kept so that "key[xx]=" is reported like any unknown key */
	if (data == NULL ||
	    !g_key_file_load_from_data(kf, data, len, G_KEY_FILE_KEEP_TRANSLATIONS, &error_local)) {
		g_autofree gchar *msg = NULL;
		g_autofree gchar *valid = NULL;
		msg = g_strdup_printf("%s: %s", path, error_local->message);
		valid = g_utf8_make_valid(msg, -1);
		g_set_error_literal(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT, valid);
		return NULL;
	}
	if (!fl_config_check_duplicate_groups(path, data, error))
		return NULL;
	groups = g_key_file_get_groups(kf, NULL);
	for (guint i = 0; groups[i] != NULL; i++) {
		const gchar *group = groups[i];
		if (g_strcmp0(group, "fleet") == 0 || g_strcmp0(group, "checkin") == 0)
			continue;
		if (g_strcmp0(group, "prices") == 0) {
			if (!fl_config_load_prices(self, kf, error))
				return NULL;
			continue;
		}
		if (g_str_has_prefix(group, "agent ")) {
			if (!fl_config_load_agent(self, kf, group, group + 6, error))
				return NULL;
		} else if (g_str_has_prefix(group, "repo ")) {
			if (!fl_config_load_repo(self, kf, group, group + 5, error))
				return NULL;
		} else if (g_str_has_prefix(group, "cluster ")) {
			if (!fl_config_load_cluster(self, kf, group, group + 8, error))
				return NULL;
		} else {
			fl_config_fail(error, path, group, NULL, N_("unknown group"));
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

static gint
fl_config_compare_names(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

gchar **
fl_config_get_api_key_envs(const FlConfig *self)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	GHashTableIter iter;
	gpointer value;

	g_hash_table_iter_init(&iter, self->agents);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		const FlAgentConfig *agent = value;

		if (agent->api_key_env != NULL &&
		    !g_ptr_array_find_with_equal_func(names, agent->api_key_env, g_str_equal, NULL))
			g_ptr_array_add(names, g_strdup(agent->api_key_env));
	}
	g_ptr_array_sort(names, fl_config_compare_names);
	g_ptr_array_add(names, NULL);
	return (gchar **)g_ptr_array_free(g_steal_pointer(&names), FALSE);
}

const FlClusterConfig *
fl_config_get_cluster(const FlConfig *self, const gchar *name)
{
	return name != NULL ? g_hash_table_lookup(self->clusters, name) : NULL;
}

GList *
fl_config_get_cluster_names(const FlConfig *self)
{
	return g_list_sort(g_hash_table_get_keys(self->clusters), (GCompareFunc)g_strcmp0);
}

const gchar *
fl_config_get_repo_verify(const FlConfig *self, const gchar *toplevel)
{
	/* no I/O here: @toplevel comes from git, already free of symlinks */
	g_autofree gchar *canon = g_canonicalize_filename(toplevel, NULL);

	return g_hash_table_lookup(self->repo_verify, canon);
}

static gboolean
fl_config_parse_price(const gchar *text, gdouble *value)
{
	g_autofree gchar *trimmed = g_strstrip(g_strdup(text));
	gchar *end = NULL;

	if (trimmed[0] == '\0')
		return FALSE;
	*value = g_ascii_strtod(trimmed, &end);
	return end != NULL && *end == '\0' && isfinite(*value) && *value >= 0;
}

gdouble
fl_config_get_cost(const FlConfig *self, const gchar *model, guint input_tokens,
		   guint output_tokens)
{
	gdouble in_price = 0;
	gdouble out_price = 0;

	if (!fl_config_get_prices(self, model, &in_price, &out_price))
		return -1;
	return ((gdouble)input_tokens * in_price + (gdouble)output_tokens * out_price) / 1e6;
}

gboolean
fl_config_get_prices(const FlConfig *self, const gchar *model, gdouble *in_price,
		     gdouble *out_price)
{
	const gchar *entry = NULL;
	gsize best = 0;
	g_auto(GStrv) parts = NULL;

	if (model == NULL)
		return FALSE;
	entry = g_hash_table_lookup(self->prices, model);
	if (entry == NULL) {
		GHashTableIter iter;
		gpointer key;
		gpointer value;

		/* "claude-x" prices the dated "claude-x-20250101" the API reports */
		g_hash_table_iter_init(&iter, self->prices);
		while (g_hash_table_iter_next(&iter, &key, &value)) {
			gsize len = strlen(key);

			if (len > best && g_str_has_prefix(model, key) && model[len] == '-') {
				best = len;
				entry = value;
			}
		}
	}
	if (entry == NULL)
		return FALSE;
	parts = g_strsplit(entry, ";", -1);
	return g_strv_length(parts) == 2 && fl_config_parse_price(parts[0], in_price) &&
	       fl_config_parse_price(parts[1], out_price);
}
