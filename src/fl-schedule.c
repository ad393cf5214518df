/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-schedule.h"

#include "fl-error.h"
#include "fl-i18n.h"
#include "fl-msg.h"

#define FL_SCHEDULE_SECS_PER_DAY    86400
#define FL_SCHEDULE_DEFAULT_EVERY   (30 * 60)
#define FL_SCHEDULE_MIN_EVERY       60
#define FL_SCHEDULE_SHOWN_VALUE_MAX 40
#define FL_SCHEDULE_DAYS_TO_SEARCH  8

struct _FlSchedule {
	/* (owned) guint32 seconds after local midnight, sorted, none in quiet hours */
	GArray *slots;
	/* bit (1 << GDateWeekday) for each day with check-ins */
	guint8 days;
};

static const gchar *fl_schedule_day_names[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
static const gchar *fl_schedule_day_long_names[] = {"monday", "tuesday",  "wednesday", "thursday",
						    "friday", "saturday", "sunday"};

/* config values are user input: keep them printable and short inside one-line errors */
static gchar *
fl_schedule_show_value(const gchar *value)
{
	g_autofree gchar *valid = g_utf8_make_valid(value, -1);
	GString *out = g_string_new(NULL);
	guint n = 0;

	for (const gchar *p = valid; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		if (n == FL_SCHEDULE_SHOWN_VALUE_MAX) {
			g_string_append(out, "…");
			break;
		}
		if (g_unichar_iscntrl(c))
			g_string_append_c(out, '?');
		else
			g_string_append_unichar(out, c);
		n++;
	}
	return g_string_free(out, FALSE);
}

/* an empty value reads like an unset key in a key file */
static const gchar *
fl_schedule_nonempty(const gchar *value, gchar **stripped)
{
	if (value == NULL)
		return NULL;
	*stripped = g_strstrip(g_strdup(value));
	if (**stripped == '\0')
		return NULL;
	return *stripped;
}

/* "H:MM" or "HH:MM", 00:00 .. 23:59; minutes after midnight */
static gboolean
fl_schedule_parse_hhmm(const gchar *s, guint *minutes)
{
	gsize len = strlen(s);
	guint hour = 0;
	guint minute;
	gsize i = 0;

	while (i < len && i < 2 && g_ascii_isdigit(s[i])) {
		hour = hour * 10 + (guint)(s[i] - '0');
		i++;
	}
	if (i == 0 || i + 3 != len || s[i] != ':' || !g_ascii_isdigit(s[i + 1]) ||
	    !g_ascii_isdigit(s[i + 2]))
		return FALSE;
	minute = (guint)(s[i + 1] - '0') * 10 + (guint)(s[i + 2] - '0');
	if (hour > 23 || minute > 59)
		return FALSE;
	*minutes = hour * 60 + minute;
	return TRUE;
}

static gint
fl_schedule_cmp_u32(gconstpointer a, gconstpointer b)
{
	guint32 x = *(const guint32 *)a;
	guint32 y = *(const guint32 *)b;
	return (x > y) - (x < y);
}

static GArray *
fl_schedule_parse_times(const gchar *times, GError **error)
{
	g_autoptr(GArray) secs = g_array_new(FALSE, FALSE, sizeof(guint32));
	g_auto(GStrv) parts = g_strsplit_set(times, ";,", -1);
	GArray *uniq;

	for (guint i = 0; parts[i] != NULL; i++) {
		const gchar *part = g_strstrip(parts[i]);
		guint minutes;
		guint32 sec;
		if (*part == '\0')
			continue;
		if (!fl_schedule_parse_hhmm(part, &minutes)) {
			g_autofree gchar *shown = fl_schedule_show_value(part);
			fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
				     N_("times: '%s' is not a time (HH:MM)"), shown);
			return NULL;
		}
		sec = minutes * 60;
		g_array_append_val(secs, sec);
	}
	if (secs->len == 0) {
		g_autofree gchar *shown = fl_schedule_show_value(times);
		fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
			     N_("times: '%s' lists no time (HH:MM;HH:MM…)"), shown);
		return NULL;
	}
	g_array_sort(secs, fl_schedule_cmp_u32);
	uniq = g_array_new(FALSE, FALSE, sizeof(guint32));
	for (guint i = 0; i < secs->len; i++) {
		guint32 sec = g_array_index(secs, guint32, i);
		if (uniq->len == 0 || g_array_index(uniq, guint32, uniq->len - 1) != sec)
			g_array_append_val(uniq, sec);
	}
	return uniq;
}

