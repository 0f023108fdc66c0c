//! Issue 20: `--shard auto` under each scheduler's variables, `--shard-by name`, and the
//! Kubernetes Job and GitLab job of docs/ci-and-clusters.md, run as written there.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use yaml_rust2::{Yaml, YamlLoader};

use crate::support::server::{Reply, Server};
use crate::support::{RunIt, TestEnv, assert_has};
use crate::support::{json, payload};

const FILES: usize = 20;

/// A server of `/data/fNN.bin`, each with bytes of its own.
fn data_server() -> Server {
    Server::start(|req| {
        let name = req.path().trim_start_matches("/data/f");
        match name.trim_end_matches(".bin").parse::<u64>() {
            Ok(i) => Reply::ok(payload(100, i)),
            Err(_) => Reply::status(404),
        }
    })
}

fn data_urls(server: &Server) -> Vec<String> {
    (0..FILES)
        .map(|i| server.url(&format!("/data/f{i:02}.bin")))
        .collect()
}

/// Runs fetchpool in `env` with `args` and the variables `vars` (and no others).
fn run_env(env: &TestEnv, args: &[&str], vars: &[(String, String)]) -> (i32, Vec<String>, String) {
    let mut cmd = env.std_cmd();
    let run = cmd.args(args).envs(vars.iter().map(|(k, v)| (k, v))).run();
    (run.code, run.report, run.stderr)
}

