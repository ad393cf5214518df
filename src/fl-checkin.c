/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-checkin.h"

#include <errno.h>
#include <gio/gdesktopappinfo.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "fl-coordination.h"
#include "fl-digest.h"
#include "fl-i18n.h"
#include "fl-locale.h"
#include "fl-msg.h"
#include "fl-notifier.h"
#include "fl-schedule.h"
#include "fl-text.h"
#include "fl-util.h"

/* other items listed under the current one before "+N more" */
#define FL_DIGEST_LINES 5
/* items the text form (preview, webhooks) shows in full before "… and N more" */
#define FL_DIGEST_TEXT_ITEMS 10

/*
 * The digest is a walk: it covers the sessions that awaited the user when it was delivered
 * (plus any that start waiting while it is open), most urgent first. Its notification shows
 * the current one in full, with the buttons that act on it, and the rest one line each;
 * whatever is settled (decided, answered, skipped) leaves it, and its header counts what is
 * left.
 */
struct _FlCheckin {
	GObject parent_instance;
	FlFleet *fleet;               /* (unowned) owns us through the daemon: decisions, signals */
	FlCoordination *coordination; /* (owned) (nullable) which verify results are stale */
	FlGroups *groups;             /* (unowned) (nullable) decides a group as one item */
	FlStore *store;               /* (owned) sessions and the ledger */
	const FlConfig *config;       /* (unowned) outlives the daemon's parts */
	gchar *http_path;             /* (owned) flotilla-http, which sends the webhook */
	FlSchedule *schedule;         /* (owned) */
	FlNotifier *notifier;         /* (owned) (nullable) until started */
	GDateTime *next;              /* (owned) (nullable) */
	gint timer_fd;                /* CLOCK_REALTIME timerfd, -1 where there is none */
	guint timer_id;               /* its source, or the fallback timeout */
	/* the digest being walked */
	gboolean digest_open;  /* delivered (or waiting for a server), not closed, not finished */
	guint digest_handle;   /* its notification, 0 = none on the current server */
	gchar *digest_label;   /* (owned) "15:00" */
	gint64 digest_started; /* what was announced before this is a reminder */
	GArray *digest_ids;    /* (owned) guint: the sessions it covers, in the order first seen */
	GArray *walked;        /* (owned) guint: sessions settled during the walk, in that order */
	GHashTable *outcomes;  /* (owned) id -> (owned) what became of a settled session */
	guint current_id;      /* session the Approve/Reject buttons act on, 0 = none */
	gchar *last_note;      /* (owned) (nullable) outcome of the last decision, a stored message
				* (fl-msg.h) rendered in the desktop's language when posted */
	gboolean deciding;     /* a decision from the notification is under way */
	GHashTable *now_handles; /* (owned) blocked session id -> its "now" notification, 0 =
				    waiting for a server */
};

G_DEFINE_TYPE(FlCheckin, fl_checkin, G_TYPE_OBJECT)

typedef struct {
	FlCheckin *self; /* (owned) */
	guint id;
	FlDecision decision;
	gboolean from_digest; /* pressed on the digest, which then moves on */
} FlCheckinDecision;

static void
fl_checkin_arm(FlCheckin *self);

static gboolean
fl_checkin_ids_contain(GArray *ids, guint id)
{
	for (guint i = 0; i < ids->len; i++) {
		if (g_array_index(ids, guint, i) == id)
			return TRUE;
	}
	return FALSE;
}

static FlDigestKind
fl_checkin_kind(const FlSessionData *d)
{
	if (d->state == FL_STATE_BLOCKED)
		return FL_DIGEST_KIND_BLOCKED;
	if (d->state == FL_STATE_FAILED || d->state == FL_STATE_INTERRUPTED)
		return FL_DIGEST_KIND_FAILED;
	if (d->verify == FL_VERIFY_FAIL || d->verify == FL_VERIFY_TIMEOUT)
		return FL_DIGEST_KIND_DRAFT_FAILED;
	if (d->verify == FL_VERIFY_PASS)
		return FL_DIGEST_KIND_DRAFT_PASSED;
	return FL_DIGEST_KIND_DRAFT;
}

/* why a session is in a digest, for the ledger (fl_store_get_attention() agrees) */
static FlLedgerEvent
fl_checkin_event(const FlSessionData *d)
{
	if (d->state == FL_STATE_BLOCKED)
		return FL_LEDGER_EVENT_BLOCKED;
	if (d->review == FL_REVIEW_PENDING)
		return FL_LEDGER_EVENT_DRAFT;
	return FL_LEDGER_EVENT_FAILED;
}

static FlLedgerEvent
fl_checkin_item_event(const FlDigestItem *item)
{
	if (item->kind == FL_DIGEST_KIND_BLOCKED)
		return FL_LEDGER_EVENT_BLOCKED;
	if (item->approvable)
		return FL_LEDGER_EVENT_DRAFT;
	return FL_LEDGER_EVENT_FAILED;
}

/* @announced: when the ledger first told of it (0 = never); before @since makes it a reminder */
static FlDigestItem *
fl_checkin_item_new(FlCheckin *self, const FlSessionData *d, gint64 announced, gint64 since)
{
	FlDigestItem *item = fl_digest_item_new(d->id, fl_checkin_kind(d), d->goal);

	if (d->state == FL_STATE_BLOCKED && self->fleet != NULL)
		fl_fleet_get_request(self->fleet, d->id, &item->permission);

	item->name = g_strdup(d->name);
	item->repo = g_strdup(d->repo);
	item->verify = d->verify;
	item->diffstat = g_strdup(d->diffstat);
	item->links_outside = g_strdup(d->links_outside);
	item->cost_usd = d->cost_usd;
	item->unconfined = g_strcmp0(d->confinement, "off") == 0;
	item->waiting_for = g_strdup(d->waiting_for);
	/* in the language the digest is made in (the daemon's, or the previewing caller's) */
	if (d->reason != NULL) {
		g_autofree gchar *reason = fl_msg_render_stored(d->reason);

		item->reason = fl_text_clean(reason, -1, FL_TEXT_MULTILINE);
	}
	item->approvable = d->review == FL_REVIEW_PENDING && !fl_state_is_active(d->state);
	item->reminder = announced > 0 && announced < since;
	/* a verify result checked against a base that is no longer the branch's tip */
	if (self->coordination != NULL && d->verify != FL_VERIFY_NONE &&
	    d->review == FL_REVIEW_PENDING) {
		const FlOverlap *o = fl_coordination_lookup(self->coordination, d->id);
		const gchar *base = d->verify_base != NULL ? d->verify_base : d->base_commit;

		item->verify_stale = o != NULL && g_strcmp0(o->tip, base) != 0;
	}
	return item;
}

/*
 * A group is reviewed as one item: its pending drafts become one entry, the first member's,
 * named "@NAME: 3 drafts (#4, #5, #6)" and marked failed-verify when any member's is;
 * the other members leave the list
 */
static void
fl_checkin_fold_groups(GPtrArray *items, GPtrArray *datas)
{
	for (guint i = 0; i < items->len; i++) {
		FlDigestItem *item = g_ptr_array_index(items, i);
		const FlSessionData *d = g_ptr_array_index(datas, i);
		g_autoptr(GString) ids = NULL;
		g_autofree gchar *what = NULL;
		guint count = 1;

		if (!item->approvable || d->group == NULL)
			continue;
		ids = g_string_new(NULL);
		g_string_append_printf(ids, "#%u", d->id);
		for (guint j = i + 1; j < items->len;) {
			FlDigestItem *other = g_ptr_array_index(items, j);
			const FlSessionData *od = g_ptr_array_index(datas, j);

			if (!other->approvable || g_strcmp0(od->group, d->group) != 0) {
				j++;
				continue;
			}
			g_string_append_printf(ids, ", #%u", od->id);
			if (other->verify == FL_VERIFY_FAIL || other->verify == FL_VERIFY_TIMEOUT)
				item->verify = other->verify;
			item->reminder = item->reminder && other->reminder;
			count++;
			g_ptr_array_remove_index(items, j);
			g_ptr_array_remove_index(datas, j);
		}
		what = g_strdup_printf(g_dngettext(GETTEXT_PACKAGE, "%u draft", "%u drafts", count),
				       count);
		g_free(item->name);
		/* TRANSLATORS: a group as one digest entry: its name, "3 drafts", their ids */
		item->name = g_strdup_printf(_("@%s: %s (%s)"), d->group, what, ids->str);
	}
}

