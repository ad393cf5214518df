/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * When check-ins happen. Pure: no I/O, no clock reads; callers pass the time in, so every
 * rule is unit-testable with any time zone (GTimeZone) and any date.
 */
typedef struct _FlSchedule FlSchedule;

/*
 * Parses the [checkin] keys. Each may be NULL (default). @times: "10:00;12:00;15:00;17:30"
 * (local wall-clock, HH:MM, 24 h); @every: "30m", "2h", "90s", "1h30m" (at least 1 minute;
 * default 30m when @times is NULL); both set is an error. @days: "mon-fri", "mon;wed;fri",
 * "sat,sun", "all"/"*" (default every day). @quiet_hours: "19:00-09:00" (may wrap midnight;
 * no check-in happens inside it). On a bad value: NULL and FL_ERROR_INVALID_ARGUMENT whose
 * message names the key and the bad value, e.g. "times: '25:00' is not a time (HH:MM)".
 */
FlSchedule *
fl_schedule_new(const gchar *times, const gchar *every, const gchar *days, const gchar *quiet_hours,
		GError **error);
void
fl_schedule_free(FlSchedule *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlSchedule, fl_schedule_free)

/*
 * The first check-in strictly after @after, in @after's time zone (DST-safe: a wall-clock
 * time that does not exist that day — spring forward — moves to the first valid instant
 * after it; one that exists twice fires once). With @every, check-ins are aligned to local
 * midnight of each day (every=30m: 00:00, 00:30, …), skipping days not in @days and times
 * in quiet hours. Never NULL: a schedule always has a next time within 8 days.
 */
GDateTime *
fl_schedule_next(const FlSchedule *self, GDateTime *after);

G_END_DECLS
