/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <locale.h>

#include "fl-digest.h"

static FlDigestItem *
item_new(guint id, FlDigestKind kind, const gchar *goal)
{
	return fl_digest_item_new(id, kind, goal);
}

static GPtrArray *
items_new(void)
{
	return g_ptr_array_new_with_free_func((GDestroyNotify)fl_digest_item_free);
}

static gchar **
lines_of(const gchar *text)
{
	return g_strsplit(text, "\n", -1);
}

/* the body must parse as the markup subset servers accept: only <b> and <i> */
static void
start_element(GMarkupParseContext *context, const gchar *element_name,
	      const gchar **attribute_names, const gchar **attribute_values, gpointer user_data,
	      GError **error)
{
	g_assert_true(g_strcmp0(element_name, "body") == 0 || g_strcmp0(element_name, "b") == 0 ||
		      g_strcmp0(element_name, "i") == 0);
	g_assert_null(attribute_names[0]);
}

static void
assert_valid_markup(const gchar *body)
{
	GMarkupParser parser = {.start_element = start_element};
	g_autoptr(GMarkupParseContext) ctx =
		g_markup_parse_context_new(&parser, G_MARKUP_DEFAULT_FLAGS, NULL, NULL);
	g_autofree gchar *doc = g_strconcat("<body>", body, "</body>", NULL);
	g_autoptr(GError) error = NULL;

	g_assert_true(g_utf8_validate(body, -1, NULL));
	g_markup_parse_context_parse(ctx, doc, -1, &error);
	g_assert_no_error(error);
	g_markup_parse_context_end_parse(ctx, &error);
	g_assert_no_error(error);
}

static void
test_digest_sort(void)
{
	g_autoptr(GPtrArray) items = items_new();
	const guint expected[] = {2, 9, 7, 11, 6, 4, 5, 1, 3};

	g_ptr_array_add(items, item_new(3, FL_DIGEST_KIND_DRAFT, "c"));
	g_ptr_array_add(items, item_new(9, FL_DIGEST_KIND_BLOCKED, "i"));
	g_ptr_array_add(items, item_new(5, FL_DIGEST_KIND_DRAFT_PASSED, "e"));
	g_ptr_array_add(items, item_new(7, FL_DIGEST_KIND_FAILED, "g"));
	g_ptr_array_add(items, item_new(1, FL_DIGEST_KIND_DRAFT, "a"));
	g_ptr_array_add(items, item_new(11, FL_DIGEST_KIND_FAILED, "k"));
	g_ptr_array_add(items, item_new(2, FL_DIGEST_KIND_BLOCKED, "b"));
	g_ptr_array_add(items, item_new(4, FL_DIGEST_KIND_DRAFT_PASSED, "d"));
	g_ptr_array_add(items, item_new(6, FL_DIGEST_KIND_DRAFT_FAILED, "f"));

	/* most urgent first: questions, failures, drafts whose verify failed, then the rest */
	fl_digest_sort(items);
	g_assert_cmpuint(items->len, ==, G_N_ELEMENTS(expected));
	for (guint i = 0; i < items->len; i++) {
		const FlDigestItem *item = g_ptr_array_index(items, i);
		g_assert_cmpuint(item->id, ==, expected[i]);
	}
}