fn vars(pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// Each scheduler's variables for shard `k` of three (as it numbers them), its name in the
/// message on stderr, and the `--shard` to give.
fn scheduler_env(scheduler: &str, k: usize) -> (Vec<(String, String)>, &'static str) {
    let n = 3.to_string();
    match scheduler {
        "kubernetes" => (
            vars(&[("JOB_COMPLETION_INDEX", k.to_string())]),
            "a Kubernetes Indexed Job",
        ),
        // --array=1-5:2 — task IDs 1, 3 and 5.
        "slurm" => (
            vars(&[
                ("SLURM_ARRAY_TASK_ID", (1 + 2 * k).to_string()),
                ("SLURM_ARRAY_TASK_MIN", "1".into()),
                ("SLURM_ARRAY_TASK_MAX", "5".into()),
                ("SLURM_ARRAY_TASK_STEP", "2".into()),
                ("SLURM_ARRAY_TASK_COUNT", n),
                ("SLURM_JOB_ID", "4242".into()),
            ]),
            "a Slurm job array",
        ),
        "aws" => (
            vars(&[
                ("AWS_BATCH_JOB_ARRAY_INDEX", k.to_string()),
                ("AWS_BATCH_JOB_ARRAY_SIZE", n),
            ]),
            "an AWS Batch array job",
        ),
        "google" => (
            vars(&[("BATCH_TASK_INDEX", k.to_string()), ("BATCH_TASK_COUNT", n)]),
            "a Google Cloud Batch job",
        ),
        "gitlab" => (
            vars(&[
                ("CI_NODE_INDEX", (k + 1).to_string()),
                ("CI_NODE_TOTAL", n),
                ("GITLAB_CI", "true".into()),
            ]),
            "a GitLab parallel: job",
        ),
        _ => unreachable!(),
    }
}

#[test]
fn shard_auto_under_every_scheduler_fetches_every_entry_exactly_once() {
    let env = TestEnv::new();
    let server = data_server();
    let list = env.list(&data_urls(&server));
    let list = list.to_str().unwrap();
    for scheduler in ["kubernetes", "slurm", "aws", "google", "gitlab"] {
        for by in ["index", "name"] {
            let out = format!("{scheduler}-{by}");
            // Kubernetes does not export the count: the Job's spec gives it.
            let shard = match scheduler {
                "kubernetes" => "auto/3",
                _ => "auto",
            };
            let args = [
                list,
                "-o",
                &out,
                "--json",
                "--shard",
                shard,
                "--shard-by",
                by,
            ];
            let mut seen = BTreeMap::new();
            for k in 0..3 {
                let (vars, name) = scheduler_env(scheduler, k);
                let (code, stdout, stderr) = run_env(&env, &args, &vars);
                assert_eq!(code, 0, "{scheduler} {by} {k}: {stderr}");
                let said = format!("fetchpool: --shard auto: shard {k}/3 from {name} (");
                assert!(stderr.contains(&said), "{scheduler}: {stderr}");
                assert!(stderr.contains(&vars[0].0), "names what it read: {stderr}");
                for line in stdout.iter().filter(|l| l.contains("\"result\"")) {
                    let v = json(line);
                    assert_eq!(v["status"], "ok", "{line}");
                    let index = v["index"].as_u64().unwrap();
                    assert!(seen.insert(index, k).is_none(), "{index} in two shards");
                }
            }
            assert_eq!(seen.len(), FILES, "{scheduler} {by}: {seen:?}");
            assert_eq!(crate::support::files_below(&env.join(&out)).len(), FILES);
            if by == "index" {
                assert!(seen.iter().all(|(i, k)| *i as usize % 3 == *k));
            } else {
                let shards: BTreeSet<_> = seen.values().collect();
                assert_eq!(shards.len(), 3, "names spread over every shard: {seen:?}");
            }
        }
    }
    // Every file came once: no shard fetched another's.
    assert_eq!(server.request_count(), 5 * 2 * FILES);
}

#[test]
fn shard_auto_without_a_scheduler_or_with_two_is_exit_2_before_any_request() {
    let env = TestEnv::new();
    let server = data_server();
    let list = env.list(&data_urls(&server));
    let list = list.to_str().unwrap();
    let args = [list, "-o", "out", "--shard", "auto"];
    let (code, _, stderr) = run_env(&env, &args, &[]);
    assert_eq!(code, 2);
    for var in [
        "JOB_COMPLETION_INDEX",
        "SLURM_ARRAY_TASK_ID",
        "AWS_BATCH_JOB_ARRAY_INDEX",
        "BATCH_TASK_INDEX",
        "CI_NODE_INDEX",
    ] {
        assert!(stderr.contains(var), "{stderr}");
    }
    let two = vars(&[
        ("JOB_COMPLETION_INDEX", "0".into()),
        ("CI_NODE_INDEX", "1".into()),
        ("CI_NODE_TOTAL", "2".into()),
    ]);
    let (code, _, stderr) = run_env(&env, &args, &two);
    assert_eq!(code, 2);
    assert_has(&stderr, "more than one scheduler");
    // Kubernetes without the count; a count that contradicts the scheduler's.
    let k8s = vars(&[("JOB_COMPLETION_INDEX", "1".into())]);
    let (code, _, stderr) = run_env(&env, &args, &k8s);
    assert_eq!(code, 2);
    assert_has(&stderr, "--shard auto/N");
    let google = vars(&[
        ("BATCH_TASK_INDEX", "1".into()),
        ("BATCH_TASK_COUNT", "3".into()),
    ]);
    let args = [list, "-o", "out", "--shard", "auto/4"];
    let (code, _, stderr) = run_env(&env, &args, &google);
    assert_eq!(code, 2);
    assert_has(&stderr, "says there are 3 shards");
    // Numbers whose arithmetic would wrap (a task COUNT near 2^63 made MIN + STEP * (COUNT-1)
    // come round to MAX), and shard counts no scheduler makes.
    let wrapping = vars(&[
        ("SLURM_ARRAY_TASK_ID", "3".into()),
        ("SLURM_ARRAY_TASK_MIN", "1".into()),
        ("SLURM_ARRAY_TASK_MAX", "1".into()),
        ("SLURM_ARRAY_TASK_STEP", "2".into()),
        ("SLURM_ARRAY_TASK_COUNT", "9223372036854775809".into()),
    ]);
    let args = [list, "-o", "out", "--shard", "auto"];
    let (code, _, stderr) = run_env(&env, &args, &wrapping);
    assert_eq!(code, 2, "{stderr}");
    assert_has(&stderr, "not MIN, MIN+STEP");
    let aws = vars(&[
        ("AWS_BATCH_JOB_ARRAY_INDEX", "2".into()),
        ("AWS_BATCH_JOB_ARRAY_SIZE", "18446744073709551615".into()),
    ]);
    let (code, _, stderr) = run_env(&env, &args, &aws);
    assert_eq!(code, 2, "{stderr}");
    assert_has(&stderr, "more than 10000000");
    let given = [list, "-o", "out", "--shard", "1/18446744073709551615"];
    let (code, _, stderr) = run_env(&env, &given, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(server.request_count(), 0);
    assert!(!env.join("out").exists());
}

/// Which shard of `n` each target lands in, by `by`, as the dry run plans it.
fn shards_of(env: &TestEnv, list: &Path, n: usize, by: &str) -> BTreeMap<String, usize> {
    let mut shard_of = BTreeMap::new();
    for k in 0..n {
        let shard = format!("{k}/{n}");
        let args = [
            list.to_str().unwrap(),
            "--dry-run",
            "--json",
            "--shard",
            &shard,
            "--shard-by",
            by,
        ];
        // Exit 1 from the shard that has the line that is not an entry.
        let (code, stdout, stderr) = run_env(env, &args, &[]);
        assert!(code == 0 || code == 1, "{stderr}");
        for line in stdout.iter().filter(|l| l.contains("\"plan\"")) {
            let plan = json(line);
            let key = match plan["path"].as_str() {
                Some(path) => path.to_string(),
                None => format!("bad line {}", plan["line"]),
            };
            assert!(shard_of.insert(key, k).is_none(), "in two shards: {line}");
        }
    }
    shard_of
}

#[test]
fn shard_by_name_keeps_every_entry_in_its_shard_when_lines_are_inserted() {
    let env = TestEnv::new();
    let urls: Vec<String> = (0..30)
        .map(|i| format!("http://127.0.0.1:9/set/item-{i}.csv"))
        .collect();
    let before = env.list_as("before.txt", &urls);
    let mut edited = urls.clone();
    edited.insert(0, "http://127.0.0.1:9/set/new-first.csv".into());
    edited.insert(15, "http://127.0.0.1:9/set/new-middle.csv".into());
    edited.insert(7, "# a comment, and a line that is not an entry:".into());
    edited.insert(8, "not-a-url".into());
    let after = env.list_as("after.txt", &edited);
    for by in ["name", "index"] {
        let (was, now) = (
            shards_of(&env, &before, 4, by),
            shards_of(&env, &after, 4, by),
        );
        assert_eq!((was.len(), now.len()), (30, 33), "every entry in one shard");
        let moved = was.iter().filter(|(name, k)| now[*name] != **k).count();
        match by {
            "name" => {
                assert_eq!(moved, 0, "{was:?} {now:?}");
                let used: BTreeSet<_> = was.values().collect();
                assert_eq!(used.len(), 4, "30 names spread over 4 shards: {was:?}");
            }
            // What --shard-by name is for: by index, nearly every entry moves.
            _ => assert!(moved > 15, "{moved}"),
        }
    }
}

/// The YAML block of docs/ci-and-clusters.md that starts with the comment `# {name}`, as written.
fn recipe_yaml(name: &str) -> Yaml {
    let readme = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/ci-and-clusters.md"
    ))
    .unwrap();
    let lines: Vec<&str> = readme.lines().collect();
    let start = lines
        .windows(2)
        .position(|w| w[0].trim() == "```yaml" && w[1].trim() == format!("# {name}"))
        .unwrap_or_else(|| panic!("no yaml block '# {name}' in docs/ci-and-clusters.md"));
    let indent = lines[start].len() - lines[start].trim_start().len();
    let block: Vec<&str> = lines[start + 1..]
        .iter()
        .take_while(|l| l.trim() != "```")
        .map(|l| l.get(indent..).unwrap_or(""))
        .collect();
    let mut docs = YamlLoader::load_from_str(&block.join("\n")).unwrap();
    docs.remove(0)
}

