//! `--shard auto`: which share of the list this process handles, read from the variables the
//! scheduler that started it sets: a Kubernetes Indexed Job, a Slurm job array, an AWS Batch
//! array job, a Google Cloud Batch task group, or GitLab CI's `parallel:`.

use crate::list::MAX_SHARDS;
use crate::printable::printable;

/// The shard a scheduler gave this process, and how it was worked out, for stderr.
#[derive(Debug, PartialEq, Eq)]
pub struct Assigned {
    /// 0-based.
    pub k: usize,
    pub n: usize,
    /// `shard 2/8 from a Slurm job array (SLURM_ARRAY_TASK_ID=5, ...)`.
    pub said: String,
}

/// What one scheduler's variables say, when they are set.
struct Reading {
    scheduler: &'static str,
    /// 0-based.
    k: usize,
    /// The shard count, where the scheduler exports it.
    n: Option<usize>,
    /// The variables read, as `NAME=value`.
    used: Vec<String>,
}

/// Each scheduler this knows: its name in messages, the variable whose presence says it started
/// the process, and how to read it.
const SCHEDULERS: &[(&str, &str, Read)] = &[
    (
        "a Kubernetes Indexed Job",
        "JOB_COMPLETION_INDEX",
        kubernetes,
    ),
    ("a Slurm job array", "SLURM_ARRAY_TASK_ID", slurm),
    (
        "an AWS Batch array job",
        "AWS_BATCH_JOB_ARRAY_INDEX",
        aws_batch,
    ),
    ("a Google Cloud Batch job", "BATCH_TASK_INDEX", google_batch),
    ("a GitLab parallel: job", "CI_NODE_INDEX", gitlab),
];

type Read = fn(&Vars) -> Result<(usize, Option<usize>), String>;

/// The shard from the environment; `count` is N of `--shard auto/N`, which must agree with the
/// scheduler's own count where it exports one. Every error is the run's usage error (exit 2).
pub fn from_env(
    count: Option<usize>,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Assigned, String> {
    let started: Vec<_> = SCHEDULERS
        .iter()
        .filter(|(_, marker, _)| var(marker).is_some())
        .collect();
    let (scheduler, _, read) = match started[..] {
        [one] => one,
        [] => {
            let markers: Vec<&str> = SCHEDULERS.iter().map(|(_, marker, _)| *marker).collect();
            return Err(format!(
                "--shard auto: no scheduler's variables are set (looked for {}); give the \
                 shard as --shard K/N",
                markers.join(", ")
            ));
        }
        _ => {
            let found: Vec<String> = started
                .iter()
                .map(|(scheduler, marker, _)| format!("{scheduler} ({marker})"))
                .collect();
            return Err(format!(
                "--shard auto: the variables of more than one scheduler are set: {}; give the \
                 shard as --shard K/N",
                found.join(" and ")
            ));
        }
    };
    let vars = Vars {
        var,
        used: Default::default(),
    };
    let (k, n) = read(&vars).map_err(|e| format!("--shard auto: {scheduler}: {e}"))?;
    let reading = Reading {
        scheduler,
        k,
        n,
        used: vars.used.into_inner(),
    };
    settle(reading, count)
}

/// The shard a reading and `--shard auto/N` make together.
fn settle(reading: Reading, count: Option<usize>) -> Result<Assigned, String> {
    let Reading {
        scheduler,
        k,
        n,
        used,
    } = reading;
    let (n, counted) = match (n, count) {
        (Some(theirs), Some(ours)) if theirs != ours => {
            return Err(format!(
                "--shard auto/{ours}: {scheduler} says there are {theirs} shards ({})",
                used.join(", ")
            ));
        }
        (Some(theirs), _) => (theirs, ""),
        (None, Some(ours)) => (ours, " and --shard auto/N"),
        (None, None) => {
            return Err(format!(
                "--shard auto: {scheduler} ({}) does not say how many shards there are: give \
                 the count as --shard auto/N",
                used.join(", ")
            ));
        }
    };
    if n > MAX_SHARDS {
        return Err(format!(
            "--shard auto: {scheduler} says there are {n} shards, more than {MAX_SHARDS} (more \
             than any scheduler starts): give the shard as --shard K/N ({})",
            used.join(", ")
        ));
    }
    if k >= n {
        return Err(format!(
            "--shard auto: {scheduler}: shard {k} (0-based) of {n} does not exist ({})",
            used.join(", ")
        ));
    }
    Ok(Assigned {
        k,
        n,
        said: format!(
            "--shard auto: shard {k}/{n} from {scheduler} ({}{counted})",
            used.join(", ")
        ),
    })
}

/// The environment, remembering what was read.
struct Vars<'a> {
    var: &'a dyn Fn(&str) -> Option<String>,
    used: std::cell::RefCell<Vec<String>>,
}

