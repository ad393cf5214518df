/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "fl-overlap.h"
#include "fl-store.h"

G_BEGIN_DECLS

/*
 * What the user needs to know to land parallel drafts: for every pending draft, which other
 * pending drafts of the same base branch change one of its files, whether it still merges
 * onto the base branch's current tip, and — when it stopped merging because another draft
 * landed — which one. Kept in memory (it is git's truth, recomputed at start-up) and
 * re-checked per base branch whenever a draft of that branch becomes pending, lands or is
 * dropped. At most one check per base branch runs at a time, in a worker thread
 * (fl-overlap.c); a change during a check queues exactly one more.
 *
 * Emits "changed" (guint id) when what it says about a pending draft changed, and "idle"
 * when no check is running or queued any more.
 */
#define FL_TYPE_COORDINATION (fl_coordination_get_type())
G_DECLARE_FINAL_TYPE(FlCoordination, fl_coordination, FL, COORDINATION, GObject)

FlCoordination *
fl_coordination_new(FlStore *store);

/* at start-up: checks every base branch that has pending drafts */
void
fl_coordination_start(FlCoordination *self);

/* session @id was saved: re-checks its base branch when its review entered or left pending,
 * or it landed */
void
fl_coordination_session_changed(FlCoordination *self, guint id, const gchar *repo,
				const gchar *base, FlReview review);

/* re-checks the pending drafts of @repo's @base; @landed: the session that just landed, or 0 */
void
fl_coordination_recheck(FlCoordination *self, const gchar *repo, const gchar *base, guint landed);

/* what is known of pending draft @id, or NULL when nothing is (yet) */
const FlOverlap *
fl_coordination_lookup(FlCoordination *self, guint id);

/* the session that landed and made @id stop merging, 0 when none is known */
guint
fl_coordination_conflict_since(FlCoordination *self, guint id);

/* TRUE while a check runs or is queued */
gboolean
fl_coordination_is_busy(FlCoordination *self);

/*
 * Adds what is known of @id to an a{sv} (see data/io.github.flotilla.Flotilla1.xml):
 * "overlaps" (au), "merges" (b), "conflicts" (as), "stale" (b), "checked_against" (s),
 * "conflict_since" (u), and "landing" (s): fl_coordination_summary() of @base
 */
void
fl_coordination_describe(FlCoordination *self, guint id, const gchar *base, GVariantDict *dict);

/*
 * One line for people, NULL when there is nothing to say: "conflicts with main since #12
 * landed: a.txt", "conflicts with main: a.txt", "changes the same files as #4, #7"
 */
gchar *
fl_coordination_summary(FlCoordination *self, guint id, const gchar *base);

G_END_DECLS
