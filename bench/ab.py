"""A/B of two builds of the `collector` bench binary on the same generated binlog files
(bench/run.py's workloads), rounds interleaved A B / B A so machine noise hits both alike.

Usage (the bench MariaDB running, `scripts/test-mariadb start --name bench --port 33064`):
  BENCH_PORT=33064 python3 bench/ab.py COLLECTOR_A COLLECTOR_B DATAHUB_EMULATOR ROUNDS
Prints each run, the raw figures as JSON, then medians (rows/s, CPU s, steady RSS)."""
import json, os, statistics, subprocess, sys, time, socket
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run
A = sys.argv[1]; B = sys.argv[2]; EMU = sys.argv[3]; ROUNDS = int(sys.argv[4])
state = run.generate()
res = {"A": {}, "B": {}}
def emu():
    port = run.free_port()
    p = subprocess.Popen([EMU, "--listen", f"127.0.0.1:{port}", "--project", "bench_project", "--topic", "events",
                          "--shards", "4", "--access-id", "bench_id", "--access-key", "bench_key"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "warn"})
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close(); break
        except OSError:
            time.sleep(0.1)
    return p, f"http://127.0.0.1:{port}"
for r in range(ROUNDS):
    for name in ["narrow", "wide"]:
        f, rows = state[name]["file"], state[name]["rows"]
        common = ["--port", str(run.PORT), "--file", f, "--rows", str(rows), "--table", name]
        for label, binary in [("A", A), ("B", B)] if r % 2 == 0 else [("B", B), ("A", A)]:
            out = subprocess.run([binary, "decode"] + common, capture_output=True, text=True, check=True).stdout
            d = json.loads(out.strip().splitlines()[-1])
            res[label].setdefault(f"{name} decode rows/s", []).append(d["rows"] / d["secs"])
            res[label].setdefault(f"{name} decode CPU s", []).append(d["cpu_s"])
            p, ep = emu()
            out = subprocess.run([binary, "e2e"] + common + ["--endpoint", ep], capture_output=True, text=True, check=True).stdout
            p.terminate(); p.wait()
            d2 = json.loads(out.strip().splitlines()[-1])
            res[label].setdefault(f"{name} e2e rows/s", []).append(d2["rows"] / d2["secs"])
            res[label].setdefault(f"{name} e2e steady RSS MiB", []).append(d2["rss_steady_kib"] / 1024)
            print(label, name, round(d["rows"] / d["secs"]), round(d2["rows"] / d2["secs"]), flush=True)
print(json.dumps(res, indent=1))
for k in res["A"]:
    a = statistics.median(res["A"][k]); b = statistics.median(res["B"][k])
    print(f"{k}: before {a:,.0f}  after {b:,.0f}  ({(b / a - 1) * 100:+.1f} %)")
