/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <locale.h>

#include "fl-error.h"
#include "fl-schedule.h"

/* 2026-06-01 is a Monday; 2026-03-29 and 2026-10-25 are the Berlin DST change days */

static GTimeZone *
berlin(void)
{
	GTimeZone *tz = g_time_zone_new_identifier("Europe/Berlin");
	g_assert_nonnull(tz);
	return tz;
}

static GDateTime *
local_time(gint year, gint month, gint day, gint hour, gint minute, gdouble seconds)
{
	g_autoptr(GTimeZone) tz = berlin();
	GDateTime *dt = g_date_time_new(tz, year, month, day, hour, minute, seconds);
	g_assert_nonnull(dt);
	return dt;
}

static gchar *
show(GDateTime *dt)
{
	return g_date_time_format(dt, "%F %a %R:%S %z");
}

static FlSchedule *
schedule_new(const gchar *times, const gchar *every, const gchar *days, const gchar *quiet)
{
	g_autoptr(GError) error = NULL;
	FlSchedule *schedule = fl_schedule_new(times, every, days, quiet, &error);
	g_assert_no_error(error);
	g_assert_nonnull(schedule);
	return schedule;
}

static void
assert_next(const FlSchedule *schedule, GDateTime *after, const gchar *expected)
{
	g_autoptr(GDateTime) next = fl_schedule_next(schedule, after);
	g_autofree gchar *got = NULL;

	g_assert_nonnull(next);
	got = show(next);
	g_assert_cmpstr(got, ==, expected);
	g_assert_cmpint(g_date_time_compare(next, after), >, 0);
}

static void
assert_next_at(const FlSchedule *schedule, gint year, gint month, gint day, gint hour, gint minute,
	       gdouble seconds, const gchar *expected)
{
	g_autoptr(GDateTime) after = local_time(year, month, day, hour, minute, seconds);
	assert_next(schedule, after, expected);
}

static void
test_schedule_times(void)
{
	/* unsorted with a duplicate: fires at each distinct time once, in order */
	g_autoptr(FlSchedule) s =
		schedule_new(" 17:30; 10:00;15:00 ;12:00;10:00;", NULL, NULL, NULL);
	g_autoptr(GDateTime) cursor = local_time(2026, 6, 3, 0, 0, 0);
	const gchar *expected[] = {
		"2026-06-03 Wed 10:00:00 +0200", "2026-06-03 Wed 12:00:00 +0200",
		"2026-06-03 Wed 15:00:00 +0200", "2026-06-03 Wed 17:30:00 +0200",
		"2026-06-04 Thu 10:00:00 +0200",
	};

	for (guint i = 0; i < G_N_ELEMENTS(expected); i++) {
		g_autoptr(GDateTime) next = fl_schedule_next(s, cursor);
		g_autofree gchar *got = show(next);
		g_assert_cmpstr(got, ==, expected[i]);
		g_date_time_unref(cursor);
		cursor = g_steal_pointer(&next);
	}

	/* strictly after: a check-in at exactly @after is not the next one */
	assert_next_at(s, 2026, 6, 3, 12, 0, 0, "2026-06-03 Wed 15:00:00 +0200");
	/* ... but one a fraction of a second later is */
	assert_next_at(s, 2026, 6, 3, 11, 59, 59.5, "2026-06-03 Wed 12:00:00 +0200");
	/* H:MM is accepted */
	{
		g_autoptr(FlSchedule) early = schedule_new("7:05", NULL, NULL, NULL);
		assert_next_at(early, 2026, 6, 3, 7, 4, 0, "2026-06-03 Wed 07:05:00 +0200");
	}
}

static void
test_schedule_times_next_day(void)
{
	g_autoptr(FlSchedule) s = schedule_new("10:00;17:30", NULL, NULL, NULL);

	assert_next_at(s, 2026, 6, 3, 17, 30, 0, "2026-06-04 Thu 10:00:00 +0200");
	assert_next_at(s, 2026, 6, 3, 23, 59, 59, "2026-06-04 Thu 10:00:00 +0200");
	/* across a month end */
	assert_next_at(s, 2026, 6, 30, 18, 0, 0, "2026-07-01 Wed 10:00:00 +0200");
}

