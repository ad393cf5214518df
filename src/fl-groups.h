/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "fl-fleet.h"
#include "fl-store.h"

G_BEGIN_DECLS

/*
 * Groups of sessions reviewed as one item (run --group, one goal across several --repo, a
 * race). Approving a group merges every pending member only when all of them, merged one
 * after another onto their base branches' tips, merge cleanly (checked first from git's
 * objects, fl_overlap_chain_async()); otherwise nothing merges. Rejecting drops them all.
 * Members stay decidable one by one.
 *
 * A group decision is write-ahead: its intent (each member with its draft tip and base tip)
 * is recorded before the first merge, and each member's merge is the fleet's own
 * write-ahead decision. A daemon that dies half-way rolls forward at the next start: members
 * already merged stay merged, the others merge if they still merge cleanly and otherwise
 * stay pending with the reason in their audit trail.
 *
 * A race (policy "first-wins") is won by the first member that ends done with its verify
 * passing (or with no verify command): the others are cancelled and their drafts kept as
 * rejected alternatives, branches and worktrees untouched.
 */
#define FL_TYPE_GROUPS (fl_groups_get_type())
G_DECLARE_FINAL_TYPE(FlGroups, fl_groups, FL, GROUPS, GObject)

/* a group's name: 1 to 64 of [A-Za-z0-9._-], starting with a letter or digit */
gboolean
fl_groups_name_is_valid(const gchar *name);

FlGroups *
fl_groups_new(FlFleet *fleet, FlStore *store);

/* rolls forward what a dead daemon left of a group decision (after fl_fleet_start()) */
void
fl_groups_recover(FlGroups *self);

/* @decision: FL_DECISION_APPROVE or FL_DECISION_REJECT; returns a one-line message */
void
fl_groups_decide_async(FlGroups *self, const gchar *name, FlDecision decision, const gchar *note,
		       const gchar *source, GAsyncReadyCallback callback, gpointer user_data);
gchar *
fl_groups_decide_finish(FlGroups *self, GAsyncResult *res, GError **error);

/*
 * The group as an a{sv}: name s, policy s, paused b, winner u (a race's), state s
 * (running while a member is active, else pending while a draft awaits review, else
 * approved, rejected or decided), members au; NULL + FL_ERROR_NOT_FOUND for no such group
 */
GVariant *
fl_groups_describe(FlGroups *self, const gchar *name, GError **error);

G_END_DECLS