/* what awaits the user, most urgent first; @datas gets the matching session data */
static GPtrArray *
fl_checkin_collect(FlCheckin *self, gint64 since, GPtrArray **datas_out, GError **error)
{
	FlStore *store = self->store;
	g_autoptr(GArray) announced = NULL;
	g_autoptr(GPtrArray) datas = fl_store_get_attention(store, &announced, error);
	g_autoptr(GPtrArray) items = NULL;

	if (datas == NULL)
		return NULL;
	items = g_ptr_array_new_with_free_func((GDestroyNotify)fl_digest_item_free);
	for (guint i = 0; i < datas->len; i++)
		g_ptr_array_add(items,
				fl_checkin_item_new(self, g_ptr_array_index(datas, i),
						    g_array_index(announced, gint64, i), since));
	fl_checkin_fold_groups(items, datas);
	fl_digest_sort(items);
	if (datas_out != NULL)
		*datas_out = g_steal_pointer(&datas);
	return g_steal_pointer(&items);
}

static void
fl_checkin_announce(FlCheckin *self, guint id, FlLedgerEvent event)
{
	g_autoptr(GError) error = NULL;

	/* the first announcement counts: the store keeps the earliest time */
	if (!fl_store_ledger_set(self->store, id, event, fl_now(), &error))
		g_warning("%s", error->message);
}

static void
fl_checkin_settle(FlCheckin *self, guint id, gchar *outcome)
{
	if (!fl_checkin_ids_contain(self->walked, id))
		g_array_append_val(self->walked, id);
	g_hash_table_replace(self->outcomes, GUINT_TO_POINTER(id), outcome);
}

static gchar *
fl_checkin_review_outcome(FlReview review)
{
	switch (review) {
	case FL_REVIEW_APPROVED:
		/* TRANSLATORS: what became of a draft, in the digest's one-line entry */
		return g_strdup(_("approved"));
	case FL_REVIEW_REJECTED:
		/* TRANSLATORS: what became of a draft, in the digest's one-line entry */
		return g_strdup(_("rejected"));
	case FL_REVIEW_REVERTED:
		/* TRANSLATORS: what became of a draft, in the digest's one-line entry */
		return g_strdup(_("reverted"));
	case FL_REVIEW_NONE:
	case FL_REVIEW_PENDING:
	default:
		return NULL;
	}
}

/*
 * What the digest still covers, most urgent first: settled sessions (decided, answered,
 * skipped) have left it, so its counts are what is left. Sets @current to the index of the one
 * its buttons act on.
 */
static GPtrArray *
fl_checkin_walk(FlCheckin *self, guint *current)
{
	FlStore *store = self->store;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) waiting = fl_checkin_collect(self, self->digest_started, NULL, &error);
	g_autoptr(GPtrArray) pending = NULL;

	if (waiting == NULL) {
		g_warning("check-in: %s", error->message);
		return NULL;
	}
	/* what starts waiting while the digest is open joins it */
	for (guint i = 0; i < waiting->len; i++) {
		FlDigestItem *item = g_ptr_array_index(waiting, i);
		if (!fl_checkin_ids_contain(self->digest_ids, item->id))
			g_array_append_val(self->digest_ids, item->id);
	}

	pending = g_ptr_array_new_with_free_func((GDestroyNotify)fl_digest_item_free);
	for (guint i = 0; i < self->digest_ids->len; i++) {
		guint id = g_array_index(self->digest_ids, guint, i);
		g_autoptr(FlSessionData) d = NULL;
		gchar *outcome;
		guint j;

		if (fl_checkin_ids_contain(self->walked, id))
			continue;
		for (j = 0; j < waiting->len; j++) {
			if (((FlDigestItem *)g_ptr_array_index(waiting, j))->id == id)
				break;
		}
		if (j < waiting->len) {
			g_ptr_array_add(pending, g_ptr_array_steal_index(waiting, j));
			continue;
		}
		/* no longer waiting: decided elsewhere, or a failure already announced (it
		 * stays in the digest that announced it) */
		d = fl_store_get_session(store, id, NULL);
		if (d == NULL)
			continue;
		outcome = fl_checkin_review_outcome(d->review);
		if (outcome != NULL)
			fl_checkin_settle(self, id, outcome);
		else if (fl_store_ledger_get(store, id, FL_LEDGER_EVENT_DISMISSED) > 0)
			/* TRANSLATORS: what became of a failure the user let go, in the digest */
			fl_checkin_settle(self, id, g_strdup(_("dismissed")));
		else if (d->review == FL_REVIEW_NONE &&
			 (d->state == FL_STATE_FAILED || d->state == FL_STATE_INTERRUPTED))
			g_ptr_array_add(pending,
					fl_checkin_item_new(
						self, d,
						fl_store_ledger_get(store, id, fl_checkin_event(d)),
						self->digest_started));
		/* else answered or cancelled meanwhile: nothing to say about it any more */
	}
	fl_digest_sort(pending);

	/* the buttons stay on the session they were about while it waits; else the most urgent */
	*current = 0;
	for (guint i = 0; i < pending->len; i++) {
		FlDigestItem *item = g_ptr_array_index(pending, i);
		if (item->id == self->current_id)
			*current = i;
	}
	return g_steal_pointer(&pending);
}

static void
fl_checkin_post_finished(FlCheckin *self)
{
	/* in the desktop session's language, even when a D-Bus caller's call led here */
	g_auto(FlLocaleScope) own = fl_locale_scope_enter(fl_locale_own());
	g_autofree gchar *note = fl_msg_render_stored(self->last_note);
	GString *body = g_string_new(note);
	g_autofree gchar *markup = NULL;
	g_autofree gchar *text = NULL;

	/* the last decision's outcome (it may say why it was refused), then what became of each */
	for (guint i = 0; i < self->walked->len; i++) {
		guint id = g_array_index(self->walked, guint, i);
		const gchar *outcome = g_hash_table_lookup(self->outcomes, GUINT_TO_POINTER(id));
		if (body->len > 0)
			g_string_append_c(body, '\n');
		g_string_append_printf(body, "#%u %s", id, outcome != NULL ? outcome : "?");
	}
	text = fl_text_clean(body->str, -1,
			     FL_TEXT_MULTILINE | FL_TEXT_COLLAPSE_SPACE |
				     FL_TEXT_MAX_BLANK_LINES_1);
	g_string_free(body, TRUE);
	markup = g_markup_escape_text(text, -1);
	fl_notifier_post(self->notifier, self->digest_handle, _("All reviewed"), markup, text, NULL,
			 FL_NOTIFIER_URGENCY_LOW, "x-flotilla.digest");
}

/* nothing left to decide: a short last word, or the notification goes */
static void
fl_checkin_finish(FlCheckin *self)
{
	self->digest_open = FALSE;
	self->current_id = 0;
	if (self->digest_handle == 0)
		return;
	if (self->walked->len > 0) {
		fl_checkin_post_finished(self);
	} else {
		fl_notifier_close(self->notifier, self->digest_handle);
		self->digest_handle = 0;
	}
}

/*
 * Allow / Deny (a permission request) and Reply for blocked session @id. The keys name the
 * question they answer: one pressed after it changed or was answered elsewhere must not
 * answer the next one.
 */
static void
fl_checkin_add_answer_actions(FlCheckin *self, GPtrArray *actions, guint id)
{
	gboolean permission = FALSE;
	guint request =
		self->fleet != NULL ? fl_fleet_get_request(self->fleet, id, &permission) : 0;

	if (request == 0)
		return;
	if (permission) {
		g_ptr_array_add(actions, g_strdup_printf("allow:%u:%u", id, request));
		g_ptr_array_add(actions, g_strdup(_("Allow")));
		g_ptr_array_add(actions, g_strdup_printf("deny:%u:%u", id, request));
		g_ptr_array_add(actions, g_strdup(_("Deny")));
	}
	g_ptr_array_add(actions, g_strdup_printf("reply:%u:%u", id, request));
	g_ptr_array_add(actions, g_strdup(_("Reply")));
}

/* "Queue held: …" when no queued session may start (paused, the day's budget spent, too
 * many drafts unreviewed), else NULL: a digest is where the user learns the fleet stopped */
static gchar *
fl_checkin_held_line(FlCheckin *self)
{
	g_autofree gchar *reason = NULL;

	if (self->fleet == NULL)
		return NULL;
	reason = fl_fleet_get_held_reason(self->fleet);
	if (reason == NULL)
		return NULL;
	/* TRANSLATORS: the reason is e.g. "today's sessions cost $20.13, daily-budget is $20.00:
	 * the queue starts again tomorrow" */
	return g_strdup_printf(_("Queue held: %s"), reason);
}

