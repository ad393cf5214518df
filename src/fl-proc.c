/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-proc.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "fl-msg.h"

gboolean
fl_proc_stat_parse(const gchar *line, FlProcStat *stat, GError **error)
{
	/* the command name may contain spaces and parentheses: fields start after the last ')' */
	const gchar *rparen = strrchr(line, ')');
	g_auto(GStrv) tokens = NULL;
	const guint wanted[] = {4, 5, 6, 22};
	guint64 *values[] = {&stat->ppid, &stat->pgrp, &stat->session, &stat->starttime};

	if (rparen == NULL || rparen[1] != ' ' || rparen[2] == '\0') {
		g_set_error_literal(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
				    "malformed /proc stat line");
		return FALSE;
	}
	/* field 3 (state) is tokens[0], so field N is tokens[N - 3] */
	tokens = g_strsplit(rparen + 2, " ", 21);
	if (g_strv_length(tokens) < 20) {
		g_set_error_literal(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
				    "/proc stat line has too few fields");
		return FALSE;
	}
	stat->state = tokens[0][0];
	for (guint i = 0; i < G_N_ELEMENTS(wanted); i++) {
		if (!g_ascii_string_to_unsigned(g_strstrip(tokens[wanted[i] - 3]), 10, 0,
						G_MAXUINT64, values[i], error))
			return FALSE;
	}
	return TRUE;
}

gboolean
fl_proc_stat_read(gint pid, FlProcStat *stat, GError **error)
{
	g_autofree gchar *path =
		pid == 0 ? g_strdup("/proc/self/stat") : g_strdup_printf("/proc/%d/stat", pid);
	g_autofree gchar *line = NULL;

	if (!g_file_get_contents(path, &line, NULL, error))
		return FALSE;
	if (!fl_proc_stat_parse(line, stat, error)) {
		fl_prefix_error(error, "%s: ", path);
		return FALSE;
	}
	return TRUE;
}

guint64
fl_proc_starttime(gint pid)
{
	FlProcStat stat;

	if (pid <= 0 || !fl_proc_stat_read(pid, &stat, NULL) || stat.state == 'Z')
		return 0;
	return stat.starttime;
}

gchar *
fl_proc_read_boot_id(GError **error)
{
	g_autofree gchar *boot_id = NULL;

	if (!g_file_get_contents("/proc/sys/kernel/random/boot_id", &boot_id, NULL, error))
		return NULL;
	g_strstrip(boot_id);
	for (const gchar *p = boot_id; *p != '\0'; p++) {
		if (!g_ascii_isxdigit(*p) && *p != '-') {
			g_set_error_literal(
				error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
				"unexpected content in /proc/sys/kernel/random/boot_id");
			return NULL;
		}
	}
	if (boot_id[0] == '\0') {
		g_set_error_literal(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
				    "/proc/sys/kernel/random/boot_id is empty");
		return NULL;
	}
	return g_steal_pointer(&boot_id);
}

const gchar *
fl_boot_id(void)
{
	static gchar *boot_id = NULL;

	if (g_once_init_enter(&boot_id)) {
		gchar *id = fl_proc_read_boot_id(NULL);
		g_once_init_leave(&boot_id, id != NULL ? id : g_strdup("unknown"));
	}
	return boot_id;
}

guint
fl_proc_kill_session(gint sid, guint64 min_starttime)
{
	g_autoptr(GDir) proc = NULL;
	const gchar *name;
	guint n = 0;

	/* never the caller's own session: a runner that could not call setsid() shares it */
	if (sid <= 1 || sid == getsid(0))
		return 0;
	proc = g_dir_open("/proc", 0, NULL);
	if (proc == NULL)
		return 0;
	while ((name = g_dir_read_name(proc)) != NULL) {
		FlProcStat stat;
		guint64 pid = 0;

		if (!g_ascii_string_to_unsigned(name, 10, 1, G_MAXINT, &pid, NULL))
			continue;
		if (!fl_proc_stat_read((gint)pid, &stat, NULL))
			continue;
		if (stat.session != (guint64)sid || stat.state == 'Z' ||
		    stat.starttime < min_starttime)
			continue;
		kill((pid_t)pid, SIGKILL);
		n++;
	}
	return n;
}