/* "90s", "30m", "2h", "1h30m": each unit at most once, largest first */
static gboolean
fl_schedule_parse_duration(const gchar *s, guint *seconds)
{
	const gchar *units = "hms";
	const guint scale[] = {3600, 60, 1};
	guint next_unit = 0;
	guint64 total = 0;
	const gchar *p = s;

	if (*p == '\0')
		return FALSE;
	while (*p != '\0') {
		guint64 n = 0;
		guint digits = 0;
		const gchar *unit;
		while (g_ascii_isdigit(*p)) {
			/* a day has 86400 s: more than 6 digits can only be too long */
			if (++digits > 6)
				return FALSE;
			n = n * 10 + (guint64)(*p - '0');
			p++;
		}
		if (digits == 0 || *p == '\0')
			return FALSE;
		unit = strchr(units + next_unit, g_ascii_tolower(*p));
		if (unit == NULL)
			return FALSE;
		next_unit = (guint)(unit - units) + 1;
		total += n * scale[unit - units];
		p++;
		while (*p == ' ')
			p++;
	}
	*seconds = (guint)MIN(total, (guint64)G_MAXUINT);
	return TRUE;
}

/* aligned to midnight, so the slots do not depend on when the daemon started */
static GArray *
fl_schedule_slots_every(guint32 secs)
{
	GArray *slots = g_array_new(FALSE, FALSE, sizeof(guint32));

	for (guint32 sec = 0; sec < FL_SCHEDULE_SECS_PER_DAY; sec += secs)
		g_array_append_val(slots, sec);
	return slots;
}

static GArray *
fl_schedule_parse_every(const gchar *every, GError **error)
{
	g_autofree gchar *shown = fl_schedule_show_value(every);
	guint secs = 0;

	if (!fl_schedule_parse_duration(every, &secs)) {
		fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
			     N_("every: '%s' is not a duration (e.g. 30m, 2h, 1h30m)"), shown);
		return NULL;
	}
	if (secs < FL_SCHEDULE_MIN_EVERY) {
		fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
			     N_("every: '%s' is shorter than 1 minute"), shown);
		return NULL;
	}
	if (secs > FL_SCHEDULE_SECS_PER_DAY) {
		fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
			     N_("every: '%s' is longer than a day"), shown);
		return NULL;
	}
	return fl_schedule_slots_every(secs);
}

/* 1..7 for mon..sun (also full names), 0 when @s names no day */
static guint
fl_schedule_parse_weekday(const gchar *s)
{
	for (guint i = 0; i < G_N_ELEMENTS(fl_schedule_day_names); i++) {
		if (g_ascii_strcasecmp(s, fl_schedule_day_names[i]) == 0 ||
		    g_ascii_strcasecmp(s, fl_schedule_day_long_names[i]) == 0)
			return i + 1;
	}
	return 0;
}

static gboolean
fl_schedule_parse_days(const gchar *days, guint8 *mask, GError **error)
{
	g_auto(GStrv) parts = g_strsplit_set(days, ";, ", -1);

	*mask = 0;
	for (guint i = 0; parts[i] != NULL; i++) {
		const gchar *part = parts[i];
		g_auto(GStrv) range = NULL;
		guint first;
		guint last;

		if (*part == '\0')
			continue;
		if (g_strcmp0(part, "*") == 0 || g_ascii_strcasecmp(part, "all") == 0) {
			*mask = 0xfe;
			continue;
		}
		range = g_strsplit(part, "-", 3);
		first = fl_schedule_parse_weekday(range[0]);
		last = range[1] != NULL ? fl_schedule_parse_weekday(range[1]) : first;
		if (first == 0 || last == 0 || (range[1] != NULL && range[2] != NULL)) {
			g_autofree gchar *shown = fl_schedule_show_value(part);
			fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
				     N_("days: '%s' is not a day or range of days (mon…sun)"),
				     shown);
			return FALSE;
		}
		/* a range may wrap the week: fri-mon is fri, sat, sun, mon */
		for (guint d = first;; d = d % 7 + 1) {
			*mask |= (guint8)(1u << d);
			if (d == last)
				break;
		}
	}
	if (*mask == 0) {
		g_autofree gchar *shown = fl_schedule_show_value(days);
		fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
			     N_("days: '%s' names no day (mon…sun)"), shown);
		return FALSE;
	}
	return TRUE;
}

