/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * kind=http (the class is in fl-agent-http.c): an Anthropic or OpenAI-compatible API call.
 * flotillad does not make it: flotilla-runner runs `flotilla-http agent REQUEST` like any
 * agent (so it survives a daemon restart and a cancel kills it), which streams the answer into
 * output.log (fl-llm.c) and leaves a result behind. This header is the contract between the
 * two processes: both files, their keys, one writer and one reader each, used on both sides.
 * The file names and keys are on-disk contracts: sessions started by an earlier daemon are
 * finished by a later one.
 */

#define FL_AGENT_HTTP_REQUEST_FILE "http-request.json"
/* written in the agent's own directory of the session (FL_AGENT_HTTP_RESULT_DIR), the one a
 * confined session may write; sessions of earlier daemons left it beside the log */
#define FL_AGENT_HTTP_RESULT_FILE "http-result.json"
#define FL_AGENT_HTTP_RESULT_DIR  "agent"

/* the version both files carry */
#define FL_AGENT_HTTP_KEY_VERSION "v"

/* request keys */
#define FL_AGENT_HTTP_KEY_AGENT       "agent"
#define FL_AGENT_HTTP_KEY_API         "api"
#define FL_AGENT_HTTP_KEY_URL         "url"
#define FL_AGENT_HTTP_KEY_MODEL       "model"
#define FL_AGENT_HTTP_KEY_MAX_TOKENS  "max_tokens"
#define FL_AGENT_HTTP_KEY_API_KEY_ENV "api_key_env"
#define FL_AGENT_HTTP_KEY_GOAL        "goal"
#define FL_AGENT_HTTP_KEY_OUTPUT      "output"
#define FL_AGENT_HTTP_KEY_RESULT      "result"

/* result keys (and "model" as above) */
#define FL_AGENT_HTTP_KEY_INPUT_TOKENS  "input_tokens"
#define FL_AGENT_HTTP_KEY_OUTPUT_TOKENS "output_tokens"
#define FL_AGENT_HTTP_KEY_STOP_REASON   "stop_reason"
#define FL_AGENT_HTTP_KEY_ATTEMPTS      "attempts"
#define FL_AGENT_HTTP_KEY_TEXT          "text"
#define FL_AGENT_HTTP_KEY_ERROR         "error"

/*
 * What flotilla-http is to do. Never the API key: flotilla-http takes it from the environment
 * variable @api_key_env names. @output is relative to the worktree (flotilla-http's cwd) and
 * already checked to stay inside it; NULL: the answer goes nowhere but the log.
 */
typedef struct {
	gchar *agent;
	gchar *api; /* "anthropic" or "openai" */
	gchar *url;
	gchar *model;
	guint max_tokens;
	gchar *api_key_env; /* (nullable) */
	gchar *goal;
	gchar *output; /* (nullable) */
	gchar *result; /* where the result goes */
} FlAgentHttpRequest;

void
fl_agent_http_request_free(FlAgentHttpRequest *request);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlAgentHttpRequest, fl_agent_http_request_free)

/* writes @request to @path, mode 0600 (the goal may be private) */
gboolean
fl_agent_http_request_write(const FlAgentHttpRequest *request, const gchar *path, GError **error);
/* fails unless @path holds a request with url, model, goal and result */
FlAgentHttpRequest *
fl_agent_http_request_read(const gchar *path, GError **error);

/*
 * What came of it: the answer with its token counts once one arrived (@text non-NULL), and
 * @error, one line, when the run failed.
 */
typedef struct {
	gchar *model;
	guint input_tokens;
	guint output_tokens;
	gchar *stop_reason; /* (nullable) */
	guint attempts;
	gchar *text;  /* (nullable) */
	gchar *error; /* (nullable) */
} FlAgentHttpResult;

void
fl_agent_http_result_free(FlAgentHttpResult *result);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlAgentHttpResult, fl_agent_http_result_free)

/* writes @result to @path durably: the daemon may read it after a crash of either process */
gboolean
fl_agent_http_result_write(const FlAgentHttpResult *result, const gchar *path, GError **error);
FlAgentHttpResult *
fl_agent_http_result_read(const gchar *path, GError **error);

G_END_DECLS
