//! One entry, start to finish, on one worker: decide what to do about an existing target, then
//! attempt the download (request, body, verify, place: `transfer`), retrying failures that may
//! pass. Each worker is an [`Worker`]: its own current-thread runtime and its own HTTP client,
//! driven with `block_on` on the worker's thread, so no other thread stands between the socket
//! and the file.
//!
//! A failure is data (an [`Outcome`] that ended `Failed`), never a panic; no failure leaves a
//! file at the target name, and the `.part` it created is removed (kept for `--continue`).

mod answer;
mod attempts;
mod body;
mod connections;
mod disk;
mod finish;
mod held;
mod kit;
mod limits;
mod pin;
mod plan;
mod proxy;
mod request;
mod resolve;
mod retry;
mod runtime;
mod small;
mod split;
mod tls;
mod transfer;
mod validators;
mod verify;

use std::cell::Cell;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use reqwest::Url;

use connections::Connections;
pub use connections::{Handshakes, Stream};
use disk::{at, place, root};
use held::Held;
use kit::Kit;
pub use plan::Planner;
use resolve::Resolver;
use retry::Failure;
pub use small::fetch_small;
pub use split::{Board, Split};
use transfer::Attempt;

use crate::config::Policy;
use crate::entry::Entry;
use crate::outcome::{Ending, Outcome, Served};
use crate::progress::Progress;
use crate::redact::redact_url;
use crate::throttle::Throttle;
use crate::timeline::{Lane, Timeline};
use crate::units::human_bytes;

/// What every worker of a run shares.
pub struct Shared<'a> {
    policy: &'a Policy,
    progress: &'a Progress,
    throttle: Throttle,
    tls: rustls::ClientConfig,
    /// Host names, resolved for every worker by a few shared threads.
    resolver: Arc<Resolver>,
    root: at::Dir,
    /// `--split` in a pool: where split downloads show their pieces to idle workers.
    board: Option<Board<Split>>,
    /// `--timeline`: where workers record what they did.
    timeline: Option<&'a Timeline>,
}

impl<'a> Shared<'a> {
    /// `throttle` keeps the run's bandwidth cap and each host's turns and pauses; `timeline`
    /// records what every worker does, for `--timeline`.
    pub fn new(
        policy: &'a Policy,
        progress: &'a Progress,
        throttle: Throttle,
        timeline: Option<&'a Timeline>,
    ) -> anyhow::Result<Shared<'a>> {
        Ok(Shared {
            policy,
            progress,
            throttle,
            tls: tls::tls_config(&policy.tls)?,
            resolver: Arc::default(),
            root: root::open_root(&policy.output_dir)?,
            board: None,
            timeline,
        })
    }

    /// Lets split downloads show their pieces to the `workers` of a pool, who look on the
    /// board when idle: with `--split`, or a list whose entries may say `split=`. Without it
    /// (`--serial`, or nothing that asks for ranges), the owner fetches every piece itself.
    pub fn with_board(&mut self, workers: usize, list_may_split: bool) {
        if self.policy.split >= 2 || list_may_split {
            self.board = Some(Board::new(workers));
        }
    }

    pub fn throttle(&self) -> &Throttle {
        &self.throttle
    }

    /// The board idle workers look on, when pieces may be shown there.
    pub fn board(&self) -> Option<&Board<Split>> {
        self.board.as_ref()
    }
}

/// One worker's means to download: a runtime of its own and the client whose connections live
/// on it (a connection belongs to the runtime that opened it).
pub struct Worker<'a> {
    shared: &'a Shared<'a>,
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
    name: String,
    /// Its row of the `--timeline` picture.
    lane: Option<Lane<'a>>,
    row: usize,
    /// What its client knows of its connections: which may carry several downloads at once.
    connections: Connections,
}

