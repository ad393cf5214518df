/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The Claude Code agent: how to run `claude -p` for a session, the per-session settings file
 * with the hooks that call back into flotilla, a parser for its stream-json output and the
 * hook payloads and answers. No daemon state lives here. fl-agent-claude.c also holds the
 * kind's FlAgentClass (fl-agent.h), through which sessions and the fleet use all of this.
 *
 * Verified against the real CLI, @anthropic-ai/claude-code 2.1.328 (tests/test-claude.c).
 */

/* the permission mode every unconfined session runs in: file edits inside the working directory
 * (and plain file-system commands there) are allowed, every other permission prompt reaches the
 * PermissionRequest hook, where no answer means deny */
#define FL_AGENT_CLAUDE_PERMISSION_MODE "acceptEdits"
/* confined, the sandbox is the fence: Claude acts inside it without asking */
#define FL_AGENT_CLAUDE_PERMISSION_MODE_CONFINED "bypassPermissions"

/* seconds Claude waits for `flotilla hook claude`: a permission request waits for the user
 * (a timed-out hook decides nothing, which -p treats as deny), the others only report */
#define FL_AGENT_CLAUDE_PERMISSION_TIMEOUT_S 86400
#define FL_AGENT_CLAUDE_REPORT_TIMEOUT_S     30

/* the longest stream-json line accepted; Claude's own lines stay far below */
#define FL_CLAUDE_STREAM_MAX_LINE (8 * 1024 * 1024)
/* the largest hook payload accepted (a Write permission request carries the file) */
#define FL_CLAUDE_HOOK_MAX_SIZE (32 * 1024 * 1024)

/**
 * fl_agent_claude_build_argv:
 * @base_argv: (nullable): the command and any extra flags of the user's; NULL for {"claude"}
 * @goal: the task; ignored when @resume_reply is set
 * @session_uuid: the Claude session id, chosen by flotilla up front
 * @settings_path: the file written by fl_agent_claude_write_settings()
 * @resume_reply: (nullable): the user's reply to a waiting session; resumes @session_uuid
 * @max_budget_usd: the per-session spending cap, or <= 0 for none
 *
 * Returns @base_argv followed by
 *   -p --output-format stream-json --verbose --session-id UUID --settings PATH
 *   --permission-mode acceptEdits [--max-budget-usd X] -- GOAL
 * or, to resume, `--resume UUID` instead of `--session-id UUID` and REPLY instead of GOAL.
 * The prompt is always one element after `--`, so no character in it (a leading dash
 * included) is ever read as an option or by a shell.
 *
 * Returns: (transfer full): a NULL-terminated argv
 */
gchar **
fl_agent_claude_build_argv(const gchar *const *base_argv, const gchar *goal,
			   const gchar *session_uuid, const gchar *settings_path,
			   const gchar *resume_reply, gdouble max_budget_usd);

/**
 * fl_agent_claude_settings_json:
 * @flotilla_cli: absolute path of the `flotilla` binary
 *
 * The per-session Claude settings: Notification, PermissionRequest, Stop and StopFailure
 * hooks, each running `'FLOTILLA_CLI' hook claude` (the path shell-quoted: Claude runs
 * command hooks through a shell). Generated here rather than from a template so the path is
 * always escaped right, for JSON and for the shell.
 *
 * Returns: (transfer full): pretty-printed JSON
 */
gchar *
fl_agent_claude_settings_json(const gchar *flotilla_cli);

/**
 * fl_agent_claude_write_settings:
 *
 * Writes fl_agent_claude_settings_json() to @path durably (temporary file, fsync, rename),
 * mode 0600.
 */
gboolean
fl_agent_claude_write_settings(const gchar *path, const gchar *flotilla_cli, GError **error);

/* ------------------------------------------------------------------ stream-json output */

/**
 * FlClaudeOutcome:
 * @FL_CLAUDE_OUTCOME_NONE: no result event (yet)
 * @FL_CLAUDE_OUTCOME_SUCCEEDED: the run completed
 * @FL_CLAUDE_OUTCOME_FAILED: is_error, an error subtype or a terminal_reason other than
 *   "completed" (API errors, turn or budget limits, hooks that stopped it…)
 * @FL_CLAUDE_OUTCOME_BLOCKED: ended on a deferred tool call (terminal_reason "tool_deferred"):
 *   waiting for a human, resumable with --resume
 */
typedef enum {
	FL_CLAUDE_OUTCOME_NONE,
	FL_CLAUDE_OUTCOME_SUCCEEDED,
	FL_CLAUDE_OUTCOME_FAILED,
	FL_CLAUDE_OUTCOME_BLOCKED,
} FlClaudeOutcome;

const gchar *
fl_claude_outcome_to_string(FlClaudeOutcome outcome);

/**
 * FlClaudeStream:
 *
 * A push parser for `claude -p --output-format stream-json --verbose` output: one JSON object
 * per line. It does no I/O; feed it the bytes of a session log in chunks of any size. Because
 * the log also holds Claude's stderr, lines that do not start with '{' are noise: skipped and
 * counted. A line that starts with '{' but is not a JSON object is garbage and fails the
 * stream, as does a line longer than %FL_CLAUDE_STREAM_MAX_LINE; after a failure every call
 * fails with the same error.
 */
typedef struct _FlClaudeStream FlClaudeStream;

FlClaudeStream *
fl_claude_stream_new(void);
void
fl_claude_stream_free(FlClaudeStream *self);

gboolean
fl_claude_stream_feed(FlClaudeStream *self, const gchar *data, gsize len, GError **error);

/**
 * fl_claude_stream_finish:
 *
 * Parses an unterminated last line, then fails with "Claude ended without a result" (naming
 * the last noise line, often Claude's error on stderr) when no result event came.
 * Feeding after finish is a programmer error.
 */
