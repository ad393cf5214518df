/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-agent.h"
#include "fl-error.h"
#include "fl-i18n.h"
#include "fl-msg.h"
#include "fl-util.h"

/*
 * kind=command: any program, the built-in shell and aider agents and every [agent NAME] with
 * a command= of the user's. Its output is free text, so the tail of output.log is its final
 * message and its exit status alone says done or failed.
 */

/* how much of the output tail becomes a command's final message */
#define FL_AGENT_COMMAND_FINAL_MESSAGE_MAX 2048

static const gchar *const fl_agent_command_shell[] = {"sh", "-c", "{goal}", NULL};
static const gchar *const fl_agent_command_aider[] = {"aider", "--message", "{goal}",
						      "--yes-always", NULL};

static const FlAgentPreset fl_agent_command_presets[] = {
	{"shell", fl_agent_command_shell},
	{"aider", fl_agent_command_aider},
	{NULL, NULL},
};

static gboolean
fl_agent_command_validate(FlAgentConfig *agent, const gchar **key, GError **error)
{
	if (agent->command == NULL) {
		*key = "command";
		fl_set_error_literal(error, FL_ERROR_INVALID_ARGUMENT,
				     N_("a command agent needs a command"));
		return FALSE;
	}
	return TRUE;
}

/* placeholders fill whole elements: a goal never reaches a shell unless the agent itself is
 * one */
static gchar **
fl_agent_command_build_argv(const FlAgentRun *run, GError **error)
{
	g_autoptr(GStrvBuilder) argv = g_strv_builder_new();
	g_autofree gchar *id = g_strdup_printf("%u", run->data->id);
	const gchar *const *command = (const gchar *const *)run->agent->command;

	if (command == NULL) {
		fl_set_error(error, FL_ERROR_INVALID_ARGUMENT, N_("agent '%s' cannot run commands"),
			     run->agent->name);
		return NULL;
	}
	for (guint i = 0; command[i] != NULL; i++) {
		const gchar *arg = command[i];
		if (g_strcmp0(arg, "{goal}") == 0)
			g_strv_builder_add(argv, run->data->goal);
		else if (g_strcmp0(arg, "{session_id}") == 0)
			g_strv_builder_add(argv, id);
		else if (g_strcmp0(arg, "{session_uuid}") == 0)
			g_strv_builder_add(argv, run->data->agent_session != NULL
							 ? run->data->agent_session
							 : "");
		else
			g_strv_builder_add(argv, arg);
	}
	return g_strv_builder_end(argv);
}

/* free text: what it printed last is what it has to say */
static void
fl_agent_command_read_outcome(const FlAgentRun *run, FlState *end_state)
{
	g_autofree gchar *log = fl_agent_run_file(run, "output.log");

	g_free(run->data->final_message);
	run->data->final_message = fl_file_tail(log, FL_AGENT_COMMAND_FINAL_MESSAGE_MAX);
}

FL_AGENT_DEFINE_CLASS(command) = {
	.kind = "command",
	.runs_command = TRUE,
	.presets = fl_agent_command_presets,
	/* a user's program may need anything: the sandbox asks the user, not the kind */
	.needs_network = TRUE,
	.validate = fl_agent_command_validate,
	.build_argv = fl_agent_command_build_argv,
	.read_outcome = fl_agent_command_read_outcome,
};