static void
test_schedule_days(void)
{
	g_autoptr(FlSchedule) weekdays = schedule_new("10:00;18:00", NULL, "mon-fri", NULL);
	g_autoptr(FlSchedule) weekend = schedule_new("10:00", NULL, "sat,sun", NULL);
	g_autoptr(FlSchedule) wrapped = schedule_new("10:00", NULL, "fri-mon", NULL);
	g_autoptr(FlSchedule) listed = schedule_new("10:00", NULL, "MON;Wed; friday", NULL);
	g_autoptr(FlSchedule) all = schedule_new("10:00", NULL, "all", NULL);
	g_autoptr(FlSchedule) star = schedule_new("10:00", NULL, "*", NULL);

	/* Friday 18:00 is the last of the week: next is Monday morning */
	assert_next_at(weekdays, 2026, 6, 5, 18, 0, 0, "2026-06-08 Mon 10:00:00 +0200");
	assert_next_at(weekdays, 2026, 6, 6, 9, 0, 0, "2026-06-08 Mon 10:00:00 +0200");
	assert_next_at(weekdays, 2026, 6, 5, 17, 0, 0, "2026-06-05 Fri 18:00:00 +0200");

	assert_next_at(weekend, 2026, 6, 1, 9, 0, 0, "2026-06-06 Sat 10:00:00 +0200");
	assert_next_at(weekend, 2026, 6, 6, 10, 0, 0, "2026-06-07 Sun 10:00:00 +0200");
	/* the same weekday a week later when today's time has passed */
	assert_next_at(weekend, 2026, 6, 7, 11, 0, 0, "2026-06-13 Sat 10:00:00 +0200");

	/* fri-mon wraps the week end: fri, sat, sun, mon but not tue-thu */
	assert_next_at(wrapped, 2026, 6, 1, 11, 0, 0, "2026-06-05 Fri 10:00:00 +0200");
	assert_next_at(wrapped, 2026, 6, 7, 11, 0, 0, "2026-06-08 Mon 10:00:00 +0200");

	assert_next_at(listed, 2026, 6, 1, 11, 0, 0, "2026-06-03 Wed 10:00:00 +0200");
	assert_next_at(listed, 2026, 6, 3, 11, 0, 0, "2026-06-05 Fri 10:00:00 +0200");
	assert_next_at(listed, 2026, 6, 5, 11, 0, 0, "2026-06-08 Mon 10:00:00 +0200");

	assert_next_at(all, 2026, 6, 6, 11, 0, 0, "2026-06-07 Sun 10:00:00 +0200");
	assert_next_at(star, 2026, 6, 6, 11, 0, 0, "2026-06-07 Sun 10:00:00 +0200");
}

static void
test_schedule_every(void)
{
	g_autoptr(FlSchedule) half_hour = schedule_new(NULL, "30m", NULL, NULL);
	g_autoptr(FlSchedule) defaults = schedule_new(NULL, NULL, NULL, NULL);
	g_autoptr(FlSchedule) ninety = schedule_new(NULL, "1h30m", NULL, NULL);
	g_autoptr(FlSchedule) seven = schedule_new(NULL, "7h", NULL, NULL);
	g_autoptr(FlSchedule) seconds = schedule_new(NULL, "90s", NULL, NULL);

	/* aligned to local midnight, not to @after */
	assert_next_at(half_hour, 2026, 6, 3, 10, 7, 0, "2026-06-03 Wed 10:30:00 +0200");
	assert_next_at(half_hour, 2026, 6, 3, 10, 30, 0, "2026-06-03 Wed 11:00:00 +0200");
	/* crossing midnight */
	assert_next_at(half_hour, 2026, 6, 3, 23, 45, 0, "2026-06-04 Thu 00:00:00 +0200");
	assert_next_at(half_hour, 2026, 6, 30, 23, 30, 0, "2026-07-01 Wed 00:00:00 +0200");

	/* no times and no every: every 30 minutes */
	assert_next_at(defaults, 2026, 6, 3, 10, 7, 0, "2026-06-03 Wed 10:30:00 +0200");

	/* 00:00, 01:30, ..., 09:00, 10:30 */
	assert_next_at(ninety, 2026, 6, 3, 10, 7, 0, "2026-06-03 Wed 10:30:00 +0200");
	/* 00:00, 07:00, 14:00, 21:00: a new day restarts at midnight instead of 04:00 */
	assert_next_at(seven, 2026, 6, 3, 20, 0, 0, "2026-06-03 Wed 21:00:00 +0200");
	assert_next_at(seven, 2026, 6, 3, 21, 0, 0, "2026-06-04 Thu 00:00:00 +0200");
	/* seconds: 00:00:00, 00:01:30, 00:03:00 */
	assert_next_at(seconds, 2026, 6, 3, 0, 2, 0, "2026-06-03 Wed 00:03:00 +0200");
	assert_next_at(seconds, 2026, 6, 3, 0, 1, 0, "2026-06-03 Wed 00:01:30 +0200");
}