static void
test_digest_summary(void)
{
	g_autoptr(GPtrArray) items = items_new();
	g_autoptr(GPtrArray) one = items_new();
	g_autoptr(GPtrArray) blocked = items_new();
	g_autoptr(GPtrArray) empty = items_new();
	g_autofree gchar *full = NULL;
	g_autofree gchar *single = NULL;
	g_autofree gchar *only_blocked = NULL;
	g_autofree gchar *nothing = NULL;
	g_autofree gchar *hostile = NULL;

	g_ptr_array_add(items, item_new(1, FL_DIGEST_KIND_DRAFT, "a"));
	g_ptr_array_add(items, item_new(2, FL_DIGEST_KIND_DRAFT_PASSED, "b"));
	g_ptr_array_add(items, item_new(3, FL_DIGEST_KIND_BLOCKED, "c"));
	g_ptr_array_add(items, item_new(4, FL_DIGEST_KIND_DRAFT, "d"));
	g_ptr_array_add(items, item_new(5, FL_DIGEST_KIND_FAILED, "e"));
	g_ptr_array_add(items, item_new(6, FL_DIGEST_KIND_DRAFT_PASSED, "f"));

	/* every draft kind counts as a draft; most urgent first, as the items are */
	full = fl_digest_summary(items, "15:00");
	g_assert_cmpstr(full, ==, "Check-in 15:00 · 1 blocked · 1 failed · 4 drafts");

	g_ptr_array_add(one, item_new(1, FL_DIGEST_KIND_DRAFT_PASSED, "a"));
	single = fl_digest_summary(one, NULL);
	g_assert_cmpstr(single, ==, "Check-in · 1 draft");

	g_ptr_array_add(blocked, item_new(1, FL_DIGEST_KIND_BLOCKED, "a"));
	g_ptr_array_add(blocked, item_new(2, FL_DIGEST_KIND_BLOCKED, "b"));
	only_blocked = fl_digest_summary(blocked, "09:30");
	g_assert_cmpstr(only_blocked, ==, "Check-in 09:30 · 2 blocked");

	nothing = fl_digest_summary(empty, "15:00");
	g_assert_cmpstr(nothing, ==, "Check-in 15:00");

	/* the summary is one plain line whatever the label holds */
	hostile = fl_digest_summary(one, "15:00\n\x1b[1mvery long label indeed, far too long");
	g_assert_null(strchr(hostile, '\n'));
	g_assert_null(strchr(hostile, '\x1b'));
	g_assert_cmpuint(g_utf8_strlen(hostile, -1), <=, 60);
}

static void
test_digest_body_blocked(void)
{
	g_autoptr(GPtrArray) items = items_new();
	FlDigestItem *item = item_new(12, FL_DIGEST_KIND_BLOCKED, "Migrate the user table");
	FlDigestItem *draft = item_new(3, FL_DIGEST_KIND_DRAFT_PASSED, "Add a health check");
	g_autofree gchar *plain = NULL;
	g_autofree gchar *markup = NULL;
	g_auto(GStrv) lines = NULL;

	item->name = g_strdup("migrate-db");
	item->repo = g_strdup("/srv/u/src/app");
	item->cost_usd = 0.42;
	item->waiting_for = g_strdup("Which database: staging or prod?");
	g_ptr_array_add(items, item);
	g_ptr_array_add(items, draft);

	plain = fl_digest_body(items, 0, FALSE, 5);
	lines = lines_of(plain);
	g_assert_cmpstr(lines[0], ==, "#12 migrate-db");
	g_assert_cmpstr(lines[1], ==, "Migrate the user table");
	g_assert_cmpstr(lines[2], ==, "repo: /srv/u/src/app");
	g_assert_cmpstr(lines[3], ==, "cost: $0.42");
	g_assert_cmpstr(lines[4], ==, "asks: Which database: staging or prod?");
	/* the command answering it, for where no button does */
	g_assert_cmpstr(lines[5], ==, "answer: flotilla reply 12 TEXT");
	g_assert_cmpstr(lines[6], ==, "1 of 2");
	g_assert_cmpstr(lines[7], ==, "#3 draft ✓ Add a health check");
	g_assert_null(lines[8]);

	markup = fl_digest_body(items, 0, TRUE, 5);
	g_assert_true(g_str_has_prefix(markup, "<b>#12 migrate-db</b>\n"));
	g_assert_nonnull(strstr(markup, "asks: Which database: staging or prod?"));
	assert_valid_markup(markup);

	/* a permission request is answered yes or no */
	item->permission = TRUE;
	g_free(plain);
	plain = fl_digest_body(items, 0, FALSE, 5);
	g_assert_nonnull(strstr(
		plain, "\nanswer: flotilla approve 12 (allow) or flotilla reject 12 (deny)\n"));
	g_assert_null(strstr(plain, "flotilla reply"));
}

