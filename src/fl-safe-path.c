/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-safe-path.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fl-i18n.h"

#ifdef SYS_openat2
#include <linux/openat2.h>
#endif

/* what a caller may name: @path relative to @root, split into its directories and its name */
typedef struct {
	gchar *shown;    /* for messages: the path as the caller gave it */
	GPtrArray *dirs; /* components of the directory part, no "." or "" */
	gchar *name;     /* the last component */
} FlSafePath;

static void
fl_safe_path_clear(FlSafePath *p)
{
	g_free(p->shown);
	g_clear_pointer(&p->dirs, g_ptr_array_unref);
	g_free(p->name);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(FlSafePath, fl_safe_path_clear)

static gboolean
fl_safe_path_parse(const gchar *root, const gchar *path, FlSafePath *p, GError **error)
{
	g_autofree gchar *root_full = g_canonicalize_filename(root, NULL);
	g_auto(GStrv) parts = NULL;
	const gchar *rel = path;

	p->shown = g_path_is_absolute(path) || strcmp(root, ".") == 0
			   ? g_strdup(path)
			   : g_build_filename(root, path, NULL);
	p->dirs = g_ptr_array_new_with_free_func(g_free);
	if (g_path_is_absolute(path)) {
		gsize n = strlen(root_full);

		/* lexically inside @root; ".." is refused below, so this is the whole check */
		if (strcmp(root_full, "/") != 0 &&
		    (strncmp(path, root_full, n) != 0 || (path[n] != '/' && path[n] != '\0'))) {
			g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_PERM,
				    _("%s is not inside %s"), path, root_full);
			return FALSE;
		}
		rel = path + (strcmp(root_full, "/") == 0 ? 0 : n);
	}
	parts = g_strsplit(rel, "/", -1);
	for (guint i = 0; parts[i] != NULL; i++) {
		if (parts[i][0] == '\0' || strcmp(parts[i], ".") == 0)
			continue;
		if (strcmp(parts[i], "..") == 0) {
			g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_PERM,
				    _("%s must not contain '..'"), path);
			return FALSE;
		}
		g_ptr_array_add(p->dirs, g_strdup(parts[i]));
	}
	if (p->dirs->len == 0) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_ISDIR, _("%s names no file"), path);
		return FALSE;
	}
	p->name = g_ptr_array_steal_index(p->dirs, p->dirs->len - 1);
	return TRUE;
}

static gboolean
fl_safe_path_set_errno(const FlSafePath *p, gint errsv, GError **error)
{
	if (errsv == ELOOP || errsv == EXDEV) {
		/* EXDEV: openat2 saw the path leave the root */
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_LOOP,
			    _("%s: a symbolic link on the way, not followed"), p->shown);
		return FALSE;
	}
	g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errsv), _("cannot open %s: %s"),
		    p->shown, g_strerror(errsv));
	return FALSE;
}

#ifdef SYS_openat2
/* the whole directory part in one call; -1 with errno ENOSYS when the kernel cannot */
static gint
fl_safe_path_openat2_dir(gint root_fd, const FlSafePath *p)
{
	struct open_how how = {0};
	g_autofree gchar *dir = NULL;

	if (p->dirs->len == 0)
		return dup(root_fd);
	g_ptr_array_add(p->dirs, NULL);
	dir = g_strjoinv("/", (gchar **)p->dirs->pdata);
	g_ptr_array_remove_index(p->dirs, p->dirs->len - 1);
	how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
	return (gint)syscall(SYS_openat2, root_fd, dir, &how, sizeof(how));
}
#endif

/* the directory holding @p's file, as a descriptor, or -1 with @error set */
static gint
fl_safe_path_open_parent(const gchar *root, const FlSafePath *p, gboolean make_dirs, GError **error)
{
	gint fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		gint errsv = errno;

		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errsv),
			    _("cannot open %s: %s"), root, g_strerror(errsv));
		return -1;
	}
#ifdef SYS_openat2
	/* the tests take the walk too, as on kernels before 5.6 */
	if (g_getenv("FL_TEST_NO_OPENAT2") == NULL) {
		gint dir_fd = fl_safe_path_openat2_dir(fd, p);
		gint errsv = errno;

		if (dir_fd >= 0) {
			close(fd);
			return dir_fd;
		}
		/* ENOSYS: an older kernel; EPERM: a seccomp filter; ENOENT: walk to create */
		if (errsv != ENOSYS && errsv != EPERM && errsv != E2BIG &&
		    !(errsv == ENOENT && make_dirs)) {
			close(fd);
			fl_safe_path_set_errno(p, errsv, error);
			return -1;
		}
	}
