/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <stdio.h>
#include <sys/stat.h>

#include "fl-notifier.h"
#include "fl-test-harness.h"

/*
 * FlNotifier against python-dbusmock notification servers on a private bus. The bus also has
 * an activatable stub for org.freedesktop.Notifications that only leaves a marker file: the
 * notifier must never trigger D-Bus activation, so the marker must never appear.
 */

#define NOTIFY_NAME  "org.freedesktop.Notifications"
#define NOTIFY_PATH  "/org/freedesktop/Notifications"
#define NOTIFY_IFACE "org.freedesktop.Notifications"
#define MOCK_IFACE   "org.freedesktop.DBus.Mock"

#define FULL_CAPS "body body-markup actions persistence"

static GTestDBus *test_bus;
static gchar *activation_marker;

typedef struct {
	GDBusConnection *conn;
	guint watch_id;
	gchar *owner; /* current owner of org.freedesktop.Notifications */
	guint method_called_id;
	GPtrArray *methods_called; /* methods the mock reported through MethodCalled */
	GSubprocess *mock;
	FlNotifier *notifier;
	GPtrArray *log; /* every notifier signal, in order, as text */
	GArray *posted;
	GPtrArray *actions;     /* "handle:key" */
	GPtrArray *closed;      /* "handle:reason" */
	GArray *server_changes; /* gboolean */
	gboolean ticked;
} Fixture;

typedef struct {
	gchar *app_name;
	guint32 replaces_id;
	gchar *summary;
	gchar *body;
	gchar **actions;
	GVariant *hints;
	gint32 timeout;
} NotifyCall;

