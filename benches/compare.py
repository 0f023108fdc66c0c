#!/usr/bin/env python3
"""fetchpool against the batch downloaders users would otherwise pick, same machine, same run.

Run through benches/compare.sh, which installs the tools and builds fetchpool. Environment:
  RUNS=5            runs per tool and scenario (the median is reported)
  J=8               parallelism for every tool
  SCENARIOS=...     subset of: small large large-tls latency latency-tls latency-h2 many-h2
                    ratelimited huge-list million update split split-paced scale
  TOOLS=...         subset of: fetchpool fetchpool-json fetchpool-serial fetchpool-h1 curl curl-h1
                    aria2 wget2 xargs-curl (fetchpool-h1 and curl-h1, with --http1.1, run only over
                    TLS; `scale` runs fetchpool and curl alone, at each of its J; the -h2 scenarios
                    run their own rows: fetchpool at its defaults and with --streams 1, curl at
                    --parallel-max J and at its default, and wget2, and count each one's
                    connections from nginx's $connection)
  OUT=BENCHMARKS.md where the report goes

Every run goes to a fresh output directory, and a run counts only if every file is there with
its exact size: a tool that skipped files is reported FAILED, never as fast. The tools take turns
within each round (the order reversed every other round), so a slow spell of this shared machine
falls on all of them. Each run also records the tool's CPU time and the server's (nginx's worker,
or the paced server), both per file. Only 127.0.0.1 is contacted.
"""

import datetime
import math
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FETCHPOOL = os.path.join(ROOT, "target", "release", "fetchpool")
RUNS = int(os.environ.get("RUNS", "5"))
J = int(os.environ.get("J", "8"))
SCENARIOS = os.environ.get(
    "SCENARIOS",
    "small large large-tls latency latency-tls latency-h2 many-h2 ratelimited huge-list million update "
    "split split-paced scale",
).split()
TOOLS = os.environ.get(
    "TOOLS", "fetchpool fetchpool-json fetchpool-serial fetchpool-h1 curl curl-h1 aria2 wget2 xargs-curl"
).split()
OUT = os.environ.get("OUT", os.path.join(ROOT, "BENCHMARKS.md"))
# `scale` at J=8 takes 25 s a run: at most this many runs of it.
SCALE_RUNS = int(os.environ.get("SCALE_RUNS", "3"))
# Downloads land on tmpfs: this measures the downloaders, not ext4 (which slows every tool
# unevenly when 20,000 files are created right after 20,000 were deleted).
OUT_BASE = os.environ.get("OUT_BASE", "/dev/shm" if os.path.isdir("/dev/shm") else None)
KIB, MIB = 1024, 1024 * 1024


class Scenario:
    def __init__(self, name, folder, count, size, what, delay=None, rate=None, tls=False,
                 revalidate=False, split=None, js=None, h2=False, tools=None, generated=False):
        self.name, self.folder, self.count, self.size = name, folder, count, size
        self.what, self.delay, self.rate, self.tls = what, delay, rate, tls
        # One file in `split` ranges, each connection capped by nginx at `rate`.
        self.split = split
        # Each timed run re-runs over a complete earlier download and must fetch nothing again.
        self.revalidate = revalidate
        # Run at each of these parallelisms instead of J (fetchpool and curl only).
        self.js = js
        # HTTP/2 rows (H2_TOOLS), each run's connections counted.
        self.h2 = h2
        # Only these tools (a list too long for the others' memory, or for everyone's time).
        self.tools = tools
        # nginx makes every body itself (`return 200`): no corpus on disk.
        self.generated = generated
        self.files = [f"{folder[0]}{i:06d}.bin" for i in range(count)]

    def ideal(self, j=None):
        """Wall time a perfect j-way pool (J by default) needs when each file takes a fixed time."""
        if self.split:
            return self.count * self.size / (self.split * self.rate)
        per_file = self.delay if self.delay else (self.size / self.rate if self.rate else None)
        return None if per_file is None else math.ceil(self.count / (j or J)) * per_file


