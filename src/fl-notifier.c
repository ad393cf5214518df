/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-notifier.h"

#include <libnotify/notify.h>

#include "fl-text.h"

/*
 * Threading: FlNotifier lives on the owner's thread. Every libnotify call happens on one worker
 * thread that runs its own GMainContext, pushed as thread-default before notify_init() so the
 * proxy libnotify creates (and its signals) belong to the worker. Requests go to the worker as
 * idle callbacks on its context; events come back as idle callbacks on the owner's context.
 *
 * Ownership: the worker owns FlWorker and everything libnotify touches; the owner only keeps
 * the worker's context and loop (refcounted, thread-safe) and FlNotifierShared, which both sides
 * hold a reference on. That way the object can be finalized while the worker is stuck in a
 * synchronous call to a hung server: the worker finds out later that nobody waits for it and
 * cleans up on its own.
 */

#define FL_NOTIFIER_BUS_NAME "org.freedesktop.Notifications"

/* how long dispose waits for the worker to finish before detaching it */
#define FL_NOTIFIER_STOP_GRACE_USEC (250 * G_TIME_SPAN_MILLISECOND)

/* bound on draining the worker context at exit (the bus answers GetNameOwner in microseconds) */
#define FL_NOTIFIER_DRAIN_MSEC 2000

/* libnotify keeps process-wide state (one proxy, one app name): one worker uses it at a time */
static GMutex fl_notifier_libnotify_lock;

typedef struct {
	GMutex mutex;
	GCond cond;
	gboolean quitting; /* the owner is gone: start no new call */
	gboolean detached; /* the owner stopped waiting: skip courtesy calls at exit */
	gboolean finished; /* the worker released libnotify and its context */
	FlNotifier *owner; /* (unowned) (nullable) read and written on the owner's thread only */
	GMainContext *owner_ctx; /* (owned) */
} FlNotifierShared;

typedef struct {
	gchar *summary;
	gchar *body_markup;
	gchar *body_plain;
	gchar **actions; /* (nullable) key, label pairs */
	FlNotifierUrgency urgency;
	gchar *category; /* (nullable) */
} FlPost;

typedef struct {
	guint handle;
	NotifyNotification *notification; /* (owned) (nullable) shown and not closed */
	gulong closed_id;
	gboolean has_actions;
	FlPost *pending; /* (owned) (nullable) latest content not sent yet */
} FlEntry;

typedef struct {
	FlNotifierShared *shared; /* (owned) */
	GMainContext *ctx;        /* (owned) */
	GMainLoop *loop;          /* (owned) */
	gchar *app_name;
	gchar *desktop_entry; /* (nullable) */
	gboolean initted;
	GDBusConnection *bus; /* (owned) (nullable) */
	guint watch_id;
	gboolean watch_freed;
	gchar *server_owner; /* (nullable) unique name of the current server */
	gboolean ready;      /* capabilities were read from server_owner: calls may go out */
	gchar **caps;        /* (owned) (nullable) */
	GSource *retry;      /* (owned) (nullable) asks a server that did not answer again */
	guint retry_delay_s;
	GHashTable *entries; /* (owned) handle → FlEntry */
	GPtrArray *closing;  /* (owned) NotifyNotification to close at the next flush */
	GSource *flush;      /* (owned) (nullable) */
} FlWorker;

typedef enum {
	FL_EVENT_SERVER_CHANGED,
	FL_EVENT_POSTED,
	FL_EVENT_ACTION_INVOKED,
	FL_EVENT_CLOSED,
} FlEventKind;

typedef struct {
	FlNotifierShared *shared; /* (owned) */
	FlEventKind kind;
	guint handle;
	guint reason;
	gboolean available;
	gchar *key;   /* (nullable) */
	gchar **caps; /* (nullable) */
} FlEvent;

typedef struct {
	FlWorker *worker; /* (unowned) only dereferenced on the worker thread, while it runs */
	guint handle;
	FlPost *post; /* (owned) (nullable) NULL means close */
} FlRequest;

typedef struct {
	FlWorker *worker; /* (unowned) as in FlRequest */
	guint handle;
	gchar *key; /* (nullable) */
} FlCallbackData;

struct _FlNotifier {
	GObject parent_instance;
	gchar *app_name;
	gchar *desktop_entry;
	FlNotifierShared *shared; /* (owned) */
	GMainContext *worker_ctx; /* (owned) */
	GMainLoop *worker_loop;   /* (owned) */
	FlWorker *worker;         /* (unowned) handed to the worker thread, which owns it */
	GThread *thread;          /* (owned) (nullable) */
	guint next_handle;
	gboolean available;
	gchar **caps; /* (owned) (nullable) */
};

G_DEFINE_TYPE(FlNotifier, fl_notifier, G_TYPE_OBJECT)

enum { PROP_0, PROP_APP_NAME, PROP_DESKTOP_ENTRY, N_PROPS };
static GParamSpec *props[N_PROPS];

