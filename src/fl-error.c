/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-error.h"

#include <gio/gio.h>

#include "fl-msg.h"

static const GDBusErrorEntry fl_error_entries[] = {
	{FL_ERROR_FAILED, "io.github.flotilla.Flotilla1.Error.Failed"},
	{FL_ERROR_INVALID_ARGUMENT, "io.github.flotilla.Flotilla1.Error.InvalidArgument"},
	{FL_ERROR_NOT_FOUND, "io.github.flotilla.Flotilla1.Error.NotFound"},
	{FL_ERROR_LIMIT_EXCEEDED, "io.github.flotilla.Flotilla1.Error.LimitExceeded"},
	{FL_ERROR_ALREADY_DECIDED, "io.github.flotilla.Flotilla1.Error.AlreadyDecided"},
	{FL_ERROR_CONFLICT, "io.github.flotilla.Flotilla1.Error.Conflict"},
	{FL_ERROR_DIRTY, "io.github.flotilla.Flotilla1.Error.Dirty"},
	{FL_ERROR_BUSY, "io.github.flotilla.Flotilla1.Error.Busy"},
	{FL_ERROR_WRONG_STATE, "io.github.flotilla.Flotilla1.Error.WrongState"},
};

G_STATIC_ASSERT(G_N_ELEMENTS(fl_error_entries) == FL_ERROR_LAST);

/*
 * FL_ERROR is an extended error domain: each error keeps the FlMsg it was made from, so the
 * D-Bus edge can render it in the caller's language however late it goes out (fl-msg.h).
 */
typedef struct {
	FlMsg *msg;
} FlErrorExtPrivate;

static void
fl_error_ext_private_init(FlErrorExtPrivate *priv)
{
}

static void
fl_error_ext_private_copy(const FlErrorExtPrivate *src, FlErrorExtPrivate *dest)
{
	/* never NULL; the checks keep -Wnull-dereference quiet about GLib's wrappers */
	if (src == NULL || dest == NULL)
		return;
	dest->msg = src->msg != NULL ? fl_msg_copy(src->msg) : NULL;
}

static void
fl_error_ext_private_clear(FlErrorExtPrivate *priv)
{
	if (priv == NULL)
		return;
	g_clear_pointer(&priv->msg, fl_msg_free);
}

/* a name of its own: the macro also defines the quark, which fl_error_quark() wraps */
static GQuark
fl_error_ext_quark(void);
G_DEFINE_EXTENDED_ERROR(FlErrorExt, fl_error_ext)

GQuark
fl_error_quark(void)
{
	static gsize dbus_quark = 0;
	GQuark quark = fl_error_ext_quark();

	/* registering the domain lets clients get FL_ERROR codes back from D-Bus errors */
	g_dbus_error_register_error_domain(g_quark_to_string(quark), &dbus_quark, fl_error_entries,
					   G_N_ELEMENTS(fl_error_entries));
	return quark;
}

const FlMsg *
fl_error_get_msg(const GError *error)
{
	const FlErrorExtPrivate *priv;

	g_return_val_if_fail(error != NULL && error->domain == FL_ERROR, NULL);
	priv = fl_error_ext_get_private(error);
	return priv != NULL ? priv->msg : NULL;
}

void
fl_error_set_msg(GError *error, FlMsg *msg)
{
	FlErrorExtPrivate *priv;

	g_return_if_fail(error != NULL && error->domain == FL_ERROR);
	priv = fl_error_ext_get_private(error);
	if (priv == NULL) {
		fl_msg_free(msg);
		return;
	}
	g_clear_pointer(&priv->msg, fl_msg_free);
	priv->msg = msg;
}
