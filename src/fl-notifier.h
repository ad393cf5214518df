/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * Desktop notifications through libnotify, confined so the daemon never blocks on the
 * notification server: libnotify lives in one worker thread with its own GMainContext;
 * calls here only queue requests and return at once; results and server signals come back
 * as GObject signals on the caller's (main) context.
 *
 * Notifications are addressed by a handle chosen by the notifier (> 0). Posting with an
 * existing open handle updates that notification in place (replaces_id). The notifier
 * watches org.freedesktop.Notifications on the bus: with no server, posts wait and are
 * delivered when one appears (no polling, no D-Bus activation loops); when the server
 * goes away or restarts, open notifications are forgotten (never re-used: stale ids would
 * collide) and "server-changed" fires so the owner can post fresh ones.
 */
#define FL_TYPE_NOTIFIER (fl_notifier_get_type())
G_DECLARE_FINAL_TYPE(FlNotifier, fl_notifier, FL, NOTIFIER, GObject)

typedef enum {
	FL_NOTIFIER_URGENCY_LOW,
	FL_NOTIFIER_URGENCY_NORMAL,
	FL_NOTIFIER_URGENCY_CRITICAL,
} FlNotifierUrgency;

/* @app_name: shown by servers; @desktop_entry: "flotilla" (the desktop-entry hint) */
FlNotifier *
fl_notifier_new(const gchar *app_name, const gchar *desktop_entry);

/*
 * Shows (or, with @handle from an earlier post that is still open, replaces) a
 * notification. @body_markup is used when the server has body-markup, else @body_plain.
 * @actions: NULL-terminated array of key, label pairs, or NULL; sent only when the server
 * has the "actions" capability. @category: e.g. "x-flotilla.digest". Timeout: never expires
 * when there are actions, server default otherwise. Returns the handle.
 */
guint
fl_notifier_post(FlNotifier *self, guint handle, const gchar *summary, const gchar *body_markup,
		 const gchar *body_plain, const gchar *const *actions, FlNotifierUrgency urgency,
		 const gchar *category);

/* closes the notification if open (no "closed" decision semantics: merely dismissal) */
void
fl_notifier_close(FlNotifier *self, guint handle);

/* whether a server currently owns the name, and its capabilities (as last read) */
gboolean
fl_notifier_is_available(FlNotifier *self);
gboolean
fl_notifier_has_capability(FlNotifier *self, const gchar *capability);

/*
 * Signals (emitted on the thread-default context of the thread that created the notifier):
 *  "action-invoked" (guint handle, const gchar *key): a button or the default action
 *  "closed"         (guint handle, guint reason): the server closed it (never a decision)
 *  "server-changed" (gboolean available): a server appeared, vanished or was replaced;
 *                   all handles posted before are dead
 *  "posted"         (guint handle): the server accepted a post (for tests and logging)
 */

G_END_DECLS