SCENARIO_DEFS = {
    "small": Scenario("small", "small", 20_000, 4 * KIB, "20,000 x 4 KiB"),
    "large": Scenario("large", "large", 4, 256 * MIB, "4 x 256 MiB"),
    "large-tls": Scenario(
        "large-tls", "large", 4, 256 * MIB, "4 x 256 MiB over TLS, HTTP/2 offered (-h1: HTTP/1.1)",
        tls=True
    ),
    "latency": Scenario("latency", "latency", 200, 16 * KIB, "200 x 16 KiB, each delayed 100 ms", delay=0.1),
    "latency-tls": Scenario(
        "latency-tls", "latency", 200, 16 * KIB,
        "200 x 16 KiB, each delayed 100 ms, over TLS with HTTP/2 offered", delay=0.1, tls=True
    ),
    "latency-h2": Scenario(
        "latency-h2", "latency", 200, 16 * KIB,
        "200 x 16 KiB, each delayed 100 ms, HTTP/2 over TLS", delay=0.1, tls=True, h2=True
    ),
    "many-h2": Scenario(
        "many-h2", "many", 2_000, 4 * KIB, "2,000 x 4 KiB, each delayed 100 ms, HTTP/2 over TLS",
        delay=0.1, tls=True, h2=True
    ),
    "ratelimited": Scenario(
        "ratelimited", "rate", 16, 2 * MIB, "16 x 2 MiB at 2 MiB/s per connection", rate=2 * MIB
    ),
    "split": Scenario(
        "split", "split", 1, 64 * MIB,
        "one 64 MiB file, nginx limit_rate 4m (per request, a second's worth up front), 8 ranges "
        "at once", rate=4 * MIB, split=8
    ),
    "split-paced": Scenario(
        "split-paced", "split", 1, 64 * MIB,
        "one 64 MiB file, each connection paced at 4 MiB/s with no burst, 8 ranges at once",
        rate=4 * MIB, split=8
    ),
    "huge-list": Scenario("huge-list", "huge", 100_000, 1, "100,000 x 1 byte"),
    # Memory that does not grow with the list: peak RSS and files/s for a million entries (aria2
    # needs 1.2 GiB for 100,000; xargs+curl a process each). nginx answers every path itself.
    "million": Scenario(
        "million", "million", 1_000_000, 1, "1,000,000 x 1 byte (peak RSS: memory per entry)",
        tools=("fetchpool", "curl", "wget2"), generated=True
    ),
    "scale": Scenario(
        "scale", "scale", 2_000, 4 * KIB, "2,000 x 4 KiB, each delayed 100 ms, at J = 8, 64, 256, 1024",
        delay=0.1, js=(8, 64, 256, 1024)
    ),
    "update": Scenario(
        "update", "update", 2_000, 16 * KIB,
        "2,000 x 16 KiB already downloaded, re-run to revalidate (nothing changed)", revalidate=True
    ),
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_corpus(www, sc):
    if sc.generated:
        return
    folder = os.path.join(www, sc.folder)
    os.makedirs(folder, exist_ok=True)
    block = os.urandom(min(sc.size, MIB))
    for name in sc.files:
        path = os.path.join(folder, name)
        if os.path.exists(path) and os.path.getsize(path) == sc.size:
            continue
        with open(path, "wb") as f:
            left = sc.size
            while left:
                n = min(left, len(block))
                f.write(block[:n])
                left -= n


NGINX_CONF = """
load_module /usr/share/nginx/modules/ngx_http_echo_module.so;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
worker_rlimit_nofile 8192;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    log_format connection '$connection';
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {www};
        location /latency/ {{ echo_sleep 0.1; echo_exec @static; }}
        location /scale/ {{ echo_sleep 0.1; echo_exec @static; }}
        location @static {{ }}
        location /split/ {{ limit_rate 4m; }}
        location /million/ {{ return 200 "x"; }}
    }}
    server {{
        listen 127.0.0.1:{tls_port} ssl http2;
        ssl_certificate {tmp}/leaf.pem;
        ssl_certificate_key {tmp}/leaf.key;
        root {www};
        # Each request's connection, to count a tool's connections in the -h2 scenarios.
        access_log {tmp}/connections.log connection;
        location /latency/ {{ echo_sleep 0.1; echo_exec @static; }}
        location /many/ {{ echo_sleep 0.1; echo_exec @static; }}
        location @static {{ }}
    }}
}}
"""


TLS_PORT = None


def make_certificates(tmp):
    """A throwaway CA ({tmp}/ca.pem) and a certificate it signed for 127.0.0.1, with openssl."""
    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", f"{tmp}/ca.key", "-out", f"{tmp}/ca.pem", "-days", "2",
            "-subj", "/CN=fetchpool bench CA")
    openssl("req", *ec, "-keyout", f"{tmp}/leaf.key", "-out", f"{tmp}/leaf.csr", "-subj", "/CN=127.0.0.1")
    with open(f"{tmp}/leaf.ext", "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", f"{tmp}/leaf.csr", "-CA", f"{tmp}/ca.pem", "-CAkey", f"{tmp}/ca.key",
            "-CAcreateserial", "-out", f"{tmp}/leaf.pem", "-days", "2", "-extfile", f"{tmp}/leaf.ext")
    # nginx's workers run unprivileged.
    os.chmod(f"{tmp}/leaf.key", 0o644)