impl<'a> Worker<'a> {
    /// An worker called `name` in logs and progress (`worker-3`, `serial`), drawn on row `row`
    /// of the `--timeline` picture.
    pub fn new(shared: &'a Shared<'a>, row: usize, name: String) -> anyhow::Result<Worker<'a>> {
        let connections = Connections::default();
        let (runtime, client) = runtime::runtime_and_client(
            shared.policy,
            &shared.tls,
            &shared.resolver,
            &connections.handshakes,
        )
        .with_context(|| format!("cannot start {name}"))?;
        Ok(Worker {
            shared,
            runtime,
            client,
            name,
            lane: shared.timeline.map(|t| t.lane(row)),
            row,
            connections,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its row of the `--timeline` picture, when one is drawn.
    pub fn lane(&self) -> Option<&Lane<'a>> {
        self.lane.as_ref()
    }

    /// A lane of its own for one of several downloads in flight on this worker: line `sub` of
    /// its row of the picture.
    pub fn sub_lane(&self, sub: usize) -> Option<Lane<'a>> {
        let timeline = self.shared.timeline?;
        Some(timeline.lane(self.row).within(sub))
    }

    fn kit(&self) -> Kit<'_> {
        Kit {
            policy: self.shared.policy,
            progress: self.shared.progress,
            throttle: &self.shared.throttle,
            client: &self.client,
            name: &self.name,
            lane: self.lane.as_ref(),
            connections: None,
        }
    }

    /// What a download of `url` starting now may count on its connection to be.
    pub fn stream_of(&self, url: &Url) -> Stream {
        self.connections.starting(url)
    }

    /// The connection a download of `url` waited for chose HTTP/2 in its handshake.
    pub fn handshook(&self, url: &Url) {
        self.connections.handshook(url);
    }

    /// The handshakes this worker's client has made, counted as they end, and rung on.
    pub fn handshakes(&self) -> &Handshakes {
        &self.connections.handshakes
    }

    /// Downloads `entry` as a future on this worker's runtime, one of several a worker may keep
    /// in flight there: `stream` is where it says what its connection is. Driven by
    /// [`Worker::block_on`].
    pub async fn download(
        &self,
        entry: &Entry,
        slot: Option<&dyn HostSlot>,
        stream: &Cell<Stream>,
        lane: Option<&Lane<'_>>,
    ) -> Outcome {
        let kit = Kit {
            connections: Some((&self.connections, stream)),
            lane,
            ..self.kit()
        };
        let (board, root) = (self.shared.board.as_ref(), &self.shared.root);
        fetch(entry, &kit, root, board, slot).await
    }

    /// Drives `future` (downloads started with [`Worker::download`]) on this worker's runtime,
    /// on the calling thread, until it is done.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Downloads `entry` on the calling thread; `slot` is the `--per-host` slot it holds, if
    /// any, which moves with it to a mirror's host.
    pub fn fetch(&self, entry: &Entry, slot: Option<&dyn HostSlot>) -> Outcome {
        let board = self.shared.board.as_ref();
        let root = &self.shared.root;
        // Boxed: `block_on` moves its future by value down several frames, and every worker's
        // stack keeps the pages that once held it (4 KiB a worker at -j 1024).
        self.runtime
            .block_on(Box::pin(fetch(entry, &self.kit(), root, board, slot)))
    }

    /// Fetches pieces of another worker's split download on the calling thread, while there
    /// are pieces left to take.
    pub fn help(&self, split: &Split) {
        self.runtime
            .block_on(Box::pin(split::help(split, &self.kit())));
    }
}

/// The entry's URL (`0`) or its mirror number `i`.
fn listed(entry: &Entry, i: usize) -> &Url {
    match i {
        0 => &entry.url,
        i => &entry.options.mirrors[i - 1],
    }
}

/// `--per-host` as one running entry sees it: the slot its download holds on a host.
pub trait HostSlot {
    /// The download moves to `url` (a mirror): its slot on the host it was on is given back,
    /// and one on `url`'s host taken if one is free; false if none is (it then holds none, and
    /// asks again).
    fn try_move_to(&self, url: &Url) -> bool;
}