enum { SIGNAL_ACTION_INVOKED, SIGNAL_CLOSED, SIGNAL_SERVER_CHANGED, SIGNAL_POSTED, N_SIGNALS };
static guint signals[N_SIGNALS];

/* ---------------------------------------------------------------------------------------------- */

static void
fl_notifier_shared_clear(gpointer data)
{
	FlNotifierShared *shared = data;

	g_mutex_clear(&shared->mutex);
	g_cond_clear(&shared->cond);
	g_main_context_unref(shared->owner_ctx);
}

static void
fl_notifier_shared_release(FlNotifierShared *shared)
{
	g_atomic_rc_box_release_full(shared, fl_notifier_shared_clear);
}

static void
fl_notifier_post_free(FlPost *post)
{
	g_free(post->summary);
	g_free(post->body_markup);
	g_free(post->body_plain);
	g_strfreev(post->actions);
	g_free(post->category);
	g_free(post);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlPost, fl_notifier_post_free)

static void
fl_notifier_event_free(gpointer data)
{
	FlEvent *event = data;

	fl_notifier_shared_release(event->shared);
	g_free(event->key);
	g_strfreev(event->caps);
	g_free(event);
}

static void
fl_notifier_request_free(gpointer data)
{
	FlRequest *request = data;

	g_clear_pointer(&request->post, fl_notifier_post_free);
	g_free(request);
}

static void
fl_notifier_callback_data_free(gpointer data)
{
	FlCallbackData *cb_data = data;

	g_free(cb_data->key);
	g_free(cb_data);
}

static void
fl_notifier_callback_data_closure_free(gpointer data, GClosure *closure)
{
	fl_notifier_callback_data_free(data);
}

static FlCallbackData *
fl_notifier_callback_data_new(FlWorker *w, guint handle, const gchar *key)
{
	FlCallbackData *cb_data = g_new0(FlCallbackData, 1);

	cb_data->worker = w;
	cb_data->handle = handle;
	cb_data->key = g_strdup(key);
	return cb_data;
}

/* ---------------------------------------------------------------------------------------------- */
/* worker thread */

static gboolean
fl_notifier_worker_may_call(FlWorker *w)
{
	gboolean ok;

	g_mutex_lock(&w->shared->mutex);
	ok = !w->shared->quitting;
	g_mutex_unlock(&w->shared->mutex);
	return ok;
}

static gboolean
fl_notifier_worker_has_cap(FlWorker *w, const gchar *cap)
{
	return w->caps != NULL && g_strv_contains((const gchar *const *)w->caps, cap);
}

static gboolean
fl_notifier_event_cb(gpointer user_data)
{
	FlEvent *event = user_data;
	g_autoptr(FlNotifier) self = NULL;

	if (event->shared->owner == NULL)
		return G_SOURCE_REMOVE;
	self = g_object_ref(event->shared->owner);

	switch (event->kind) {
	case FL_EVENT_SERVER_CHANGED:
		self->available = event->available;
		g_strfreev(self->caps);
		self->caps = g_steal_pointer(&event->caps);
		g_signal_emit(self, signals[SIGNAL_SERVER_CHANGED], 0, event->available);
		break;
	case FL_EVENT_POSTED:
		g_signal_emit(self, signals[SIGNAL_POSTED], 0, event->handle);
		break;
	case FL_EVENT_ACTION_INVOKED:
		g_signal_emit(self, signals[SIGNAL_ACTION_INVOKED], 0, event->handle, event->key);
		break;
	case FL_EVENT_CLOSED:
		g_signal_emit(self, signals[SIGNAL_CLOSED], 0, event->handle, event->reason);
		break;
	}
	return G_SOURCE_REMOVE;
}

static FlEvent *
fl_notifier_worker_event_new(FlWorker *w, FlEventKind kind, guint handle)
{
	FlEvent *event = g_new0(FlEvent, 1);

	event->shared = g_atomic_rc_box_acquire(w->shared);
	event->kind = kind;
	event->handle = handle;
	return event;
}

/* only while w->ctx is the thread-default context: invoke then always queues on the owner */
static void
fl_notifier_worker_emit(FlWorker *w, FlEvent *event)
{
	g_main_context_invoke_full(w->shared->owner_ctx, G_PRIORITY_DEFAULT, fl_notifier_event_cb,
				   event, fl_notifier_event_free);
}

static void
fl_notifier_worker_emit_server_changed(FlWorker *w, gboolean available)
{
	FlEvent *event = fl_notifier_worker_event_new(w, FL_EVENT_SERVER_CHANGED, 0);

	event->available = available;
	event->caps = available ? g_strdupv(w->caps) : NULL;
	fl_notifier_worker_emit(w, event);
}

static void
fl_notifier_entry_drop_notification(FlEntry *entry)
{
	if (entry->notification == NULL)
		return;
	g_clear_signal_handler(&entry->closed_id, entry->notification);
	g_clear_object(&entry->notification);
	entry->has_actions = FALSE;
}

