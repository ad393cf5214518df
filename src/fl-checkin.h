/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "fl-coordination.h"
#include "fl-fleet.h"
#include "fl-groups.h"

G_BEGIN_DECLS

/*
 * Check-ins: arms one timer for the next scheduled check-in, builds the digest of what
 * awaits the user, delivers it as one desktop notification updated in place as the user
 * decides from it, announces blocked (and optionally failed) sessions at once, and keeps
 * the ledger of what was announced.
 */
#define FL_TYPE_CHECKIN (fl_checkin_get_type())
G_DECLARE_FINAL_TYPE(FlCheckin, fl_checkin, FL, CHECKIN, GObject)

/* @fleet: decides drafts and tells about sessions; @store: the sessions and the ledger of what
 * was announced; @http_path: flotilla-http, which sends the webhook */
FlCheckin *
fl_checkin_new(FlFleet *fleet, FlStore *store, const FlConfig *config, const gchar *http_path);
/* @groups (unowned, outlives @self): a group's digest entry is decided as one */
void
fl_checkin_set_groups(FlCheckin *self, FlGroups *groups);
/* arms the schedule and starts watching for a notification server */
void
fl_checkin_start(FlCheckin *self);
/* plans the next check-in again by the [checkin] of the (reloaded) configuration */
void
fl_checkin_reschedule(FlCheckin *self);
/* the next scheduled check-in (owned by the caller), or NULL */
GDateTime *
fl_checkin_get_next(FlCheckin *self);
/* the digest as text; with @deliver also shown now as a notification */
gchar *
fl_checkin_digest_text(FlCheckin *self, gboolean deliver);
/* what awaits a decision, most urgent first: a GPtrArray of FlSessionData */
GPtrArray *
fl_checkin_review_items(FlCheckin *self, GError **error);

/* the digest marks verify results that ran against a base that is no longer the tip */
void
fl_checkin_set_coordination(FlCheckin *self, FlCoordination *coordination);

G_END_DECLS