static void
test_schedule_quiet_hours(void)
{
	g_autoptr(FlSchedule) s = schedule_new(NULL, "1h", NULL, "19:00-09:00");
	g_autoptr(FlSchedule) lunch = schedule_new(NULL, "1h", NULL, "12:00-14:00");
	g_autoptr(FlSchedule) times = schedule_new("08:00;12:00", NULL, NULL, "07:00-09:00");

	assert_next_at(s, 2026, 6, 3, 17, 59, 0, "2026-06-03 Wed 18:00:00 +0200");
	/* start is inclusive: 19:00 is quiet, so the next is the end of the night */
	assert_next_at(s, 2026, 6, 3, 18, 30, 0, "2026-06-04 Thu 09:00:00 +0200");
	assert_next_at(s, 2026, 6, 3, 18, 0, 0, "2026-06-04 Thu 09:00:00 +0200");
	/* inside quiet hours, after midnight */
	assert_next_at(s, 2026, 6, 4, 3, 0, 0, "2026-06-04 Thu 09:00:00 +0200");
	/* end is exclusive: 09:00 itself is not quiet */
	assert_next_at(s, 2026, 6, 4, 8, 59, 0, "2026-06-04 Thu 09:00:00 +0200");
	assert_next_at(s, 2026, 6, 4, 9, 0, 0, "2026-06-04 Thu 10:00:00 +0200");

	/* a range that does not wrap midnight */
	assert_next_at(lunch, 2026, 6, 3, 11, 30, 0, "2026-06-03 Wed 14:00:00 +0200");
	assert_next_at(lunch, 2026, 6, 3, 11, 0, 0, "2026-06-03 Wed 14:00:00 +0200");
	assert_next_at(lunch, 2026, 6, 3, 10, 30, 0, "2026-06-03 Wed 11:00:00 +0200");

	/* a listed time inside quiet hours is skipped, not moved */
	assert_next_at(times, 2026, 6, 3, 7, 0, 0, "2026-06-03 Wed 12:00:00 +0200");
	assert_next_at(times, 2026, 6, 3, 12, 0, 0, "2026-06-04 Thu 12:00:00 +0200");
}

static void
test_schedule_dst_spring_forward(void)
{
	g_autoptr(FlSchedule) s = schedule_new("02:30", NULL, NULL, NULL);
	g_autoptr(FlSchedule) every = schedule_new(NULL, "30m", NULL, NULL);
	g_autoptr(GDateTime) cursor = local_time(2026, 3, 29, 0, 0, 0);
	guint count = 0;

	/* 02:30 does not exist that night: the first valid instant after it, 03:00 CEST */
	assert_next_at(s, 2026, 3, 29, 0, 0, 0, "2026-03-29 Sun 03:00:00 +0200");
	assert_next_at(s, 2026, 3, 28, 0, 0, 0, "2026-03-28 Sat 02:30:00 +0100");
	{
		/* the moved check-in is in the past a second later: next is the next day */
		g_autoptr(GDateTime) moved = local_time(2026, 3, 29, 3, 0, 0);
		assert_next(s, moved, "2026-03-30 Mon 02:30:00 +0200");
	}

	assert_next_at(every, 2026, 3, 29, 1, 45, 0, "2026-03-29 Sun 03:00:00 +0200");
	/* 02:00, 02:30 and 03:00 all land on 03:00 CEST and fire once */
	{
		g_autoptr(GDateTime) moved = local_time(2026, 3, 29, 3, 0, 0);
		assert_next(every, moved, "2026-03-29 Sun 03:30:00 +0200");
	}
	while (TRUE) {
		g_autoptr(GDateTime) next = fl_schedule_next(every, cursor);
		if (g_date_time_get_day_of_month(next) != 29)
			break;
		g_assert_cmpint(g_date_time_compare(next, cursor), >, 0);
		g_date_time_unref(cursor);
		cursor = g_steal_pointer(&next);
		count++;
	}
	/* 48 slots less the two the clock skips, minus 00:00 itself which is not after */
	g_assert_cmpuint(count, ==, 48 - 2 - 1);
}

