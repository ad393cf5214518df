/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "fl-config.h"
#include "fl-session.h"

G_BEGIN_DECLS

/*
 * Agent kinds: everything that depends on which program a session runs, behind one const
 * table of functions per kind (as fwupd's plugin vfuncs), so that the session (fl-session.c),
 * the fleet (fl-fleet.c) and the config (fl-config.c) never name a kind.
 *
 * Where each concern lives:
 *   fl-agent-command.c  shell and user commands, the aider preset: argv templates
 *                       ({goal}, {session_id}, {session_uuid}); the log tail as final message
 *   fl-agent-claude.c   claude -p: settings file with flotilla's hooks, stream-json outcome,
 *                       live turns and cost, resume, PermissionRequest hooks
 *   fl-agent-codex.c    codex exec --json: outcome, thread id to resume
 *   fl-agent-gemini.c   gemini -p --output-format stream-json: outcome, tokens, resume
 *   fl-agent-http.c     kind=http: the request flotilla-http reads and the result it writes
 *                       (the http contract), an LLM answer as outcome
 *   fl-agent.c          the registry (one line per kind) and what the kinds share
 *
 * A kind has no instances: a session calls its class with an FlAgentRun that says which
 * session, agent and files this run is about. Nothing here blocks: the functions read or write
 * small files in the session directory at most.
 */

typedef struct {
	FlSessionData *data;        /* (unowned) the session; build_argv may set agent_session */
	const FlAgentConfig *agent; /* (unowned) its [agent NAME] */
	const FlConfig *config;     /* (unowned) prices */
	const gchar *session_dir;   /* output.log, exit.json and the kind's own files */
	const gchar *cli_path;      /* the `flotilla` that hooks call */
	const gchar *http_path;     /* flotilla-http */
	const gchar *resume_reply;  /* (nullable) the user's reply when the run resumes */
	gboolean confined;          /* runs in the sandbox (fl-sandbox.h) */
} FlAgentRun;

/* a session directory's file; the names are on-disk contracts with earlier daemons */
gchar *
fl_agent_run_file(const FlAgentRun *run, const gchar *name);

/* an agent every configuration has (a kind may bring several) */
typedef struct {
	const gchar *name;
	const gchar *const *command;
} FlAgentPreset;

/*
 * An agent waiting for the user's yes or no (Claude's PermissionRequest): the fleet keeps it
 * until approve, reject, reply or a timeout, then asks the kind for the answer to print.
 */
typedef struct _FlAgentPermission FlAgentPermission;

/* what `flotilla hook KIND` gets back at once */
typedef struct {
	gchar *response;               /* (nullable) printed by the hook now; NULL: "" */
	FlAgentPermission *permission; /* (nullable) or: parked until the user decides */
	gchar *asks;                   /* with @permission: the question, one line */
	gchar *notice;                 /* (nullable) something the agent said, for the audit */
} FlAgentHookResult;

void
fl_agent_hook_result_clear(FlAgentHookResult *result);

typedef struct _FlAgentClass FlAgentClass;

struct _FlAgentClass {
	const gchar *kind; /* kind= in [agent NAME] */
	/* the agents this kind gives every configuration, {NULL}-terminated; NULL for none */
	const FlAgentPreset *presets;
	/* argv for an [agent NAME] of this kind without command=; NULL: command= is required */
	const gchar *const *default_command;
	/* the agent's command= is the program it runs, which `flotilla run` checks is installed
	 * (http runs flotilla-http instead) */
	gboolean runs_command;

	/*
	 * Its sandbox (fl-sandbox.h): the paths under $HOME the agent's program needs, read-only
	 * and read-write (its login and config, its session store; a directory it needs
	 * even before its first run ends in '/'), NULL-terminated or NULL;
	 * every kind also sees git's identity (~/.gitconfig, ~/.config/git) read-only. Whether it
	 * talks to the network at all ([agent] network=none cuts it too), and KEY=VALUE set only
	 * when it runs confined. README's table "What a session can touch" lists these.
	 */
	const gchar *const *home_ro;
	const gchar *const *home_rw;
	gboolean needs_network;
	const gchar *const *sandbox_env;

	/* nullable: checks the kind's keys of @agent after the common ones were read and may
	 * fill defaults; on failure sets @key to the key at fault (NULL: the group) */
	gboolean (*validate)(FlAgentConfig *agent, const gchar **key, GError **error);
	/* the argv flotilla-runner runs after "--", a resume when run->resume_reply is set; may
	 * write the kind's files into the session directory */
	gchar **(*build_argv)(const FlAgentRun *run, GError **error);

	/* nullable: progress while the agent runs, from what it appends to output.log; feed
	 * returns FALSE to stop watching and sets @changed when @data's turns or cost moved */
	gpointer (*live_new)(void);
	gboolean (*live_feed)(gpointer live, const gchar *buf, gsize len, FlSessionData *data,
			      gboolean *changed);
	GDestroyNotify live_free;

	/* nullable: after the runner ended; reads output.log or the kind's files into final
	 * message, cost, turns, resumable id and reason; may turn DONE into FAILED (never
	 * touches CANCELLED or INTERRUPTED) */
	void (*read_outcome)(const FlAgentRun *run, FlState *end_state);

	/* nullable: `flotilla hook KIND` inside a session, with its payload */
	gboolean (*hook)(const gchar *payload, FlAgentHookResult *result, GError **error);
	/* with hook: the answer to a parked permission, and how to free one */
	gchar *(*permission_respond)(gpointer request, gboolean allow, const gchar *message);
	GDestroyNotify permission_free;
};

/* the class of kind @k, named fl_agent_@k_class, as the registry line in fl-agent.c names it */
#define FL_AGENT_DECLARE_CLASS(k) extern const FlAgentClass fl_agent_##k##_class
#define FL_AGENT_DEFINE_CLASS(k)                                                                   \
	FL_AGENT_DECLARE_CLASS(k);                                                                 \
	const FlAgentClass fl_agent_##k##_class

/* the class of @kind, NULL when this flotillad knows no such kind */
const FlAgentClass *
fl_agent_class_lookup(const gchar *kind);
/* every known class, built-in first, NULL-terminated */
const FlAgentClass *const *
fl_agent_class_list(void);
/* "'command', 'claude', …": the kinds, for messages */
gchar *
fl_agent_class_list_names(void);
/* adds a kind of the caller's own (the tests' fake agent); it must outlive the process */
void
fl_agent_class_register(const FlAgentClass *klass);

/* a permission request of @klass; @request is the kind's own, freed by permission_free */
FlAgentPermission *
fl_agent_permission_new(const FlAgentClass *klass, gpointer request);
/* the hook's answer: allow, or deny with @message (nullable) as the reason */
gchar *
fl_agent_permission_respond(FlAgentPermission *self, gboolean allow, const gchar *message);
void
fl_agent_permission_free(FlAgentPermission *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlAgentPermission, fl_agent_permission_free)

/*
 * Feeds the whole output.log of @run to @feed (a push parser of the kind's output). FALSE when
 * there is no log to read; a parser error is left in @error with TRUE returned, so the caller
 * records it.
 */
typedef gboolean (*FlAgentFeedFunc)(gpointer parser, const gchar *data, gsize len, GError **error);
gboolean
fl_agent_feed_log(const FlAgentRun *run, FlAgentFeedFunc feed, gpointer parser, GError **error);

/* replaces @data's final message with a sanitized @text (nothing for NULL) */
void
fl_agent_set_final_message(FlSessionData *data, const gchar *text);

G_END_DECLS