/* the digest's text with the queue's hold, if any, as its last line */
static gchar *
fl_checkin_text(FlCheckin *self, GPtrArray *items, const gchar *label)
{
	g_autofree gchar *held = fl_checkin_held_line(self);
	gchar *text = items->len > 0 ? fl_digest_text(items, label, FL_DIGEST_TEXT_ITEMS)
				     : g_strdup(_("Nothing awaits you."));

	if (held != NULL) {
		g_autofree gchar *only = text;
		text = g_strdup_printf("%s\n%s", only, held);
	}
	return text;
}

/* one italic line before (@first) or after the digest's body, in both of its forms */
static void
fl_checkin_add_line(gchar **markup, gchar **plain, const gchar *line, gboolean first)
{
	g_autofree gchar *escaped = g_markup_escape_text(line, -1);
	gchar *m = first ? g_strdup_printf("<i>%s</i>\n%s", escaped, *markup)
			 : g_strdup_printf("%s\n<i>%s</i>", *markup, escaped);
	gchar *p = first ? g_strdup_printf("%s\n%s", line, *plain)
			 : g_strdup_printf("%s\n%s", *plain, line);

	g_free(*markup);
	g_free(*plain);
	*markup = m;
	*plain = p;
}

static void
fl_checkin_post_digest(FlCheckin *self)
{
	/* in the desktop session's language, even when a D-Bus caller's call led here */
	g_auto(FlLocaleScope) own = fl_locale_scope_enter(fl_locale_own());
	g_autoptr(GPtrArray) items = NULL;
	g_autoptr(GPtrArray) actions = g_ptr_array_new_with_free_func(g_free);
	g_autofree gchar *summary = NULL;
	g_autofree gchar *markup = NULL;
	g_autofree gchar *plain = NULL;
	g_autofree gchar *held = NULL;
	FlDigestItem *current;
	guint index = 0;

	if (!self->digest_open || self->notifier == NULL)
		return;
	items = fl_checkin_walk(self, &index);
	if (items == NULL)
		return;
	if (items->len == 0) {
		fl_checkin_finish(self);
		return;
	}
	current = g_ptr_array_index(items, index);
	self->current_id = current->id;

	/* without a server nothing is shown yet: it is posted, written for that server's
	 * capabilities, when one appears */
	if (!fl_notifier_is_available(self->notifier))
		return;

	summary = fl_digest_summary(items, self->digest_label);
	markup = fl_digest_body(items, index, TRUE, FL_DIGEST_LINES);
	plain = fl_digest_body(items, index, FALSE, FL_DIGEST_LINES);
	if (self->last_note != NULL) {
		g_autofree gchar *rendered = fl_msg_render_stored(self->last_note);
		g_autofree gchar *note = fl_text_clean(rendered, -1, FL_TEXT_COLLAPSE_SPACE);

		fl_checkin_add_line(&markup, &plain, note, TRUE);
	}
	held = fl_checkin_held_line(self);
	if (held != NULL)
		fl_checkin_add_line(&markup, &plain, held, FALSE);
	if (!fl_notifier_has_capability(self->notifier, "actions")) {
		/* no buttons to press: say where decisions are made instead */
		const gchar *hint = _("Decide with: flotilla review");
		gchar *m = g_strdup_printf("%s\n%s", markup, hint);
		gchar *p = g_strdup_printf("%s\n%s", plain, hint);
		g_free(markup);
		g_free(plain);
		markup = m;
		plain = p;
	}
	g_ptr_array_add(actions, g_strdup("default"));
	g_ptr_array_add(actions, g_strdup(_("Open review")));
	if (current->approvable) {
		g_ptr_array_add(actions, g_strdup_printf("approve:%u", current->id));
		g_ptr_array_add(actions, g_strdup(_("Approve")));
		g_ptr_array_add(actions, g_strdup_printf("reject:%u", current->id));
		g_ptr_array_add(actions, g_strdup(_("Reject")));
	} else {
		if (current->kind == FL_DIGEST_KIND_BLOCKED)
			fl_checkin_add_answer_actions(self, actions, current->id);
		if (current->kind == FL_DIGEST_KIND_FAILED) {
			g_ptr_array_add(actions, g_strdup_printf("retry:%u", current->id));
			g_ptr_array_add(actions, g_strdup(_("Retry")));
			g_ptr_array_add(actions, g_strdup_printf("dismiss:%u", current->id));
			g_ptr_array_add(actions, g_strdup(_("Dismiss")));
		}
		/* nothing to decide on it here: the walk goes on when the user has seen it */
		g_ptr_array_add(actions, g_strdup_printf("next:%u", current->id));
		g_ptr_array_add(actions, g_strdup(_("Next")));
	}
	g_ptr_array_add(actions, NULL);
	self->digest_handle = fl_notifier_post(self->notifier, self->digest_handle, summary, markup,
					       plain, (const gchar *const *)actions->pdata,
					       FL_NOTIFIER_URGENCY_NORMAL, "x-flotilla.digest");

	/* each event goes into one digest: what is on screen now counts as announced; one
	 * transaction, so a digest of 1000 drafts costs one fsync, not 1000 */
	fl_store_begin(self->store);
	for (guint i = 0; i < items->len; i++) {
		FlDigestItem *item = g_ptr_array_index(items, i);
		fl_checkin_announce(self, item->id, fl_checkin_item_event(item));
	}
	fl_store_commit(self->store);
}

/* the last line flotilla-http wrote on stderr: its reason for failing */
static gchar *
fl_checkin_last_line(GBytes *bytes)
{
	g_autofree gchar *text = NULL;
	g_auto(GStrv) lines = NULL;
	gsize len = 0;
	const gchar *data = bytes != NULL ? g_bytes_get_data(bytes, &len) : NULL;

	if (len == 0)
		return NULL;
	text = g_strndup(data, len);
	lines = g_strsplit(g_strstrip(text), "\n", -1);
	if (lines[0] == NULL)
		return NULL;
	return fl_text_clean(lines[g_strv_length(lines) - 1], -1, FL_TEXT_NONE);
}

static void
fl_checkin_webhook_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GSubprocess *proc = G_SUBPROCESS(source);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) err = NULL;
	g_autofree gchar *line = NULL;

	/* a dead webhook only costs a log line; the desktop digest never waits for it */
	if (!g_subprocess_communicate_finish(proc, res, NULL, &err, &error)) {
		g_message("check-in webhook: %s", error->message);
		return;
	}
	if (g_subprocess_get_if_exited(proc) && g_subprocess_get_exit_status(proc) == 0)
		return;
	line = fl_checkin_last_line(err);
	if (line == NULL)
		line = g_strdup(_("flotilla-http failed without saying why"));
	g_message("check-in webhook: %s", line);
}

/* the webhook JSON's "kind": a draft whose verify passed is a draft */
static const gchar *
fl_checkin_webhook_kind(FlDigestKind kind)
{
	switch (kind) {
	case FL_DIGEST_KIND_BLOCKED:
		return "blocked";
	case FL_DIGEST_KIND_FAILED:
		return "failed";
	case FL_DIGEST_KIND_DRAFT_FAILED:
	case FL_DIGEST_KIND_DRAFT_PASSED:
	case FL_DIGEST_KIND_DRAFT:
	default:
		return "draft";
	}
}

static JsonNode *
fl_checkin_webhook_item(FlDigestItem *item)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "id");
	json_builder_add_int_value(b, item->id);
	json_builder_set_member_name(b, "kind");
	json_builder_add_string_value(b, fl_checkin_webhook_kind(item->kind));
	json_builder_set_member_name(b, "goal");
	json_builder_add_string_value(b, item->goal);
	if (item->verify != FL_VERIFY_NONE) {
		json_builder_set_member_name(b, "verify");
		json_builder_add_string_value(b, fl_verify_to_string(item->verify));
	}
	if (item->diffstat != NULL) {
		json_builder_set_member_name(b, "diffstat");
		json_builder_add_string_value(b, item->diffstat);
	}
	if (item->links_outside != NULL) {
		json_builder_set_member_name(b, "links_outside");
		json_builder_add_string_value(b, item->links_outside);
	}
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

/* the same digest off the desktop, when [checkin] webhook= is set: flotilla-http sends it
 * (with retries), so that the daemon never loads libcurl */