static void
test_schedule_dst_fall_back(void)
{
	g_autoptr(FlSchedule) s = schedule_new("02:30", NULL, NULL, NULL);
	g_autoptr(FlSchedule) every = schedule_new(NULL, "30m", NULL, NULL);
	g_autoptr(GDateTime) cursor = local_time(2026, 10, 24, 23, 59, 0);
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autoptr(GTimeZone) tz = berlin();
	guint count = 0;

	/* 02:30 happens twice that night: the first one (CEST) fires, the second does not */
	assert_next_at(s, 2026, 10, 25, 0, 0, 0, "2026-10-25 Sun 02:30:00 +0200");
	{
		g_autoptr(GDateTime) first = fl_schedule_next(s, cursor);
		assert_next(s, first, "2026-10-26 Mon 02:30:00 +0100");
	}

	/* every=30m through the night: strictly increasing, each wall-clock time once */
	while (TRUE) {
		g_autoptr(GDateTime) next = fl_schedule_next(every, cursor);
		g_autofree gchar *wall = NULL;
		if (g_date_time_get_day_of_month(next) != 25)
			break;
		g_assert_cmpint(g_date_time_compare(next, cursor), >, 0);
		wall = g_date_time_format(next, "%R");
		g_assert_false(g_hash_table_contains(seen, wall));
		g_hash_table_add(seen, g_steal_pointer(&wall));
		g_date_time_unref(cursor);
		cursor = g_steal_pointer(&next);
		count++;
	}
	g_assert_cmpuint(count, ==, 48);

	{
		/* from inside the repeated hour (second pass, CET), the CEST slots are past */
		g_autoptr(GDateTime) utc = g_date_time_new_utc(2026, 10, 25, 1, 15, 0);
		g_autoptr(GDateTime) second_pass = g_date_time_to_timezone(utc, tz);
		g_autofree gchar *shown = show(second_pass);
		g_assert_cmpstr(shown, ==, "2026-10-25 Sun 02:15:00 +0100");
		assert_next(every, second_pass, "2026-10-25 Sun 03:00:00 +0100");
	}
}

static void
test_schedule_other_time_zone(void)
{
	g_autoptr(FlSchedule) s = schedule_new("10:00", NULL, "mon-fri", NULL);
	g_autoptr(GTimeZone) tokyo = g_time_zone_new_identifier("Asia/Tokyo");
	g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
	g_autoptr(GDateTime) in_tokyo = NULL;
	g_autoptr(GDateTime) in_utc = NULL;

	g_assert_nonnull(tokyo);
	/* the result is in @after's zone and the times are that zone's wall clock */
	in_tokyo = g_date_time_new(tokyo, 2026, 6, 5, 12, 0, 0);
	assert_next(s, in_tokyo, "2026-06-08 Mon 10:00:00 +0900");
	in_utc = g_date_time_new(utc, 2026, 6, 5, 9, 0, 0);
	assert_next(s, in_utc, "2026-06-05 Fri 10:00:00 +0000");
}

typedef struct {
	const gchar *times;
	const gchar *every;
	const gchar *days;
	const gchar *quiet;
	const gchar *prefix; /* the message starts with the key */
	const gchar *value;  /* and names the bad value, when there is one */
} BadCase;

