/* SPDX-License-Identifier: GPL-2.0-or-later */
/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "fl-config.h"
#include "fl-http.h"

G_BEGIN_DECLS

/*
 * One answer streamed from an Anthropic Messages or OpenAI chat-completions endpoint, over
 * libcurl (fl-http.c): the client flotilla-http runs for a kind=http agent. Which request and
 * result files that run reads and writes is fl-agent-http.h's business, not this file's.
 */

#define FL_LLM_CONNECT_TIMEOUT_S 15
#define FL_LLM_IDLE_TIMEOUT_S    60
#define FL_LLM_MAX_ATTEMPTS      4

/**
 * FlLlmResult:
 * @text: everything the model wrote, valid UTF-8
 * @input_tokens: as the API reported them, 0 if it did not
 * @output_tokens: as the API reported them, 0 if it did not
 * @model: the model that answered as the API names it, else the configured one
 * @stop_reason: (nullable): why the model stopped ("end_turn", "max_tokens", "stop",
 *   "length"…) when the API said
 * @attempts: requests made, 1 when the first one succeeded
 */
typedef struct {
	gchar *text;
	guint input_tokens;
	guint output_tokens;
	gchar *model;
	gchar *stop_reason;
	guint attempts;
} FlLlmResult;

void
fl_llm_result_free(FlLlmResult *result);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlLlmResult, fl_llm_result_free)

/**
 * FlLlmTextFunc:
 *
 * Called with each piece of text as it arrives (valid UTF-8, NUL-terminated), right after it
 * was appended to the log.
 */
typedef void (*FlLlmTextFunc)(const gchar *text, gpointer user_data);

/**
 * FlLlmOptions:
 * @connect_timeout_s: 0 for %FL_LLM_CONNECT_TIMEOUT_S
 * @idle_timeout_s: 0 for %FL_LLM_IDLE_TIMEOUT_S
 * @max_attempts: 0 for %FL_LLM_MAX_ATTEMPTS
 * @text_func: (nullable)
 * @text_func_data: must stay valid until the run completes
 *
 * Copied by fl_llm_run_full_async(); the struct can live on the stack.
 */
typedef struct {
	guint connect_timeout_s;
	guint idle_timeout_s;
	guint max_attempts;
	FlLlmTextFunc text_func;
	gpointer text_func_data;
} FlLlmOptions;

/**
 * fl_llm_run_async:
 * @agent: a kind=http agent; copied, need not outlive the call
 * @goal: the user message
 * @log_path: (nullable): the session log; text is appended (O_APPEND, created 0600) as it
 *   streams in, with a one-line "flotilla: retrying in N s (…)" note before each retry
 *
 * Sends @goal to the agent's Anthropic Messages or OpenAI chat-completions endpoint and
 * streams the answer. 429, 5xx and failures to get any response are retried (at most
 * %FL_LLM_MAX_ATTEMPTS requests, exponential backoff with jitter, Retry-After
 * honoured); a stream that broke after it started is not, as the model would start over.
 * The API key is read from the environment variable named by api_key_env (none is sent when
 * the agent names none) and never appears in the log, in errors or in debug output.
 * Cancelling @cancellable aborts the transfer or the wait before a retry at once.
 */
void
fl_llm_run_async(FlHttp *http, const FlAgentConfig *agent, const gchar *goal, const gchar *log_path,
		 GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);

/* as fl_llm_run_async() with @options (nullable: the defaults) */
void
fl_llm_run_full_async(FlHttp *http, const FlAgentConfig *agent, const gchar *goal,
		      const gchar *log_path, const FlLlmOptions *options, GCancellable *cancellable,
		      GAsyncReadyCallback callback, gpointer user_data);

/**
 * fl_llm_run_finish:
 *
 * Fails with %FL_ERROR_INVALID_ARGUMENT when the key's environment variable is unset or the
 * agent is not usable, "HTTP <status>: <the API's error message>" for refused requests,
 * %FL_ERROR_LIMIT_EXCEEDED for an absurdly long answer, %G_IO_ERROR_CANCELLED, or
 * %FL_ERROR_FAILED with the reason (timeouts, broken or truncated streams, API errors).
 */
FlLlmResult *
fl_llm_run_finish(GAsyncResult *result, GError **error);

G_END_DECLS
