//! A loopback HTTP/1.1 server for tests, on a std `TcpListener` so that byte-level faults (a body
//! cut short, a reset, a stall) are under the test's control. Binds 127.0.0.1:0 only.
//!
//! Each connection gets a thread; requests on it are answered in turn (keep-alive). The server
//! counts requests and the most it had in flight at once, and records every request's headers.
//! Every answer carries a `Date`, as a real server's does (a handler may set its own).

#![allow(dead_code)] // each test binary that includes this uses a different part of it

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    /// When the request arrived.
    pub at: std::time::Instant,
}

impl Request {
    /// The path without the query string.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How the body goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// With a correct Content-Length.
    Full,
    /// Content-Length of the whole body, but only this many bytes, then the connection closes.
    Truncated(usize),
    /// No Content-Length; the connection closes after the body.
    Unframed,
    /// `Transfer-Encoding: chunked`, the whole body in chunks of 16 KiB, properly ended.
    Chunked,
    /// Content-Length of the whole body, this many bytes, then a TCP reset (RST).
    Reset(usize),
    /// `Transfer-Encoding: chunked`, this many bytes in one chunk, then a close without the
    /// terminating chunk.
    ChunkedCut(usize),
    /// Content-Length of the whole body, this many bytes, then silence for a minute.
    Stall(usize),
    /// Content-Length of the whole body, sent one byte at a time with this pause in between.
    Drip(Duration),
    /// No Content-Length, and the body never ends (until the client hangs up).
    Endless,
    /// This Content-Length is announced, and the connection closes without a body.
    Announce(u64),
    /// With a correct Content-Length, at most this many bytes per second on this connection
    /// (a CDN's per-connection cap); the connection stays open.
    Paced(u64),
}

/// What the handler wants sent back.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long before the status line.
    pub delay: Duration,
    pub framing: Body,
}

impl Reply {
    pub fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status: 200,
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
            framing: Body::Full,
        }
    }

    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            ..Reply::ok(format!("status {status} body: never save this\n"))
        }
    }

    pub fn delay(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn framing(mut self, framing: Body) -> Reply {
        self.framing = framing;
        self
    }

    /// Serves `body` honouring a `Range: bytes=N-` or `bytes=N-M` request as a real server
    /// would: 206 with Content-Range, or 416 with `bytes */LEN` when N is at or past the end.
    pub fn ranged(req: &Request, body: &[u8]) -> Reply {
        match byte_range(req) {
            None => Reply::ok(body.to_vec()),
            Some((n, _)) if n >= body.len() => {
                Reply::status(416).header("Content-Range", &format!("bytes */{}", body.len()))
            }
            Some((n, last)) => {
                let last = last.unwrap_or(usize::MAX).min(body.len() - 1);
                Reply {
                    status: 206,
                    ..Reply::ok(body[n..=last].to_vec())
                }
                .header("Content-Range", &format!("bytes {n}-{last}/{}", body.len()))
            }
        }
    }
}

impl Reply {
    /// [`Reply::ranged`] for one version of a file, as nginx serves it: its ETag on every
    /// answer, and a range tied by `If-Range` to another version answered with the whole file.
    pub fn versioned(req: &Request, body: &[u8], etag: &str) -> Reply {
        let stale = req.header("if-range").is_some_and(|v| v != etag);
        let reply = if stale {
            Reply::ok(body.to_vec())
        } else {
            Reply::ranged(req, body)
        };
        reply.header("ETag", etag).header("Accept-Ranges", "bytes")
    }
}

