//! A real Slurm cluster of one node, started by the test under a temp dir (munge with its own
//! key, socket and log; `slurmctld` and `slurmd` in the foreground on 127.0.0.1), and the `sbatch`
//! recipe of docs/ci-and-clusters.md submitted to it as a job array. Mandatory in CI (`CI` set): there a missing
//! Slurm or munge, or a user other than root, is a failure, not a skip; `.ci/run` installs
//! slurmctld, slurmd, slurm-client and munge. Every process the cluster started is stopped by
//! PID, pass or fail, and the test checks that none is left.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::support::server::{Reply, Server};
use crate::support::{BIN, TestEnv, free_port, payload};

/// What the test runs, found in PATH or the sbin directories (which a test's PATH may lack).
const TOOLS: [&str; 7] = [
    "munged",
    "slurmctld",
    "slurmd",
    "sbatch",
    "squeue",
    "scontrol",
    "sinfo",
];

/// The longest the cluster may take to come up, and a submission to finish.
const PATIENCE: Duration = Duration::from_secs(60);

struct Cluster {
    root: PathBuf,
    conf: PathBuf,
    tools: BTreeMap<&'static str, PathBuf>,
    /// Every daemon started, by name, to be stopped by PID.
    daemons: Vec<(&'static str, Child)>,
}

fn find(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(1) == Some("0"))
}

