"""Benchmark orchestrator behind scripts/bench (run it through that script, which builds the
release binaries, starts the bench MariaDB and prepares the venv).

1. Generates the workload once into the bench MariaDB (127.0.0.1:PORT): table bench.narrow
   (11 columns, NARROW_ROWS rows) in its own binlog file, then bench.wide (60 columns,
   WIDE_ROWS rows) in the next one; 1000-row INSERT ... SELECT statements, 10 per transaction.
2. For each of RUNS rounds, runs every reader on each file in turn (so one round's ratios come
   from the same machine state): mariadb-binlog --raw, mariadb-binlog -v DECODE-ROWS,
   python-mysql-replication, and the collector bench binary (decode, decode+JSON, end to end
   into a datahub-emulator process). Then RUNS latency runs at a fixed rate.
   Then (unless BENCH_SKIP_SNAPSHOT=1) the initial-snapshot section: tables bench.snap (the
   narrow table's 11 columns and generator, SNAPSHOT_ROWS rows) and bench.snap_kb (the same
   11 columns with a ~850-byte TEXT, ≈ 1 KB rows, KB_ROWS rows), each inserted alone in its
   own binlog file; per round the collector's snapshot to typed events (no sink), its
   snapshot into the emulator, the binlog end to end of the same rows, mydumper (default
   threads; and chunked, informational) and mariadb-dump --quick of bench.snap, and the
   snapshot of bench.snap_kb into the emulator for its steady RSS.
3. Writes docs/benchmarks.md (table of medians, ratios, machine, versions, command, noise) and
   docs/benchmarks.png, and keeps every raw figure in target/bench/results.json.
"""