static void
fl_notifier_entry_free(gpointer data)
{
	FlEntry *entry = data;

	fl_notifier_entry_drop_notification(entry);
	g_clear_pointer(&entry->pending, fl_notifier_post_free);
	g_free(entry);
}

static FlEntry *
fl_notifier_worker_ensure_entry(FlWorker *w, guint handle)
{
	FlEntry *entry = g_hash_table_lookup(w->entries, GUINT_TO_POINTER(handle));

	if (entry == NULL) {
		entry = g_new0(FlEntry, 1);
		entry->handle = handle;
		g_hash_table_insert(w->entries, GUINT_TO_POINTER(handle), entry);
	}
	return entry;
}

static void
fl_notifier_worker_forget_entry_if_empty(FlWorker *w, FlEntry *entry)
{
	if (entry->notification == NULL && entry->pending == NULL)
		g_hash_table_remove(w->entries, GUINT_TO_POINTER(entry->handle));
}

static void
fl_notifier_worker_action_cb(NotifyNotification *n, char *action, gpointer user_data)
{
	FlCallbackData *cb_data = user_data;
	FlWorker *w = cb_data->worker;
	FlEntry *entry = g_hash_table_lookup(w->entries, GUINT_TO_POINTER(cb_data->handle));
	FlEvent *event;

	/* a callback from an object we already let go of (closed, replaced server) is stale */
	if (entry == NULL || entry->notification != n)
		return;
	event = fl_notifier_worker_event_new(w, FL_EVENT_ACTION_INVOKED, cb_data->handle);
	event->key = g_strdup(cb_data->key);
	fl_notifier_worker_emit(w, event);
}

static void
fl_notifier_worker_closed_cb(NotifyNotification *n, gpointer user_data)
{
	FlCallbackData *cb_data = user_data;
	FlWorker *w = cb_data->worker;
	FlEntry *entry = g_hash_table_lookup(w->entries, GUINT_TO_POINTER(cb_data->handle));
	FlEvent *event;
	gint reason;

	if (entry == NULL || entry->notification != n)
		return;
	reason = notify_notification_get_closed_reason(n);
	event = fl_notifier_worker_event_new(w, FL_EVENT_CLOSED, cb_data->handle);
	event->reason = reason > 0 ? (guint)reason : 0;

	/* libnotify 0.8.1 never emits "closed" twice on one object: a later post needs a new one;
	 * libnotify holds a reference during the emission, so dropping ours here is safe */
	fl_notifier_entry_drop_notification(entry);
	fl_notifier_worker_forget_entry_if_empty(w, entry);
	fl_notifier_worker_emit(w, event);
}

/* errors after which the same content may succeed later, so it stays queued */
static gboolean
fl_notifier_error_is_transient(const GError *error)
{
	return g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY) ||
	       g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_TIMEOUT) ||
	       g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_TIMED_OUT) ||
	       g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
	       g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER) ||
	       g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_DISCONNECTED) ||
	       g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT) ||
	       g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CLOSED);
}

static NotifyUrgency
fl_notifier_urgency(FlNotifierUrgency urgency)
{
	switch (urgency) {
	case FL_NOTIFIER_URGENCY_LOW:
		return NOTIFY_URGENCY_LOW;
	case FL_NOTIFIER_URGENCY_CRITICAL:
		return NOTIFY_URGENCY_CRITICAL;
	case FL_NOTIFIER_URGENCY_NORMAL:
	default:
		return NOTIFY_URGENCY_NORMAL;
	}
}

static gboolean
fl_notifier_worker_fill(FlWorker *w, guint handle, NotifyNotification *n, const FlPost *post)
{
	/* libnotify sends actions whatever the server says (pitfall 3) */
	gboolean with_actions = fl_notifier_worker_has_cap(w, "actions") && post->actions != NULL &&
				post->actions[0] != NULL;

	notify_notification_set_app_name(n, w->app_name);
	notify_notification_set_urgency(n, fl_notifier_urgency(post->urgency));
	notify_notification_set_category(n, post->category);
	if (w->desktop_entry != NULL)
		notify_notification_set_hint(n, "desktop-entry",
					     g_variant_new_string(w->desktop_entry));
	if (with_actions) {
		for (guint i = 0; post->actions[i] != NULL && post->actions[i + 1] != NULL;
		     i += 2) {
			notify_notification_add_action(
				n, post->actions[i], post->actions[i + 1],
				fl_notifier_worker_action_cb,
				fl_notifier_callback_data_new(w, handle, post->actions[i]),
				fl_notifier_callback_data_free);
		}
		/* GNOME destroys non-resident notifications after an action; we update ours */
		notify_notification_set_hint(n, "resident", g_variant_new_boolean(TRUE));
		notify_notification_set_timeout(n, NOTIFY_EXPIRES_NEVER);
	} else {
		notify_notification_set_timeout(n, NOTIFY_EXPIRES_DEFAULT);
	}
	return with_actions;
}

