#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# A stand-in `aider` for flotilla's daemon tests: a recorded one-shot run,
#
#   aider --message GOAL [--yes-always] [--no-auto-commits] [--no-gitignore] [FILE…]
#
# prints the console transcript of aider 0.86 (banner, the reply with its SEARCH/REPLACE
# block, the "Tokens: … Cost: …" line, "Applied edit to …"), appends "aider: GOAL" to AIDER.md
# in the working directory and exits 0. As the real aider does in a git repository it adds
# ".aider*" to .gitignore (unless --no-gitignore), keeps its chat history in
# .aider.chat.history.md and commits the edited file (unless --no-auto-commits; with no git
# identity the commit fails and aider says so and goes on).
# With FAKE_AIDER_FAIL=1 it prints the banner and an API error and exits 1, editing nothing.
# FAKE_AIDER_ARGV_LOG, if set, names a file that gets the arguments, each followed by NUL.
set -eu

if [ -n "${FAKE_AIDER_ARGV_LOG:-}" ]; then
	for arg in "$@"; do
		printf '%s\0' "$arg"
	done >"$FAKE_AIDER_ARGV_LOG"
fi

goal=
have_goal=0
auto_commits=1
gitignore=1
while [ $# -gt 0 ]; do
	case $1 in
	-m | --message | --msg)
		[ $# -ge 2 ] || {
			echo "aider: error: argument --message/--msg/-m: expected one argument" >&2
			exit 2
		}
		goal=$2
		have_goal=1
		shift 2
		;;
	--message=* | --msg=*)
		goal=${1#*=}
		have_goal=1
		shift
		;;
	-f | --message-file)
		goal=$(cat "$2")
		have_goal=1
		shift 2
		;;
	--no-auto-commits)
		auto_commits=0
		shift
		;;
	--no-gitignore)
		gitignore=0
		shift
		;;
	--)
		break
		;;
	*) shift ;;
	esac
done

if [ "$have_goal" = 0 ]; then
	echo "fake-aider: only one-shot runs (--message) are recorded" >&2
	exit 2
fi

in_git=0
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	in_git=1
fi

echo "Aider v0.86.2"
echo "Model: gpt-4o with diff edit format, infinite output"
echo "Weak model: gpt-4o-mini"
if [ "$in_git" = 1 ]; then
	echo "Git repo: .git with $(git ls-files | wc -l | tr -d ' ') files"
else
	echo "Git repo: none"
fi
echo "Repo-map: using 4096 tokens, auto refresh"

if [ "${FAKE_AIDER_FAIL:-0}" = 1 ]; then
	echo
	echo "litellm.AuthenticationError: AuthenticationError: OpenAIException - Incorrect API key provided: sk-test. You can find your API key at https://platform.openai.com/account/api-keys."
	echo "The API provider is not able to authenticate you. Check your API key."
	exit 1
fi

if [ "$in_git" = 1 ] && [ "$gitignore" = 1 ] && ! grep -qxF '.aider*' .gitignore 2>/dev/null; then
	echo '.aider*' >>.gitignore
	echo "Added .aider* to .gitignore"
fi

reply=$(
	echo
	echo "I'll note the request in AIDER.md."
	echo
	echo "AIDER.md"
	echo '```'
	echo "<<<<<<< SEARCH"
	echo "======="
	printf 'aider: %s\n' "$goal"
	echo ">>>>>>> REPLACE"
	echo '```'
	echo
	echo "Tokens: 2.4k sent, 183 received. Cost: \$0.0078 message, \$0.0078 session."
)
printf '%s\n' "$reply"
{
	printf '\n#### %s\n' "$goal"
	printf '%s\n' "$reply"
} >>.aider.chat.history.md

printf 'aider: %s\n' "$goal" >>AIDER.md
echo "Applied edit to AIDER.md"

if [ "$in_git" = 1 ] && [ "$auto_commits" = 1 ]; then
	name=$(git config user.name || echo aider)
	if git add -- AIDER.md &&
		git -c user.name="$name (aider)" commit -q -m "feat: Note the request in AIDER.md" \
			-- AIDER.md >/dev/null 2>&1; then
		echo "Commit $(git rev-parse --short HEAD) feat: Note the request in AIDER.md"
	else
		echo "Unable to commit: git commit failed"
	fi
fi
exit 0
