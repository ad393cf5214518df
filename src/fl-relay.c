/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-relay.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <unistd.h>

#define FL_RELAY_BUS_NAME    "io.github.flotilla.Flotilla1"
#define FL_RELAY_OBJECT_PATH "/io/github/flotilla/Flotilla1"
#define FL_RELAY_INTERFACE   "io.github.flotilla.Flotilla1"
/* concurrent requests of one session (Claude may run several hooks at once) */
#define FL_RELAY_MAX_THREADS 32

typedef struct {
	guint session_id;
	GMutex lock;
	GDBusConnection *bus; /* (owned) (nullable) until first connected */
} FlRelay;

static GDBusConnection *
fl_relay_get_bus(FlRelay *self, GError **error)
{
	GDBusConnection *bus;

	g_mutex_lock(&self->lock);
	if (self->bus != NULL && g_dbus_connection_is_closed(self->bus))
		g_clear_object(&self->bus);
	if (self->bus == NULL) {
		g_autofree gchar *address =
			g_dbus_address_get_for_bus_sync(G_BUS_TYPE_SESSION, NULL, error);

		if (address != NULL)
			self->bus = g_dbus_connection_new_for_address_sync(
				address,
				G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
					G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
				NULL, NULL, error);
		if (self->bus != NULL)
			g_dbus_connection_set_exit_on_close(self->bus, FALSE);
	}
	bus = self->bus != NULL ? g_object_ref(self->bus) : NULL;
	g_mutex_unlock(&self->lock);
	return bus;
}

static void
fl_relay_appeared_cb(GDBusConnection *connection, const gchar *name, const gchar *owner,
		     gpointer user_data)
{
	gboolean *appeared = user_data;

	*appeared = TRUE;
}

static void
fl_relay_vanished_cb(GDBusConnection *connection, const gchar *name, gpointer user_data)
{
	/* connection NULL: the bus itself is gone; stop waiting and let the caller see that */
	if (connection == NULL || g_dbus_connection_is_closed(connection))
		*(gboolean *)user_data = TRUE;
}

/* until flotillad owns its name again; never activates it */
static void
fl_relay_wait_for_daemon(GDBusConnection *bus)
{
	g_autoptr(GMainContext) context = g_main_context_new();
	gboolean appeared = FALSE;
	guint watch;

	g_main_context_push_thread_default(context);
	watch = g_bus_watch_name_on_connection(bus, FL_RELAY_BUS_NAME,
					       G_BUS_NAME_WATCHER_FLAGS_NONE, fl_relay_appeared_cb,
					       fl_relay_vanished_cb, &appeared, NULL);
	while (!appeared)
		g_main_context_iteration(context, TRUE);
	g_bus_unwatch_name(watch);
	g_main_context_pop_thread_default(context);
}

static gboolean
fl_relay_daemon_away(const GError *error)
{
	return g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
	       g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER) ||
	       g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY);
}

/* the one D-Bus call a request stands for, for our own session only */
static gchar *
fl_relay_call(FlRelay *self, JsonObject *request, GError **error)
{
	const gchar *op = json_object_get_string_member_with_default(request, "op", "");
	const gchar *method;
	GVariant *params;

	if (g_strcmp0(op, "block") == 0) {
		const gchar *message =
			json_object_get_string_member_with_default(request, "message", NULL);

		if (message == NULL)
			goto bad;
		method = "Block";
		params = g_variant_new("(us)", self->session_id, message);
	} else if (g_strcmp0(op, "hook") == 0) {
		const gchar *agent =
			json_object_get_string_member_with_default(request, "agent", NULL);
		const gchar *payload =
			json_object_get_string_member_with_default(request, "payload", NULL);

		if (agent == NULL || payload == NULL)
			goto bad;
		method = "Hook";
		params = g_variant_new("(sus)", agent, self->session_id, payload);
	} else {
		goto bad;
	}
	g_variant_ref_sink(params);

	for (;;) {
		g_autoptr(GDBusConnection) bus = fl_relay_get_bus(self, error);
		g_autoptr(GVariant) reply = NULL;
		g_autoptr(GError) error_local = NULL;
		gchar *text = NULL;

		if (bus == NULL) {
			g_variant_unref(params);
			return NULL;
		}
		/* a human may take hours to answer a blocked session */
		reply = g_dbus_connection_call_sync(
			bus, FL_RELAY_BUS_NAME, FL_RELAY_OBJECT_PATH, FL_RELAY_INTERFACE, method,
			params, G_VARIANT_TYPE("(s)"), G_DBUS_CALL_FLAGS_NO_AUTO_START, G_MAXINT,
			NULL, &error_local);
		if (reply != NULL) {
			g_variant_get(reply, "(s)", &text);
			g_variant_unref(params);
			return text;
		}
		if (!fl_relay_daemon_away(error_local) || g_dbus_connection_is_closed(bus)) {
			g_dbus_error_strip_remote_error(error_local);
			g_propagate_error(error, g_steal_pointer(&error_local));
			g_variant_unref(params);
			return NULL;
		}
		/* flotillad is down or restarting: the request is kept, not answered */
		fl_relay_wait_for_daemon(bus);
	}
bad:
	g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "not a request this channel serves");
	return NULL;
}

static gboolean
fl_relay_run_cb(GThreadedSocketService *service, GSocketConnection *connection,
		GObject *source_object, gpointer user_data)
{
	FlRelay *self = user_data;
	GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(connection));
	GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(connection));
	g_autofree gchar *buf = g_malloc(FL_RELAY_MAX + 1);
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) answer = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_autofree gchar *text = NULL;
	gsize len = 0;

	if (!g_input_stream_read_all(in, buf, FL_RELAY_MAX + 1, &len, NULL, &error))
		return TRUE;
	if (len > FL_RELAY_MAX) {
		g_set_error_literal(&error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
				    "request too long");
	} else if (!g_utf8_validate_len(buf, len, NULL) ||
		   !json_parser_load_from_data(parser, buf, len, NULL) ||
		   !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
		g_set_error_literal(&error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				    "request is not a JSON object");
	} else {
		reply = fl_relay_call(self, json_node_get_object(json_parser_get_root(parser)),
				      &error);
	}

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, reply != NULL ? "reply" : "error");
	json_builder_add_string_value(builder, reply != NULL ? reply : error->message);
	json_builder_end_object(builder);
	answer = json_builder_get_root(builder);
	text = json_to_string(answer, FALSE);
	g_output_stream_write_all(out, text, strlen(text), NULL, NULL, NULL);
	return TRUE;
}

void
fl_relay_run(gint listen_fd, guint session_id)
{
	g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GSocketService) service = NULL;
	static FlRelay relay;

	relay.session_id = session_id;
	g_mutex_init(&relay.lock);
	socket = g_socket_new_from_fd(listen_fd, &error);
	service = g_threaded_socket_service_new(FL_RELAY_MAX_THREADS);
	if (socket == NULL ||
	    !g_socket_listener_add_socket(G_SOCKET_LISTENER(service), socket, NULL, &error)) {
		g_printerr("flotilla-runner: the session's channel does not work: %s\n",
			   error->message);
		_exit(1);
	}
	g_signal_connect(service, "run", G_CALLBACK(fl_relay_run_cb), &relay);
	g_socket_service_start(service);
	g_main_loop_run(loop);
	_exit(0);
}
