//! A download's kit: what one download has to work with, from the run (its policy and the
//! services every worker shares) and from the worker it runs on (its client, name and lane).

use std::cell::Cell;

use super::connections::{Connections, Stream};
use crate::config::Policy;
use crate::progress::Progress;
use crate::throttle::Throttle;
use crate::timeline::Lane;

/// What one download has to work with: the run's policy and services, its worker's client and
/// name, and where it draws and says what its connection is.
pub struct Kit<'a> {
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

impl Kit<'_> {
    /// A `-v` line on stderr, tagged with the worker's name. The line is only made when `-v`
    /// asks for it: its sizes, times and redacted URLs cost allocations on every file.
    pub fn log(&self, message: impl FnOnce() -> String) {
        if self.policy.verbose {
            self.progress
                .println(&format!("[{}] {}", self.name, message()));
        }
    }
}
