//! One worker as its downloads see it: the run's policy and the services every worker shares,
//! with the worker's own client and name.

use std::cell::Cell;

use super::connections::{Connections, Stream};
use crate::config::Policy;
use crate::progress::Progress;
use crate::throttle::Throttle;
use crate::timeline::Lane;

/// One worker as its downloads see it.
pub struct Worker<'a> {
    pub policy: &'a Policy,
    pub progress: &'a Progress,
    pub throttle: &'a Throttle,
    /// This worker's client: its connections live on this worker's runtime.
    pub client: &'a reqwest::Client,
    /// `worker-3`, or `serial`: how logs and progress name it.
    pub name: &'a str,
    /// Its row of the `--timeline` picture, when one is drawn.
    pub lane: Option<&'a Lane<'a>>,
    /// Where a download that shares its worker with others learns and says what its connection
    /// is (HTTP/2 or not): the worker's knowledge of its connections, and the download's own.
    pub connections: Option<(&'a Connections, &'a Cell<Stream>)>,
}

impl Worker<'_> {
    /// A `-v` line on stderr, tagged with the worker's name. The line is only made when `-v`
    /// asks for it: its sizes, times and redacted URLs cost allocations on every file.
    pub fn log(&self, message: impl FnOnce() -> String) {
        if self.policy.verbose {
            self.progress
                .println(&format!("[{}] {}", self.name, message()));
        }
    }
}
