#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# A real single-node Slurm (munged, slurmctld, slurmd from the Debian packages) living entirely
# in one directory: its own slurm.conf, munge key and socket, state and spool directories, pid
# files and logs, and ports picked free on 127.0.0.1, so that it never touches /etc/slurm, the
# system munged or a cluster another test started at the same time.
#
#   slurm-cluster.sh DIR start          configure (first time) and start; waits for "idle"
#   slurm-cluster.sh DIR stop           stops all three daemons
#   slurm-cluster.sh DIR restart-ctld   stops slurmctld and starts it again (jobs live on)
#   slurm-cluster.sh DIR restart-slurmd kills slurmd and starts it again (jobs live on)
#   slurm-cluster.sh DIR stop-ctld      stops slurmctld only: the cluster is unreachable
#   slurm-cluster.sh DIR start-ctld     starts it again
#   slurm-cluster.sh DIR node-down      marks the node DOWN (running jobs are killed)
#   slurm-cluster.sh DIR node-drain     marks the node DRAIN (nothing new starts on it)
#   slurm-cluster.sh DIR node-up        returns it to service
#   slurm-cluster.sh DIR check          exits 0 when this machine can run it at all
#
# Clients find the cluster through SLURM_CONF=DIR/slurm.conf (written by start). MinJobAge
# can be lowered with SLURM_TEST_MIN_JOB_AGE to watch the controller forget finished jobs.
# Needs root (slurmd runs jobs as their users); memory limits need a writable cgroup v1 memory
# hierarchy, otherwise the cluster runs without them and DIR/limits says "none".
set -eu

dir=${1:?usage: slurm-cluster.sh DIR start|stop|...}
cmd=${2:?usage: slurm-cluster.sh DIR start|stop|...}
export SLURM_CONF="$dir/slurm.conf"
node=$(hostname -s)

die() {
	echo "slurm-cluster: $*" >&2
	exit 1
}

