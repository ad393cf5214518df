/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-agent.h"

#include "fl-text.h"
#include "fl-util.h"

/*
 * The registry: one line per built-in kind. The order is the order of the presets and of the
 * kinds in messages.
 */
#define FL_AGENT_BUILTIN_KINDS(X)                                                                  \
	X(command)                                                                                 \
	X(claude)                                                                                  \
	X(codex)                                                                                   \
	X(http)                                                                                    \
	X(gemini)

#define FL_AGENT_DECLARE(k) FL_AGENT_DECLARE_CLASS(k);
FL_AGENT_BUILTIN_KINDS(FL_AGENT_DECLARE)
#define FL_AGENT_ENTRY(k) &fl_agent_##k##_class,

static const FlAgentClass *const fl_agent_builtin[] = {FL_AGENT_BUILTIN_KINDS(FL_AGENT_ENTRY)};

/* built-in first, then registered ones; filled on first use */
static GPtrArray *fl_agent_classes = NULL;

struct _FlAgentPermission {
	const FlAgentClass *klass;
	gpointer request; /* (owned) by klass->permission_free */
};

static GPtrArray *
fl_agent_classes_get(void)
{
	static gsize initialized = 0;

	/* the config is read on the main thread, D-Bus calls may look kinds up on another */
	if (g_once_init_enter(&initialized)) {
		fl_agent_classes = g_ptr_array_new();
		for (guint i = 0; i < G_N_ELEMENTS(fl_agent_builtin); i++)
			g_ptr_array_add(fl_agent_classes, (gpointer)fl_agent_builtin[i]);
		g_ptr_array_add(fl_agent_classes, NULL);
		g_once_init_leave(&initialized, 1);
	}
	return fl_agent_classes;
}

const FlAgentClass *const *
fl_agent_class_list(void)
{
	return (const FlAgentClass *const *)fl_agent_classes_get()->pdata;
}

const FlAgentClass *
fl_agent_class_lookup(const gchar *kind)
{
	const FlAgentClass *const *list = fl_agent_class_list();

	for (guint i = 0; list[i] != NULL; i++) {
		if (g_strcmp0(list[i]->kind, kind) == 0)
			return list[i];
	}
	return NULL;
}

gchar *
fl_agent_class_list_names(void)
{
	const FlAgentClass *const *list = fl_agent_class_list();
	GString *s = g_string_new(NULL);

	for (guint i = 0; list[i] != NULL; i++)
		g_string_append_printf(s, "%s'%s'", i > 0 ? ", " : "", list[i]->kind);
	return g_string_free(s, FALSE);
}

void
fl_agent_class_register(const FlAgentClass *klass)
{
	GPtrArray *classes = fl_agent_classes_get();

	g_return_if_fail(klass != NULL && klass->kind != NULL && klass->build_argv != NULL);
	g_return_if_fail(fl_agent_class_lookup(klass->kind) == NULL);
	/* before the terminating NULL */
	g_ptr_array_insert(classes, (gint)classes->len - 1, (gpointer)klass);
}

gchar *
fl_agent_run_file(const FlAgentRun *run, const gchar *name)
{
	return g_build_filename(run->session_dir, name, NULL);
}

void
fl_agent_hook_result_clear(FlAgentHookResult *result)
{
	g_clear_pointer(&result->response, g_free);
	g_clear_pointer(&result->permission, fl_agent_permission_free);
	g_clear_pointer(&result->asks, g_free);
	g_clear_pointer(&result->notice, g_free);
}

FlAgentPermission *
fl_agent_permission_new(const FlAgentClass *klass, gpointer request)
{
	FlAgentPermission *self;

	g_return_val_if_fail(klass != NULL && klass->permission_respond != NULL, NULL);
	self = g_new0(FlAgentPermission, 1);
	self->klass = klass;
	self->request = request;
	return self;
}

gchar *
fl_agent_permission_respond(FlAgentPermission *self, gboolean allow, const gchar *message)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->klass->permission_respond(self->request, allow, message);
}

void
fl_agent_permission_free(FlAgentPermission *self)
{
	if (self == NULL)
		return;
	if (self->klass->permission_free != NULL)
		self->klass->permission_free(self->request);
	g_free(self);
}

gboolean
fl_agent_feed_log(const FlAgentRun *run, FlAgentFeedFunc feed, gpointer parser, GError **error)
{
	g_autofree gchar *log = fl_agent_run_file(run, "output.log");
	g_autoptr(GFile) file = g_file_new_for_path(log);
	g_autoptr(GFileInputStream) in = g_file_read(file, NULL, NULL);
	gchar buf[65536];
	gssize n;

	if (in == NULL)
		return FALSE;
	while ((n = g_input_stream_read(G_INPUT_STREAM(in), buf, sizeof(buf), NULL, error)) > 0) {
		if (!feed(parser, buf, (gsize)n, error))
			break;
	}
	return TRUE;
}

void
fl_agent_set_final_message(FlSessionData *data, const gchar *text)
{
	if (text == NULL)
		return;
	g_free(data->final_message);
	data->final_message = fl_text_clean(text, -1, FL_TEXT_MULTILINE);
}
