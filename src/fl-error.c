/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-error.h"

#include <gio/gio.h>

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

GQuark
fl_error_quark(void)
{
	static gsize quark = 0;

	/* registering the domain lets clients get FL_ERROR codes back from D-Bus errors */
	g_dbus_error_register_error_domain("fl-error-quark", &quark, fl_error_entries,
					   G_N_ELEMENTS(fl_error_entries));
	return (GQuark)quark;
}
