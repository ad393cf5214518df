/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * FlRelay: the per-session channel, the only door from inside a session to flotillad.
 *
 * The runner (outside the sandbox) listens on a unix socket that the sandbox shows at
 * FL_SANDBOX_CHANNEL_PATH; `flotilla blocked` and `flotilla hook` inside the session write one
 * JSON request to it, shut down their side, and read one JSON answer:
 *
 *   {"op":"block","message":TEXT}               -> {"reply":TEXT}
 *   {"op":"hook","agent":NAME,"payload":JSON}   -> {"reply":JSON}
 *   anything wrong                              -> {"error":TEXT}
 *
 * The relay fills in its own session's id, so a request can only ever speak for that one
 * session, and only these two calls exist. It never starts flotillad: while the daemon is
 * away, a request waits for it to come back.
 */

/* requests and answers are at most this long */
#define FL_RELAY_MAX (1024 * 1024 + 4096)

/* the socket's file name in the session directory */
#define FL_RELAY_SOCKET "channel.sock"

/* Serves @listen_fd (a listening unix socket) for session @session_id until the process is
 * killed; runs in a child of the runner. */
G_GNUC_NORETURN void
fl_relay_run(gint listen_fd, guint session_id);

G_END_DECLS
