//! Integration tests: the real binary against loopback servers, with real bytes on disk.

mod support;

#[path = "cli/bounded.rs"]
mod bounded;
#[path = "cli/ci.rs"]
mod ci;
#[path = "cli/datasets.rs"]
mod datasets;
#[path = "cli/disk.rs"]
mod disk;
#[path = "cli/display.rs"]
mod display;
#[path = "cli/interrupted.rs"]
mod interrupted;
#[path = "cli/list_format.rs"]
mod list_format;
#[path = "cli/logins.rs"]
mod logins;
#[path = "cli/multiplex.rs"]
mod multiplex;
#[path = "cli/naming.rs"]
mod naming;
#[path = "cli/nginx.rs"]
mod nginx;
#[path = "cli/output.rs"]
mod output;
#[path = "cli/pipeline.rs"]
mod pipeline;
#[path = "cli/proxies.rs"]
mod proxies;
#[path = "cli/report_paths.rs"]
mod report_paths;
#[path = "cli/resilience.rs"]
mod resilience;
#[path = "cli/scale.rs"]
mod scale;
#[path = "cli/schedulers.rs"]
mod schedulers;
#[path = "cli/secrets.rs"]
mod secrets;
#[path = "cli/slurm.rs"]
mod slurm;
#[path = "cli/split.rs"]
mod split;
#[path = "cli/timeline.rs"]
mod timeline;
#[path = "cli/unproven.rs"]
mod unproven;
#[path = "cli/update.rs"]
mod update;
#[path = "cli/versions.rs"]
mod versions;
