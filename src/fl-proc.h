/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * What flotillad and flotilla-runner read from /proc, parsed once for both. GLib only: the
 * runner links nothing else.
 */

/* the fields of /proc/PID/stat we use, numbered as in proc(5) */
typedef struct {
	gchar state;       /* field 3: 'R', 'S', 'Z', … */
	guint64 ppid;      /* field 4 */
	guint64 pgrp;      /* field 5 */
	guint64 session;   /* field 6 */
	guint64 starttime; /* field 22: clock ticks since boot */
} FlProcStat;

/* parses one /proc/PID/stat line (the command name may hold spaces and parentheses) */
gboolean
fl_proc_stat_parse(const gchar *line, FlProcStat *stat, GError **error);
/* reads /proc/@pid/stat; @pid 0 reads /proc/self/stat */
gboolean
fl_proc_stat_read(gint pid, FlProcStat *stat, GError **error);

/* the start time of @pid, or 0 when it is gone or a zombie: with the boot id, what tells a
 * process from a later one that got the same pid */
guint64
fl_proc_starttime(gint pid);

/* this boot's id from /proc/sys/kernel/random/boot_id, checked to be a UUID (it is written
 * into JSON unescaped) */
gchar *
fl_proc_read_boot_id(GError **error);
/* the same, read once and kept; "unknown" when unreadable; never NULL */
const gchar *
fl_boot_id(void);

/*
 * SIGKILLs every live process of the process session @sid that started at or after
 * @min_starttime (a process older than the session's leader cannot belong to it, whatever
 * its session id says after a pid was reused). Returns how many were still alive. Refuses
 * (returns 0) for @sid <= 1 and for the caller's own session.
 */
guint
fl_proc_kill_session(gint sid, guint64 min_starttime);

G_END_DECLS
