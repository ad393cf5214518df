#include "config.h"

#include "fl-checkin.h"

#include <glib/gi18n.h>
#include <string.h>

#include "fl-digest.h"
#include "fl-notifier.h"
#include "fl-schedule.h"
#include "fl-util.h"

/* other items listed under the current one before "+N more" */
#define FL_DIGEST_LINES 5

struct _FlCheckin {
	GObject parent_instance;
	FlFleet *fleet;       /* (unowned) owns us through the daemon */
	FlSchedule *schedule; /* (owned) */
	FlNotifier *notifier; /* (owned) (nullable) until started */
	GDateTime *next;      /* (owned) (nullable) */
	guint timer_id;
	/* the digest on screen: its notification and the item being decided */
	guint digest_handle;
	gchar *digest_label;     /* (owned) "15:00" */
	guint current_id;        /* session the Approve/Reject buttons act on, 0 = none */
	gchar *last_note;        /* (owned) (nullable) outcome of the last decision */
	GHashTable *now_handles; /* (owned) session id -> handle of its "now" notification */
	gboolean deciding;
};

G_DEFINE_TYPE(FlCheckin, fl_checkin, G_TYPE_OBJECT)

static void
fl_checkin_arm(FlCheckin *self);

static FlDigestKind
fl_checkin_kind(const FlSessionData *d)
{
	if (d->state == FL_STATE_BLOCKED)
		return FL_DIGEST_KIND_BLOCKED;
	if (d->state == FL_STATE_FAILED || d->state == FL_STATE_INTERRUPTED)
		return FL_DIGEST_KIND_FAILED;
	if (g_strcmp0(d->verify, "pass") == 0)
		return FL_DIGEST_KIND_DRAFT_PASSED;
	return FL_DIGEST_KIND_DRAFT;
}

static const gchar *
fl_checkin_event(const FlSessionData *d)
{
	if (d->state == FL_STATE_BLOCKED)
		return "blocked";
	if (d->review == FL_REVIEW_PENDING)
		return "draft";
	return "failed";
}

/* what awaits the user, most urgent first; @datas gets the matching session data */
static GPtrArray *
fl_checkin_collect(FlCheckin *self, GPtrArray **datas_out, GError **error)
{
	FlStore *store = fl_fleet_get_store(self->fleet);
	g_autoptr(GPtrArray) datas = fl_store_get_attention(store, error);
	g_autoptr(GPtrArray) items = NULL;

	if (datas == NULL)
		return NULL;
	items = g_ptr_array_new_with_free_func((GDestroyNotify)fl_digest_item_free);
	for (guint i = 0; i < datas->len; i++) {
		FlSessionData *d = g_ptr_array_index(datas, i);
		FlDigestItem *item = fl_digest_item_new(d->id, fl_checkin_kind(d), d->goal);
		item->name = g_strdup(d->name);
		item->repo = g_strdup(d->repo);
		item->verify = g_strdup(d->verify);
		item->diffstat = g_strdup(d->diffstat);
		item->cost_usd = d->cost_usd;
		item->waiting_for = g_strdup(d->waiting_for);
		item->reason = g_strdup(d->reason);
		item->approvable = d->review == FL_REVIEW_PENDING;
		item->reminder = fl_store_ledger_get(store, d->id, fl_checkin_event(d)) > 0;
		g_ptr_array_add(items, item);
	}
	fl_digest_sort(items);
	if (datas_out != NULL)
		*datas_out = g_steal_pointer(&datas);
	return g_steal_pointer(&items);
}

static void
fl_checkin_mark_announced(FlCheckin *self, GPtrArray *datas)
{
	FlStore *store = fl_fleet_get_store(self->fleet);
	gint64 now = fl_now();

	for (guint i = 0; i < datas->len; i++) {
		FlSessionData *d = g_ptr_array_index(datas, i);
		g_autoptr(GError) error = NULL;
		if (!fl_store_ledger_set(store, d->id, fl_checkin_event(d), now, &error))
			g_warning("%s", error->message);
	}
}

