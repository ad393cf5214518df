/* SPDX-License-Identifier: GPL-2.0-or-later */
/* /proc parsing shared by the daemon and the runner */
#include "config.h"

#include <gio/gio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fl-proc.h"

static void
test_stat_parse(void)
{
	/* a command name with spaces and parentheses, as a hostile agent may choose */
	const gchar *line = "4242 (a) b) (c) S 7 4242 4200 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 "
			    "1 0 123456 1000 10 18446744073709551615\n";
	const gchar *bad[] = {"", "4242 (x", "4242 (x) S 1 2", "4242 (x) S a b c d", NULL};
	FlProcStat st;
	g_autoptr(GError) error = NULL;

	g_assert_true(fl_proc_stat_parse(line, &st, &error));
	g_assert_no_error(error);
	g_assert_cmpint(st.state, ==, 'S');
	g_assert_cmpuint(st.ppid, ==, 7);
	g_assert_cmpuint(st.pgrp, ==, 4242);
	g_assert_cmpuint(st.session, ==, 4200);
	g_assert_cmpuint(st.starttime, ==, 123456);
	for (guint i = 0; bad[i] != NULL; i++) {
		g_autoptr(GError) e = NULL;
		g_assert_false(fl_proc_stat_parse(bad[i], &st, &e));
		g_assert_nonnull(e);
	}
}

static void
test_self_and_gone(void)
{
	FlProcStat st;
	pid_t child;

	g_assert_true(fl_proc_stat_read(0, &st, NULL));
	g_assert_cmpuint(st.session, ==, (guint64)getsid(0));
	g_assert_cmpuint(fl_proc_starttime(getpid()), ==, st.starttime);
	g_assert_cmpuint(st.starttime, >, 0);
	/* a zombie counts as gone: its pid cannot be signalled into doing anything */
	child = fork();
	if (child == 0)
		_exit(0);
	g_assert_cmpint(waitid(P_PID, child, NULL, WEXITED | WNOWAIT), ==, 0);
	g_assert_cmpuint(fl_proc_starttime(child), ==, 0);
	waitpid(child, NULL, 0);
	g_assert_cmpuint(fl_proc_starttime(child), ==, 0);
	g_assert_cmpuint(fl_proc_starttime(-1), ==, 0);
}

static void
test_boot_id(void)
{
	g_autofree gchar *id = fl_proc_read_boot_id(NULL);

	g_assert_nonnull(id);
	g_assert_cmpuint(strlen(id), ==, 36);
	g_assert_cmpstr(fl_boot_id(), ==, id);
}

static void
test_kill_session(void)
{
	g_autoptr(GError) error = NULL;
	const gchar *argv[] = {"setsid", "sh", "-c", "sleep 4271 & sleep 4272", NULL};
	g_autoptr(GSubprocess) proc = NULL;
	FlProcStat st;
	gint pid;
	gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

	/* never the caller's own session, never init's */
	g_assert_cmpuint(fl_proc_kill_session(getsid(0), 0), ==, 0);
	g_assert_cmpuint(fl_proc_kill_session(1, 0), ==, 0);
	g_assert_cmpuint(fl_proc_kill_session(0, 0), ==, 0);

	proc = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_NONE, &error);
	g_assert_no_error(error);
	pid = (gint)g_ascii_strtoll(g_subprocess_get_identifier(proc), NULL, 10);
	/* setsid execs sh in place once it is a session leader */
	while (!fl_proc_stat_read(pid, &st, NULL) || st.session != (guint64)pid)
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
	/* a start time in the future: everything in the session counts as older, untouched */
	g_assert_cmpuint(fl_proc_kill_session(pid, G_MAXUINT64), ==, 0);
	g_assert_cmpuint(fl_proc_kill_session(pid, st.starttime), >=, 1);
	g_subprocess_wait(proc, NULL, &error);
	g_assert_no_error(error);
	g_assert_true(g_subprocess_get_if_signaled(proc));
	while (fl_proc_kill_session(pid, st.starttime) > 0)
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/proc/stat-parse", test_stat_parse);
	g_test_add_func("/proc/self-and-gone", test_self_and_gone);
	g_test_add_func("/proc/boot-id", test_boot_id);
	g_test_add_func("/proc/kill-session", test_kill_session);
	return g_test_run();
}