impl Vars<'_> {
    /// A whole number, when the variable is set.
    fn number(&self, name: &str) -> Result<Option<usize>, String> {
        let Some(value) = (self.var)(name) else {
            return Ok(None);
        };
        let shown = printable(&value).into_owned();
        self.used.borrow_mut().push(format!("{name}={shown}"));
        value
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{name}='{shown}' is not a whole number"))
    }

    fn required(&self, name: &str) -> Result<usize, String> {
        self.number(name)?
            .ok_or_else(|| format!("{name} is not set"))
    }
}

/// `JOB_COMPLETION_INDEX`, 0-based; Kubernetes does not export the Job's completions.
fn kubernetes(vars: &Vars) -> Result<(usize, Option<usize>), String> {
    Ok((vars.required("JOB_COMPLETION_INDEX")?, None))
}

/// `SLURM_ARRAY_TASK_ID` in an array `--array=MIN-MAX:STEP` of COUNT tasks. IDs need not start
/// at 0; an array given as a list of IDs that are not evenly spaced (`--array=1,2,7`) cannot be
/// numbered from the variables, and is refused.
fn slurm(vars: &Vars) -> Result<(usize, Option<usize>), String> {
    let id = vars.required("SLURM_ARRAY_TASK_ID")?;
    let min = vars.required("SLURM_ARRAY_TASK_MIN")?;
    let max = vars.required("SLURM_ARRAY_TASK_MAX")?;
    let step = vars.number("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
    let count = vars.required("SLURM_ARRAY_TASK_COUNT")?;
    let last = step.checked_mul(count.saturating_sub(1));
    let evenly = count > 0 && last.and_then(|last| min.checked_add(last)) == Some(max);
    if !evenly || id < min || (id - min) % step != 0 {
        return Err(format!(
            "the array's task IDs are not MIN, MIN+STEP, ... MAX (COUNT of them), so this task's \
             place among them is unknown: give the shard as --shard K/N ({})",
            vars.used.borrow().join(", ")
        ));
    }
    Ok(((id - min) / step, Some(count)))
}

/// `AWS_BATCH_JOB_ARRAY_INDEX`, 0-based, of `AWS_BATCH_JOB_ARRAY_SIZE`.
fn aws_batch(vars: &Vars) -> Result<(usize, Option<usize>), String> {
    let k = vars.required("AWS_BATCH_JOB_ARRAY_INDEX")?;
    Ok((k, vars.number("AWS_BATCH_JOB_ARRAY_SIZE")?))
}

/// `BATCH_TASK_INDEX`, 0-based, of `BATCH_TASK_COUNT`.
fn google_batch(vars: &Vars) -> Result<(usize, Option<usize>), String> {
    let k = vars.required("BATCH_TASK_INDEX")?;
    Ok((k, vars.number("BATCH_TASK_COUNT")?))
}

/// `CI_NODE_INDEX`, 1-based, of `CI_NODE_TOTAL`.
fn gitlab(vars: &Vars) -> Result<(usize, Option<usize>), String> {
    let index = vars.required("CI_NODE_INDEX")?;
    let total = vars.required("CI_NODE_TOTAL")?;
    match index.checked_sub(1) {
        Some(k) => Ok((k, Some(total))),
        None => Err("CI_NODE_INDEX=0: GitLab counts its jobs from 1".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)], count: Option<usize>) -> Result<Assigned, String> {
        let env = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        from_env(count, &env)
    }

    fn shard(vars: &[(&str, &str)], count: Option<usize>) -> (usize, usize) {
        let found = with(vars, count).unwrap();
        (found.k, found.n)
    }

    #[test]
    fn every_scheduler_numbers_its_shards_from_zero() {
        assert_eq!(shard(&[("JOB_COMPLETION_INDEX", "3")], Some(4)), (3, 4));
        let slurm = [
            ("SLURM_ARRAY_TASK_ID", "7"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_MAX", "9"),
            ("SLURM_ARRAY_TASK_STEP", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "5"),
        ];
        assert_eq!(shard(&slurm, None), (3, 5));
        assert_eq!(shard(&slurm, Some(5)), (3, 5));
        let aws = [
            ("AWS_BATCH_JOB_ARRAY_INDEX", "0"),
            ("AWS_BATCH_JOB_ARRAY_SIZE", "10"),
        ];
        assert_eq!(shard(&aws, None), (0, 10));
        let google = [("BATCH_TASK_INDEX", "9"), ("BATCH_TASK_COUNT", "10")];
        assert_eq!(shard(&google, None), (9, 10));
        let gitlab = [("CI_NODE_INDEX", "1"), ("CI_NODE_TOTAL", "3")];
        assert_eq!(shard(&gitlab, None), (0, 3));
        let said = with(&gitlab, None).unwrap().said;
        assert_eq!(
            said,
            "--shard auto: shard 0/3 from a GitLab parallel: job (CI_NODE_INDEX=1, CI_NODE_TOTAL=3)"
        );
    }

    #[test]
    fn what_cannot_be_worked_out_is_refused() {
        let none = with(&[("CI_NODE_TOTAL", "1")], None).unwrap_err();
        assert!(none.contains("no scheduler's variables are set"), "{none}");
        let count = with(&[("JOB_COMPLETION_INDEX", "3")], None).unwrap_err();
        assert!(count.contains("--shard auto/N"), "{count}");
        let past = with(&[("JOB_COMPLETION_INDEX", "4")], Some(4)).unwrap_err();
        assert!(
            past.contains("shard 4 (0-based) of 4 does not exist"),
            "{past}"
        );
        let disagree = with(
            &[("BATCH_TASK_INDEX", "1"), ("BATCH_TASK_COUNT", "3")],
            Some(4),
        );
        assert!(disagree.unwrap_err().contains("says there are 3 shards"));
        let both = with(
            &[("JOB_COMPLETION_INDEX", "1"), ("CI_NODE_INDEX", "1")],
            Some(2),
        );
        assert!(both.unwrap_err().contains("more than one scheduler"));
        let listed = [
            ("SLURM_ARRAY_TASK_ID", "7"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_MAX", "7"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ];
        assert!(
            with(&listed, None)
                .unwrap_err()
                .contains("not MIN, MIN+STEP")
        );
        let bad = with(
            &[("CI_NODE_INDEX", "one\x1b"), ("CI_NODE_TOTAL", "2")],
            None,
        );
        assert!(
            bad.unwrap_err()
                .contains("CI_NODE_INDEX='one\\x1b' is not a whole number")
        );
        let zero = with(&[("CI_NODE_INDEX", "0"), ("CI_NODE_TOTAL", "2")], None);
        assert!(zero.unwrap_err().contains("from 1"));
        // Numbers whose arithmetic would wrap, and counts no scheduler makes.
        let wrapping = [
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_MAX", "1"),
            ("SLURM_ARRAY_TASK_STEP", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "9223372036854775809"),
        ];
        assert!(
            with(&wrapping, None)
                .unwrap_err()
                .contains("not MIN, MIN+STEP")
        );
        let huge = [
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_MAX", "9223372036854775807"),
            ("SLURM_ARRAY_TASK_COUNT", "9223372036854775808"),
        ];
        assert!(
            with(&huge, None)
                .unwrap_err()
                .contains("more than 10000000")
        );
        let aws = [
            ("AWS_BATCH_JOB_ARRAY_INDEX", "0"),
            ("AWS_BATCH_JOB_ARRAY_SIZE", "18446744073709551615"),
        ];
        assert!(with(&aws, None).unwrap_err().contains("more than 10000000"));
    }
}
