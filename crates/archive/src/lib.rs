#![forbid(unsafe_code)]
//! A container's filesystem as tar streams, with every path resolved inside a
//! root directory (`openat2` with `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`),
//! so no symlink, `..` or symlink swapped in during the copy reaches outside
//! it (the class of CVE-2018-15664), without pausing the container.
//!
//! - [`stat`]: the `X-Docker-Container-Path-Stat` of a path.
//! - [`write_tar`]: the tar `docker cp CONTAINER:path -` gives.
//! - [`extract_tar`]: what `PUT /containers/{id}/archive` does with a tar.
//! - [`export`]: the whole root as `docker export` writes it.
//! - [`changes`]: `docker diff` from an overlay upper directory.
//!
//! No HTTP and no daemon knowledge: the root is a directory the caller opens,
//! `/proc/<pid>/root` of a running container (mounts inside it are then seen as
//! the container sees them) or the mounted rootfs of a stopped one.

mod changes;
mod error;
mod extract;
mod root;
mod stat;
mod write;

#[cfg(test)]
mod tests;

pub use changes::{changes, Change, ChangeKind};
pub use error::ArchiveError;
pub use extract::{clean_components, extract_tar, ExtractOptions, ExtractSummary};
pub use root::Root;
pub use stat::{go_file_mode, go_mode, stat, PathStat};
pub use write::{export, read_file, write_tar};