static void
notify_call_clear(NotifyCall *call)
{
	g_free(call->app_name);
	g_free(call->summary);
	g_free(call->body);
	g_strfreev(call->actions);
	g_clear_pointer(&call->hints, g_variant_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(NotifyCall, notify_call_clear)

static guint
timeout_ms(void)
{
	return g_getenv("FL_TEST_VALGRIND") != NULL ? 100000 : 10000;
}

/* ---------------------------------------------------------------------------------------------- */
/* waiting */

typedef struct {
	const guint *value;
	guint target;
} CountWait;

static gboolean
count_reached(gpointer user_data)
{
	CountWait *wait = user_data;

	return *wait->value >= wait->target;
}

static void
wait_count(const guint *value, guint target)
{
	CountWait wait = {value, target};

	g_assert_true(fl_test_wait_for(count_reached, &wait, timeout_ms()));
}

static gboolean
flag_set(gpointer user_data)
{
	return *(gboolean *)user_data;
}

typedef struct {
	Fixture *f;
	const gchar *old_owner; /* wait for an owner other than this one (NULL: any) */
	gboolean want_owner;
} OwnerWait;

static gboolean
owner_reached(gpointer user_data)
{
	OwnerWait *wait = user_data;

	if (!wait->want_owner)
		return wait->f->owner == NULL;
	return wait->f->owner != NULL && g_strcmp0(wait->f->owner, wait->old_owner) != 0;
}

static guint
methods_called_count(Fixture *f, const gchar *method)
{
	guint n = 0;

	for (guint i = 0; i < f->methods_called->len; i++) {
		if (g_strcmp0(g_ptr_array_index(f->methods_called, i), method) == 0)
			n++;
	}
	return n;
}

typedef struct {
	Fixture *f;
	const gchar *method;
	guint target;
} MethodWait;

static gboolean
method_reached(gpointer user_data)
{
	MethodWait *wait = user_data;

	return methods_called_count(wait->f, wait->method) >= wait->target;
}

static void
wait_method_called(Fixture *f, const gchar *method, guint target)
{
	MethodWait wait = {f, method, target};

	g_assert_true(fl_test_wait_for(method_reached, &wait, timeout_ms()));
}

/* ---------------------------------------------------------------------------------------------- */
/* the mock server */

static void
name_appeared_cb(GDBusConnection *conn, const gchar *name, const gchar *owner, gpointer user_data)
{
	Fixture *f = user_data;

	g_free(f->owner);
	f->owner = g_strdup(owner);
}

static void
name_vanished_cb(GDBusConnection *conn, const gchar *name, gpointer user_data)
{
	Fixture *f = user_data;

	g_clear_pointer(&f->owner, g_free);
}

static void
method_called_cb(GDBusConnection *conn, const gchar *sender, const gchar *path, const gchar *iface,
		 const gchar *signal, GVariant *params, gpointer user_data)
{
	Fixture *f = user_data;
	const gchar *method = NULL;

	g_variant_get_child(params, 0, "&s", &method);
	g_ptr_array_add(f->methods_called, g_strdup(method));
}

static void
mock_spawn(Fixture *f, const gchar *const *argv)
{
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *old_owner = g_strdup(f->owner);
	OwnerWait wait = {f, NULL, TRUE};

	g_assert_null(f->mock);
	g_assert_null(f->owner);
	launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
	g_subprocess_launcher_setenv(launcher, "DBUS_SESSION_BUS_ADDRESS",
				     g_test_dbus_get_bus_address(test_bus), TRUE);
	f->mock = g_subprocess_launcher_spawnv(launcher, argv, &error);
	g_assert_no_error(error);
	wait.old_owner = old_owner;
	g_assert_true(fl_test_wait_for(owner_reached, &wait, timeout_ms()));
}

static const gchar *
python(void)
{
	const gchar *py = g_getenv("FL_TEST_PYTHON");

	return py != NULL ? py : "/usr/bin/python3";
}

static void
mock_start(Fixture *f, const gchar *caps)
{
	g_autofree gchar *params = g_strdup_printf("{\"capabilities\": \"%s\"}", caps);
	const gchar *argv[] = {
		python(),       "-m",   "dbusmock", "--template", "notification_daemon",
		"--parameters", params, NULL};

	mock_spawn(f, argv);
}

static void
mock_stop(Fixture *f)
{
	OwnerWait wait = {f, NULL, FALSE};

	if (f->mock == NULL)
		return;
	g_subprocess_force_exit(f->mock);
	g_assert_true(g_subprocess_wait(f->mock, NULL, NULL));
	g_clear_object(&f->mock);
	g_assert_true(fl_test_wait_for(owner_reached, &wait, timeout_ms()));
}

/* calls the current owner by its unique name: a test must not trigger activation either */
static GVariant *
mock_call(Fixture *f, const gchar *iface, const gchar *method, GVariant *params, const gchar *type)
{
	g_autoptr(GError) error = NULL;
	GVariant *reply;

	g_assert_nonnull(f->owner);
	reply = g_dbus_connection_call_sync(f->conn, f->owner, NOTIFY_PATH, iface, method, params,
					    type != NULL ? G_VARIANT_TYPE(type) : NULL,
					    G_DBUS_CALL_FLAGS_NO_AUTO_START, (gint)timeout_ms(),
					    NULL, &error);
	g_assert_no_error(error);
	return reply;
}

static void
mock_emit(Fixture *f, const gchar *signal, const gchar *signature, GVariant *args)
{
	g_autoptr(GVariant) reply = NULL;

	reply = mock_call(f, MOCK_IFACE, "EmitSignal",
			  g_variant_new("(sss@av)", NOTIFY_IFACE, signal, signature, args), NULL);
}

static void
mock_emit_action(Fixture *f, guint32 id, const gchar *key)
{
	GVariant *args[] = {g_variant_new_variant(g_variant_new_uint32(id)),
			    g_variant_new_variant(g_variant_new_string(key))};

	mock_emit(f, "ActionInvoked", "us", g_variant_new_array(G_VARIANT_TYPE_VARIANT, args, 2));
}

static void
mock_emit_closed(Fixture *f, guint32 id, guint32 reason)
{
	GVariant *args[] = {g_variant_new_variant(g_variant_new_uint32(id)),
			    g_variant_new_variant(g_variant_new_uint32(reason))};

	mock_emit(f, "NotificationClosed", "uu",
		  g_variant_new_array(G_VARIANT_TYPE_VARIANT, args, 2));
}

/* the arguments of every call of @method the mock received, oldest first: a(tav) */
static GVariant *
mock_method_calls(Fixture *f, const gchar *method)
{
	g_autoptr(GVariant) reply = mock_call(f, MOCK_IFACE, "GetMethodCalls",
					      g_variant_new("(s)", method), "(a(tav))");

	return g_variant_get_child_value(reply, 0);
}

/* the @index-th argument of a recorded call, unboxed from its variant */
static GVariant *
call_arg(GVariant *args, gsize index)
{
	g_autoptr(GVariant) boxed = g_variant_get_child_value(args, index);

	return g_variant_get_variant(boxed);
}

/* the template declares CloseNotification's id as "i" while clients send "u" */
static gint64
variant_to_int(GVariant *value)
{
	if (g_variant_is_of_type(value, G_VARIANT_TYPE_UINT32))
		return g_variant_get_uint32(value);
	g_assert_true(g_variant_is_of_type(value, G_VARIANT_TYPE_INT32));
	return g_variant_get_int32(value);
}

static void
notify_call_get(Fixture *f, guint index, NotifyCall *call)
{
	g_autoptr(GVariant) calls = mock_method_calls(f, "Notify");
	g_autoptr(GVariant) args = NULL;
	g_autoptr(GVariant) app_name = NULL;
	g_autoptr(GVariant) replaces = NULL;
	g_autoptr(GVariant) summary = NULL;
	g_autoptr(GVariant) body = NULL;
	g_autoptr(GVariant) actions = NULL;
	g_autoptr(GVariant) timeout = NULL;

	g_assert_cmpuint(g_variant_n_children(calls), >, index);
	g_variant_get_child(calls, index, "(t@av)", NULL, &args);
	g_assert_cmpuint(g_variant_n_children(args), ==, 8);
	app_name = call_arg(args, 0);
	replaces = call_arg(args, 1);
	summary = call_arg(args, 3);
	body = call_arg(args, 4);
	actions = call_arg(args, 5);
	timeout = call_arg(args, 7);
	call->app_name = g_variant_dup_string(app_name, NULL);
	call->replaces_id = g_variant_get_uint32(replaces);
	call->summary = g_variant_dup_string(summary, NULL);
	call->body = g_variant_dup_string(body, NULL);
	call->actions = g_variant_dup_strv(actions, NULL);
	call->hints = call_arg(args, 6);
	call->timeout = g_variant_get_int32(timeout);
}

static guint
notify_call_count(Fixture *f)
{
	g_autoptr(GVariant) calls = mock_method_calls(f, "Notify");

	return (guint)g_variant_n_children(calls);
}

/* actions are a flat key, label list; libnotify sends them in hash table order */
static void
assert_actions(gchar **actions, const gchar *const *expected)
{
	g_autoptr(GHashTable) sent = g_hash_table_new(g_str_hash, g_str_equal);
	guint n_expected = g_strv_length((gchar **)expected);

	g_assert_cmpuint(g_strv_length(actions), ==, n_expected);
	for (guint i = 0; actions[i] != NULL && actions[i + 1] != NULL; i += 2)
		g_hash_table_insert(sent, actions[i], actions[i + 1]);
	g_assert_cmpuint(g_hash_table_size(sent) * 2, ==, n_expected);
	for (guint i = 0; i < n_expected; i += 2)
		g_assert_cmpstr(g_hash_table_lookup(sent, expected[i]), ==, expected[i + 1]);
}

/* ---------------------------------------------------------------------------------------------- */
/* the notifier */

static void
posted_cb(FlNotifier *notifier, guint handle, gpointer user_data)
{
	Fixture *f = user_data;

	g_array_append_val(f->posted, handle);
	g_ptr_array_add(f->log, g_strdup_printf("posted:%u", handle));
}

static void
action_invoked_cb(FlNotifier *notifier, guint handle, const gchar *key, gpointer user_data)
{
	Fixture *f = user_data;

	g_ptr_array_add(f->actions, g_strdup_printf("%u:%s", handle, key));
	g_ptr_array_add(f->log, g_strdup_printf("action:%u:%s", handle, key));
}

static void
closed_cb(FlNotifier *notifier, guint handle, guint reason, gpointer user_data)
{
	Fixture *f = user_data;

	g_ptr_array_add(f->closed, g_strdup_printf("%u:%u", handle, reason));
	g_ptr_array_add(f->log, g_strdup_printf("closed:%u:%u", handle, reason));
}

static void
server_changed_cb(FlNotifier *notifier, gboolean available, gpointer user_data)
{
	Fixture *f = user_data;

	g_array_append_val(f->server_changes, available);
	g_ptr_array_add(f->log, g_strdup_printf("server-changed:%d", available));
}

static void
notifier_start(Fixture *f)
{
	g_assert_null(f->notifier);
	f->notifier = fl_notifier_new("Flotilla", "flotilla");
	g_signal_connect(f->notifier, "posted", G_CALLBACK(posted_cb), f);
	g_signal_connect(f->notifier, "action-invoked", G_CALLBACK(action_invoked_cb), f);
	g_signal_connect(f->notifier, "closed", G_CALLBACK(closed_cb), f);
	g_signal_connect(f->notifier, "server-changed", G_CALLBACK(server_changed_cb), f);
}

static void
wait_server_changes(Fixture *f, guint n, gboolean last)
{
	wait_count(&f->server_changes->len, n);
	g_assert_cmpuint(f->server_changes->len, ==, n);
	g_assert_cmpint(g_array_index(f->server_changes, gboolean, n - 1), ==, last);
	g_assert_cmpint(fl_notifier_is_available(f->notifier), ==, last);
}

static const gchar *const digest_actions[] = {"default", "Open review", "approve", "Approve",
					      "reject",  "Reject",      NULL};

static guint
post_digest(Fixture *f, guint handle, const gchar *summary)
{
	return fl_notifier_post(f->notifier, handle, summary,
				"<b>fix-login</b> ready &amp; verified",
				"fix-login ready & verified", digest_actions,
				FL_NOTIFIER_URGENCY_NORMAL, "x-flotilla.digest");
}

/* ---------------------------------------------------------------------------------------------- */

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	f->conn = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, &error);
	g_assert_no_error(error);
	f->methods_called = g_ptr_array_new_with_free_func(g_free);
	f->log = g_ptr_array_new_with_free_func(g_free);
	f->posted = g_array_new(FALSE, FALSE, sizeof(guint));
	f->actions = g_ptr_array_new_with_free_func(g_free);
	f->closed = g_ptr_array_new_with_free_func(g_free);
	f->server_changes = g_array_new(FALSE, FALSE, sizeof(gboolean));
	f->watch_id =
		g_bus_watch_name_on_connection(f->conn, NOTIFY_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
					       name_appeared_cb, name_vanished_cb, f, NULL);
	f->method_called_id = g_dbus_connection_signal_subscribe(
		f->conn, NULL, MOCK_IFACE, "MethodCalled", NOTIFY_PATH, NULL,
		G_DBUS_SIGNAL_FLAGS_NONE, method_called_cb, f, NULL);
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
	g_clear_object(&f->notifier);
	mock_stop(f);
	g_dbus_connection_signal_unsubscribe(f->conn, f->method_called_id);
	g_bus_unwatch_name(f->watch_id);
	g_clear_object(&f->conn);
	g_free(f->owner);
	g_ptr_array_unref(f->methods_called);
	g_ptr_array_unref(f->log);
	g_array_unref(f->posted);
	g_ptr_array_unref(f->actions);
	g_ptr_array_unref(f->closed);
	g_array_unref(f->server_changes);

	/* nothing asked the bus to start a notification server */
	g_assert_false(g_file_test(activation_marker, G_FILE_TEST_EXISTS));
}

