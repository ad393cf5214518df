#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Flotilla benchmarks, with peers measured in the same run.

Run through bench/run.sh, which gives this script a private session bus (dbus-run-session)
and a throw-away HOME; every flotillad started here gets its own XDG_STATE_HOME and
XDG_CONFIG_HOME below a temporary root, so nothing touches the user's real flotilla.

Each benchmark returns rows for the summary table and raw numbers for results.json.
"""

import argparse
import datetime
import json
import os
import platform
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

import dbus

BUS_NAME = "io.github.flotilla.Flotilla1"
OBJECT_PATH = "/io/github/flotilla/Flotilla1"
NOTIFY_NAME = "org.freedesktop.Notifications"

# the store columns this script writes; checked against the daemon's own schema before use
SESSION_COLUMNS = (
    "id", "name", "goal", "agent", "repo", "base", "base_commit", "branch", "worktree",
    "verify_command", "state", "review", "created", "started", "finished", "exit_code",
    "signal", "verify", "diffstat", "cost_usd", "turns", "waiting_for", "final_message",
    "reason", "merge_commit", "agent_session",
)

SIZES = {
    "full": {
        "throughput_n": 1000, "throughput_reps": 3, "parallel": 8,
        "idle_stored": 10000, "idle_seconds": 60,
        "memory_stored": (0, 10000, 100000), "stream_bytes": 1 << 30,
        "startup_stored": 100000, "startup_reps": 5,
        "view_stored": (10000, 100000), "view_reps": 5,
        "checkin_stored": 10000, "checkin_pending": 1000, "checkin_reps": 5,
        # each round checks out 300 trees of 10 000 files: one round fits the time budget
        "wt_sessions": 100, "wt_files": 10000, "wt_reps": 1,
        "overlap_drafts": 100, "overlap_files": 10000,
        "slurm_sessions": 20,
        "confine_sessions": 100, "confine_reps": 3, "confine_by_hand": 200,
    },
    "tiny": {
        "throughput_n": 10, "throughput_reps": 1, "parallel": 8,
        "idle_stored": 10, "idle_seconds": 2,
        "memory_stored": (0, 10, 100), "stream_bytes": 10 << 20,
        "startup_stored": 100, "startup_reps": 2,
        "view_stored": (10, 100), "view_reps": 2,
        "checkin_stored": 100, "checkin_pending": 10, "checkin_reps": 1,
        "wt_sessions": 10, "wt_files": 100, "wt_reps": 1,
        "overlap_drafts": 10, "overlap_files": 100,
        "slurm_sessions": 3,
        "confine_sessions": 10, "confine_reps": 1, "confine_by_hand": 10,
    },
}

BENCHMARKS = ("throughput", "idle", "memory", "startup", "view", "checkin", "worktrees",
              "overlaps", "slurm", "confine")


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def median(values):
    return statistics.median(values) if values else None


def fmt_ms(seconds):
    return "—" if seconds is None else f"{seconds * 1000:.1f} ms"


def fmt_kb(kb):
    return "—" if kb is None else f"{kb / 1024:.1f} MB"


# ------------------------------------------------------------------ the bus


class Bus:
    """The harness's own connection to the private bus: readiness and idleness polls."""

    def __init__(self):
        self.bus = dbus.SessionBus()

    def has_owner(self, name):
        return bool(self.bus.call_blocking("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                           "org.freedesktop.DBus", "NameHasOwner", "s",
                                           (name,)))

    def status(self, timeout=10.0):
        reply = self.bus.call_blocking(BUS_NAME, OBJECT_PATH, BUS_NAME, "GetStatus", "", (),
                                       timeout=timeout)
        return {str(k): v for k, v in reply.items()}

    def wait_idle(self, deadline_s=3600.0, interval=0.005):
        """Polls until nothing is queued, running or blocked."""
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            st = self.status()
            if int(st["running"]) == 0 and int(st["queued"]) == 0 and int(st["blocked"]) == 0:
                return
            time.sleep(interval)
        raise RuntimeError("flotillad did not become idle")


# ------------------------------------------------------------------ one flotilla


class Instance:
    """A flotilla user of its own: HOME, state, config; its daemon started by us."""

    def __init__(self, ctx, name, max_parallel=8, checkin_times=None):
        self.ctx = ctx
        self.dir = os.path.join(ctx.root, name)
        self.home = os.path.join(self.dir, "home")
        self.work = os.path.join(self.dir, "work")
        state_home = os.path.join(self.dir, "state")
        config_home = os.path.join(self.dir, "config")
        self.state_dir = os.path.join(state_home, "flotilla")
        self.config_file = os.path.join(config_home, "flotilla", "flotilla.conf")
        for d in (self.home, self.work, state_home, os.path.dirname(self.config_file)):
            os.makedirs(d, exist_ok=True)
        self.configure(max_parallel, checkin_times)
        with open(os.path.join(self.home, ".gitconfig"), "w") as f:
            f.write("[user]\n\tname = Bench\n\temail = bench@localhost\n"
                    "[init]\n\tdefaultBranch = main\n[gc]\n\tauto = 0\n")
        env = dict(os.environ)
        for key in ("FLOTILLA_CONFIG", "FLOTILLA_SESSION", "FLOTILLA_RUNNER", "GIT_DIR",
                    "GIT_WORK_TREE"):
            env.pop(key, None)
        env.update(HOME=self.home, XDG_STATE_HOME=state_home, XDG_CONFIG_HOME=config_home,
                   XDG_DATA_HOME=os.path.join(self.dir, "data"),
                   XDG_CACHE_HOME=os.path.join(self.dir, "cache"),
                   FLOTILLAD=ctx.flotillad, NO_COLOR="1", LC_ALL="C.UTF-8")
        self.env = env
        self.proc = None

    def configure(self, max_parallel=8, checkin_times=None):
        conf = f"[fleet]\nmax-parallel={max_parallel}\nmax-unreviewed=0\n"
        if checkin_times is not None:
            conf += f"\n[checkin]\ntimes={checkin_times}\n"
        with open(self.config_file, "w") as f:
            f.write(conf)

    @property
    def db(self):
        return os.path.join(self.state_dir, "flotilla.db")

    @property
    def pid(self):
        return self.proc.pid

    def start(self):
        """Starts flotillad and returns the seconds from exec to its first bus answer."""
        if self.ctx.bus.has_owner(BUS_NAME):
            raise RuntimeError("another flotillad owns the bus name")
        logf = open(os.path.join(self.dir, "flotillad.log"), "ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen([self.ctx.flotillad], env=self.env, cwd="/",
                                     stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        logf.close()
        while True:
            try:
                self.ctx.bus.status(timeout=5)
                return time.perf_counter() - t0
            except dbus.DBusException:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"flotillad exited with {self.proc.returncode}; see "
                                   f"{self.dir}/flotillad.log")
            if time.perf_counter() - t0 > 30:
                raise RuntimeError("flotillad did not answer within 30 s")
            time.sleep(0.0005)

    def stop(self):
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        # the name goes with the connection; wait so the next daemon can own it
        deadline = time.monotonic() + 10
        while self.ctx.bus.has_owner(BUS_NAME) and time.monotonic() < deadline:
            time.sleep(0.005)

    def cli(self, *args, cwd=None, check=True):
        r = subprocess.run([self.ctx.flotilla, *args], env=self.env, cwd=cwd or self.work,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"flotilla {' '.join(args)}: exit {r.returncode}: {r.stderr}")
        return r

    def timed_cli(self, *args, cwd=None):
        t0 = time.perf_counter()
        r = self.cli(*args, cwd=cwd)
        return time.perf_counter() - t0, r

    def init_store(self):
        """Lets flotillad create its database, so the schema is the daemon's own."""
        self.start()
        self.stop()

    def query(self, sql, args=()):
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()


