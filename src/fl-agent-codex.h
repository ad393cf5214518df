/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The OpenAI Codex CLI agent: how to run `codex exec --json` for a session and a parser for
 * its JSONL output. No daemon state lives here. fl-agent-codex.c also holds the kind's
 * FlAgentClass (fl-agent.h), through which sessions use all of this.
 *
 * Verified offline against the real CLI, @openai/codex 0.171.0 (`codex-cli 0.171.0`), talking
 * to a local Responses API double:
 *  - events: thread.started {thread_id} (again, with the same id, on resume), turn.started,
 *    item.started/item.completed {item {id, type, …}}, turn.completed {usage}, turn.failed
 *    {error {message}}, error {message};
 *  - an item of type "error" is a warning (e.g. unknown model metadata), never a failure;
 *  - turn.completed's usage is the thread's running total, resumed runs included: a resume
 *    whose one request used 120 input tokens reported 360 after a first run of 240;
 *  - the default sandbox is read-only (edits fail with "Read-only file system"), and a
 *    resume does not remember the sandbox of the run it resumes;
 *  - with stdin a pipe, Codex reads it to its end and appends it to the prompt: run it with
 *    stdin from the null device;
 *  - outside a git repository it exits 1 printing only "Not inside a trusted directory and
 *    --skip-git-repo-check was not specified." on stderr (a git worktree is fine).
 */

/* the sandbox every run gets: writes inside the working directory only, no network */
#define FL_AGENT_CODEX_SANDBOX "workspace-write"

/* the longest JSONL line accepted; Codex's own lines stay far below (a command's output is
 * in one line, though) */
#define FL_CODEX_STREAM_MAX_LINE (8 * 1024 * 1024)

/**
 * fl_agent_codex_build_argv:
 * @base_argv: (nullable): the command and any extra flags of the user's (global Codex
 *   options such as `-m MODEL` or `-c key=value`); NULL for {"codex"}
 * @goal: the task; ignored when @resume_thread is set
 * @resume_thread: (nullable): the thread id of an earlier run, to continue it with @reply
 * @reply: (nullable): the user's reply; required with @resume_thread
 *
 * Returns @base_argv followed by
 *   exec --json --sandbox workspace-write -- GOAL
 * or, to resume,
 *   exec --json --sandbox workspace-write resume -- THREAD REPLY
 * The prompt is always one element after `--`, so no character in it (a leading dash, or a
 * word such as "resume" that would name a subcommand) is ever read as an option or by a
 * shell. A prompt of exactly "-" makes Codex read the prompt from stdin, which is the null
 * device: the run then fails at once with "No prompt provided via stdin.".
 *
 * Returns: (transfer full): a NULL-terminated argv
 */
gchar **
fl_agent_codex_build_argv(const gchar *const *base_argv, const gchar *goal,
			  const gchar *resume_thread, const gchar *reply);

/**
 * FlCodexOutcome:
 * @FL_CODEX_OUTCOME_NONE: no turn ended (yet)
 * @FL_CODEX_OUTCOME_SUCCEEDED: a turn completed, and no turn failed after the last one
 * @FL_CODEX_OUTCOME_FAILED: a turn failed after the last completed one, or (known at
 *   finish) the output ended in the middle of a turn
 */
typedef enum {
	FL_CODEX_OUTCOME_NONE,
	FL_CODEX_OUTCOME_SUCCEEDED,
	FL_CODEX_OUTCOME_FAILED,
} FlCodexOutcome;

const gchar *
fl_codex_outcome_to_string(FlCodexOutcome outcome);

/**
 * FlCodexStream:
 *
 * A push parser for `codex exec --json` output: one JSON object per line. It does no I/O;
 * feed it the bytes of a session log in chunks of any size. When the log also holds Codex's
 * stderr, lines that do not start with '{' are noise: skipped and counted. A line that
 * starts with '{' but is not a JSON object is garbage and fails the stream, as does a line
 * longer than %FL_CODEX_STREAM_MAX_LINE (never buffered past that); after a failure every
 * call fails with the same error. Unknown event and item types are ignored.
 */
typedef struct _FlCodexStream FlCodexStream;

FlCodexStream *
fl_codex_stream_new(void);
void
fl_codex_stream_free(FlCodexStream *self);

gboolean
fl_codex_stream_feed(FlCodexStream *self, const gchar *data, gsize len, GError **error);

/**
 * fl_codex_stream_finish:
 *
 * Parses an unterminated last line. Then, when no turn ended, fails with "Codex ended
 * without finishing a turn" (naming the last error event or else the last noise line, often
 * Codex's own complaint on stderr) and the outcome stays NONE. When a turn started after the
 * last completed one and never ended, the outcome becomes FAILED ("Codex stopped in the
 * middle of a turn"), which is no error of the stream. Feeding after finish is a programmer
 * error.
 */
gboolean
fl_codex_stream_finish(FlCodexStream *self, GError **error);

/* thread.started's thread_id, for `codex exec resume`; NULL until seen */
const gchar *
fl_codex_stream_get_thread_id(FlCodexStream *self);
/* the text of the last completed agent_message item (the agent's final word), valid UTF-8;
 * NULL if none */
const gchar *
fl_codex_stream_get_last_message(FlCodexStream *self);
/* turn.completed events seen */
guint
fl_codex_stream_get_turns(FlCodexStream *self);
/* turn.failed events seen */
guint
fl_codex_stream_get_failed_turns(FlCodexStream *self);
/* the token usage of the latest turn.completed, 0 before any. Codex reports the thread's
 * running total (resumed runs included), so these are never summed: the latest is the
 * total, and a resumed run's figures replace those of the run before it */
guint64
fl_codex_stream_get_input_tokens(FlCodexStream *self);
guint64
fl_codex_stream_get_cached_input_tokens(FlCodexStream *self);
guint64
fl_codex_stream_get_output_tokens(FlCodexStream *self);
/* the last failure Codex reported (turn.failed's error.message or an error event's
 * message), as one line; an API error body is reduced to its message. NULL if none */
const gchar *
fl_codex_stream_get_last_error(FlCodexStream *self);
/* lines skipped as noise, and the last of them (sanitized, capped; NULL if none) */
guint
fl_codex_stream_get_noise_lines(FlCodexStream *self);
const gchar *
fl_codex_stream_get_last_noise(FlCodexStream *self);

FlCodexOutcome
fl_codex_stream_get_outcome(FlCodexStream *self);
/* one line for the user when FAILED ("The model `gpt-9` does not exist…"), else NULL */
const gchar *
fl_codex_stream_get_reason(FlCodexStream *self);
/* the same kept as a message for the store (fl-msg.h), rendered in its reader's language */
gchar *
fl_codex_stream_dup_reason_stored(FlCodexStream *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlCodexStream, fl_codex_stream_free)

G_END_DECLS
