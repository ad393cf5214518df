#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# A stand-in `codex` for flotilla's daemon tests: replays a recorded `codex exec --json` run.
#
#   codex [GLOBAL-OPTIONS] exec [OPTIONS] [--] GOAL
#     prints the JSONL file named by FAKE_CODEX_SCRIPT (a path, or a file name in this
#     directory; default codex-recorded.jsonl): '{' lines on stdout, the others (Codex's
#     stderr chatter) on stderr. If the run succeeds it appends "codex: GOAL" to CODEX.md in
#     the working directory and exits 0; a script with a turn.failed event edits nothing and
#     exits 1, as the real CLI does.
#   codex [GLOBAL-OPTIONS] exec [OPTIONS] resume [OPTIONS] [--] THREAD REPLY
#     appends "reply: REPLY" to CODEX.md and prints a short successful run of THREAD.
#
# Like the real CLI (checked with @openai/codex 0.171.0) it reads stdin to its end unless
# stdin is a terminal, so a caller that leaves a pipe open hangs here too: give it the null
# device. FAKE_CODEX_ARGV_LOG, if set, names a file that gets the arguments, each followed
# by a NUL byte. The recorded runs follow the output of the real CLI against a local
# Responses API double; the second turn of codex-recorded.jsonl is added, with the running
# token totals Codex reports.
set -eu

here=$(cd "$(dirname "$0")" && pwd)

if [ -n "${FAKE_CODEX_ARGV_LOG:-}" ]; then
	for arg in "$@"; do
		printf '%s\0' "$arg"
	done >"$FAKE_CODEX_ARGV_LOG"
fi

mode=
dashdash=0
skip=0
npos=0
pos1=
pos2=
for arg in "$@"; do
	if [ "$skip" = 1 ]; then
		skip=0
		continue
	fi
	if [ -z "$mode" ]; then
		case $arg in
		exec) mode=new ;;
		-c | --config | -m | --model | -p | --profile | -s | --sandbox | -C | --cd) skip=1 ;;
		esac
		continue
	fi
	if [ "$dashdash" = 0 ]; then
		case $arg in
		--)
			dashdash=1
			continue
			;;
		-c | --config | -m | --model | -p | --profile | -s | --sandbox | -C | --cd | \
			-o | --output-last-message | --output-schema | -i | --image | --add-dir)
			skip=1
			continue
			;;
		-*) continue ;;
		resume)
			if [ "$mode" = new ] && [ "$npos" = 0 ]; then
				mode=resume
				continue
			fi
			;;
		esac
	fi
	npos=$((npos + 1))
	case $npos in
	1) pos1=$arg ;;
	2) pos2=$arg ;;
	esac
done

if [ -z "$mode" ]; then
	echo "fake-codex: only 'codex exec' is recorded" >&2
	exit 2
fi

# as the real CLI: a piped prompt addition is read to its end before anything happens
if [ ! -t 0 ]; then
	cat >/dev/null
fi

if [ "$mode" = resume ]; then
	if [ "$npos" -lt 2 ]; then
		echo "fake-codex: resume needs THREAD and REPLY" >&2
		exit 2
	fi
	printf 'reply: %s\n' "$pos2" >>CODEX.md
	thread=$(printf '%s' "$pos1" | sed -e 's/[\\"]/\\&/g')
	echo 'Reading additional input from stdin...' >&2
	printf '{"type":"thread.started","thread_id":"%s"}\n' "$thread"
	echo '{"type":"turn.started"}'
	echo '{"type":"item.completed","item":{"id":"item_0","type":"agent_message","text":"Done: applied your reply."}}'
	echo '{"type":"turn.completed","usage":{"input_tokens":480,"cached_input_tokens":80,"cache_write_input_tokens":0,"output_tokens":120,"reasoning_output_tokens":0}}'
	exit 0
fi

if [ "$npos" -lt 1 ]; then
	echo "No prompt provided. Either specify one as an argument or pipe the prompt into stdin." >&2
	exit 1
fi

script=${FAKE_CODEX_SCRIPT:-codex-recorded.jsonl}
if [ ! -f "$script" ]; then
	script=$here/$script
fi
while IFS= read -r line || [ -n "$line" ]; do
	case $line in
	'{'*) printf '%s\n' "$line" ;;
	*) printf '%s\n' "$line" >&2 ;;
	esac
done <"$script"

if grep -q '"type":"turn.failed"' "$script"; then
	exit 1
fi
printf 'codex: %s\n' "$pos1" >>CODEX.md
exit 0