static void
test_schedule_errors(void)
{
	const BadCase cases[] = {
		{"25:00", NULL, NULL, NULL, "times: ", "'25:00'"},
		{"10:60", NULL, NULL, NULL, "times: ", "'10:60'"},
		{"24:00", NULL, NULL, NULL, "times: ", "'24:00'"},
		{"10:00;ten", NULL, NULL, NULL, "times: ", "'ten'"},
		{"10:5", NULL, NULL, NULL, "times: ", "'10:5'"},
		{"1000", NULL, NULL, NULL, "times: ", "'1000'"},
		{";;", NULL, NULL, NULL, "times: ", "';;'"},
		{NULL, "ten", NULL, NULL, "every: ", "'ten'"},
		{NULL, "30", NULL, NULL, "every: ", "'30'"},
		{NULL, "30x", NULL, NULL, "every: ", "'30x'"},
		{NULL, "30m1h", NULL, NULL, "every: ", "'30m1h'"},
		{NULL, "10s", NULL, NULL, "every: ", "'10s'"},
		{NULL, "0m", NULL, NULL, "every: ", "'0m'"},
		{NULL, "25h", NULL, NULL, "every: ", "'25h'"},
		{NULL, "99999999999h", NULL, NULL, "every: ", "'99999999999h'"},
		{"10:00", "30m", NULL, NULL, "every: ", "times"},
		{"10:00", NULL, "funday", NULL, "days: ", "'funday'"},
		{"10:00", NULL, "mon-funday", NULL, "days: ", "'mon-funday'"},
		{"10:00", NULL, "mon-tue-wed", NULL, "days: ", "'mon-tue-wed'"},
		{"10:00", NULL, ",", NULL, "days: ", "','"},
		{"10:00", NULL, NULL, "09:00-09:00", "quiet-hours: ", "'09:00-09:00'"},
		{"10:00", NULL, NULL, "9-17", "quiet-hours: ", "'9-17'"},
		{"10:00", NULL, NULL, "19:00", "quiet-hours: ", "'19:00'"},
		{"10:00", NULL, NULL, "19:00-25:00", "quiet-hours: ", "'19:00-25:00'"},
		/* days can never be empty, but quiet hours can cover every listed time */
		{"10:00;12:00", NULL, "mon-fri", "09:00-13:00", "quiet-hours: ", "'09:00-13:00'"},
		{NULL, "24h", NULL, "23:00-01:00", "quiet-hours: ", "no time"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		const BadCase *c = &cases[i];
		g_autoptr(GError) error = NULL;
		g_autoptr(FlSchedule) s =
			fl_schedule_new(c->times, c->every, c->days, c->quiet, &error);
		g_test_message("case %u: %s", i, error != NULL ? error->message : "(no error)");
		g_assert_null(s);
		g_assert_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT);
		g_assert_true(g_str_has_prefix(error->message, c->prefix));
		g_assert_nonnull(strstr(error->message, c->value));
		g_assert_null(strchr(error->message, '\n'));
	}
}

static void
test_schedule_error_shows_clean_value(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(FlSchedule) s = NULL;
	g_autofree gchar *huge = g_strnfill(10000, 'x');

	/* a bad value is shown readable: valid UTF-8, no control characters, short */
	s = fl_schedule_new("1\xff:\x1b[31m00", NULL, NULL, NULL, &error);
	g_assert_null(s);
	g_assert_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT);
	g_assert_true(g_utf8_validate(error->message, -1, NULL));
	g_assert_null(strchr(error->message, '\x1b'));
	g_clear_error(&error);

	s = fl_schedule_new(NULL, NULL, huge, NULL, &error);
	g_assert_null(s);
	g_assert_error(error, FL_ERROR, FL_ERROR_INVALID_ARGUMENT);
	g_assert_true(g_str_has_prefix(error->message, "days: 'xxx"));
	g_assert_cmpuint(strlen(error->message), <, 200);
}

static void
test_schedule_empty_means_default(void)
{
	/* an empty key in the config file means the default, not an error */
	g_autoptr(FlSchedule) s = schedule_new("", " ", "", "");
	assert_next_at(s, 2026, 6, 6, 10, 7, 0, "2026-06-06 Sat 10:30:00 +0200");
}

int
main(int argc, char **argv)
{
	setlocale(LC_ALL, "");
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/schedule/times", test_schedule_times);
	g_test_add_func("/schedule/times-next-day", test_schedule_times_next_day);
	g_test_add_func("/schedule/days", test_schedule_days);
	g_test_add_func("/schedule/every", test_schedule_every);
	g_test_add_func("/schedule/quiet-hours", test_schedule_quiet_hours);
	g_test_add_func("/schedule/dst-spring-forward", test_schedule_dst_spring_forward);
	g_test_add_func("/schedule/dst-fall-back", test_schedule_dst_fall_back);
	g_test_add_func("/schedule/other-time-zone", test_schedule_other_time_zone);
	g_test_add_func("/schedule/errors", test_schedule_errors);
	g_test_add_func("/schedule/error-shows-clean-value", test_schedule_error_shows_clean_value);
	g_test_add_func("/schedule/empty-means-default", test_schedule_empty_means_default);
	return g_test_run();
}
