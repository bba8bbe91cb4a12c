//! Container runtime: OCI spec generation, the low-level runtime trait (built-in on
//! youki's libcontainer, or any OCI runtime binary such as runc), and the per-container
//! shim with its protocol.

pub mod cgroup_stats;
pub mod cgroups;
pub mod oci_binary;
pub mod runtime;
pub mod shim;
pub mod spec;
pub use runtime::{Runtime, RuntimeError, StdioSpec};

#[cfg(feature = "builtin")]
pub mod builtin;