static void
fl_checkin_send_webhook(FlCheckin *self, GPtrArray *items, const gchar *label)
{
	/* in the desktop session's language, even when a D-Bus caller's call led here */
	g_auto(FlLocaleScope) own = fl_locale_scope_enter(fl_locale_own());
	const FlConfig *config = self->config;
	const gchar *helper = self->http_path;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonBuilder) b = NULL;
	g_autoptr(JsonGenerator) generator = NULL;
	g_autoptr(JsonNode) root = NULL;
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GBytes) input = NULL;
	g_autofree gchar *summary = NULL;
	g_autofree gchar *text = NULL;
	gchar *json;
	gsize len = 0;
	gboolean urgent = FALSE;

	if (config->webhook == NULL)
		return;
	summary = fl_digest_summary(items, label);
	text = fl_checkin_text(self, items, label);
	b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "url");
	json_builder_add_string_value(b, config->webhook);
	json_builder_set_member_name(b, "format");
	json_builder_add_string_value(b, config->webhook_format);
	json_builder_set_member_name(b, "summary");
	json_builder_add_string_value(b, summary);
	json_builder_set_member_name(b, "text");
	json_builder_add_string_value(b, text);
	json_builder_set_member_name(b, "items");
	json_builder_begin_array(b);
	for (guint i = 0; i < items->len; i++) {
		FlDigestItem *item = g_ptr_array_index(items, i);
		json_builder_add_value(b, fl_checkin_webhook_item(item));
		if (item->kind == FL_DIGEST_KIND_BLOCKED)
			urgent = TRUE;
	}
	json_builder_end_array(b);
	json_builder_set_member_name(b, "urgent");
	json_builder_add_boolean_value(b, urgent);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	generator = json_generator_new();
	json_generator_set_root(generator, root);
	json = json_generator_to_data(generator, &len);
	input = g_bytes_new_take(json, len);

	proc = g_subprocess_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
					G_SUBPROCESS_FLAGS_STDERR_PIPE,
				&error, helper, "webhook", NULL);
	if (proc == NULL) {
		g_message("check-in webhook: %s", error->message);
		return;
	}
	g_subprocess_communicate_async(proc, input, NULL, fl_checkin_webhook_cb, NULL);
}

/* starts a new digest of what awaits now; returns its text */
static gchar *
fl_checkin_deliver(FlCheckin *self, const gchar *label)
{
	g_autoptr(GError) error = NULL;
	gint64 started = fl_now();
	g_autoptr(GPtrArray) items = fl_checkin_collect(self, started, NULL, &error);

	if (items == NULL) {
		g_warning("check-in: %s", error->message);
		return g_strdup("");
	}
	/* an empty check-in shows nothing */
	if (items->len == 0)
		return g_strdup(_("Nothing awaits you."));

	g_free(self->digest_label);
	self->digest_label = g_strdup(label);
	self->digest_started = started;
	g_array_set_size(self->digest_ids, 0);
	g_array_set_size(self->walked, 0);
	g_hash_table_remove_all(self->outcomes);
	g_clear_pointer(&self->last_note, g_free);
	self->current_id = 0;
	for (guint i = 0; i < items->len; i++) {
		FlDigestItem *item = g_ptr_array_index(items, i);
		g_array_append_val(self->digest_ids, item->id);
	}
	self->digest_open = TRUE;
	fl_checkin_post_digest(self);
	fl_checkin_send_webhook(self, items, label);
	return fl_checkin_text(self, items, label);
}

gchar *
fl_checkin_digest_text(FlCheckin *self, gboolean deliver)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_local();
	g_autofree gchar *label = g_date_time_format(now, "%H:%M");
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) items = NULL;

	g_return_val_if_fail(FL_IS_CHECKIN(self), NULL);

	if (deliver && self->notifier != NULL)
		return fl_checkin_deliver(self, label);
	/* a preview: announces nothing, and anything announced before is a reminder */
	items = fl_checkin_collect(self, G_MAXINT64, NULL, &error);
	if (items == NULL) {
		g_warning("check-in: %s", error->message);
		return g_strdup("");
	}
	return fl_checkin_text(self, items, label);
}