#endif
	/* one component at a time: O_NOFOLLOW on a single name leaves nothing to follow */
	for (guint i = 0; i < p->dirs->len; i++) {
		const gchar *name = g_ptr_array_index(p->dirs, i);
		gint next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (next < 0 && errno == ENOENT && make_dirs) {
			if (mkdirat(fd, name, 0700) != 0 && errno != EEXIST) {
				gint errsv = errno;

				close(fd);
				g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errsv),
					    _("cannot create a directory for %s: %s"), p->shown,
					    g_strerror(errsv));
				return -1;
			}
			next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			gint errsv = errno;
			struct stat st;

			/* O_DIRECTORY may win over O_NOFOLLOW: say what really was in the way */
			if (errsv == ENOTDIR && fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(st.st_mode))
				errsv = ELOOP;
			close(fd);
			fl_safe_path_set_errno(p, errsv, error);
			return -1;
		}
		close(fd);
		fd = next;
	}
	return fd;
}

gint
fl_safe_open(const gchar *root, const gchar *path, gint flags, mode_t mode, gboolean make_dirs,
	     GError **error)
{
	g_auto(FlSafePath) p = {NULL};
	struct stat st;
	gint dir_fd;
	gint fd;
	gint errsv;

	g_return_val_if_fail(root != NULL, -1);
	g_return_val_if_fail(path != NULL, -1);
	g_return_val_if_fail(error == NULL || *error == NULL, -1);

	if (!fl_safe_path_parse(root, path, &p, error))
		return -1;
	dir_fd = fl_safe_path_open_parent(root, &p, make_dirs, error);
	if (dir_fd < 0)
		return -1;
	/* O_NONBLOCK: a FIFO planted there must not hang the caller in open() */
	fd = openat(dir_fd, p.name, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, mode);
	errsv = errno;
	close(dir_fd);
	if (fd < 0) {
		fl_safe_path_set_errno(&p, errsv, error);
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, _("%s is not a regular file"),
			    p.shown);
		return -1;
	}
	if (!(flags & O_NONBLOCK))
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

static gboolean
fl_safe_path_write_all(gint fd, const gchar *data, gsize len)
{
	while (len > 0) {
		gssize n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return FALSE;
		data += n;
		len -= (gsize)n;
	}
	return TRUE;
}

gboolean
fl_safe_write_file(const gchar *root, const gchar *path, const gchar *contents, gssize len,
		   mode_t mode, gboolean make_dirs, gboolean durable, GError **error)
{
	g_auto(FlSafePath) p = {NULL};
	g_autofree gchar *tmp = NULL;
	gint dir_fd;
	gint fd = -1;
	gint errsv;

	g_return_val_if_fail(root != NULL, FALSE);
	g_return_val_if_fail(path != NULL, FALSE);
	g_return_val_if_fail(contents != NULL || len == 0, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (len < 0)
		len = (gssize)strlen(contents);
	if (!fl_safe_path_parse(root, path, &p, error))
		return FALSE;
	dir_fd = fl_safe_path_open_parent(root, &p, make_dirs, error);
	if (dir_fd < 0)
		return FALSE;
	for (guint attempt = 0; fd < 0 && attempt < 100; attempt++) {
		g_free(tmp);
		tmp = g_strdup_printf(".%s.%08x", p.name, g_random_int());
		fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    mode);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0)
		goto fail;
	/* the mode asked for, whatever the umask says */
	if (fchmod(fd, mode) != 0 || !fl_safe_path_write_all(fd, contents, (gsize)len) ||
	    (durable && fsync(fd) != 0))
		goto fail_unlink;
	if (close(fd) != 0) {
		fd = -1;
		goto fail_unlink;
	}
	fd = -1;
	/* rename replaces whatever the name was, a link included, and never writes through it */
	if (renameat(dir_fd, tmp, dir_fd, p.name) != 0)
		goto fail_unlink;
	if (durable && fsync(dir_fd) != 0)
		goto fail;
	close(dir_fd);
	return TRUE;

fail_unlink:
	errsv = errno;
	unlinkat(dir_fd, tmp, 0);
	errno = errsv;
fail:
	errsv = errno;
	if (fd >= 0)
		close(fd);
	close(dir_fd);
	g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errsv), _("cannot write %s: %s"),
		    p.shown, g_strerror(errsv));
	return FALSE;
}
