/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-placement.h"

#include <glib/gstdio.h>

#include "fl-error.h"
#include "fl-i18n.h"
#include "fl-msg.h"
#include "fl-placement-local.h"
#include "fl-placement-slurm.h"
#include "fl-runner-protocol.h"
#include "fl-util.h"

/* the intent record (see fl-placement.h); only this file reads and writes it */
#define FL_PLACEMENT_FILE_INTENT    "placement.json"
#define FL_PLACEMENT_KEY_VERSION    "v"
#define FL_PLACEMENT_KEY_KIND       "kind"
#define FL_PLACEMENT_KEY_NAME       "name"
#define FL_PLACEMENT_KEY_ATTEMPT    "attempt"
#define FL_PLACEMENT_KEY_JOB        "job"
#define FL_PLACEMENT_INTENT_VERSION 1

/* the registry: one line per kind */
typedef struct {
	const gchar *kind;
	GType (*get_type)(void);
} FlPlacementKind;

static const FlPlacementKind fl_placement_kinds[] = {
	{"local", fl_placement_local_get_type},
	{"slurm", fl_placement_slurm_get_type},
};

typedef struct {
	const FlConfig *config; /* (unowned) */
	gchar *kind;
	gchar *name;
	guint session_id;
	gchar *dir;
	gchar *runner_path;
	guint attempt;
	guint64 memory_mb;
	guint time_minutes;
	gboolean has_intent;
	GHashTable *records; /* (owned) key -> value: what the subclass recorded */
	gboolean ended;
} FlPlacementPrivate;

G_DEFINE_ABSTRACT_TYPE_WITH_PRIVATE(FlPlacement, fl_placement, G_TYPE_OBJECT)

enum { SIGNAL_ENDED, SIGNAL_STATUS_CHANGED, SIGNAL_LAST };
static guint fl_placement_signals[SIGNAL_LAST] = {0};

static const FlPlacementKind *
fl_placement_find_kind(const gchar *kind)
{
	for (guint i = 0; i < G_N_ELEMENTS(fl_placement_kinds); i++) {
		if (g_strcmp0(fl_placement_kinds[i].kind, kind) == 0)
			return &fl_placement_kinds[i];
	}
	return NULL;
}

/* the intent as the subclass and the next daemon see it */
static gchar *
fl_placement_intent_json(FlPlacement *self)
{
	FlPlacementPrivate *priv = fl_placement_get_instance_private(self);
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonGenerator) generator = json_generator_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree gchar *job = fl_placement_get_job_name(self);
	GHashTableIter iter;
	gpointer key;
	gpointer value;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, FL_PLACEMENT_KEY_VERSION);
	json_builder_add_int_value(builder, FL_PLACEMENT_INTENT_VERSION);
	json_builder_set_member_name(builder, FL_PLACEMENT_KEY_KIND);
	json_builder_add_string_value(builder, priv->kind);
	json_builder_set_member_name(builder, FL_PLACEMENT_KEY_NAME);
	json_builder_add_string_value(builder, priv->name);
	json_builder_set_member_name(builder, FL_PLACEMENT_KEY_ATTEMPT);
	json_builder_add_int_value(builder, priv->attempt);
	json_builder_set_member_name(builder, FL_PLACEMENT_KEY_JOB);
	json_builder_add_string_value(builder, job);
	g_hash_table_iter_init(&iter, priv->records);
	while (g_hash_table_iter_next(&iter, &key, &value)) {
		json_builder_set_member_name(builder, key);
		json_builder_add_string_value(builder, value);
	}
	json_builder_end_object(builder);
	root = json_builder_get_root(builder);
	json_generator_set_root(generator, root);
	return json_generator_to_data(generator, NULL);
}

static gboolean
fl_placement_write_intent(const gchar *dir, const gchar *json, GError **error)
{
	g_autofree gchar *path = g_build_filename(dir, FL_PLACEMENT_FILE_INTENT, NULL);

	return fl_write_file_durable(path, json, -1, error);
}

/* reads what an earlier daemon recorded; a damaged intent counts as one (something may
 * have been spawned), never as none */