GPtrArray *
fl_checkin_review_items(FlCheckin *self, GError **error)
{
	g_autoptr(GPtrArray) datas = NULL;
	g_autoptr(GPtrArray) items = NULL;
	g_autoptr(GPtrArray) failures = NULL;
	GPtrArray *sorted;

	g_return_val_if_fail(FL_IS_CHECKIN(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	items = fl_checkin_collect(self, G_MAXINT64, &datas, error);
	if (items == NULL)
		return NULL;
	/* a digest tells of a failure once; the review keeps it until it is retried or dismissed */
	failures = fl_store_get_failures(self->store, error);
	if (failures == NULL)
		return NULL;
	for (guint i = 0; i < failures->len; i++) {
		FlSessionData *d = g_ptr_array_index(failures, i);
		gboolean known = FALSE;

		for (guint j = 0; j < datas->len && !known; j++)
			known = ((FlSessionData *)g_ptr_array_index(datas, j))->id == d->id;
		if (known)
			continue;
		g_ptr_array_add(items, fl_checkin_item_new(self, d, 0, G_MAXINT64));
		g_ptr_array_add(datas, g_ptr_array_steal_index(failures, i--));
	}
	fl_digest_sort(items);
	/* the data in the digest's order */
	sorted = g_ptr_array_new_with_free_func((GDestroyNotify)fl_session_data_free);
	for (guint i = 0; i < items->len; i++) {
		FlDigestItem *item = g_ptr_array_index(items, i);
		for (guint j = 0; j < datas->len; j++) {
			FlSessionData *d = g_ptr_array_index(datas, j);
			if (d->id == item->id) {
				g_ptr_array_add(sorted, g_ptr_array_steal_index_fast(datas, j));
				break;
			}
		}
	}
	return sorted;
}

GDateTime *
fl_checkin_get_next(FlCheckin *self)
{
	g_return_val_if_fail(FL_IS_CHECKIN(self), NULL);
	return self->next != NULL ? g_date_time_ref(self->next) : NULL;
}

/* ------------------------------------------------------------------ schedule */

static void
fl_checkin_fire(FlCheckin *self)
{
	g_autofree gchar *label = NULL;
	g_autofree gchar *text = NULL;

	/* labelled with the time it was due, even if the timer woke a little early or late */
	label = g_date_time_format(self->next, "%H:%M");
	text = fl_checkin_deliver(self, label);
	fl_checkin_arm(self);
}

static gboolean
fl_checkin_timeout_cb(gpointer user_data)
{
	FlCheckin *self = user_data;

	self->timer_id = 0;
	fl_checkin_fire(self);
	return G_SOURCE_REMOVE;
}

static gboolean
fl_checkin_timer_fd_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	FlCheckin *self = user_data;
	guint64 expirations = 0;

	if (read(fd, &expirations, sizeof(expirations)) == (gssize)sizeof(expirations)) {
		fl_checkin_fire(self);
	} else if (errno == ECANCELED) {
		g_autoptr(GDateTime) now = g_date_time_new_now_local();

		/* the clock was set: forward past the check-in, it is due; else count again from
		 * now, as a clock set back can make an earlier check-in the next one */
		if (g_date_time_compare(self->next, now) <= 0) {
			fl_checkin_fire(self);
		} else {
			g_clear_pointer(&self->next, g_date_time_unref);
			fl_checkin_arm(self);
		}
	}
	return G_SOURCE_CONTINUE;
}

/*
 * Check-ins are due at wall-clock times. A CLOCK_REALTIME timer fires on time after a
 * suspend, where a GLib timeout (the monotonic clock, which stops while the machine sleeps)
 * would come late by the time asleep, and it reports a change of the clock. Without
 * timerfd (it cannot fail on Linux short of running out of descriptors) a timeout does.
 */
static gboolean
fl_checkin_set_timer(FlCheckin *self, GDateTime *when)
{
	struct itimerspec spec = {{0, 0}, {(time_t)g_date_time_to_unix(when), 0}};

	if (self->timer_fd < 0) {
		self->timer_fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
		if (self->timer_fd < 0) {
			g_debug("timerfd_create: %s", g_strerror(errno));
			return FALSE;
		}
		/* a fallback timeout from an earlier failure */
		g_clear_handle_id(&self->timer_id, g_source_remove);
		self->timer_id =
			g_unix_fd_add(self->timer_fd, G_IO_IN, fl_checkin_timer_fd_cb, self);
	}
	if (timerfd_settime(self->timer_fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &spec,
			    NULL) != 0) {
		g_debug("timerfd_settime: %s", g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

static void
fl_checkin_clear_timer(FlCheckin *self)
{
	g_clear_handle_id(&self->timer_id, g_source_remove);
	if (self->timer_fd >= 0) {
		close(self->timer_fd);
		self->timer_fd = -1;
	}
}

static void
fl_checkin_arm(FlCheckin *self)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_local();
	g_autoptr(GDateTime) after = NULL;
	GTimeSpan delta;

	/* a timer may fire a moment before its second: never deliver the same check-in twice */
	if (self->next != NULL && g_date_time_compare(self->next, now) > 0)
		after = g_date_time_ref(self->next);
	else
		after = g_date_time_ref(now);
	g_clear_pointer(&self->next, g_date_time_unref);
	self->next = fl_schedule_next(self->schedule, after);
	/* one timer for the whole wait: an idle daemon sleeps until the check-in */
	if (fl_checkin_set_timer(self, self->next))
		return;
	fl_checkin_clear_timer(self);
	delta = g_date_time_difference(self->next, now);
	self->timer_id =
		g_timeout_add_seconds((guint)MAX(1, (delta + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC),
				      fl_checkin_timeout_cb, self);
}

/* ------------------------------------------------------------------ notifications */

static void
fl_checkin_decision_free(FlCheckinDecision *decision)
{
	g_object_unref(decision->self);
	g_free(decision);
}

static void
fl_checkin_decided(FlCheckinDecision *decision, gchar *message, GError *error);

static void
fl_checkin_decide_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GError *error = NULL;
	gchar *message = fl_fleet_decide_finish(FL_FLEET(source), res, &error);

	fl_checkin_decided(user_data, message, error);
}

static void
fl_checkin_decide_group_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GError *error = NULL;
	gchar *message = fl_groups_decide_finish(FL_GROUPS(source), res, &error);

	fl_checkin_decided(user_data, message, error);
}

/* @message, @error: (transfer full) the decision's outcome, one of them set */
static void
fl_checkin_decided(FlCheckinDecision *decision, gchar *message_in, GError *error_in)
{
	FlCheckin *self = decision->self;
	g_autoptr(GError) error = error_in;
	g_autofree gchar *message = message_in;

	self->deciding = FALSE;
	/* the daemon is going away */
	if (self->fleet == NULL) {
		fl_checkin_decision_free(decision);
		return;
	}
	g_free(self->last_note);
	if (message != NULL) {
		self->last_note = g_steal_pointer(&message);
		fl_checkin_settle(
			self, decision->id,
			fl_checkin_review_outcome(decision->decision == FL_DECISION_APPROVE
							  ? FL_REVIEW_APPROVED
							  : FL_REVIEW_REJECTED));
	} else {
		/* refused (a conflict, a dirty checkout): that draft keeps waiting for the next
		 * check-in, this walk moves on */
		self->last_note = fl_error_serialize(error);
		fl_checkin_settle(self, decision->id,
				  /* TRANSLATORS: a decision flotilla could not carry out */
				  g_strdup(_("refused")));
	}
	fl_checkin_post_digest(self);
	fl_checkin_decision_free(decision);
}

/*
 * Opening the review in a terminal: the review-command the user configured; else the
 * desktop entry (its Terminal=true lets the desktop pick the terminal), xdg-terminal-exec,
 * the user's $TERMINAL, x-terminal-emulator, in that order. A try that cannot start, or
 * whose terminal exits with an error (no display, say), hands on to the next; when none is
 * left a notification says so and gives the command to type, as a click that does nothing
 * visible leaves the user guessing.
 */
typedef enum {
	FL_CHECKIN_OPEN_CONFIGURED,
	FL_CHECKIN_OPEN_DESKTOP_ENTRY,
	FL_CHECKIN_OPEN_XDG_TERMINAL_EXEC,
	FL_CHECKIN_OPEN_USER_TERMINAL,
	FL_CHECKIN_OPEN_X_TERMINAL_EMULATOR,
	FL_CHECKIN_OPEN_NONE,
} FlCheckinOpenStep;

typedef struct {
	FlCheckin *self; /* (owned) */
	FlCheckinOpenStep step;
} FlCheckinOpen;

static void
fl_checkin_open_try(FlCheckinOpen *open);

static void
fl_checkin_open_free(FlCheckinOpen *open)
{
	g_object_unref(open->self);
	g_free(open);
}

static void
fl_checkin_open_exited_cb(GPid pid, gint status, gpointer user_data)
{
	FlCheckinOpen *open = user_data;
	g_autoptr(GError) error = NULL;

	g_spawn_close_pid(pid);
	/* a terminal that forks off its window and exits 0 did its job */
	if (g_spawn_check_wait_status(status, &error) || open->self->fleet == NULL) {
		fl_checkin_open_free(open);
		return;
	}
	g_message("the review's terminal failed: %s", error->message);
	open->step++;
	fl_checkin_open_try(open);
}

static void
fl_checkin_open_pid_cb(GDesktopAppInfo *info, GPid pid, gpointer user_data)
{
	*(GPid *)user_data = pid;
}

/* the argv of the try at @step, or NULL when there is nothing to try there */
static gchar **
fl_checkin_open_argv(FlCheckin *self, FlCheckinOpenStep step)
{
	const gchar *review[] = {"flotilla", "review", NULL};
	const gchar *terminal = NULL;
	g_autofree gchar *found = NULL;
	GStrvBuilder *b;
	gchar **argv;

	switch (step) {
	case FL_CHECKIN_OPEN_CONFIGURED:
		return g_strdupv(self->config->review_command);
	case FL_CHECKIN_OPEN_XDG_TERMINAL_EXEC:
		terminal = "xdg-terminal-exec";
		break;
	case FL_CHECKIN_OPEN_USER_TERMINAL:
		terminal = g_getenv("TERMINAL");
		break;
	case FL_CHECKIN_OPEN_X_TERMINAL_EMULATOR:
		terminal = "x-terminal-emulator";
		break;
	case FL_CHECKIN_OPEN_DESKTOP_ENTRY:
	case FL_CHECKIN_OPEN_NONE:
	default:
		return NULL;
	}
	if (terminal == NULL || terminal[0] == '\0' ||
	    (found = g_find_program_in_path(terminal)) == NULL)
		return NULL;
	b = g_strv_builder_new();
	g_strv_builder_add(b, found);
	/* xdg-terminal-exec takes the command as it is; the others after -e */
	if (step != FL_CHECKIN_OPEN_XDG_TERMINAL_EXEC)
		g_strv_builder_add(b, "-e");
	g_strv_builder_addv(b, review);
	argv = g_strv_builder_end(b);
	g_strv_builder_unref(b);
	return argv;
}

static void
fl_checkin_open_try(FlCheckinOpen *open)
{
	FlCheckin *self = open->self;

	for (; open->step < FL_CHECKIN_OPEN_NONE; open->step++) {
		g_autoptr(GError) error = NULL;
		g_auto(GStrv) argv = NULL;
		/* the user's own environment, LANGUAGE included (fl-locale.h) */
		g_auto(GStrv) env = fl_locale_child_environ();
		GPid pid = 0;
		gboolean started;

		/* a command the user chose is the only one tried */
		if ((open->step == FL_CHECKIN_OPEN_CONFIGURED) !=
		    (self->config->review_command != NULL))
			continue;
		if (open->step == FL_CHECKIN_OPEN_DESKTOP_ENTRY) {
			g_autoptr(GDesktopAppInfo) info =
				g_desktop_app_info_new("io.github.flotilla.Flotilla1.desktop");
			g_autoptr(GAppLaunchContext) context = NULL;
			const gchar *language = g_environ_getenv(env, "LANGUAGE");

			if (info == NULL)
				continue;
			context = g_app_launch_context_new();
			if (language != NULL)
				g_app_launch_context_setenv(context, "LANGUAGE", language);
			started = g_desktop_app_info_launch_uris_as_manager(
				info, NULL, context,
				G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
				fl_checkin_open_pid_cb, &pid, &error);
		} else {
			argv = fl_checkin_open_argv(self, open->step);
			if (argv == NULL)
				continue;
			started = g_spawn_async(NULL, argv, env,
						G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD,
						NULL, NULL, &pid, &error);
		}
		if (!started || pid == 0) {
			if (error != NULL)
				g_message("cannot open the review: %s", error->message);
			continue;
		}
		g_child_watch_add(pid, fl_checkin_open_exited_cb, open);
		return;
	}
	if (self->notifier != NULL)
		fl_notifier_post(self->notifier, 0, _("No terminal for the review"),
				 _("No terminal could be opened. To decide, run in a terminal: "
				   "<b>flotilla review</b>"),
				 _("No terminal could be opened. To decide, run in a terminal: "
				   "flotilla review"),
				 NULL, FL_NOTIFIER_URGENCY_NORMAL, "x-flotilla.digest");
	fl_checkin_open_free(open);
}

static void
fl_checkin_open_review(FlCheckin *self)
{
	FlCheckinOpen *open = g_new0(FlCheckinOpen, 1);

	open->self = g_object_ref(self);
	open->step = FL_CHECKIN_OPEN_CONFIGURED;
	fl_checkin_open_try(open);
}

typedef enum {
	FL_CHECKIN_ANSWER_ALLOW,
	FL_CHECKIN_ANSWER_DENY,
	FL_CHECKIN_ANSWER_REPLY,
} FlCheckinAnswer;

/* "allow:12:3" → FL_CHECKIN_ANSWER_ALLOW, session 12, request 3; anything else FALSE */
static gboolean
fl_checkin_parse_answer_key(const gchar *key, FlCheckinAnswer *answer, guint *id, guint *request)
{
	static const struct {
		const gchar *prefix;
		FlCheckinAnswer answer;
	} kinds[] = {
		{"allow:", FL_CHECKIN_ANSWER_ALLOW},
		{"deny:", FL_CHECKIN_ANSWER_DENY},
		{"reply:", FL_CHECKIN_ANSWER_REPLY},
	};
	g_auto(GStrv) parts = NULL;
	guint64 a = 0;
	guint64 b = 0;

	for (guint i = 0; i < G_N_ELEMENTS(kinds); i++) {
		if (!g_str_has_prefix(key, kinds[i].prefix))
			continue;
		parts = g_strsplit(key + strlen(kinds[i].prefix), ":", 3);
		if (g_strv_length(parts) != 2 ||
		    !g_ascii_string_to_unsigned(parts[0], 10, 1, G_MAXUINT, &a, NULL) ||
		    !g_ascii_string_to_unsigned(parts[1], 10, 1, G_MAXUINT, &b, NULL))
			return FALSE;
		*answer = kinds[i].answer;
		*id = (guint)a;
		*request = (guint)b;
		return TRUE;
	}
	return FALSE;
}

/* an answer that did not reach the session: said where the user looks, not only in a log */
static void
fl_checkin_post_not_answered(FlCheckin *self, guint id, const gchar *why)
{
	/* in the desktop session's language, even when a D-Bus caller's call led here */
	g_auto(FlLocaleScope) own = fl_locale_scope_enter(fl_locale_own());
	g_autofree gchar *summary = g_strdup_printf(_("Session #%u: not answered"), id);
	g_autofree gchar *markup = g_markup_escape_text(why, -1);

	fl_notifier_post(self->notifier, 0, summary, markup, why, NULL, FL_NOTIFIER_URGENCY_NORMAL,
			 "x-flotilla.blocked");
}

static void
fl_checkin_answer_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	FlCheckinDecision *decision = user_data;
	FlCheckin *self = decision->self;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *message = fl_fleet_decide_finish(FL_FLEET(source), res, &error);

	/* a yes/no goes through at once; the session moving on withdraws the question */
	if (self->fleet == NULL) {
		fl_checkin_decision_free(decision);
		return;
	}
	if (message == NULL) {
		g_autofree gchar *why = fl_error_render(error);

		fl_checkin_post_not_answered(self, decision->id, why);
	}
	if (decision->from_digest && message != NULL) {
		fl_checkin_settle(self, decision->id,
				  g_strdup(decision->decision == FL_DECISION_APPROVE
						   /* TRANSLATORS: what became of a permission
						    * request, in the digest's one-line entry */
						   ? _("allowed")
						   /* TRANSLATORS: what became of a permission
						    * request, in the digest's one-line entry */
						   : _("denied")));
		g_free(self->last_note);
		self->last_note = g_steal_pointer(&message);
		fl_checkin_post_digest(self);
	}
	fl_checkin_decision_free(decision);
}

/* Allow / Deny / Reply on a "needs input" notification */
static void
fl_checkin_answer(FlCheckin *self, guint handle, const gchar *key)
{
	FlCheckinAnswer answer;
	FlCheckinDecision *decision;
	gboolean permission = FALSE;
	gboolean from_digest;
	gpointer shown = NULL;
	guint request = 0;
	guint id = 0;

	if (!fl_checkin_parse_answer_key(key, &answer, &id, &request)) {
		g_debug("ignoring unknown action '%s'", key);
		return;
	}
	from_digest = self->digest_open && handle == self->digest_handle && id == self->current_id;
	if (!from_digest &&
	    (!g_hash_table_lookup_extended(self->now_handles, GUINT_TO_POINTER(id), NULL, &shown) ||
	     GPOINTER_TO_UINT(shown) != handle)) {
		g_debug("ignoring action '%s' on notification %u", key, handle);
		return;
	}
	/* only the question the session waits on now is answered */
	if (fl_fleet_get_request(self->fleet, id, &permission) != request ||
	    (answer != FL_CHECKIN_ANSWER_REPLY && !permission)) {
		fl_checkin_post_not_answered(
			self, id,
			_("That question was already answered or has changed: nothing was sent to "
			  "the session."));
		return;
	}
	if (answer == FL_CHECKIN_ANSWER_REPLY) {
		/* a reply is typed: the review in a terminal asks for it */
		fl_checkin_open_review(self);
		return;
	}
	decision = g_new0(FlCheckinDecision, 1);
	decision->self = g_object_ref(self);
	decision->id = id;
	decision->from_digest = from_digest;
	decision->decision =
		answer == FL_CHECKIN_ANSWER_ALLOW ? FL_DECISION_APPROVE : FL_DECISION_REJECT;
	/* the same path, ledger and audit rows as `flotilla approve`/`reject` on the question */
	fl_fleet_decide_async(self->fleet, id, decision->decision, NULL, "notification", NULL,
			      fl_checkin_answer_cb, decision);
}

/* "approve:12" → FL_DECISION_APPROVE, 12; anything else FALSE */
static gboolean
fl_checkin_parse_key(const gchar *key, FlDecision *decision, guint *id)
{
	const gchar *arg;
	guint64 value = 0;

	if (g_str_has_prefix(key, "approve:")) {
		*decision = FL_DECISION_APPROVE;
		arg = key + strlen("approve:");
	} else if (g_str_has_prefix(key, "reject:")) {
		*decision = FL_DECISION_REJECT;
		arg = key + strlen("reject:");
	} else {
		return FALSE;
	}
	if (!g_ascii_string_to_unsigned(arg, 10, 1, G_MAXUINT, &value, NULL))
		return FALSE;
	*id = (guint)value;
	return TRUE;
}

/* the session a digest button acts on: only the open digest's, for the item it shows */
static gboolean
fl_checkin_digest_key_id(FlCheckin *self, guint handle, const gchar *key, const gchar *prefix,
			 guint *id)
{
	guint64 value = 0;

	if (!g_str_has_prefix(key, prefix) ||
	    !g_ascii_string_to_unsigned(key + strlen(prefix), 10, 1, G_MAXUINT, &value, NULL) ||
	    !self->digest_open || handle != self->digest_handle || value != self->current_id ||
	    self->deciding) {
		g_debug("ignoring stale action '%s' on notification %u", key, handle);
		return FALSE;
	}
	*id = (guint)value;
	return TRUE;
}

/* the digest moves on from session @id, saying what became of it */
static void
fl_checkin_move_on(FlCheckin *self, guint id, gchar *outcome, gchar *note)
{
	fl_checkin_settle(self, id, outcome);
	g_free(self->last_note);
	self->last_note = note;
	fl_checkin_post_digest(self);
}

/* Next on the digest: the current item was seen; the walk goes on without deciding it */
static void
fl_checkin_next(FlCheckin *self, guint handle, const gchar *key)
{
	guint id = 0;

	if (!fl_checkin_digest_key_id(self, handle, key, "next:", &id))
		return;
	/* TRANSLATORS: what became of an item the user moved past, in the digest's entry */
	fl_checkin_move_on(self, id, g_strdup(_("skipped")), NULL);
}

/* Dismiss on a failure: the same fleet code as `flotilla dismiss` */
static void
fl_checkin_dismiss(FlCheckin *self, guint handle, const gchar *key)
{
	g_autoptr(GError) error = NULL;
	gboolean ok;
	guint id = 0;

	if (!fl_checkin_digest_key_id(self, handle, key, "dismiss:", &id))
		return;
	/* the change it signals is this walk's own: no second update from it */
	self->deciding = TRUE;
	ok = fl_fleet_dismiss(self->fleet, id, "notification", &error);
	self->deciding = FALSE;
	if (!ok) {
		/* TRANSLATORS: a decision flotilla could not carry out */
		fl_checkin_move_on(self, id, g_strdup(_("refused")), fl_error_serialize(error));
		return;
	}
	fl_checkin_move_on(self, id, g_strdup(_("dismissed")),
			   fl_msg_stored(N_("Session %u dismissed."), id));
}

typedef struct {
	FlCheckin *self; /* (owned) */
	guint id;
} FlCheckinRetry;

static void
fl_checkin_retry_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	FlCheckinRetry *retry = user_data;
	FlCheckin *self = retry->self;
	g_autoptr(GError) error = NULL;
	g_autoptr(GArray) ids = fl_fleet_run_finish(FL_FLEET(source), res, &error);

	self->deciding = FALSE;
	if (self->fleet != NULL) {
		if (ids == NULL)
			fl_checkin_move_on(self, retry->id, g_strdup(_("refused")),
					   fl_error_serialize(error));
		else
			fl_checkin_move_on(
				self, retry->id,
				/* TRANSLATORS: what became of a failure run again as session #%u */
				g_strdup_printf(_("retried as #%u"), g_array_index(ids, guint, 0)),
				fl_msg_stored(N_("Session %u runs again as session %u."), retry->id,
					      g_array_index(ids, guint, 0)));
	}
	g_object_unref(retry->self);
	g_free(retry);
}