/* FALSE when flushing should stop for now (quitting, or the server did not answer) */
static gboolean
fl_notifier_worker_show(FlWorker *w, FlEntry *entry)
{
	g_autoptr(FlPost) post = g_steal_pointer(&entry->pending);
	g_autoptr(GError) error = NULL;
	NotifyNotification *fresh = NULL;
	NotifyNotification *n = entry->notification;
	const gchar *body;
	gboolean with_actions;

	if (!fl_notifier_worker_may_call(w)) {
		entry->pending = g_steal_pointer(&post);
		return FALSE;
	}
	body = fl_notifier_worker_has_cap(w, "body-markup") ? post->body_markup : post->body_plain;
	if (n == NULL) {
		fresh = notify_notification_new(post->summary, body, NULL);
		n = fresh;
	} else {
		notify_notification_update(n, post->summary, body, NULL);
		notify_notification_clear_actions(n);
		notify_notification_clear_hints(n);
	}
	with_actions = fl_notifier_worker_fill(w, entry->handle, n, post);

	if (!notify_notification_show(n, &error)) {
		g_clear_object(&fresh);
		if (fl_notifier_error_is_transient(error)) {
			g_debug("notification %u not shown yet: %s", entry->handle, error->message);
			entry->pending = g_steal_pointer(&post);
			return FALSE;
		}
		g_warning("notification server rejected notification %u: %s", entry->handle,
			  error->message);
		fl_notifier_worker_forget_entry_if_empty(w, entry);
		return TRUE;
	}
	if (fresh != NULL) {
		entry->notification = fresh;
		entry->closed_id = g_signal_connect_data(
			fresh, "closed", G_CALLBACK(fl_notifier_worker_closed_cb),
			fl_notifier_callback_data_new(w, entry->handle, NULL),
			fl_notifier_callback_data_closure_free, 0);
	}
	entry->has_actions = with_actions;
	fl_notifier_worker_emit(w, fl_notifier_worker_event_new(w, FL_EVENT_POSTED, entry->handle));
	return TRUE;
}

static gint
fl_notifier_compare_handles(gconstpointer a, gconstpointer b)
{
	guint ha = GPOINTER_TO_UINT(a);
	guint hb = GPOINTER_TO_UINT(b);

	return ha < hb ? -1 : (ha > hb ? 1 : 0);
}

static void
fl_notifier_worker_close_now(FlWorker *w, NotifyNotification *n)
{
	g_autoptr(GError) error = NULL;

	if (!notify_notification_close(n, &error))
		g_debug("closing a notification failed: %s", error->message);
}

static gboolean
fl_notifier_worker_flush_cb(gpointer user_data)
{
	FlWorker *w = user_data;
	g_autoptr(GList) handles = NULL;

	g_clear_pointer(&w->flush, g_source_unref);
	if (!w->ready)
		return G_SOURCE_REMOVE;

	while (w->closing->len > 0) {
		g_autoptr(GObject) n = g_ptr_array_steal_index(w->closing, 0);

		if (!fl_notifier_worker_may_call(w))
			return G_SOURCE_REMOVE;
		fl_notifier_worker_close_now(w, NOTIFY_NOTIFICATION(n));
	}

	/* handle order keeps delivery deterministic */
	handles = g_list_sort(g_hash_table_get_keys(w->entries), fl_notifier_compare_handles);
	for (GList *l = handles; l != NULL; l = l->next) {
		FlEntry *entry = g_hash_table_lookup(w->entries, l->data);

		if (entry == NULL || entry->pending == NULL)
			continue;
		if (!fl_notifier_worker_show(w, entry))
			break;
	}
	return G_SOURCE_REMOVE;
}

/* idle priority: requests and bus signals already queued run first, so posts coalesce and an
 * owner change is seen before anything is sent */
static void
fl_notifier_worker_schedule_flush(FlWorker *w)
{
	if (w->flush != NULL)
		return;
	w->flush = g_idle_source_new();
	g_source_set_priority(w->flush, G_PRIORITY_DEFAULT_IDLE);
	g_source_set_callback(w->flush, fl_notifier_worker_flush_cb, w, NULL);
	g_source_attach(w->flush, w->ctx);
}

/* the server is gone or replaced: its ids mean nothing to the next one (pitfall 5) */
static void
fl_notifier_worker_cancel_retry(FlWorker *w)
{
	if (w->retry != NULL) {
		g_source_destroy(w->retry);
		g_clear_pointer(&w->retry, g_source_unref);
	}
}

static void
fl_notifier_worker_forget_server(FlWorker *w)
{
	GHashTableIter iter;
	gpointer value;

	g_clear_pointer(&w->server_owner, g_free);
	g_clear_pointer(&w->caps, g_strfreev);
	fl_notifier_worker_cancel_retry(w);
	w->retry_delay_s = 0;
	w->ready = FALSE;
	g_ptr_array_set_size(w->closing, 0);
	g_hash_table_iter_init(&iter, w->entries);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		FlEntry *entry = value;

		fl_notifier_entry_drop_notification(entry);
		if (entry->pending == NULL)
			g_hash_table_iter_remove(&iter);
	}
}