PACED_PORTS = [None, None]


def start_paced(www, rate):
    """A server that caps each connection at `rate` bytes/s with no burst (see paced_server.py):
    (process, port)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "benches", "paced_server.py"),
                             www, str(port), str(rate)])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the paced server did not start")


def start_nginx(tmp, www):
    global TLS_PORT
    port, TLS_PORT = free_port(), free_port()
    make_certificates(tmp)
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(tmp=tmp, www=www, port=port, tls_port=TLS_PORT))
    subprocess.run(["nginx", "-t", "-q", "-c", conf, "-e", os.path.join(tmp, "nginx-error.log")], check=True)
    subprocess.run(["nginx", "-c", conf, "-e", os.path.join(tmp, "nginx-error.log")], check=True)
    return port, conf


def stop_nginx(conf, tmp):
    pidfile = os.path.join(tmp, "nginx.pid")
    if os.path.exists(pidfile):
        subprocess.run(["nginx", "-c", conf, "-e", os.path.join(tmp, "nginx-error.log"), "-s", "quit"])
        for _ in range(50):
            if not os.path.exists(pidfile):
                break
            time.sleep(0.1)


def revalidate_commands(tool, urls, out):
    """(prime, timed) for a revalidation scenario: the first download, then the re-run that asks
    the server whether anything changed. None for a tool that cannot revalidate a list."""
    if tool == "fetchpool":
        first = [FETCHPOOL, urls, "-j", str(J), "-o", out, "-q"]
        return first, first + ["--update"]
    if tool == "wget2":
        cmd = ["wget2", "-i", urls, "-P", out, f"--max-threads={J}", "-q", "--no-robots", "-N"]
        return cmd, cmd
    if tool == "aria2":
        cmd = ["aria2c", "-i", urls, "-d", out, "-j", str(J), "-x", "1", "-q", "--summary-interval=0",
               "--file-allocation=none", "--auto-file-renaming=false", "--allow-overwrite=true",
               "--conditional-get=true", "--remote-time=true"]
        return cmd, cmd
    return None


def split_command(tool, urls, out):
    """argv for the `split` scenario: one file in 8 ranges at once, or as one stream. aria2's
    -s8 splits only into pieces of at least --min-split-size (20M by default: three pieces of a
    64 MiB file), so it runs both as asked and with -k2M, fetchpool's --split-min."""
    aria2 = ["aria2c", "-i", urls, "-d", out, "-q", "--summary-interval=0", "--file-allocation=none",
             "--auto-file-renaming=false", "--allow-overwrite=true"]
    return {
        "fetchpool-split": [FETCHPOOL, urls, "-j", "8", "--split", "8", "-o", out, "-q",
                            "--progress", "never"],
        "aria2-x8-s8": aria2 + ["-x", "8", "-s", "8"],
        "aria2-x8-s8-k2M": aria2 + ["-x", "8", "-s", "8", "-k", "2M"],
        "fetchpool-one-stream": [FETCHPOOL, urls, "-o", out, "-q", "--progress", "never"],
        "curl-one-stream": ["curl", "-s", "--fail", "--remote-name-all", "--output-dir", out,
                            "-K", urls + ".curl"],
    }.get(tool)


SPLIT_TOOLS = ["fetchpool-split", "aria2-x8-s8", "aria2-x8-s8-k2M", "fetchpool-one-stream",
               "curl-one-stream"]


def snapshot(sc, out):
    """(inode, mtime) of every file: what a revalidation must leave as it was."""
    result = {}
    for name in sc.files:
        st = os.stat(os.path.join(out, name))
        result[name] = (st.st_ino, st.st_mtime_ns)
    return result