# waits up to $2 tenths of a second for $1 to succeed: the daemons give no event to wait on
wait_until() {
	n=0
	while ! eval "$1" >/dev/null 2>&1; do
		n=$((n + 1))
		[ "$n" -lt "$2" ] || return 1
		sleep 0.1
	done
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pid_alive() {
	[ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

# kill, then wait for the process itself to be gone (its pid file may outlive it)
stop_pid() {
	pidfile=$1
	sig=${2:-TERM}
	[ -f "$pidfile" ] || return 0
	pid=$(cat "$pidfile")
	if kill -0 "$pid" 2>/dev/null; then
		kill "-$sig" "$pid" 2>/dev/null || true
		timeout 20 tail --pid="$pid" -f /dev/null || kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$pidfile"
}

check() {
	[ "$(id -u)" -eq 0 ] || die "needs root (slurmd runs jobs as their users)"
	for p in munged slurmctld slurmd sbatch squeue scontrol scancel sinfo python3; do
		command -v "$p" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin command -v "$p" >/dev/null 2>&1 ||
			die "$p is missing (tools/install-deps.sh installs it)"
	done
}

# cgroup v1 memory hierarchy we may create directories in: then jobs get real limits
cgroup_ok() {
	d=/sys/fs/cgroup/memory/flotilla-test-$$
	mkdir "$d" 2>/dev/null && rmdir "$d"
}

configure() {
	mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/munge" "$dir/run"
	# munged wants its socket directory open to all (clients of any user connect there)
	chmod 0755 "$dir" "$dir/munge"
	# a key of our own: the system's /etc/munge/munge.key is not ours to read or share
	dd if=/dev/urandom of="$dir/munge/munge.key" bs=1 count=1024 2>/dev/null
	chmod 0400 "$dir/munge/munge.key"
	ctld_port=$(free_port)
	slurmd_port=$(free_port)
	# job ids of clusters started side by side rarely meet (cgroups are named after them)
	first_job=$(((ctld_port % 20000) * 1000 + 1))
	if cgroup_ok; then
		proctrack=proctrack/cgroup
		task=task/cgroup
		echo cgroup >"$dir/limits"
	else
		proctrack=proctrack/linuxproc
		task=task/none
		echo none >"$dir/limits"
	fi
	cat >"$dir/slurm.conf" <<EOF
ClusterName=flotillatest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
PlugStackConfig=$dir/plugstack.conf
ProctrackType=$proctrack
TaskPlugin=$task
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
FirstJobId=$first_job
MinJobAge=${SLURM_TEST_MIN_JOB_AGE:-300}
KillWait=5
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
MessageTimeout=5
SchedulerParameters=sched_interval=1
MpiDefault=none
NodeName=$node NodeAddr=127.0.0.1 NodeHostname=$node CPUs=2 RealMemory=2048 State=UNKNOWN
PartitionName=agents Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
	: >"$dir/plugstack.conf"
	cat >"$dir/cgroup.conf" <<EOF
CgroupPlugin=cgroup/v1
CgroupAutomount=no
ConstrainCores=yes
ConstrainRAMSpace=yes
ConstrainSwapSpace=yes
AllowedSwapSpace=0
EOF
}

start_munge() {
	pid_alive "$dir/run/munged.pid" && return 0
	# munged runs as its own user and insists that nobody else can write its files
	chown -R munge:munge "$dir/munge"
	runuser -u munge -- munged --socket="$dir/munge/munge.socket" \
		--key-file="$dir/munge/munge.key" --pid-file="$dir/munge/munged.pid" \
		--log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed" ||
		die "munged did not start: $(tail -n 3 "$dir/munge/munged.log" 2>/dev/null)"
	cp "$dir/munge/munged.pid" "$dir/run/munged.pid"
}

start_ctld() {
	pid_alive "$dir/run/slurmctld.pid" && return 0
	# -i: ignore a state from a run that died half-way; without -c jobs in it survive
	PATH=$PATH:/usr/sbin slurmctld -i -f "$SLURM_CONF" ||
		die "slurmctld did not start: $(tail -n 3 "$dir/log/slurmctld.log" 2>/dev/null)"
	wait_until "scontrol ping | grep -q UP" 100 ||
		die "slurmctld does not answer: $(tail -n 3 "$dir/log/slurmctld.log")"
	# a restarted controller hears from a running slurmd only at its next ping (tens of
	# seconds); asking every slurmd to reconfigure makes it register now
	if pid_alive "$dir/run/slurmd.pid"; then
		scontrol reconfigure >/dev/null 2>&1 || true
	fi
}

start_slurmd() {
	pid_alive "$dir/run/slurmd.pid" && return 0
	PATH=$PATH:/usr/sbin slurmd -f "$SLURM_CONF" -N "$node" ||
		die "slurmd did not start: $(tail -n 3 "$dir/log/slurmd.log" 2>/dev/null)"
}

wait_idle() {
	wait_until "sinfo -h -n $node -o %t | grep -Eq '^(idle|mix|alloc)'" 300 ||
		die "node not idle: $(sinfo -h -N -o '%t %E' 2>&1); $(tail -n 3 "$dir/log/slurmd.log")"
}

case $cmd in
check)
	check
	;;
start)
	check
	[ -f "$dir/slurm.conf" ] || configure
	start_munge
	start_ctld
	start_slurmd
	wait_idle
	;;
stop)
	# jobs left over would run on without their cluster: end them while it still answers
	if pid_alive "$dir/run/slurmctld.pid" && pid_alive "$dir/run/slurmd.pid"; then
		scancel --quiet --full -s KILL --user="$(id -un)" 2>/dev/null || true
		wait_until '[ -z "$(squeue -h -t R,CG -o %i)" ]' 100 || true
	fi
	stop_pid "$dir/run/slurmd.pid"
	stop_pid "$dir/run/slurmctld.pid"
	stop_pid "$dir/run/munged.pid"
	;;
restart-ctld)
	stop_pid "$dir/run/slurmctld.pid"
	start_ctld
	;;
stop-ctld)
	stop_pid "$dir/run/slurmctld.pid"
	;;
start-ctld)
	start_ctld
	;;
restart-slurmd)
	stop_pid "$dir/run/slurmd.pid" KILL
	start_slurmd
	wait_idle
	;;
node-down)
	scontrol update NodeName="$node" State=DOWN Reason="flotilla test"
	;;
node-drain)
	scontrol update NodeName="$node" State=DRAIN Reason="flotilla test"
	;;
node-up)
	# a controller just restarted knows the node only once slurmd registers again ("unk*")
	wait_until "sinfo -h -n $node -o %t | grep -Evq '^unk|[*]$'" 400 ||
		die "$node does not respond: $(sinfo -h -N -o '%t %E')"
	# refused ("Invalid node state") when it is in service already
	scontrol update NodeName="$node" State=RESUME 2>/dev/null || true
	wait_idle
	;;
*)
	die "unknown command $cmd"
	;;
esac
