/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* the largest goal accepted, in bytes (also enforced by the CLI) */
#define FL_GOAL_MAX 65536

/* g_task_return_new_error() in FL_ERROR with a message translated late (fl_set_error) */
void
fl_task_return_new_error(GTask *task, gint code, const gchar *format, ...) G_GNUC_PRINTF(3, 4);

/* microseconds since the epoch, wall clock */
gint64
fl_now(void);
/* ISO 8601 with the local offset, or NULL for 0 */
gchar *
fl_time_iso8601(gint64 usec);

/* mkdir -p with mode 0700 for every created component; fails if not writable */
gboolean
fl_ensure_dir(const gchar *path, GError **error);

/* writes @contents durably (temp + fsync + rename + dir fsync), mode 0600 */
gboolean
fl_write_file_durable(const gchar *path, const gchar *contents, gssize len, GError **error);

/* parses a small JSON file into an object node; NULL + error if missing or not an object */
JsonObject *
fl_read_json_object(const gchar *path, GError **error);

/* JSON from agents, APIs and files is untrusted: a member of another type counts as missing */

/* @obj's string member @name, NULL when @obj is NULL or it is missing */
const gchar *
fl_json_get_string(JsonObject *obj, const gchar *name);

/* @obj's member @name if it is an integer >= 0 (clamped to G_MAXUINT) */
gboolean
fl_json_get_uint(JsonObject *obj, const gchar *name, guint *value);

/*
 * Where another of our programs is: $@env_name when set and not empty (the tests point at
 * their build), else next to the running binary (an uninstalled build keeps them together in
 * build/src/), else @fallback_dir/@name; NULL when @fallback_dir is NULL and it is not there.
 */
gchar *
fl_find_helper(const gchar *env_name, const gchar *name, const gchar *fallback_dir);

/* the last @max_bytes of a file, cut at a line start, cleaned (fl_text_clean() MULTILINE);
 * NULL if empty or missing */
gchar *
fl_file_tail(const gchar *path, gsize max_bytes);

/*
 * Tests only: FL_TEST_CRASH_AT=STEP:N in the environment kills the process (SIGKILL, as
 * kill -9 would) the Nth time it reaches @step, so the crash suite can stop the daemon at
 * every point of a multi-step operation. Without the variable this does nothing.
 */
void
fl_crash_point(const gchar *step);

/*
 * $XDG_RUNTIME_DIR/flotilla/start-error: the one-line reason flotillad could not start, for
 * the CLI that started it (its stderr went to a log or the journal). Outside the state
 * directory, which may be the very thing that is broken.
 */
gchar *
fl_start_error_path(void);

G_END_DECLS