impl Cluster {
    /// The cluster, up with its node idle; `None` (outside CI) when Slurm, munge or root is
    /// missing.
    fn start(root: &Path) -> Option<Cluster> {
        let tools: BTreeMap<_, _> = TOOLS.iter().filter_map(|t| Some((*t, find(t)?))).collect();
        let missing: Vec<_> = TOOLS.iter().filter(|t| !tools.contains_key(*t)).collect();
        if !missing.is_empty() || !is_root() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI requires the Slurm test: missing {missing:?} (apt-get install slurmctld \
                 slurmd slurm-client munge), or not root (Slurm runs its jobs as root here)"
            );
            eprintln!("Slurm, munge or root is missing ({missing:?}): the Slurm test did not run");
            return None;
        }
        // munged refuses a socket directory that others cannot reach.
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
        for dir in ["munge", "state", "spool", "log"] {
            std::fs::create_dir(root.join(dir)).unwrap();
        }
        let mut cluster = Cluster {
            root: root.to_path_buf(),
            conf: root.join("slurm.conf"),
            tools,
            daemons: Vec::new(),
        };
        cluster.start_munge();
        std::fs::write(&cluster.conf, cluster.slurm_conf()).unwrap();
        for daemon in ["slurmctld", "slurmd"] {
            let child = cluster
                .command(daemon)
                .args(["-D", "-f"])
                .arg(&cluster.conf)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(root.join(format!("log/{daemon}.err"))).unwrap())
                .spawn()
                .unwrap();
            cluster.daemons.push((daemon, child));
        }
        cluster.wait_for("the node to be idle", || {
            let out = cluster.command("sinfo").args(["-h", "-o", "%t"]).output();
            out.is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "idle")
        });
        Some(cluster)
    }

    fn start_munge(&mut self) {
        let munge = self.root.join("munge");
        let key = munge.join("munge.key");
        std::fs::write(&key, payload(1024, 22)).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let socket = munge.join("socket");
        let child = self
            .command("munged")
            .arg("--foreground")
            .arg("--force")
            .arg(format!("--key-file={}", key.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", munge.join("munged.pid").display()))
            .arg(format!("--seed-file={}", munge.join("seed").display()))
            .arg(format!(
                "--log-file={}",
                self.root.join("log/munged.log").display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.daemons.push(("munged", child));
        self.wait_for("munge's socket", || socket.exists());
    }

    fn slurm_conf(&self) -> String {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        let host = host.trim().split('.').next().unwrap().to_string();
        let root = self.root.display();
        let (ctld, slurmd) = (free_port(), free_port());
        format!(
            "ClusterName=fetchpool\n\
             SlurmctldHost={host}(127.0.0.1)\n\
             SlurmctldPort={ctld}\n\
             SlurmdPort={slurmd}\n\
             SlurmUser=root\n\
             SlurmdUser=root\n\
             AuthType=auth/munge\n\
             CredType=cred/munge\n\
             AuthInfo=socket={root}/munge/socket\n\
             StateSaveLocation={root}/state\n\
             SlurmdSpoolDir={root}/spool\n\
             SlurmctldPidFile={root}/slurmctld.pid\n\
             SlurmdPidFile={root}/slurmd.pid\n\
             SlurmctldLogFile={root}/log/slurmctld.log\n\
             SlurmdLogFile={root}/log/slurmd.log\n\
             ProctrackType=proctrack/linuxproc\n\
             TaskPlugin=task/none\n\
             JobAcctGatherType=jobacct_gather/none\n\
             AccountingStorageType=accounting_storage/none\n\
             SelectType=select/cons_tres\n\
             SelectTypeParameters=CR_CPU\n\
             MailProg=/bin/true\n\
             ReturnToService=2\n\
             NodeName={host} NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN\n\
             PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n"
        )
    }

    /// `tool`, talking to this cluster, started in its directory.
    fn command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(&self.tools[tool]);
        cmd.env("SLURM_CONF", &self.conf).current_dir(&self.root);
        cmd
    }

    fn wait_for(&self, what: &str, mut done: impl FnMut() -> bool) {
        let started = Instant::now();
        while !done() {
            assert!(
                started.elapsed() < PATIENCE,
                "waited {PATIENCE:?} for {what}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn logs(&self) -> String {
        [
            "munged.log",
            "slurmctld.log",
            "slurmd.log",
            "slurmctld.err",
            "slurmd.err",
        ]
        .iter()
        .map(|log| {
            let text = std::fs::read_to_string(self.root.join("log").join(log));
            format!("--- {log}\n{}", text.unwrap_or_default())
        })
        .collect()
    }

    /// Submits `script` from `work` (with `--array=ARRAY` when given, over the script's own),
    /// the test's fetchpool first on PATH; waits until every task has ended and returns the
    /// job's ID and each task's exit code by task ID.
    fn run(&self, work: &Path, script: &Path, array: Option<&str>) -> (String, BTreeMap<u32, i32>) {
        let bin_dir = Path::new(BIN).parent().unwrap();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let path = std::env::join_paths(
            std::iter::once(bin_dir.to_path_buf()).chain(std::env::split_paths(&path)),
        )
        .unwrap();
        let mut sbatch = self.command("sbatch");
        sbatch
            .env("PATH", path)
            .arg("--parsable")
            .arg("--chdir")
            .arg(work);
        if let Some(array) = array {
            sbatch.arg(format!("--array={array}"));
        }
        let out = sbatch.arg(script).output().unwrap();
        assert!(out.status.success(), "sbatch: {out:?}\n{}", self.logs());
        let stdout = String::from_utf8(out.stdout).unwrap();
        let job = stdout.trim().split(';').next().unwrap().to_string();
        self.wait_for(&format!("job {job} to end"), || {
            let out = self
                .command("squeue")
                .args(["-h", "-r", "-j", &job, "-o", "%i"])
                .output()
                .unwrap();
            out.status.success() && out.stdout.iter().all(u8::is_ascii_whitespace)
        });
        let out = self
            .command("scontrol")
            .args(["-o", "show", "job", &job])
            .output()
            .unwrap();
        let field = |line: &str, name: &str| {
            line.split_whitespace()
                .find_map(|word| word.strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name} in {line}"))
                .to_string()
        };
        let exits = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|line| {
                let task = field(line, "ArrayTaskId=").parse().unwrap();
                let code = field(line, "ExitCode=");
                (task, code.split(':').next().unwrap().parse().unwrap())
            })
            .collect();
        (job, exits)
    }

    /// Stops every daemon by PID, then anything still working in the cluster's directory (a
    /// job's `slurmstepd`, a task), and returns what could not be stopped.
    fn stop(&mut self) -> Vec<String> {
        // The last started first; each asked to stop (slurmctld then stops its slurmscriptd),
        // and killed if it has not within three seconds.
        for (_, mut child) in self.daemons.drain(..).rev() {
            let pid = child.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let asked = Instant::now();
            while child.try_wait().ok().flatten().is_none() {
                if asked.elapsed() > Duration::from_secs(3) {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        for _ in 0..50 {
            let left = self.processes_left();
            if left.is_empty() {
                return Vec::new();
            }
            for (pid, _) in &left {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.processes_left()
            .into_iter()
            .map(|(pid, what)| format!("{pid} {what}"))
            .collect()
    }

    /// Processes other than this one working in the cluster's directory.
    fn processes_left(&self) -> Vec<(u32, String)> {
        let me = std::process::id();
        let mut left = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let cwd = std::fs::read_link(entry.path().join("cwd"));
            if pid != me && cwd.is_ok_and(|cwd| cwd.starts_with(&self.root)) {
                let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
                left.push((pid, comm.trim().to_string()));
            }
        }
        left
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The Slurm recipe of docs/ci-and-clusters.md, as it is written there.
fn recipe() -> String {
    let readme = include_str!("../../docs/ci-and-clusters.md");
    let marker = "<!-- tests/cli/slurm.rs submits this script as it is written here. -->";
    let after = &readme[readme
        .find(marker)
        .expect("the Slurm recipe in docs/ci-and-clusters.md")
        + marker.len()..];
    let block = after
        .split("```")
        .nth(1)
        .expect("a fenced block after the marker");
    let block = block.strip_prefix("sh\n").expect("a sh block");
    block
        .lines()
        .map(|line| line.trim_start())
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Each report line of a result, by target path: its status.
fn results(reports: &[PathBuf]) -> Vec<(String, String)> {
    let mut results = Vec::new();
    for report in reports {
        for line in std::fs::read_to_string(report).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if v["type"] == "result" {
                let path = v["path"].as_str().unwrap().to_string();
                results.push((path, v["status"].as_str().unwrap().to_string()));
            }
        }
    }
    results
}

/// Every file in `work/reports`, by name.
fn report_files(work: &Path) -> BTreeSet<String> {
    std::fs::read_dir(work.join("reports"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn a_slurm_job_array_fetches_every_entry_once_and_a_failed_index_runs_again() {
    let env = TestEnv::new();
    let Some(mut cluster) = Cluster::start(env.path()) else {
        return;
    };
    let started = Instant::now();
    let late = AtomicBool::new(false);
    let server = Server::start(move |req| match req.path() {
        // Not there on the first submission that lists it, there on the next.
        "/late.bin" if !late.swap(true, Ordering::SeqCst) => Reply::status(404),
        path => {
            let n: u64 = path
                .trim_start_matches("/f")
                .trim_end_matches(".bin")
                .parse()
                .unwrap_or(0);
            Reply::ok(payload(1000 + n as usize, n))
        }
    });
    let work = env.join("work");
    std::fs::create_dir(&work).unwrap();
    let script = work.join("fetch.sbatch");
    std::fs::write(&script, recipe()).unwrap();
    let entries = 300;
    let mut list: Vec<String> = (0..entries)
        .map(|i| server.url(&format!("/f{i:03}.bin")))
        .collect();
    std::fs::write(work.join("urls.txt"), list.join("\n") + "\n").unwrap();

    // Four tasks: every entry in exactly one task's report, every file on disk, byte for byte.
    let (job, first) = cluster.run(&work, &script, None);
    assert_eq!(
        first,
        (0..4).map(|t| (t, 0)).collect(),
        "{}",
        cluster.logs()
    );
    // Reports are named JOB_TASK: one NDJSON and one JUnit file per task, and nothing else.
    let named =
        |ext: &'static str| -> Vec<String> { (0..4).map(|t| format!("{job}_{t}.{ext}")).collect() };
    assert_eq!(
        report_files(&work),
        [named("ndjson"), named("xml")]
            .concat()
            .into_iter()
            .collect()
    );
    let ndjson: Vec<PathBuf> = named("ndjson")
        .iter()
        .map(|n| work.join("reports").join(n))
        .collect();
    let results_1 = results(&ndjson);
    let paths: BTreeSet<&str> = results_1.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(results_1.len(), entries, "each entry reported once");
    assert_eq!(paths.len(), entries, "by exactly one task");
    assert!(results_1.iter().all(|(_, s)| s == "ok"), "{results_1:?}");
    for i in 0..entries as u64 {
        let bytes = std::fs::read(work.join(format!("dataset/f{i:03}.bin"))).unwrap();
        assert!(
            bytes == payload(1000 + i as usize, i),
            "f{i:03}.bin byte for byte"
        );
    }
    for junit in named("xml") {
        let junit = std::fs::read_to_string(work.join("reports").join(junit)).unwrap();
        roxmltree::Document::parse(&junit).unwrap();
    }
    let requests = server.request_count();
    assert_eq!(requests, entries);

    // The same array again downloads nothing.
    let (_, second) = cluster.run(&work, &script, None);
    assert_eq!(
        second,
        (0..4).map(|t| (t, 0)).collect(),
        "{}",
        cluster.logs()
    );
    assert_eq!(
        server.request_count(),
        requests,
        "nothing was asked for again"
    );

    // An entry that fails: its task exits 1, and resubmitting that index alone finishes the set.
    list.push(server.url("/late.bin"));
    std::fs::write(work.join("urls.txt"), list.join("\n") + "\n").unwrap();
    let owner = (entries % 4) as u32;
    let (_, third) = cluster.run(&work, &script, None);
    let expected: BTreeMap<u32, i32> = (0..4).map(|t| (t, i32::from(t == owner))).collect();
    assert_eq!(third, expected, "{}", cluster.logs());
    assert!(!work.join("dataset/late.bin").exists());
    let (_, again) = cluster.run(&work, &script, Some(&owner.to_string()));
    assert_eq!(again, [(owner, 0)].into(), "{}", cluster.logs());
    assert_eq!(
        std::fs::read(work.join("dataset/late.bin")).unwrap(),
        payload(1000, 0)
    );
    assert_eq!(server.request_count(), requests + 2, "only late.bin, twice");

    let left = cluster.stop();
    assert!(left.is_empty(), "left running: {left:?}");
    eprintln!(
        "the Slurm test took {:?} after the cluster was up",
        started.elapsed()
    );
}