static gboolean
fl_schedule_parse_quiet(const gchar *quiet, guint32 *start, guint32 *end, GError **error)
{
	g_autofree gchar *shown = fl_schedule_show_value(quiet);
	const gchar *dash = strchr(quiet, '-');
	g_autofree gchar *left = NULL;
	g_autofree gchar *right = NULL;
	guint start_min;
	guint end_min;

	if (dash == NULL) {
		fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
			     N_("quiet-hours: '%s' is not a range (HH:MM-HH:MM)"), shown);
		return FALSE;
	}
	left = g_strstrip(g_strndup(quiet, (gsize)(dash - quiet)));
	right = g_strstrip(g_strdup(dash + 1));
	if (!fl_schedule_parse_hhmm(left, &start_min) || !fl_schedule_parse_hhmm(right, &end_min)) {
		fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
			     N_("quiet-hours: '%s' is not a range (HH:MM-HH:MM)"), shown);
		return FALSE;
	}
	if (start_min == end_min) {
		fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
			     N_("quiet-hours: '%s' starts and ends at the same time"), shown);
		return FALSE;
	}
	*start = start_min * 60;
	*end = end_min * 60;
	return TRUE;
}

/* start inclusive, end exclusive; start > end wraps midnight */
static gboolean
fl_schedule_is_quiet(guint32 sec, guint32 start, guint32 end)
{
	if (start < end)
		return sec >= start && sec < end;
	return sec >= start || sec < end;
}

FlSchedule *
fl_schedule_new(const gchar *times, const gchar *every, const gchar *days, const gchar *quiet_hours,
		GError **error)
{
	g_autoptr(FlSchedule) self = g_new0(FlSchedule, 1);
	g_autofree gchar *times_buf = NULL;
	g_autofree gchar *every_buf = NULL;
	g_autofree gchar *days_buf = NULL;
	g_autofree gchar *quiet_buf = NULL;
	g_autoptr(GArray) slots = NULL;

	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	times = fl_schedule_nonempty(times, &times_buf);
	every = fl_schedule_nonempty(every, &every_buf);
	days = fl_schedule_nonempty(days, &days_buf);
	quiet_hours = fl_schedule_nonempty(quiet_hours, &quiet_buf);

	if (times != NULL && every != NULL) {
		fl_set_error_literal(error, FL_ERROR_INVALID_ARGUMENT,
				     N_("every: cannot be combined with times; set only one"));
		return NULL;
	}
	if (times != NULL)
		slots = fl_schedule_parse_times(times, error);
	else if (every != NULL)
		slots = fl_schedule_parse_every(every, error);
	else
		slots = fl_schedule_slots_every(FL_SCHEDULE_DEFAULT_EVERY);
	if (slots == NULL)
		return NULL;

	self->days = 0xfe;
	if (days != NULL && !fl_schedule_parse_days(days, &self->days, error))
		return NULL;

	self->slots = g_array_new(FALSE, FALSE, sizeof(guint32));
	if (quiet_hours != NULL) {
		guint32 start = 0;
		guint32 end = 0;
		if (!fl_schedule_parse_quiet(quiet_hours, &start, &end, error))
			return NULL;
		for (guint i = 0; i < slots->len; i++) {
			guint32 sec = g_array_index(slots, guint32, i);
			if (!fl_schedule_is_quiet(sec, start, end))
				g_array_append_val(self->slots, sec);
		}
		/* days cannot be empty, so only quiet hours can leave nothing; a schedule that
		 * never fires is a config mistake the user should hear about now */
		if (self->slots->len == 0) {
			g_autofree gchar *shown = fl_schedule_show_value(quiet_hours);
			fl_set_error(error, FL_ERROR_INVALID_ARGUMENT,
				     N_("quiet-hours: '%s' leaves no time for check-ins"), shown);
			return NULL;
		}
	} else {
		g_array_append_vals(self->slots, slots->data, slots->len);
	}
	return g_steal_pointer(&self);
}