static void
fl_placement_read_intent(FlPlacement *self)
{
	FlPlacementPrivate *priv = fl_placement_get_instance_private(self);
	g_autofree gchar *path = g_build_filename(priv->dir, FL_PLACEMENT_FILE_INTENT, NULL);
	g_autoptr(JsonObject) intent = NULL;
	g_autoptr(GList) members = NULL;
	guint attempt = 0;

	if (!g_file_test(path, G_FILE_TEST_EXISTS))
		return;
	priv->has_intent = TRUE;
	intent = fl_read_json_object(path, NULL);
	if (intent == NULL) {
		g_warning("session %u: %s is damaged", priv->session_id, path);
		priv->attempt = 1;
		return;
	}
	if (fl_json_get_uint(intent, FL_PLACEMENT_KEY_ATTEMPT, &attempt))
		priv->attempt = attempt;
	members = json_object_get_members(intent);
	for (GList *l = members; l != NULL; l = l->next) {
		const gchar *key = l->data;
		const gchar *value = fl_json_get_string(intent, key);
		if (value == NULL || g_strcmp0(key, FL_PLACEMENT_KEY_KIND) == 0 ||
		    g_strcmp0(key, FL_PLACEMENT_KEY_NAME) == 0 ||
		    g_strcmp0(key, FL_PLACEMENT_KEY_JOB) == 0)
			continue;
		g_hash_table_insert(priv->records, g_strdup(key), g_strdup(value));
	}
}

FlPlacement *
fl_placement_new(const FlPlacementSetup *setup, GError **error)
{
	g_autoptr(FlPlacement) self = NULL;
	FlPlacementPrivate *priv;
	const FlPlacementKind *kind;
	g_autofree gchar *recorded_kind = NULL;
	g_autofree gchar *recorded_name = NULL;
	g_autofree gchar *intent =
		g_build_filename(setup->session_dir, FL_PLACEMENT_FILE_INTENT, NULL);
	const gchar *name = setup->name;
	const gchar *kind_name;
	FlPlacementClass *klass;

	if (name == NULL && g_file_test(intent, G_FILE_TEST_EXISTS)) {
		g_autoptr(JsonObject) obj = fl_read_json_object(intent, NULL);
		recorded_kind = g_strdup(fl_json_get_string(obj, FL_PLACEMENT_KEY_KIND));
		recorded_name = g_strdup(fl_json_get_string(obj, FL_PLACEMENT_KEY_NAME));
		name = recorded_name;
	}
	if (name == NULL)
		name = "local";
	/* "local" is its own kind; a [cluster NAME] says its kind */
	if (recorded_kind != NULL)
		kind_name = recorded_kind;
	else if (fl_config_get_cluster(setup->config, name) != NULL)
		kind_name = fl_config_get_cluster(setup->config, name)->kind;
	else if (g_strcmp0(name, "local") == 0)
		kind_name = name;
	else
		kind_name = NULL;
	kind = fl_placement_find_kind(kind_name);
	if (kind == NULL) {
		fl_set_error(error, FL_ERROR_INVALID_ARGUMENT, N_("unknown placement '%s'"), name);
		return NULL;
	}
	self = g_object_new(kind->get_type(), NULL);
	priv = fl_placement_get_instance_private(self);
	priv->config = setup->config;
	priv->kind = g_strdup(kind->kind);
	priv->name = g_strdup(name);
	priv->session_id = setup->session_id;
	priv->dir = g_strdup(setup->session_dir);
	priv->runner_path = g_strdup(setup->runner_path);
	priv->memory_mb = setup->memory_mb;
	priv->time_minutes = setup->time_minutes;
	fl_placement_read_intent(self);
	klass = FL_PLACEMENT_GET_CLASS(self);
	if (klass->configure != NULL && !klass->configure(self, error))
		return NULL;
	return g_steal_pointer(&self);
}

/* ------------------------------------------------------------------ spawn */

typedef struct {
	FlPlacementCommand cmd; /* deep copies of the caller's */
	gchar *intent;          /* the JSON to record */
} FlPlacementSpawnData;

static void
fl_placement_spawn_data_free(FlPlacementSpawnData *data)
{
	g_strfreev((gchar **)data->cmd.argv);
	g_strfreev((gchar **)data->cmd.env);
	g_free((gchar *)data->cmd.cwd);
	g_free((gchar *)data->cmd.subdir);
	g_strfreev((gchar **)data->cmd.binds);
	g_strfreev((gchar **)data->cmd.ro_binds);
	g_strfreev((gchar **)data->cmd.home_ro);
	g_strfreev((gchar **)data->cmd.home_rw);
	g_strfreev((gchar **)data->cmd.user_binds);
	g_strfreev((gchar **)data->cmd.user_ro_binds);
	g_free((gchar *)data->cmd.git_layer);
	g_free(data->intent);
	g_free(data);
}

static void
fl_placement_intent_thread(GTask *task, gpointer source, gpointer task_data,
			   GCancellable *cancellable)
{
	FlPlacement *self = source;
	FlPlacementPrivate *priv = fl_placement_get_instance_private(self);
	FlPlacementSpawnData *data = task_data;
	GError *error = NULL;

	if (!fl_placement_write_intent(priv->dir, data->intent, &error)) {
		g_task_return_error(task, error);
		return;
	}
	g_task_return_boolean(task, TRUE);
}