def tool_command(tool, lists, out, count, ca=None, j=None):
    """argv (or a shell string) for one tool downloading a scenario's list into `out`; `ca` is the
    CA's PEM file over TLS; `j` the parallelism (J by default). None for a tool that does not
    apply."""
    urls, curl_config = lists
    J = j or globals()["J"]
    if ca:
        tls = {
            "fetchpool": [FETCHPOOL, urls, "-j", str(J), "-o", out, "-q", "--cacert", ca],
            "fetchpool-h1": [FETCHPOOL, urls, "-j", str(J), "-o", out, "-q", "--cacert", ca, "--http1.1"],
            "curl": ["curl", "--parallel", "--parallel-immediate", "--parallel-max", str(J), "-s", "--fail",
                     "--cacert", ca, "--remote-name-all", "--output-dir", out, "-K", curl_config],
            "curl-h1": ["curl", "--parallel", "--parallel-immediate", "--parallel-max", str(J), "-s",
                        "--fail", "--http1.1", "--cacert", ca, "--remote-name-all", "--output-dir", out,
                        "-K", curl_config],
            "aria2": ["aria2c", "-i", urls, "-d", out, "-j", str(J), "-x", "1", "-q", "--summary-interval=0",
                      "--file-allocation=none", "--auto-file-renaming=false", "--allow-overwrite=true",
                      f"--ca-certificate={ca}"],
            "wget2": ["wget2", "-i", urls, "-P", out, f"--max-threads={J}", "-q", "--no-robots",
                      f"--ca-certificate={ca}"],
        }
        return tls.get(tool)
    if tool in ("fetchpool-h1", "curl-h1"):
        return None
    if tool == "fetchpool":
        return [FETCHPOOL, urls, "-j", str(J), "-o", out, "-q", "--progress", "never"]
    if tool == "fetchpool-json":
        # --json turns on the SHA-256 of every byte (the report shows it).
        return [FETCHPOOL, urls, "-j", str(J), "-o", out, "--json", "--progress", "never"]
    if tool == "fetchpool-serial":
        return [FETCHPOOL, urls, "--serial", "-o", out, "-q", "--progress", "never"]
    if tool == "curl":
        return ["curl", "--parallel", "--parallel-immediate", "--parallel-max", str(J), "-s", "--fail",
                "--remote-name-all", "--output-dir", out, "-K", curl_config]
    if tool == "aria2":
        return ["aria2c", "-i", urls, "-d", out, "-j", str(J), "-x", "1", "-q", "--summary-interval=0",
                "--file-allocation=none", "--auto-file-renaming=false", "--allow-overwrite=true"]
    if tool == "wget2":
        return ["wget2", "-i", urls, "-P", out, f"--max-threads={J}", "-q", "--no-robots"]
    if tool == "xargs-curl":
        # Batches of URLs per curl, so each keeps its connection alive, but never fewer than J
        # batches, so all J run.
        batch = max(1, min(100, math.ceil(count / J)))
        return (f"xargs -P {J} -n {batch} curl -s --fail --remote-name-all --output-dir {shlex.quote(out)}"
                f" < {shlex.quote(urls)}")
    raise ValueError(tool)


H2_TOOLS = ["fetchpool", "fetchpool-streams-1", "curl-parallel-max-J", "curl", "wget2"]


def h2_command(tool, lists, out, ca):
    """argv for the -h2 scenarios' rows: fetchpool at its defaults (several requests in flight
    per worker) and with one per worker, curl at --parallel-max J and at its default (50),
    wget2 at its default request window (30 a thread)."""
    urls, curl_config = lists
    curl = ["curl", "--parallel", "--parallel-immediate", "-s", "--fail", "--cacert", ca,
            "--remote-name-all", "--output-dir", out, "-K", curl_config]
    return {
        "fetchpool": [FETCHPOOL, urls, "-j", str(J), "-o", out, "-q", "--cacert", ca],
        "fetchpool-streams-1": [FETCHPOOL, urls, "-j", str(J), "-o", out, "-q", "--cacert", ca,
                                "--streams", "1"],
        "curl-parallel-max-J": curl + ["--parallel-max", str(J)],
        "curl": curl,
        "wget2": ["wget2", "-i", urls, "-P", out, f"--max-threads={J}", "-q", "--no-robots",
                  f"--ca-certificate={ca}"],
    }[tool]