static void
test_digest_body_fields(void)
{
	g_autoptr(GPtrArray) items = items_new();
	FlDigestItem *failed = item_new(7, FL_DIGEST_KIND_FAILED, "Fix the flaky test");
	FlDigestItem *passed = item_new(8, FL_DIGEST_KIND_DRAFT_PASSED, "Bump deps");
	FlDigestItem *timeout = item_new(9, FL_DIGEST_KIND_DRAFT_FAILED, "Refactor parser");
	FlDigestItem *lone = item_new(10, FL_DIGEST_KIND_DRAFT, "Rename things");
	g_autoptr(GPtrArray) single = items_new();
	g_autofree gchar *body_failed = NULL;
	g_autofree gchar *body_passed = NULL;
	g_autofree gchar *body_timeout = NULL;
	g_autofree gchar *body_timeout_markup = NULL;
	g_autofree gchar *body_single = NULL;
	g_autoptr(GPtrArray) blank = items_new();
	g_autofree gchar *body_blank = NULL;
	g_auto(GStrv) lines = NULL;

	failed->reason = g_strdup("exit code 2");
	failed->verify = FL_VERIFY_FAIL;
	passed->verify = FL_VERIFY_PASS;
	passed->diffstat = g_strdup("3 files changed, 40 insertions(+), 2 deletions(-)");
	passed->links_outside = g_strdup("etc -> /etc\nup -> ../..");
	passed->cost_usd = 0;
	timeout->verify = FL_VERIFY_TIMEOUT;
	timeout->reminder = TRUE;
	g_ptr_array_add(items, failed);
	g_ptr_array_add(items, passed);
	g_ptr_array_add(items, timeout);

	body_failed = fl_digest_body(items, 0, FALSE, 5);
	lines = lines_of(body_failed);
	/* without a name the goal is the title, and not repeated */
	g_assert_cmpstr(lines[0], ==, "#7 Fix the flaky test");
	g_assert_cmpstr(lines[1], ==, "verify: failed ✗");
	g_assert_cmpstr(lines[2], ==, "failed: exit code 2");
	g_assert_cmpstr(lines[3], ==, "1 of 3");
	g_assert_cmpstr(lines[4], ==, "#8 draft ✓ Bump deps");
	g_assert_cmpstr(lines[5], ==, "#9 draft ✗ Refactor parser");
	g_assert_null(lines[6]);

	body_passed = fl_digest_body(items, 1, FALSE, 5);
	g_assert_nonnull(strstr(body_passed, "\nverify: passed ✓\n"));
	g_assert_nonnull(
		strstr(body_passed, "\n3 files changed, 40 insertions(+), 2 deletions(-)\n"));
	/* a draft that links out of its repository says so, whatever else it looks like */
	g_assert_nonnull(strstr(body_passed, "\nlinks out of the repository: etc -> /etc, …\n"));
	/* zero is a known cost; only a negative one is unknown */
	g_assert_nonnull(strstr(body_passed, "\ncost: $0.00\n"));
	g_assert_nonnull(strstr(body_passed, "\n2 of 3\n"));
	g_assert_null(strstr(body_passed, "reminder"));
	/* the others keep their order, without the current one */
	g_assert_true(g_str_has_suffix(body_passed, "\n#7 failed Fix the flaky test\n"
						    "#9 draft ✗ Refactor parser"));

	body_timeout = fl_digest_body(items, 2, FALSE, 5);
	g_assert_nonnull(strstr(body_timeout, "\nverify: timed out ✗\n"));
	g_assert_nonnull(strstr(body_timeout, "\n(reminder)\n"));
	g_assert_null(strstr(body_timeout, "cost:"));
	body_timeout_markup = fl_digest_body(items, 2, TRUE, 5);
	g_assert_nonnull(strstr(body_timeout_markup, "\n<i>(reminder)</i>\n"));
	assert_valid_markup(body_timeout_markup);

	/* one item: no position, no list */
	g_ptr_array_add(single, lone);
	body_single = fl_digest_body(single, 0, FALSE, 5);
	g_assert_cmpstr(body_single, ==, "#10 Rename things");

	/* nothing printable in the goal: the id alone, no dangling space */
	g_ptr_array_add(blank, item_new(11, FL_DIGEST_KIND_DRAFT, " \x1b[0m\n"));
	body_blank = fl_digest_body(blank, 0, FALSE, 5);
	g_assert_cmpstr(body_blank, ==, "#11");
}