/*
 * Retry on a failure: what `flotilla retry` asks for, through the same fleet code: the goal,
 * name, agent, repository, base and verify command again, linked to the old session
 */
static void
fl_checkin_retry(FlCheckin *self, guint handle, const gchar *key)
{
	g_autoptr(FlSessionData) d = NULL;
	GVariantBuilder spec;
	GVariantBuilder specs;
	FlCheckinRetry *retry;
	guint id = 0;

	if (!fl_checkin_digest_key_id(self, handle, key, "retry:", &id))
		return;
	d = fl_store_get_session(self->store, id, NULL);
	if (d == NULL || fl_state_is_active(d->state))
		return;
	g_variant_builder_init(&spec, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&spec, "{sv}", "goal", g_variant_new_string(d->goal));
	if (d->name != NULL)
		g_variant_builder_add(&spec, "{sv}", "name", g_variant_new_string(d->name));
	g_variant_builder_add(&spec, "{sv}", "agent", g_variant_new_string(d->agent));
	if (d->repo != NULL)
		g_variant_builder_add(&spec, "{sv}", "repo", g_variant_new_string(d->repo));
	else
		g_variant_builder_add(&spec, "{sv}", "scratch", g_variant_new_boolean(TRUE));
	if (d->base != NULL)
		g_variant_builder_add(&spec, "{sv}", "base", g_variant_new_string(d->base));
	if (d->verify_command != NULL)
		g_variant_builder_add(&spec, "{sv}", "verify",
				      g_variant_new_string(d->verify_command));
	g_variant_builder_add(&spec, "{sv}", "retry-of", g_variant_new_uint32(id));
	g_variant_builder_init(&specs, G_VARIANT_TYPE("aa{sv}"));
	g_variant_builder_add_value(&specs, g_variant_builder_end(&spec));
	/* one press, one new session: the buttons wait until it is queued */
	self->deciding = TRUE;
	retry = g_new0(FlCheckinRetry, 1);
	retry->self = g_object_ref(self);
	retry->id = id;
	fl_fleet_run_async(self->fleet, g_variant_builder_end(&specs), fl_checkin_retry_cb, retry);
}

