//! Container commands: run, create, start, stop, kill, restart, wait, rm,
//! rename, pause, unpause, ps, inspect, logs, attach, exec, top, port, diff,
//! export, commit.

mod attach;
mod create;
mod exec;
mod filesystem;
mod inspect;
mod lifecycle;
mod logs;
mod ps;

pub use attach::*;
pub use create::*;
pub use exec::*;
pub use filesystem::*;
pub use inspect::*;
pub use lifecycle::*;
pub use logs::*;
pub use ps::*;
