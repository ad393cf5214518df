#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Every source file says its licence in an SPDX line near its top (COPYING holds the text):
# C sources and headers, shell and Python scripts, meson files, completions, data templates.
# Usage: test-spdx.sh [SOURCE_ROOT]
set -eu
top=${1:-$(dirname "$0")/..}
cd "$top"
[ -f COPYING ] || { echo "FAIL: no COPYING"; exit 1; }
missing=
for f in src/*.c src/*.h tests/*.c tests/*.h tests/*.sh tests/doubles/*.py tests/doubles/*.sh \
	tools/*.sh tools/*.py bench/*.py bench/*.sh completions/* meson.build meson_options.txt \
	*/meson.build data/*.in data/*.xml man/*.1 man/*.5 man/*.in .ci/run; do
	[ -f "$f" ] || continue
	head -n 3 "$f" | grep -q 'SPDX-License-Identifier: GPL-2.0-or-later' || missing="$missing $f"
done
if [ -n "$missing" ]; then
	echo "FAIL: no SPDX-License-Identifier line in:$missing"
	exit 1
fi
echo "ok: every source file has an SPDX line"
