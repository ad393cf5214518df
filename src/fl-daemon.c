/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-daemon.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "fl-checkin.h"
#include "fl-clean.h"
#include "fl-coordination.h"
#include "fl-dbus-names.h"
#include "fl-dbus.h"
#include "fl-error.h"
#include "fl-fleet.h"
#include "fl-groups.h"
#include "fl-i18n.h"
#include "fl-locale.h"
#include "fl-msg.h"
#include "fl-sandbox.h"
#include "fl-slurm.h"
#include "fl-store.h"
#include "fl-text.h"
#include "fl-util.h"

struct _FlDaemon {
	GObject parent_instance;
	FlConfig *config;             /* (owned) */
	gchar *confinement_error;     /* (owned) (nullable) why sessions cannot be confined */
	FlStore *store;               /* (owned) */
	FlFleet *fleet;               /* (owned) */
	FlCheckin *checkin;           /* (owned) */
	FlCoordination *coordination; /* (owned) */
	FlGroups *groups;             /* (owned) */
	FlDbusFlotilla1 *skeleton;    /* (owned) */
	GDBusConnection *connection;  /* (owned) (nullable) */
	guint owner_id;
	gboolean started;
	GCancellable *cancellable; /* (owned) the store check under way */
	/* (owned) configurations a reload replaced: sessions started under one keep pointers into
	 * it (their [agent NAME], their [cluster NAME]) until they end, so none is freed early */
	GPtrArray *retired;
	/* (owned) unique bus name → the locale_t its SetLocale asked for; written by the bus
	 * connection's filter (GDBus's worker thread), read by the handlers (main thread) under
	 * fl_daemon_locales_lock */
	GHashTable *locales;
	guint filter_id;
	guint name_owner_id; /* NameOwnerChanged: a caller's entry goes when it leaves */
};

G_DEFINE_TYPE(FlDaemon, fl_daemon, G_TYPE_OBJECT)

enum { SIGNAL_QUIT, SIGNAL_LAST };
static guint signals[SIGNAL_LAST] = {0};

/* ------------------------------------------------------------------ the caller's language */

static GMutex fl_daemon_locales_lock;

static GQuark
fl_daemon_locale_quark(void)
{
	return g_quark_from_static_string("fl-daemon-locale");
}

/*
 * SetLocale is taken here, as the message arrives, not by a handler: the skeleton authorizes
 * each call in a thread of its own (fl_daemon_authorize_cb), so handlers may run in another
 * order than their calls came, and a caller's first call could overtake its SetLocale. A
 * filter sees each connection's messages in order. Recording it needs no authorization: it
 * only ever changes the language of the sender's own replies. Sent without expecting a reply
 * (as the CLI does) it goes no further; otherwise the skeleton answers it.
 */
static GDBusMessage *
fl_daemon_filter_cb(GDBusConnection *connection, GDBusMessage *message, gboolean incoming,
		    gpointer user_data)
{
	GHashTable *locales = user_data;
	const gchar *sender = g_dbus_message_get_sender(message);
	GVariant *body = g_dbus_message_get_body(message);
	const gchar *lc_messages = NULL;
	const gchar *language = NULL;
	locale_t locale;

	if (!incoming || sender == NULL ||
	    g_dbus_message_get_message_type(message) != G_DBUS_MESSAGE_TYPE_METHOD_CALL ||
	    g_strcmp0(g_dbus_message_get_member(message), "SetLocale") != 0 ||
	    g_strcmp0(g_dbus_message_get_interface(message), FL_BUS_NAME) != 0 ||
	    g_strcmp0(g_dbus_message_get_path(message), FL_OBJECT_PATH) != 0 || body == NULL ||
	    !g_variant_is_of_type(body, G_VARIANT_TYPE("(ss)")))
		return message;
	g_variant_get(body, "(&s&s)", &lc_messages, &language);
	locale = fl_locale_resolve(lc_messages, language);
	g_mutex_lock(&fl_daemon_locales_lock);
	if (locale != (locale_t)0)
		g_hash_table_insert(locales, g_strdup(sender), (gpointer)locale);
	else
		g_hash_table_remove(locales, sender);
	g_mutex_unlock(&fl_daemon_locales_lock);
	if ((g_dbus_message_get_flags(message) & G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED) == 0)
		return message;
	g_object_unref(message);
	return NULL;
}

/* a caller left the bus: its unique name never comes back */
static void
fl_daemon_name_owner_changed_cb(GDBusConnection *connection, const gchar *sender, const gchar *path,
				const gchar *interface, const gchar *signal, GVariant *parameters,
				gpointer user_data)
{
	FlDaemon *self = user_data;
	const gchar *name = NULL;
	const gchar *old_owner = NULL;
	const gchar *new_owner = NULL;

	if (!g_variant_is_of_type(parameters, G_VARIANT_TYPE("(sss)")))
		return;
	g_variant_get(parameters, "(&s&s&s)", &name, &old_owner, &new_owner);
	if (name[0] != ':' || new_owner[0] != '\0')
		return;
	g_mutex_lock(&fl_daemon_locales_lock);
	g_hash_table_remove(self->locales, name);
	g_mutex_unlock(&fl_daemon_locales_lock);
}

/*
 * Every handler starts with this: the texts it makes are in its caller's language until it
 * returns. The language stays with @invocation for the completion of an asynchronous call
 * (fl_daemon_enter_reply), even when its caller left the bus in between.
 */
static FlLocaleScope
fl_daemon_enter_caller(FlDaemon *self, GDBusMethodInvocation *invocation)
{
	const gchar *sender = g_dbus_method_invocation_get_sender(invocation);
	locale_t locale = (locale_t)0;

	if (sender != NULL) {
		g_mutex_lock(&fl_daemon_locales_lock);
		locale = g_hash_table_lookup(self->locales, sender);
		g_mutex_unlock(&fl_daemon_locales_lock);
	}
	g_object_set_qdata(G_OBJECT(invocation), fl_daemon_locale_quark(), (gpointer)locale);
	return fl_locale_scope_enter(locale);
}

/* the completion of an asynchronous call: its caller's language again */
static FlLocaleScope
fl_daemon_enter_reply(GDBusMethodInvocation *invocation)
{
	return fl_locale_scope_enter(
		g_object_get_qdata(G_OBJECT(invocation), fl_daemon_locale_quark()));
}

/* the only way an error leaves: rendered anew in the caller's language (inside its scope) */
static void
fl_daemon_return_error(GDBusMethodInvocation *invocation, const GError *error)
{
	g_autofree gchar *name = g_dbus_error_encode_gerror(error);
	g_autofree gchar *text = fl_error_render(error);

	g_dbus_method_invocation_return_dbus_error(invocation, name, text);
}

