# SPDX-License-Identifier: GPL-2.0-or-later
# bash completion for flotilla(1)                                    -*- shell-script -*-
# Subcommands and their options are listed here; session ids come from the running daemon
# through `flotilla __complete-ids COMMAND`, which never starts it.

_flotilla_commands="run ls show log diff approve reject revert cancel reply wait review checkin status hook blocked retry refresh dismiss pause resume set reload clean config help"

# the names `run --agent` accepts, read from the config by flotilla itself
_flotilla_agents()
{
	flotilla __complete-agents 2>/dev/null
}

_flotilla()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local cmd="" i word npos=0 opts=""
	COMPREPLY=()

	# --opt=value arrives as three words: --opt, =, value
	if [[ $cur == "=" ]]; then
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		cur=""
	elif [[ $prev == "=" ]]; then
		prev=${COMP_WORDS[COMP_CWORD - 2]}
	fi

	for ((i = 1; i < COMP_CWORD; i++)); do
		word=${COMP_WORDS[i]}
		if [[ -z $cmd ]]; then
			[[ $word != -* ]] && cmd=$word
			continue
		fi
		case $word in
		=) ;;
		--repo | --base | --agent | --verify | --name | --from | --note | --limit | -n | --timeout | -t | \
			--on | --memory | --priority | --budget | --older-than | --state | --group | --race)
			[[ ${COMP_WORDS[i + 1]} != "=" ]] && ((i++)) ;;
		-*) ;;
		*)
			[[ ${COMP_WORDS[i - 1]} == "=" ]] || ((npos++)) ;;
		esac
	done

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "--help --version" -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W "$_flotilla_commands" -- "$cur")
		fi
		return
	fi

	case $prev in
	--repo)
		mapfile -t COMPREPLY < <(compgen -d -- "$cur")
		return ;;
	--from)
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return ;;
	--agent)
		mapfile -t COMPREPLY < <(compgen -W "$(_flotilla_agents)" -- "$cur")
		return ;;
	--base)
		mapfile -t COMPREPLY < <(compgen -W "$(git for-each-ref --format='%(refname:short)' refs/heads 2>/dev/null)" -- "$cur")
		return ;;
	--priority)
		mapfile -t COMPREPLY < <(compgen -W "high normal low" -- "$cur")
		return ;;
	--state)
		mapfile -t COMPREPLY < <(compgen -W "done failed cancelled interrupted approved rejected reverted" -- "$cur")
		return ;;
	--verify | --name | --note | --limit | -n | --timeout | -t | --on | --memory | --budget | --older-than | --group | --race)
		return ;;
	esac

	case $cmd in
	run) opts="--repo= --base= --scratch --agent= --verify= --on= --memory= --timeout= --name= --priority= --budget= --from= --after= --after-done= --group= --race= --json" ;;
	pause | resume) opts="--group=" ;;
	ls) opts="--all --limit= --json" ;;
	show | status) opts="--json" ;;
	retry) opts="--json --onto-current" ;;
	clean) opts="--older-than= --state= --dry-run" ;;
	log) opts="--follow" ;;
	approve | reject | revert) opts="--note=" ;;
	checkin) opts="--now --preview" ;;
	wait) opts="--all --timeout=" ;;
	esac
	opts="$opts --help"

	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
		[[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]] && compopt -o nospace 2>/dev/null
		return
	fi
	# wait takes several ids, config a file after "check"; the others one argument
	if [[ $cmd == set ]]; then
		((npos == 0)) && mapfile -t COMPREPLY < <(compgen -W "max-parallel max-unreviewed" -- "$cur")
		return
	fi
	if [[ $cmd == config ]]; then
		if ((npos == 0)); then
			mapfile -t COMPREPLY < <(compgen -W "check" -- "$cur")
		elif ((npos == 1)); then
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		fi
		return
	fi
	((npos > 0)) && [[ $cmd != wait ]] && return

	case $cmd in
	show | log | diff | approve | reject | revert | refresh | cancel | reply | wait | retry | dismiss)
		mapfile -t COMPREPLY < <(compgen -W "$(flotilla __complete-ids "$cmd" 2>/dev/null | cut -f1)" -- "$cur") ;;
	help)
		mapfile -t COMPREPLY < <(compgen -W "$_flotilla_commands" -- "$cur") ;;
	hook)
		mapfile -t COMPREPLY < <(compgen -W "claude" -- "$cur") ;;
	esac
}

complete -F _flotilla flotilla