def connections_since(tmp, offset):
    """The connections nginx's TLS server logged requests on after `offset` (bytes into its log),
    and the log's length now."""
    path = os.path.join(tmp, "connections.log")
    try:
        with open(path) as f:
            f.seek(offset)
            text = f.read()
    except FileNotFoundError:
        return 0, offset
    return len(set(text.split())), offset + len(text.encode())


def verify(sc, out):
    """None if every file is there with its exact size, else what is wrong."""
    missing = wrong = 0
    for name in sc.files:
        try:
            if os.stat(os.path.join(out, name)).st_size != sc.size:
                wrong += 1
        except FileNotFoundError:
            missing += 1
    if missing or wrong:
        return f"{missing} missing, {wrong} wrong size"
    return None


def process_cpu(pids):
    """CPU seconds (user + system) the processes `pids` have used so far."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def run_once(cmd, out, rss_file, server_pids, fresh=True):
    """Wall seconds, the peak RSS (KiB) of the biggest process the command ran, its CPU seconds,
    and the server's CPU seconds meanwhile.

    GNU time reports the RSS: a child of this Python process would inherit Python's own peak
    (Linux keeps ru_maxrss across exec), a child of `time` only time's small one. Its own start
    costs about a millisecond, the same for every tool.
    """
    if fresh:
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
    argv = ["sh", "-c", cmd] if isinstance(cmd, str) else cmd
    server_before = process_cpu(server_pids)
    started = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", "-o", rss_file] + argv,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    server = process_cpu(server_pids) - server_before
    with open(rss_file) as f:
        peak, user, system = f.read().split()[-3:]
    return {
        "elapsed": elapsed, "peak": int(peak), "cpu": float(user) + float(system), "sys": float(system),
        "server": server,
        "code": proc.returncode, "err": proc.stderr.decode(errors="replace")[-300:],
    }


def version(argv):
    try:
        done = subprocess.run(argv, capture_output=True, text=True)
        out = (done.stdout.strip() or done.stderr.strip()).splitlines()
        return out[0] if out else "?"
    except OSError:
        return "not installed"


def fmt_rate(sc, seconds):
    if sc.size >= MIB:
        return f"{sc.count * sc.size / MIB / seconds:.0f} MiB/s"
    return f"{sc.count / seconds:,.0f} files/s"


def bench_scenario(sc, port, tmp, server_pids):
    base = f"http://127.0.0.1:{port}/{sc.folder}/"
    if sc.name == "ratelimited":
        base = f"http://127.0.0.1:{PACED_PORTS[0]}/{sc.folder}/"
    if sc.name == "split-paced":
        base = f"http://127.0.0.1:{PACED_PORTS[1]}/{sc.folder}/"
    if sc.tls:
        base = f"https://127.0.0.1:{TLS_PORT}/{sc.folder}/"
    urls = os.path.join(tmp, f"{sc.name}.txt")
    curl_config = os.path.join(tmp, f"{sc.name}.curl")
    with open(urls, "w") as f:
        f.writelines(base + name + "\n" for name in sc.files)
    with open(curl_config, "w") as f:
        f.writelines(f'url = "{base}{name}"\n' for name in sc.files)
    out = tempfile.mkdtemp(prefix="fetchpool-bench-out-", dir=OUT_BASE)
    ca = os.path.join(tmp, "ca.pem") if sc.tls else None
    if sc.split:
        shutil.copy(curl_config, urls + ".curl")
        commands = {tool: split_command(tool, urls, out) for tool in SPLIT_TOOLS}
    elif sc.revalidate:
        commands = {tool: revalidate_commands(tool, urls, out) for tool in TOOLS}
    elif sc.h2:
        commands = {tool: h2_command(tool, (urls, curl_config), out, ca) for tool in H2_TOOLS
                    if tool.split("-")[0] in TOOLS}
    elif sc.js:
        commands = {f"{tool} -j {j}": tool_command(tool, (urls, curl_config), out, sc.count, j=j)
                    for j in sc.js for tool in ("fetchpool", "curl") if tool in TOOLS}
    else:
        commands = {tool: tool_command(tool, (urls, curl_config), out, sc.count, ca) for tool in TOOLS
                    if sc.tools is None or tool in sc.tools}
    tools = [tool for tool in commands if commands[tool] is not None]
    rows = {tool: {"tool": tool, "runs": [], "failure": None, "cmd": commands[tool]} for tool in tools}
    for round_ in range(min(RUNS, SCALE_RUNS) if sc.js else RUNS):
        for tool in (tools if round_ % 2 == 0 else tools[::-1]):
            row = rows[tool]
            if row["failure"]:
                continue
            if sc.revalidate:
                prime, timed = row["cmd"]
                shutil.rmtree(out, ignore_errors=True)
                os.makedirs(out)
                subprocess.run(prime, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                problem = verify(sc, out)
                before = None if problem else snapshot(sc, out)
                run = run_once(timed, out, os.path.join(tmp, "rss"), server_pids, fresh=False)
                problem = problem or verify(sc, out)
                if not problem:
                    after = snapshot(sc, out)
                    changed = sum(1 for name in sc.files if after[name] != before[name])
                    problem = f"{changed} files fetched again" if changed else None
            else:
                _, before = connections_since(tmp, 0) if sc.h2 else (0, 0)
                run = run_once(row["cmd"], out, os.path.join(tmp, "rss"), server_pids)
                if sc.h2:
                    run["connections"], _ = connections_since(tmp, before)
                problem = verify(sc, out)
            if run["code"] != 0 or problem:
                row["failure"] = (f"exit {run['code']}; {problem or 'all files present'}; "
                                  f"{run['err'].strip()[-120:]}")
            else:
                row["runs"].append(run)
        shutil.rmtree(out, ignore_errors=True)
    for row in rows.values():
        cmd = row["cmd"][1] if sc.revalidate else row["cmd"]
        shown = cmd if isinstance(cmd, str) else shlex.join(cmd)
        row["cmd"] = shown.replace(out, "$OUT").replace(tmp, "$TMP").replace(FETCHPOOL, "fetchpool")
        times = [r["elapsed"] for r in row["runs"]]
        status = row["failure"] or f"median {statistics.median(times):.3f}s over {len(times)} runs"
        print(f"  {sc.name:<12} {row['tool']:<17} {status}", flush=True)
    shutil.rmtree(out, ignore_errors=True)
    return list(rows.values())


def table(sc, rows):
    if sc.js:
        return scale_table(sc, rows)
    anchors = [r for r in rows if not r["tool"].startswith("fetchpool") and not r["failure"]]
    best = min((median(r, "elapsed") for r in anchors), default=None)
    # Over HTTP/2 a worker is not one request at a time: no ideal of that kind.
    ideal = None if sc.h2 else sc.ideal()
    lines = [f"### {sc.name}: {sc.what}", ""]
    if ideal and sc.split:
        lines.append(f"Ideal (size / ({sc.split} x per-connection rate)): {ideal:.2f} s")
        lines.append("")
    elif ideal:
        lines.append(f"Ideal (ceil(N/J) x per-file time): {ideal:.2f} s")
        lines.append("")
    head = ("| tool | median s | min s | vs best anchor |" + (" vs ideal |" if ideal else "")
            + (" connections |" if sc.h2 else "")
            + " rate | peak RSS | CPU per file | server CPU per file |")
    lines += [head, "|---" * (head.count("|") - 1) + "|"]
    for r in rows:
        if r["failure"]:
            lines.append(f"| {r['tool']} | FAILED: {r['failure']} |"
                         + " |" * ((7 if ideal else 6) + sc.h2))
            continue
        med = median(r, "elapsed")
        ratio = f"{med / best:.2f}x" if best else "-"
        vs_ideal = f" {med / ideal:.3f}x |" if ideal else ""
        if sc.h2:
            vs_ideal += f" {max(run['connections'] for run in r['runs'])} |"
        peak = max(run["peak"] for run in r["runs"])
        lines.append(
            f"| {r['tool']} | {med:.3f} | {min(run['elapsed'] for run in r['runs']):.3f} | {ratio} |"
            f"{vs_ideal} {fmt_rate(sc, med)} | {peak / 1024:.1f} MiB | "
            f"{fmt_cpu(median(r, 'cpu') / sc.count)} | {fmt_cpu(median(r, 'server') / sc.count)} |"
        )
    return lines + commands(rows)


def commands(rows):
    """The command lines of a table's rows, folded away under it."""
    return ["", "<details><summary>commands</summary>", ""] + [f"    {r['cmd']}" for r in rows] + [
        "", "</details>", ""]


