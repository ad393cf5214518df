/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "fl-session-data.h"

G_BEGIN_DECLS

/*
 * What a check-in digest says, in what order. Pure: builds text from items, no I/O.
 */

typedef enum {
	FL_DIGEST_KIND_BLOCKED,      /* needs input */
	FL_DIGEST_KIND_FAILED,       /* failed/interrupted, with or without a draft */
	FL_DIGEST_KIND_DRAFT_FAILED, /* draft awaiting review whose verify failed or timed out */
	FL_DIGEST_KIND_DRAFT_PASSED, /* draft awaiting review whose verify passed */
	FL_DIGEST_KIND_DRAFT,        /* other drafts awaiting review */
} FlDigestKind;

typedef struct {
	guint id;
	FlDigestKind kind;
	gchar *name; /* nullable */
	gchar *goal;
	gchar *repo; /* nullable */
	FlVerify verify;
	gchar *diffstat;       /* nullable */
	gchar *links_outside;  /* nullable: links the draft adds leading out of the repo */
	gdouble cost_usd;      /* < 0 when unknown */
	gchar *waiting_for;    /* nullable: what a blocked session asks */
	gchar *reason;         /* nullable: why it failed */
	gboolean reminder;     /* already announced in an earlier digest */
	gboolean approvable;   /* Approve/Reject make sense for it */
	gboolean unconfined;   /* run with [fleet] confinement=off */
	gboolean verify_stale; /* @verify ran against a base that is no longer the tip */
	gboolean permission;   /* blocked on an agent's permission request: a yes or no */
} FlDigestItem;

FlDigestItem *
fl_digest_item_new(guint id, FlDigestKind kind, const gchar *goal);
void
fl_digest_item_free(FlDigestItem *item);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlDigestItem, fl_digest_item_free)

/*
 * sorts in place, most urgent first: blocked, failed, drafts whose verify failed, drafts whose
 * verify passed, other drafts; then by id
 */
void
fl_digest_sort(GPtrArray *items);

/*
 * Summary line (plain text, one line, at most ~60 chars), e.g.
 * "Check-in 15:00 · 1 blocked · 1 failed · 4 drafts", most urgent first. @label is "15:00" or
 * NULL (then "Check-in"). Counts only kinds present; drafts counts every draft kind.
 */
gchar *
fl_digest_summary(GPtrArray *items, const gchar *label);

/*
 * Body: the item at @current in full (goal, repo, verify, diffstat, cost, what it asks / why
 * it failed; "2 of 4" position when more than one), then the others one line each in order,
 * at most @max_lines of them, then "+N more". With @markup, text is escaped for the
 * notification body markup subset (<b>, <i> only); without, plain text. All text goes through
 * fl_text_clean() (spaces collapsed, at most one empty line in a row), long goals ellipsized.
 */
gchar *
fl_digest_body(GPtrArray *items, guint current, gboolean markup, guint max_lines);

/*
 * plain-text digest for `flotilla checkin --preview` and webhooks: the summary, then the first
 * @max_items items in full (0 = every item) and how many more there are
 */
gchar *
fl_digest_text(GPtrArray *items, const gchar *label, guint max_items);

G_END_DECLS