/* ---------------------------------------------------------------------------------------------- */

static void
test_post_with_actions(Fixture *f, gconstpointer data)
{
	g_auto(NotifyCall) call = {0};
	g_autofree gchar *desktop_entry = NULL;
	g_autofree gchar *category = NULL;
	guchar urgency = 0;
	gboolean resident = FALSE;
	guint handle;

	mock_start(f, FULL_CAPS);
	notifier_start(f);
	wait_server_changes(f, 1, TRUE);
	g_assert_true(fl_notifier_has_capability(f->notifier, "actions"));
	g_assert_true(fl_notifier_has_capability(f->notifier, "body-markup"));
	g_assert_false(fl_notifier_has_capability(f->notifier, "sound"));

	handle = post_digest(f, 0, "Check-in 15:00 · 2 drafts");
	g_assert_cmpuint(handle, >, 0);
	wait_count(&f->posted->len, 1);
	g_assert_cmpuint(g_array_index(f->posted, guint, 0), ==, handle);

	g_assert_cmpuint(notify_call_count(f), ==, 1);
	notify_call_get(f, 0, &call);
	g_assert_cmpstr(call.app_name, ==, "Flotilla");
	g_assert_cmpuint(call.replaces_id, ==, 0);
	g_assert_cmpstr(call.summary, ==, "Check-in 15:00 · 2 drafts");
	g_assert_cmpstr(call.body, ==, "<b>fix-login</b> ready &amp; verified");
	assert_actions(call.actions, digest_actions);
	g_assert_true(g_variant_lookup(call.hints, "desktop-entry", "s", &desktop_entry));
	g_assert_cmpstr(desktop_entry, ==, "flotilla");
	g_assert_true(g_variant_lookup(call.hints, "category", "s", &category));
	g_assert_cmpstr(category, ==, "x-flotilla.digest");
	g_assert_true(g_variant_lookup(call.hints, "urgency", "y", &urgency));
	g_assert_cmpuint(urgency, ==, 1);
	g_assert_true(g_variant_lookup(call.hints, "resident", "b", &resident));
	g_assert_true(resident);
	g_assert_cmpint(call.timeout, ==, 0);

	/* a second notification gets its own handle */
	g_assert_cmpuint(post_digest(f, 0, "Blocked: fix-login"), !=, handle);
	wait_count(&f->posted->len, 2);
	g_assert_cmpuint(notify_call_count(f), ==, 2);
}