static void
fl_checkin_action_cb(FlNotifier *notifier, guint handle, const gchar *key, gpointer user_data)
{
	FlCheckin *self = user_data;
	g_autoptr(FlSessionData) d = NULL;
	FlCheckinDecision *decision;
	FlDecision verdict;
	guint id = 0;

	if (self->fleet == NULL)
		return;
	if (g_strcmp0(key, "default") == 0) {
		fl_checkin_open_review(self);
		return;
	}
	if (g_str_has_prefix(key, "allow:") || g_str_has_prefix(key, "deny:") ||
	    g_str_has_prefix(key, "reply:")) {
		fl_checkin_answer(self, handle, key);
		return;
	}
	if (g_str_has_prefix(key, "next:")) {
		fl_checkin_next(self, handle, key);
		return;
	}
	if (g_str_has_prefix(key, "dismiss:")) {
		fl_checkin_dismiss(self, handle, key);
		return;
	}
	if (g_str_has_prefix(key, "retry:")) {
		fl_checkin_retry(self, handle, key);
		return;
	}
	if (!fl_checkin_parse_key(key, &verdict, &id)) {
		g_debug("ignoring unknown action '%s'", key);
		return;
	}
	/* only the buttons of the open digest, for the item it shows, count, and only while
	 * that draft still waits for a decision */
	if (!self->digest_open || handle != self->digest_handle || id != self->current_id ||
	    self->deciding) {
		g_debug("ignoring stale action '%s' on notification %u", key, handle);
		return;
	}
	d = fl_store_get_session(self->store, id, NULL);
	if (d == NULL || d->review != FL_REVIEW_PENDING || fl_state_is_active(d->state)) {
		g_debug("ignoring action '%s': session %u awaits no decision", key, id);
		return;
	}
	self->deciding = TRUE;
	decision = g_new0(FlCheckinDecision, 1);
	decision->self = g_object_ref(self);
	decision->id = id;
	decision->decision = verdict;
	/* a group's entry decides the group, all or none, as `flotilla approve @NAME` */
	if (d->group != NULL && self->groups != NULL) {
		fl_groups_decide_async(self->groups, d->group, verdict, NULL, "notification",
				       fl_checkin_decide_group_cb, decision);
		return;
	}
	/* the same path as `flotilla approve`, recorded as coming from the notification */
	fl_fleet_decide_async(self->fleet, id, verdict, NULL, "notification", NULL,
			      fl_checkin_decide_cb, decision);
}

static void
fl_checkin_closed_cb(FlNotifier *notifier, guint handle, guint reason, gpointer user_data)
{
	FlCheckin *self = user_data;
	GHashTableIter iter;
	gpointer value;

	/* a close is never a decision: what it showed comes back at the next check-in */
	if (handle != 0 && handle == self->digest_handle) {
		self->digest_handle = 0;
		self->digest_open = FALSE;
		self->current_id = 0;
	}
	g_hash_table_iter_init(&iter, self->now_handles);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		if (GPOINTER_TO_UINT(value) == handle)
			g_hash_table_iter_remove(&iter);
	}
}

static guint
fl_checkin_post_now(FlCheckin *self, guint handle, const FlSessionData *d, FlLedgerEvent event)
{
	/* in the desktop session's language, even when a D-Bus caller's call led here */
	g_auto(FlLocaleScope) own = fl_locale_scope_enter(fl_locale_own());
	g_autoptr(GPtrArray) items =
		g_ptr_array_new_with_free_func((GDestroyNotify)fl_digest_item_free);
	g_autoptr(GPtrArray) actions = g_ptr_array_new_with_free_func(g_free);
	g_autofree gchar *summary = NULL;
	g_autofree gchar *markup = NULL;
	g_autofree gchar *plain = NULL;
	gboolean blocked = event == FL_LEDGER_EVENT_BLOCKED;

	g_ptr_array_add(items, fl_checkin_item_new(self, d, 0, G_MININT64));
	if (blocked)
		summary = g_strdup_printf(_("Session #%u needs input"), d->id);
	else
		summary = g_strdup_printf(_("Session #%u failed"), d->id);
	markup = fl_digest_body(items, 0, TRUE, 0);
	plain = fl_digest_body(items, 0, FALSE, 0);
	g_ptr_array_add(actions, g_strdup("default"));
	g_ptr_array_add(actions, g_strdup(_("Open review")));
	if (blocked)
		fl_checkin_add_answer_actions(self, actions, d->id);
	g_ptr_array_add(actions, NULL);
	handle = fl_notifier_post(self->notifier, handle, summary, markup, plain,
				  (const gchar *const *)actions->pdata,
				  blocked ? FL_NOTIFIER_URGENCY_CRITICAL
					  : FL_NOTIFIER_URGENCY_NORMAL,
				  blocked ? "x-flotilla.blocked" : "x-flotilla.failure");
	fl_checkin_announce(self, d->id, event);
	return handle;
}

