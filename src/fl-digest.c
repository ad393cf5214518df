/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fl-digest.h"

#include "fl-i18n.h"
#include "fl-text.h"

/* caps in characters, so one item cannot flood a notification bubble */
#define FL_DIGEST_GOAL_MAX     200
#define FL_DIGEST_GOAL_LINES   5
#define FL_DIGEST_TITLE_MAX    60
#define FL_DIGEST_ONE_LINE_MAX 60
#define FL_DIGEST_FIELD_MAX    120
#define FL_DIGEST_LABEL_MAX    20

FlDigestItem *
fl_digest_item_new(guint id, FlDigestKind kind, const gchar *goal)
{
	FlDigestItem *item = g_new0(FlDigestItem, 1);

	item->id = id;
	item->kind = kind;
	item->goal = g_strdup(goal != NULL ? goal : "");
	item->cost_usd = -1;
	return item;
}

void
fl_digest_item_free(FlDigestItem *item)
{
	if (item == NULL)
		return;
	g_free(item->name);
	g_free(item->goal);
	g_free(item->repo);
	g_free(item->diffstat);
	g_free(item->links_outside);
	g_free(item->waiting_for);
	g_free(item->reason);
	g_free(item);
}

static gint
fl_digest_item_cmp(gconstpointer a, gconstpointer b)
{
	const FlDigestItem *x = *(FlDigestItem *const *)a;
	const FlDigestItem *y = *(FlDigestItem *const *)b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

void
fl_digest_sort(GPtrArray *items)
{
	g_return_if_fail(items != NULL);
	g_ptr_array_sort(items, fl_digest_item_cmp);
}

/* the digest's text: fl_text_clean() with spaces collapsed, multi-line fields with at most one
 * empty line in a row; "" for NULL */
static gchar *
fl_digest_clean(const gchar *s, gboolean multiline)
{
	if (s == NULL)
		return g_strdup("");
	return fl_text_clean(s, -1,
			     multiline ? FL_TEXT_MULTILINE | FL_TEXT_COLLAPSE_SPACE |
						 FL_TEXT_MAX_BLANK_LINES_1
				       : FL_TEXT_COLLAPSE_SPACE);
}

/* keeps the end of a path, where the project name is */
static gchar *
fl_digest_ellipsize_start(const gchar *s, guint max_chars)
{
	glong len = g_utf8_strlen(s, -1);

	if (len <= (glong)max_chars)
		return g_strdup(s);
	return g_strconcat("…", g_utf8_offset_to_pointer(s, len - (glong)max_chars + 1), NULL);
}

/* at most @max_lines lines, "…" marking a cut */
static gchar *
fl_digest_cap_lines(const gchar *s, guint max_lines)
{
	const gchar *p = s;
	GString *out;

	for (guint n = 0; n < max_lines; n++) {
		p = strchr(p, '\n');
		if (p == NULL)
			return g_strdup(s);
		p++;
	}
	out = g_string_new_len(s, p - s - 1);
	g_string_append(out, "…");
	return g_string_free(out, FALSE);
}

static gchar *
fl_digest_one_line(const gchar *s, guint max_chars)
{
	g_autofree gchar *clean = fl_digest_clean(s, FALSE);
	return fl_text_ellipsize(clean, max_chars);
}

static void
fl_digest_append_line(GString *out, gboolean markup, const gchar *text)
{
	if (out->len > 0)
		g_string_append_c(out, '\n');
	if (markup) {
		g_autofree gchar *escaped = g_markup_escape_text(text, -1);
		g_string_append(out, escaped);
	} else {
		g_string_append(out, text);
	}
}

/* @tag is "b" or "i"; in plain text only the text */
static void
fl_digest_append_tagged_line(GString *out, gboolean markup, const gchar *tag, const gchar *text)
{
	g_autofree gchar *escaped = NULL;

	if (!markup) {
		fl_digest_append_line(out, FALSE, text);
		return;
	}
	if (out->len > 0)
		g_string_append_c(out, '\n');
	escaped = g_markup_escape_text(text, -1);
	g_string_append_printf(out, "<%s>%s</%s>", tag, escaped, tag);
}

static const gchar *
fl_digest_kind_word(FlDigestKind kind)
{
	switch (kind) {
	case FL_DIGEST_KIND_BLOCKED:
		/* TRANSLATORS: a session waiting for the user's answer, in a one-line entry */
		return _("blocked");
	case FL_DIGEST_KIND_FAILED:
		/* TRANSLATORS: a session that failed, in a one-line entry */
		return _("failed");
	case FL_DIGEST_KIND_DRAFT_FAILED:
		/* TRANSLATORS: a draft whose verify command failed, in a one-line entry */
		return _("draft ✗");
	case FL_DIGEST_KIND_DRAFT_PASSED:
		/* TRANSLATORS: a draft whose verify command passed, in a one-line entry */
		return _("draft ✓");
	case FL_DIGEST_KIND_DRAFT:
	default:
		/* TRANSLATORS: a draft awaiting review, in a one-line entry */
		return _("draft");
	}
}

static gchar *
fl_digest_verify_text(FlVerify verify)
{
	switch (verify) {
	case FL_VERIFY_PASS:
		return g_strdup(_("verify: passed ✓"));
	case FL_VERIFY_FAIL:
		return g_strdup(_("verify: failed ✗"));
	case FL_VERIFY_TIMEOUT:
		return g_strdup(_("verify: timed out ✗"));
	case FL_VERIFY_NONE:
	default:
		return NULL;
	}
}

/* a multi-line field, capped in characters and lines */
static gchar *
fl_digest_block_text(const gchar *s)
{
	g_autofree gchar *clean = fl_digest_clean(s, TRUE);
	g_autofree gchar *short_text = fl_text_ellipsize(clean, FL_DIGEST_GOAL_MAX);
	return fl_digest_cap_lines(short_text, FL_DIGEST_GOAL_LINES);
}

/* the item in full: title line, then one line per known field */
static void
fl_digest_append_item(GString *out, const FlDigestItem *item, gboolean markup)
{
	g_autofree gchar *title_text = NULL;
	g_autofree gchar *title = NULL;
	g_autofree gchar *goal_line = fl_digest_clean(item->goal, FALSE);
	g_autofree gchar *goal_block = fl_digest_block_text(item->goal);
	gboolean goal_in_title = FALSE;

	if (item->name != NULL && item->name[0] != '\0') {
		title_text = fl_digest_one_line(item->name, FL_DIGEST_TITLE_MAX);
	} else {
		title_text = fl_text_ellipsize(goal_line, FL_DIGEST_TITLE_MAX);
		goal_in_title = g_strcmp0(title_text, goal_block) == 0;
	}
	if (title_text[0] != '\0')
		title = g_strdup_printf("#%u %s", item->id, title_text);
	else
		title = g_strdup_printf("#%u", item->id);
	fl_digest_append_tagged_line(out, markup, "b", title);

	if (!goal_in_title && goal_block[0] != '\0')
		fl_digest_append_line(out, markup, goal_block);
	if (item->repo != NULL) {
		g_autofree gchar *clean = fl_digest_clean(item->repo, FALSE);
		g_autofree gchar *repo = fl_digest_ellipsize_start(clean, FL_DIGEST_FIELD_MAX);
		g_autofree gchar *line = g_strdup_printf(_("repo: %s"), repo);
		fl_digest_append_line(out, markup, line);
	}
	if (item->verify != FL_VERIFY_NONE) {
		g_autofree gchar *line = fl_digest_verify_text(item->verify);

		if (item->verify_stale) {
			g_autofree gchar *mark = g_steal_pointer(&line);

			/* TRANSLATORS: a verify line ("verify: passed ✓") whose base moved since;
			 * the second %u is the session id for the command */
			line = g_strdup_printf(_("%s, before the base moved (flotilla refresh %u)"),
					       mark, item->id);
		}
		fl_digest_append_line(out, markup, line);
	}
	if (item->diffstat != NULL) {
		g_autofree gchar *line = fl_digest_one_line(item->diffstat, FL_DIGEST_FIELD_MAX);
		if (line[0] != '\0')
			fl_digest_append_line(out, markup, line);
	}
	if (item->links_outside != NULL) {
		g_auto(GStrv) links = g_strsplit(item->links_outside, "\n", 2);
		g_autofree gchar *first = fl_digest_one_line(links[0], FL_DIGEST_FIELD_MAX);
		g_autofree gchar *line = NULL;

		/* a warning, whatever else the draft looks like: the first one, and that there
		 * are more */
		if (links[1] != NULL)
			/* TRANSLATORS: %s is "PATH -> TARGET", a symbolic link the draft adds */
			line = g_strdup_printf(_("links out of the repository: %s, …"), first);
		else
			/* TRANSLATORS: %s is "PATH -> TARGET", a symbolic link the draft adds */
			line = g_strdup_printf(_("links out of the repository: %s"), first);
		fl_digest_append_line(out, markup, line);
	}
	if (item->cost_usd >= 0) {
		gchar amount[G_ASCII_DTOSTR_BUF_SIZE];
		g_autofree gchar *line = NULL;
		/* a stable decimal point: the text also goes to webhooks and scripts */
		g_ascii_formatd(amount, sizeof(amount), "%.2f", item->cost_usd);
		/* TRANSLATORS: %s is an amount in US dollars, e.g. 0.42 */
		line = g_strdup_printf(_("cost: $%s"), amount);
		fl_digest_append_line(out, markup, line);
	}
	if (item->kind == FL_DIGEST_KIND_BLOCKED) {
		g_autofree gchar *asks = fl_digest_block_text(item->waiting_for);
		g_autofree gchar *line = NULL;
		if (asks[0] != '\0') {
			/* TRANSLATORS: %s is the question a blocked agent asks */
			line = g_strdup_printf(_("asks: %s"), asks);
		} else {
			line = g_strdup(_("blocked: waiting for input"));
		}
		fl_digest_append_line(out, markup, line);
		g_free(line);
		/* where no button answers it (a server without actions, the preview, a webhook),
		 * the command does */
		if (item->permission)
			/* TRANSLATORS: the commands answering a permission request; keep them */
			line = g_strdup_printf(_("answer: flotilla approve %u (allow) or flotilla "
						 "reject %u (deny)"),
					       item->id, item->id);
		else
			/* TRANSLATORS: the command answering a question; keep "flotilla reply" */
			line = g_strdup_printf(_("answer: flotilla reply %u TEXT"), item->id);
		fl_digest_append_line(out, markup, line);
	}
	if (item->kind == FL_DIGEST_KIND_FAILED) {
		g_autofree gchar *reason = fl_digest_block_text(item->reason);
		g_autofree gchar *line = NULL;
		if (reason[0] != '\0') {
			/* TRANSLATORS: %s says why a session failed */
			line = g_strdup_printf(_("failed: %s"), reason);
		} else {
			line = g_strdup(_("failed"));
		}
		fl_digest_append_line(out, markup, line);
	}
	/* the user chose it, but a draft written without a fence deserves a closer look */
	if (item->unconfined)
		fl_digest_append_tagged_line(out, markup, "i", _("(ran unconfined)"));
	if (item->reminder)
		fl_digest_append_tagged_line(out, markup, "i", _("(reminder)"));
}

gchar *
fl_digest_summary(GPtrArray *items, const gchar *label)
{
	GString *out;
	guint drafts = 0;
	guint failed = 0;
	guint blocked = 0;

	g_return_val_if_fail(items != NULL, NULL);

	for (guint i = 0; i < items->len; i++) {
		const FlDigestItem *item = g_ptr_array_index(items, i);
		if (item->kind == FL_DIGEST_KIND_BLOCKED)
			blocked++;
		else if (item->kind == FL_DIGEST_KIND_FAILED)
			failed++;
		else
			drafts++;
	}

	out = g_string_new(NULL);
	if (label != NULL) {
		g_autofree gchar *clean = fl_digest_one_line(label, FL_DIGEST_LABEL_MAX);
		/* TRANSLATORS: notification title; %s is the check-in time, e.g. 15:00 */
		g_string_append_printf(out, _("Check-in %s"), clean);
	} else {
		/* TRANSLATORS: notification title of a check-in without a scheduled time */
		g_string_append(out, _("Check-in"));
	}
	/* U+00B7 middle dot between the parts; most urgent first, as the items are */
	if (blocked > 0) {
		g_string_append(out, " · ");
		/* TRANSLATORS: number of sessions waiting for an answer */
		g_string_append_printf(out, ngettext("%u blocked", "%u blocked", blocked), blocked);
	}
	if (failed > 0) {
		g_string_append(out, " · ");
		/* TRANSLATORS: number of failed sessions */
		g_string_append_printf(out, ngettext("%u failed", "%u failed", failed), failed);
	}
	if (drafts > 0) {
		g_string_append(out, " · ");
		/* TRANSLATORS: number of drafts awaiting review */
		g_string_append_printf(out, ngettext("%u draft", "%u drafts", drafts), drafts);
	}
	return g_string_free(out, FALSE);
}

gchar *
fl_digest_body(GPtrArray *items, guint current, gboolean markup, guint max_lines)
{
	GString *out;
	g_autofree gchar *position = NULL;
	guint others;
	guint shown = 0;

	g_return_val_if_fail(items != NULL, NULL);
	g_return_val_if_fail(current < items->len, NULL);

	out = g_string_new(NULL);
	fl_digest_append_item(out, g_ptr_array_index(items, current), markup);
	if (items->len == 1)
		return g_string_free(out, FALSE);

	/* TRANSLATORS: position of the shown item in the digest, e.g. "2 of 4" */
	position = g_strdup_printf(_("%u of %u"), current + 1, items->len);
	fl_digest_append_tagged_line(out, markup, "i", position);

	others = items->len - 1;
	for (guint i = 0; i < items->len && shown < max_lines; i++) {
		const FlDigestItem *item = g_ptr_array_index(items, i);
		g_autofree gchar *what = NULL;
		g_autofree gchar *line = NULL;
		if (i == current)
			continue;
		if (item->name != NULL && item->name[0] != '\0')
			what = fl_digest_one_line(item->name, FL_DIGEST_ONE_LINE_MAX);
		else
			what = fl_digest_one_line(item->goal, FL_DIGEST_ONE_LINE_MAX);
		line = g_strdup_printf("#%u %s %s", item->id, fl_digest_kind_word(item->kind),
				       what);
		fl_digest_append_line(out, markup, line);
		shown++;
	}
	if (others > shown) {
		g_autofree gchar *more = NULL;
		/* TRANSLATORS: items of the digest not listed in the notification */
		more = g_strdup_printf(ngettext("+%u more", "+%u more", others - shown),
				       others - shown);
		fl_digest_append_line(out, markup, more);
	}
	return g_string_free(out, FALSE);
}

gchar *
fl_digest_text(GPtrArray *items, const gchar *label, guint max_items)
{
	g_autofree gchar *summary = NULL;
	GString *out;
	guint shown;

	g_return_val_if_fail(items != NULL, NULL);

	shown = max_items > 0 ? MIN(items->len, max_items) : items->len;
	summary = fl_digest_summary(items, label);
	out = g_string_new(summary);
	/* a blank line before each item: the item's own lines start with a newline */
	for (guint i = 0; i < shown; i++) {
		g_string_append_c(out, '\n');
		fl_digest_append_item(out, g_ptr_array_index(items, i), FALSE);
	}
	if (shown < items->len) {
		guint rest = items->len - shown;
		g_string_append(out, "\n\n");
		/* TRANSLATORS: after the first items of a long digest, how many it leaves out */
		g_string_append_printf(out, ngettext("… and %u more", "… and %u more", rest), rest);
	}
	g_string_append_c(out, '\n');
	return g_string_free(out, FALSE);
}