static void
test_action_invoked(Fixture *f, gconstpointer data)
{
	guint handle;

	mock_start(f, FULL_CAPS);
	notifier_start(f);
	wait_server_changes(f, 1, TRUE);
	handle = post_digest(f, 0, "Check-in 15:00 · 2 drafts");
	wait_count(&f->posted->len, 1);

	/* the template numbers notifications from 1 */
	mock_emit_action(f, 1, "approve");
	wait_count(&f->actions->len, 1);
	mock_emit_action(f, 1, "default");
	wait_count(&f->actions->len, 2);
	{
		g_autofree gchar *approve = g_strdup_printf("%u:approve", handle);
		g_autofree gchar *open = g_strdup_printf("%u:default", handle);

		g_assert_cmpstr(g_ptr_array_index(f->actions, 0), ==, approve);
		g_assert_cmpstr(g_ptr_array_index(f->actions, 1), ==, open);
	}
	g_assert_cmpuint(f->closed->len, ==, 0);
}

static void
test_update_in_place(Fixture *f, gconstpointer data)
{
	g_auto(NotifyCall) first = {0};
	g_auto(NotifyCall) second = {0};
	guint handle;

	mock_start(f, FULL_CAPS);
	notifier_start(f);
	wait_server_changes(f, 1, TRUE);
	handle = post_digest(f, 0, "Check-in 15:00 · 2 drafts");
	wait_count(&f->posted->len, 1);
	g_assert_cmpuint(post_digest(f, handle, "Check-in 15:00 · 1 draft"), ==, handle);
	wait_count(&f->posted->len, 2);

	g_assert_cmpuint(notify_call_count(f), ==, 2);
	notify_call_get(f, 0, &first);
	notify_call_get(f, 1, &second);
	g_assert_cmpuint(first.replaces_id, ==, 0);
	g_assert_cmpuint(second.replaces_id, ==, 1);
	g_assert_cmpstr(second.summary, ==, "Check-in 15:00 · 1 draft");
	assert_actions(second.actions, digest_actions);
}

