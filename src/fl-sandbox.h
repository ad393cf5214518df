/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * FlSandbox: the bubblewrap command line that confines one session (or one verify run).
 *
 * Inside: the system read-only, a private /tmp, /proc and /dev of its own, its own pid, ipc,
 * uts, cgroup and user namespaces (but its caller's process group, for signals), and nothing
 * of the user's home but what was bound in. Everything writable is named with
 * fl_sandbox_bind(). The sandboxed
 * processes die with the process that runs bwrap (--die-with-parent), and all of them with
 * the sandbox's pid 1.
 */

/* where the session's channel to its runner appears inside the sandbox */
#define FL_SANDBOX_CHANNEL_PATH "/run/flotilla/channel"

typedef struct _FlSandbox FlSandbox;

FlSandbox *
fl_sandbox_new(void);
void
fl_sandbox_free(FlSandbox *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FlSandbox, fl_sandbox_free)

/* @path visible at the same path, writable when @writable; a missing @path is skipped unless
 * @required, then fl_sandbox_build_argv() fails */
void
fl_sandbox_bind(FlSandbox *self, const gchar *path, gboolean writable, gboolean required);
/*
 * @path appears at @dest instead. Binds are made in the order given, so a later one whose
 * @dest lies inside an earlier one's covers that part of it (how a private git dir gets the
 * repository's config and hooks read-only on top, see FlGitLayer).
 */
void
fl_sandbox_bind_at(FlSandbox *self, const gchar *path, const gchar *dest, gboolean writable,
		   gboolean required);
/* where the repository's own objects appear inside the sandbox (see below) */
#define FL_SANDBOX_GIT_OBJECTS "/run/flotilla/objects"

/*
 * The session's git layer @layer (made by FlGitLayer) appears as the repository's common git
 * dir @common, with every entry of the real @common but refs, packed-refs, logs, objects and
 * worktrees read-only on top at its own name, and @common's objects read-only at
 * FL_SANDBOX_GIT_OBJECTS, the alternate of the layer's own object store. What git writes
 * there lands in the layer; the repository's config, hooks and objects cannot change.
 */
void
fl_sandbox_bind_git_layer(FlSandbox *self, const gchar *layer, const gchar *common);
/*
 * The home directory the sandbox shows: an empty tmpfs at @home (HOME keeps pointing there),
 * with @home_ro read-only and @home_rw writable on top, both relative to @home; what does not
 * exist is left out, except an entry of @home_rw ending in '/': a directory, made when missing.
 * NULL keeps no home at all (the user's home is then simply not there).
 */
void
fl_sandbox_set_home(FlSandbox *self, const gchar *home, const gchar *const *home_ro,
		    const gchar *const *home_rw);
/* the unix socket @socket_path appears at FL_SANDBOX_CHANNEL_PATH; FLOTILLA_CHANNEL names it */
void
fl_sandbox_set_channel(FlSandbox *self, const gchar *socket_path);
/* FALSE: a network namespace of its own with only loopback (no network at all) */
void
fl_sandbox_set_network(FlSandbox *self, gboolean network);
void
fl_sandbox_set_cwd(FlSandbox *self, const gchar *cwd);
/* set inside the sandbox; NULL @value unsets */
void
fl_sandbox_setenv(FlSandbox *self, const gchar *name, const gchar *value);
/* 0 = no limit; applied inside the sandbox, so a count is the sandbox's own (prlimit) */
void
fl_sandbox_set_rlimits(FlSandbox *self, guint64 address_space, guint64 processes);

/* the full argv: bwrap, its options, then @argv; the program of @argv is made visible */
gchar **
fl_sandbox_build_argv(FlSandbox *self, const gchar *const *argv, GError **error);

/*
 * Whether sessions can be confined here: bwrap is installed and can create its namespaces.
 * Runs bwrap once (a few milliseconds); on failure @error says why and how to fix it.
 */
gboolean
fl_sandbox_probe(GError **error);

/* the bwrap found on PATH (or FLOTILLA_BWRAP), NULL when there is none */
gchar *
fl_sandbox_find_bwrap(void);

G_END_DECLS