# ------------------------------------------------------------------ filling a store


def fill_store(inst, n, pending=0, files=True, seed=7):
    """Writes @n finished sessions straight into @inst's store (daemon stopped).

    The mix looks like a long-used store: mostly done, some failed/cancelled/interrupted,
    half of them in a git repository with a decided draft; @pending drafts still await a
    decision, spread over the range. Old failures and decided drafts are in the ledger, as
    they were announced at some earlier check-in. Each session gets its directory with an
    output.log (and draft.patch for drafts) where the agent view looks for those files: the
    drafts and the most recent sessions (files for all 100 000 would only slow the set-up).
    """
    rng = random.Random(seed)
    con = sqlite3.connect(inst.db)
    cols = [r[1] for r in con.execute("PRAGMA table_info(sessions)")]
    missing = [c for c in SESSION_COLUMNS if c not in cols]
    if missing:
        raise RuntimeError(f"store schema changed: no column {', '.join(missing)}; update "
                           "bench/flbench.py")
    if con.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] != 0:
        raise RuntimeError("fill_store wants an empty store")
    con.execute("PRAGMA synchronous=OFF")
    now_us = int(time.time() * 1e6)
    pending_ids = set()
    if pending:
        step = n / pending
        pending_ids = {int(i * step) + 1 for i in range(pending)}
    repo = "/srv/bench/project"
    rows, events, ledger = [], [], []
    sessions_dir = os.path.join(inst.state_dir, "sessions")
    for i in range(1, n + 1):
        created = now_us - (n - i + 1) * 60_000_000
        started = created + 1_000_000
        finished = started + rng.randint(5, 900) * 1_000_000
        in_repo = i in pending_ids or rng.random() < 0.5
        r = rng.random()
        state = ("done" if r < 0.90 else "failed" if r < 0.97 else
                 "cancelled" if r < 0.99 else "interrupted")
        review, verify, diffstat, cost, merge = "none", None, None, None, None
        goal = f"bench goal {i}: tidy module {rng.randint(1, 500)} and keep the tests green"
        if i in pending_ids:
            state, review = "done", "pending"
        if in_repo and state in ("done", "failed"):
            if review != "pending":
                review = "approved" if rng.random() < 0.7 else "rejected"
            verify = "pass" if rng.random() < 0.8 else "fail"
            diffstat = f" {rng.randint(1, 9)} files changed, {rng.randint(1, 300)} " \
                       f"insertions(+), {rng.randint(0, 80)} deletions(-)"
            cost = round(rng.uniform(0.01, 2.0), 4)
            if review == "approved":
                merge = f"{rng.getrandbits(160):040x}"
        exit_code = 0 if state == "done" else (1 if state == "failed" else None)
        rows.append((
            i, None, goal, "shell", repo if in_repo else None, "main" if in_repo else None,
            f"{rng.getrandbits(160):040x}" if in_repo else None,
            f"flotilla/{i}" if in_repo else None,
            os.path.join(inst.state_dir, "worktrees", str(i)),
            "make check" if in_repo else None, state, review, created, started, finished,
            exit_code, 0 if exit_code is not None else None, verify, diffstat, cost, None,
            None, f"finished step {i}\n", None if state != "failed" else "exit status 1",
            merge, None))
        events.append((i, created, "queued", "cli", None))
        events.append((i, finished, state, "daemon", None))
        if state in ("failed", "interrupted") and review == "none":
            ledger.append((i, "failed", finished + 1))
        if review in ("approved", "rejected"):
            ledger.append((i, "draft", finished + 1))
            events.append((i, finished + 5_000_000, review, "cli", None))
        if files and (i in pending_ids or i > n - 200):
            d = os.path.join(sessions_dir, str(i))
            os.mkdir(d, 0o700)
            with open(os.path.join(d, "output.log"), "w") as f:
                f.write(f"working on goal {i}\nfinished step {i}\n")
            if review != "none":
                with open(os.path.join(d, "draft.patch"), "w") as f:
                    f.write(f"--- a/file{i}\n+++ b/file{i}\n@@ -1 +1 @@\n-old\n+new\n")
    placeholders = ", ".join("?" * len(SESSION_COLUMNS))
    with con:
        con.executemany(f"INSERT INTO sessions ({', '.join(SESSION_COLUMNS)}) "
                        f"VALUES ({placeholders})", rows)
        con.executemany("INSERT INTO events (session_id, time, kind, source, note) "
                        "VALUES (?, ?, ?, ?, ?)", events)
        con.executemany("INSERT INTO ledger (session_id, event, announced) VALUES (?, ?, ?)",
                        ledger)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def prepared_instance(ctx, name, n, pending=0, checkin_times=None):
    """A flotilla whose store holds @n finished sessions; shared by the benchmarks that
    only read it (key: @name), so each size is filled once per run."""
    inst = ctx.stores.get(name)
    if inst is None:
        inst = Instance(ctx, name)
        inst.init_store()
        if n:
            t0 = time.perf_counter()
            fill_store(inst, n, pending=pending)
            log(f"{name}: filled {n} sessions ({pending} pending) in "
                f"{time.perf_counter() - t0:.1f} s")
        ctx.stores[name] = inst
    inst.configure(checkin_times=checkin_times)
    return inst