static void
test_closed(Fixture *f, gconstpointer data)
{
	g_auto(NotifyCall) again = {0};
	g_auto(NotifyCall) after_close = {0};
	g_autoptr(GVariant) closes = NULL;
	g_autoptr(GVariant) close_args = NULL;
	g_autoptr(GVariant) close_id = NULL;
	g_autofree gchar *expected = NULL;
	guint handle;

	mock_start(f, FULL_CAPS);
	notifier_start(f);
	wait_server_changes(f, 1, TRUE);
	handle = post_digest(f, 0, "Check-in 15:00 · 2 drafts");
	wait_count(&f->posted->len, 1);

	/* dismissed by the user: reported, and the object is never shown again */
	mock_emit_closed(f, 1, 2);
	wait_count(&f->closed->len, 1);
	expected = g_strdup_printf("%u:2", handle);
	g_assert_cmpstr(g_ptr_array_index(f->closed, 0), ==, expected);
	g_assert_cmpuint(post_digest(f, handle, "Check-in 15:00 · 2 drafts"), ==, handle);
	wait_count(&f->posted->len, 2);
	notify_call_get(f, 1, &again);
	g_assert_cmpuint(again.replaces_id, ==, 0);

	/* closed by us: the server is asked with the current id, and the next post is fresh */
	fl_notifier_close(f->notifier, handle);
	wait_method_called(f, "CloseNotification", 1);
	closes = mock_method_calls(f, "CloseNotification");
	g_assert_cmpuint(g_variant_n_children(closes), ==, 1);
	g_variant_get_child(closes, 0, "(t@av)", NULL, &close_args);
	close_id = call_arg(close_args, 0);
	g_assert_cmpint(variant_to_int(close_id), ==, 2);
	post_digest(f, handle, "Check-in 17:30 · 1 draft");
	wait_count(&f->posted->len, 3);
	notify_call_get(f, 2, &after_close);
	g_assert_cmpuint(after_close.replaces_id, ==, 0);
	/* our own close is not reported as a server close */
	g_assert_cmpuint(f->closed->len, ==, 1);
}

static void
test_server_without_actions(Fixture *f, gconstpointer data)
{
	g_auto(NotifyCall) call = {0};
	gboolean resident = FALSE;

	mock_start(f, "body");
	notifier_start(f);
	wait_server_changes(f, 1, TRUE);
	g_assert_false(fl_notifier_has_capability(f->notifier, "actions"));
	g_assert_true(fl_notifier_has_capability(f->notifier, "body"));

	post_digest(f, 0, "Check-in 15:00 · 2 drafts");
	wait_count(&f->posted->len, 1);
	notify_call_get(f, 0, &call);
	g_assert_cmpuint(g_strv_length(call.actions), ==, 0);
	g_assert_cmpstr(call.body, ==, "fix-login ready & verified");
	g_assert_false(g_variant_lookup(call.hints, "resident", "b", &resident));
	g_assert_cmpint(call.timeout, ==, -1);
}

static void
test_invalid_utf8(Fixture *f, gconstpointer data)
{
	g_auto(NotifyCall) call = {0};

	mock_start(f, FULL_CAPS);
	notifier_start(f);
	wait_server_changes(f, 1, TRUE);

	/* libnotify would log a critical (fatal here) and send "[Invalid UTF-8]" instead */
	fl_notifier_post(f->notifier, 0, "Blocked: fix\xff login", "agent said \xc3\x28 oops\x01",
			 "agent said \xc3\x28 oops\x01", NULL, FL_NOTIFIER_URGENCY_CRITICAL, NULL);
	wait_count(&f->posted->len, 1);
	notify_call_get(f, 0, &call);
	g_assert_cmpstr(call.summary, ==, "Blocked: fix\xef\xbf\xbd login");
	g_assert_cmpstr(call.body, ==, "agent said \xef\xbf\xbd( oops");
}

