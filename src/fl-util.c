/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-util.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "fl-error.h"
#include "fl-i18n.h"
#include "fl-msg.h"
#include "fl-safe-path.h"
#include "fl-text.h"

gint64
fl_now(void)
{
	return g_get_real_time();
}

/*
 * With TZ unset, GLib 2.74 reads /etc/localtime again for every g_time_zone_new_local(): a
 * fifth of listing 10 000 sessions. The zone is kept for a second instead, so one listing
 * looks it up once and a change of the system's zone still shows a second later.
 */
static GTimeZone *
fl_util_time_zone_local(void)
{
	static GMutex lock;
	static GTimeZone *zone = NULL; /* (owned) */
	static gint64 looked_up = 0;
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&lock);
	gint64 now = g_get_monotonic_time();

	if (zone == NULL || now - looked_up >= G_USEC_PER_SEC) {
		g_clear_pointer(&zone, g_time_zone_unref);
		zone = g_time_zone_new_local();
		looked_up = now;
	}
	return g_time_zone_ref(zone);
}

gchar *
fl_time_iso8601(gint64 usec)
{
	g_autoptr(GTimeZone) zone = NULL;
	g_autoptr(GDateTime) utc = NULL;
	g_autoptr(GDateTime) dt = NULL;
	GTimeSpan offset;
	gint year;
	gint month;
	gint day;

	if (usec <= 0)
		return NULL;
	utc = g_date_time_new_from_unix_utc(usec / G_USEC_PER_SEC);
	if (utc == NULL)
		return NULL;
	zone = fl_util_time_zone_local();
	dt = g_date_time_to_timezone(utc, zone);
	if (dt == NULL)
		return NULL;
	/* what g_date_time_format(dt, "%Y-%m-%dT%H:%M:%S%:z") says, without parsing a format
	 * for each of the 30 000 times of a long listing */
	g_date_time_get_ymd(dt, &year, &month, &day);
	offset = g_date_time_get_utc_offset(dt) / G_TIME_SPAN_SECOND;
	return g_strdup_printf("%d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", year, month, day,
			       g_date_time_get_hour(dt), g_date_time_get_minute(dt),
			       g_date_time_get_second(dt), offset >= 0 ? '+' : '-',
			       (gint)(ABS(offset) / 3600), (gint)(ABS(offset) / 60 % 60));
}

gboolean
fl_ensure_dir(const gchar *path, GError **error)
{
	if (g_mkdir_with_parents(path, 0700) != 0) {
		gint saved = errno;
		fl_set_error(error, FL_ERROR_FAILED, N_("cannot create %s: %s"), path,
			     g_strerror(saved));
		return FALSE;
	}
	if (access(path, W_OK | X_OK) != 0) {
		gint saved = errno;
		fl_set_error(error, FL_ERROR_FAILED, N_("cannot write to %s: %s"), path,
			     g_strerror(saved));
		return FALSE;
	}
	return TRUE;
}

gboolean
fl_write_file_durable(const gchar *path, const gchar *contents, gssize len, GError **error)
{
	g_autofree gchar *dir = g_path_get_dirname(path);
	g_autofree gchar *name = g_path_get_basename(path);

	/* session directories are written by sessions too: never through a link planted there */
	return fl_safe_write_file(dir, name, contents, len, 0600, FALSE, TRUE, error);
}

JsonObject *
fl_read_json_object(const gchar *path, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	JsonNode *root;

	if (!json_parser_load_from_mapped_file(parser, path, error))
		return NULL;
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		fl_set_error(error, FL_ERROR_FAILED, N_("%s is not a JSON object"), path);
		return NULL;
	}
	return json_object_ref(json_node_get_object(root));
}

const gchar *
fl_json_get_string(JsonObject *obj, const gchar *name)
{
	JsonNode *node = obj != NULL ? json_object_get_member(obj, name) : NULL;

	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(node);
}

gboolean
fl_json_get_uint(JsonObject *obj, const gchar *name, guint *value)
{
	JsonNode *node = obj != NULL ? json_object_get_member(obj, name) : NULL;
	gint64 number;

	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_INT64)
		return FALSE;
	number = json_node_get_int(node);
	if (number < 0)
		return FALSE;
	*value = (guint)MIN(number, (gint64)G_MAXUINT);
	return TRUE;
}

gchar *
fl_find_helper(const gchar *env_name, const gchar *name, const gchar *fallback_dir)
{
	const gchar *env = env_name != NULL ? g_getenv(env_name) : NULL;
	g_autofree gchar *exe = NULL;

	g_return_val_if_fail(name != NULL, NULL);

	if (env != NULL && env[0] != '\0')
		return g_strdup(env);
	exe = g_file_read_link("/proc/self/exe", NULL);
	if (exe != NULL) {
		g_autofree gchar *dir = g_path_get_dirname(exe);
		g_autofree gchar *path = g_build_filename(dir, name, NULL);

		if (g_file_test(path, G_FILE_TEST_IS_EXECUTABLE))
			return g_steal_pointer(&path);
	}
	return fallback_dir != NULL ? g_build_filename(fallback_dir, name, NULL) : NULL;
}

gchar *
fl_file_tail(const gchar *path, gsize max_bytes)
{
	g_autofree gchar *buf = NULL;
	gint fd;
	off_t size;
	off_t start;
	gssize n;
	const gchar *begin;

	fd = g_open(path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0) {
		close(fd);
		return NULL;
	}
	start = size > (off_t)max_bytes ? size - (off_t)max_bytes : 0;
	buf = g_malloc0(max_bytes + 1);
	n = pread(fd, buf, max_bytes, start);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	begin = buf;
	if (start > 0) {
		const gchar *nl = memchr(buf, '\n', (gsize)n);
		if (nl != NULL && nl + 1 < buf + n)
			begin = nl + 1;
	}
	return fl_text_clean(begin, n - (begin - buf), FL_TEXT_MULTILINE);
}

void
fl_crash_point(const gchar *step)
{
	static gsize init = 0;
	static gchar *want = NULL;
	static guint64 nth = 0;
	static guint64 seen = 0;

	if (g_once_init_enter(&init)) {
		const gchar *spec = g_getenv("FL_TEST_CRASH_AT");
		const gchar *colon = spec != NULL ? strrchr(spec, ':') : NULL;

		if (colon != NULL &&
		    g_ascii_string_to_unsigned(colon + 1, 10, 1, G_MAXUINT32, &nth, NULL))
			want = g_strndup(spec, colon - spec);
		g_once_init_leave(&init, 1);
	}
	if (want == NULL || g_strcmp0(step, want) != 0 || ++seen != nth)
		return;
	g_message("FL_TEST_CRASH_AT: dying at %s", step);
	kill(getpid(), SIGKILL);
}

gchar *
fl_start_error_path(void)
{
	return g_build_filename(g_get_user_runtime_dir(), "flotilla", "start-error", NULL);
}

void
fl_task_return_new_error(GTask *task, gint code, const gchar *format, ...)
{
	va_list args;
	GError *error;

	va_start(args, format);
	error = fl_error_new_valist(code, format, args);
	va_end(args);
	g_task_return_error(task, error);
}