def scale_table(sc, rows):
    """One line per tool and J: against the ideal at that J and against curl at that J, with the
    peak RSS and the system CPU (what a thread per download costs the kernel)."""
    lines = [f"### {sc.name}: {sc.what}", "",
             "| J | tool | median s | ideal s | vs ideal | vs curl | peak RSS | CPU s | system CPU s "
             "| server CPU s |", "|---" * 10 + "|"]
    by_name = {r["tool"]: r for r in rows}
    for r in rows:
        tool, j = r["tool"].rsplit(" -j ", 1)
        j = int(j)
        if r["failure"]:
            lines.append(f"| {j} | {tool} | FAILED: {r['failure']} |" + " |" * 7)
            continue
        med, ideal = median(r, "elapsed"), sc.ideal(j)
        curl = by_name.get(f"curl -j {j}")
        vs_curl = f"{med / median(curl, 'elapsed'):.2f}x" if curl and not curl["failure"] else "-"
        peak = max(run["peak"] for run in r["runs"])
        lines.append(
            f"| {j} | {tool} | {med:.3f} | {ideal:.2f} | {med / ideal:.2f}x | {vs_curl} | "
            f"{peak / 1024:.1f} MiB | {median(r, 'cpu'):.2f} | {median(r, 'sys'):.2f} | "
            f"{median(r, 'server'):.2f} |"
        )
    return lines + commands(rows)


