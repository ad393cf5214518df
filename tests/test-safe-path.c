/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fl-safe-path.h"

/*
 * What a session can plant in its worktree or state directory before flotilla writes there:
 * symbolic links (to a directory, to a file, dangling), hard links, FIFOs, and "..". Each
 * case runs twice: with openat2() and with the component walk older kernels get.
 */

typedef struct {
	gchar *tmp;
	gchar *root;    /* where the session may write */
	gchar *outside; /* what it must never reach */
	gchar *secret;  /* outside/secret, "keep\n" */
} Fixture;

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	if (GPOINTER_TO_INT(data))
		g_setenv("FL_TEST_NO_OPENAT2", "1", TRUE);
	else
		g_unsetenv("FL_TEST_NO_OPENAT2");
	f->tmp = g_dir_make_tmp("fl-safe-path-XXXXXX", &error);
	g_assert_no_error(error);
	f->root = g_build_filename(f->tmp, "root", NULL);
	f->outside = g_build_filename(f->tmp, "outside", NULL);
	f->secret = g_build_filename(f->outside, "secret", NULL);
	g_assert_cmpint(g_mkdir(f->root, 0700), ==, 0);
	g_assert_cmpint(g_mkdir(f->outside, 0700), ==, 0);
	g_file_set_contents(f->secret, "keep\n", -1, &error);
	g_assert_no_error(error);
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
	const gchar *argv[] = {"rm", "-rf", f->tmp, NULL};

	g_spawn_sync(NULL, (gchar **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL,
		     NULL);
	g_free(f->tmp);
	g_free(f->root);
	g_free(f->outside);
	g_free(f->secret);
	g_unsetenv("FL_TEST_NO_OPENAT2");
}

static void
assert_secret_kept(Fixture *f)
{
	g_autofree gchar *contents = NULL;
	g_autoptr(GDir) dir = g_dir_open(f->outside, 0, NULL);
	guint n = 0;

	g_assert_true(g_file_get_contents(f->secret, &contents, NULL, NULL));
	g_assert_cmpstr(contents, ==, "keep\n");
	while (g_dir_read_name(dir) != NULL)
		n++;
	g_assert_cmpuint(n, ==, 1);
}

static gchar *
in_root(Fixture *f, const gchar *name)
{
	return g_build_filename(f->root, name, NULL);
}

static void
test_write_creates_dirs(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = in_root(f, "docs/notes/out.md");
	g_autofree gchar *contents = NULL;
	struct stat st;

	g_assert_true(fl_safe_write_file(f->root, "docs/notes/out.md", "text\n", -1, 0600, TRUE,
					 TRUE, &error));
	g_assert_no_error(error);
	g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
	g_assert_cmpstr(contents, ==, "text\n");
	g_assert_cmpint(g_stat(path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);
	/* an absolute path inside the root is the same file */
	g_assert_true(fl_safe_write_file(f->root, path, "again\n", -1, 0644, FALSE, FALSE, &error));
	g_assert_no_error(error);
	g_clear_pointer(&contents, g_free);
	g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
	g_assert_cmpstr(contents, ==, "again\n");
}

static void
test_symlinked_dir_refused(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *link = in_root(f, "docs");
	gint fd;

	g_assert_cmpint(symlink(f->outside, link), ==, 0);
	g_assert_false(fl_safe_write_file(f->root, "docs/secret", "pwned\n", -1, 0600, TRUE, FALSE,
					  &error));
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_LOOP);
	g_clear_error(&error);
	g_assert_false(
		fl_safe_write_file(f->root, "docs/new", "pwned\n", -1, 0600, TRUE, FALSE, &error));
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_LOOP);
	g_clear_error(&error);
	fd = fl_safe_open(f->root, "docs/secret", O_WRONLY | O_APPEND, 0600, TRUE, &error);
	g_assert_cmpint(fd, ==, -1);
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_LOOP);
	assert_secret_kept(f);
}

static void
test_symlinked_deeper_dir_refused(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = in_root(f, "a");
	g_autofree gchar *link = in_root(f, "a/b");

	g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
	g_assert_cmpint(symlink("../../outside", link), ==, 0);
	g_assert_false(
		fl_safe_write_file(f->root, "a/b/c/new", "pwned\n", -1, 0600, TRUE, FALSE, &error));
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_LOOP);
	assert_secret_kept(f);
}