static void
fl_checkin_server_changed_cb(FlNotifier *notifier, gboolean available, gpointer user_data)
{
	FlCheckin *self = user_data;
	GHashTableIter iter;
	gpointer key;
	gpointer value;

	/* whatever was shown or queued belongs to a server that is gone: drop it, so nothing
	 * stale reaches the next one */
	if (self->digest_handle != 0)
		fl_notifier_close(self->notifier, self->digest_handle);
	self->digest_handle = 0;
	g_hash_table_iter_init(&iter, self->now_handles);
	while (g_hash_table_iter_next(&iter, &key, &value)) {
		if (GPOINTER_TO_UINT(value) != 0)
			fl_notifier_close(self->notifier, GPOINTER_TO_UINT(value));
		g_hash_table_iter_replace(&iter, GUINT_TO_POINTER(0));
	}
	if (!available || self->fleet == NULL)
		return;

	/* a new server knows nothing of ours: show what is still open afresh */
	g_hash_table_iter_init(&iter, self->now_handles);
	while (g_hash_table_iter_next(&iter, &key, &value)) {
		g_autoptr(FlSessionData) d =
			fl_store_get_session(self->store, GPOINTER_TO_UINT(key), NULL);
		if (d == NULL || d->state != FL_STATE_BLOCKED) {
			g_hash_table_iter_remove(&iter);
			continue;
		}
		g_hash_table_iter_replace(&iter, GUINT_TO_POINTER(fl_checkin_post_now(
							 self, 0, d, FL_LEDGER_EVENT_BLOCKED)));
	}
	fl_checkin_post_digest(self);
}

static void
fl_checkin_session_blocked_cb(FlFleet *fleet, const FlSessionData *data, gpointer user_data)
{
	FlCheckin *self = user_data;
	guint id = data->id;
	guint handle;

	if (!self->config->now_blocked)
		return;
	handle = GPOINTER_TO_UINT(g_hash_table_lookup(self->now_handles, GUINT_TO_POINTER(id)));
	/* without a server it waits, and is posted when one appears */
	if (fl_notifier_is_available(self->notifier))
		handle = fl_checkin_post_now(self, handle, data, FL_LEDGER_EVENT_BLOCKED);
	g_hash_table_insert(self->now_handles, GUINT_TO_POINTER(id), GUINT_TO_POINTER(handle));
}

/* the question a session asked is answered or moot: withdraw its notification */
static void
fl_checkin_withdraw_now(FlCheckin *self, guint id)
{
	gpointer value;

	if (!g_hash_table_lookup_extended(self->now_handles, GUINT_TO_POINTER(id), NULL, &value))
		return;
	if (GPOINTER_TO_UINT(value) != 0)
		fl_notifier_close(self->notifier, GPOINTER_TO_UINT(value));
	g_hash_table_remove(self->now_handles, GUINT_TO_POINTER(id));
}

static void
fl_checkin_session_ended_cb(FlFleet *fleet, const FlSessionData *d, gpointer user_data)
{
	FlCheckin *self = user_data;

	fl_checkin_withdraw_now(self, d->id);
	/* a failure told at once is not repeated when no server hears it: the next check-in
	 * says it instead */
	if (d->state == FL_STATE_FAILED && self->config->now_failed &&
	    fl_notifier_is_available(self->notifier))
		fl_checkin_post_now(self, 0, d, FL_LEDGER_EVENT_FAILED);
}

static gboolean
fl_checkin_review_settled(FlReview review)
{
	return review == FL_REVIEW_APPROVED || review == FL_REVIEW_REJECTED ||
	       review == FL_REVIEW_REVERTED;
}

static void
fl_checkin_session_changed_cb(FlFleet *fleet, const FlSessionData *d, gpointer user_data)
{
	FlCheckin *self = user_data;

	/* answered from the CLI: withdraw the "needs input" notification */
	if (d->state == FL_STATE_RUNNING)
		fl_checkin_withdraw_now(self, d->id);

	/* decided or dismissed elsewhere (the CLI, `flotilla review`): the open digest moves on,
	 * so its buttons never point at a settled item */
	if (self->digest_open && !self->deciding &&
	    (fl_checkin_review_settled(d->review) ||
	     fl_store_ledger_get(self->store, d->id, FL_LEDGER_EVENT_DISMISSED) > 0) &&
	    fl_checkin_ids_contain(self->digest_ids, d->id) &&
	    !fl_checkin_ids_contain(self->walked, d->id))
		fl_checkin_post_digest(self);
}

void
fl_checkin_start(FlCheckin *self)
{
	const FlConfig *config;

	g_return_if_fail(FL_IS_CHECKIN(self));
	g_return_if_fail(self->schedule == NULL);

	config = self->config;
	self->schedule = fl_schedule_new(config->checkin_times, config->checkin_every,
					 config->checkin_days, config->checkin_quiet_hours, NULL);
	/* the config was validated when loaded */
	g_return_if_fail(self->schedule != NULL);
	/* the desktop file id is the bus name: desktops tie the two together (portals, the
	 * notification settings of one application) */
	self->notifier = fl_notifier_new(_("Flotilla"), "io.github.flotilla.Flotilla1");
	g_signal_connect(self->notifier, "action-invoked", G_CALLBACK(fl_checkin_action_cb), self);
	g_signal_connect(self->notifier, "closed", G_CALLBACK(fl_checkin_closed_cb), self);
	g_signal_connect(self->notifier, "server-changed", G_CALLBACK(fl_checkin_server_changed_cb),
			 self);
	g_signal_connect(self->fleet, "session-blocked", G_CALLBACK(fl_checkin_session_blocked_cb),
			 self);
	g_signal_connect(self->fleet, "session-ended", G_CALLBACK(fl_checkin_session_ended_cb),
			 self);
	g_signal_connect(self->fleet, "session-changed", G_CALLBACK(fl_checkin_session_changed_cb),
			 self);
	fl_checkin_arm(self);
}

void
fl_checkin_reschedule(FlCheckin *self)
{
	FlSchedule *schedule;

	g_return_if_fail(FL_IS_CHECKIN(self));
	g_return_if_fail(self->schedule != NULL);

	schedule = fl_schedule_new(self->config->checkin_times, self->config->checkin_every,
				   self->config->checkin_days, self->config->checkin_quiet_hours,
				   NULL);
	/* the config was validated when loaded */
	g_return_if_fail(schedule != NULL);
	fl_schedule_free(self->schedule);
	self->schedule = schedule;
	/* counted from now: a check-in the old schedule had planned later must not hold back
	 * an earlier one of the new */
	g_clear_pointer(&self->next, g_date_time_unref);
	fl_checkin_arm(self);
}

void
fl_checkin_set_groups(FlCheckin *self, FlGroups *groups)
{
	g_return_if_fail(FL_IS_CHECKIN(self));
	self->groups = groups;
}

FlCheckin *
fl_checkin_new(FlFleet *fleet, FlStore *store, const FlConfig *config, const gchar *http_path)
{
	FlCheckin *self;

	g_return_val_if_fail(FL_IS_FLEET(fleet), NULL);
	g_return_val_if_fail(FL_IS_STORE(store), NULL);
	g_return_val_if_fail(config != NULL, NULL);
	g_return_val_if_fail(http_path != NULL, NULL);

	self = g_object_new(FL_TYPE_CHECKIN, NULL);
	self->fleet = fleet;
	self->store = g_object_ref(store);
	self->config = config;
	self->http_path = g_strdup(http_path);
	return self;
}

void
fl_checkin_set_coordination(FlCheckin *self, FlCoordination *coordination)
{
	g_return_if_fail(FL_IS_CHECKIN(self));

	g_set_object(&self->coordination, coordination);
}

static void
fl_checkin_dispose(GObject *object)
{
	FlCheckin *self = FL_CHECKIN(object);

	fl_checkin_clear_timer(self);
	g_clear_object(&self->coordination);
	if (self->fleet != NULL) {
		g_signal_handlers_disconnect_by_data(self->fleet, self);
		self->fleet = NULL;
	}
	if (self->notifier != NULL)
		g_signal_handlers_disconnect_by_data(self->notifier, self);
	g_clear_object(&self->notifier);
	G_OBJECT_CLASS(fl_checkin_parent_class)->dispose(object);
}

static void
fl_checkin_finalize(GObject *object)
{
	FlCheckin *self = FL_CHECKIN(object);

	g_clear_pointer(&self->schedule, fl_schedule_free);
	g_clear_pointer(&self->next, g_date_time_unref);
	g_clear_object(&self->store);
	g_free(self->http_path);
	g_free(self->digest_label);
	g_free(self->last_note);
	g_array_unref(self->digest_ids);
	g_array_unref(self->walked);
	g_hash_table_unref(self->outcomes);
	g_hash_table_unref(self->now_handles);
	G_OBJECT_CLASS(fl_checkin_parent_class)->finalize(object);
}

static void
fl_checkin_class_init(FlCheckinClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = fl_checkin_dispose;
	object_class->finalize = fl_checkin_finalize;
}

static void
fl_checkin_init(FlCheckin *self)
{
	self->timer_fd = -1;
	self->digest_ids = g_array_new(FALSE, FALSE, sizeof(guint));
	self->walked = g_array_new(FALSE, FALSE, sizeof(guint));
	self->outcomes = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
	self->now_handles = g_hash_table_new(g_direct_hash, g_direct_equal);
}