def median(row, key):
    return statistics.median(run[key] for run in row["runs"])


def fmt_cpu(seconds):
    if seconds >= 0.1:
        return f"{seconds:.2f} s"
    if seconds >= 0.0001:
        return f"{seconds * 1000:.2f} ms"
    return f"{seconds * 1e6:.0f} µs"


def server_pids(master_pidfile, paced):
    """nginx's worker processes (the master only supervises) and the paced servers."""
    with open(master_pidfile) as f:
        master = f.read().strip()
    children = subprocess.run(["pgrep", "-P", master], capture_output=True, text=True).stdout.split()
    return [int(p) for p in children] + [proc.pid for proc in paced]


def startup_one_url(port, tmp):
    """Median wall time (ms) over 30 runs of one small URL at -j 8, fetchpool and curl."""
    url = f"http://127.0.0.1:{port}/startup/one.bin"
    os.makedirs(os.path.join(tmp, "www", "startup"), exist_ok=True)
    with open(os.path.join(tmp, "www", "startup", "one.bin"), "wb") as f:
        f.write(b"x" * 4096)
    listed = os.path.join(tmp, "one.txt")
    with open(listed, "w") as f:
        f.write(url + "\n")
    out = tempfile.mkdtemp(prefix="fetchpool-bench-one-", dir=OUT_BASE)
    tools = {
        "fetchpool": [FETCHPOOL, listed, "-j", "8", "-o", out, "-q", "--overwrite"],
        "curl": ["curl", "-s", "--fail", "-o", os.path.join(out, "one.bin"), url],
    }
    times = {name: [] for name in tools}
    for _ in range(30):
        for name, argv in tools.items():
            started = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
            times[name].append((time.perf_counter() - started) * 1000)
    shutil.rmtree(out, ignore_errors=True)
    return {name: statistics.median(t) for name, t in times.items()}


def one_gib_peak_rss(port, tmp):
    """fetchpool's peak RSS (KiB) and wall time for one 1 GiB file, checked for its size."""
    folder = os.path.join(tmp, "www", "gib")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "one.bin")
    block = os.urandom(MIB)
    with open(path, "wb") as f:
        for _ in range(1024):
            f.write(block)
    listed = os.path.join(tmp, "gib.txt")
    with open(listed, "w") as f:
        f.write(f"http://127.0.0.1:{port}/gib/one.bin\n")
    out = tempfile.mkdtemp(prefix="fetchpool-bench-gib-", dir=OUT_BASE)
    run = run_once([FETCHPOOL, listed, "-o", out, "-q"], out, os.path.join(tmp, "rss"), [])
    size = os.path.getsize(os.path.join(out, "one.bin")) if run["code"] == 0 else None
    shutil.rmtree(out, ignore_errors=True)
    os.remove(path)
    if size != 1024 * MIB:
        raise RuntimeError(f"the 1 GiB download failed: exit {run['code']}, {run['err']}")
    return run["peak"], run["elapsed"]