static void
fl_notifier_worker_name_appeared_cb(GDBusConnection *connection, const gchar *name,
				    const gchar *name_owner, gpointer user_data);

static gboolean
fl_notifier_worker_retry_cb(gpointer user_data)
{
	FlWorker *w = user_data;
	g_autofree gchar *owner = g_steal_pointer(&w->server_owner);

	g_clear_pointer(&w->retry, g_source_unref);
	if (owner != NULL && !w->ready)
		fl_notifier_worker_name_appeared_cb(NULL, NULL, owner, w);
	return G_SOURCE_REMOVE;
}

/* a server that is still setting itself up gets asked again later, backing off */
static void
fl_notifier_worker_schedule_retry(FlWorker *w)
{
	fl_notifier_worker_cancel_retry(w);
	w->retry_delay_s = CLAMP(w->retry_delay_s * 2, 1, 60);
	w->retry = g_timeout_source_new_seconds(w->retry_delay_s);
	g_source_set_callback(w->retry, fl_notifier_worker_retry_cb, w, NULL);
	g_source_attach(w->retry, w->ctx);
}

static void
fl_notifier_worker_name_appeared_cb(GDBusConnection *connection, const gchar *name,
				    const gchar *name_owner, gpointer user_data)
{
	FlWorker *w = user_data;
	g_autofree gchar *server_name = NULL;
	g_autofree gchar *vendor = NULL;
	g_autofree gchar *version = NULL;
	g_autofree gchar *spec_version = NULL;
	gboolean was_ready = w->ready;
	GList *caps;
	GPtrArray *caps_array;

	if (g_strcmp0(w->server_owner, name_owner) == 0)
		return;
	if (w->server_owner != NULL)
		fl_notifier_worker_forget_server(w);
	w->server_owner = g_strdup(name_owner);
	if (!fl_notifier_worker_may_call(w))
		return;

	/* the server info call is the one that builds libnotify's proxy, and unlike
	 * notify_get_server_caps() it fails without logging a warning */
	if (!notify_get_server_info(&server_name, &vendor, &version, &spec_version)) {
		g_debug("notification server %s does not answer GetServerInformation", name_owner);
		if (was_ready)
			fl_notifier_worker_emit_server_changed(w, FALSE);
		fl_notifier_worker_schedule_retry(w);
		return;
	}
	caps = notify_get_server_caps();
	caps_array = g_ptr_array_new();
	for (GList *l = caps; l != NULL; l = l->next)
		g_ptr_array_add(caps_array, l->data);
	g_ptr_array_add(caps_array, NULL);
	g_list_free(caps);
	w->caps = (gchar **)g_ptr_array_free(caps_array, FALSE);
	w->ready = TRUE;
	w->retry_delay_s = 0;
	g_debug("notification server %s (%s %s, %s)", name_owner, server_name, version, vendor);

	fl_notifier_worker_emit_server_changed(w, TRUE);
	fl_notifier_worker_schedule_flush(w);
}

static void
fl_notifier_worker_name_vanished_cb(GDBusConnection *connection, const gchar *name,
				    gpointer user_data)
{
	FlWorker *w = user_data;
	gboolean was_ready = w->ready;

	if (w->server_owner == NULL)
		return;
	fl_notifier_worker_forget_server(w);
	if (was_ready)
		fl_notifier_worker_emit_server_changed(w, FALSE);
}

static void
fl_notifier_worker_watch_freed_cb(gpointer user_data)
{
	FlWorker *w = user_data;

	w->watch_freed = TRUE;
}

static gboolean
fl_notifier_worker_request_cb(gpointer user_data)
{
	FlRequest *request = user_data;
	FlWorker *w = request->worker;
	FlEntry *entry;

	if (request->post != NULL) {
		entry = fl_notifier_worker_ensure_entry(w, request->handle);
		g_clear_pointer(&entry->pending, fl_notifier_post_free);
		entry->pending = g_steal_pointer(&request->post);
		fl_notifier_worker_schedule_flush(w);
		return G_SOURCE_REMOVE;
	}

	entry = g_hash_table_lookup(w->entries, GUINT_TO_POINTER(request->handle));
	if (entry == NULL)
		return G_SOURCE_REMOVE;
	g_clear_pointer(&entry->pending, fl_notifier_post_free);
	if (entry->notification != NULL) {
		/* a close is our own doing, not reported as "closed"; a later post makes a
		 * new notification */
		g_clear_signal_handler(&entry->closed_id, entry->notification);
		g_ptr_array_add(w->closing, g_steal_pointer(&entry->notification));
		entry->has_actions = FALSE;
		fl_notifier_worker_schedule_flush(w);
	}
	fl_notifier_worker_forget_entry_if_empty(w, entry);
	return G_SOURCE_REMOVE;
}