static void
test_digest_markup_escaping(void)
{
	g_autoptr(GPtrArray) items = items_new();
	FlDigestItem *current = item_new(1, FL_DIGEST_KIND_BLOCKED, "fix <b> & \"x\"");
	FlDigestItem *other = item_new(2, FL_DIGEST_KIND_DRAFT, "<i>tags</i> & 'quotes'");
	g_autofree gchar *markup = NULL;
	g_autofree gchar *plain = NULL;

	current->repo = g_strdup("/src/a&b");
	current->waiting_for = g_strdup("</b><a href=\"x\">click</a>");
	g_ptr_array_add(items, current);
	g_ptr_array_add(items, other);

	markup = fl_digest_body(items, 0, TRUE, 5);
	g_assert_true(g_str_has_prefix(markup, "<b>#1 fix &lt;b&gt; &amp; &quot;x&quot;</b>\n"));
	g_assert_nonnull(strstr(markup, "repo: /src/a&amp;b"));
	g_assert_nonnull(strstr(markup, "asks: &lt;/b&gt;&lt;a href=&quot;x&quot;&gt;click"));
	g_assert_nonnull(
		strstr(markup, "#2 draft &lt;i&gt;tags&lt;/i&gt; &amp; &apos;quotes&apos;"));
	g_assert_null(strstr(markup, "<a"));
	assert_valid_markup(markup);

	plain = fl_digest_body(items, 0, FALSE, 5);
	g_assert_true(g_str_has_prefix(plain, "#1 fix <b> & \"x\"\n"));
	g_assert_nonnull(strstr(plain, "repo: /src/a&b"));
	g_assert_nonnull(strstr(plain, "#2 draft <i>tags</i> & 'quotes'"));
	g_assert_null(strstr(plain, "&amp;"));
}

static void
test_digest_clean_text(void)
{
	g_autoptr(GPtrArray) items = items_new();
	FlDigestItem *current =
		item_new(1, FL_DIGEST_KIND_FAILED, "bad \xff\xfe bytes \x1b[31mred\x1b[0m\x07!");
	FlDigestItem *other = item_new(2, FL_DIGEST_KIND_DRAFT, "line one\nline two\r\n\tthree");
	g_autofree gchar *body = NULL;
	g_autofree gchar *markup = NULL;

	current->reason = g_strdup("killed\x1b]0;title\x07 by \x1b[1;31msignal\x1b[m 9");
	g_ptr_array_add(items, current);
	g_ptr_array_add(items, other);

	body = fl_digest_body(items, 0, FALSE, 5);
	g_assert_true(g_utf8_validate(body, -1, NULL));
	g_assert_null(strchr(body, '\x1b'));
	g_assert_null(strchr(body, '\x07'));
	/* colour codes go whole, not leaving "[31m" behind */
	g_assert_true(g_str_has_prefix(body, "#1 bad \xef\xbf\xbd\xef\xbf\xbd bytes red!\n"));
	g_assert_nonnull(strstr(body, "\nfailed: killed by signal 9\n"));
	/* a multi-line goal takes one line in the list */
	g_assert_true(g_str_has_suffix(body, "\n#2 draft line one line two three"));

	markup = fl_digest_body(items, 0, TRUE, 5);
	assert_valid_markup(markup);

	/* the rules themselves are tested in test-text.c: the digest only chooses its flags */
}

