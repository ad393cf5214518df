/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <locale.h>

#include "fl-text.h"

#define LINE     FL_TEXT_NONE
#define ML       FL_TEXT_MULTILINE
#define COLLAPSE FL_TEXT_COLLAPSE_SPACE
#define DIGEST   (FL_TEXT_MULTILINE | FL_TEXT_COLLAPSE_SPACE | FL_TEXT_MAX_BLANK_LINES_1)

typedef struct {
	const gchar *what;
	const gchar *in;
	gssize len;
	FlTextFlags flags;
	const gchar *out;
} Case;

/* what an agent, a repository or a user may write, and what every consumer gets */
static const Case cases[] = {
	{"plain text is kept", "Hello, wörld — done.", -1, LINE, "Hello, wörld — done."},
	{"colour codes go whole", "\x1b[1;31mred\x1b[0m text", -1, LINE, "red text"},
	{"8-bit CSI goes whole",
	 "a\xc2\x9b"
	 "31mb",
	 -1, LINE, "ab"},
	{"OSC hyperlink to ST", "\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", -1, LINE, "link"},
	{"OSC title to BEL", "\x1b]0;pwned\x07ok", -1, LINE, "ok"},
	{"8-bit OSC to 8-bit ST",
	 "a\xc2\x9d"
	 "0;t\xc2\x9c"
	 "b",
	 -1, LINE, "ab"},
	{"DCS string goes", "a\x1bPq#0;2;0;0;0\x1b\\b", -1, LINE, "ab"},
	{"charset selection goes",
	 "\x1b(Bplain\x1b"
	 "7",
	 -1, LINE, "plain"},
	{"an unterminated OSC ends at the line break", "\x1b]0;title\nvisible", -1, ML,
	 "\nvisible"},
	{"a lone ESC at the end", "end\x1b", -1, LINE, "end"},
	{"RTL override goes", "invoice\xe2\x80\xaegnp.exe", -1, LINE, "invoicegnp.exe"},
	{"every bidi control goes",
	 "a\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8"
	 "\xe2\x81\xa9\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c"
	 "b",
	 -1, LINE, "ab"},
	{"other controls go",
	 "a\x01"
	 "b\x7f"
	 "c\xc2\x85"
	 "d\a",
	 -1, ML, "abc\nd"},
	{"invalid bytes become U+FFFD", "bad \xff\xfe bytes", -1, LINE,
	 "bad \xef\xbf\xbd\xef\xbf\xbd bytes"},
	{"a cut character becomes U+FFFD", "caf\xc3", -1, LINE, "caf\xef\xbf\xbd"},
	{"only @len bytes", "abcdef", 3, LINE, "abc"},
	{"one line: breaks and tabs become spaces", "a\r\nb\tc\rd\n", -1, LINE, "a b c d"},
	{"one line, collapsed", "  a \r\n\n b\t\tc  ", -1, COLLAPSE, "a b c"},
	{"multi-line: CR LF and CR end a line",
	 "a\r\nb\rc\xe2\x80\xa8"
	 "d",
	 -1, ML, "a\nb\nc\nd"},
	{"multi-line keeps tabs and indentation", "if x:\n\ty\n    z", -1, ML, "if x:\n\ty\n    z"},
	{"multi-line keeps empty lines without the cap", "a\n\n\n\nb", -1, ML, "a\n\n\n\nb"},
	{"trailing whitespace goes", "line  \nnext\t\n\n", -1, ML, "line\nnext"},
	{"digest: one empty line at most, none first", "\n\n  a  b\n\n\n\nc\n", -1, DIGEST,
	 "a b\n\nc"},
	{"an escape between words leaves no space", "a\x1b[0m\x1b[1mb", -1, DIGEST, "ab"},
	{"nothing visible is empty", " \x1b[0m\t\n\xe2\x80\xae", -1, ML, ""},
	{"the agent's line from the issue", "\x1b[31mALERT\x1b[0m \xe2\x80\xaegnp.exe\n", -1, ML,
	 "ALERT gnp.exe"},
};

static void
test_table(void)
{
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *out = fl_text_clean(cases[i].in, cases[i].len, cases[i].flags);

		g_test_message("%s", cases[i].what);
		g_assert_cmpstr(out, ==, cases[i].out);
		g_assert_true(g_utf8_validate(out, -1, NULL));
	}
}

/* cleaning clean text changes nothing: a stored text cleaned again when shown stays the same */
static void
test_idempotent(void)
{
	const FlTextFlags all[] = {LINE, ML, COLLAPSE, DIGEST};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		for (gsize f = 0; f < G_N_ELEMENTS(all); f++) {
			g_autofree gchar *once = fl_text_clean(cases[i].in, cases[i].len, all[f]);
			g_autofree gchar *twice = fl_text_clean(once, -1, all[f]);
			g_assert_cmpstr(once, ==, twice);
		}
	}
}

static void
test_null(void)
{
	g_assert_null(fl_text_clean(NULL, -1, ML));
}

static void
test_ellipsize(void)
{
	static const struct {
		const gchar *in;
		gsize max;
		const gchar *out;
	} caps[] = {
		{"short", 10, "short"},
		{"exact", 5, "exact"},
		{"longer text", 6, "longe…"},
		{"äöüß", 3, "ä\xc3\xb6…"},
		{"日本語テキスト", 4, "日本語…"},
		{"x", 0, ""},
		{"ab", 1, "…"},
		{"", 3, ""},
	};

	for (gsize i = 0; i < G_N_ELEMENTS(caps); i++) {
		g_autofree gchar *out = fl_text_ellipsize(caps[i].in, caps[i].max);
		g_assert_cmpstr(out, ==, caps[i].out);
		g_assert_true(g_utf8_validate(out, -1, NULL));
		g_assert_cmpuint(g_utf8_strlen(out, -1), <=, caps[i].max);
	}
}

/* hostile: random bytes never yield invalid UTF-8, an ESC, a control or a bidi override */
static void
test_random_bytes(void)
{
	g_autoptr(GRand) rand = g_rand_new_with_seed(12);

	for (guint round = 0; round < 2000; round++) {
		guchar buf[64];
		g_autofree gchar *out = NULL;

		for (gsize i = 0; i < sizeof buf; i++) {
			/* mostly the interesting bytes: ESC, C1 leads, bidi leads, breaks */
			static const guchar pick[] = {0x1b, '[',  ']',  '\\', 0x07, 0xc2,
						      0x9b, 0x9d, 0xe2, 0x80, 0xae, '\n',
						      '\r', 'a',  ' ',  0xff};
			buf[i] = g_rand_boolean(rand) ? pick[g_rand_int_range(rand, 0, 16)]
						      : (guchar)g_rand_int_range(rand, 1, 256);
		}
		out = fl_text_clean((const gchar *)buf, sizeof buf, round % 2 ? ML : LINE);
		g_assert_true(g_utf8_validate(out, -1, NULL));
		for (const gchar *p = out; *p != '\0'; p = g_utf8_next_char(p)) {
			gunichar c = g_utf8_get_char(p);
			g_assert_false(g_unichar_iscntrl(c) && c != '\n' && c != '\t');
			g_assert_false(c >= 0x202A && c <= 0x202E);
		}
	}
}

int
main(int argc, char **argv)
{
	setlocale(LC_ALL, "");
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/text/table", test_table);
	g_test_add_func("/text/idempotent", test_idempotent);
	g_test_add_func("/text/null", test_null);
	g_test_add_func("/text/ellipsize", test_ellipsize);
	g_test_add_func("/text/random-bytes", test_random_bytes);
	return g_test_run();
}