static gboolean
fl_notifier_worker_quit_cb(gpointer user_data)
{
	g_main_loop_quit(user_data);
	return G_SOURCE_REMOVE;
}

static gboolean
fl_notifier_worker_drain_timeout_cb(gpointer user_data)
{
	gboolean *timed_out = user_data;

	*timed_out = TRUE;
	return G_SOURCE_REMOVE;
}

static void
fl_notifier_worker_start(FlWorker *w)
{
	g_autoptr(GError) error = NULL;

	w->initted = notify_init(w->app_name);
	if (!w->initted) {
		g_warning("cannot initialise libnotify");
		return;
	}
	w->bus = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, &error);
	if (w->bus == NULL) {
		g_warning("no session bus for notifications: %s", error->message);
		return;
	}
	/* never auto-start: an activatable server that crashes would be started again and again */
	w->watch_id = g_bus_watch_name_on_connection(
		w->bus, FL_NOTIFIER_BUS_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
		fl_notifier_worker_name_appeared_cb, fl_notifier_worker_name_vanished_cb, w,
		fl_notifier_worker_watch_freed_cb);
}

static void
fl_notifier_worker_stop(FlWorker *w)
{
	GHashTableIter iter;
	gpointer value;
	gboolean courtesy;
	gboolean timed_out = FALSE;
	GSource *timeout;

	if (w->flush != NULL) {
		g_source_destroy(w->flush);
		g_clear_pointer(&w->flush, g_source_unref);
	}
	fl_notifier_worker_cancel_retry(w);
	if (w->watch_id != 0)
		g_bus_unwatch_name(w->watch_id);
	else
		w->watch_freed = TRUE;

	/* like notify_uninit() would, close what still offers actions: nobody would receive
	 * them; skipped when the server is gone or hung (the owner gave up on us) */
	g_mutex_lock(&w->shared->mutex);
	courtesy = w->ready && !w->shared->detached;
	g_mutex_unlock(&w->shared->mutex);
	for (guint i = 0; courtesy && i < w->closing->len; i++)
		fl_notifier_worker_close_now(w, g_ptr_array_index(w->closing, i));
	g_hash_table_iter_init(&iter, w->entries);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		FlEntry *entry = value;

		if (courtesy && entry->notification != NULL && entry->has_actions)
			fl_notifier_worker_close_now(w, entry->notification);
	}

	/* drop our objects before notify_uninit(): disposing one afterwards would make
	 * libnotify build a new proxy with synchronous calls */
	g_hash_table_remove_all(w->entries);
	g_ptr_array_set_size(w->closing, 0);
	w->ready = FALSE;
	if (w->initted)
		notify_uninit();
	g_clear_object(&w->bus);

	/* let the name watch and the proxy's subscriptions release the connection here, or
	 * their idle callbacks would die with the context and leak it */
	timeout = g_timeout_source_new(FL_NOTIFIER_DRAIN_MSEC);
	g_source_set_callback(timeout, fl_notifier_worker_drain_timeout_cb, &timed_out, NULL);
	g_source_attach(timeout, w->ctx);
	while (!w->watch_freed && !timed_out)
		g_main_context_iteration(w->ctx, TRUE);
	g_source_destroy(timeout);
	g_source_unref(timeout);
	while (g_main_context_iteration(w->ctx, FALSE))
		;
}

static void
fl_notifier_worker_free(FlWorker *w)
{
	g_hash_table_unref(w->entries);
	g_ptr_array_unref(w->closing);
	g_strfreev(w->caps);
	g_free(w->server_owner);
	g_free(w->app_name);
	g_free(w->desktop_entry);
	g_main_loop_unref(w->loop);
	g_main_context_unref(w->ctx);
	fl_notifier_shared_release(w->shared);
	g_free(w);
}

static gpointer
fl_notifier_worker_thread(gpointer data)
{
	FlWorker *w = data;
	gboolean quitting;

	g_main_context_push_thread_default(w->ctx);

	/* a previous worker that was stuck on a hung server may still hold libnotify */
	g_mutex_lock(&fl_notifier_libnotify_lock);
	g_mutex_lock(&w->shared->mutex);
	quitting = w->shared->quitting;
	g_mutex_unlock(&w->shared->mutex);
	if (!quitting) {
		fl_notifier_worker_start(w);
		g_main_loop_run(w->loop);
		fl_notifier_worker_stop(w);
	}
	g_mutex_unlock(&fl_notifier_libnotify_lock);

	g_main_context_pop_thread_default(w->ctx);

	g_mutex_lock(&w->shared->mutex);
	w->shared->finished = TRUE;
	g_cond_signal(&w->shared->cond);
	g_mutex_unlock(&w->shared->mutex);

	fl_notifier_worker_free(w);
	return NULL;
}

/* ---------------------------------------------------------------------------------------------- */
/* owner side */