/* SetLocale with a reply expected: fl_daemon_filter_cb took it already */
static gboolean
fl_daemon_handle_set_locale(FlDbusFlotilla1 *skeleton, GDBusMethodInvocation *invocation,
			    const gchar *lc_messages, const gchar *language, FlDaemon *self)
{
	fl_dbus_flotilla1_complete_set_locale(skeleton, invocation);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ------------------------------------------------------------------ caller checks */

/* whether @pid lives in our own pid namespace; FALSE when that cannot be told */
static gboolean
fl_daemon_same_pid_namespace(guint32 pid)
{
	g_autofree gchar *path = g_strdup_printf("/proc/%u/ns/pid", pid);
	GStatBuf ours;
	GStatBuf theirs;

	return g_stat("/proc/self/ns/pid", &ours) == 0 && g_stat(path, &theirs) == 0 &&
	       ours.st_dev == theirs.st_dev && ours.st_ino == theirs.st_ino;
}

/*
 * Runs in a GDBus worker thread (g-authorize-method), so the synchronous question to the
 * bus does not block the main loop. Even on a session bus, only our own uid may drive us.
 *
 * And nothing from inside a sandbox: every confined session has a pid namespace of its own,
 * and with the network on it shares the host's abstract sockets, so it may reach a bus that
 * listens on one. Its legitimate calls go through its runner's channel, which lives outside.
 */
static gboolean
fl_daemon_authorize_cb(GDBusInterfaceSkeleton *skeleton, GDBusMethodInvocation *invocation,
		       gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GVariant) credentials = NULL;
	guint32 uid = G_MAXUINT32;
	guint32 pid = 0;

	reply = g_dbus_connection_call_sync(
		g_dbus_method_invocation_get_connection(invocation), "org.freedesktop.DBus",
		"/org/freedesktop/DBus", "org.freedesktop.DBus", "GetConnectionCredentials",
		g_variant_new("(s)", g_dbus_method_invocation_get_sender(invocation)),
		G_VARIANT_TYPE("(a{sv})"), G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
	if (reply != NULL) {
		credentials = g_variant_get_child_value(reply, 0);
		g_variant_lookup(credentials, "UnixUserID", "u", &uid);
		g_variant_lookup(credentials, "ProcessID", "u", &pid);
	}
	if (uid != getuid()) {
		g_dbus_method_invocation_return_error(invocation, G_DBUS_ERROR,
						      G_DBUS_ERROR_ACCESS_DENIED,
						      _("only uid %u may use flotillad"), getuid());
		return FALSE;
	}
	if (pid == 0 || !fl_daemon_same_pid_namespace(pid)) {
		g_dbus_method_invocation_return_error_literal(
			invocation, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED,
			_("flotillad does not take calls from inside a sandbox (a session's "
			  "requests go through its channel)"));
		return FALSE;
	}
	return TRUE;
}

static gboolean
fl_daemon_not_ready(FlDaemon *self, GDBusMethodInvocation *invocation)
{
	g_autoptr(GError) error = NULL;

	if (self->started)
		return FALSE;
	fl_set_error_literal(&error, FL_ERROR_BUSY, N_("flotillad is starting; try again"));
	fl_daemon_return_error(invocation, error);
	return TRUE;
}

/* ------------------------------------------------------------------ handlers */

static void
fl_daemon_run_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GDBusMethodInvocation) invocation = user_data;
	g_auto(FlLocaleScope) scope = fl_daemon_enter_reply(invocation);
	g_autoptr(GError) error = NULL;
	g_autoptr(GArray) ids = fl_fleet_run_finish(FL_FLEET(source), res, &error);
	const gchar *method = g_dbus_method_invocation_get_method_name(invocation);

	if (ids == NULL) {
		fl_daemon_return_error(invocation, error);
		return;
	}
	if (g_strcmp0(method, "Run") == 0) {
		g_dbus_method_invocation_return_value(
			invocation, g_variant_new("(u)", g_array_index(ids, guint, 0)));
	} else {
		GVariantBuilder b;
		g_variant_builder_init(&b, G_VARIANT_TYPE("au"));
		for (guint i = 0; i < ids->len; i++)
			g_variant_builder_add(&b, "u", g_array_index(ids, guint, i));
		g_dbus_method_invocation_return_value(invocation, g_variant_new("(au)", &b));
	}
}

/* confinement on but unavailable: nothing starts, and the caller learns why and what to do */
static gboolean
fl_daemon_cannot_confine(FlDaemon *self, GDBusMethodInvocation *invocation)
{
	g_autoptr(GError) error = NULL;

	if (!self->config->confinement || self->confinement_error == NULL)
		return FALSE;
	fl_set_error(&error, FL_ERROR_FAILED, N_("sessions cannot be confined: %s"),
		     self->confinement_error);
	fl_daemon_return_error(invocation, error);
	return TRUE;
}