import json
import os
import platform
import re
import resource
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "target", "bench")
PORT = int(os.environ.get("BENCH_PORT", "33064"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
NARROW_ROWS = int(os.environ.get("BENCH_NARROW_ROWS", "500000"))
WIDE_ROWS = int(os.environ.get("BENCH_WIDE_ROWS", "200000"))
LAT_RATE = int(os.environ.get("BENCH_LAT_RATE", "10000"))
LAT_SECONDS = int(os.environ.get("BENCH_LAT_SECONDS", "10"))
SNAPSHOT_ROWS = int(os.environ.get("BENCH_SNAPSHOT_ROWS", "1000000"))
KB_ROWS = int(os.environ.get("BENCH_KB_ROWS", "200000"))
SKIP_SNAPSHOT = os.environ.get("BENCH_SKIP_SNAPSHOT") == "1"
# Free text about the machine's state during the run (e.g. other work sharing it), into the report.
MACHINE_NOTE = os.environ.get("BENCH_MACHINE_NOTE", "").strip()
COLLECTOR = os.environ.get("BENCH_COLLECTOR", "")
EMULATOR = os.environ.get("BENCH_EMULATOR", "")
SOCK = os.path.join(ROOT, "target", "test-mariadb", "bench", "mdb.sock")
PY = sys.executable


def sql(text, db=None):
    cmd = ["mariadb", f"--socket={SOCK}", "-uroot", "--default-character-set=utf8mb4", "-N", "-B"]
    if db:
        cmd.append(db)
    p = subprocess.run(cmd, input=text, text=True, capture_output=True)
    if p.returncode != 0:
        raise RuntimeError(f"mariadb: {p.stderr.strip()}")
    return p.stdout


def binlogs():
    return {line.split("\t")[0]: int(line.split("\t")[1]) for line in sql("SHOW BINARY LOGS").splitlines()}


NARROW_DDL = """CREATE TABLE narrow (
  id BIGINT UNSIGNED NOT NULL PRIMARY KEY, i INT, u INT UNSIGNED, b BIGINT, d DECIMAL(12,2), f DOUBLE,
  s VARCHAR(64) CHARACTER SET utf8mb4, dt DATETIME(6), ts TIMESTAMP(3) NULL,
  e ENUM('new','paid','shipped','done'), t TEXT NULL) ENGINE=InnoDB"""
NARROW_SELECT = """SELECT seq, (seq*7919) % 2000000 - 1000000, (seq*104729) % 4000000000, seq*1000003 - 250000000000,
  ((seq*37) % 10000000) / 100, seq * 1.000001 / 7, CONCAT('customer-', LPAD(seq, 8, '0'), '-ünïcødé ✓'),
  TIMESTAMP('2024-01-01 00:00:00.123456') + INTERVAL seq SECOND,
  IF(seq % 10 = 0, NULL, FROM_UNIXTIME(1700000000 + seq + 0.125)), ELT(1 + seq % 4, 'new','paid','shipped','done'),
  IF(seq % 5 = 0, NULL, REPEAT('lorem ipsum ', 1 + seq % 8))
  FROM (SELECT CAST(seq AS SIGNED) AS seq FROM seq_{a}_to_{b}) q"""
WIDE_TYPES = ["INT", "BIGINT", "DECIMAL(12,2)", "DOUBLE", "VARCHAR(32) CHARACTER SET utf8mb4", "DATETIME(6)"]
WIDE_EXPR = ["(seq*{k}) % 1000000", "seq*{k}*1000003", "((seq*{k}) % 10000000)/100", "seq*{k}/7.0e0",
             "CONCAT('v{k}-', seq)", "TIMESTAMP('2024-01-01 00:00:00.5') + INTERVAL seq+{k} SECOND"]


def wide_ddl():
    cols = ",\n  ".join(f"c{k} {WIDE_TYPES[k % 6]}" for k in range(1, 60))
    return f"CREATE TABLE wide (id BIGINT UNSIGNED NOT NULL PRIMARY KEY,\n  {cols}) ENGINE=InnoDB"


def wide_select():
    exprs = ", ".join(WIDE_EXPR[k % 6].format(k=k) for k in range(1, 60))
    return f"SELECT seq, {exprs} FROM (SELECT CAST(seq AS SIGNED) AS seq FROM seq_{{a}}_to_{{b}}) q"


def fill(table, select, rows):
    stmts = []
    for txn_start in range(1, rows + 1, 10_000):
        stmts.append("BEGIN;")
        for a in range(txn_start, min(txn_start + 10_000, rows + 1), 1000):
            b = min(a + 999, rows)
            stmts.append(f"INSERT INTO {table} " + select.format(a=a, b=b) + ";")
        stmts.append("COMMIT;")
    sql("\n".join(stmts), db="bench")


def generate():
    state_path = os.path.join(OUT, "state.json")
    want = {"narrow_rows": NARROW_ROWS, "wide_rows": WIDE_ROWS, "version": 1}
    if os.path.exists(state_path):
        state = json.load(open(state_path))
        logs = binlogs()
        if all(state.get(k) == v for k, v in want.items()) and state["narrow"]["file"] in logs \
                and state["wide"]["file"] in logs:
            return state
    print("bench: generating the workload (once) ...", flush=True)
    sql("DROP DATABASE IF EXISTS bench; CREATE DATABASE bench;")
    sql(NARROW_DDL + ";\n" + wide_ddl() + ";", db="bench")
    state = dict(want)
    for name, select, rows in [("narrow", NARROW_SELECT, NARROW_ROWS), ("wide", wide_select(), WIDE_ROWS)]:
        sql("FLUSH BINARY LOGS")
        file = sql("SHOW MASTER STATUS").split("\t")[0]
        t = time.time()
        fill(name, select, rows)
        gen_secs = time.time() - t
        sql("FLUSH BINARY LOGS")
        state[name] = {"file": file, "bytes": binlogs()[file], "rows": rows, "gen_secs": round(gen_secs, 1)}
        print(f"bench: {name}: {rows} rows in {file} ({state[name]['bytes'] / 1e6:.1f} MB), {gen_secs:.1f} s",
              flush=True)
    json.dump(state, open(state_path, "w"), indent=1)
    return state


# ≈ 1 KB rows for the snapshot's RSS target: the narrow table's columns, its TEXT ≈ 850 bytes.
KB_SELECT = NARROW_SELECT.replace("IF(seq % 5 = 0, NULL, REPEAT('lorem ipsum ', 1 + seq % 8))",
                                  "CONCAT(LPAD(seq, 10, '0'), REPEAT(' lorem ipsum', 70))")
SNAP_COLS = ["id", "i", "u", "b", "d", "f", "s", "dt", "ts", "e", "t"]


def table_bytes(table):
    """The MB/s numerator of the snapshot section: SUM over rows and columns of LENGTH(value) —
    the bytes of every value in its text form (strings in utf8mb4), NULL counted 0, no quoting or
    separators. The same count for every tool."""
    expr = " + ".join(f"IFNULL(LENGTH(`{c}`), 0)" for c in SNAP_COLS)
    return int(sql(f"SELECT SUM({expr}) FROM {table}", db="bench").strip())


def generate_snapshot(state):
    """bench.snap and bench.snap_kb, each inserted alone in its own binlog file (for the binlog
    end-to-end of the same rows); kept across runs like the other workloads."""
    want = {"snap": SNAPSHOT_ROWS, "snap_kb": KB_ROWS}
    logs = binlogs()
    counts = {r.split("\t")[0]: int(r.split("\t")[1]) for r in sql(
        "SELECT TABLE_NAME, 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'bench'").splitlines()}
    if all(state.get(t, {}).get("rows") == n and state[t]["file"] in logs and t in counts for t, n in want.items()) \
            and state.get("snap_version") == 1:
        return state
    print("bench: generating the snapshot tables (once) ...", flush=True)
    for name, select in [("snap", NARROW_SELECT), ("snap_kb", KB_SELECT)]:
        sql(f"DROP TABLE IF EXISTS {name}; " + NARROW_DDL.replace("CREATE TABLE narrow", f"CREATE TABLE {name}") + ";",
            db="bench")
        sql("FLUSH BINARY LOGS")
        file = sql("SHOW MASTER STATUS").split("\t")[0]
        t = time.time()
        fill(name, select, want[name])
        gen_secs = time.time() - t
        sql("FLUSH BINARY LOGS")
        sql(f"ANALYZE TABLE {name}", db="bench")
        data_length = int(sql("SELECT DATA_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'bench' "
                              f"AND TABLE_NAME = '{name}'").strip())
        state[name] = {"file": file, "bytes": binlogs()[file], "rows": want[name], "gen_secs": round(gen_secs, 1),
                       "data_bytes": table_bytes(name), "innodb_data_length": data_length}
        print(f"bench: {name}: {want[name]} rows in {file} ({state[name]['bytes'] / 1e6:.1f} MB binlog, "
              f"{state[name]['data_bytes'] / 1e6:.1f} MB of values), {gen_secs:.1f} s", flush=True)
    state["snap_version"] = 1
    json.dump(state, open(os.path.join(OUT, "state.json"), "w"), indent=1)
    return state


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def proc_cpu(pid):
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError):
        return 0.0


def server_pid():
    return int(open(os.path.join(ROOT, "target", "test-mariadb", "bench", "mariadbd.pid")).read().strip())


def timed(cmd, stdout=subprocess.DEVNULL):
    """Runs cmd; returns (wall s, child CPU s, child max RSS KiB, stdout text or None, server CPU s)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    s0 = proc_cpu(server_pid())
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    s1 = proc_cpu(server_pid())
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({p.returncode}): {p.stderr[-2000:]}")
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return wall, cpu, r1.ru_maxrss, (p.stdout if stdout == subprocess.PIPE else None), s1 - s0


class Emulator:
    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [EMULATOR, "--listen", f"127.0.0.1:{self.port}", "--project", "bench_project", "--topic", "events",
             "--shards", "4", "--access-id", "bench_id", "--access-key", "bench_key"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "warn"})
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        self.cpu0 = proc_cpu(self.proc.pid)

    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        cpu = proc_cpu(self.proc.pid) - self.cpu0
        self.proc.terminate()
        self.proc.wait(timeout=30)
        return cpu


def collector(args):
    wall, cpu, rss, out, srv = timed([COLLECTOR] + args, stdout=subprocess.PIPE)
    res = json.loads(out.strip().splitlines()[-1])
    res["server_cpu_s"] = srv
    return res


def one_round(state, rnd):
    results = []
    for name in ["narrow", "wide"]:
        f, rows, size = state[name]["file"], state[name]["rows"], state[name]["bytes"]
        base = ["--host=127.0.0.1", f"--port={PORT}", "-ucdc_repl", "-pcdc_repl_pw", "--read-from-remote-server"]

        def rec(tool, secs, cpu, rss_kib, srv, extra=None):
            r = {"round": rnd, "workload": name, "tool": tool, "rows": rows, "secs": secs, "cpu_s": cpu,
                 "rows_per_s": rows / secs, "mb_per_s": size / 1e6 / secs, "cpu_s_per_mrow": cpu / rows * 1e6,
                 "rss_kib": rss_kib, "server_cpu_s": srv}
            r.update(extra or {})
            results.append(r)
            print(f"  [{rnd}] {name:6} {tool:22} {secs:7.3f} s  {rows / secs / 1e6:7.3f} M rows/s  "
                  f"cpu {cpu:6.2f} s  server cpu {srv:5.2f} s", flush=True)

        rawdir = os.path.join(OUT, "raw") + "/"
        os.makedirs(rawdir, exist_ok=True)
        w, c, m, _, s = timed(["mariadb-binlog"] + base + ["--raw", f"--result-file={rawdir}", f])
        rec("mariadb-binlog --raw", w, c, None, s)
        w, c, m, _, s = timed(["mariadb-binlog"] + base + ["-v", "--base64-output=DECODE-ROWS", f])
        rec("mariadb-binlog -v", w, c, None, s)
        w, c, m, out, s = timed([PY, os.path.join(ROOT, "bench", "pyrepl_read.py"), str(PORT), f, name, str(rows)],
                                stdout=subprocess.PIPE)
        got = int(out.split()[0])
        if got != rows:
            raise RuntimeError(f"mysql-replication read {got} rows of {name}, expected {rows}")
        rec("mysql-replication", w, c, None, s)
        common = ["--port", str(PORT), "--file", f, "--rows", str(rows), "--table", name]
        for tool, extra in [("cdc decode", []), ("cdc decode+JSON", ["--json"]),
                            ("cdc decode+JSON (serde path)", ["--json-serde"])]:
            r = collector(["decode"] + common + extra)
            if r["rows"] != rows:
                raise RuntimeError(f"{tool}: {r['rows']} rows, expected {rows}")
            rec(tool, r["secs"], r["cpu_s"], r["rss_steady_kib"], r["server_cpu_s"],
                {"rss_peak_kib": r["rss_peak_kib"], "json_mb_per_s": r.get("json_bytes", 0) / 1e6 / r["secs"]})
        emu = Emulator()
        try:
            r = collector(["e2e"] + common + ["--endpoint", emu.endpoint()])
        finally:
            emu_cpu = emu.stop()
        if r["rows"] < rows:
            raise RuntimeError(f"e2e: {r['rows']} rows acknowledged, expected {rows}")
        rec("cdc e2e → emulator", r["secs"], r["cpu_s"], r["rss_steady_kib"], r["server_cpu_s"],
            {"rss_peak_kib": r["rss_peak_kib"], "emulator_cpu_s": emu_cpu})
    return results


SNAP_TOOLS = ["cdc snapshot → typed events", "cdc snapshot → emulator", "cdc binlog e2e → emulator",
              "mydumper (default threads)", "mydumper --rows 100000", "mariadb-dump --quick",
              "cdc snapshot 1 KB rows → emulator", "cdc snapshot → emulator, chunk 1024",
              "cdc snapshot 1 KB rows → emulator, chunk 1024"]


def snapshot_round(state, rnd):
    results = []
    load = loadavg()

    def rec(tool, table, secs, cpu, rss_kib, srv, extra=None):
        rows, size = state[table]["rows"], state[table]["data_bytes"]
        r = {"round": rnd, "workload": "snapshot", "table": table, "tool": tool, "rows": rows, "secs": secs,
             "cpu_s": cpu, "rows_per_s": rows / secs, "mb_per_s": size / 1e6 / secs,
             "cpu_s_per_mrow": cpu / rows * 1e6, "rss_kib": rss_kib, "server_cpu_s": srv, "load": load}
        r.update(extra or {})
        results.append(r)
        print(f"  [{rnd}] {table:7} {tool:34} {secs:7.3f} s  {rows / secs / 1e6:7.3f} M rows/s  "
              f"{size / 1e6 / secs:6.1f} MB/s  cpu {cpu:6.2f} s  server cpu {srv:5.2f} s"
              + (f"  rss {rss_kib / 1024:.1f} MiB" if rss_kib else ""), flush=True)

    rows = state["snap"]["rows"]
    common = ["--port", str(PORT), "--rows", str(rows), "--table", "snap"]
    r = collector(["snapshot"] + common)
    rec("cdc snapshot → typed events", "snap", r["secs"], r["cpu_s"], r["rss_steady_kib"], r["server_cpu_s"],
        {"rss_peak_kib": r["rss_peak_kib"]})
    for tool, args, table in [("cdc snapshot → emulator", ["snapshot-e2e"] + common, "snap"),
                              ("cdc binlog e2e → emulator", ["e2e"] + common + ["--file", state["snap"]["file"]],
                               "snap")]:
        emu = Emulator()
        try:
            r = collector(args + ["--endpoint", emu.endpoint()])
        finally:
            emu_cpu = emu.stop()
        if r["rows"] < rows:
            raise RuntimeError(f"{tool}: {r['rows']} rows acknowledged, expected {rows}")
        rec(tool, table, r["secs"], r["cpu_s"], r["rss_steady_kib"], r["server_cpu_s"],
            {"rss_peak_kib": r["rss_peak_kib"], "emulator_cpu_s": emu_cpu})
    dumpdir = os.path.join(OUT, "mydumper")
    for tool, extra in [("mydumper (default threads)", []), ("mydumper --rows 100000", ["--rows", "100000"])]:
        subprocess.run(["rm", "-rf", dumpdir], check=True)
        w, c, _, _, srv = timed(["mydumper", "-h", "127.0.0.1", "-P", str(PORT), "-u", "cdc_admin", "-p",
                                 "cdc_admin_pw", "-B", "bench", "-T", "snap", "-o", dumpdir] + extra)
        out_bytes = sum(os.path.getsize(os.path.join(dumpdir, f)) for f in os.listdir(dumpdir))
        if out_bytes < state["snap"]["data_bytes"]:
            raise RuntimeError(f"{tool}: wrote {out_bytes} bytes, fewer than the table's values")
        rec(tool, "snap", w, c, None, srv, {"output_bytes": out_bytes})
    subprocess.run(["rm", "-rf", dumpdir], check=True)
    w, c, _, _, srv = timed(["mariadb-dump", "--quick", "-h127.0.0.1", f"-P{PORT}", "-ucdc_admin",
                             "-pcdc_admin_pw", "bench", "snap"])
    rec("mariadb-dump --quick", "snap", w, c, None, srv)
    # The 1 KB rows at the default chunk size (the target), then both tables at 1,024 rows per
    # chunk (CDC_SNAPSHOT_CHUNK_ROWS=1024; informational: what the chunk size does to memory).
    for tool, table, extra in [("cdc snapshot 1 KB rows → emulator", "snap_kb", []),
                               ("cdc snapshot → emulator, chunk 1024", "snap", ["--chunk-rows", "1024"]),
                               ("cdc snapshot 1 KB rows → emulator, chunk 1024", "snap_kb", ["--chunk-rows", "1024"])]:
        emu = Emulator()
        try:
            r = collector(["snapshot-e2e", "--port", str(PORT), "--rows", str(state[table]["rows"]), "--table",
                           table, "--endpoint", emu.endpoint()] + extra)
        finally:
            emu_cpu = emu.stop()
        if r["rows"] < state[table]["rows"]:
            raise RuntimeError(f"{tool}: {r['rows']} rows acknowledged, expected {state[table]['rows']}")
        rec(tool, table, r["secs"], r["cpu_s"], r["rss_steady_kib"], r["server_cpu_s"],
            {"rss_peak_kib": r["rss_peak_kib"], "emulator_cpu_s": emu_cpu})
    return results


def latency_run(rnd):
    emu = Emulator()
    try:
        r = collector(["latency", "--port", str(PORT), "--endpoint", emu.endpoint(), "--rate", str(LAT_RATE),
                       "--seconds", str(LAT_SECONDS), "--warmup", "2"])
    finally:
        r_emu = emu.stop()
    r["round"] = rnd
    r["emulator_cpu_s"] = r_emu
    print(f"  [{rnd}] latency @ {r['rate_achieved']:.0f} rows/s: p50 {r['p50_ms']:.1f} ms  p99 {r['p99_ms']:.1f} ms  "
          f"max {r['max_ms']:.1f} ms  rss {r['rss_steady_kib'] / 1024:.1f} MiB", flush=True)
    return r


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def spread(xs):
    xs = [x for x in xs if x is not None]
    if len(xs) < 2:
        return 0.0
    m = statistics.median(xs)
    return (max(xs) - min(xs)) / m * 100 if m else 0.0


def loadavg():
    return open("/proc/loadavg").read().split()[:3]


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)

    def v(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"
    import pymysqlreplication  # noqa: F401
    from importlib.metadata import version
    return {
        "nproc": os.cpu_count(), "cpu": cpu, "ram_gib": round(mem / 1024 / 1024, 1), "kernel": platform.release(),
        "mariadbd": v(["mariadbd", "--version"]) if subprocess.run(["which", "mariadbd"], capture_output=True).returncode == 0
        else v(["/usr/sbin/mariadbd", "--version"]),
        "mariadb-binlog": v(["mariadb-binlog", "--version"]), "rustc": v(["rustc", "--version"]),
        "python": platform.python_version(), "mysql-replication": version("mysql-replication"),
        "PyMySQL": version("PyMySQL"),
        **({} if SKIP_SNAPSHOT else {"mydumper": v(["mydumper", "--version"]),
                                     "mariadb-dump": v(["mariadb-dump", "--version"])}),
    }


TOOLS = ["mariadb-binlog --raw", "mariadb-binlog -v", "mysql-replication", "cdc decode", "cdc decode+JSON",
         "cdc decode+JSON (serde path)", "cdc e2e → emulator"]


def summarise(results, lat, state, mach, started, finished, load_before, load_after):
    rows_md = []
    summary = {}
    for wl in ["narrow", "wide"]:
        for tool in TOOLS:
            rs = [r for r in results if r["workload"] == wl and r["tool"] == tool]
            s = {k: med([r.get(k) for r in rs]) for k in
                 ["secs", "rows_per_s", "mb_per_s", "cpu_s_per_mrow", "rss_kib", "server_cpu_s", "emulator_cpu_s"]}
            peaks = [r["rss_peak_kib"] for r in rs if r.get("rss_peak_kib") is not None]
            s["rss_peak_kib"] = max(peaks) if peaks else None
            s["spread_pct"] = spread([r["rows_per_s"] for r in rs])
            # Ratios per round (same machine state), then the median of those.
            for peer in ["mariadb-binlog -v", "mysql-replication"]:
                ratios = []
                for r in rs:
                    p = [x for x in results if x["workload"] == wl and x["tool"] == peer and x["round"] == r["round"]]
                    if p:
                        ratios.append(r["rows_per_s"] / p[0]["rows_per_s"])
                s["vs " + peer] = med(ratios)
            summary[(wl, tool)] = s
    return summary


def summarise_snapshot(results):
    rs_all = [r for r in results if r["workload"] == "snapshot"]
    if not rs_all:
        return None
    out = {}
    for tool in SNAP_TOOLS:
        rs = [r for r in rs_all if r["tool"] == tool]
        s = {k: med([r.get(k) for r in rs]) for k in
             ["secs", "rows_per_s", "mb_per_s", "cpu_s_per_mrow", "rss_kib", "server_cpu_s", "emulator_cpu_s"]}
        peaks = [r["rss_peak_kib"] for r in rs if r.get("rss_peak_kib") is not None]
        s["rss_peak_kib"] = max(peaks) if peaks else None
        s["spread_pct"] = spread([r["rows_per_s"] for r in rs])
        s["runs"] = len(rs)
        out[tool] = s

    def ratio(a, b):
        # Per round (same machine state), then the median of those.
        xs = []
        for r in rs_all:
            if r["tool"] == a:
                p = [x for x in rs_all if x["tool"] == b and x["round"] == r["round"]]
                if p:
                    xs.append(r["rows_per_s"] / p[0]["rows_per_s"])
        return med(xs), xs
    out["ratios"] = {
        "read vs mydumper": ratio("cdc snapshot → typed events", "mydumper (default threads)"),
        "read vs mydumper chunked": ratio("cdc snapshot → typed events", "mydumper --rows 100000"),
        "read vs mariadb-dump": ratio("cdc snapshot → typed events", "mariadb-dump --quick"),
        "e2e vs binlog e2e": ratio("cdc snapshot → emulator", "cdc binlog e2e → emulator"),
    }
    out["loads"] = sorted({" ".join(r["load"]) for r in rs_all if r.get("load")})
    out["round_loads"] = [next(" ".join(r["load"]) for r in rs_all if r["round"] == n)
                          for n in sorted({r["round"] for r in rs_all})]
    return out


def snapshot_doc(snap, state):
    L = []
    st, kb = state["snap"], state["snap_kb"]
    L.append("## Initial snapshot (issue #13, item 6)\n")
    note = f"**Machine note:** {MACHINE_NOTE} " if MACHINE_NOTE else ""
    L.append(note + "Load average (1, 5, 15 min) at the start of each snapshot round: " +
             "; ".join(f"round {i + 1}: {l}" for i, l in enumerate(snap["round_loads"])) +
             " (the whole run's before / after: *Machine and versions*). Every tool of a round ran under that "
             "round's load, so the per-round ratios are the fairer comparison.\n")
    L.append(f"- **`bench.snap`**: the narrow table's 11 columns and generator (BIGINT UNSIGNED PK, INT, INT UNSIGNED, "
             f"BIGINT, DECIMAL(12,2), DOUBLE, VARCHAR(64) utf8mb4, DATETIME(6), TIMESTAMP(3) NULL, ENUM, TEXT NULL), "
             f"{st['rows']:,} rows, inserted like narrow (1000-row INSERT…SELECT statements, 10 per transaction) alone "
             f"in `{st['file']}` ({st['bytes'] / 1e6:.1f} MB of binlog). "
             f"Table data: **{st['data_bytes'] / 1e6:.1f} MB** of values ({st['data_bytes'] / st['rows']:.0f} B a row; "
             f"InnoDB DATA_LENGTH {st['innodb_data_length'] / 1e6:.1f} MB).")
    L.append(f"- **`bench.snap_kb`**: the same 11 columns with the TEXT ≈ 850 bytes (never NULL), "
             f"{kb['rows']:,} rows of **{kb['data_bytes'] / kb['rows']:.0f} B** of values each "
             f"({kb['data_bytes'] / 1e6:.1f} MB), for the memory target.")
    L.append("- **MB/s** = the table's data bytes / wall time, the same byte count for every tool: "
             "`SUM(LENGTH(col))` over every row and column (each value's bytes in its text form, strings in utf8mb4, "
             "NULL = 0; no quoting, separators, protocol or JSON overhead). Rows/s = the table's rows / wall time.\n")
    L.append("| table | tool | wall s | rows/s | MB/s (table data) | CPU s / M rows | server CPU s | "
             "collector RSS steady (median) / peak (max) MiB | spread |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for tool in SNAP_TOOLS:
        s = snap[tool]
        table = "snap_kb" if "1 KB" in tool else "snap"
        rss = "—" if s["rss_kib"] is None else f"{s['rss_kib'] / 1024:.1f} / {s['rss_peak_kib'] / 1024:.1f}"
        name = f"**{tool}**" if tool.startswith("cdc") else tool
        L.append(f"| {table} | {name} | {s['secs']:.3f} | {s['rows_per_s'] / 1e6:.3f} M | {s['mb_per_s']:.1f} | "
                 f"{s['cpu_s_per_mrow']:.2f} | {s['server_cpu_s']:.2f} | {rss} | ±{s['spread_pct'] / 2:.0f} % |")
    L.append("")
    L.append("- `cdc snapshot → typed events`: the service's snapshot source `SnapshotThenStream` (mode "
             "`initial_only`; `resolve_start` opens `START TRANSACTION WITH CONSISTENT SNAPSHOT` and reads "
             "`binlog_snapshot_file/position`, `run` reads the table through `SnapshotReader` in primary-key "
             "keyset chunks of 8,192 rows over the binary protocol, TCP) into the pipeline's bounded channel "
             "(16 messages); a consumer counts the `op: r` events, no sink. Timed from `resolve_start` to the "
             "channel's end.")
    L.append("- `cdc snapshot → emulator`: `pipeline::run` with the same source and `DataHubSink` (default batch "
             "limits, linger, protocol, compression) into a separate `datahub-emulator` release process (4 shards), "
             "timed until the last row is acknowledged. `cdc binlog e2e → emulator`: the binlog end to end of the "
             "same rows (the `INSERT`s that filled `bench.snap`, from their own binlog file), as in the throughput "
             "table above.")
    L.append("- `mydumper (default threads)`: `mydumper -h 127.0.0.1 -P PORT -u cdc_admin -p … -B bench -T snap "
             "-o target/bench/mydumper` (4 threads; without `--rows` a table is one job, so one thread dumps it). "
             "`mydumper --rows 100000`: the same, chunked, so its 4 threads share the table (informational). "
             "`mariadb-dump --quick -h127.0.0.1 -PPORT -ucdc_admin -p… bench snap > /dev/null`. Both over TCP; "
             "their CPU is the dumper process's (getrusage), the collector's from /proc/self/stat; server CPU "
             "from the server's /proc stat.")
    L.append("- `…, chunk 1024`: the same snapshot into the emulator with 1,024 rows per chunk instead of the "
             "default 8,192 (`CDC_SNAPSHOT_CHUNK_ROWS=1024` in the service), informational: what the chunk size "
             "does to memory and speed.")
    L.append("- RSS: the collector's VmRSS sampled every 50 ms from /proc/self/status; steady = median of the "
             "second half of the run's samples, peak = VmHWM.\n")
    r = snap["ratios"]
    kbs = snap["cdc snapshot 1 KB rows → emulator"]

    def yes(ok):
        return "**yes**" if ok else "**no**"

    def per(xs):
        return " / ".join(f"{x:.2f}" for x in xs)
    read, e2e = snap["cdc snapshot → typed events"], snap["cdc snapshot → emulator"]
    L.append("| target | measured (median of per-round ratios) | met? |")
    L.append("|---|---|---|")
    L.append(f"| snapshot read to typed events ≥ mydumper's dump rate (default threads) | "
             f"{read['rows_per_s'] / 1e6:.3f} M vs {snap['mydumper (default threads)']['rows_per_s'] / 1e6:.3f} M rows/s: "
             f"**{r['read vs mydumper'][0]:.2f}×** (rounds {per(r['read vs mydumper'][1])}) | "
             f"{yes(r['read vs mydumper'][0] >= 1)} |")
    L.append(f"| snapshot into the emulator ≥ 0.8× the binlog end-to-end rate of the same rows | "
             f"{e2e['rows_per_s'] / 1e6:.3f} M vs {snap['cdc binlog e2e → emulator']['rows_per_s'] / 1e6:.3f} M rows/s: "
             f"**{r['e2e vs binlog e2e'][0]:.2f}×** (rounds {per(r['e2e vs binlog e2e'][1])}) | "
             f"{yes(r['e2e vs binlog e2e'][0] >= 0.8)} |")
    L.append(f"| steady RSS ≤ 64 MiB with 1 KB rows (snapshot into the emulator) | "
             f"**{kbs['rss_kib'] / 1024:.1f} MiB** steady (peak {kbs['rss_peak_kib'] / 1024:.1f}) | "
             f"{yes(kbs['rss_kib'] / 1024 <= 64)} |")
    kb1k = snap["cdc snapshot 1 KB rows → emulator, chunk 1024"]
    L.append(f"| (for reference) the same with `CDC_SNAPSHOT_CHUNK_ROWS=1024` | "
             f"{kb1k['rss_kib'] / 1024:.1f} MiB steady (peak {kb1k['rss_peak_kib'] / 1024:.1f}) | "
             f"{'≤ 64 MiB' if kb1k['rss_kib'] / 1024 <= 64 else '> 64 MiB'} |")
    L.append(f"| (for reference) snapshot read vs `mydumper --rows 100000`, vs `mariadb-dump --quick` | "
             f"{r['read vs mydumper chunked'][0]:.2f}×, {r['read vs mariadb-dump'][0]:.2f}× | — |\n")
    return "\n".join(L)


def fmt(v, f):
    return "—" if v is None else f.format(v)


def write_doc(results, lat, state, mach, summary, started, finished, load_before, load_after, cmdline, snap=None):
    L = []
    L.append("# Benchmarks\n")
    L.append(f"Measured by `{cmdline}` on {started} – {finished} UTC (one run of the runner: "
             f"{RUNS} rounds, medians shown; every raw figure is in `target/bench/results.json` after a run).\n")
    L.append("![rows/s per tool](benchmarks.png)\n")
    L.append("## Machine and versions\n")
    L.append(f"- {mach['nproc']} CPUs ({mach['cpu']}), {mach['ram_gib']} GiB RAM, Linux {mach['kernel']}; "
             "the MariaDB server, the reader under test and (end to end) the emulator share these 2 CPUs.")
    L.append(f"- {mach['mariadbd']}; {mach['mariadb-binlog']}")
    L.append(f"- {mach['rustc']}; cdc-collector release build (`cargo bench` profile = release, debug=1)")
    L.append(f"- Python {mach['python']}, mysql-replication {mach['mysql-replication']}, PyMySQL {mach['PyMySQL']}")
    if "mydumper" in mach:
        L.append(f"- {mach['mydumper']}; {mach['mariadb-dump']}")
    L.append(f"- Load average before / after: {' '.join(load_before)} / {' '.join(load_after)}"
             + (f"\n- **Machine note:** {MACHINE_NOTE}" if MACHINE_NOTE else "") + "\n")
    L.append("## Workloads\n")
    for wl, desc in [("narrow", "11 columns: BIGINT UNSIGNED PK, INT, INT UNSIGNED, BIGINT, DECIMAL(12,2), DOUBLE, "
                      "VARCHAR(64) utf8mb4, DATETIME(6), TIMESTAMP(3) NULL, ENUM, TEXT NULL"),
                     ("wide", "60 columns: BIGINT UNSIGNED PK + 59 cycling INT, BIGINT, DECIMAL(12,2), DOUBLE, "
                      "VARCHAR(32) utf8mb4, DATETIME(6)")]:
        st = state[wl]
        L.append(f"- **{wl}** (`bench.{wl}`): {desc}. {st['rows']:,} rows inserted as 1000-row INSERT…SELECT "
                 f"statements, 10 per transaction, alone in `{st['file']}` ({st['bytes'] / 1e6:.1f} MB, "
                 "binlog_row_metadata=FULL, CRC32 checksums, annotate events on).")
    L.append("\nEvery reader reads the same file from offset 4 over the replication protocol (TCP, 127.0.0.1) "
             "and stops at its end (or after its last row).\n")
    L.append("## Throughput (medians)\n")
    L.append("| workload | tool | wall s | rows/s | MB/s (binlog) | CPU s / M rows | collector RSS steady (median) / peak (max) MiB "
             "| × mariadb-binlog -v | × mysql-replication | spread |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for wl in ["narrow", "wide"]:
        for tool in TOOLS:
            s = summary[(wl, tool)]
            rss = "—" if s["rss_kib"] is None else f"{s['rss_kib'] / 1024:.1f} / {s['rss_peak_kib'] / 1024:.1f}"
            name = f"**{tool}**" if tool.startswith("cdc") else tool
            L.append(f"| {wl} | {name} | {s['secs']:.3f} | {s['rows_per_s'] / 1e6:.3f} M | {s['mb_per_s']:.0f} | "
                     f"{s['cpu_s_per_mrow']:.2f} | {rss} | {fmt(s['vs mariadb-binlog -v'], '{:.2f}×')} | "
                     f"{fmt(s['vs mysql-replication'], '{:.0f}×')} | ±{s['spread_pct'] / 2:.0f} % |")
    L.append("")
    L.append("- `mariadb-binlog --raw` only copies the events (the transport limit); its rows/s is the file's rows "
             "divided by its wall time. `mariadb-binlog -v --base64-output=DECODE-ROWS` decodes every row to "
             "`###` pseudo-SQL (to /dev/null). `mysql-replication` decodes every row to Python objects and the "
             "script touches every value (`bench/pyrepl_read.py`).")
    L.append("- `cdc decode`: `BinlogSource` (replication stream, TABLE_MAP column plans, typed `ChangeEvent`s) into "
             "the pipeline's bounded channel (16 messages), counted by a consumer task. `cdc decode+JSON`: the consumer "
             "also renders every event's contract JSON (`ChangeEvent::write_json`); `(serde path)` renders it through "
             "serde_json and the `Serialize` impls instead — the implementation `write_json` had before this "
             "benchmark (same bytes), kept as the before/after comparison. `cdc e2e → emulator`: "
             "`pipeline::run` with `DataHubSink` (default batch limits, linger, protocol and compression) into a "
             "separate `datahub-emulator` release process (4 shards), timed until the last row is acknowledged.")
    L.append("- CPU s / M rows: user+system CPU of the reader process (getrusage for the peers, /proc/self/stat "
             "for the collector; the server's and the emulator's CPU are not included, they are in the raw file). "
             "Spread: half the (max − min) range of rows/s across the rounds, relative to the median.\n")
    if lat:
        L.append("## Commit-to-acknowledge latency\n")
        L.append(f"A writer in the bench process commits {LAT_RATE:,} rows/s (100-row transactions every 10 ms, "
                 "table `bench.lat`, 4 columns) while the pipeline (started at the end of the binlog, default batch "
                 "limits: 10,000 rows / 1 MB estimated / **linger 100 ms**, queue 16 messages) ships them into the emulator. Latency "
                 "of a row = time the sink acknowledged the batch holding it − time just before its COMMIT was "
                 f"sent; {LAT_SECONDS} s measured after a 2 s warm-up, {len(lat)} runs.\n")
        L.append("| run | achieved rows/s | rows measured | p50 ms | p99 ms | max ms | collector RSS steady / peak MiB |")
        L.append("|---|---|---|---|---|---|---|")
        for r in lat:
            L.append(f"| {r['round']} | {r['rate_achieved']:.0f} | {r['measured_rows']:,} | {r['p50_ms']:.1f} | "
                     f"{r['p99_ms']:.1f} | {r['max_ms']:.1f} | {r['rss_steady_kib'] / 1024:.1f} / "
                     f"{r['rss_peak_kib'] / 1024:.1f} |")
        L.append(f"| **median** | {med([r['rate_achieved'] for r in lat]):.0f} | | "
                 f"**{med([r['p50_ms'] for r in lat]):.1f}** | **{med([r['p99_ms'] for r in lat]):.1f}** | "
                 f"{med([r['max_ms'] for r in lat]):.1f} | |\n")
    if snap:
        L.append(snapshot_doc(snap, state))
    return "\n".join(L)


def plot(summary, path, snap=None):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    if snap:
        fig, axes = plt.subplots(1, 3, figsize=(20, 5.4), gridspec_kw={"width_ratios": [1, 1, 1.5]})
    else:
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    if snap:
        ax = axes[2]
        vals = [snap[t]["rows_per_s"] / 1e6 for t in SNAP_TOOLS]
        colors = ["#2266aa", "#55aadd", "#3388cc", "#bb8844", "#cc9955", "#777777", "#99bbdd", "#88aacc", "#bbccee"]
        bars = ax.bar(range(len(SNAP_TOOLS)), vals, color=colors)
        ax.set_xticks(range(len(SNAP_TOOLS)))
        ax.set_xticklabels([t.replace(" → ", "\n→ ").replace(", chunk", ",\nchunk") for t in SNAP_TOOLS], fontsize=7.5,
                           rotation=35, ha="right")
        ax.set_ylabel("M rows/s (median)")
        ax.set_title("initial snapshot (bench.snap; \"1 KB rows\": bench.snap_kb)")
        for b, v in zip(bars, vals):
            ax.text(b.get_x() + b.get_width() / 2, v * 1.02, f"{v:.3g}", ha="center", fontsize=8)
    for ax, wl in zip(axes, ["narrow", "wide"]):
        vals = [summary[(wl, t)]["rows_per_s"] / 1e6 for t in TOOLS]
        colors = ["#999999", "#777777", "#bb8844", "#2266aa", "#3388cc", "#99bbdd", "#55aadd"]
        bars = ax.bar(range(len(TOOLS)), vals, color=colors)
        ax.set_yscale("log")
        ax.set_xticks(range(len(TOOLS)))
        ax.set_xticklabels([t.replace(" (", "\n(") for t in TOOLS], fontsize=8, rotation=30, ha="right")
        ax.set_ylabel("M rows/s (log scale, median)")
        ax.set_title(f"{wl} workload")
        for b, v in zip(bars, vals):
            ax.text(b.get_x() + b.get_width() / 2, v * 1.08, f"{v:.3g}", ha="center", fontsize=8)
    fig.suptitle("Binlog readers" + (" and the initial snapshot" if snap else "") +
                 " on one 2-CPU machine (server shares the CPUs)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def replot(results_json):
    """`run.py --replot results.json`: redraws docs/benchmarks.png from a run's raw figures."""
    d = json.load(open(results_json))
    summary = summarise(d["results"], d["latency"], d["state"], d["machine"], None, None, None, None)
    plot(summary, os.path.join(os.environ.get("BENCH_DOCS", os.path.join(ROOT, "docs")), "benchmarks.png"),
         summarise_snapshot(d["results"]))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--replot":
        return replot(sys.argv[2])
    os.makedirs(OUT, exist_ok=True)
    cmdline = os.environ.get("BENCH_CMDLINE", "scripts/bench")
    state = generate()
    if not SKIP_SNAPSHOT:
        state = generate_snapshot(state)
    mach = machine()
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M")
    load_before = loadavg()
    results, lat = [], []
    skip_lat = os.environ.get("BENCH_SKIP_LATENCY") == "1"
    for rnd in range(1, RUNS + 1):
        print(f"bench: round {rnd}/{RUNS} (load {' '.join(loadavg())})", flush=True)
        results += one_round(state, rnd)
        if not SKIP_SNAPSHOT:
            results += snapshot_round(state, rnd)
    if not skip_lat:
        for rnd in range(1, RUNS + 1):
            lat.append(latency_run(rnd))
    load_after = loadavg()
    finished = datetime.now(timezone.utc).strftime("%H:%M")
    json.dump({"state": state, "machine": mach, "results": results, "latency": lat}, open(os.path.join(OUT,
              "results.json"), "w"), indent=1)
    summary = summarise(results, lat, state, mach, started, finished, load_before, load_after)
    snap = summarise_snapshot(results)
    doc = write_doc(results, lat, state, mach, summary, started, finished, load_before, load_after, cmdline, snap)
    docs_dir = os.environ.get("BENCH_DOCS", os.path.join(ROOT, "docs"))
    os.makedirs(docs_dir, exist_ok=True)
    plot(summary, os.path.join(docs_dir, "benchmarks.png"), snap)
    # Keep a hand-written section (targets, optimisations) that follows the generated part.
    md_path = os.path.join(docs_dir, "benchmarks.md")
    tail = ""
    marker = "<!-- end of generated figures -->"
    if os.path.exists(md_path):
        old = open(md_path).read()
        if marker in old:
            tail = old.split(marker, 1)[1]
    open(md_path, "w").write(doc + "\n" + marker + tail)
    print(doc)


if __name__ == "__main__":
    main()
