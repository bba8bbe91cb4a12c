//! An OCI runtime binary (runc and compatible) behind the [`Runtime`] trait.

use std::path::{Path, PathBuf};

use crate::runtime::{Runtime, RuntimeError, StdioSpec};

#[derive(Debug, Clone)]
pub struct OciBinary {
    pub name: String,
    pub path: PathBuf,
    pub root: PathBuf,
}

impl Runtime for OciBinary {
    fn name(&self) -> &str {
        &self.name
    }
    fn run(&self, id: &str, bundle: &Path, stdio: StdioSpec) -> Result<u32, RuntimeError> {
        let _ = (id, bundle, stdio);
        todo!()
    }
    fn exec(
        &self,
        id: &str,
        bundle: &Path,
        process: &oci_spec::runtime::Process,
        stdio: StdioSpec,
    ) -> Result<u32, RuntimeError> {
        let _ = (id, bundle, process, stdio);
        todo!()
    }
    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RuntimeError> {
        let _ = (id, signal, all);
        todo!()
    }
    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        let _ = (id, force);
        todo!()
    }
}