static void
fl_checkin_post_digest(FlCheckin *self, GPtrArray *items)
{
	g_autofree gchar *summary = NULL;
	g_autofree gchar *markup = NULL;
	g_autofree gchar *plain = NULL;
	g_autoptr(GPtrArray) actions = g_ptr_array_new_with_free_func(g_free);
	g_autofree gchar *review_hint = NULL;
	FlDigestItem *current = NULL;
	guint index = 0;

	/* keep acting on the same session while it still waits; else the most urgent */
	for (guint i = 0; i < items->len; i++) {
		FlDigestItem *item = g_ptr_array_index(items, i);
		if (item->id == self->current_id) {
			current = item;
			index = i;
		}
	}
	if (current == NULL && items->len > 0) {
		current = g_ptr_array_index(items, 0);
		index = 0;
	}
	if (current == NULL) {
		self->current_id = 0;
		if (self->digest_handle != 0)
			fl_notifier_post(self->notifier, self->digest_handle, _("All reviewed"),
					 self->last_note, self->last_note, NULL,
					 FL_NOTIFIER_URGENCY_LOW, "x-flotilla.digest");
		return;
	}
	self->current_id = current->id;
	summary = fl_digest_summary(items, self->digest_label);
	markup = fl_digest_body(items, index, TRUE, FL_DIGEST_LINES);
	plain = fl_digest_body(items, index, FALSE, FL_DIGEST_LINES);
	if (self->last_note != NULL) {
		g_autofree gchar *escaped = g_markup_escape_text(self->last_note, -1);
		gchar *m = g_strdup_printf("<i>%s</i>\n%s", escaped, markup);
		gchar *p = g_strdup_printf("%s\n%s", self->last_note, plain);
		g_free(markup);
		g_free(plain);
		markup = m;
		plain = p;
	}
	if (!fl_notifier_has_capability(self->notifier, "actions")) {
		/* no buttons to press: say where decisions are made instead */
		review_hint = g_strdup_printf("%s\n%s", plain, _("Decide with: flotilla review"));
		g_free(plain);
		plain = g_strdup(review_hint);
		g_free(review_hint);
		review_hint = g_strdup_printf("%s\n%s", markup, _("Decide with: flotilla review"));
		g_free(markup);
		markup = g_steal_pointer(&review_hint);
	}
	g_ptr_array_add(actions, g_strdup("default"));
	g_ptr_array_add(actions, g_strdup(_("Open review")));
	if (current->approvable) {
		g_ptr_array_add(actions, g_strdup_printf("approve:%u", current->id));
		g_ptr_array_add(actions, g_strdup(_("Approve")));
		g_ptr_array_add(actions, g_strdup_printf("reject:%u", current->id));
		g_ptr_array_add(actions, g_strdup(_("Reject")));
	}
	g_ptr_array_add(actions, NULL);
	self->digest_handle = fl_notifier_post(self->notifier, self->digest_handle, summary, markup,
					       plain, (const gchar *const *)actions->pdata,
					       FL_NOTIFIER_URGENCY_NORMAL, "x-flotilla.digest");
}

/* returns the digest text; shows it as a notification when @deliver and non-empty */
static gchar *
fl_checkin_run(FlCheckin *self, gboolean deliver)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) datas = NULL;
	g_autoptr(GPtrArray) items = fl_checkin_collect(self, &datas, &error);
	g_autoptr(GDateTime) now = g_date_time_new_now_local();
	g_autofree gchar *label = g_date_time_format(now, "%H:%M");

	if (items == NULL) {
		g_warning("check-in: %s", error->message);
		return g_strdup("");
	}
	if (items->len == 0)
		return g_strdup(_("Nothing awaits you."));
	if (deliver && self->notifier != NULL) {
		g_free(self->digest_label);
		self->digest_label = g_steal_pointer(&label);
		g_clear_pointer(&self->last_note, g_free);
		self->current_id = 0;
		fl_checkin_post_digest(self, items);
		fl_checkin_mark_announced(self, datas);
		return fl_digest_text(items, self->digest_label);
	}
	return fl_digest_text(items, label);
}

gchar *
fl_checkin_digest_text(FlCheckin *self, gboolean deliver)
{
	return fl_checkin_run(self, deliver);
}

GVariant *
fl_checkin_review_items(FlCheckin *self, GError **error)
{
	g_autoptr(GPtrArray) datas = NULL;
	g_autoptr(GPtrArray) items = fl_checkin_collect(self, &datas, error);
	const gchar *state_dir = fl_store_get_state_dir(fl_fleet_get_store(self->fleet));
	GVariantBuilder b;

	if (items == NULL)
		return NULL;
	g_variant_builder_init(&b, G_VARIANT_TYPE("aa{sv}"));
	for (guint i = 0; i < items->len; i++) {
		FlDigestItem *item = g_ptr_array_index(items, i);
		for (guint j = 0; j < datas->len; j++) {
			FlSessionData *d = g_ptr_array_index(datas, j);
			if (d->id == item->id)
				g_variant_builder_add_value(
					&b, fl_session_data_to_variant(d, state_dir));
		}
	}
	return g_variant_builder_end(&b);
}

GDateTime *
fl_checkin_get_next(FlCheckin *self)
{
	return self->next != NULL ? g_date_time_ref(self->next) : NULL;
}

