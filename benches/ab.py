#!/usr/bin/env python3
"""Two fetchpool binaries against each other, interleaved: the cost of a change, measured.

    python3 benches/ab.py OLD_BINARY NEW_BINARY [SCENARIO...]   # default: small large
    ROUNDS=10 python3 benches/ab.py /tmp/fetchpool-before target/release/fetchpool small
    python3 benches/ab.py A B large-tls                # over TLS (HTTP/2); ARGS=--http1.1
    ARGS="--split 8" python3 benches/ab.py A B split-paced
    J=1024 python3 benches/ab.py A B scale             # J is compare.py's: every binary's -j

Uses compare.py's corpora and nginx (127.0.0.1 only; run benches/compare.sh once, or install
nginx-light and libnginx-mod-http-echo). Each round runs A then B, the next B then A, so a slow
spell of this shared machine falls on both; every run goes to a fresh directory on tmpfs and
counts only if every file is there with its exact size. Prints the median wall time, CPU time
and server CPU time of each, and B's time as a ratio of A's. Extra fetchpool flags for both
binaries: ARGS="--json". SUMS_B=md5sum (or sha1sum, sha256sum, sha512sum, b2sum): B alone also
gets --checksums with that tool's checksums of the corpus, to measure what a digest costs (give
the same binary twice).
"""

import os
import shlex
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", "10"))
ARGS = shlex.split(os.environ.get("ARGS", ""))
SUMS_B = os.environ.get("SUMS_B")


def checksums(tool, folder, files, tmp):
    """`tool`'s checksums of `files` in `folder`, as a file for --checksums."""
    path = os.path.join(tmp, f"{tool}.txt")
    with open(path, "w") as out:
        for i in range(0, len(files), 1000):
            subprocess.run([tool, *files[i:i + 1000]], cwd=folder, stdout=out, check=True)
    return path


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    binaries = {"A": os.path.abspath(sys.argv[1]), "B": os.path.abspath(sys.argv[2])}
    scenarios = sys.argv[3:] or ["small", "large"]
    with tempfile.TemporaryDirectory(prefix="fetchpool-ab-") as tmp:
        # nginx's workers run as an unprivileged user: they must be able to read the corpus.
        os.chmod(tmp, 0o755)
        www = os.path.join(tmp, "www")
        for name in scenarios:
            compare.make_corpus(www, compare.SCENARIO_DEFS[name])
        port, conf = compare.start_nginx(tmp, www)
        paced = None
        try:
            if "split-paced" in scenarios:
                # Each connection paced at 4 MiB/s with no burst, as compare.py serves it.
                paced, paced_port = compare.start_paced(www, 4 * compare.MIB)
            pids = compare.server_pids(os.path.join(tmp, "nginx.pid"), [paced] if paced else [])
            out_base = compare.OUT_BASE or tmp
            for name in scenarios:
                sc = compare.SCENARIO_DEFS[name]
                urls = os.path.join(tmp, f"{name}.txt")
                base = f"http://127.0.0.1:{port}"
                if name == "split-paced":
                    base = f"http://127.0.0.1:{paced_port}"
                tls = []
                if sc.tls:
                    base = f"https://127.0.0.1:{compare.TLS_PORT}"
                    tls = ["--cacert", os.path.join(tmp, "ca.pem")]
                with open(urls, "w") as f:
                    for file in sc.files:
                        f.write(f"{base}/{sc.folder}/{file}\n")
                out = os.path.join(out_base, "fetchpool-ab-out")
                extra = {"A": [], "B": []}
                if SUMS_B:
                    folder = os.path.join(www, sc.folder)
                    extra["B"] = ["--checksums", checksums(SUMS_B, folder, sc.files, tmp)]
                runs = {"A": [], "B": []}
                for i in range(ROUNDS):
                    for which in ("A", "B") if i % 2 == 0 else ("B", "A"):
                        cmd = [binaries[which], urls, "-j", str(compare.J), "-o", out, "-q",
                               "--progress", "never", *tls, *ARGS, *extra[which]]
                        run = compare.run_once(cmd, out, os.path.join(tmp, "rss"), pids)
                        problem = compare.verify(sc, out) or (run["code"] and run["err"])
                        if problem:
                            sys.exit(f"{which} failed on {name}: {problem}")
                        runs[which].append(run)
                print(f"{name}: {sc.what}, {ROUNDS} interleaved rounds")
                med = {w: {k: statistics.median(r[k] for r in runs[w])
                           for k in ("elapsed", "cpu", "server")} for w in runs}
                for w in ("A", "B"):
                    m = med[w]
                    print(f"  {w} {binaries[w]}: {m['elapsed']:.3f} s wall, {m['cpu']:.3f} s CPU, "
                          f"{m['server']:.3f} s server CPU")
                print(f"  B/A: {med['B']['elapsed'] / med['A']['elapsed']:.3f} wall, "
                      f"{med['B']['cpu'] / med['A']['cpu']:.3f} CPU")
        finally:
            if paced:
                paced.kill()
            compare.stop_nginx(conf, tmp)


if __name__ == "__main__":
    main()
