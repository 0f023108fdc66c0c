//! A pseudo-terminal for tests of what a user sees: the binary runs with the terminal as its
//! stdin, stderr and controlling terminal (stdout stays a pipe, as in `fetchpool list > report`),
//! a thread drains the terminal as a real one would, and `vt100` turns the bytes into the
//! screen a user would be looking at.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;

use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use rustix::termios::{Winsize, tcsetwinsize};

/// A running command on a terminal of `cols` x `rows`.
pub struct Pty {
    pub child: Child,
    master: std::fs::File,
    output: Arc<Mutex<Vec<u8>>>,
    reader: thread::JoinHandle<()>,
    cols: u16,
    rows: u16,
}

impl Pty {
    /// Starts `cmd` on a new terminal; its stdout is piped.
    pub fn spawn(cmd: Command, cols: u16, rows: u16) -> Pty {
        Pty::start(cmd, cols, rows, false)
    }

    /// Starts `cmd` on a new terminal that is its stdout too, as a run typed at a shell prompt
    /// has it.
    pub fn spawn_all(cmd: Command, cols: u16, rows: u16) -> Pty {
        Pty::start(cmd, cols, rows, true)
    }

    fn start(mut cmd: Command, cols: u16, rows: u16, stdout_too: bool) -> Pty {
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let name = ptsname(&master, Vec::new()).unwrap();
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(name.to_str().unwrap())
            .unwrap();
        let size = Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        tcsetwinsize(&slave, size).unwrap();
        let stdout = if stdout_too {
            Stdio::from(slave.try_clone().unwrap())
        } else {
            Stdio::piped()
        };
        cmd.stdin(slave.try_clone().unwrap())
            .stderr(slave)
            .stdout(stdout);
        // SAFETY: only async-signal-safe calls between fork and exec: a new session whose
        // controlling terminal is the pty on stdin, so Ctrl-C typed into it reaches the child
        // (and the terminal echoes `^C`, as a real one does).
        unsafe {
            cmd.pre_exec(|| {
                rustix::process::setsid()?;
                rustix::process::ioctl_tiocsctty(std::io::stdin())?;
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        drop(cmd);
        let master = std::fs::File::from(master);
        let output = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let mut master = master.try_clone().unwrap();
            let output = Arc::clone(&output);
            thread::spawn(move || {
                let mut buf = [0u8; 8192];
                // EIO once the child and everything it started have closed the terminal.
                while let Ok(n) = master.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    output.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            })
        };
        Pty {
            child,
            master,
            output,
            reader,
            cols,
            rows,
        }
    }

    /// Types Ctrl-C into the terminal.
    pub fn ctrl_c(&mut self) {
        use std::io::Write;
        self.master.write_all(b"\x03").unwrap();
    }

    /// The screen as it is now, one string per row (trailing blanks trimmed).
    pub fn screen(&self) -> Vec<String> {
        screen(&self.output.lock().unwrap(), self.cols, self.rows)
    }

    /// Everything written to the terminal so far, as text (escape sequences and all).
    pub fn transcript(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Waits for the child to end; its stdout and the final screen.
    pub fn wait(self) -> (std::process::Output, Vec<String>) {
        let Pty {
            child,
            output,
            reader,
            cols,
            rows,
            ..
        } = self;
        let out = child.wait_with_output().unwrap();
        reader.join().unwrap();
        let screen = screen(&output.lock().unwrap(), cols, rows);
        (out, screen)
    }
}

/// What a terminal of `cols` x `rows` shows after `bytes`.
fn screen(bytes: &[u8], cols: u16, rows: u16) -> Vec<String> {
    let mut parser = parser(cols, rows);
    parser.process(bytes);
    parser
        .screen()
        .rows(0, cols)
        .map(|row| row.trim_end().to_string())
        .collect()
}

fn parser(cols: u16, rows: u16) -> vt100::Parser {
    let nonzero = |n: u16| std::num::NonZeroU16::new(n).expect("a terminal has rows and columns");
    vt100::Parser::new(nonzero(rows), nonzero(cols), 0)
}