fn strings(yaml: &Yaml) -> Vec<String> {
    yaml.as_vec()
        .unwrap_or_else(|| panic!("not a list: {yaml:?}"))
        .iter()
        .map(|v| match v {
            Yaml::String(s) => s.clone(),
            Yaml::Integer(i) => i.to_string(),
            _ => panic!("{v:?}"),
        })
        .collect()
}

/// The exit codes a rule of a `podFailurePolicy` applies to.
fn rule_codes(rules: &[Yaml], action: &str, container: &str) -> Vec<i32> {
    let rule = rules
        .iter()
        .find(|r| r["action"].as_str() == Some(action))
        .unwrap_or_else(|| panic!("no {action} rule"));
    let on = &rule["onExitCodes"];
    assert_eq!(on["containerName"].as_str(), Some(container));
    assert_eq!(on["operator"].as_str(), Some("In"));
    strings(&on["values"])
        .iter()
        .map(|v| v.parse().unwrap())
        .collect()
}

#[test]
fn the_readmes_kubernetes_indexed_job_runs_as_written() {
    let job = recipe_yaml("fetch-dataset.yaml");
    let spec = &job["spec"];
    assert_eq!(job["kind"].as_str(), Some("Job"));
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    let completions = spec["completions"].as_i64().unwrap() as usize;
    assert!(spec["backoffLimitPerIndex"].as_i64().unwrap() >= 1);
    let pod = &spec["template"]["spec"];
    // What backoffLimitPerIndex and a podFailurePolicy require.
    assert_eq!(pod["restartPolicy"].as_str(), Some("Never"));
    let container = &pod["containers"][0];
    let name = container["name"].as_str().unwrap();
    let rules = spec["podFailurePolicy"]["rules"].as_vec().unwrap();
    let (fail_index, count) = (
        rule_codes(rules, "FailIndex", name),
        rule_codes(rules, "Count", name),
    );
    assert!(rules.iter().any(|r| r["action"].as_str() == Some("Ignore")
        && r["onPodConditions"][0]["type"].as_str() == Some("DisruptionTarget")));
    let mounts: Vec<&str> = container["volumeMounts"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    let args = strings(&container["args"]);
    assert!(args.contains(&format!("auto/{completions}")), "{args:?}");

    // The pods, one after another: the list and the volume are this test's.
    let env = TestEnv::new();
    let broken = Arc::new(AtomicBool::new(true));
    let server = {
        let broken = Arc::clone(&broken);
        Server::start(move |req| match req.path() {
            "/data/f05.bin" if broken.load(Ordering::SeqCst) => Reply::status(404),
            path => match path
                .trim_start_matches("/data/f")
                .trim_end_matches(".bin")
                .parse()
            {
                Ok(i) => Reply::ok(payload(100, i)),
                Err(_) => Reply::status(404),
            },
        })
    };
    let list = env.list(&data_urls(&server));
    let data = env.join("data");
    let args: Vec<String> = args
        .iter()
        .map(|arg| {
            if arg.starts_with(mounts[0]) {
                // The list, in the ConfigMap's volume.
                list.to_str().unwrap().to_string()
            } else if arg == mounts[1] {
                data.to_str().unwrap().to_string()
            } else {
                arg.clone()
            }
        })
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let pod = |index: usize| {
        let pod = vars(&[("JOB_COMPLETION_INDEX", index.to_string())]);
        run_env(&env, &args, &pod)
    };
    let failing = 5 % completions;
    for index in 0..completions {
        let (code, _, stderr) = pod(index);
        let expected = if index == failing { count[0] } else { 0 };
        assert_eq!(code, expected, "index {index}: {stderr}");
        assert!(
            stderr.contains(&format!("JOB_COMPLETION_INDEX={index}")),
            "{stderr}"
        );
    }
    // Exit 1 is a Count: Kubernetes runs that index again. Now the server has the file; the
    // new pod skips what the last one finished.
    broken.store(false, Ordering::SeqCst);
    let requests = server.request_count();
    let (code, stdout, stderr) = pod(failing);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        server.request_count(),
        requests + 1,
        "only the missing file"
    );
    assert!(
        stdout.iter().any(|l| l.starts_with("skipped")),
        "{stdout:?}"
    );
    for i in 0..FILES {
        let got = std::fs::read(data.join(format!("f{i:02}.bin"))).unwrap();
        assert_eq!(got, payload(100, i as u64));
    }
    assert_eq!(crate::support::files_below(&data).len(), FILES);
    // Exit 2 is a FailIndex: what running again does not mend, like a pod of another Job
    // without the index, or a list that is not there.
    assert_eq!(run_env(&env, &args, &[]).0, fail_index[0]);
    let (code, _, _) = run_env(
        &env,
        &[&["/nonexistent/urls.txt"], &args[1..]].concat(),
        &vars(&[("JOB_COMPLETION_INDEX", "0".into())]),
    );
    assert_eq!(code, fail_index[0]);
}