static void
test_digest_cap(void)
{
	g_autoptr(GPtrArray) items = items_new();
	g_autofree gchar *capped = NULL;
	g_autofree gchar *middle = NULL;
	g_autofree gchar *none = NULL;
	g_autofree gchar *exact = NULL;
	g_autofree gchar *roomy = NULL;
	g_auto(GStrv) lines = NULL;

	for (guint i = 1; i <= 10; i++) {
		g_autofree gchar *goal = g_strdup_printf("goal %u", i);
		g_ptr_array_add(items, item_new(i, FL_DIGEST_KIND_DRAFT, goal));
	}

	/* others shown = min(max_lines, n - 1); the rest are counted */
	capped = fl_digest_body(items, 0, FALSE, 3);
	lines = lines_of(capped);
	g_assert_cmpstr(lines[0], ==, "#1 goal 1");
	g_assert_cmpstr(lines[1], ==, "1 of 10");
	g_assert_cmpstr(lines[2], ==, "#2 draft goal 2");
	g_assert_cmpstr(lines[3], ==, "#3 draft goal 3");
	g_assert_cmpstr(lines[4], ==, "#4 draft goal 4");
	g_assert_cmpstr(lines[5], ==, "+6 more");
	g_assert_null(lines[6]);

	/* the current item is skipped, not counted among the others */
	middle = fl_digest_body(items, 4, FALSE, 3);
	g_assert_true(g_str_has_suffix(middle, "\n5 of 10\n#1 draft goal 1\n#2 draft goal 2\n"
					       "#3 draft goal 3\n+6 more"));

	none = fl_digest_body(items, 0, FALSE, 0);
	g_assert_true(g_str_has_suffix(none, "\n1 of 10\n+9 more"));

	/* exactly enough room: no "+0 more" */
	exact = fl_digest_body(items, 0, FALSE, 9);
	g_assert_true(g_str_has_suffix(exact, "\n#10 draft goal 10"));
	g_assert_null(strstr(exact, "more"));
	roomy = fl_digest_body(items, 9, FALSE, 100);
	g_assert_true(g_str_has_suffix(roomy, "\n#9 draft goal 9"));
	g_assert_null(strstr(roomy, "more"));
}

static void
test_digest_long_goal(void)
{
	g_autoptr(GPtrArray) items = items_new();
	GString *goal = g_string_new(NULL);
	g_autofree gchar *body = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *many_lines = NULL;
	g_auto(GStrv) lines = NULL;
	FlDigestItem *item;

	while (goal->len < 10 * 1024)
		g_string_append(goal, "refactor everything ");
	item = item_new(1, FL_DIGEST_KIND_DRAFT, goal->str);
	item->name = g_strdup("big");
	g_ptr_array_add(items, item);
	g_ptr_array_add(items, item_new(2, FL_DIGEST_KIND_DRAFT, goal->str));
	g_string_free(goal, TRUE);

	body = fl_digest_body(items, 0, TRUE, 5);
	g_assert_cmpuint(strlen(body), <, 1024);
	g_assert_nonnull(strstr(body, "refactor everything refactor"));
	g_assert_nonnull(strstr(body, "…"));
	assert_valid_markup(body);

	text = fl_digest_text(items, "15:00", 0);
	g_assert_cmpuint(strlen(text), <, 2048);

	/* thousands of short lines are capped in lines too */
	{
		g_autoptr(GPtrArray) tall = items_new();
		GString *tall_goal = g_string_new(NULL);
		for (guint i = 0; i < 1000; i++)
			g_string_append(tall_goal, "x\n");
		g_ptr_array_add(tall, item_new(1, FL_DIGEST_KIND_DRAFT, tall_goal->str));
		g_string_free(tall_goal, TRUE);
		many_lines = fl_digest_body(tall, 0, FALSE, 5);
		lines = lines_of(many_lines);
		/* the title on one line, cut at 60 characters */
		g_assert_true(g_str_has_prefix(lines[0], "#1 x x x "));
		g_assert_true(g_str_has_suffix(lines[0], "x…"));
		g_assert_cmpuint(g_utf8_strlen(lines[0], -1), ==, strlen("#1 ") + 60);
		/* then the goal, five lines at most */
		for (guint i = 1; i < 5; i++)
			g_assert_cmpstr(lines[i], ==, "x");
		g_assert_cmpstr(lines[5], ==, "x…");
		g_assert_null(lines[6]);
	}
}