static void
test_no_server(Fixture *f, gconstpointer data)
{
	g_auto(NotifyCall) call = {0};
	guint handle;

	notifier_start(f);
	g_assert_false(fl_notifier_is_available(f->notifier));
	g_assert_false(fl_notifier_has_capability(f->notifier, "actions"));
	handle = post_digest(f, 0, "Check-in 15:00 · 2 drafts");
	g_assert_cmpuint(handle, >, 0);

	/* the post waits for a server, which gets it once its capabilities are known */
	mock_start(f, FULL_CAPS);
	wait_count(&f->posted->len, 1);
	g_assert_cmpuint(f->log->len, ==, 2);
	g_assert_cmpstr(g_ptr_array_index(f->log, 0), ==, "server-changed:1");
	g_assert_cmpstr(g_ptr_array_index(f->log, 1), ==, "posted:1");
	g_assert_cmpuint(notify_call_count(f), ==, 1);
	notify_call_get(f, 0, &call);
	g_assert_cmpuint(call.replaces_id, ==, 0);
	g_assert_cmpstr(call.summary, ==, "Check-in 15:00 · 2 drafts");
	assert_actions(call.actions, digest_actions);
}

static void
test_server_restart(Fixture *f, gconstpointer data)
{
	g_auto(NotifyCall) call = {0};
	g_autofree gchar *expected = NULL;
	guint handle;

	mock_start(f, FULL_CAPS);
	notifier_start(f);
	wait_server_changes(f, 1, TRUE);
	handle = post_digest(f, 0, "Check-in 15:00 · 2 drafts");
	wait_count(&f->posted->len, 1);

	mock_stop(f);
	wait_server_changes(f, 2, FALSE);
	mock_start(f, FULL_CAPS);
	wait_server_changes(f, 3, TRUE);

	/* id 1 on the new server is someone else's notification, not our old one */
	mock_emit_action(f, 1, "approve");
	g_assert_cmpuint(post_digest(f, handle, "Check-in 15:00 · 2 drafts"), ==, handle);
	wait_count(&f->posted->len, 2);
	g_assert_cmpuint(notify_call_count(f), ==, 1);
	notify_call_get(f, 0, &call);
	g_assert_cmpuint(call.replaces_id, ==, 0);

	/* signals are delivered in order: the approve above was seen and dropped */
	mock_emit_action(f, 1, "reject");
	wait_count(&f->actions->len, 1);
	expected = g_strdup_printf("%u:reject", handle);
	g_assert_cmpuint(f->actions->len, ==, 1);
	g_assert_cmpstr(g_ptr_array_index(f->actions, 0), ==, expected);
}

static void
test_shutdown_closes_actions(Fixture *f, gconstpointer data)
{
	g_autoptr(GVariant) closes = NULL;
	g_autoptr(GVariant) args = NULL;
	g_autoptr(GVariant) id = NULL;

	mock_start(f, FULL_CAPS);
	notifier_start(f);
	wait_server_changes(f, 1, TRUE);
	post_digest(f, 0, "Check-in 15:00 · 2 drafts");
	fl_notifier_post(f->notifier, 0, "fix-login finished", NULL, "no decision needed", NULL,
			 FL_NOTIFIER_URGENCY_LOW, NULL);
	wait_count(&f->posted->len, 2);

	/* approve buttons left behind by a stopped daemon would reach nobody */
	g_clear_object(&f->notifier);
	closes = mock_method_calls(f, "CloseNotification");
	g_assert_cmpuint(g_variant_n_children(closes), ==, 1);
	g_variant_get_child(closes, 0, "(t@av)", NULL, &args);
	id = call_arg(args, 0);
	g_assert_cmpint(variant_to_int(id), ==, 1);
}

static void
tick_cb(gpointer user_data)
{
	gboolean *ticked = user_data;

	*ticked = TRUE;
}

static void
assert_main_loop_runs(Fixture *f, gint64 since)
{
	gint64 limit = g_getenv("FL_TEST_VALGRIND") != NULL ? 1000 : 100;

	f->ticked = FALSE;
	g_timeout_add_once(10, tick_cb, &f->ticked);
	g_assert_true(fl_test_wait_for(flag_set, &f->ticked, timeout_ms()));
	g_assert_cmpint((g_get_monotonic_time() - since) / 1000, <, limit);
}

/* a blank mock given just the methods a client needs; GetServerInformation runs @info_code
 * (NULL: it answers at once), Notify runs @notify_code */