static void
fl_placement_spawned_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlPlacement *self = FL_PLACEMENT(source);
	GError *error = NULL;

	if (!FL_PLACEMENT_GET_CLASS(self)->spawn_finish(self, res, &error)) {
		g_task_return_error(task, error);
		return;
	}
	fl_crash_point("placement:spawned");
	g_task_return_boolean(task, TRUE);
}

static void
fl_placement_intent_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	FlPlacement *self = FL_PLACEMENT(source);
	FlPlacementPrivate *priv = fl_placement_get_instance_private(self);
	FlPlacementSpawnData *data = g_task_get_task_data(task);
	GError *error = NULL;

	if (!g_task_propagate_boolean(G_TASK(res), &error)) {
		g_task_return_error(task, error);
		return;
	}
	priv->has_intent = TRUE;
	fl_crash_point("placement:intent");
	FL_PLACEMENT_GET_CLASS(self)->spawn_async(self, &data->cmd, g_task_get_cancellable(task),
						  fl_placement_spawned_cb, g_object_ref(task));
}

void
fl_placement_spawn_async(FlPlacement *self, const FlPlacementCommand *cmd,
			 GCancellable *cancellable, GAsyncReadyCallback callback,
			 gpointer user_data)
{
	FlPlacementPrivate *priv = fl_placement_get_instance_private(self);
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	g_autoptr(GTask) intent_task = NULL;
	FlPlacementSpawnData *data = g_new0(FlPlacementSpawnData, 1);

	g_return_if_fail(cmd->argv != NULL && cmd->argv[0] != NULL);
	g_task_set_source_tag(task, fl_placement_spawn_async);
	priv->attempt++;
	priv->ended = FALSE;
	data->cmd.argv = (const gchar *const *)g_strdupv((gchar **)cmd->argv);
	data->cmd.env = (const gchar *const *)g_strdupv((gchar **)cmd->env);
	data->cmd.cwd = g_strdup(cmd->cwd);
	data->cmd.subdir = g_strdup(cmd->subdir);
	data->cmd.channel = cmd->channel;
	data->cmd.memory = cmd->memory;
	data->cmd.pids = cmd->pids;
	data->cmd.cpu = cmd->cpu;
	data->cmd.timeout = cmd->timeout;
	data->cmd.confine = cmd->confine;
	data->cmd.binds = (const gchar *const *)g_strdupv((gchar **)cmd->binds);
	data->cmd.ro_binds = (const gchar *const *)g_strdupv((gchar **)cmd->ro_binds);
	data->cmd.home_ro = (const gchar *const *)g_strdupv((gchar **)cmd->home_ro);
	data->cmd.home_rw = (const gchar *const *)g_strdupv((gchar **)cmd->home_rw);
	data->cmd.no_network = cmd->no_network;
	data->cmd.user_binds = (const gchar *const *)g_strdupv((gchar **)cmd->user_binds);
	data->cmd.user_ro_binds = (const gchar *const *)g_strdupv((gchar **)cmd->user_ro_binds);
	data->cmd.git_layer = g_strdup(cmd->git_layer);
	data->intent = fl_placement_intent_json(self);
	g_task_set_task_data(task, data, (GDestroyNotify)fl_placement_spawn_data_free);

	intent_task = g_task_new(self, cancellable, fl_placement_intent_cb, g_object_ref(task));
	/* (unowned) the outer task keeps it alive */
	g_task_set_task_data(intent_task, data, NULL);
	g_task_run_in_thread(intent_task, fl_placement_intent_thread);
}

gboolean
fl_placement_spawn_finish(FlPlacement *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(res, self), FALSE);
	return g_task_propagate_boolean(G_TASK(res), error);
}

/* ------------------------------------------------------------------ the rest */

FlPlacementAdopt
fl_placement_adopt(FlPlacement *self)
{
	return FL_PLACEMENT_GET_CLASS(self)->adopt(self);
}

void
fl_placement_cancel(FlPlacement *self)
{
	FL_PLACEMENT_GET_CLASS(self)->cancel(self);
}

void
fl_placement_forget(FlPlacement *self)
{
	FlPlacementPrivate *priv = fl_placement_get_instance_private(self);
	FlPlacementClass *klass = FL_PLACEMENT_GET_CLASS(self);
	g_autofree gchar *intent = fl_placement_get_file(self, FL_PLACEMENT_FILE_INTENT);

	if (klass->forget != NULL)
		klass->forget(self);
	g_unlink(intent);
	/* the attempt goes on counting: a job name must never name two runs */
	priv->has_intent = FALSE;
	priv->ended = FALSE;
	g_hash_table_remove_all(priv->records);
}

gchar *
fl_placement_get_status(FlPlacement *self)
{
	FlPlacementClass *klass = FL_PLACEMENT_GET_CLASS(self);

	return klass->get_status != NULL ? klass->get_status(self) : NULL;
}