void
fl_schedule_free(FlSchedule *self)
{
	if (self == NULL)
		return;
	if (self->slots != NULL)
		g_array_unref(self->slots);
	g_free(self);
}

/* UTC offset (seconds east) in effect at the UTC instant @utc */
static gint64
fl_schedule_offset_at(GTimeZone *tz, gint64 utc)
{
	/* universal time is continuous, so this lookup always finds an interval */
	gint interval = g_time_zone_find_interval(tz, G_TIME_TYPE_UNIVERSAL, utc);
	return g_time_zone_get_offset(tz, interval);
}

/*
 * The first instant whose local wall clock reads @wall (seconds since 1970-01-01 00:00 local)
 * or later. g_date_time_new() cannot be used: for a repeated wall-clock time it picks the
 * second occurrence (standard time), and its handling of skipped times is undocumented.
 */
static gint64
fl_schedule_wall_to_utc(GTimeZone *tz, gint64 wall)
{
	/* any transition near @wall is covered by the offsets within a day either side;
	 * zones do not change offset twice in a day */
	const gint64 probes[] = {-86400, -43200, 0, 43200, 86400};
	gint64 best = G_MAXINT64;
	gint64 lo = G_MAXINT64;
	gint64 hi = G_MININT64;

	for (guint i = 0; i < G_N_ELEMENTS(probes); i++) {
		gint64 offset = fl_schedule_offset_at(tz, wall + probes[i]);
		gint64 utc = wall - offset;
		lo = MIN(lo, utc);
		hi = MAX(hi, utc);
		if (fl_schedule_offset_at(tz, utc) == offset)
			best = MIN(best, utc);
	}
	if (best != G_MAXINT64)
		return best;

	/* @wall was skipped (spring forward): the clock jumps over it between @lo, whose wall
	 * clock is before it, and @hi, whose wall clock is after it; find the jump */
	while (hi - lo > 1) {
		gint64 mid = lo + (hi - lo) / 2;
		if (mid + fl_schedule_offset_at(tz, mid) >= wall)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

GDateTime *
fl_schedule_next(const FlSchedule *self, GDateTime *after)
{
	GTimeZone *tz;
	gint64 after_utc;
	gint year;
	gint month;
	gint day;
	GDate date;
	GDate epoch;

	g_return_val_if_fail(self != NULL, NULL);
	g_return_val_if_fail(after != NULL, NULL);

	tz = g_date_time_get_timezone(after);
	/* whole seconds, rounded down: a slot at the same second but before the fraction is past */
	after_utc = g_date_time_to_unix(after);
	g_date_time_get_ymd(after, &year, &month, &day);
	g_date_clear(&date, 1);
	g_date_set_dmy(&date, (GDateDay)day, (GDateMonth)month, (GDateYear)year);
	g_date_clear(&epoch, 1);
	g_date_set_dmy(&epoch, 1, G_DATE_JANUARY, 1970);

	/* every allowed weekday comes within 7 days after today, whose slots may all be past */
	for (guint i = 0; i <= FL_SCHEDULE_DAYS_TO_SEARCH; i++) {
		gint64 midnight_wall =
			((gint64)g_date_get_julian(&date) - (gint64)g_date_get_julian(&epoch)) *
			FL_SCHEDULE_SECS_PER_DAY;

		if (self->days & (1u << g_date_get_weekday(&date))) {
			for (guint j = 0; j < self->slots->len; j++) {
				gint64 wall =
					midnight_wall + g_array_index(self->slots, guint32, j);
				gint64 utc = fl_schedule_wall_to_utc(tz, wall);
				if (utc > after_utc) {
					g_autoptr(GDateTime) dt =
						g_date_time_new_from_unix_utc(utc);
					return g_date_time_to_timezone(dt, tz);
				}
			}
		}
		g_date_add_days(&date, 1);
	}

	/* unreachable: fl_schedule_new() refuses schedules without a slot or a day */
	g_warn_if_reached();
	return g_date_time_add_days(after, 1);
}
