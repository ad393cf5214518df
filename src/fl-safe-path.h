/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

/*
 * Files written on a session's behalf, in places a session can write to (its worktree, its
 * state directory): the path is resolved beneath a root directory without following any
 * symbolic link, in a component or at the end, and without "..". openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS) where the kernel has it (Linux 5.6), a walk one O_NOFOLLOW component
 * at a time where it does not. The root itself is trusted: it is followed like any path.
 *
 * @path is relative to @root, or absolute and inside @root. Errors are G_FILE_ERROR with a
 * one-line message naming the path; a symbolic link on the way is G_FILE_ERROR_LOOP.
 */

/*
 * open(2) of @path beneath @root with @flags (O_CLOEXEC and O_NOFOLLOW are added). When
 * @make_dirs, missing directories on the way are created (mode 0700). Only a regular file
 * is opened: a FIFO or device never blocks the caller. Returns the descriptor or -1.
 */
gint
fl_safe_open(const gchar *root, const gchar *path, gint flags, mode_t mode, gboolean make_dirs,
	     GError **error);

/*
 * Replaces @path beneath @root with @contents (@len -1: NUL-terminated) by a new file renamed
 * into place, so a link (symbolic or hard) already there is replaced, never written
 * through. With @durable, the file and its directory are synced first.
 */
gboolean
fl_safe_write_file(const gchar *root, const gchar *path, const gchar *contents, gssize len,
		   mode_t mode, gboolean make_dirs, gboolean durable, GError **error);

G_END_DECLS