#[test]
fn the_readmes_gitlab_parallel_job_runs_as_written() {
    let ci = recipe_yaml(".gitlab-ci.yml");
    let job = &ci["fetch-dataset"];
    let parallel = job["parallel"].as_i64().unwrap() as usize;
    let script = strings(&job["script"]);
    let words: Vec<&str> = script[0].split_whitespace().collect();
    assert_eq!(words[0], "fetchpool");
    assert!(!script[0].contains(['"', '\'', '$']), "{script:?}");
    let junit = job["artifacts"]["reports"]["junit"].as_str().unwrap();
    let kept = strings(&job["artifacts"]["paths"]);

    let server = data_server();
    let mut fetched = BTreeMap::new();
    let mut cases = 0;
    for node in 1..=parallel {
        // Each job has a checkout of its own, with the list in it.
        let checkout = TestEnv::new();
        checkout.list(&data_urls(&server));
        let job = vars(&[
            ("CI", "true".into()),
            ("GITLAB_CI", "true".into()),
            ("CI_NODE_INDEX", node.to_string()),
            ("CI_NODE_TOTAL", parallel.to_string()),
        ]);
        let (code, _, stderr) = run_env(&checkout, &words[1..], &job);
        assert_eq!(code, 0, "job {node}: {stderr}");
        let said = format!("shard {}/{parallel} from a GitLab parallel: job", node - 1);
        assert!(stderr.contains(&said), "{stderr}");
        for path in &kept {
            for file in crate::support::files_below(&checkout.join(path)) {
                assert!(fetched.insert(file.clone(), node).is_none(), "{file} twice");
            }
        }
        let report = checkout.text(junit);
        let doc = roxmltree::Document::parse(&report).unwrap();
        cases += doc
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .count();
    }
    assert_eq!(fetched.len(), FILES, "{fetched:?}");
    assert_eq!(
        cases, FILES,
        "one testcase per entry across the jobs' reports"
    );
    assert_eq!(server.request_count(), FILES);
}