static gboolean
fl_daemon_handle_run(FlDbusFlotilla1 *skeleton, GDBusMethodInvocation *invocation, GVariant *spec,
		     FlDaemon *self)
{
	g_auto(FlLocaleScope) scope = fl_daemon_enter_caller(self, invocation);
	GVariant *specs;

	if (fl_daemon_not_ready(self, invocation) || fl_daemon_cannot_confine(self, invocation))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	specs = g_variant_new_array(G_VARIANT_TYPE("a{sv}"), &spec, 1);
	fl_fleet_run_async(self->fleet, specs, fl_daemon_run_cb, g_object_ref(invocation));
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
fl_daemon_handle_run_batch(FlDbusFlotilla1 *skeleton, GDBusMethodInvocation *invocation,
			   GVariant *specs, FlDaemon *self)
{
	g_auto(FlLocaleScope) scope = fl_daemon_enter_caller(self, invocation);
	if (fl_daemon_not_ready(self, invocation) || fl_daemon_cannot_confine(self, invocation))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	fl_fleet_run_async(self->fleet, specs, fl_daemon_run_cb, g_object_ref(invocation));
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/*
 * What the daemon knows about a session beyond its stored row, added to its a{sv}: why a
 * queued session is held (the "held" key, @held from fl_fleet_get_held_reason()), and how a
 * pending draft stands beside the other drafts of its base branch (FlCoordination). Returns
 * a new floating dictionary, or NULL when there is nothing to add. A failed or cancelled
 * session the user dismissed has "dismissed": true.
 */
static GVariant *
fl_daemon_decorate(FlDaemon *self, GVariant *session, const gchar *held)
{
	g_autoptr(GVariantDict) dict = NULL;
	const gchar *state = NULL;
	const gchar *review = NULL;
	const gchar *base = NULL;
	const gchar *group = NULL;
	g_autofree gchar *group_held = NULL;
	guint id = 0;
	guint after = 0;

	g_variant_lookup(session, "id", "u", &id);
	g_variant_lookup(session, "base", "&s", &base);
	g_variant_lookup(session, "state", "&s", &state);
	g_variant_lookup(session, "review", "&s", &review);
	g_variant_lookup(session, "group", "&s", &group);
	if (held == NULL && group != NULL && g_strcmp0(state, "queued") == 0) {
		g_autoptr(FlGroup) g = fl_store_get_group(self->store, group, NULL);
		if (g != NULL && g->paused)
			held = group_held = g_strdup_printf(
				_("group @%s paused; 'flotilla resume --group %s' starts it"),
				group, group);
	}
	if (g_strcmp0(state, "queued") == 0 && g_variant_lookup(session, "after", "u", &after)) {
		gboolean done = FALSE;
		g_autofree gchar *waiting = NULL;

		/* `run --after`: what it waits for is its own reason, before the queue's */
		g_variant_lookup(session, "after_done", "b", &done);
		waiting = g_strdup_printf(done ? _("waiting for #%u to be done")
					       : _("waiting for #%u to be approved"),
					  after);
		dict = g_variant_dict_new(session);
		g_variant_dict_insert(dict, "held", "s", waiting);
	} else if (held != NULL && g_strcmp0(state, "queued") == 0) {
		dict = g_variant_dict_new(session);
		g_variant_dict_insert(dict, "held", "s", held);
	}
	/* only an ended session can have been dismissed: one look-up for those */
	if ((g_strcmp0(state, "failed") == 0 || g_strcmp0(state, "interrupted") == 0 ||
	     g_strcmp0(state, "cancelled") == 0) &&
	    fl_store_ledger_get(self->store, id, FL_LEDGER_EVENT_DISMISSED) > 0) {
		if (dict == NULL)
			dict = g_variant_dict_new(session);
		g_variant_dict_insert(dict, "dismissed", "b", TRUE);
	}
	if (g_strcmp0(review, "pending") == 0 &&
	    fl_coordination_lookup(self->coordination, id) != NULL) {
		const gchar *verify_base = NULL;
		const FlOverlap *o = fl_coordination_lookup(self->coordination, id);

		if (dict == NULL)
			dict = g_variant_dict_new(session);
		fl_coordination_describe(self->coordination, id, base, dict);
		/* a verify result checked against a base that is no longer the tip */
		if (g_variant_lookup(session, "verify_base", "&s", &verify_base))
			g_variant_dict_insert(dict, "verify_stale", "b",
					      g_strcmp0(verify_base, o->tip) != 0);
	}
	return dict != NULL ? g_variant_dict_end(dict) : NULL;
}

static gboolean
fl_daemon_handle_get_session(FlDbusFlotilla1 *skeleton, GDBusMethodInvocation *invocation, guint id,
			     FlDaemon *self)
{
	g_auto(FlLocaleScope) scope = fl_daemon_enter_caller(self, invocation);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlSessionData) d = NULL;
	GVariant *v;

	if (fl_daemon_not_ready(self, invocation))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	d = fl_fleet_get_session(self->fleet, id, &error);
	v = d != NULL ? fl_session_data_to_variant(d, fl_store_get_state_dir(self->store)) : NULL;
	if (v == NULL) {
		fl_daemon_return_error(invocation, error);
	} else {
		g_autofree gchar *held = fl_fleet_get_held_reason(self->fleet);
		g_autoptr(GVariant) owned = g_variant_ref_sink(v);
		GVariant *decorated = fl_daemon_decorate(self, owned, held);
		fl_dbus_flotilla1_complete_get_session(skeleton, invocation,
						       decorated != NULL ? decorated : owned);
	}
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/*
 * The keys an options dictionary may hold, with their types (as XDP's XdpOptionKey): an
 * unknown key or a wrong type is a caller's mistake we name, not something to ignore
 */
typedef struct {
	const gchar *key;
	const gchar *type;
} FlDaemonOptionKey;

static const FlDaemonOptionKey fl_daemon_list_options[] = {
	{"all", "b"}, {"limit", "u"}, {"before", "u"}, {NULL, NULL}};
static const FlDaemonOptionKey fl_daemon_decide_options[] = {
	{"note", "s"}, {"source", "s"}, {"token", "s"}, {NULL, NULL}};
static const FlDaemonOptionKey fl_daemon_checkin_options[] = {{"deliver", "b"}, {NULL, NULL}};
static const FlDaemonOptionKey fl_daemon_reload_options[] = {{NULL, NULL}};
/* Pause and Resume: the whole queue, or only a group's sessions */
static const FlDaemonOptionKey fl_daemon_pause_options[] = {{"group", "s"}, {NULL, NULL}};
static const FlDaemonOptionKey fl_daemon_group_options[] = {
	{"note", "s"}, {"source", "s"}, {NULL, NULL}};
static const FlDaemonOptionKey fl_daemon_clean_options[] = {
	{"older_than", "t"}, {"state", "s"}, {"dry_run", "b"}, {NULL, NULL}};

static gboolean
fl_daemon_check_options(GVariant *options, const FlDaemonOptionKey *keys,
			GDBusMethodInvocation *invocation)
{
	GVariantIter iter;
	const gchar *key;
	GVariant *value;

	g_autoptr(GError) error = NULL;

	g_variant_iter_init(&iter, options);
	while (g_variant_iter_next(&iter, "{&sv}", &key, &value)) {
		g_autoptr(GVariant) owned = value;
		const FlDaemonOptionKey *k = keys;

		while (k->key != NULL && g_strcmp0(k->key, key) != 0)
			k++;
		if (k->key == NULL) {
			fl_set_error(&error, FL_ERROR_INVALID_ARGUMENT, N_("unknown option '%s'"),
				     key);
			fl_daemon_return_error(invocation, error);
			return FALSE;
		}
		if (!g_variant_is_of_type(value, G_VARIANT_TYPE(k->type))) {
			/* TRANSLATORS: an option of a D-Bus call and its D-Bus type, e.g. "b" */
			fl_set_error(&error, FL_ERROR_INVALID_ARGUMENT,
				     N_("option '%s' must be of type '%s'"), key, k->type);
			fl_daemon_return_error(invocation, error);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
fl_daemon_handle_list_sessions(FlDbusFlotilla1 *skeleton, GDBusMethodInvocation *invocation,
			       GVariant *options, FlDaemon *self)
{
	g_auto(FlLocaleScope) scope = fl_daemon_enter_caller(self, invocation);
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariantDict) dict = g_variant_dict_new(options);
	gboolean all = FALSE;
	guint limit = 0;
	guint before = 0;
	GVariant *v;

	if (fl_daemon_not_ready(self, invocation))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	if (!fl_daemon_check_options(options, fl_daemon_list_options, invocation))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	g_variant_dict_lookup(dict, "all", "b", &all);
	g_variant_dict_lookup(dict, "limit", "u", &limit);
	g_variant_dict_lookup(dict, "before", "u", &before);
	if (all)
		v = fl_store_list_page(self->store, before, limit, &error);
	else
		v = fl_store_list_variants(self->store, FALSE, limit, 20, &error);
	if (v == NULL) {
		fl_daemon_return_error(invocation, error);
	} else {
		g_autofree gchar *held = fl_fleet_get_held_reason(self->fleet);
		GVariantBuilder b;
		GVariantIter iter;
		GVariant *child;

		g_variant_builder_init(&b, G_VARIANT_TYPE("aa{sv}"));
		g_variant_iter_init(&iter, v);
		while ((child = g_variant_iter_next_value(&iter)) != NULL) {
			g_autoptr(GVariant) owned = child;
			g_autoptr(FlSessionData) placed = NULL;
			GVariant *decorated;
			guint32 id = 0;

			/* what Slurm says lives in the daemon, not in the store */
			if (g_variant_lookup(owned, "id", "u", &id))
				placed = fl_fleet_get_placed(self->fleet, id);
			if (placed != NULL) {
				g_variant_unref(owned);
				owned = g_variant_ref_sink(fl_session_data_to_variant(
					placed, fl_store_get_state_dir(self->store)));
			}
			decorated = fl_daemon_decorate(self, owned, held);
			g_variant_builder_add_value(&b, decorated != NULL ? decorated : owned);
		}
		g_variant_unref(g_variant_ref_sink(v));
		v = g_variant_builder_end(&b);
		fl_dbus_flotilla1_complete_list_sessions(skeleton, invocation, v);
	}
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
fl_daemon_handle_cancel(FlDbusFlotilla1 *skeleton, GDBusMethodInvocation *invocation, guint id,
			FlDaemon *self)
{
	g_auto(FlLocaleScope) scope = fl_daemon_enter_caller(self, invocation);
	g_autoptr(GError) error = NULL;

	if (fl_daemon_not_ready(self, invocation))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	if (!fl_fleet_cancel(self->fleet, id, &error))
		fl_daemon_return_error(invocation, error);
	else
		fl_dbus_flotilla1_complete_cancel(skeleton, invocation);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
fl_daemon_handle_dismiss(FlDbusFlotilla1 *skeleton, GDBusMethodInvocation *invocation, guint id,
			 FlDaemon *self)
{
	g_auto(FlLocaleScope) scope = fl_daemon_enter_caller(self, invocation);
	g_autoptr(GError) error = NULL;

	if (fl_daemon_not_ready(self, invocation))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	if (!fl_fleet_dismiss(self->fleet, id, "cli", &error))
		fl_daemon_return_error(invocation, error);
	else
		fl_dbus_flotilla1_complete_dismiss(skeleton, invocation);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
fl_daemon_decide_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GDBusMethodInvocation) invocation = user_data;
	g_auto(FlLocaleScope) scope = fl_daemon_enter_reply(invocation);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *message = fl_fleet_decide_finish(FL_FLEET(source), res, &error);
	g_autofree gchar *text = NULL;

	if (message == NULL) {
		fl_daemon_return_error(invocation, error);
		return;
	}
	/* a message kept as an FlMsg (fl_msg_serialize) is told in the caller's language */
	text = fl_msg_render_stored(message);
	g_dbus_method_invocation_return_value(invocation, g_variant_new("(s)", text));
}

static void
fl_daemon_decide(FlDaemon *self, GDBusMethodInvocation *invocation, guint id, GVariant *options,
		 FlDecision decision)
{
	g_auto(FlLocaleScope) scope = fl_daemon_enter_caller(self, invocation);
	g_autoptr(GVariantDict) dict = g_variant_dict_new(options);
	const gchar *note = NULL;
	const gchar *source = "cli";
	const gchar *token = NULL;

	if (fl_daemon_not_ready(self, invocation))
		return;
	if (!fl_daemon_check_options(options, fl_daemon_decide_options, invocation))
		return;
	g_variant_dict_lookup(dict, "note", "&s", &note);
	g_variant_dict_lookup(dict, "token", "&s", &token);
	g_variant_dict_lookup(dict, "source", "&s", &source);
	if (g_strcmp0(source, "cli") != 0 && g_strcmp0(source, "notification") != 0) {
		g_autoptr(GError) error = NULL;

		/* TRANSLATORS: where a decision came from, e.g. cli or notification */
		fl_set_error(&error, FL_ERROR_INVALID_ARGUMENT, N_("unknown source '%s'"), source);
		fl_daemon_return_error(invocation, error);
		return;
	}
	fl_fleet_decide_async(self->fleet, id, decision, note, source, token, fl_daemon_decide_cb,
			      g_object_ref(invocation));
}

static void
fl_daemon_decide_group_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GDBusMethodInvocation) invocation = user_data;
	g_auto(FlLocaleScope) scope = fl_daemon_enter_reply(invocation);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *message = fl_groups_decide_finish(FL_GROUPS(source), res, &error);
	g_autofree gchar *text = NULL;

	if (message == NULL) {
		fl_daemon_return_error(invocation, error);
		return;
	}
	/* a message kept as an FlMsg (fl_msg_serialize) is told in the caller's language */
	text = fl_msg_render_stored(message);
	g_dbus_method_invocation_return_value(invocation, g_variant_new("(s)", text));
}

static gboolean
fl_daemon_handle_decide_group(FlDbusFlotilla1 *skeleton, GDBusMethodInvocation *invocation,
			      const gchar *name, const gchar *decision, GVariant *options,
			      FlDaemon *self)
{
	g_auto(FlLocaleScope) scope = fl_daemon_enter_caller(self, invocation);
	g_autoptr(GError) error = NULL;
	const gchar *note = NULL;
	const gchar *source = "cli";

	if (fl_daemon_not_ready(self, invocation) ||
	    !fl_daemon_check_options(options, fl_daemon_group_options, invocation))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	g_variant_lookup(options, "note", "&s", &note);
	g_variant_lookup(options, "source", "&s", &source);
	if (g_strcmp0(source, "cli") != 0 && g_strcmp0(source, "notification") != 0) {
		fl_set_error(&error, FL_ERROR_INVALID_ARGUMENT, N_("unknown source '%s'"), source);
		fl_daemon_return_error(invocation, error);
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	}
	if (g_strcmp0(decision, "approve") != 0 && g_strcmp0(decision, "reject") != 0) {
		fl_set_error(&error, FL_ERROR_INVALID_ARGUMENT,
			     N_("a group is approved or rejected, not '%s'"), decision);
		fl_daemon_return_error(invocation, error);
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	}
	fl_groups_decide_async(self->groups, name,
			       g_strcmp0(decision, "approve") == 0 ? FL_DECISION_APPROVE
								   : FL_DECISION_REJECT,
			       note, source, fl_daemon_decide_group_cb, g_object_ref(invocation));
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
fl_daemon_handle_get_group(FlDbusFlotilla1 *skeleton, GDBusMethodInvocation *invocation,
			   const gchar *name, FlDaemon *self)
{
	g_auto(FlLocaleScope) scope = fl_daemon_enter_caller(self, invocation);
	g_autoptr(GError) error = NULL;
	GVariant *group;

	if (fl_daemon_not_ready(self, invocation))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	group = fl_groups_describe(self->groups, name, &error);
	if (group == NULL)
		fl_daemon_return_error(invocation, error);
	else
		fl_dbus_flotilla1_complete_get_group(skeleton, invocation, group);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
fl_daemon_handle_approve(FlDbusFlotilla1 *skeleton, GDBusMethodInvocation *invocation, guint id,
			 GVariant *options, FlDaemon *self)
{
	fl_daemon_decide(self, invocation, id, options, FL_DECISION_APPROVE);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
fl_daemon_handle_reject(FlDbusFlotilla1 *skeleton, GDBusMethodInvocation *invocation, guint id,
			GVariant *options, FlDaemon *self)
{
	fl_daemon_decide(self, invocation, id, options, FL_DECISION_REJECT);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
fl_daemon_handle_revert(FlDbusFlotilla1 *skeleton, GDBusMethodInvocation *invocation, guint id,
			GVariant *options, FlDaemon *self)
{
	fl_daemon_decide(self, invocation, id, options, FL_DECISION_REVERT);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
fl_daemon_handle_refresh(FlDbusFlotilla1 *skeleton, GDBusMethodInvocation *invocation, guint id,
			 GVariant *options, FlDaemon *self)
{
	fl_daemon_decide(self, invocation, id, options, FL_DECISION_REFRESH);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
fl_daemon_handle_reply(FlDbusFlotilla1 *skeleton, GDBusMethodInvocation *invocation, guint id,
		       const gchar *text, FlDaemon *self)
{
	g_auto(FlLocaleScope) scope = fl_daemon_enter_caller(self, invocation);
	g_autoptr(GError) error = NULL;

	if (fl_daemon_not_ready(self, invocation))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	if (!fl_fleet_reply(self->fleet, id, text, &error))
		fl_daemon_return_error(invocation, error);
	else
		fl_dbus_flotilla1_complete_reply(skeleton, invocation);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
fl_daemon_block_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GDBusMethodInvocation) invocation = user_data;
	g_auto(FlLocaleScope) scope = fl_daemon_enter_reply(invocation);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = fl_fleet_block_finish(FL_FLEET(source), res, &error);

	if (reply == NULL)
		fl_daemon_return_error(invocation, error);
	else
		g_dbus_method_invocation_return_value(invocation, g_variant_new("(s)", reply));
}

static gboolean
fl_daemon_handle_block(FlDbusFlotilla1 *skeleton, GDBusMethodInvocation *invocation, guint id,
		       const gchar *message, FlDaemon *self)
{
	g_auto(FlLocaleScope) scope = fl_daemon_enter_caller(self, invocation);
	g_autoptr(GError) error = NULL;

	if (fl_daemon_not_ready(self, invocation))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	if (message[0] == '\0' || strlen(message) > 4096) {
		fl_set_error_literal(&error, FL_ERROR_INVALID_ARGUMENT,
				     N_("a question is 1 to 4096 bytes"));
		fl_daemon_return_error(invocation, error);
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	}
	fl_fleet_block_async(self->fleet, id, message, fl_daemon_block_cb,
			     g_object_ref(invocation));
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
fl_daemon_handle_get_events(FlDbusFlotilla1 *skeleton, GDBusMethodInvocation *invocation, guint id,
			    FlDaemon *self)
{
	g_auto(FlLocaleScope) scope = fl_daemon_enter_caller(self, invocation);
	g_autoptr(GError) error = NULL;
	g_autoptr(FlSessionData) d = NULL;
	GVariant *v;

	if (fl_daemon_not_ready(self, invocation))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	d = fl_store_get_session(self->store, id, &error);
	v = d != NULL ? fl_store_get_events(self->store, id, &error) : NULL;
	if (v == NULL)
		fl_daemon_return_error(invocation, error);
	else
		fl_dbus_flotilla1_complete_get_events(skeleton, invocation, v);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* GetStatus waits for every cluster's answer (sinfo, in parallel) before it answers */
typedef struct {
	FlDbusFlotilla1 *skeleton;         /* (owned) */
	GDBusMethodInvocation *invocation; /* (owned) */
	GVariant *status;                  /* (owned) what does not depend on the clusters */
	GPtrArray *clusters;               /* (owned) GVariant a{sv} per cluster, in order */
	guint pending;
} FlStatusCtx;

typedef struct {
	FlStatusCtx *ctx;
	guint index;
	gchar *name;
	guint running;
} FlStatusPing;

static void
fl_daemon_status_answer(FlStatusCtx *ctx)
{
	GVariantBuilder b;
	GVariantIter iter;
	const gchar *key;
	GVariant *value;

	g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
	g_variant_iter_init(&iter, ctx->status);
	while (g_variant_iter_next(&iter, "{&sv}", &key, &value)) {
		g_variant_builder_add(&b, "{sv}", key, value);
		g_variant_unref(value);
	}
	g_variant_builder_add(&b, "{sv}", "clusters",
			      g_variant_new_array(G_VARIANT_TYPE("a{sv}"),
						  (GVariant **)ctx->clusters->pdata,
						  ctx->clusters->len));
	fl_dbus_flotilla1_complete_get_status(ctx->skeleton, ctx->invocation,
					      g_variant_builder_end(&b));
	g_object_unref(ctx->skeleton);
	g_object_unref(ctx->invocation);
	g_variant_unref(ctx->status);
	g_ptr_array_unref(ctx->clusters);
	g_free(ctx);
}

static void
fl_daemon_status_ping_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	FlStatusPing *ping = user_data;
	FlStatusCtx *ctx = ping->ctx;
	g_auto(FlLocaleScope) scope = fl_daemon_enter_reply(ctx->invocation);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *text = fl_slurm_ping_finish(res, &error);
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
	g_variant_builder_add(&b, "{sv}", "name", g_variant_new_string(ping->name));
	g_variant_builder_add(&b, "{sv}", "kind", g_variant_new_string("slurm"));
	/* a partition Slurm does not know is reachable but of no use: say so, not "down" */
	g_variant_builder_add(
		&b, "{sv}", "reachable",
		g_variant_new_boolean(text != NULL || !g_error_matches(error, G_IO_ERROR,
								       G_IO_ERROR_NOT_CONNECTED)));
	g_variant_builder_add(&b, "{sv}", "status",
			      g_variant_new_take_string(text != NULL ? g_steal_pointer(&text)
								     : fl_error_render(error)));
	g_variant_builder_add(&b, "{sv}", "running", g_variant_new_uint32(ping->running));
	g_ptr_array_index(ctx->clusters, ping->index) =
		g_variant_ref_sink(g_variant_builder_end(&b));
	g_free(ping->name);
	g_free(ping);
	if (--ctx->pending == 0)
		fl_daemon_status_answer(ctx);
}

static gboolean
fl_daemon_handle_get_status(FlDbusFlotilla1 *skeleton, GDBusMethodInvocation *invocation,
			    FlDaemon *self)
{
	g_auto(FlLocaleScope) scope = fl_daemon_enter_caller(self, invocation);
	g_autoptr(GList) clusters = NULL;
	FlStatusCtx *ctx;
	guint i = 0;
	g_autofree gchar *held = NULL;
	g_autoptr(GDateTime) next = NULL;
	GVariantBuilder b;

	if (fl_daemon_not_ready(self, invocation))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	held = fl_fleet_get_held_reason(self->fleet);
	next = fl_checkin_get_next(self->checkin);
	g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
	g_variant_builder_add(&b, "{sv}", "version", g_variant_new_string(PACKAGE_VERSION));
	g_variant_builder_add(&b, "{sv}", "running",
			      g_variant_new_uint32(fl_fleet_get_running(self->fleet)));
	g_variant_builder_add(&b, "{sv}", "queued",
			      g_variant_new_uint32(fl_fleet_get_queued(self->fleet)));
	g_variant_builder_add(&b, "{sv}", "blocked",
			      g_variant_new_uint32(fl_fleet_get_blocked(self->fleet)));
	g_variant_builder_add(&b, "{sv}", "unreviewed",
			      g_variant_new_uint32(fl_store_count_pending_review(self->store)));
	g_variant_builder_add(&b, "{sv}", "max_parallel",
			      g_variant_new_uint32(self->config->max_parallel));
	g_variant_builder_add(&b, "{sv}", "max_unreviewed",
			      g_variant_new_uint32(self->config->max_unreviewed));
	g_variant_builder_add(&b, "{sv}", "state_dir",
			      g_variant_new_string(fl_store_get_state_dir(self->store)));
	g_variant_builder_add(&b, "{sv}", "confinement",
			      g_variant_new_string(!self->config->confinement        ? "off"
						   : self->confinement_error != NULL ? "unavailable"
										     : "bwrap"));
	if (self->config->confinement && self->confinement_error != NULL)
		g_variant_builder_add(&b, "{sv}", "confinement_error",
				      g_variant_new_string(self->confinement_error));
	if (held != NULL)
		g_variant_builder_add(&b, "{sv}", "held", g_variant_new_string(held));
	g_variant_builder_add(&b, "{sv}", "paused",
			      g_variant_new_boolean(fl_fleet_get_paused(self->fleet)));
	if (self->config->daily_budget > 0) {
		g_variant_builder_add(&b, "{sv}", "daily_budget",
				      g_variant_new_double(self->config->daily_budget));
		g_variant_builder_add(&b, "{sv}", "spent_today",
				      g_variant_new_double(fl_fleet_get_spent_today(self->fleet)));
	}
	if (fl_fleet_get_store_error(self->fleet) != NULL)
		g_variant_builder_add(&b, "{sv}", "store_error",
				      g_variant_new_string(fl_fleet_get_store_error(self->fleet)));
	if (next != NULL) {
		g_autofree gchar *iso = g_date_time_format(next, "%Y-%m-%dT%H:%M:%S%:z");
		g_variant_builder_add(&b, "{sv}", "next_checkin", g_variant_new_string(iso));
	}
	clusters = fl_config_get_cluster_names(self->config);
	if (clusters == NULL) {
		fl_dbus_flotilla1_complete_get_status(skeleton, invocation,
						      g_variant_builder_end(&b));
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	}
	ctx = g_new0(FlStatusCtx, 1);
	ctx->skeleton = g_object_ref(skeleton);
	ctx->invocation = g_object_ref(invocation);
	ctx->status = g_variant_ref_sink(g_variant_builder_end(&b));
	ctx->clusters = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
	g_ptr_array_set_size(ctx->clusters, g_list_length(clusters));
	ctx->pending = ctx->clusters->len;
	for (GList *l = clusters; l != NULL; l = l->next, i++) {
		const FlClusterConfig *cluster = fl_config_get_cluster(self->config, l->data);
		FlStatusPing *ping = g_new0(FlStatusPing, 1);

		ping->ctx = ctx;
		ping->index = i;
		ping->name = g_strdup(cluster->name);
		ping->running = fl_fleet_get_running_on(self->fleet, cluster->name);
		fl_slurm_ping_async(cluster->partition, NULL, fl_daemon_status_ping_cb, ping);
	}
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
fl_daemon_set_paused(FlDaemon *self, GDBusMethodInvocation *invocation, GVariant *options,
		     gboolean paused)
{
	g_auto(FlLocaleScope) scope = fl_daemon_enter_caller(self, invocation);
	g_autoptr(GError) error = NULL;
	const gchar *group = NULL;

	if (fl_daemon_not_ready(self, invocation) ||
	    !fl_daemon_check_options(options, fl_daemon_pause_options, invocation))
		return;
	if (g_variant_lookup(options, "group", "&s", &group)) {
		if (!fl_fleet_set_group_paused(self->fleet, group, paused, &error))
			fl_daemon_return_error(invocation, error);
		else
			g_dbus_method_invocation_return_value(invocation, NULL);
		return;
	}
	if (!fl_fleet_set_paused(self->fleet, paused, &error))
		fl_daemon_return_error(invocation, error);
	else
		g_dbus_method_invocation_return_value(invocation, NULL);
}

static gboolean
fl_daemon_handle_pause(FlDbusFlotilla1 *skeleton, GDBusMethodInvocation *invocation,
		       GVariant *options, FlDaemon *self)
{
	fl_daemon_set_paused(self, invocation, options, TRUE);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
fl_daemon_handle_resume(FlDbusFlotilla1 *skeleton, GDBusMethodInvocation *invocation,
			GVariant *options, FlDaemon *self)
{
	fl_daemon_set_paused(self, invocation, options, FALSE);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/*
 * Writes [fleet] @name=@value into the configuration file, keeping the user's comments and
 * everything else, so that the next start (or a look at the file) agrees with what runs.
 */
static gboolean
fl_daemon_save_limit(FlDaemon *self, const gchar *name, guint value, GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *data = NULL;
	g_autofree gchar *dir = NULL;
	gsize len = 0;

	if (self->config->path == NULL) {
		fl_set_error_literal(error, FL_ERROR_FAILED,
				     N_("flotillad runs without a configuration file to save to"));
		return FALSE;
	}
	if (!g_key_file_load_from_file(kf, self->config->path,
				       G_KEY_FILE_KEEP_COMMENTS | G_KEY_FILE_KEEP_TRANSLATIONS,
				       &error_local) &&
	    !g_error_matches(error_local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
		fl_set_error(error, FL_ERROR_FAILED, N_("cannot read %s: %s"), self->config->path,
			     error_local->message);
		return FALSE;
	}
	g_key_file_set_uint64(kf, "fleet", name, value);
	data = g_key_file_to_data(kf, &len, NULL);
	dir = g_path_get_dirname(self->config->path);
	return fl_ensure_dir(dir, error) &&
	       fl_write_file_durable(self->config->path, data, (gssize)len, error);
}

static gboolean
fl_daemon_handle_set_limit(FlDbusFlotilla1 *skeleton, GDBusMethodInvocation *invocation,
			   const gchar *name, guint value, FlDaemon *self)
{
	g_auto(FlLocaleScope) scope = fl_daemon_enter_caller(self, invocation);
	g_autoptr(GError) error = NULL;
	guint *field;
	guint min;
	guint max;

	if (fl_daemon_not_ready(self, invocation))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	/* the same ranges as in the file (fl-config.c) */
	if (g_strcmp0(name, "max-parallel") == 0) {
		field = &self->config->max_parallel;
		min = 1;
		max = 256;
	} else if (g_strcmp0(name, "max-unreviewed") == 0) {
		field = &self->config->max_unreviewed;
		min = 0;
		max = 10000;
	} else {
		fl_set_error(&error, FL_ERROR_INVALID_ARGUMENT,
			     N_("unknown setting '%s' (max-parallel or max-unreviewed)"), name);
		fl_daemon_return_error(invocation, error);
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	}
	if (value < min || value > max) {
		fl_set_error(&error, FL_ERROR_INVALID_ARGUMENT,
			     N_("%s is a whole number from %u to %u"), name, min, max);
		fl_daemon_return_error(invocation, error);
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	}
	if (!fl_daemon_save_limit(self, name, value, &error)) {
		fl_daemon_return_error(invocation, error);
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	}
	g_message("%s set to %u", name, value);
	*field = value;
	fl_fleet_kick(self->fleet);
	fl_dbus_flotilla1_complete_set_limit(skeleton, invocation);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ------------------------------------------------------------------ reload */

gchar **
fl_daemon_reload(FlDaemon *self, GError **error)
{
	g_autoptr(FlConfig) config = NULL;
	g_autoptr(GPtrArray) notes = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error_local = NULL;
	FlConfig swap;

	g_return_val_if_fail(FL_IS_DAEMON(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	config = fl_config_load(self->config->path, &error_local);
	if (config == NULL) {
		/* one line: the reason names the file, group and key; what runs stays */
		g_autofree gchar *line =
			fl_text_clean(error_local->message, -1, FL_TEXT_COLLAPSE_SPACE);
		g_set_error_literal(error, FL_ERROR, FL_ERROR_FAILED, line);
		return NULL;
	}
	/* confinement was probed once, at the start; running sessions are confined or not by
	 * what their runner set up, so the switch waits for the next start */
	if (config->confinement != self->config->confinement) {
		config->confinement = self->config->confinement;
		g_ptr_array_add(notes, g_strdup(_("confinement= takes effect when flotillad "
						  "restarts")));
	}
	/* the fleet, the check-ins and every session hold self->config: its contents change,
	 * the pointer stays; the old contents live on for the sessions that use them */
	swap = *self->config;
	*self->config = *config;
	*config = swap;
	g_ptr_array_add(self->retired, g_steal_pointer(&config));
	if (self->started)
		fl_checkin_reschedule(self->checkin);
	fl_fleet_kick(self->fleet);
	g_message("configuration reloaded from %s", self->config->path);
	g_ptr_array_add(notes, NULL);
	return (gchar **)g_ptr_array_steal(notes, NULL);
}

static gboolean
fl_daemon_handle_reload(FlDbusFlotilla1 *skeleton, GDBusMethodInvocation *invocation,
			GVariant *options, FlDaemon *self)
{
	g_auto(FlLocaleScope) scope = fl_daemon_enter_caller(self, invocation);
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) notes = NULL;

	if (fl_daemon_not_ready(self, invocation) ||
	    !fl_daemon_check_options(options, fl_daemon_reload_options, invocation))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	notes = fl_daemon_reload(self, &error);
	if (notes == NULL) {
		g_warning("reload: %s", error->message);
		fl_daemon_return_error(invocation, error);
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	}
	fl_dbus_flotilla1_complete_reload(skeleton, invocation, (const gchar *const *)notes);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ------------------------------------------------------------------ clean */

static void
fl_daemon_clean_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GDBusMethodInvocation) invocation = user_data;
	g_auto(FlLocaleScope) scope = fl_daemon_enter_reply(invocation);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) removed = fl_clean_finish(res, &error);

	if (removed == NULL) {
		fl_daemon_return_error(invocation, error);
		return;
	}
	g_dbus_method_invocation_return_value(
		invocation,
		g_variant_new("(@aa{sv})",
			      g_variant_new_array(G_VARIANT_TYPE_VARDICT,
						  (GVariant **)removed->pdata, removed->len)));
}

static gboolean
fl_daemon_handle_clean(FlDbusFlotilla1 *skeleton, GDBusMethodInvocation *invocation,
		       GVariant *options, FlDaemon *self)
{
	g_auto(FlLocaleScope) scope = fl_daemon_enter_caller(self, invocation);
	FlCleanOptions clean = {G_MAXINT64, NULL, FALSE};
	guint64 older_than = 0;

	if (fl_daemon_not_ready(self, invocation) ||
	    !fl_daemon_check_options(options, fl_daemon_clean_options, invocation))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	g_variant_lookup(options, "dry_run", "b", &clean.dry_run);
	g_variant_lookup(options, "state", "&s", &clean.state);
	if (clean.state != NULL && !g_strv_contains(fl_clean_states, clean.state)) {
		g_autofree gchar *known = g_strjoinv(", ", (gchar **)fl_clean_states);
		g_autoptr(GError) error = NULL;

		fl_set_error(&error, FL_ERROR_INVALID_ARGUMENT, N_("unknown state '%s' (%s)"),
			     clean.state, known);
		fl_daemon_return_error(invocation, error);
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	}
	if (g_variant_lookup(options, "older_than", "t", &older_than)) {
		/* beyond any date a session could have: every one is older */
		if (older_than > (guint64)(G_MAXINT64 / G_USEC_PER_SEC) / 2)
			older_than = (guint64)(G_MAXINT64 / G_USEC_PER_SEC) / 2;
		clean.finished_before = fl_now() - (gint64)older_than * G_USEC_PER_SEC;
	}
	/* the invocation keeps the options (and clean.state) alive until the answer */
	fl_clean_async(self->store, &clean, NULL, fl_daemon_clean_cb, g_object_ref(invocation));
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
fl_daemon_handle_checkin(FlDbusFlotilla1 *skeleton, GDBusMethodInvocation *invocation,
			 GVariant *options, FlDaemon *self)
{
	g_auto(FlLocaleScope) scope = fl_daemon_enter_caller(self, invocation);
	g_autoptr(GVariantDict) dict = g_variant_dict_new(options);
	g_autofree gchar *text = NULL;
	gboolean deliver = FALSE;

	if (fl_daemon_not_ready(self, invocation))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	if (!fl_daemon_check_options(options, fl_daemon_checkin_options, invocation))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	g_variant_dict_lookup(dict, "deliver", "b", &deliver);
	text = fl_checkin_digest_text(self->checkin, deliver);
	fl_dbus_flotilla1_complete_checkin(skeleton, invocation, text);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
fl_daemon_handle_review_items(FlDbusFlotilla1 *skeleton, GDBusMethodInvocation *invocation,
			      FlDaemon *self)
{
	g_auto(FlLocaleScope) scope = fl_daemon_enter_caller(self, invocation);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) datas = NULL;
	GVariantBuilder b;

	if (fl_daemon_not_ready(self, invocation))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	datas = fl_checkin_review_items(self->checkin, &error);
	if (datas == NULL) {
		fl_daemon_return_error(invocation, error);
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	}
	g_variant_builder_init(&b, G_VARIANT_TYPE("aa{sv}"));
	for (guint i = 0; i < datas->len; i++) {
		FlSessionData *d = g_ptr_array_index(datas, i);
		g_autoptr(GVariant) v = g_variant_ref_sink(
			fl_session_data_to_variant(d, fl_store_get_state_dir(self->store)));
		g_autoptr(GVariantDict) dict = g_variant_dict_new(v);
		gboolean permission = FALSE;

		/* a permission request is answered yes or no, a question with text */
		if (d->state == FL_STATE_BLOCKED &&
		    fl_fleet_get_request(self->fleet, d->id, &permission) != 0 && permission)
			g_variant_dict_insert(dict, "permission", "b", TRUE);
		g_variant_builder_add_value(&b, g_variant_dict_end(dict));
	}
	fl_dbus_flotilla1_complete_review_items(skeleton, invocation, g_variant_builder_end(&b));
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
fl_daemon_hook_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GDBusMethodInvocation) invocation = user_data;
	g_auto(FlLocaleScope) scope = fl_daemon_enter_reply(invocation);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *response = fl_fleet_hook_finish(FL_FLEET(source), res, &error);

	if (response == NULL)
		fl_daemon_return_error(invocation, error);
	else
		g_dbus_method_invocation_return_value(invocation, g_variant_new("(s)", response));
}

static gboolean
fl_daemon_handle_hook(FlDbusFlotilla1 *skeleton, GDBusMethodInvocation *invocation,
		      const gchar *agent, guint id, const gchar *payload, FlDaemon *self)
{
	g_auto(FlLocaleScope) scope = fl_daemon_enter_caller(self, invocation);
	if (fl_daemon_not_ready(self, invocation))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	fl_fleet_hook_async(self->fleet, agent, id, payload, fl_daemon_hook_cb,
			    g_object_ref(invocation));
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ------------------------------------------------------------------ bus */

static void
fl_daemon_session_changed_cb(FlFleet *fleet, const FlSessionData *d, gpointer user_data)
{
	FlDaemon *self = user_data;
	g_autoptr(GVariant) props = g_variant_ref_sink(
		fl_session_data_to_variant(d, fl_store_get_state_dir(self->store)));
	g_autoptr(GVariant) decorated = fl_daemon_decorate(self, props, NULL);

	if (decorated != NULL)
		g_variant_ref_sink(decorated);
	fl_dbus_flotilla1_emit_session_changed(self->skeleton, d->id, fl_state_to_string(d->state),
					       decorated != NULL ? decorated : props);
	/* a draft entering or leaving review changes how the others of its branch stand */
	fl_coordination_session_changed(self->coordination, d->id, d->repo, d->base, d->review);
	/* a refreshed draft stands on another base commit than it was last checked on */
	if (d->review == FL_REVIEW_PENDING && d->base_commit != NULL) {
		const FlOverlap *o = fl_coordination_lookup(self->coordination, d->id);

		if (o != NULL && o->stale != (g_strcmp0(o->tip, d->base_commit) != 0))
			fl_coordination_recheck(self->coordination, d->repo, d->base, 0);
	}
}

/* what the coordination says about a pending draft changed: tell the clients */
static void
fl_daemon_coordination_changed_cb(FlCoordination *coordination, guint id, gpointer user_data)
{
	FlDaemon *self = user_data;
	g_autoptr(FlSessionData) d = fl_fleet_get_session(self->fleet, id, NULL);
	g_autoptr(GVariant) v = NULL;
	g_autoptr(GVariant) decorated = NULL;

	if (d == NULL)
		return;
	v = g_variant_ref_sink(fl_session_data_to_variant(d, fl_store_get_state_dir(self->store)));
	decorated = fl_daemon_decorate(self, v, NULL);
	if (decorated != NULL)
		g_variant_ref_sink(decorated);
	fl_dbus_flotilla1_emit_session_changed(self->skeleton, id, fl_state_to_string(d->state),
					       decorated != NULL ? decorated : v);
}

static void
fl_daemon_bus_acquired_cb(GDBusConnection *connection, const gchar *name, gpointer user_data)
{
	FlDaemon *self = user_data;
	g_autoptr(GError) error = NULL;

	g_set_object(&self->connection, connection);
	/* before the first call can arrive */
	self->filter_id = g_dbus_connection_add_filter(connection, fl_daemon_filter_cb,
						       g_hash_table_ref(self->locales),
						       (GDestroyNotify)g_hash_table_unref);
	self->name_owner_id = g_dbus_connection_signal_subscribe(
		connection, "org.freedesktop.DBus", "org.freedesktop.DBus", "NameOwnerChanged",
		"/org/freedesktop/DBus", NULL, G_DBUS_SIGNAL_FLAGS_NONE,
		fl_daemon_name_owner_changed_cb, self, NULL);
	if (!g_dbus_interface_skeleton_export(G_DBUS_INTERFACE_SKELETON(self->skeleton), connection,
					      FL_OBJECT_PATH, &error)) {
		g_warning("cannot export %s: %s", FL_OBJECT_PATH, error->message);
		g_signal_emit(self, signals[SIGNAL_QUIT], 0, 1);
	}
}

static void
fl_daemon_name_acquired_cb(GDBusConnection *connection, const gchar *name, gpointer user_data)
{
	FlDaemon *self = user_data;

	if (self->started)
		return;
	self->started = TRUE;
	/* only now: a daemon that lost the race must not touch running sessions */
	fl_fleet_start(self->fleet);
	/* after the fleet's own recovery, so each member's half-done merge is settled first */
	fl_groups_recover(self->groups);
	fl_coordination_start(self->coordination);
	fl_checkin_start(self->checkin);
	/* a clean a killed daemon left is finished before another can begin */
	fl_clean_recover(self->store);
	{
		g_autoptr(GDateTime) next = fl_checkin_get_next(self->checkin);
		g_autofree gchar *when = next != NULL ? g_date_time_format(next, "%F %R") : NULL;
		g_message("flotillad %s owns %s: %u running, %u queued; next check-in %s",
			  PACKAGE_VERSION, name, fl_fleet_get_running(self->fleet),
			  fl_fleet_get_queued(self->fleet), when != NULL ? when : "none");
	}
}

static void
fl_daemon_name_lost_cb(GDBusConnection *connection, const gchar *name, gpointer user_data)
{
	FlDaemon *self = user_data;

	fl_fleet_stop(self->fleet);
	if (connection == NULL)
		g_warning("cannot connect to the session bus");
	else if (self->started)
		g_message("replaced by another flotillad; sessions keep running");
	else
		g_warning("another flotillad owns %s (use --replace to take over)", name);
	g_signal_emit(self, signals[SIGNAL_QUIT], 0, self->started ? 0 : 1);
}

static void
fl_daemon_store_checked_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	FlDaemon *self = user_data;
	g_autoptr(GError) error = NULL;

	/* cancelled: the daemon is gone already */
	if (fl_store_check_finish(FL_STORE(source), res, &error) ||
	    g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	/* nothing more is read from or written to a store that cannot be trusted */
	fl_fleet_stop(self->fleet);
	g_warning("%s", error->message);
	g_signal_emit(self, signals[SIGNAL_QUIT], 0, 1);
}

void
fl_daemon_start(FlDaemon *self, gboolean replace)
{
	GBusNameOwnerFlags flags = G_BUS_NAME_OWNER_FLAGS_ALLOW_REPLACEMENT;

	g_return_if_fail(FL_IS_DAEMON(self));

	fl_store_check_async(self->store, self->cancellable, fl_daemon_store_checked_cb, self);
	if (replace)
		flags |= G_BUS_NAME_OWNER_FLAGS_REPLACE;
	self->owner_id =
		g_bus_own_name(G_BUS_TYPE_SESSION, FL_BUS_NAME, flags, fl_daemon_bus_acquired_cb,
			       fl_daemon_name_acquired_cb, fl_daemon_name_lost_cb, self, NULL);
}

FlDaemon *
fl_daemon_new(FlConfig *config, const gchar *state_dir, GError **error)
{
	g_autoptr(FlDaemon) self = NULL;
	g_autofree gchar *runner = NULL;
	g_autofree gchar *http = NULL;

	g_return_val_if_fail(config != NULL, NULL);
	g_return_val_if_fail(state_dir != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	self = g_object_new(FL_TYPE_DAEMON, NULL);
	runner = fl_find_helper("FLOTILLA_RUNNER", "flotilla-runner", LIBEXECDIR);
	http = fl_find_helper("FLOTILLA_HTTP", "flotilla-http", LIBEXECDIR);
	self->config = config;
	self->store = fl_store_new(state_dir, error);
	if (self->store == NULL)
		return NULL;
	if (self->config->confinement) {
		g_autoptr(GError) error_local = NULL;

		/* once, before the main loop runs: bwrap answers in milliseconds */
		if (!fl_sandbox_probe(&error_local)) {
			g_warning("sessions cannot be confined: %s", error_local->message);
			self->confinement_error = g_strdup(error_local->message);
		}
	}
	self->fleet = fl_fleet_new(self->config, self->store, runner, http);
	self->groups = fl_groups_new(self->fleet, self->store);
	self->checkin = fl_checkin_new(self->fleet, self->store, self->config, http);
	fl_checkin_set_groups(self->checkin, self->groups);
	self->coordination = fl_coordination_new(self->store);
	fl_checkin_set_coordination(self->checkin, self->coordination);
	g_signal_connect(self->fleet, "session-changed", G_CALLBACK(fl_daemon_session_changed_cb),
			 self);
	g_signal_connect(self->coordination, "changed",
			 G_CALLBACK(fl_daemon_coordination_changed_cb), self);
	return g_steal_pointer(&self);
}

static void
fl_daemon_finalize(GObject *object)
{
	FlDaemon *self = FL_DAEMON(object);

	g_cancellable_cancel(self->cancellable);
	g_clear_object(&self->cancellable);
	if (self->owner_id != 0)
		g_bus_unown_name(self->owner_id);
	if (self->connection != NULL) {
		g_dbus_interface_skeleton_unexport(G_DBUS_INTERFACE_SKELETON(self->skeleton));
		g_dbus_connection_remove_filter(self->connection, self->filter_id);
		g_dbus_connection_signal_unsubscribe(self->connection, self->name_owner_id);
	}
	g_clear_object(&self->connection);
	g_hash_table_unref(self->locales);
	g_clear_object(&self->skeleton);
	g_clear_object(&self->checkin);
	if (self->coordination != NULL)
		g_signal_handlers_disconnect_by_data(self->coordination, self);
	g_clear_object(&self->coordination);
	if (self->fleet != NULL)
		g_signal_handlers_disconnect_by_data(self->fleet, self);
	g_clear_object(&self->groups);
	g_clear_object(&self->fleet);
	g_clear_object(&self->store);
	fl_config_free(self->config);
	g_ptr_array_unref(self->retired);
	g_free(self->confinement_error);
	G_OBJECT_CLASS(fl_daemon_parent_class)->finalize(object);
}

static void
fl_daemon_class_init(FlDaemonClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = fl_daemon_finalize;
	signals[SIGNAL_QUIT] = g_signal_new("quit", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
					    NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT);
}

static void
fl_daemon_init(FlDaemon *self)
{
	self->cancellable = g_cancellable_new();
	self->retired = g_ptr_array_new_with_free_func((GDestroyNotify)fl_config_free);
	/* the locale_t values belong to fl_locale_resolve()'s cache */
	self->locales = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	self->skeleton = fl_dbus_flotilla1_skeleton_new();
	fl_dbus_flotilla1_set_version(self->skeleton, PACKAGE_VERSION);
	g_signal_connect(self->skeleton, "g-authorize-method", G_CALLBACK(fl_daemon_authorize_cb),
			 self);
	g_signal_connect(self->skeleton, "handle-run", G_CALLBACK(fl_daemon_handle_run), self);
	g_signal_connect(self->skeleton, "handle-set-locale",
			 G_CALLBACK(fl_daemon_handle_set_locale), self);
	g_signal_connect(self->skeleton, "handle-run-batch", G_CALLBACK(fl_daemon_handle_run_batch),
			 self);
	g_signal_connect(self->skeleton, "handle-get-session",
			 G_CALLBACK(fl_daemon_handle_get_session), self);
	g_signal_connect(self->skeleton, "handle-list-sessions",
			 G_CALLBACK(fl_daemon_handle_list_sessions), self);
	g_signal_connect(self->skeleton, "handle-cancel", G_CALLBACK(fl_daemon_handle_cancel),
			 self);
	g_signal_connect(self->skeleton, "handle-dismiss", G_CALLBACK(fl_daemon_handle_dismiss),
			 self);
	g_signal_connect(self->skeleton, "handle-approve", G_CALLBACK(fl_daemon_handle_approve),
			 self);
	g_signal_connect(self->skeleton, "handle-reject", G_CALLBACK(fl_daemon_handle_reject),
			 self);
	g_signal_connect(self->skeleton, "handle-revert", G_CALLBACK(fl_daemon_handle_revert),
			 self);
	g_signal_connect(self->skeleton, "handle-refresh", G_CALLBACK(fl_daemon_handle_refresh),
			 self);
	g_signal_connect(self->skeleton, "handle-reply", G_CALLBACK(fl_daemon_handle_reply), self);
	g_signal_connect(self->skeleton, "handle-block", G_CALLBACK(fl_daemon_handle_block), self);
	g_signal_connect(self->skeleton, "handle-get-events",
			 G_CALLBACK(fl_daemon_handle_get_events), self);
	g_signal_connect(self->skeleton, "handle-get-status",
			 G_CALLBACK(fl_daemon_handle_get_status), self);
	g_signal_connect(self->skeleton, "handle-checkin", G_CALLBACK(fl_daemon_handle_checkin),
			 self);
	g_signal_connect(self->skeleton, "handle-review-items",
			 G_CALLBACK(fl_daemon_handle_review_items), self);
	g_signal_connect(self->skeleton, "handle-hook", G_CALLBACK(fl_daemon_handle_hook), self);
	g_signal_connect(self->skeleton, "handle-pause", G_CALLBACK(fl_daemon_handle_pause), self);
	g_signal_connect(self->skeleton, "handle-decide-group",
			 G_CALLBACK(fl_daemon_handle_decide_group), self);
	g_signal_connect(self->skeleton, "handle-get-group", G_CALLBACK(fl_daemon_handle_get_group),
			 self);
	g_signal_connect(self->skeleton, "handle-resume", G_CALLBACK(fl_daemon_handle_resume),
			 self);
	g_signal_connect(self->skeleton, "handle-reload", G_CALLBACK(fl_daemon_handle_reload),
			 self);
	g_signal_connect(self->skeleton, "handle-clean", G_CALLBACK(fl_daemon_handle_clean), self);
	g_signal_connect(self->skeleton, "handle-set-limit", G_CALLBACK(fl_daemon_handle_set_limit),
			 self);
}
