#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# po/POTFILES.in lists exactly the source files that have translatable strings: a file that
# is missing there never reaches translators, a stale entry breaks `ninja flotilla-pot`.
# Also: every language in po/LINGUAS has its .po, and each .po is well-formed.
# Usage: test-potfiles.sh [SOURCE_ROOT]
set -eu
# Under `meson test --setup valgrind` this shell runs under valgrind, which then reports the
# shell's own allocations; the shell is not what is tested here (the other tests run the
# binaries under valgrind), so continue in a fresh one outside it.
if [ -n "${FL_TEST_VALGRIND:-}" ] && [ -z "${FL_TEST_REEXEC:-}" ]; then
	FL_TEST_REEXEC=1 exec /bin/sh "$0" "$@"
fi
top=${1:-$(dirname "$0")/..}
cd "$top"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# _( N_( C_( NC_( Q_( and the g_d*gettext*() / ngettext() functions, not fl_foo_(
marker='(^|[^A-Za-z0-9_])((N|C|NC|Q)?_|g_d[cnp]?gettext2?|d?ngettext)[[:space:]]*\('

status=0
for f in src/*.c src/*.h; do
	[ -e "$f" ] || continue
	if grep -Eq "$marker" "$f"; then
		echo "$f"
	fi
done | LC_ALL=C sort >"$tmp/marked"

sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' po/POTFILES.in >"$tmp/listed-all"
grep '^src/' "$tmp/listed-all" | LC_ALL=C sort >"$tmp/listed" || true

for f in $(LC_ALL=C comm -23 "$tmp/marked" "$tmp/listed"); do
	echo "not in po/POTFILES.in but has translatable strings: $f"
	status=1
done
for f in $(LC_ALL=C comm -13 "$tmp/marked" "$tmp/listed"); do
	if [ -e "$f" ]; then
		echo "in po/POTFILES.in but has no translatable strings: $f"
	else
		echo "in po/POTFILES.in but does not exist: $f"
	fi
	status=1
done
while read -r f; do
	case $f in
	src/*) ;;
	*)
		if [ ! -e "$f" ]; then
			echo "in po/POTFILES.in but does not exist: $f"
			status=1
		fi
		;;
	esac
done <"$tmp/listed-all"
if [ "$(LC_ALL=C sort -u "$tmp/listed-all" | wc -l)" -ne "$(wc -l <"$tmp/listed-all")" ]; then
	echo "po/POTFILES.in lists a file twice"
	status=1
fi

for lang in $(sed -e 's/#.*//' po/LINGUAS); do
	if [ ! -e "po/$lang.po" ]; then
		echo "po/LINGUAS names $lang but po/$lang.po does not exist"
		status=1
	elif command -v msgfmt >/dev/null 2>&1 &&
		! msgfmt --check -o /dev/null "po/$lang.po"; then
		echo "po/$lang.po does not pass msgfmt --check"
		status=1
	fi
done

# Every language is complete: each msgid the sources have now (extracted as `ninja
# flotilla-pot` does, with meson's glib preset) has a translation that is neither empty nor
# fuzzy. A string added without its German fails here, not in front of a German user.
# (gettext's tools build the catalogues too: tools/install-deps.sh installs them)
xgettext --from-code=UTF-8 --language=C --keyword=_ --keyword=N_ --keyword=C_:1c,2 \
	--keyword=NC_:1c,2 --keyword=g_dcgettext:2 --keyword=g_dngettext:2,3 \
	--keyword=g_dpgettext2:2c,3 --files-from="$tmp/listed" --output="$tmp/now.pot" \
	2>"$tmp/xgettext.err" || {
	cat "$tmp/xgettext.err"
	status=1
}
for lang in $(sed -e 's/#.*//' po/LINGUAS); do
	[ -e "po/$lang.po" ] && [ -e "$tmp/now.pot" ] || continue
	msgmerge --quiet --no-fuzzy-matching --output-file="$tmp/$lang.po" "po/$lang.po" \
		"$tmp/now.pot"
	# entries are paragraphs; the header is one too, and always there
	{
		msgattrib --untranslated --no-obsolete --no-wrap "$tmp/$lang.po"
		msgattrib --only-fuzzy --no-obsolete --no-wrap "$tmp/$lang.po"
	} | awk 'BEGIN { RS = "" } !/Project-Id-Version/ { print; print "" }' >"$tmp/missing"
	if [ -s "$tmp/missing" ]; then
		echo "po/$lang.po lacks translations for:"
		grep '^msgid\|^"' "$tmp/missing" | sed 's/^/  /'
		status=1
	fi
done

[ "$status" -eq 0 ] && echo "po/POTFILES.in: $(wc -l <"$tmp/listed") source files, complete"
exit "$status"