static void
mock_start_scripted_full(Fixture *f, const gchar *info_code, const gchar *notify_code)
{
	const gchar *argv[] = {python(),    "-m",         "dbusmock", NOTIFY_NAME,
			       NOTIFY_PATH, NOTIFY_IFACE, NULL};
	const struct {
		const gchar *name;
		const gchar *in_sig;
		const gchar *out_sig;
		const gchar *code;
	} methods[] = {
		{"GetServerInformation", "", "ssss",
		 info_code != NULL ? info_code
				   : "ret = ('scripted', 'flotilla tests', '1.0', '1.2')"},
		{"GetCapabilities", "", "as", "ret = ['actions', 'body', 'body-markup']"},
		{"Notify", "susssasa{sv}i", "u", notify_code},
	};

	mock_spawn(f, argv);
	for (guint i = 0; i < G_N_ELEMENTS(methods); i++) {
		g_autoptr(GVariant) reply = mock_call(
			f, MOCK_IFACE, "AddMethod",
			g_variant_new("(sssss)", NOTIFY_IFACE, methods[i].name, methods[i].in_sig,
				      methods[i].out_sig, methods[i].code),
			NULL);
	}
}

static void
mock_start_scripted(Fixture *f, const gchar *notify_code)
{
	mock_start_scripted_full(f, NULL, notify_code);
}

/* a server that owns its name before it can answer (still starting up): the notifier asks
 * again, backing off, and the digest that waited goes out once the server answers */
static void
test_server_still_starting(Fixture *f, gconstpointer data)
{
	g_auto(NotifyCall) call = {0};

	mock_start_scripted_full(f,
				 "self.info_calls = getattr(self, 'info_calls', 0) + 1\n"
				 "if self.info_calls <= 2:\n"
				 "    import dbus\n"
				 "    raise dbus.exceptions.DBusException('still starting',\n"
				 "        name='org.freedesktop.DBus.Error.Failed')\n"
				 "ret = ('scripted', 'flotilla tests', '1.0', '1.2')",
				 "ret = 1");
	notifier_start(f);
	post_digest(f, 0, "Check-in 15:00 · 2 drafts");
	wait_count(&f->posted->len, 1);
	g_assert_cmpuint(methods_called_count(f, "GetServerInformation"), >=, 3);
	g_assert_cmpuint(f->server_changes->len, ==, 1);
	g_assert_true(fl_notifier_is_available(f->notifier));
	g_assert_cmpuint(notify_call_count(f), ==, 1);
	notify_call_get(f, 0, &call);
	g_assert_cmpstr(call.summary, ==, "Check-in 15:00 · 2 drafts");
}

static void
test_queue_behind_slow_server(Fixture *f, gconstpointer data)
{
	g_autofree gchar *dir = fl_test_mkdtemp();
	g_autofree gchar *gate = g_build_filename(dir, "gate", NULL);
	g_autofree gchar *code = NULL;
	g_auto(NotifyCall) first = {0};
	g_auto(NotifyCall) latest = {0};
	g_auto(NotifyCall) other = {0};
	FILE *release;
	guint handle;
	guint other_handle;

	/* the first Notify blocks until the test writes to a FIFO */
	g_assert_cmpint(mkfifo(gate, 0600), ==, 0);
	code = g_strdup_printf("if not getattr(self, 'gate_passed', False):\n"
			       "    self.gate_passed = True\n"
			       "    open('%s').read()\n"
			       "if args[1]:\n"
			       "    ret = args[1]\n"
			       "else:\n"
			       "    self.last_id = getattr(self, 'last_id', 0) + 1\n"
			       "    ret = self.last_id\n",
			       gate);
	mock_start_scripted(f, code);
	notifier_start(f);
	wait_server_changes(f, 1, TRUE);

	handle = post_digest(f, 0, "first");
	wait_method_called(f, "Notify", 1);
	post_digest(f, handle, "second");
	post_digest(f, handle, "third");
	other_handle = post_digest(f, 0, "other");
	release = fopen(gate, "w");
	g_assert_nonnull(release);
	fputs("go", release);
	fclose(release);

	/* only the latest content per handle goes out once the server answers */
	wait_count(&f->posted->len, 3);
	g_assert_cmpuint(notify_call_count(f), ==, 3);
	notify_call_get(f, 0, &first);
	notify_call_get(f, 1, &latest);
	notify_call_get(f, 2, &other);
	g_assert_cmpstr(first.summary, ==, "first");
	g_assert_cmpstr(latest.summary, ==, "third");
	g_assert_cmpuint(latest.replaces_id, ==, 1);
	g_assert_cmpstr(other.summary, ==, "other");
	g_assert_cmpuint(other.replaces_id, ==, 0);
	g_assert_cmpuint(g_array_index(f->posted, guint, 1), ==, handle);
	g_assert_cmpuint(g_array_index(f->posted, guint, 2), ==, other_handle);
	fl_test_rm_rf(dir);
}