const gchar *
fl_placement_get_kind(FlPlacement *self)
{
	FlPlacementPrivate *priv = fl_placement_get_instance_private(self);

	return priv->kind;
}

const gchar *
fl_placement_get_name(FlPlacement *self)
{
	FlPlacementPrivate *priv = fl_placement_get_instance_private(self);

	return priv->name;
}

guint
fl_placement_get_session_id(FlPlacement *self)
{
	FlPlacementPrivate *priv = fl_placement_get_instance_private(self);

	return priv->session_id;
}

const gchar *
fl_placement_get_dir(FlPlacement *self)
{
	FlPlacementPrivate *priv = fl_placement_get_instance_private(self);

	return priv->dir;
}

gchar *
fl_placement_get_file(FlPlacement *self, const gchar *name)
{
	FlPlacementPrivate *priv = fl_placement_get_instance_private(self);

	return g_build_filename(priv->dir, name, NULL);
}

gchar *
fl_placement_get_log_path(FlPlacement *self)
{
	FlPlacementClass *klass = FL_PLACEMENT_GET_CLASS(self);

	if (klass->get_log_path != NULL)
		return klass->get_log_path(self);
	return fl_placement_get_file(self, FL_RUNNER_FILE_LOG);
}

const FlConfig *
fl_placement_get_config(FlPlacement *self)
{
	FlPlacementPrivate *priv = fl_placement_get_instance_private(self);

	return priv->config;
}

void
fl_placement_get_limits(FlPlacement *self, guint64 *memory_mb, guint *time_minutes)
{
	FlPlacementPrivate *priv = fl_placement_get_instance_private(self);

	*memory_mb = priv->memory_mb;
	*time_minutes = priv->time_minutes;
}

const gchar *
fl_placement_get_runner_path(FlPlacement *self)
{
	FlPlacementPrivate *priv = fl_placement_get_instance_private(self);

	return priv->runner_path;
}

guint
fl_placement_get_attempt(FlPlacement *self)
{
	FlPlacementPrivate *priv = fl_placement_get_instance_private(self);

	return priv->attempt;
}

gchar *
fl_placement_get_job_name(FlPlacement *self)
{
	FlPlacementPrivate *priv = fl_placement_get_instance_private(self);

	return g_strdup_printf("flotilla-%u-%u", priv->session_id, priv->attempt);
}

gboolean
fl_placement_has_intent(FlPlacement *self)
{
	FlPlacementPrivate *priv = fl_placement_get_instance_private(self);

	return priv->has_intent;
}

const gchar *
fl_placement_get_record(FlPlacement *self, const gchar *key)
{
	FlPlacementPrivate *priv = fl_placement_get_instance_private(self);

	return g_hash_table_lookup(priv->records, key);
}

gboolean
fl_placement_record(FlPlacement *self, const gchar *key, const gchar *value, GError **error)
{
	FlPlacementPrivate *priv = fl_placement_get_instance_private(self);
	g_autofree gchar *json = NULL;

	g_hash_table_insert(priv->records, g_strdup(key), g_strdup(value));
	json = fl_placement_intent_json(self);
	return fl_placement_write_intent(priv->dir, json, error);
}

void
fl_placement_status_changed(FlPlacement *self)
{
	g_signal_emit(self, fl_placement_signals[SIGNAL_STATUS_CHANGED], 0);
}

void
fl_placement_emit_ended(FlPlacement *self, const FlPlacementEnd *end)
{
	FlPlacementPrivate *priv = fl_placement_get_instance_private(self);

	if (priv->ended)
		return;
	priv->ended = TRUE;
	g_signal_emit(self, fl_placement_signals[SIGNAL_ENDED], 0, end);
}

static void
fl_placement_finalize(GObject *object)
{
	FlPlacement *self = FL_PLACEMENT(object);
	FlPlacementPrivate *priv = fl_placement_get_instance_private(self);

	g_free(priv->kind);
	g_free(priv->name);
	g_free(priv->dir);
	g_free(priv->runner_path);
	g_hash_table_unref(priv->records);
	G_OBJECT_CLASS(fl_placement_parent_class)->finalize(object);
}

static void
fl_placement_class_init(FlPlacementClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->finalize = fl_placement_finalize;
	/* "ended" (const FlPlacementEnd *end): once per spawn or adoption, from the main loop */
	fl_placement_signals[SIGNAL_ENDED] =
		g_signal_new("ended", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
			     NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
	/* "status-changed": fl_placement_get_status() has something new to say */
	fl_placement_signals[SIGNAL_STATUS_CHANGED] =
		g_signal_new("status-changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
			     NULL, NULL, G_TYPE_NONE, 0);
}

static void
fl_placement_init(FlPlacement *self)
{
	FlPlacementPrivate *priv = fl_placement_get_instance_private(self);

	priv->records = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
}
