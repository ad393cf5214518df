/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "fl-store.h"

G_BEGIN_DECLS

/*
 * `flotilla clean`: removes what ended sessions keep on disk — the session's directory under
 * STATE/sessions/ (log, patch, verify log, the agent's files) and its worktree under
 * STATE/worktrees/ — and marks their rows cleaned; the rows and their audit events stay.
 * Never a session still active, never a draft awaiting review, never a branch: a rejected
 * draft's branch went with the rejection, an approved one's is its history, and any other is
 * kept for whoever wants to look.
 *
 * Write-ahead: the ids go to STATE/clean-intent (durably) before anything is touched and the
 * file goes once all is removed, so fl_clean_recover() at the next start finishes a clean a
 * killed daemon left half done: a session is either whole or cleaned, never in between.
 */

typedef struct {
	gint64 finished_before; /* µs since the epoch; G_MAXINT64: any */
	const gchar *state;     /* (nullable) a state ("failed") or a review ("rejected") */
	gboolean dry_run;       /* say what would go, remove nothing */
} FlCleanOptions;

/* the states and reviews FlCleanOptions.state may name, NULL-terminated */
extern const gchar *const fl_clean_states[];

void
fl_clean_async(FlStore *store, const FlCleanOptions *options, GCancellable *cancellable,
	       GAsyncReadyCallback callback, gpointer user_data);
/* (element-type GVariant): a{sv} per session, "id" (u) and "paths" (as, what is removed) */
GPtrArray *
fl_clean_finish(GAsyncResult *res, GError **error);

/* finishes a clean a killed daemon left (STATE/clean-intent), in the background */
void
fl_clean_recover(FlStore *store);

G_END_DECLS
