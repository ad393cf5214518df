/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define FL_ERROR (fl_error_quark())

/* stable: each maps to io.github.flotilla.Flotilla1.Error.<Name> on the bus */
typedef enum {
	FL_ERROR_FAILED,
	FL_ERROR_INVALID_ARGUMENT,
	FL_ERROR_NOT_FOUND,
	FL_ERROR_LIMIT_EXCEEDED,
	FL_ERROR_ALREADY_DECIDED,
	FL_ERROR_CONFLICT,
	FL_ERROR_DIRTY,
	FL_ERROR_BUSY,
	/* the session's state does not allow it (nothing to approve, to revert, …) */
	FL_ERROR_WRONG_STATE,
	FL_ERROR_LAST
} FlError;

GQuark
fl_error_quark(void);

typedef struct _FlMsg FlMsg;

/* the FlMsg an FL_ERROR was made from (fl_set_error), or NULL; fl_error_set_msg takes @msg */
const FlMsg *
fl_error_get_msg(const GError *error);
void
fl_error_set_msg(GError *error, FlMsg *msg);

G_END_DECLS