static void
test_digest_text(void)
{
	g_autoptr(GPtrArray) items = items_new();
	FlDigestItem *blocked = item_new(4, FL_DIGEST_KIND_BLOCKED, "Pick a <name>");
	FlDigestItem *draft = item_new(2, FL_DIGEST_KIND_DRAFT_PASSED, "Add tests");
	g_autofree gchar *text = NULL;

	blocked->waiting_for = g_strdup("Which one?");
	draft->verify = FL_VERIFY_PASS;
	draft->repo = g_strdup("/src/app");
	g_ptr_array_add(items, blocked);
	g_ptr_array_add(items, draft);

	/* summary, then every item in full, plain text, without a position line */
	text = fl_digest_text(items, "15:00", 0);
	g_assert_cmpstr(text, ==,
			"Check-in 15:00 · 1 blocked · 1 draft\n"
			"\n"
			"#4 Pick a <name>\n"
			"asks: Which one?\n"
			"answer: flotilla reply 4 TEXT\n"
			"\n"
			"#2 Add tests\n"
			"repo: /src/app\n"
			"verify: passed ✓\n");
}

/* a long digest in text shows its most urgent items in full, then counts the rest */
static void
test_digest_text_capped(void)
{
	g_autoptr(GPtrArray) items = items_new();
	g_autofree gchar *text = NULL;
	g_autofree gchar *exact = NULL;
	g_autofree gchar *one_more = NULL;
	g_auto(GStrv) lines = NULL;
	guint titles = 0;

	for (guint id = 1; id <= 25; id++) {
		g_autofree gchar *goal = g_strdup_printf("goal %u", id);
		g_ptr_array_add(items,
				item_new(id,
					 id == 20 ? FL_DIGEST_KIND_BLOCKED : FL_DIGEST_KIND_DRAFT,
					 goal));
	}
	fl_digest_sort(items);

	text = fl_digest_text(items, "15:00", 10);
	lines = lines_of(text);
	/* the summary still counts every item */
	g_assert_cmpstr(lines[0], ==, "Check-in 15:00 · 1 blocked · 24 drafts");
	for (guint i = 0; lines[i] != NULL; i++) {
		if (lines[i][0] == '#')
			titles++;
	}
	g_assert_cmpuint(titles, ==, 10);
	/* in digest order: the blocked one first, then the drafts by id */
	g_assert_true(g_str_has_prefix(lines[2], "#20 goal 20"));
	g_assert_nonnull(strstr(text, "\n#9 goal 9\n"));
	g_assert_null(strstr(text, "#10 goal 10"));
	g_assert_true(g_str_has_suffix(text, "\n\n… and 15 more\n"));

	/* nothing left out, nothing to count */
	g_ptr_array_set_size(items, 10);
	exact = fl_digest_text(items, "15:00", 10);
	g_assert_null(strstr(exact, "more"));
	g_assert_true(g_str_has_suffix(exact, "\n#9 goal 9\n"));
	one_more = fl_digest_text(items, "15:00", 9);
	g_assert_true(g_str_has_suffix(one_more, "\n#8 goal 8\n\n… and 1 more\n"));
}

/* a verify result from before the base moved says so, and how to check it again */
static void
test_digest_verify_stale(void)
{
	g_autoptr(GPtrArray) items = items_new();
	FlDigestItem *stale = item_new(12, FL_DIGEST_KIND_DRAFT_PASSED, "Bump deps");
	g_autofree gchar *body = NULL;

	stale->verify = FL_VERIFY_PASS;
	stale->verify_stale = TRUE;
	g_ptr_array_add(items, stale);
	body = fl_digest_body(items, 0, FALSE, 5);
	g_assert_nonnull(
		strstr(body, "\nverify: passed ✓, before the base moved (flotilla refresh 12)"));
}

int
main(int argc, char **argv)
{
	setlocale(LC_ALL, "");
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/digest/sort", test_digest_sort);
	g_test_add_func("/digest/summary", test_digest_summary);
	g_test_add_func("/digest/body-blocked", test_digest_body_blocked);
	g_test_add_func("/digest/body-fields", test_digest_body_fields);
	g_test_add_func("/digest/verify-stale", test_digest_verify_stale);
	g_test_add_func("/digest/markup-escaping", test_digest_markup_escaping);
	g_test_add_func("/digest/clean-text", test_digest_clean_text);
	g_test_add_func("/digest/cap", test_digest_cap);
	g_test_add_func("/digest/long-goal", test_digest_long_goal);
	g_test_add_func("/digest/text", test_digest_text);
	g_test_add_func("/digest/text-capped", test_digest_text_capped);
	return g_test_run();
}
