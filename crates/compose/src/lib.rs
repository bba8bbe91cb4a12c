//! The Compose file model: compose files plus environment in, one typed, validated and
//! normalised [`Project`] out — the input of `berth compose`.
//!
//! Loading follows the Compose Specification: YAML (anchors, merge keys, `!reset` /
//! `!override`), interpolation of the raw values, `include`, `extends`, merging several
//! files, typing into [`Service`] and friends (short syntaxes read into the long forms),
//! profiles, defaults (the `default` network, `<project>_<name>` resource names) and
//! reference checks. Errors name the file, the line and the key path.
#![forbid(unsafe_code)]

mod de;
mod dotenv;
mod emit;
mod error;
mod forms;
pub mod interpolate;
mod loader;
mod merge;
pub mod model;
mod normalize;
mod project;
pub mod units;
pub mod yaml;

pub use error::ComposeError;
pub use model::*;
pub use project::{load, load_from_str, normalize_project_name, LoadOptions, Project};
