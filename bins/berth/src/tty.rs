//! Local terminal handling: tty detection, raw mode (restored on drop, on
//! panic and before exit), terminal size and SIGWINCH.

use std::sync::Mutex;

use anyhow::{Context, Result};
use rustix::termios::{self, OptionalActions, Termios};
use tokio::signal::unix::{signal, SignalKind};

static SAVED: Mutex<Option<Termios>> = Mutex::new(None);

/// True if stdin is a terminal.
pub fn stdin_is_tty() -> bool {
    termios::isatty(std::io::stdin())
}

/// True if stdout is a terminal.
pub fn stdout_is_tty() -> bool {
    termios::isatty(std::io::stdout())
}

/// Terminal size (rows, cols) of stdout (or stdin), if it is a terminal.
pub fn size() -> Option<(u16, u16)> {
    let ws = termios::tcgetwinsize(std::io::stdout())
        .or_else(|_| termios::tcgetwinsize(std::io::stdin()))
        .ok()?;
    if ws.ws_row == 0 || ws.ws_col == 0 {
        return None;
    }
    Some((ws.ws_row, ws.ws_col))
}

/// Puts stdin's terminal into raw mode until dropped.
pub struct RawGuard {
    _private: (),
}

impl RawGuard {
    /// Enters raw mode; installs a panic hook that restores the terminal.
    pub fn enter() -> Result<RawGuard> {
        let stdin = std::io::stdin();
        let orig = termios::tcgetattr(&stdin).context("reading terminal attributes")?;
        let mut raw = orig.clone();
        raw.make_raw();
        // Keep output post-processing so our own messages stay readable.
        raw.output_modes |= termios::OutputModes::OPOST;
        if let Ok(mut s) = SAVED.lock() {
            *s = Some(orig);
        }
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            prev(info);
        }));
        termios::tcsetattr(&stdin, OptionalActions::Now, &raw)
            .context("setting the terminal to raw mode")?;
        Ok(RawGuard { _private: () })
    }
}

impl Drop for RawGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Restores the terminal saved by [`RawGuard::enter`], if any.
pub fn restore() {
    let saved = SAVED.lock().ok().and_then(|mut s| s.take());
    if let Some(t) = saved {
        let _ = termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &t);
    }
}

/// Reads one line from the terminal on stdin with echo off (passwords).
pub fn read_line_no_echo() -> Result<String> {
    let stdin = std::io::stdin();
    let orig = termios::tcgetattr(&stdin).context("reading terminal attributes")?;
    let mut quiet = orig.clone();
    quiet.local_modes.remove(termios::LocalModes::ECHO);
    termios::tcsetattr(&stdin, OptionalActions::Now, &quiet).context("disabling echo")?;
    let mut line = String::new();
    let r = stdin.read_line(&mut line);
    let _ = termios::tcsetattr(&stdin, OptionalActions::Now, &orig);
    r.context("reading the password")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Calls `resize(rows, cols)` now and on every SIGWINCH until the task is dropped.
pub async fn watch_resize<F, Fut>(mut resize: F)
where
    F: FnMut(u16, u16) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    if let Some((h, w)) = size() {
        resize(h, w).await;
    }
    let Ok(mut sig) = signal(SignalKind::window_change()) else {
        return;
    };
    while sig.recv().await.is_some() {
        if let Some((h, w)) = size() {
            resize(h, w).await;
        }
    }
}