/// The request's `Range: bytes=FIRST-[LAST]`, if it has one.
pub fn byte_range(req: &Request) -> Option<(usize, Option<usize>)> {
    let (first, last) = req
        .header("range")?
        .strip_prefix("bytes=")?
        .split_once('-')?;
    let last = match last {
        "" => None,
        n => Some(n.parse().ok()?),
    };
    Some((first.parse().ok()?, last))
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

struct State {
    handler: Box<Handler>,
    requests: Mutex<Vec<Request>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    stopped: AtomicBool,
}

/// A running test server; it stops accepting when dropped.
pub struct Server {
    addr: SocketAddr,
    state: Arc<State>,
}

impl Server {
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
        Server::start_on(0, handler)
    }

    /// [`Server::start`] on 127.0.0.1:`port` (0: any free port), for servers that must know
    /// each other's ports before both are up.
    pub fn start_on(
        port: u16,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            handler: Box::new(handler),
            requests: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
        });
        let accept_state = Arc::clone(&state);
        thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_state.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let state = Arc::clone(&accept_state);
                thread::spawn(move || serve(stream, &state));
            }
        });
        Server { addr, state }
    }

    /// Serves `files` (path → bytes) with a correct Content-Length; anything else is a 404.
    /// One body at every path, with Range requests honoured (206, or 416 past the end).
    pub fn ranged(body: &[u8]) -> Server {
        let body = body.to_vec();
        Server::start(move |req| Reply::ranged(req, &body))
    }

    /// One version of one body at every path: [`Reply::versioned`].
    pub fn versioned(body: &[u8], etag: &str) -> Server {
        let (body, etag) = (body.to_vec(), etag.to_string());
        Server::start(move |req| Reply::versioned(req, &body, &etag))
    }

    pub fn files(files: HashMap<String, Vec<u8>>) -> Server {
        Server::start(move |req| match files.get(req.path()) {
            Some(body) => Reply::ok(body.clone()),
            None => Reply::status(404),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.requests.lock().unwrap().clone()
    }

    /// The ranges asked for so far (`Range: bytes=FIRST-[LAST]`), in the order they were asked.
    pub fn ranges(&self) -> Vec<(usize, Option<usize>)> {
        self.requests().iter().filter_map(byte_range).collect()
    }

    /// The target (path and query) of every request so far, in order.
    pub fn targets(&self) -> Vec<String> {
        self.requests().iter().map(|r| r.target.clone()).collect()
    }

    /// The header `name` of every request so far, in order: `-` where a request had none.
    pub fn sent(&self, name: &str) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| r.header(name).unwrap_or("-").to_string())
            .collect()
    }

    pub fn request_count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }

    /// The most requests that were being answered at one time.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(stream: TcpStream, state: &State) {
    // Head and body go out in separate writes; without this, Nagle's algorithm and the client's
    // delayed ACK add 40 ms to every response.
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut stream = stream;
    loop {
        let Some(request) = read_request(&mut reader) else {
            return;
        };
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_in_flight.fetch_max(now, Ordering::SeqCst);
        state.requests.lock().unwrap().push(request.clone());
        let reply = (state.handler)(&request);
        let keep_open = write_reply(&mut stream, &request, &reply, &state.stopped);
        state.in_flight.fetch_sub(1, Ordering::SeqCst);
        if !keep_open {
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    let mut content_length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            let (k, v) = (k.trim().to_string(), v.trim().to_string());
            if k.eq_ignore_ascii_case("content-length") {
                content_length = v.parse().unwrap_or(0);
            }
            headers.push((k, v));
        }
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        target,
        headers,
        at: std::time::Instant::now(),
    })
}