def version_latency():
    """Median wall time of `fetchpool --version` over 50 runs, in ms."""
    times = []
    for _ in range(50):
        started = time.perf_counter()
        subprocess.run([FETCHPOOL, "--version"], stdout=subprocess.DEVNULL, check=True)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main():
    # A kill or Ctrl-C still runs the `finally` below: nginx stopped, temp dirs removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    tmp = tempfile.mkdtemp(prefix="fetchpool-bench-")
    # nginx's workers run as an unprivileged user: they must be able to read the corpus.
    os.chmod(tmp, 0o755)
    www = os.path.join(tmp, "www")
    global PACED_PORTS
    conf = None
    paced = []
    try:
        scenarios = [SCENARIO_DEFS[s] for s in SCENARIOS]
        for sc in scenarios:
            print(f"corpus: {sc.name} ({sc.what})", flush=True)
            make_corpus(www, sc)
        port, conf = start_nginx(tmp, www)
        # `ratelimited` at 2 MiB/s per connection, `split-paced` at 4 MiB/s.
        started = [start_paced(www, 2 * MIB), start_paced(www, 4 * MIB)]
        paced = [proc for proc, _ in started]
        PACED_PORTS = [port for _, port in started]
        print(f"nginx on 127.0.0.1:{port}; J={J}; {RUNS} runs per tool", flush=True)
        report = [
            "# Benchmarks",
            "",
            f"Run on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC} by "
            "`bash benches/compare.sh`: "
            f"{os.cpu_count()} cores, {platform.platform()}; J={J}; median of {RUNS} runs; "
            "nginx on 127.0.0.1 (keep-alive, sendfile, no access log). Each run writes to a fresh "
            f"directory under {OUT_BASE or tmp} (tmpfs where there is one: this measures the "
            "downloaders, not the file system), and counts only if every file is present with its "
            "exact size. 'vs best anchor' divides by the fastest of curl, aria2, wget2 and xargs-curl. "
            "Peak RSS is GNU time's maximum resident set size of the tool's process tree's largest "
            "process (for xargs-curl, one curl). `ratelimited` is served by benches/paced_server.py "
            "(nginx's limit_rate grants a second's worth of bytes up front, so 2 MiB at 2 MiB/s "
            "would arrive at once), and so is `split-paced`, which paces each connection across "
            "its requests; `split` is nginx's limit_rate as it is, per request with its burst "
            "(a tool that asks for many small ranges gets a burst with each); `latency` by "
            "nginx's echo module (echo_sleep 0.1).",
            "",
            "Tools: " + "; ".join([
                version([FETCHPOOL, "--version"]),
                version(["curl", "--version"]),
                version(["aria2c", "--version"]),
                version(["wget2", "--version"]),
                version(["nginx", "-v"]),
            ]),
            "",
        ]
        pids = server_pids(os.path.join(tmp, "nginx.pid"), paced)
        for sc in scenarios:
            rows = bench_scenario(sc, port, tmp, pids)
            report += table(sc, rows)
        ms = version_latency()
        one = startup_one_url(port, tmp)
        peak, gib_secs = one_gib_peak_rss(port, tmp)
        report += [
            "### startup and memory",
            "",
            f"- `fetchpool --version`: median {ms:.2f} ms over 50 runs.",
            f"- One 4 KiB URL at `-j 8`: fetchpool {one['fetchpool']:.1f} ms, curl {one['curl']:.1f} ms "
            "(medians of 30, taking turns).",
            f"- One 1 GiB file: fetchpool's peak RSS {peak / 1024:.1f} MiB ({gib_secs:.2f} s).",
            "",
        ]
        print(f"  fetchpool --version: {ms:.2f} ms; one URL: {one}; 1 GiB: {peak / 1024:.1f} MiB")
        with open(OUT, "w") as f:
            f.write("\n".join(report))
        print(f"\nwrote {OUT}")
    finally:
        for proc in paced:
            proc.kill()
        if conf:
            stop_nginx(conf, tmp)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