static void
fl_notifier_queue(FlNotifier *self, guint handle, FlPost *post)
{
	FlRequest *request = g_new0(FlRequest, 1);

	request->worker = self->worker;
	request->handle = handle;
	request->post = post;
	g_main_context_invoke_full(self->worker_ctx, G_PRIORITY_DEFAULT,
				   fl_notifier_worker_request_cb, request,
				   fl_notifier_request_free);
}

static gboolean
fl_notifier_actions_valid(const gchar *const *actions)
{
	guint i;

	if (actions == NULL)
		return TRUE;
	for (i = 0; actions[i] != NULL; i += 2) {
		if (actions[i + 1] == NULL)
			return FALSE;
		if (actions[i][0] == '\0' || actions[i + 1][0] == '\0')
			return FALSE;
	}
	return TRUE;
}

guint
fl_notifier_post(FlNotifier *self, guint handle, const gchar *summary, const gchar *body_markup,
		 const gchar *body_plain, const gchar *const *actions, FlNotifierUrgency urgency,
		 const gchar *category)
{
	g_autofree gchar *escaped = NULL;
	FlPost *post;

	g_return_val_if_fail(FL_IS_NOTIFIER(self), 0);
	g_return_val_if_fail(handle < self->next_handle, 0);
	g_return_val_if_fail(summary != NULL && summary[0] != '\0', 0);
	g_return_val_if_fail(fl_notifier_actions_valid(actions), 0);

	if (handle == 0)
		handle = self->next_handle++;
	if (self->thread == NULL)
		return handle;

	post = g_new0(FlPost, 1);
	/* libnotify would send "[Invalid UTF-8]" for a whole field, and servers render control
	 * bytes badly: every field goes through fl_text_clean(); newlines separate paragraphs */
	post->summary = fl_text_clean(summary, -1, FL_TEXT_NONE);
	if (body_markup == NULL && body_plain != NULL) {
		escaped = g_markup_escape_text(body_plain, -1);
		body_markup = escaped;
	}
	post->body_markup =
		fl_text_clean(body_markup != NULL ? body_markup : "", -1, FL_TEXT_MULTILINE);
	post->body_plain =
		fl_text_clean(body_plain != NULL ? body_plain : "", -1, FL_TEXT_MULTILINE);
	if (actions != NULL && actions[0] != NULL) {
		guint n = g_strv_length((gchar **)actions);

		post->actions = g_new0(gchar *, n + 1);
		for (guint i = 0; i < n; i++)
			post->actions[i] = fl_text_clean(actions[i], -1, FL_TEXT_NONE);
	}
	post->urgency = urgency;
	post->category = fl_text_clean(category, -1, FL_TEXT_NONE);
	fl_notifier_queue(self, handle, post);
	return handle;
}

void
fl_notifier_close(FlNotifier *self, guint handle)
{
	g_return_if_fail(FL_IS_NOTIFIER(self));
	g_return_if_fail(handle > 0 && handle < self->next_handle);

	if (self->thread == NULL)
		return;
	fl_notifier_queue(self, handle, NULL);
}

gboolean
fl_notifier_is_available(FlNotifier *self)
{
	g_return_val_if_fail(FL_IS_NOTIFIER(self), FALSE);
	return self->available;
}

gboolean
fl_notifier_has_capability(FlNotifier *self, const gchar *capability)
{
	g_return_val_if_fail(FL_IS_NOTIFIER(self), FALSE);
	g_return_val_if_fail(capability != NULL, FALSE);

	return self->available && self->caps != NULL &&
	       g_strv_contains((const gchar *const *)self->caps, capability);
}

static void
fl_notifier_stop_worker(FlNotifier *self)
{
	FlNotifierShared *shared = self->shared;
	gint64 deadline = g_get_monotonic_time() + FL_NOTIFIER_STOP_GRACE_USEC;
	gboolean finished;

	shared->owner = NULL;
	g_mutex_lock(&shared->mutex);
	shared->quitting = TRUE;
	g_mutex_unlock(&shared->mutex);

	/* a source rather than g_main_loop_quit(): it cannot be lost before the loop runs */
	g_main_context_invoke_full(self->worker_ctx, G_PRIORITY_HIGH, fl_notifier_worker_quit_cb,
				   g_main_loop_ref(self->worker_loop),
				   (GDestroyNotify)g_main_loop_unref);

	g_mutex_lock(&shared->mutex);
	while (!shared->finished) {
		if (!g_cond_wait_until(&shared->cond, &shared->mutex, deadline))
			break;
	}
	finished = shared->finished;
	if (!finished)
		shared->detached = TRUE;
	g_mutex_unlock(&shared->mutex);

	if (finished) {
		g_thread_join(g_steal_pointer(&self->thread));
	} else {
		/* stuck in a synchronous call (up to 25 s against a hung server): it owns its
		 * data and finishes on its own */
		g_debug("notification worker busy with the server; detaching it");
		g_thread_unref(g_steal_pointer(&self->thread));
	}
}