static void
test_symlinked_file_replaced(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *link = in_root(f, "out.md");
	g_autofree gchar *contents = NULL;
	struct stat st;
	gint fd;

	g_assert_cmpint(symlink(f->secret, link), ==, 0);
	/* opening writes through nothing */
	fd = fl_safe_open(f->root, "out.md", O_WRONLY | O_TRUNC | O_CREAT, 0600, FALSE, &error);
	g_assert_cmpint(fd, ==, -1);
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_LOOP);
	g_clear_error(&error);
	/* writing replaces the link itself */
	g_assert_true(
		fl_safe_write_file(f->root, "out.md", "answer\n", -1, 0600, FALSE, FALSE, &error));
	g_assert_no_error(error);
	g_assert_cmpint(g_lstat(link, &st), ==, 0);
	g_assert_true(S_ISREG(st.st_mode));
	g_assert_true(g_file_get_contents(link, &contents, NULL, NULL));
	g_assert_cmpstr(contents, ==, "answer\n");
	assert_secret_kept(f);
}

static void
test_hard_link_replaced(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *hard = in_root(f, "out.md");

	g_assert_cmpint(link(f->secret, hard), ==, 0);
	g_assert_true(
		fl_safe_write_file(f->root, "out.md", "answer\n", -1, 0600, FALSE, TRUE, &error));
	g_assert_no_error(error);
	assert_secret_kept(f);
}

static void
test_dotdot_and_outside_refused(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	g_assert_false(fl_safe_write_file(f->root, "../outside/secret", "pwned\n", -1, 0600, FALSE,
					  FALSE, &error));
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_PERM);
	g_clear_error(&error);
	g_assert_false(
		fl_safe_write_file(f->root, f->secret, "pwned\n", -1, 0600, FALSE, FALSE, &error));
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_PERM);
	g_clear_error(&error);
	/* a sibling whose name starts like the root is not inside it */
	g_assert_false(fl_safe_write_file(f->root, "/nonexistent-root-sibling", "x", -1, 0600,
					  FALSE, FALSE, &error));
	g_assert_nonnull(error);
	assert_secret_kept(f);
}

static void
test_fifo_does_not_block(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *fifo = in_root(f, "verify.log");
	gint fd;

	g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
	fd = fl_safe_open(f->root, "verify.log", O_WRONLY | O_TRUNC | O_CREAT, 0600, FALSE, &error);
	g_assert_cmpint(fd, ==, -1);
	g_assert_nonnull(error);
}

static void
test_open_appends(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = in_root(f, "logs/output.log");
	g_autofree gchar *contents = NULL;

	for (guint i = 0; i < 2; i++) {
		gint fd = fl_safe_open(f->root, "logs/output.log", O_WRONLY | O_CREAT | O_APPEND,
				       0600, TRUE, &error);

		g_assert_no_error(error);
		g_assert_cmpint(fd, >=, 0);
		g_assert_cmpint(write(fd, "line\n", 5), ==, 5);
		/* the descriptor blocks again like any other */
		g_assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
		close(fd);
	}
	g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
	g_assert_cmpstr(contents, ==, "line\nline\n");
}

int
main(int argc, char *argv[])
{
	const struct {
		const gchar *name;
		void (*func)(Fixture *, gconstpointer);
	} tests[] = {
		{"write-creates-dirs", test_write_creates_dirs},
		{"symlinked-dir-refused", test_symlinked_dir_refused},
		{"symlinked-deeper-dir-refused", test_symlinked_deeper_dir_refused},
		{"symlinked-file-replaced", test_symlinked_file_replaced},
		{"hard-link-replaced", test_hard_link_replaced},
		{"dotdot-and-outside-refused", test_dotdot_and_outside_refused},
		{"fifo-does-not-block", test_fifo_does_not_block},
		{"open-appends", test_open_appends},
	};

	g_test_init(&argc, &argv, NULL);
	for (guint walk = 0; walk < 2; walk++) {
		for (guint i = 0; i < G_N_ELEMENTS(tests); i++) {
			g_autofree gchar *path = g_strdup_printf(
				"/safe-path/%s/%s", walk ? "walk" : "openat2", tests[i].name);

			g_test_add(path, Fixture, GINT_TO_POINTER(walk), fixture_set_up,
				   tests[i].func, fixture_tear_down);
		}
	}
	return g_test_run();
}