async fn fetch(
    entry: &Entry,
    kit: &Kit<'_>,
    root: &at::Dir,
    board: Option<&Board<Split>>,
    slot: Option<&dyn HostSlot>,
) -> Outcome {
    let started = Instant::now();
    let output_dir = kit.policy.output_dir.as_path();
    let mut spot = match prepare(entry, kit.policy, root) {
        Ok(spot) => spot,
        Err(ending) => return Outcome::of(entry, output_dir, 0, started.elapsed(), ending),
    };
    let task = kit.progress.start(kit.name, &entry.target);
    let job = Attempt {
        entry,
        url: &entry.url,
        kit,
        task: &task,
        board,
    };
    // What is on disk, and of which version: kept from attempt to attempt (and from a URL to
    // its mirrors), so a retry asks only for the rest. Dropped, it removes the .part of a
    // failed download (kept for -c).
    let mut held = Held::new(entry, kit.policy.digest);
    let attempts::Tried {
        attempts,
        result,
        at: which,
    } = attempts::every_url(job, slot, &mut spot, &mut held).await;
    drop(held);
    let url = listed(entry, which);
    let received = task.received();
    drop(task);
    let served = result.is_ok().then(|| match which {
        0 => Served::Own,
        _ => Served::Mirror(redact_url(url.as_str())),
    });
    let ending = ending(kit, url, entry, &spot, result, started);
    Outcome::of(entry, output_dir, attempts, started.elapsed(), ending)
        .with_received(received)
        .with_served_by(served)
}

/// Where the entry goes and what to do about a target already there, before any request: the
/// spot to download to, or how the entry ends without one (skipped, unchanged, failed).
fn prepare(entry: &Entry, policy: &Policy, root: &at::Dir) -> Result<place::Spot, Ending> {
    match place::existing(root, policy, entry) {
        Ok((place::Existing::Absent, spot)) => Ok(spot),
        Ok((place::Existing::Replace, mut spot)) => {
            spot.replace = true;
            Ok(spot)
        }
        Ok((place::Existing::Revalidate(validators), mut spot)) => {
            spot.replace = true;
            spot.revalidate = Some(validators);
            Ok(spot)
        }
        Ok((place::Existing::Unchanged { bytes }, _)) => Err(Ending::Unchanged {
            http_status: None,
            bytes,
        }),
        Ok((place::Existing::Skip { bytes }, _)) => Err(Ending::Skipped {
            bytes,
            note: "already exists".into(),
        }),
        Err(error) => Err(Ending::Failed {
            http_status: None,
            error: format!("{error:#}"),
            brief: None,
            relist: entry.list_line(),
        }),
    }
}

/// How the entry ended, as the report shows it and `-v` logs it.
fn ending(
    kit: &Kit<'_>,
    url: &Url,
    entry: &Entry,
    spot: &place::Spot,
    result: Result<transfer::Ending, Failure>,
    started: Instant,
) -> Ending {
    let url = || redact_url(url.as_str());
    let shown = spot.shown.display();
    match result {
        Ok(transfer::Ending::Unchanged { bytes }) => {
            kit.log(|| format!("304 {}: {shown} is unchanged", url()));
            Ending::Unchanged {
                http_status: Some(304),
                bytes,
            }
        }
        Ok(transfer::Ending::Saved(saved)) => {
            kit.log(|| {
                let (size, secs) = (human_bytes(saved.bytes), started.elapsed().as_secs_f64());
                let status = saved.http_status;
                format!("{status} {} -> {shown} ({size}, {secs:.2}s)", url())
            });
            Ending::Ok {
                http_status: saved.http_status,
                bytes: saved.bytes,
                sha256: saved.sha256,
                length_unverified: saved.length_unverified,
            }
        }
        Err(failure) => {
            kit.log(|| format!("failed {}: {:#}", url(), failure.error));
            Ending::Failed {
                http_status: failure.http_status,
                error: format!("{:#}", failure.error),
                brief: failure.brief,
                relist: entry.list_line(),
            }
        }
    }
}