static void
test_hung_server(Fixture *f, gconstpointer data)
{
	gint64 start;
	guint handle;

	mock_start_scripted(f, "import time\ntime.sleep(3600)\nret = 1");
	notifier_start(f);
	wait_server_changes(f, 1, TRUE);

	start = g_get_monotonic_time();
	handle = post_digest(f, 0, "Check-in 15:00 · 2 drafts");
	assert_main_loop_runs(f, start);

	/* the worker now sits in Notify, which does not return for an hour */
	wait_method_called(f, "Notify", 1);
	start = g_get_monotonic_time();
	g_assert_cmpuint(post_digest(f, handle, "Check-in 15:00 · 1 draft"), ==, handle);
	fl_notifier_close(f->notifier, handle);
	assert_main_loop_runs(f, start);
	g_assert_cmpuint(f->posted->len, ==, 0);

	start = g_get_monotonic_time();
	g_clear_object(&f->notifier);
	g_assert_cmpint((g_get_monotonic_time() - start) / 1000, <, 2000);

	/* once the hung server is gone, the detached worker lets go of libnotify and a new
	 * notifier works normally */
	mock_stop(f);
	g_array_set_size(f->server_changes, 0);
	g_array_set_size(f->posted, 0);
	mock_start(f, FULL_CAPS);
	notifier_start(f);
	wait_server_changes(f, 1, TRUE);
	post_digest(f, 0, "Check-in 17:30 · 1 draft");
	wait_count(&f->posted->len, 1);
	g_assert_cmpuint(notify_call_count(f), ==, 1);
}

static void
test_skip(void)
{
	g_test_skip("python3-dbusmock is not installed");
}

static gboolean
dbusmock_available(void)
{
	const gchar *argv[] = {python(), "-c", "import dbusmock", NULL};

	return g_spawn_sync(NULL, (gchar **)argv, NULL,
			    G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
			    NULL, NULL, NULL, NULL) &&
	       g_file_test(python(), G_FILE_TEST_IS_EXECUTABLE);
}

int
main(int argc, char **argv)
{
	g_autofree gchar *services = NULL;
	g_autofree gchar *service_file = NULL;
	g_autofree gchar *service = NULL;
	g_autoptr(GError) error = NULL;
	int rc;

	/* GTestDBus calls setenv(): create it before any thread exists */
	test_bus = g_test_dbus_new(G_TEST_DBUS_NONE);
	g_test_init(&argc, &argv, NULL);

	if (!dbusmock_available()) {
		g_test_add_func("/notifier/skipped", test_skip);
		rc = g_test_run();
		g_object_unref(test_bus);
		return rc;
	}

	services = fl_test_mkdtemp();
	activation_marker = g_build_filename(services, "activated", NULL);
	service_file = g_build_filename(services, "org.freedesktop.Notifications.service", NULL);
	service = g_strdup_printf("[D-BUS Service]\nName=%s\nExec=/usr/bin/touch %s\n", NOTIFY_NAME,
				  activation_marker);
	g_file_set_contents(service_file, service, -1, &error);
	g_assert_no_error(error);
	g_test_dbus_add_service_dir(test_bus, services);
	g_test_dbus_up(test_bus);

	g_test_add("/notifier/post-with-actions", Fixture, NULL, fixture_set_up,
		   test_post_with_actions, fixture_tear_down);
	g_test_add("/notifier/action-invoked", Fixture, NULL, fixture_set_up, test_action_invoked,
		   fixture_tear_down);
	g_test_add("/notifier/update-in-place", Fixture, NULL, fixture_set_up, test_update_in_place,
		   fixture_tear_down);
	g_test_add("/notifier/closed", Fixture, NULL, fixture_set_up, test_closed,
		   fixture_tear_down);
	g_test_add("/notifier/server-without-actions", Fixture, NULL, fixture_set_up,
		   test_server_without_actions, fixture_tear_down);
	g_test_add("/notifier/invalid-utf8", Fixture, NULL, fixture_set_up, test_invalid_utf8,
		   fixture_tear_down);
	g_test_add("/notifier/no-server", Fixture, NULL, fixture_set_up, test_no_server,
		   fixture_tear_down);
	g_test_add("/notifier/server-restart", Fixture, NULL, fixture_set_up, test_server_restart,
		   fixture_tear_down);
	g_test_add("/notifier/server-still-starting", Fixture, NULL, fixture_set_up,
		   test_server_still_starting, fixture_tear_down);
	g_test_add("/notifier/shutdown-closes-actions", Fixture, NULL, fixture_set_up,
		   test_shutdown_closes_actions, fixture_tear_down);
	g_test_add("/notifier/queue-behind-slow-server", Fixture, NULL, fixture_set_up,
		   test_queue_behind_slow_server, fixture_tear_down);
	/* last: it leaves a detached worker behind until its hung call fails */
	g_test_add("/notifier/hung-server", Fixture, NULL, fixture_set_up, test_hung_server,
		   fixture_tear_down);

	rc = g_test_run();

	g_test_dbus_down(test_bus);
	g_object_unref(test_bus);
	fl_test_rm_rf(services);
	g_free(activation_marker);
	return rc;
}