/// Writes the reply; false when the connection must close afterwards.
fn write_reply(
    stream: &mut TcpStream,
    request: &Request,
    reply: &Reply,
    stopped: &AtomicBool,
) -> bool {
    if !reply.delay.is_zero() {
        thread::sleep(reply.delay);
    }
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    // As every real server does, the answer says when it was sent (unless the handler says
    // otherwise, or that it sends none: `Date: none`).
    if !reply
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("date"))
    {
        let now = httpdate::fmt_http_date(std::time::SystemTime::now());
        head.push_str(&format!("Date: {now}\r\n"));
    }
    for (k, v) in &reply.headers {
        if !(k.eq_ignore_ascii_case("date") && v == "none") {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    let body = &reply.body;
    let full_length = format!("Content-Length: {}\r\n", body.len());
    match reply.framing {
        Body::Full | Body::Drip(_) | Body::Paced(_) => head.push_str(&full_length),
        Body::Truncated(_) | Body::Reset(_) | Body::Stall(_) => {
            head.push_str(&full_length);
            head.push_str("Connection: close\r\n");
        }
        Body::Unframed | Body::Endless => head.push_str("Connection: close\r\n"),
        Body::Chunked => head.push_str("Transfer-Encoding: chunked\r\n"),
        Body::ChunkedCut(_) => head.push_str("Transfer-Encoding: chunked\r\nConnection: close\r\n"),
        Body::Announce(n) => {
            head.push_str(&format!("Content-Length: {n}\r\nConnection: close\r\n"))
        }
    }
    head.push_str("\r\n");
    if stream.write_all(head.as_bytes()).is_err() {
        return false;
    }
    if request.method == "HEAD" {
        return true;
    }
    let sent = match reply.framing {
        Body::Full => return stream.write_all(body).is_ok(),
        Body::Truncated(n) => stream.write_all(&body[..n.min(body.len())]),
        Body::Unframed => stream.write_all(body),
        Body::Chunked => {
            for chunk in body.chunks(16 * 1024) {
                let head = format!("{:x}\r\n", chunk.len());
                let sent = stream
                    .write_all(head.as_bytes())
                    .and_then(|_| stream.write_all(chunk))
                    .and_then(|_| stream.write_all(b"\r\n"));
                if sent.is_err() {
                    return false;
                }
            }
            return stream.write_all(b"0\r\n\r\n").is_ok();
        }
        Body::Reset(n) => {
            let _ = stream.write_all(&body[..n.min(body.len())]);
            let _ = stream.flush();
            thread::sleep(Duration::from_millis(50));
            // Linger 0: close() sends RST instead of FIN.
            let _ = socket2::SockRef::from(&*stream).set_linger(Some(Duration::ZERO));
            Ok(())
        }
        Body::ChunkedCut(n) => {
            let n = n.min(body.len());
            let chunk = format!("{n:x}\r\n");
            stream
                .write_all(chunk.as_bytes())
                .and_then(|_| stream.write_all(&body[..n]))
                .and_then(|_| stream.write_all(b"\r\n"))
        }
        Body::Stall(n) => {
            let _ = stream.write_all(&body[..n.min(body.len())]);
            let _ = stream.flush();
            let until = std::time::Instant::now() + Duration::from_secs(60);
            while std::time::Instant::now() < until && !stopped.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(50));
            }
            Ok(())
        }
        Body::Drip(pause) => {
            for byte in body {
                if stream.write_all(std::slice::from_ref(byte)).is_err()
                    || stopped.load(Ordering::SeqCst)
                {
                    return false;
                }
                thread::sleep(pause);
            }
            return true;
        }
        Body::Endless => {
            let chunk = vec![b'z'; 16 * 1024];
            while stream.write_all(&chunk).is_ok() && !stopped.load(Ordering::SeqCst) {}
            Ok(())
        }
        Body::Announce(_) => Ok(()),
        Body::Paced(rate) => {
            // Slices of a twentieth of a second, each sent on time.
            let slice = (rate as usize / 20).max(1);
            let start = std::time::Instant::now();
            for (i, piece) in body.chunks(slice).enumerate() {
                let due = start + Duration::from_secs_f64(i as f64 / 20.0);
                if let Some(wait) = due.checked_duration_since(std::time::Instant::now()) {
                    thread::sleep(wait);
                }
                if stream.write_all(piece).is_err() || stopped.load(Ordering::SeqCst) {
                    return false;
                }
            }
            return true;
        }
    };
    let _ = sent;
    let _ = stream.flush();
    false
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