def stored_instance(ctx, n):
    """The shared read-only store of @n sessions, a few drafts pending among them."""
    return prepared_instance(ctx, f"store-{n}", n, pending=min(20, n // 10))


# ------------------------------------------------------------------ /proc


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def rss_kb(pid):
    return int(proc_status(pid)["VmRSS"].split()[0])


def memory_sample(pid):
    st = proc_status(pid)
    sample = {k: int(st[k].split()[0]) for k in ("VmRSS", "VmHWM", "RssAnon", "RssFile")
              if k in st}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    sample["Pss"] = int(line.split()[1])
    except OSError:
        pass
    return sample


def thread_counters(pid):
    """Per thread: (name, context switches, cpu ns) from /proc/PID/task/*."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        base = f"/proc/{pid}/task/{tid}"
        try:
            st = proc_status(f"{pid}/task/{tid}")
            with open(f"{base}/schedstat") as f:
                cpu_ns = int(f.read().split()[0])
            with open(f"{base}/comm") as f:
                name = f.read().strip()
        except OSError:
            continue
        switches = int(st["voluntary_ctxt_switches"]) + int(st["nonvoluntary_ctxt_switches"])
        out[tid] = (name, switches, cpu_ns)
    return out


def process_cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, all threads


# ------------------------------------------------------------------ context


class Context:
    def __init__(self, args):
        self.args = args
        self.size = dict(SIZES["tiny" if args.tiny else "full"])
        # FLBENCH_SET="throughput_n=200,throughput_reps=1": quicker runs while profiling
        for pair in filter(None, os.environ.get("FLBENCH_SET", "").split(",")):
            key, _, value = pair.partition("=")
            if key not in self.size or isinstance(self.size[key], tuple):
                sys.exit(f"flbench.py: FLBENCH_SET: cannot set '{key}'")
            self.size[key] = int(value)
        self.build = args.build
        self.flotilla = os.path.join(args.build, "src", "flotilla")
        self.flotillad = os.path.join(args.build, "src", "flotillad")
        self.root = tempfile.mkdtemp(prefix="flotilla-bench-", dir=args.tmpdir)
        self.bus = Bus()
        self.tsp = find_tsp()
        self.results = {}
        self.rows = []
        self.stores = {}

    def row(self, bench, what, flotilla, peer="", target="", verdict=""):
        self.rows.append((bench, what, flotilla, peer, target, verdict))

    def cleanup(self):
        if not self.args.keep:
            shutil.rmtree(self.root, ignore_errors=True)


def find_tsp():
    for name in ("tsp", "ts"):
        path = shutil.which(name)
        if path is None:
            continue
        # moreutils ships an unrelated `ts`; task-spooler's answers -V with its name
        r = subprocess.run([path, "-V"], stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=10)
        if "spooler" in (r.stdout + r.stderr).lower():
            return path
    return None


def verdict(ok):
    return "met" if ok else "MISSED"


# ------------------------------------------------------------------ 1. throughput


def write_goals(path, n, goal="true"):
    with open(path, "w") as f:
        f.write((goal + "\n") * n)


def tput_flotilla(ctx, rep, batch):
    s = ctx.size
    n = s["throughput_n"]
    inst = Instance(ctx, f"tput-{'batch' if batch else 'each'}-{rep}",
                    max_parallel=s["parallel"])
    goals = os.path.join(inst.dir, "goals.txt")
    write_goals(goals, n)
    inst.start()
    try:
        t0 = time.perf_counter()
        if batch:
            inst.cli("run", "--from", goals)
        else:
            for _ in range(n):
                inst.cli("run", "--", "true")
        t_submitted = time.perf_counter() - t0
        ctx.bus.wait_idle()
        total = time.perf_counter() - t0
        done = inst.query("SELECT COUNT(*) FROM sessions WHERE state = 'done'")[0][0]
        if done != n:
            raise RuntimeError(f"{done} of {n} sessions done")
    finally:
        inst.stop()
    shutil.rmtree(inst.dir, ignore_errors=True)
    return total, t_submitted


def tput_tsp(ctx, rep):
    s = ctx.size
    n = s["throughput_n"]
    d = os.path.join(ctx.root, f"tsp-{rep}")
    os.makedirs(d)
    env = dict(os.environ, TS_SOCKET=os.path.join(d, "socket"), TMPDIR=d,
               TS_MAXFINISHED=str(n + 10), TS_SLOTS=str(s["parallel"]))

    def tsp(*args):
        r = subprocess.run([ctx.tsp, *args], env=env, cwd=d, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"tsp {' '.join(args)}: exit {r.returncode}: {r.stderr}")
        return r.stdout.strip()

    tsp("-S", str(s["parallel"]))
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            tsp("sh", "-c", "true")
        t_submitted = time.perf_counter() - t0
        # a job wanting every slot starts only after all before it ended (FIFO)
        barrier = tsp("-N", str(s["parallel"]), "true")
        tsp("-w", barrier)
        total = time.perf_counter() - t0
        finished = sum(1 for line in tsp("-l").splitlines() if " finished " in line)
        if finished != n + 1:
            raise RuntimeError(f"tsp finished {finished} of {n + 1} jobs")
    finally:
        subprocess.run([ctx.tsp, "-K"], env=env, stdin=subprocess.DEVNULL,
                       capture_output=True)
    shutil.rmtree(d, ignore_errors=True)
    return total, t_submitted


def tput_xargs(ctx, rep):
    s = ctx.size
    goals = os.path.join(ctx.root, f"xargs-goals-{rep}.txt")
    write_goals(goals, s["throughput_n"])
    with open(goals) as f:
        t0 = time.perf_counter()
        subprocess.run(["xargs", f"-P{s['parallel']}", "-I{}", "sh", "-c", "{}"], stdin=f,
                       check=True)
        total = time.perf_counter() - t0
    os.unlink(goals)
    return total


def bench_throughput(ctx):
    s = ctx.size
    n, reps = s["throughput_n"], s["throughput_reps"]
    raw = {"n": n, "parallel": s["parallel"], "flotilla_each": [], "flotilla_batch": [],
           "tsp_each": [], "xargs_batch": [], "failures": []}
    contenders = [("xargs_batch", lambda rep: (tput_xargs(ctx, rep), None)),
                  ("flotilla_batch", lambda rep: tput_flotilla(ctx, rep, batch=True))]
    if ctx.tsp is not None:
        contenders.append(("tsp_each", lambda rep: tput_tsp(ctx, rep)))
    contenders.append(("flotilla_each", lambda rep: tput_flotilla(ctx, rep, batch=False)))
    for rep in range(reps):
        # interleaved, so drift of the machine hits every contender alike
        done = []
        for key, run in contenders:
            log(f"throughput rep {rep + 1}/{reps}: {key}")
            try:
                total, sub = run(rep)
            except RuntimeError as e:
                # a failed round is a result too; the others still count
                raw["failures"].append({"contender": key, "rep": rep, "error": str(e)})
                log(f"  {key} failed: {e}")
                continue
            raw[key].append({"total": total, "submit": sub})
            done.append(f"{key} {total:.2f} s")
        log("  " + ", ".join(done))

    def med(key, field="total"):
        values = [r[field] for r in raw[key] if r[field] is not None]
        return median(values)

    for key in ("flotilla_each", "flotilla_batch", "tsp_each", "xargs_batch"):
        m = med(key)
        raw[key + "_median_s"] = m
        raw[key + "_per_session_ms"] = None if m is None else m / n * 1000
    fe, fb = raw["flotilla_each_per_session_ms"], raw["flotilla_batch_per_session_ms"]
    te, xb = raw["tsp_each_per_session_ms"], raw["xargs_batch_per_session_ms"]
    for key in ("flotilla_each", "flotilla_batch", "tsp_each"):
        if raw[key]:
            raw[key + "_submit_per_call_ms"] = med(key, "submit") / n * 1000
    ctx.results["throughput"] = raw

    def cell(ms, key):
        failed = sum(1 for f in raw["failures"] if f["contender"] == key)
        text = "—" if ms is None else f"{ms:.2f} ms"
        return text + (f" ({failed} of {reps} rounds failed)" if failed else "")

    ctx.row("throughput", f"{n} × `true`, one CLI call each, per session",
            cell(fe, "flotilla_each"),
            f"tsp -S {s['parallel']}: {cell(te, 'tsp_each')}" if ctx.tsp else "tsp: not found",
            "≤ task-spooler", verdict(None not in (fe, te) and fe <= te))
    ctx.row("throughput", f"{n} × `true`, one batch (--from), per session",
            cell(fb, "flotilla_batch"), f"xargs -P{s['parallel']}: {cell(xb, 'xargs_batch')}",
            "≤ 1.5 × xargs", verdict(None not in (fb, xb) and fb <= 1.5 * xb) +
            (f" ({fb / xb:.1f}×)" if None not in (fb, xb) else ""))


# ------------------------------------------------------------------ 2. idle


def bench_idle(ctx):
    s = ctx.size
    ahead = datetime.datetime.now() + datetime.timedelta(minutes=30)
    inst = stored_instance(ctx, s["idle_stored"])
    inst.configure(checkin_times=ahead.strftime("%H:%M"))
    inst.start()
    try:
        st = ctx.bus.status()
        next_checkin = str(st.get("next_checkin", ""))
        time.sleep(1.0)  # let start-up work (the notifier thread, the bus) settle
        before = thread_counters(inst.pid)
        ticks0 = process_cpu_ticks(inst.pid)
        time.sleep(s["idle_seconds"])
        after = thread_counters(inst.pid)
        ticks1 = process_cpu_ticks(inst.pid)
        mem = memory_sample(inst.pid)
    finally:
        inst.stop()
        inst.configure()
    threads = {}
    for tid, (name, sw, cpu) in after.items():
        b = before.get(tid, (name, 0, 0))
        threads[f"{tid} {name}"] = {"switches": sw - b[1], "cpu_ms": (cpu - b[2]) / 1e6}
    for tid, (name, sw, cpu) in before.items():
        # a thread that ended in the window woke up at least to end (GLib's thread pool
        # retires idle workers after 15 s); its last counters are gone with it
        if tid not in after:
            threads[f"{tid} {name} (exited)"] = {"switches": 1, "cpu_ms": 0.0}
    wakeups = sum(t["switches"] for t in threads.values())
    cpu_ms = sum(t["cpu_ms"] for t in threads.values())
    hz = os.sysconf("SC_CLK_TCK")
    raw = {"stored": s["idle_stored"], "seconds": s["idle_seconds"],
           "next_checkin": next_checkin, "wakeups": wakeups, "cpu_ms": cpu_ms,
           "cpu_ms_from_stat": (ticks1 - ticks0) * 1000 / hz, "threads": threads,
           "memory_kb": mem}
    ctx.results["idle"] = raw
    ctx.row("idle", f"{s['idle_seconds']} s idle, {s['idle_stored']} stored, check-in "
            f"30 min ahead: wake-ups", str(wakeups), "", "0", verdict(wakeups == 0))
    ctx.row("idle", "… CPU time over that window", f"{cpu_ms:.2f} ms", "", "", "")


# ------------------------------------------------------------------ 3. memory


def bench_memory(ctx):
    s = ctx.size
    raw = {"stored": {}, "stream": {}}
    for n in s["memory_stored"]:
        inst = stored_instance(ctx, n)
        inst.start()
        try:
            time.sleep(0.5)
            idle = memory_sample(inst.pid)
            inst.cli("ls", "--json")
            inst.cli("status")
            time.sleep(0.2)
            used = memory_sample(inst.pid)
        finally:
            inst.stop()
        raw["stored"][str(n)] = {"idle": idle, "after_ls": used}
        target = "< 10 MB" if n == s["memory_stored"][1] else ""
        ctx.row("memory", f"RSS idle, {n} stored (after one `ls`)",
                f"{fmt_kb(idle['VmRSS'])} ({fmt_kb(used['VmRSS'])})", "", target,
                verdict(idle["VmRSS"] < 10 * 1024) if target else "")
    # a session printing a lot: the daemon must not buffer it
    inst = Instance(ctx, "mem-stream")
    nbytes = s["stream_bytes"]
    inst.start()
    try:
        time.sleep(0.3)
        before = memory_sample(inst.pid)
        samples = []
        t0 = time.perf_counter()
        sid = inst.cli("run", "--", f"yes flotilla-bench-output-line | head -c {nbytes}")
        sid = int(sid.stdout.strip())
        while True:
            st = ctx.bus.status()
            samples.append(rss_kb(inst.pid))
            if int(st["running"]) == 0 and int(st["queued"]) == 0:
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - t0
        after = memory_sample(inst.pid)
        log_size = os.path.getsize(os.path.join(inst.state_dir, "sessions", str(sid),
                                                "output.log"))
    finally:
        inst.stop()
    raw["stream"] = {"bytes": nbytes, "log_bytes": log_size, "seconds": elapsed,
                     "before": before, "after": after, "max_rss_kb": max(samples),
                     "samples": len(samples)}
    ctx.results["memory"] = raw
    grow = max(samples) - before["VmRSS"]
    ctx.row("memory", f"RSS while a session prints {nbytes >> 20} MiB: before / max / after",
            f"{fmt_kb(before['VmRSS'])} / {fmt_kb(max(samples))} / "
            f"{fmt_kb(after['VmRSS'])}", "", "flat", verdict(grow < 1024))


# ------------------------------------------------------------------ 4. start-up


def bench_startup(ctx):
    s = ctx.size
    raw = {}
    for n in (0, s["startup_stored"]):
        inst = stored_instance(ctx, n)
        times = []
        inst.start()  # a first, cold start: the page cache is then warm like a login's
        inst.stop()
        for _ in range(s["startup_reps"]):
            times.append(inst.start())
            inst.stop()
        raw[str(n)] = {"times": times, "median_s": median(times)}
    ctx.results["startup"] = raw
    m0 = raw["0"]["median_s"]
    m = raw[str(s["startup_stored"])]["median_s"]
    ctx.row("startup", f"exec → first bus answer, {s['startup_stored']} stored (0 stored)",
            f"{fmt_ms(m)} ({fmt_ms(m0)})", "", "< 200 ms", verdict(m < 0.2))


# ------------------------------------------------------------------ 5. agent view


def bench_view(ctx):
    s = ctx.size
    raw = {}
    for n in s["view_stored"]:
        inst = stored_instance(ctx, n)
        inst.start()
        try:
            res = {}
            variants = [("ls --json", ("ls", "--json")), ("ls", ("ls",)),
                        ("status", ("status",))]
            if n == s["view_stored"][0]:
                variants.append(("ls --all --json", ("ls", "--all", "--json")))
            for label, args in variants:
                inst.cli(*args)  # warm
                times = [inst.timed_cli(*args)[0] for _ in range(s["view_reps"])]
                res[label] = {"times": times, "median_s": median(times),
                              "bytes": len(inst.cli(*args).stdout)}
        finally:
            inst.stop()
        raw[str(n)] = res
        for label in ("ls --json", "ls"):
            m = res[label]["median_s"]
            ctx.row("view", f"`flotilla {label}`, {n} stored", fmt_ms(m), "", "< 100 ms",
                    verdict(m < 0.1))
        ctx.row("view", f"… for scale: `flotilla status`, {n} stored",
                fmt_ms(res["status"]["median_s"]), "", "", "")
        if "ls --all --json" in res:
            ctx.row("view", f"… `flotilla ls --all --json`, {n} stored (every session)",
                    fmt_ms(res["ls --all --json"]["median_s"]), "", "", "")
    ctx.results["view"] = raw


# ------------------------------------------------------------------ 6. check-in


def start_notification_server(ctx, logfile):
    proc = subprocess.Popen(["/usr/bin/python3", "-m", "dbusmock", "--template",
                             "notification_daemon", "--parameters",
                             json.dumps({"capabilities": "body body-markup actions "
                                         "persistence"}), "--logfile", logfile],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not ctx.bus.has_owner(NOTIFY_NAME):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("python-dbusmock notification_daemon did not start")
        time.sleep(0.02)
    return proc


def notify_times(logfile):
    """Wall-clock times (s) of the Notify calls in a dbusmock log."""
    out = []
    try:
        with open(logfile) as f:
            for line in f:
                parts = line.split(" ", 2)
                if len(parts) >= 2 and parts[1] == "Notify":
                    out.append(float(parts[0]))
    except OSError:
        pass
    return out


def bench_checkin(ctx):
    s = ctx.size
    n, pending = s["checkin_stored"], s["checkin_pending"]
    inst = prepared_instance(ctx, "checkin", n, pending=pending)
    pristine = inst.db + ".pristine"
    shutil.copyfile(inst.db, pristine)
    mocklog = os.path.join(inst.dir, "notify.log")
    mock = start_notification_server(ctx, mocklog)
    raw = {"stored": n, "pending": pending, "preview": [], "first_cli": [],
           "first_notify": [], "repeat_cli": [], "repeat_notify": []}

    def deliver():
        count = len(notify_times(mocklog))
        w0 = time.time()
        t, r = inst.timed_cli("checkin", "--now")
        deadline = time.monotonic() + 10
        while len(notify_times(mocklog)) <= count and time.monotonic() < deadline:
            time.sleep(0.002)
        times = notify_times(mocklog)
        if len(times) <= count:
            raise RuntimeError("the digest never reached the notification server")
        # dbusmock stamps in ms; never report less than the CLI round trip itself
        return t, max(t, times[count] - w0), r.stdout

    try:
        for rep in range(s["checkin_reps"]):
            for suffix in ("-wal", "-shm"):
                if os.path.exists(inst.db + suffix):
                    os.unlink(inst.db + suffix)
            shutil.copyfile(pristine, inst.db)
            inst.start()
            try:
                raw["preview"].append(inst.timed_cli("checkin", "--preview")[0])
                t_cli, t_notify, text = deliver()  # every draft announced for the first time
                raw["first_cli"].append(t_cli)
                raw["first_notify"].append(t_notify)
                t_cli, t_notify, _ = deliver()  # the same drafts again, as reminders
                raw["repeat_cli"].append(t_cli)
                raw["repeat_notify"].append(t_notify)
                raw["summary_line"] = text.splitlines()[0] if text else ""
            finally:
                inst.stop()
    finally:
        mock.terminate()
        mock.wait()
        shutil.copyfile(pristine, inst.db)
    for key in ("preview", "first_cli", "first_notify", "repeat_cli", "repeat_notify"):
        raw[key + "_median_s"] = median(raw[key])
    ctx.results["checkin"] = raw
    first = raw["first_notify_median_s"]
    ctx.row("checkin", f"`checkin --now`, {pending} pending drafts, first delivery (CLI → "
            f"Notify received)", fmt_ms(first), "", "< 50 ms", verdict(first < 0.05))
    rep = raw["repeat_notify_median_s"]
    ctx.row("checkin", "… same digest again (reminders, ledger already written)", fmt_ms(rep),
            "", "< 50 ms", verdict(rep < 0.05))
    pv = raw["preview_median_s"]
    ctx.row("checkin", "… `checkin --preview` (build only)", fmt_ms(pv), "", "< 50 ms",
            verdict(pv < 0.05))


# ------------------------------------------------------------------ 7. worktrees


def git(*args, cwd, env):
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL)


def make_repo(path, files, env):
    """A repository whose main branch holds @files small files in directories of 100.

    Written with one `git fast-import` (a `git add` of 10 000 files takes far longer on a
    slow disk), then checked out like any clone."""
    os.makedirs(path)
    git("init", "-q", "-b", "main", cwd=path, env=env)
    chunks = []
    for i in range(files):
        data = f"/* file {i} */\nint f{i}(void)\n{{\n\treturn {i};\n}}\n".encode()
        chunks.append(b"blob\nmark :%d\ndata %d\n%s\n" % (i + 1, len(data), data))
    msg = b"tree of many files"
    chunks.append(b"commit refs/heads/main\ncommitter Bench <bench@localhost> 1700000000 +0000"
                  b"\ndata %d\n%s\n" % (len(msg), msg))
    for i in range(files):
        chunks.append(b"M 100644 :%d src/mod%03d/file%05d.c\n" % (i + 1, i // 100, i))
    chunks.append(b"\n")
    subprocess.run(["git", "fast-import", "--quiet"], input=b"".join(chunks), cwd=path,
                   env=env, check=True)
    git("reset", "-q", "--hard", "main", cwd=path, env=env)


# `git worktree add/remove` race when run at once in one repository (one reads the other's
# half-written .git/worktrees entry), so the peers take a lock around them, as flotillad
# creates its worktrees one at a time
GIT_PLAIN = ('flock "$R/.git/bench.lock" git -C "$R" worktree add -q -b "plain/$1" "$W/$1" && '
             'flock "$R/.git/bench.lock" git -C "$R" worktree remove "$W/$1"')
GIT_FULL = ('flock "$R/.git/bench.lock" git -C "$R" worktree add -q -b "full/$1" "$W/$1" && '
            'echo "$1" > "$W/$1/bench-change.txt" && git -C "$W/$1" add -A && '
            'git -C "$W/$1" commit -q -m "session $1" && '
            'git -C "$W/$1" diff --stat HEAD~1 > /dev/null && '
            'git -C "$W/$1" format-patch -q --stdout HEAD~1 > "$W/$1.patch" && '
            'flock "$R/.git/bench.lock" git -C "$R" worktree remove "$W/$1"')


def wt_git(ctx, base, repo, rep, script, label):
    """@script once per session, -P like flotilla's max-parallel; worktrees next to @repo."""
    s = ctx.size
    wdir = os.path.join(base.dir, f"wt-{label}-{rep}")
    os.makedirs(wdir)
    env = dict(base.env, R=repo, W=wdir)
    first = rep * s["wt_sessions"] + 1
    ids = "".join(f"{i}\n" for i in range(first, first + s["wt_sessions"]))
    t0 = time.perf_counter()
    subprocess.run(["xargs", f"-P{s['parallel']}", "-I{}", "sh", "-c", script, "sh", "{}"],
                   input=ids, text=True, env=env, check=True)
    total = time.perf_counter() - t0
    shutil.rmtree(wdir, ignore_errors=True)
    return total


def wt_flotilla(ctx, repo, rep):
    s = ctx.size
    n = s["wt_sessions"]
    inst = Instance(ctx, f"wt-flotilla-{rep}", max_parallel=s["parallel"])
    goals = os.path.join(inst.dir, "goals.txt")
    write_goals(goals, n, 'echo "$FLOTILLA_SESSION" > bench-change.txt')
    inst.start()
    try:
        t0 = time.perf_counter()
        inst.cli("run", "--repo", repo, "--from", goals)
        ctx.bus.wait_idle()
        total = time.perf_counter() - t0
        drafts = inst.query("SELECT COUNT(*) FROM sessions WHERE state = 'done' AND "
                            "review = 'pending' AND diffstat IS NOT NULL")[0][0]
        if drafts != n:
            rows = inst.query("SELECT id, state, review, reason FROM sessions LIMIT 5")
            raise RuntimeError(f"{drafts} of {n} sessions became drafts: {rows}")
        spans = inst.query("SELECT AVG(finished - started) FROM sessions")[0][0] / 1e6
        # the rest of a draft's life: rejecting it removes worktree and branch, what the
        # git baseline's `worktree remove` does
        ids = "".join(f"{r[0]}\n" for r in inst.query("SELECT id FROM sessions"))
        t0 = time.perf_counter()
        subprocess.run(["xargs", f"-P{s['parallel']}", "-I{}", ctx.flotilla, "reject", "{}"],
                       input=ids, text=True, env=inst.env, cwd=inst.work, check=True,
                       stdout=subprocess.DEVNULL)
        removed = time.perf_counter() - t0
        left = os.listdir(os.path.join(inst.state_dir, "worktrees"))
        if left:
            raise RuntimeError(f"{len(left)} worktrees left after rejecting every draft")
    finally:
        inst.stop()
    # its worktrees and branches go, so the next round starts from the same repository
    shutil.rmtree(inst.dir, ignore_errors=True)
    git("worktree", "prune", cwd=repo, env=inst.env)
    branches = subprocess.run(["git", "for-each-ref", "--format=%(refname:short)",
                               "refs/heads/flotilla/"], cwd=repo, env=inst.env,
                              capture_output=True, text=True, check=True).stdout.split()
    if branches:
        git("branch", "-q", "-D", *branches, cwd=repo, env=inst.env)
    return total, removed, spans


def bench_worktrees(ctx):
    s = ctx.size
    n = s["wt_sessions"]
    base = Instance(ctx, "wt-base", max_parallel=s["parallel"])
    repo = os.path.join(base.dir, "repo")
    t0 = time.perf_counter()
    make_repo(repo, s["wt_files"], base.env)
    log(f"worktrees: repository of {s['wt_files']} files in "
        f"{time.perf_counter() - t0:.1f} s")
    raw = {"sessions": n, "files": s["wt_files"], "parallel": s["parallel"], "flotilla": [],
           "flotilla_session_span": [], "flotilla_reject": [], "git_plain": [],
           "git_full": []}
    for rep in range(s["wt_reps"]):
        log(f"worktrees rep {rep + 1}/{s['wt_reps']}")
        raw["git_plain"].append(wt_git(ctx, base, repo, rep, GIT_PLAIN, "plain"))
        total, removed, span = wt_flotilla(ctx, repo, rep)
        raw["flotilla"].append(total)
        raw["flotilla_reject"].append(removed)
        raw["flotilla_session_span"].append(span)
        raw["git_full"].append(wt_git(ctx, base, repo, rep, GIT_FULL, "full"))
    for key in ("flotilla", "flotilla_reject", "git_plain", "git_full",
                "flotilla_session_span"):
        raw[key + "_median_s"] = median(raw[key])
    ctx.results["worktrees"] = raw
    run = raw["flotilla_median_s"] / n
    rejected = raw["flotilla_reject_median_s"] / n
    per = run + rejected
    plain = raw["git_plain_median_s"] / n
    full = raw["git_full_median_s"] / n
    ctx.row("worktrees", f"{n} sessions, {s['wt_files']}-file repo, -P{s['parallel']}: wall "
            "time per session (create, run, commit, patch + reject)",
            f"{fmt_ms(per)} ({fmt_ms(run)} + {fmt_ms(rejected)})",
            f"git worktree add+remove: {fmt_ms(plain)}; by hand (add, commit, "
            f"format-patch, remove): {fmt_ms(full)}", "(compare)",
            f"{per / plain:.1f}× plain git, {per / full:.1f}× by hand")
    ctx.row("worktrees", "… one session's own span (started → finished), mean",
            fmt_ms(raw["flotilla_session_span_median_s"]), "", "", "")


# ------------------------------------------------------------------ 8. overlaps


def overlap_file(i, files):
    return f"src/mod{i // 100:03d}/file{i:05d}.c"


def make_drafts(repo, n, files, env):
    """@n draft branches flotilla/1..n from main, each changing two files, plus one more
    (n + 1, the one that lands) changing file 0, which every tenth draft changes too: after
    it lands those conflict, the rest still merge. One `git fast-import` for all of them."""
    tip = subprocess.run(["git", "rev-parse", "main"], cwd=repo, env=env, check=True,
                         capture_output=True, text=True).stdout.strip()
    chunks = []
    for i in range(1, n + 2):
        touched = [0] if i == n + 1 else [(i * 37) % files, (i * 101 + 7) % files]
        if i % 10 == 0:
            touched.append(0)
        msg = f"flotilla #{i}: draft".encode()
        chunks.append(b"commit refs/heads/flotilla/%d\ncommitter Bench <bench@localhost> "
                      b"1700000000 +0000\ndata %d\n%s\nfrom %s\n"
                      % (i, len(msg), msg, tip.encode()))
        for f in sorted(set(touched)):
            data = f"/* changed by draft {i} */\n".encode()
            chunks.append(b"M 100644 inline %s\ndata %d\n%s\n"
                          % (overlap_file(f, files).encode(), len(data), data))
        chunks.append(b"\n")
    subprocess.run(["git", "fast-import", "--quiet"], input=b"".join(chunks), cwd=repo,
                   env=env, check=True)
    return tip


def insert_drafts(inst, repo, tip, n):
    """The drafts as pending sessions in @inst's store (daemon stopped)."""
    con = sqlite3.connect(inst.db)
    now_us = int(time.time() * 1e6)
    rows = []
    for i in range(1, n + 2):
        row = dict.fromkeys(SESSION_COLUMNS)
        row.update(id=i, goal=f"bench draft {i}", agent="shell", repo=repo, base="main",
                   base_commit=tip, branch=f"flotilla/{i}",
                   worktree=os.path.join(inst.state_dir, "worktrees", str(i)), state="done",
                   review="pending", created=now_us, started=now_us, finished=now_us,
                   exit_code=0, signal=0, diffstat=" 2 files changed")
        rows.append(tuple(row[c] for c in SESSION_COLUMNS))
        os.makedirs(os.path.join(inst.state_dir, "sessions", str(i)), 0o700, exist_ok=True)
    with con:
        con.executemany(f"INSERT INTO sessions ({', '.join(SESSION_COLUMNS)}) VALUES "
                        f"({', '.join('?' * len(SESSION_COLUMNS))})", rows)
    con.close()


def pending_checked(ctx, tip):
    """How many pending drafts the daemon has checked against @tip (ListSessions)."""
    sessions = ctx.bus.bus.call_blocking(BUS_NAME, OBJECT_PATH, BUS_NAME, "ListSessions",
                                         "a{sv}", ({},), timeout=30)
    return sum(1 for s in sessions if str(s.get("review", "")) == "pending" and
               str(s.get("checked_against", "")) == tip)


def wait_checked(ctx, tip, n, deadline_s=600):
    t0 = time.perf_counter()
    while pending_checked(ctx, tip) < n:
        if time.perf_counter() - t0 > deadline_s:
            raise RuntimeError(f"the drafts were not all checked against {tip}")
        time.sleep(0.01)
    return time.perf_counter() - t0


def bench_overlaps(ctx):
    s = ctx.size
    n, files = s["overlap_drafts"], s["overlap_files"]
    inst = Instance(ctx, "overlaps")
    repo = os.path.join(inst.dir, "repo")
    make_repo(repo, files, inst.env)
    tip = make_drafts(repo, n, files, inst.env)
    inst.init_store()
    insert_drafts(inst, repo, tip, n)
    raw = {"drafts": n, "files": files}
    inst.start()
    try:
        # start-up: every pending draft checked once, off the main loop
        raw["startup_check_s"] = wait_checked(ctx, tip, n + 1)
        idle_preview, _ = inst.timed_cli("checkin", "--preview")
        # one approval moves main: the other n drafts are checked again
        t0 = time.perf_counter()
        inst.cli("approve", str(n + 1))
        raw["approve_s"] = time.perf_counter() - t0
        new_tip = subprocess.run(["git", "rev-parse", "main"], cwd=repo, env=inst.env,
                                 check=True, capture_output=True, text=True).stdout.strip()
        # the digest while that check runs: it must not wait for it
        busy_preview, _ = inst.timed_cli("checkin", "--preview")
        raw["recheck_s"] = raw["approve_s"] + wait_checked(ctx, new_tip, n)
        raw["preview_idle_s"], raw["preview_during_check_s"] = idle_preview, busy_preview
        conflicts = sum(1 for i in range(1, n + 1) if i % 10 == 0)
        got = inst.cli("ls", "--json").stdout.count("since #%d landed" % (n + 1))
        if got != conflicts:
            raise RuntimeError(f"{got} drafts said they conflict since #{n + 1}, "
                               f"expected {conflicts}")
    finally:
        inst.stop()
    # the same git calls by hand, one after another: what the daemon's worker thread runs
    script = ('for i in $(seq 1 "$N"); do git -C "$R" diff --name-only -z "$B" "flotilla/$i" '
              '-- > /dev/null; git -C "$R" merge-tree --write-tree --name-only -z '
              '--no-messages "$T" "flotilla/$i" > /dev/null || true; done')
    t0 = time.perf_counter()
    subprocess.run(["sh", "-c", script], env=dict(inst.env, N=str(n), R=repo, B=tip,
                                                   T=new_tip), check=True)
    raw["by_hand_s"] = time.perf_counter() - t0
    ctx.results["overlaps"] = raw
    ctx.row("overlaps", f"{n} pending drafts, {files}-file repo: re-check after one approval "
            "(approve → every draft checked against the new tip)", fmt_ms(raw["recheck_s"]),
            f"the same git diff + merge-tree calls by hand: {fmt_ms(raw['by_hand_s'])}",
            "(compare)", f"{raw['recheck_s'] / raw['by_hand_s']:.1f}× by hand")
    ctx.row("overlaps", "… `checkin --preview` while that check runs, and idle",
            f"{fmt_ms(busy_preview)} (idle {fmt_ms(idle_preview)})", "", "not delayed",
            verdict(busy_preview < idle_preview + 0.25))
    ctx.row("overlaps", "… first check of all drafts at start-up",
            fmt_ms(raw["startup_check_s"]), "", "", "")
# ------------------------------------------------------------------ slurm


def slurm_wait_gone(names, env, deadline_s=600):
    """Until none of the jobs @names is pending, running or completing (Slurm has no event
    to wait on; squeue is what its users poll too)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < deadline_s:
        r = subprocess.run(["squeue", "--me", "-h", "-t", "PD,R,CG,CF", "-o", "%j",
                            "--name=" + ",".join(names)], env=env, capture_output=True,
                           text=True)
        if r.returncode == 0 and not r.stdout.strip():
            return
        time.sleep(0.05)
    raise RuntimeError("Slurm jobs did not finish in time")


def bench_slurm(ctx):
    """Per-session overhead of flotilla on Slurm (bundle, job script, sbatch, squeue, the
    draft fetched back) beside the same work submitted with sbatch by hand, on a real
    single-node cluster started for the run (tests/doubles/slurm-cluster.sh)."""
    s = ctx.size
    n = s["slurm_sessions"]
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = os.path.join(top, "tests", "doubles", "slurm-cluster.sh")
    if os.geteuid() != 0 or shutil.which("slurmctld", path="/usr/sbin:/usr/bin") is None:
        ctx.row("slurm", "sessions on Slurm", "skipped: needs root and the Slurm packages "
                "(tools/install-deps.sh)", "", "", "")
        return
    cluster = tempfile.mkdtemp(prefix="flbench-slurm-", dir="/tmp")
    os.chmod(cluster, 0o755)
    subprocess.run(["sh", script, cluster, "start"], check=True)
    try:
        env = dict(os.environ, SLURM_CONF=os.path.join(cluster, "slurm.conf"))
        # by hand: each job clones a bundle, changes a file, commits, bundles the commit back
        base = Instance(ctx, "slurm-base")
        repo = os.path.join(base.dir, "repo")
        make_repo(repo, 10, base.env)
        hand = os.path.join(cluster, "hand")
        os.makedirs(hand)
        git("bundle", "create", "-q", os.path.join(hand, "repo.bundle"), "HEAD", cwd=repo,
            env=base.env)
        job = os.path.join(hand, "job.sh")
        with open(job, "w") as f:
            f.write("#!/bin/sh\nd=$1\ngit clone -q repo.bundle \"$d\" && cd \"$d\" && "
                    "echo \"$d\" > bench-change.txt && git add -A && "
                    "git -c user.name=b -c user.email=b@localhost commit -qm change && "
                    "git bundle create -q ../\"$d\".bundle HEAD~1..HEAD\n")
        names = [f"flbench-hand-{i}" for i in range(n)]
        t0 = time.perf_counter()
        for i, name in enumerate(names):
            subprocess.run(["sbatch", "--parsable", "-J", name, "-D", hand, "-o",
                            os.path.join(hand, name + ".out"), job, f"w{i}"],
                           env=env, check=True, stdout=subprocess.DEVNULL)
        slurm_wait_gone(names, env)
        by_hand = time.perf_counter() - t0
        bundles = [b for b in os.listdir(hand) if b.startswith("w") and b.endswith(".bundle")]
        if len(bundles) != n:
            raise RuntimeError(f"{len(bundles)} of {n} jobs by hand left a bundle")

        inst = Instance(ctx, "slurm-flotilla", max_parallel=s["parallel"])
        with open(inst.config_file, "a") as f:
            f.write(f"\n[cluster bench]\nkind=slurm\nshared-dir={cluster}/shared\n")
        inst.env["SLURM_CONF"] = env["SLURM_CONF"]
        goals = os.path.join(inst.dir, "goals.txt")
        write_goals(goals, n, 'echo "$FLOTILLA_SESSION" > bench-change.txt')
        inst.start()
        try:
            t0 = time.perf_counter()
            inst.cli("run", "--on", "bench", "--repo", repo, "--from", goals)
            # each status asks the cluster (sinfo): no need to ask it 200 times a second
            ctx.bus.wait_idle(interval=0.1)
            through = time.perf_counter() - t0
            drafts = inst.query("SELECT COUNT(*) FROM sessions WHERE state = 'done' AND "
                                "review = 'pending'")[0][0]
            if drafts != n:
                rows = inst.query("SELECT id, state, reason FROM sessions LIMIT 5")
                raise RuntimeError(f"{drafts} of {n} sessions on Slurm became drafts: {rows}")
        finally:
            inst.stop()
    finally:
        subprocess.run(["sh", script, cluster, "stop"])
        shutil.rmtree(cluster, ignore_errors=True)
    ctx.results["slurm"] = {"sessions": n, "flotilla_s": through, "by_hand_s": by_hand}
    ctx.row("slurm", f"{n} sessions on a single-node Slurm: wall time per session (submit to "
            "draft recorded)", fmt_ms(through / n),
            f"sbatch by hand (clone, commit, bundle; squeue): {fmt_ms(by_hand / n)}",
            "(compare)", f"+{fmt_ms((through - by_hand) / n)} per session")


# ------------------------------------------------------------------ 10. confinement


def confine_flotilla(ctx, repo, rep, confined):
    """n sessions that each change a file in the repository, confined or not: wall time
    from `run` to the last draft recorded, and the sessions' own mean span"""
    s = ctx.size
    n = s["confine_sessions"]
    inst = Instance(ctx, f"confine-{'on' if confined else 'off'}-{rep}",
                    max_parallel=s["parallel"])
    with open(inst.config_file, "a") as f:
        f.write(f"confinement={'on' if confined else 'off'}\n")
    goals = os.path.join(inst.dir, "goals.txt")
    write_goals(goals, n, 'echo "$FLOTILLA_SESSION" > bench-change.txt')
    inst.start()
    try:
        t0 = time.perf_counter()
        inst.cli("run", "--repo", repo, "--from", goals)
        ctx.bus.wait_idle()
        total = time.perf_counter() - t0
        drafts = inst.query("SELECT COUNT(*) FROM sessions WHERE state = 'done' AND "
                            "review = 'pending' AND diffstat IS NOT NULL")[0][0]
        if drafts != n:
            rows = inst.query("SELECT id, state, review, reason FROM sessions LIMIT 5")
            raise RuntimeError(f"{drafts} of {n} sessions became drafts: {rows}")
        recorded = inst.query("SELECT DISTINCT confinement FROM sessions")
        want = "bwrap" if confined else "off"
        if recorded != [(want,)]:
            raise RuntimeError(f"sessions ran with confinement {recorded}, not {want}")
        spans = inst.query("SELECT AVG(finished - started) FROM sessions")[0][0] / 1e6
    finally:
        inst.stop()
    shutil.rmtree(inst.dir, ignore_errors=True)
    git("worktree", "prune", cwd=repo, env=inst.env)
    branches = subprocess.run(["git", "for-each-ref", "--format=%(refname:short)",
                               "refs/heads/flotilla/"], cwd=repo, env=inst.env,
                              capture_output=True, text=True, check=True).stdout.split()
    if branches:
        git("branch", "-q", "-D", *branches, cwd=repo, env=inst.env)
    return total, spans


def confine_by_hand(ctx, work, confined):
    """the same one command run n times one after another, in a bubblewrap sandbox built as
    flotilla-runner builds one (system read-only, private /tmp, an empty home, the work
    directory writable) or plainly"""
    n = ctx.size["confine_by_hand"]
    home = os.path.join(work, "home")
    wdir = os.path.join(work, "w")
    os.makedirs(home, exist_ok=True)
    os.makedirs(wdir, exist_ok=True)
    cmd = ["sh", "-c", 'echo x > bench-change.txt']
    if confined:
        bwrap = ["bwrap", "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
                 "--unshare-cgroup-try", "--die-with-parent"]
        for d in ("/usr", "/etc", "/opt", "/bin", "/sbin", "/lib", "/lib32", "/lib64"):
            if os.path.islink(d):
                bwrap += ["--symlink", os.readlink(d), d]
            elif os.path.isdir(d):
                bwrap += ["--ro-bind", d, d]
        bwrap += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", home,
                  "--bind", wdir, wdir, "--chdir", wdir, "--"]
        cmd = bwrap + cmd
    t0 = time.perf_counter()
    for _ in range(n):
        subprocess.run(cmd, cwd=wdir, check=True, stdin=subprocess.DEVNULL)
    return (time.perf_counter() - t0) / n


def bench_confine(ctx):
    """What confinement costs a session: the same sessions with confinement on and off, and
    bwrap's own cost by hand (one sandboxed command against the same command plainly)."""
    s = ctx.size
    n = s["confine_sessions"]
    if shutil.which("bwrap") is None:
        ctx.row("confine", "confinement", "skipped: bubblewrap is not installed "
                "(tools/install-deps.sh)", "", "", "")
        return
    base = Instance(ctx, "confine-base", max_parallel=s["parallel"])
    repo = os.path.join(base.dir, "repo")
    make_repo(repo, 100, base.env)
    raw = {"sessions": n, "parallel": s["parallel"], "on": [], "off": [], "on_span": [],
           "off_span": []}
    for rep in range(s["confine_reps"]):
        log(f"confine rep {rep + 1}/{s['confine_reps']}")
        # alternated, so that a machine getting busier weighs on both alike
        for confined in ((True, False) if rep % 2 == 0 else (False, True)):
            total, span = confine_flotilla(ctx, repo, rep, confined)
            key = "on" if confined else "off"
            raw[key].append(total)
            raw[key + "_span"].append(span)
    raw["by_hand_bwrap_s"] = confine_by_hand(ctx, os.path.join(base.dir, "hand"), True)
    raw["by_hand_plain_s"] = confine_by_hand(ctx, os.path.join(base.dir, "hand"), False)
    for key in ("on", "off", "on_span", "off_span"):
        raw[key + "_median_s"] = median(raw[key])
    ctx.results["confine"] = raw
    on = raw["on_median_s"] / n
    off = raw["off_median_s"] / n
    added = on - off
    by_hand = raw["by_hand_bwrap_s"] - raw["by_hand_plain_s"]
    ctx.row("confine", f"{n} sessions changing a file, -P{s['parallel']}: wall time per "
            "session (create, run, commit, patch), confined",
            f"{fmt_ms(on)} (unconfined {fmt_ms(off)}: {added * 1000:+.1f} ms)",
            f"bwrap by hand: {fmt_ms(raw['by_hand_bwrap_s'])} a command, "
            f"{by_hand * 1000:+.1f} ms over the command alone",
            "< 10 % of an unconfined session", f"{added / off * 100:+.1f} % "
            f"{verdict(added / off < 0.10)}")
    ctx.row("confine", "… one session's own span (started → finished), mean",
            f"{fmt_ms(raw['on_span_median_s'])} confined",
            f"{fmt_ms(raw['off_span_median_s'])} unconfined", "", "")


# ------------------------------------------------------------------ main


def machine_info():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rev = subprocess.run(["git", "-C", top, "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip() or "unknown"
    return {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "revision": rev,
            "loadavg": os.getloadavg(),
            "nproc": os.cpu_count(), "cpu": model, "mem_gib": round(mem_kb / 1048576, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version}


def write_summary(ctx, out_dir, info, elapsed):
    lines = [f"# Flotilla bench ({'tiny' if ctx.args.tiny else 'full'})", "",
             f"{info['date']} · {info['nproc']} CPUs · {info['cpu']} · {info['mem_gib']} GiB"
             f" · Linux {info['kernel']} · {elapsed:.0f} s · load average "
             f"{info['loadavg'][0]:.1f} → {info['loadavg_end'][0]:.1f} · tree {info['revision']}",
             "",
             "| bench | what | flotilla | peer | target | verdict |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in ctx.rows:
        lines.append("| " + " | ".join(r) + " |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(text)
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="sizes of ~10 (CI smoke run)")
    ap.add_argument("--only", default=",".join(BENCHMARKS),
                    help="comma-separated subset of: " + ", ".join(BENCHMARKS))
    ap.add_argument("--build", required=True, help="meson build directory")
    ap.add_argument("--out", required=True, help="directory for results")
    ap.add_argument("--tmpdir", default=None, help="where the temporary root goes")
    ap.add_argument("--keep", action="store_true", help="keep the temporary root")
    args = ap.parse_args()
    if "DBUS_SESSION_BUS_ADDRESS" not in os.environ or not os.environ.get("FLBENCH_PRIVATE"):
        sys.exit("flbench.py: run it through bench/run.sh (a private bus is required)")
    only = [b.strip() for b in args.only.split(",") if b.strip()]
    for b in only:
        if b not in BENCHMARKS:
            sys.exit(f"flbench.py: unknown benchmark '{b}'")
    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    ctx = Context(args)
    if ctx.tsp is None:
        log("task-spooler not found: its column stays empty")
    os.makedirs(args.out, exist_ok=True)
    info = machine_info()
    t0 = time.perf_counter()
    failed = []
    try:
        for b in BENCHMARKS:
            if b not in only:
                continue
            log(f"--- {b}")
            t = time.perf_counter()
            try:
                globals()["bench_" + b](ctx)
            except Exception as e:  # one broken benchmark must not hide the others
                failed.append(b)
                log(f"{b} FAILED: {e!r}")
                ctx.row(b, "FAILED", str(e).replace("|", "/")[:120], "", "", "FAILED")
            log(f"{b}: {time.perf_counter() - t:.1f} s")
    finally:
        t = time.perf_counter()
        ctx.cleanup()
        log(f"clean-up: {time.perf_counter() - t:.1f} s")
    elapsed = time.perf_counter() - t0
    info["loadavg_end"] = os.getloadavg()
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"machine": info, "mode": "tiny" if args.tiny else "full",
                   "sizes": ctx.size, "elapsed_s": elapsed, "results": ctx.results,
                   "failed": failed}, f, indent=2, default=str)
    print(write_summary(ctx, args.out, info, elapsed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