gboolean
fl_claude_stream_finish(FlClaudeStream *self, GError **error);

/* from the init event or any later one; NULL until seen */
const gchar *
fl_claude_stream_get_session_id(FlClaudeStream *self);
/* the result's num_turns once it came, else the assistant messages seen so far */
guint
fl_claude_stream_get_num_turns(FlClaudeStream *self);
/* the latest total_cost_usd (cumulative, never summed), 0 before any */
gdouble
fl_claude_stream_get_cost_usd(FlClaudeStream *self);
/* system/api_retry events seen */
guint
fl_claude_stream_get_api_retries(FlClaudeStream *self);
/* the last retry's cause, e.g. "overloaded (529)"; NULL if none */
const gchar *
fl_claude_stream_get_last_retry_error(FlClaudeStream *self);
/* lines skipped as noise, and the last of them (sanitized, capped; NULL if none) */
guint
fl_claude_stream_get_noise_lines(FlClaudeStream *self);
const gchar *
fl_claude_stream_get_last_noise(FlClaudeStream *self);

/* the final result event; all NULL / FALSE / NONE until it came */
gboolean
fl_claude_stream_has_result(FlClaudeStream *self);
gboolean
fl_claude_stream_get_is_error(FlClaudeStream *self);
const gchar *
fl_claude_stream_get_subtype(FlClaudeStream *self);
const gchar *
fl_claude_stream_get_terminal_reason(FlClaudeStream *self);
/* the result text (the agent's final message, or Claude's error), valid UTF-8 */
const gchar *
fl_claude_stream_get_result_text(FlClaudeStream *self);
/* the deferred tool's name when BLOCKED on one */
const gchar *
fl_claude_stream_get_deferred_tool(FlClaudeStream *self);
FlClaudeOutcome
fl_claude_stream_get_outcome(FlClaudeStream *self);
/* one line for the user when FAILED or BLOCKED ("API Error: 400 …"), else NULL */
const gchar *
fl_claude_stream_get_reason(FlClaudeStream *self);
/* the same kept as a message for the store (fl-msg.h), rendered in its reader's language */
const gchar *
fl_claude_stream_get_reason_stored(FlClaudeStream *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlClaudeStream, fl_claude_stream_free)

/* ------------------------------------------------------------------ hooks */

typedef enum {
	FL_CLAUDE_HOOK_OTHER, /* an event flotilla does not act on */
	FL_CLAUDE_HOOK_NOTIFICATION,
	FL_CLAUDE_HOOK_PERMISSION_REQUEST,
	FL_CLAUDE_HOOK_STOP,
	FL_CLAUDE_HOOK_STOP_FAILURE,
} FlClaudeHookKind;

/**
 * FlClaudeHook:
 *
 * One hook payload, as Claude writes it to the stdin of `flotilla hook claude`.
 */
typedef struct _FlClaudeHook FlClaudeHook;

/**
 * fl_claude_hook_parse:
 * @json: the payload, NUL-terminated
 *
 * Fails with %FL_ERROR_INVALID_ARGUMENT on anything but a JSON object with string
 * hook_event_name and session_id (and tool_name for PermissionRequest), and with
 * %FL_ERROR_LIMIT_EXCEEDED past %FL_CLAUDE_HOOK_MAX_SIZE bytes.
 */
FlClaudeHook *
fl_claude_hook_parse(const gchar *json, GError **error);
void
fl_claude_hook_free(FlClaudeHook *self);

FlClaudeHookKind
fl_claude_hook_get_kind(FlClaudeHook *self);
/* hook_event_name as sent, e.g. "PermissionRequest" */
const gchar *
fl_claude_hook_get_event(FlClaudeHook *self);
const gchar *
fl_claude_hook_get_session_id(FlClaudeHook *self);
/* Notification: message; Stop and StopFailure: last_assistant_message; else NULL */
const gchar *
fl_claude_hook_get_message(FlClaudeHook *self);
/* Notification: notification_type ("permission_prompt", "idle_prompt"…); else NULL */
const gchar *
fl_claude_hook_get_notification_type(FlClaudeHook *self);
/* PermissionRequest: tool_name; else NULL */
const gchar *
fl_claude_hook_get_tool_name(FlClaudeHook *self);
/* PermissionRequest: one line saying what the tool would do (the command, the file, the
 * URL… or the input as compact JSON), capped; else NULL */
const gchar *
fl_claude_hook_get_tool_description(FlClaudeHook *self);
/* StopFailure: the error kind ("rate_limit", "server_error"…); else NULL */
const gchar *
fl_claude_hook_get_error(FlClaudeHook *self);
/* Stop: background tasks or session crons will wake the session again, so it is not done */
gboolean
fl_claude_hook_get_has_background_work(FlClaudeHook *self);
/* one line for a notification: what the agent asks, says or failed on */
const gchar *
fl_claude_hook_get_summary(FlClaudeHook *self);

/**
 * fl_claude_hook_response:
 * @self: a PermissionRequest hook
 * @message: (nullable): the reason Claude is given on deny (ignored on allow)
 *
 * The JSON to print on stdout (with exit status 0) to answer a permission request:
 *   {"hookSpecificOutput":{"hookEventName":"PermissionRequest",
 *                          "decision":{"behavior":"allow"}}}
 * or "behavior":"deny" with "message". Other events take no decision: calling this for one is
 * a programmer error.
 *
 * Returns: (transfer full): one line of JSON
 */
gchar *
fl_claude_hook_response(FlClaudeHook *self, gboolean allow, const gchar *message);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlClaudeHook, fl_claude_hook_free)

G_END_DECLS
