/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "fl-config.h"

G_BEGIN_DECLS

/*
 * flotillad: owns io.github.flotilla.Flotilla1 on the session bus, checks every caller's
 * uid, and maps the D-Bus API onto the fleet and check-ins. Emits "quit" (gint status) when
 * it has to stop: its bus name was taken over (--replace) or could not be owned.
 */
#define FL_TYPE_DAEMON (fl_daemon_get_type())
G_DECLARE_FINAL_TYPE(FlDaemon, fl_daemon, FL, DAEMON, GObject)

/* opens the store (refusing a broken or newer one); takes ownership of @config */
FlDaemon *
fl_daemon_new(FlConfig *config, const gchar *state_dir, GError **error);
/* starts owning the bus name; sessions are adopted and started once it is ours */
void
fl_daemon_start(FlDaemon *self, gboolean replace);
/*
 * Re-reads the configuration file (`flotilla reload`, SIGHUP). A file with a mistake fails
 * with its one-line reason and changes nothing. Returns the notes on what takes effect only
 * at the next start (NULL-terminated, maybe empty).
 */
gchar **
fl_daemon_reload(FlDaemon *self, GError **error);

G_END_DECLS