/* ------------------------------------------------------------------ schedule */

static gboolean
fl_checkin_timer_cb(gpointer user_data)
{
	FlCheckin *self = user_data;
	g_autofree gchar *text = NULL;

	self->timer_id = 0;
	text = fl_checkin_run(self, TRUE);
	fl_checkin_arm(self);
	return G_SOURCE_REMOVE;
}

static void
fl_checkin_arm(FlCheckin *self)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_local();
	GTimeSpan delta;

	g_clear_handle_id(&self->timer_id, g_source_remove);
	g_clear_pointer(&self->next, g_date_time_unref);
	self->next = fl_schedule_next(self->schedule, now);
	delta = g_date_time_difference(self->next, now);
	/* one timer for the whole wait: an idle daemon sleeps until the check-in */
	self->timer_id =
		g_timeout_add_seconds((guint)MAX(1, (delta + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC),
				      fl_checkin_timer_cb, self);
}

/* ------------------------------------------------------------------ notifications */

static void
fl_checkin_decide_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(FlCheckin) self = user_data;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *message = fl_fleet_decide_finish(FL_FLEET(source), res, &error);
	g_autoptr(GPtrArray) items = NULL;

	guint failed_id = self->current_id;

	self->deciding = FALSE;
	g_free(self->last_note);
	self->last_note = g_strdup(message != NULL ? message : error->message);
	items = fl_checkin_collect(self, NULL, NULL);
	if (items == NULL)
		return;
	if (message == NULL) {
		/* refused (a conflict, a dirty checkout): that draft keeps waiting, the walk
		 * moves on to the next one */
		for (guint i = 0; i < items->len; i++) {
			FlDigestItem *item = g_ptr_array_index(items, i);
			if (item->id == failed_id && items->len > 1) {
				FlDigestItem *next = g_ptr_array_index(items, (i + 1) % items->len);
				self->current_id = next->id;
			}
		}
	}
	fl_checkin_post_digest(self, items);
}

static void
fl_checkin_open_review(FlCheckin *self)
{
	const FlConfig *config = fl_fleet_get_config(self->fleet);
	g_autoptr(GError) error = NULL;

	if (!g_spawn_async(NULL, config->review_command, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
			   NULL, &error))
		g_warning("cannot open the review (%s): %s", config->review_command[0],
			  error->message);
}

static void
fl_checkin_action_cb(FlNotifier *notifier, guint handle, const gchar *key, gpointer user_data)
{
	FlCheckin *self = user_data;
	FlDecision decision;
	guint64 id = 0;
	const gchar *arg;

	if (g_strcmp0(key, "default") == 0) {
		fl_checkin_open_review(self);
		return;
	}
	if (g_str_has_prefix(key, "approve:")) {
		decision = FL_DECISION_APPROVE;
		arg = key + strlen("approve:");
	} else if (g_str_has_prefix(key, "reject:")) {
		decision = FL_DECISION_REJECT;
		arg = key + strlen("reject:");
	} else {
		g_debug("ignoring unknown action '%s'", key);
		return;
	}
	/* only the buttons of the digest on screen, for the item it shows, count */
	if (!g_ascii_string_to_unsigned(arg, 10, 1, G_MAXUINT, &id, NULL) ||
	    handle != self->digest_handle || id != self->current_id || self->deciding) {
		g_debug("ignoring stale action '%s' on notification %u", key, handle);
		return;
	}
	self->deciding = TRUE;
	fl_fleet_decide_async(self->fleet, (guint)id, decision, NULL, "notification",
			      fl_checkin_decide_cb, g_object_ref(self));
}

static void
fl_checkin_closed_cb(FlNotifier *notifier, guint handle, guint reason, gpointer user_data)
{
	FlCheckin *self = user_data;

	/* a close is never a decision: what it showed comes back at the next check-in */
	if (handle == self->digest_handle) {
		self->digest_handle = 0;
		self->current_id = 0;
	}
}

static void
fl_checkin_server_changed_cb(FlNotifier *notifier, gboolean available, gpointer user_data)
{
	FlCheckin *self = user_data;
	g_autoptr(GPtrArray) items = NULL;

	/* a new server knows nothing of our notifications: show the open digest afresh */
	if (!available || self->digest_handle == 0)
		return;
	items = fl_checkin_collect(self, NULL, NULL);
	if (items != NULL && items->len > 0)
		fl_checkin_post_digest(self, items);
}