static void
fl_notifier_constructed(GObject *object)
{
	FlNotifier *self = FL_NOTIFIER(object);
	g_autoptr(GError) error = NULL;
	FlWorker *w;

	G_OBJECT_CLASS(fl_notifier_parent_class)->constructed(object);

	if (self->app_name == NULL || self->app_name[0] == '\0') {
		g_free(self->app_name);
		self->app_name = g_strdup("flotilla");
	}

	self->shared = g_atomic_rc_box_new0(FlNotifierShared);
	g_mutex_init(&self->shared->mutex);
	g_cond_init(&self->shared->cond);
	self->shared->owner = self;
	self->shared->owner_ctx = g_main_context_ref_thread_default();

	self->worker_ctx = g_main_context_new();
	self->worker_loop = g_main_loop_new(self->worker_ctx, FALSE);

	w = g_new0(FlWorker, 1);
	w->shared = g_atomic_rc_box_acquire(self->shared);
	w->ctx = g_main_context_ref(self->worker_ctx);
	w->loop = g_main_loop_ref(self->worker_loop);
	w->app_name = g_strdup(self->app_name);
	w->desktop_entry = g_strdup(self->desktop_entry);
	w->entries =
		g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, fl_notifier_entry_free);
	w->closing = g_ptr_array_new_with_free_func(g_object_unref);
	self->worker = w;

	self->thread = g_thread_try_new("fl-notifier", fl_notifier_worker_thread, w, &error);
	if (self->thread == NULL) {
		g_warning("cannot start the notification thread: %s", error->message);
		self->worker = NULL;
		fl_notifier_worker_free(w);
	}
}

static void
fl_notifier_dispose(GObject *object)
{
	FlNotifier *self = FL_NOTIFIER(object);

	if (self->thread != NULL)
		fl_notifier_stop_worker(self);
	if (self->shared != NULL)
		self->shared->owner = NULL;
	self->worker = NULL;
	G_OBJECT_CLASS(fl_notifier_parent_class)->dispose(object);
}

static void
fl_notifier_finalize(GObject *object)
{
	FlNotifier *self = FL_NOTIFIER(object);

	g_free(self->app_name);
	g_free(self->desktop_entry);
	g_strfreev(self->caps);
	g_clear_pointer(&self->worker_loop, g_main_loop_unref);
	g_clear_pointer(&self->worker_ctx, g_main_context_unref);
	g_clear_pointer(&self->shared, fl_notifier_shared_release);
	G_OBJECT_CLASS(fl_notifier_parent_class)->finalize(object);
}

static void
fl_notifier_set_property(GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
	FlNotifier *self = FL_NOTIFIER(object);

	switch (prop_id) {
	case PROP_APP_NAME:
		g_free(self->app_name);
		self->app_name = g_value_dup_string(value);
		break;
	case PROP_DESKTOP_ENTRY:
		g_free(self->desktop_entry);
		self->desktop_entry = g_value_dup_string(value);
		break;
	default:
		G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
		break;
	}
}

static void
fl_notifier_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
	FlNotifier *self = FL_NOTIFIER(object);

	switch (prop_id) {
	case PROP_APP_NAME:
		g_value_set_string(value, self->app_name);
		break;
	case PROP_DESKTOP_ENTRY:
		g_value_set_string(value, self->desktop_entry);
		break;
	default:
		G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
		break;
	}
}

static void
fl_notifier_class_init(FlNotifierClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->constructed = fl_notifier_constructed;
	object_class->dispose = fl_notifier_dispose;
	object_class->finalize = fl_notifier_finalize;
	object_class->set_property = fl_notifier_set_property;
	object_class->get_property = fl_notifier_get_property;

	props[PROP_APP_NAME] = g_param_spec_string("app-name", NULL, NULL, NULL,
						   G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
							   G_PARAM_STATIC_STRINGS);
	props[PROP_DESKTOP_ENTRY] = g_param_spec_string("desktop-entry", NULL, NULL, NULL,
							G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
								G_PARAM_STATIC_STRINGS);
	g_object_class_install_properties(object_class, N_PROPS, props);

	signals[SIGNAL_ACTION_INVOKED] =
		g_signal_new("action-invoked", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
			     NULL, NULL, G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_STRING);
	signals[SIGNAL_CLOSED] =
		g_signal_new("closed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
			     NULL, G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_UINT);
	signals[SIGNAL_SERVER_CHANGED] =
		g_signal_new("server-changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
			     NULL, NULL, G_TYPE_NONE, 1, G_TYPE_BOOLEAN);
	signals[SIGNAL_POSTED] = g_signal_new("posted", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
					      0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_UINT);
}

static void
fl_notifier_init(FlNotifier *self)
{
	self->next_handle = 1;
}

FlNotifier *
fl_notifier_new(const gchar *app_name, const gchar *desktop_entry)
{
	return g_object_new(FL_TYPE_NOTIFIER, "app-name", app_name, "desktop-entry", desktop_entry,
			    NULL);
}