static void
fl_checkin_notify_now(FlCheckin *self, guint id, const FlSessionData *d, const gchar *event)
{
	g_autoptr(GPtrArray) items =
		g_ptr_array_new_with_free_func((GDestroyNotify)fl_digest_item_free);
	FlDigestItem *item = fl_digest_item_new(id, fl_checkin_kind(d), d->goal);
	g_autofree gchar *summary = NULL;
	g_autofree gchar *markup = NULL;
	g_autofree gchar *plain = NULL;
	g_autoptr(GError) error = NULL;
	const gchar *actions[] = {"default", _("Open review"), NULL};
	guint handle;

	item->name = g_strdup(d->name);
	item->repo = g_strdup(d->repo);
	item->waiting_for = g_strdup(d->waiting_for);
	item->reason = g_strdup(d->reason);
	g_ptr_array_add(items, item);
	if (g_strcmp0(event, "blocked") == 0)
		summary = g_strdup_printf(_("Session #%u needs input"), id);
	else
		summary = g_strdup_printf(_("Session #%u failed"), id);
	markup = fl_digest_body(items, 0, TRUE, 0);
	plain = fl_digest_body(items, 0, FALSE, 0);
	handle = GPOINTER_TO_UINT(g_hash_table_lookup(self->now_handles, GUINT_TO_POINTER(id)));
	handle = fl_notifier_post(self->notifier, handle, summary, markup, plain, actions,
				  g_strcmp0(event, "blocked") == 0 ? FL_NOTIFIER_URGENCY_CRITICAL
								   : FL_NOTIFIER_URGENCY_NORMAL,
				  g_strcmp0(event, "blocked") == 0 ? "x-flotilla.blocked"
								   : "x-flotilla.failure");
	g_hash_table_insert(self->now_handles, GUINT_TO_POINTER(id), GUINT_TO_POINTER(handle));
	if (!fl_store_ledger_set(fl_fleet_get_store(self->fleet), id, event, fl_now(), &error))
		g_warning("%s", error->message);
}

static void
fl_checkin_session_blocked_cb(FlFleet *fleet, guint id, gpointer data, gpointer user_data)
{
	FlCheckin *self = user_data;

	if (fl_fleet_get_config(fleet)->now_blocked)
		fl_checkin_notify_now(self, id, data, "blocked");
}

static void
fl_checkin_session_ended_cb(FlFleet *fleet, guint id, gpointer data, gpointer user_data)
{
	FlCheckin *self = user_data;
	const FlSessionData *d = data;
	guint handle =
		GPOINTER_TO_UINT(g_hash_table_lookup(self->now_handles, GUINT_TO_POINTER(id)));

	/* the question it asked is answered or moot now */
	if (handle != 0) {
		fl_notifier_close(self->notifier, handle);
		g_hash_table_remove(self->now_handles, GUINT_TO_POINTER(id));
	}
	if (d->state == FL_STATE_FAILED && fl_fleet_get_config(fleet)->now_failed)
		fl_checkin_notify_now(self, id, d, "failed");
}

static void
fl_checkin_session_changed_cb(FlFleet *fleet, guint id, GVariant *props, gpointer user_data)
{
	FlCheckin *self = user_data;
	const gchar *state = NULL;
	guint handle;

	/* answered from the CLI: withdraw the "needs input" notification */
	if (!g_variant_lookup(props, "state", "&s", &state) || g_strcmp0(state, "blocked") == 0)
		return;
	handle = GPOINTER_TO_UINT(g_hash_table_lookup(self->now_handles, GUINT_TO_POINTER(id)));
	if (handle != 0 && g_strcmp0(state, "running") == 0) {
		fl_notifier_close(self->notifier, handle);
		g_hash_table_remove(self->now_handles, GUINT_TO_POINTER(id));
	}
}

void
fl_checkin_start(FlCheckin *self)
{
	const FlConfig *config = fl_fleet_get_config(self->fleet);

	self->schedule = fl_schedule_new(config->checkin_times, config->checkin_every,
					 config->checkin_days, config->checkin_quiet_hours, NULL);
	/* the config was validated when loaded */
	g_return_if_fail(self->schedule != NULL);
	self->notifier = fl_notifier_new(_("Flotilla"), "flotilla");
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

FlCheckin *
fl_checkin_new(FlFleet *fleet)
{
	FlCheckin *self = g_object_new(FL_TYPE_CHECKIN, NULL);

	self->fleet = fleet;
	return self;
}

static void
fl_checkin_dispose(GObject *object)
{
	FlCheckin *self = FL_CHECKIN(object);

	g_clear_handle_id(&self->timer_id, g_source_remove);
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
	g_free(self->digest_label);
	g_free(self->last_note);
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
	self->now_handles = g_hash_table_new(g_direct_hash, g_direct_equal);
}
