//! The built-in runtime: youki's `libcontainer`, driven in-process by the shim.
//!
//! No runtime binary is executed: the shim calls [`BuiltinRuntime::run`] and
//! libcontainer clones the container's intermediate and init processes straight from
//! the shim. Properties the caller (the shim) relies on:
//!
//! * Detached: `run` returns as soon as the container's init has been started (the
//!   payload is exec'd right after); nothing waits for it and no helper process or
//!   thread stays behind. libcontainer reaps its own intermediate process (if a
//!   reaper thread of the caller collects it first, libcontainer tolerates that).
//! * The init process (and every exec'd process) is cloned with `CLONE_PARENT` from
//!   the intermediate process, so it is a direct child of the calling process and
//!   sends it `SIGCHLD`: the caller reaps it with `waitpid`/pidfd.
//! * When `run`/`exec` fail, libcontainer's helper processes (intermediate, and an
//!   init that never exec'd) are left unreaped by libcontainer; this module reaps
//!   those that appeared during the failed call (they are recognisable by their
//!   `youki:[…]` names), so no zombie stays behind and no other child is touched.
//! * When a container with a pid namespace loses its init, the kernel kills the
//!   exec'd processes, and init only becomes waitable once they are reaped: the
//!   caller must reap exec'd processes independently of init.
//! * libcontainer temporarily changes the calling process's working directory (to
//!   bind unix sockets with short names) and marks the process non-dumpable.
//!   `run`/`exec` are serialized by a process-wide lock; other threads must not
//!   rely on the working directory meanwhile.
//! * Processes are cloned with a raw `clone3`, which runs no `pthread_atfork`
//!   handlers: the child copies only the calling thread. Call `run`/`exec` while
//!   no other thread holds a lock the child may need (stdio/log writers): ideally
//!   while the process is single-threaded or its other threads are idle.
//! * The calling process must keep fds 0, 1 and 2 open (e.g. on /dev/null):
//!   libcontainer's internal sockets must not be allocated there.
//!
//! Seccomp filters come from a cache of compiled BPF programs ([`seccomp`],
//! `<root>/@seccomp/<key>.bpf`): libseccomp compiling Docker's profile took about
//! 10 ms of every start and exec inside the container's process. For a cacheable
//! profile (no notify action, no OCI hooks), the bundle libcontainer runs holds the
//! spec without `linux.seccomp` (CAP_SYS_ADMIN/CAP_SETPCAP raised when the process
//! lacks them and has no no_new_privs), `seccomp.ref` naming the cached program and
//! `capabilities.json` with the capabilities to restore. The daemon writes the
//! bundle in that form once ([`BuiltinRuntime::write_bundle`]); a plain bundle
//! given to `run` (another caller) gets a *derived bundle*
//! `<root>/@bundles/<id>/` of that form, which `delete` removes. The executor
//! (`SeccompExecutor`) installs the cached program in the init or exec'd process
//! where libcontainer would have loaded the filter (after capabilities are set,
//! before the process reports ready, so errors reach `run`/`exec`), then drops the
//! raised capabilities (runc's order). Notify profiles (run only; exec refuses
//! them) and specs with OCI hooks (which are given the bundle path) keep
//! libcontainer's own path.
//!
//! Works around libcontainer 0.7 defects (each covered by a test):
//! * it leaves the cgroup v1 hierarchies read-write although the spec asks for
//!   `ro`, and ignores the propagation options of bind mounts: once the container
//!   is created, [`mounts`] applies what is missing from inside the container's
//!   mount namespace and verifies the whole mount table against the spec; the
//!   container is not started otherwise.
//! * it swaps the operands of `SCMP_CMP_MASKED_EQ` conditions, which turned
//!   Docker's `clone` rule into "any flags" (user namespaces allowed): the cache
//!   compiles them as the runtime spec says ([`seccomp`]), and for profiles
//!   libcontainer still loads itself the operands are swapped in config.json.
//! * `"noNewPrivileges": false` (present but false) makes it load the seccomp
//!   filter after dropping capabilities, which fails without CAP_SYS_ADMIN: for
//!   profiles libcontainer still loads itself (notify), the field is removed from
//!   config.json before creating (`normalize_for_libcontainer`).
//! * exec (its tenant builder) drops the container's `linux.seccomp`: the
//!   executor installs the cached program in the exec'd process (`SeccompExecutor`).
//! * it writes `oomScoreAdj` to the *caller's* `/proc/self/oom_score_adj`: the
//!   caller's value is restored after the call.
//! * a failed create/exec leaks its channel sockets (raw fds): they are closed.
//! * every exec leaves a `tenant-notify-*.sock` in the state directory: removed.
//!
//! State lives under `root/<id>` (libcontainer's `state.json`, the `notify.sock`
//! used to start the container, and exec's temporary `process.json`), plus
//! `root/@bundles/<id>` and the shared `root/@seccomp` cache (`@` never appears
//! in container ids). Unix socket
//! paths there must stay under 108 bytes: keep `root` short (libcontainer works around
//! it with a `chdir`, so long roots work but short ones are cheaper to reason about).

use std::collections::HashSet;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::error::LibcontainerError;
use libcontainer::signal::Signal;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{
    Executor, ExecutorError, ExecutorSetEnvsError, ExecutorValidationError,
};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::Spec;

use crate::runtime::{Runtime, RuntimeError, StdioSpec};

pub mod mounts;
pub mod seccomp;

/// Directory under the state root holding compiled seccomp programs. Container
/// ids cannot contain `@`, so it never collides with a container's directory.
const SECCOMP_CACHE_DIR: &str = "@seccomp";

/// Directory under the state root holding the bundles given to libcontainer when
/// the seccomp filter comes from the cache (`@bundles/<id>/config.json`, plus the
/// container's profile in `seccomp.json` for exec).
const DERIVED_BUNDLES_DIR: &str = "@bundles";

/// In a derived bundle: the reference of the container's cached seccomp program
/// (see [`seccomp::reference()`]), for run and exec.
const DERIVED_SECCOMP_FILE: &str = "seccomp.ref";

/// In a derived bundle: the capabilities the container's process gets back once
/// the program is installed (when they were raised to install it).
const RESTORE_CAPS_FILE: &str = "capabilities.json";

/// The name shown in `inspect` for containers run by this runtime.
pub const NAME: &str = "berth";

/// Serializes libcontainer calls within this process: creating a container or an
/// exec changes the process's working directory for a moment and clones from the
/// calling thread; kill and delete rewrite the container's state file in place.
static LIBCONTAINER: Mutex<()> = Mutex::new(());

fn libcontainer_lock() -> MutexGuard<'static, ()> {
    // The guarded data is `()`: a panic while holding the lock leaves nothing broken.
    LIBCONTAINER.lock().unwrap_or_else(|e| e.into_inner())
}

/// Counter that makes exec's temporary process.json names unique in this process.
static EXEC_SEQ: AtomicU64 = AtomicU64::new(0);

/// The bundle libcontainer creates a container from, as [`BuiltinRuntime::prepare_bundle`]
/// decided it.
struct Prepared {
    /// The original bundle, or a derived one without `linux.seccomp`.
    bundle: PathBuf,
    /// Installs the cached seccomp program (derived bundles only).
    executor: Option<SeccompExecutor>,
    /// What the spec asks of the container's mount table.
    mounts: Vec<mounts::Expectation>,
}

/// In-process OCI runtime on youki's libcontainer.
#[derive(Debug, Clone)]
pub struct BuiltinRuntime {
    /// libcontainer's state root (one directory per container), e.g.
    /// `<exec_root>/builtin`; absolute.
    root: PathBuf,
}

impl BuiltinRuntime {
    /// A runtime keeping its state under `root` (created on first use, mode 0711).
    /// A relative `root` is resolved against the current directory now.
    pub fn new(root: PathBuf) -> Self {
        // libcontainer resolves the root against the working directory, which it
        // changes temporarily: resolve it once, here.
        let root = std::path::absolute(&root).unwrap_or(root);
        Self { root }
    }

    /// The state root given to [`BuiltinRuntime::new`].
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where compiled seccomp programs are cached: `<root>/@seccomp/<key>.bpf`
    /// (see [`seccomp`]).
    pub fn seccomp_cache_dir(&self) -> PathBuf {
        self.root.join(SECCOMP_CACHE_DIR)
    }

    /// The bundle handed to libcontainer for `id` when its seccomp filter comes
    /// from the cache.
    fn derived_bundle(&self, id: &str) -> PathBuf {
        self.root.join(DERIVED_BUNDLES_DIR).join(id)
    }

    fn remove_derived_bundle(&self, id: &str) {
        let dir = self.derived_bundle(id);
        if let Err(err) = std::fs::remove_dir_all(&dir) {
            if err.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(dir = %dir.display(), %err, "removing the derived bundle");
            }
        }
    }

    /// Prepares the bundle libcontainer will create `id` from. With a cacheable
    /// seccomp profile (the usual case), the program comes from the cache and a
    /// derived bundle is written: the same config without `linux.seccomp` (the
    /// returned executor installs the cached program instead), with CAP_SYS_ADMIN
    /// raised for loading it if needed (see [`elevate_for_seccomp`]) and the
    /// rootfs as an absolute path; the original bundle is not modified. Otherwise
    /// the original bundle is used, as libcontainer would.
    fn prepare_bundle(
        &self,
        id: &str,
        bundle: &Path,
        config: &Path,
    ) -> Result<Prepared, RuntimeError> {
        const ACTION: &str = "run";
        let as_is = |mounts| Prepared {
            bundle: bundle.to_owned(),
            executor: None,
            mounts,
        };
        // An existing container: libcontainer reports it (its derived bundle,
        // if any, belongs to it).
        if self.container_dir(ACTION, id)?.exists() {
            return Ok(as_is(Vec::new()));
        }
        let text = std::fs::read(config).map_err(|source| RuntimeError::Io {
            runtime: NAME.to_owned(),
            context: format!("reading {}", config.display()),
            source,
        })?;
        // A config libcontainer cannot parse either: let it report the error.
        let Ok(spec) = serde_json::from_slice::<Spec>(&text) else {
            return Ok(as_is(Vec::new()));
        };
        let mounts = mounts::expectations(&spec);
        // Written by `write_bundle` (the daemon): run it as it is.
        if let Some(executor) = self
            .written_executor(bundle)
            .map_err(|e| self.failed(ACTION, id, e))?
        {
            return Ok(Prepared {
                bundle: bundle.to_owned(),
                executor: Some(executor),
                mounts,
            });
        }
        let Some(profile) = spec.linux().as_ref().and_then(|l| l.seccomp().clone()) else {
            // Without seccomp, `noNewPrivileges: false` and absent are the same to
            // libcontainer.
            return Ok(as_is(mounts));
        };
        // OCI hooks get the state's bundle path and may read its config.json:
        // with hooks, the original bundle is kept (libcontainer loads the filter).
        if !seccomp::cacheable(&profile) || spec.hooks().is_some() {
            normalize_for_libcontainer(config)
                .map_err(|e| self.failed(ACTION, id, format!("{}: {e}", config.display())))?;
            return Ok(as_is(mounts));
        }
        let (mut spec, executor) = self.derive(ACTION, id, spec, &profile)?;
        // The rootfs stays where the original bundle has it.
        if let Some(mut root) = spec.root().clone() {
            if root.path().is_relative() {
                root.set_path(bundle.join(root.path()));
                spec.set_root(Some(root));
            }
        }
        let dir = self.derived_bundle(id);
        // A leftover of an interrupted run of the same id: replace it.
        self.remove_derived_bundle(id);
        self.write_derived(ACTION, id, &dir, &spec, &executor)?;
        Ok(Prepared {
            bundle: dir,
            executor: Some(executor),
            mounts,
        })
    }

    /// The spec libcontainer runs when the seccomp program comes from the cache:
    /// without `linux.seccomp`, with CAP_SYS_ADMIN raised for loading the program
    /// if needed (see [`elevate_for_seccomp`]); and the executor that installs it.
    fn derive(
        &self,
        action: &'static str,
        id: &str,
        mut spec: Spec,
        profile: &oci_spec::runtime::LinuxSeccomp,
    ) -> Result<(Spec, SeccompExecutor), RuntimeError> {
        let program = seccomp::load_or_compile(&self.seccomp_cache_dir(), profile)
            .map_err(|e| self.failed(action, id, describe(&e)))?;
        let mut restore_caps = None;
        if let Some(process) = spec.process() {
            let (elevated, restore) = elevate_for_seccomp(process);
            restore_caps = restore;
            spec.set_process(Some(elevated));
        }
        if let Some(mut linux) = spec.linux().clone() {
            linux.set_seccomp(None);
            spec.set_linux(Some(linux));
        }
        Ok((
            spec,
            SeccompExecutor {
                program,
                restore_caps,
            },
        ))
    }

    /// Writes a bundle for libcontainer into `dir`: `config.json` (the derived
    /// spec; a relative rootfs is made absolute against `dir`), `seccomp.ref` (the
    /// cached program) and, when
    /// capabilities were raised, the ones to restore (`capabilities.json`).
    fn write_derived(
        &self,
        action: &'static str,
        id: &str,
        dir: &Path,
        spec: &Spec,
        executor: &SeccompExecutor,
    ) -> Result<(), RuntimeError> {
        let io = |context: String| {
            move |source| RuntimeError::Io {
                runtime: NAME.to_owned(),
                context,
                source,
            }
        };
        let serialize_failed = |e: serde_json::Error| {
            self.failed(action, id, format!("serializing the derived spec: {e}"))
        };
        let mut spec = spec.clone();
        if let Some(mut root) = spec.root().clone() {
            if root.path().is_relative() {
                root.set_path(dir.join(root.path()));
                spec.set_root(Some(root));
            }
        }
        let mut files = vec![
            (
                "config.json",
                serde_json::to_vec(&spec).map_err(serialize_failed)?,
            ),
            (
                DERIVED_SECCOMP_FILE,
                seccomp::reference(&executor.program).into_bytes(),
            ),
        ];
        if let Some(caps) = &executor.restore_caps {
            files.push((
                RESTORE_CAPS_FILE,
                serde_json::to_vec(caps).map_err(serialize_failed)?,
            ));
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(format!("creating {}", dir.display())))?;
        for (name, bytes) in files {
            let path = dir.join(name);
            let tmp = dir.join(format!(".{name}.tmp"));
            std::fs::write(&tmp, bytes).map_err(io(format!("writing {}", tmp.display())))?;
            std::fs::rename(&tmp, &path).map_err(io(format!("renaming {}", path.display())))?;
        }
        Ok(())
    }

    /// Writes the bundle of container `id` into `dir` in the form this runtime runs
    /// it (the daemon's one write of the spec): with a cacheable seccomp profile,
    /// the spec libcontainer gets (without `linux.seccomp`) plus the reference of
    /// the cached program, so that `run` derives nothing; otherwise the spec as
    /// it is (libcontainer loads the profile).
    pub fn write_bundle(&self, id: &str, dir: &Path, spec: &Spec) -> Result<(), RuntimeError> {
        const ACTION: &str = "run";
        let profile = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
        match profile {
            Some(profile) if seccomp::cacheable(&profile) && spec.hooks().is_none() => {
                let (derived, executor) = self.derive(ACTION, id, spec.clone(), &profile)?;
                self.write_derived(ACTION, id, dir, &derived, &executor)
            }
            _ => {
                crate::spec::write_bundle(dir, spec)
                    .map_err(|e| self.failed(ACTION, id, e.to_string()))?;
                normalize_for_libcontainer(&dir.join("config.json"))
                    .map_err(|e| self.failed(ACTION, id, e))
            }
        }
    }

    /// A bundle written by [`BuiltinRuntime::write_bundle`] with a cached
    /// program: the executor that installs it (None for other bundles).
    fn written_executor(&self, bundle: &Path) -> Result<Option<SeccompExecutor>, String> {
        let read = |name: &str| match std::fs::read(bundle.join(name)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("reading {}: {e}", bundle.join(name).display())),
        };
        let Some(reference) = read(DERIVED_SECCOMP_FILE)? else {
            return Ok(None);
        };
        let reference = String::from_utf8_lossy(&reference);
        let program = seccomp::load_reference(&self.seccomp_cache_dir(), &reference)
            .map_err(|e| describe(&e))?;
        let restore_caps = read(RESTORE_CAPS_FILE)?
            .map(|bytes| serde_json::from_slice(&bytes))
            .transpose()
            .map_err(|e| format!("{RESTORE_CAPS_FILE}: {e}"))?;
        Ok(Some(SeccompExecutor {
            program,
            restore_caps,
        }))
    }

    fn failed(&self, action: &'static str, id: &str, message: String) -> RuntimeError {
        RuntimeError::Failed {
            runtime: NAME.to_owned(),
            action,
            id: id.to_owned(),
            message,
        }
    }

    fn lib_failed(&self, action: &'static str, id: &str, err: LibcontainerError) -> RuntimeError {
        tracing::debug!(?err, action, id, "libcontainer error");
        self.failed(action, id, describe(&err))
    }

    fn ensure_root(&self) -> Result<(), RuntimeError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(&self.root)
            .map_err(|source| RuntimeError::Io {
                runtime: NAME.to_owned(),
                context: format!("creating state root {}", self.root.display()),
                source,
            })
    }

    /// A base builder for `id` (validated: it becomes a directory name).
    fn builder(&self, action: &'static str, id: &str) -> Result<ContainerBuilder, RuntimeError> {
        ContainerBuilder::new(id.to_owned(), SyscallType::Linux)
            .validate_id()
            .and_then(|b| b.with_root_path(&self.root))
            .map_err(|e| self.lib_failed(action, id, e))
    }

    /// `root/<id>`, after checking that `id` is a plain file name.
    fn container_dir(&self, action: &'static str, id: &str) -> Result<PathBuf, RuntimeError> {
        self.builder(action, id)?;
        Ok(self.root.join(id))
    }

    /// Loads the state of an existing container (`None` if there is none).
    fn load(&self, action: &'static str, id: &str) -> Result<Option<Container>, RuntimeError> {
        let dir = self.container_dir(action, id)?;
        if !dir.exists() {
            return Ok(None);
        }
        Container::load(dir)
            .map(Some)
            .map_err(|e| self.lib_failed(action, id, e))
    }

    fn run_locked(&self, id: &str, bundle: &Path, stdio: StdioSpec) -> Result<u32, RuntimeError> {
        const ACTION: &str = "run";
        self.ensure_root()?;
        let bundle = std::path::absolute(bundle).map_err(|source| RuntimeError::Io {
            runtime: NAME.to_owned(),
            context: format!("resolving bundle path {}", bundle.display()),
            source,
        })?;
        let config = bundle.join("config.json");
        if !config.is_file() {
            return Err(self.failed(
                ACTION,
                id,
                format!("bundle has no config.json: {}", config.display()),
            ));
        }
        let prepared = self.prepare_bundle(id, &bundle, &config)?;
        let derived = prepared.executor.is_some();
        let result = self.create_and_start(id, &bundle, prepared, stdio);
        if result.is_err() && derived {
            self.remove_derived_bundle(id);
        }
        result
    }

    /// Creates `id` from the prepared bundle (the original `bundle` or a derived
    /// one), checks its mounts against the spec (see [`mounts`]) and starts it.
    fn create_and_start(
        &self,
        id: &str,
        bundle: &Path,
        prepared: Prepared,
        stdio: StdioSpec,
    ) -> Result<u32, RuntimeError> {
        let Prepared {
            bundle: lib_bundle,
            executor,
            mounts: expected_mounts,
        } = prepared;
        const ACTION: &str = "run";
        let config = bundle.join("config.json");
        let (builder, _low_fds) =
            with_stdio(self.builder(ACTION, id)?, stdio).map_err(|source| RuntimeError::Io {
                runtime: NAME.to_owned(),
                context: "duplicating stdio fds".to_owned(),
                source,
            })?;
        let builder = match executor {
            Some(executor) => builder.with_executor(executor),
            None => builder,
        };
        let mut container = builder
            .as_init(&lib_bundle)
            .with_systemd(false)
            // Detached: libcontainer only requires the console socket for a tty and
            // never waits for init; the caller reaps it.
            .with_detach(true)
            .build()
            .map_err(|e| {
                let mut error = self.lib_failed(ACTION, id, e);
                if let Ok(spec) = Spec::load(&config) {
                    if let (Some(root), Some(process)) = (spec.root(), spec.process()) {
                        explain_missing_cwd(&mut error, &bundle.join(root.path()), process.cwd());
                    }
                }
                error
            })?;

        // The init has set up the mounts and waits to be started: the mount table
        // must be what the spec asks for (libcontainer 0.7 leaves some options
        // out), or the container does not start.
        let checked = match container.pid() {
            Some(pid) => u32::try_from(pid.as_raw())
                .map_err(|_| format!("invalid init pid {pid}"))
                .and_then(|pid| {
                    mounts::enforce_and_verify(pid, &expected_mounts).map_err(|e| e.to_string())
                }),
            None => Err("libcontainer recorded no init pid".to_owned()),
        };
        let started = match checked {
            Ok(()) => container
                .start()
                .map_err(|err| self.lib_failed(ACTION, id, err)),
            Err(message) => Err(self.failed(
                ACTION,
                id,
                format!("refusing to start the container: {message}"),
            )),
        };
        if let Err(mut error) = started {
            // Do not leave a created container (and its cgroup) behind.
            if let Err(cleanup) = container.delete(true) {
                if let RuntimeError::Failed { message, .. } = &mut error {
                    message.push_str("; cleanup failed: ");
                    message.push_str(&describe(&cleanup));
                }
            }
            return Err(error);
        }

        let pid = container
            .pid()
            .ok_or_else(|| self.failed(ACTION, id, "libcontainer recorded no init pid".into()))?;
        u32::try_from(pid.as_raw())
            .map_err(|_| self.failed(ACTION, id, format!("invalid init pid {pid}")))
    }

    fn exec_locked(
        &self,
        id: &str,
        process: &oci_spec::runtime::Process,
        stdio: StdioSpec,
    ) -> Result<u32, RuntimeError> {
        const ACTION: &str = "exec";
        let dir = self.container_dir(ACTION, id)?;
        if !dir.is_dir() {
            return Err(self.failed(ACTION, id, "container does not exist".into()));
        }

        // libcontainer's tenant builder drops the container's linux.seccomp: the
        // exec'd process gets the cached program from our executor instead (see
        // SeccompExecutor). A container run from a derived bundle names its
        // program in DERIVED_SECCOMP_FILE; otherwise the profile is in its config.
        let state = Container::load(dir.clone()).map_err(|err| self.lib_failed(ACTION, id, err))?;
        let container_spec = Spec::load(state.bundle().join("config.json"))
            .map_err(|e| self.failed(ACTION, id, format!("loading the container's spec: {e}")))?;
        let program = match std::fs::read_to_string(state.bundle().join(DERIVED_SECCOMP_FILE)) {
            Ok(reference) => Some(
                seccomp::load_reference(&self.seccomp_cache_dir(), &reference)
                    .map_err(|e| self.failed(ACTION, id, describe(&e)))?,
            ),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                match container_spec
                    .linux()
                    .as_ref()
                    .and_then(|l| l.seccomp().as_ref())
                {
                    Some(profile) if !seccomp::cacheable(profile) => {
                        return Err(self.failed(
                            ACTION,
                            id,
                            "seccomp notify actions are not supported for exec".into(),
                        ));
                    }
                    Some(profile) => Some(
                        seccomp::load_or_compile(&self.seccomp_cache_dir(), profile)
                            .map_err(|e| self.failed(ACTION, id, describe(&e)))?,
                    ),
                    None => None,
                }
            }
            Err(source) => {
                return Err(RuntimeError::Io {
                    runtime: NAME.to_owned(),
                    context: "reading the container's seccomp program reference".to_owned(),
                    source,
                })
            }
        };
        let (process, executor) = match program {
            Some(program) => {
                let (process, restore_caps) = elevate_for_seccomp(process);
                (
                    process,
                    Some(SeccompExecutor {
                        program,
                        restore_caps,
                    }),
                )
            }
            None => (process.clone(), None),
        };

        // TenantContainerBuilder reads the process from a file.
        let json = serde_json::to_vec(&process)
            .map_err(|e| self.failed(ACTION, id, format!("serializing process: {e}")))?;
        let seq = EXEC_SEQ.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("exec-{}-{seq}.json", std::process::id()));
        {
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|source| RuntimeError::Io {
                    runtime: NAME.to_owned(),
                    context: format!("creating {}", path.display()),
                    source,
                })?;
            file.write_all(&json).map_err(|source| RuntimeError::Io {
                runtime: NAME.to_owned(),
                context: format!("writing {}", path.display()),
                source,
            })?;
        }
        let process_file = TempFile(path);

        let (builder, _low_fds) =
            with_stdio(self.builder(ACTION, id)?, stdio).map_err(|source| RuntimeError::Io {
                runtime: NAME.to_owned(),
                context: "duplicating stdio fds".to_owned(),
                source,
            })?;
        let builder = match executor {
            Some(executor) => builder.with_executor(executor),
            None => builder,
        };
        let pid = builder
            .as_tenant()
            .with_detach(true)
            .with_process(Some(&process_file.0))
            .build()
            .map_err(|err| match err {
                LibcontainerError::IncorrectStatus(status) => self.failed(
                    ACTION,
                    id,
                    format!("container not running (state {status})"),
                ),
                err => {
                    let mut error = self.lib_failed(ACTION, id, err);
                    if let Some(root) = container_spec.root() {
                        let rootfs = state.bundle().join(root.path());
                        explain_missing_cwd(&mut error, &rootfs, process.cwd());
                    }
                    error
                }
            })?;
        drop(process_file);
        u32::try_from(pid.as_raw())
            .map_err(|_| self.failed(ACTION, id, format!("invalid exec pid {pid}")))
    }
}

/// libcontainer reports a failed chdir into the process's cwd only as "failed to
/// unix syscall" (the errno is lost on the way out of the container). When the
/// directory is indeed missing from the rootfs, says so in runc's words.
fn explain_missing_cwd(error: &mut RuntimeError, rootfs: &Path, cwd: &Path) {
    let RuntimeError::Failed { message, .. } = error else {
        return;
    };
    if !message.ends_with("failed to unix syscall") {
        return;
    }
    let relative = cwd.strip_prefix("/").unwrap_or(cwd);
    // Seen from the host: symlinks and mounts inside the container are not
    // resolved as the container would, so this only picks the wording.
    if !rootfs.join(relative).exists() {
        *message = format!(
            "unable to start container process: chdir to cwd (\"{}\") set in config.json failed: no such file or directory",
            cwd.display()
        );
    }
}

/// Rewrites a bundle's config.json for a profile libcontainer 0.7 loads itself
/// (notify actions, or OCI hooks):
/// * `process.noNewPrivileges: false` becomes an absent field (the same per the OCI
///   spec). libcontainer installs the seccomp filter *after* dropping capabilities
///   whenever the field is present, so with an explicit `false` and no
///   CAP_SYS_ADMIN (Docker's defaults) loading the filter fails with EACCES; when
///   the field is absent it loads it before dropping them, like runc.
/// * `SCMP_CMP_MASKED_EQ` arguments get `value` and `valueTwo` swapped:
///   libcontainer passes `valueTwo` as the mask and `value` as the datum, the
///   reverse of runc and of the runtime spec (`value` is the mask). libseccomp
///   then masks the datum with the mask, so Docker's `clone` rule (mask
///   0x7E020000, datum 0) became "any flags": user namespaces were allowed.
fn normalize_for_libcontainer(config: &Path) -> Result<(), String> {
    let text = std::fs::read(config).map_err(|e| e.to_string())?;
    let mut value: serde_json::Value = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
    let mut changed = false;
    if let Some(process) = value.get_mut("process").and_then(|p| p.as_object_mut()) {
        if process.get("noNewPrivileges") == Some(&serde_json::Value::Bool(false)) {
            process.remove("noNewPrivileges");
            changed = true;
        }
    }
    let rules = value
        .pointer_mut("/linux/seccomp/syscalls")
        .and_then(|s| s.as_array_mut());
    for rule in rules.into_iter().flatten() {
        let args = rule.get_mut("args").and_then(|a| a.as_array_mut());
        for arg in args.into_iter().flatten() {
            let Some(arg) = arg.as_object_mut() else {
                continue;
            };
            if arg.get("op").and_then(|o| o.as_str()) != Some("SCMP_CMP_MASKED_EQ") {
                continue;
            }
            let mask = arg.remove("value").unwrap_or(serde_json::json!(0));
            let datum = arg.remove("valueTwo").unwrap_or(serde_json::json!(0));
            arg.insert("value".to_owned(), datum);
            arg.insert("valueTwo".to_owned(), mask);
            changed = true;
        }
    }
    if !changed {
        return Ok(());
    }
    let json = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
    let tmp = config.with_extension("json.berth-tmp");
    std::fs::write(&tmp, json).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, config).map_err(|e| e.to_string())
}

/// For an exec'd process that must install a seccomp filter itself (see
/// [`ExecSeccomp`]): without no_new_privs that needs CAP_SYS_ADMIN. If the process
/// lacks it, returns a copy that also holds CAP_SYS_ADMIN (and CAP_SETPCAP, to drop
/// it from the bounding set again) plus the capabilities to restore once the filter
/// is loaded. This is runc's order: filter first, then drop capabilities.
fn elevate_for_seccomp(
    process: &oci_spec::runtime::Process,
) -> (
    oci_spec::runtime::Process,
    Option<oci_spec::runtime::LinuxCapabilities>,
) {
    use oci_spec::runtime::Capability;
    let mut elevated = process.clone();
    // Without no_new_privs noNewPrivileges must be absent, not false (see
    // normalize_for_libcontainer); with it, no capability is needed.
    match process.no_new_privileges() {
        Some(true) => return (elevated, None),
        Some(false) => {
            elevated.set_no_new_privileges(None);
        }
        None => {}
    }
    let Some(caps) = process.capabilities() else {
        // No capabilities in the process: it keeps all of root's.
        return (elevated, None);
    };
    let needed = [Capability::SysAdmin, Capability::Setpcap];
    let (Some(bounding), Some(effective), Some(permitted)) =
        (caps.bounding(), caps.effective(), caps.permitted())
    else {
        // Unusual partial sets: install the filter with what the process has.
        return (elevated, None);
    };
    if effective.contains(&Capability::SysAdmin) && permitted.contains(&Capability::SysAdmin) {
        return (elevated, None);
    }
    let mut raised = caps.clone();
    let add = |set: &oci_spec::runtime::Capabilities| {
        let mut set = set.clone();
        set.extend(needed);
        set
    };
    raised.set_bounding(Some(add(bounding)));
    raised.set_effective(Some(add(effective)));
    raised.set_permitted(Some(add(permitted)));
    elevated.set_capabilities(Some(raised));
    (elevated, Some(caps.clone()))
}

/// The executor of a container's init or exec'd process when its seccomp filter
/// comes from the cache (libcontainer got a spec without `linux.seccomp`).
/// libcontainer calls `setup_envs` in the new process after dropping capabilities
/// and right before reporting it ready (where it would load the filter itself):
/// there this installs the cached program, then restores the process's own
/// capabilities when [`elevate_for_seccomp`] raised them (runc's order: filter
/// first, then drop capabilities). Errors are reported by `run`/`exec`, before the
/// container starts. Execs like libcontainer's default executor.
#[derive(Clone)]
struct SeccompExecutor {
    program: seccomp::Program,
    restore_caps: Option<oci_spec::runtime::LinuxCapabilities>,
}

impl Executor for SeccompExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }

    fn setup_envs(
        &self,
        envs: std::collections::HashMap<String, String>,
    ) -> Result<(), ExecutorSetEnvsError> {
        // libcontainer's default: the process's environment becomes `envs`.
        for (key, _) in std::env::vars_os() {
            // SAFETY: this runs in the container's freshly cloned, single-threaded
            // process: no other thread reads the environment.
            unsafe { std::env::remove_var(key) };
        }
        for (key, value) in envs {
            // SAFETY: as above.
            unsafe { std::env::set_var(key, value) };
        }
        self.program.install().map_err(|e| {
            ExecutorSetEnvsError::Other(format!("installing the container's seccomp profile: {e}"))
        })?;
        if let Some(caps) = &self.restore_caps {
            let syscall = SyscallType::Linux.create_syscall();
            libcontainer::capabilities::drop_privileges(caps, syscall.as_ref()).map_err(|e| {
                ExecutorSetEnvsError::Other(format!("dropping capabilities after seccomp: {e}"))
            })?;
        }
        Ok(())
    }
}

/// Applies a [`StdioSpec`] to a builder. Fds below 3 are duplicated first: the
/// container's init `dup2`s them onto 0, 1 and 2 in that order, which would clobber
/// a stdout passed as fd 0. The low originals are returned and must stay open until
/// the container is built: libcontainer's own sockets must not land on fds 0-2.
fn with_stdio(
    builder: ContainerBuilder,
    stdio: StdioSpec,
) -> std::io::Result<(ContainerBuilder, Vec<OwnedFd>)> {
    let mut low = Vec::new();
    let mut above_stdio = |fd: OwnedFd| -> std::io::Result<OwnedFd> {
        if fd.as_raw_fd() > 2 {
            return Ok(fd);
        }
        // try_clone is F_DUPFD_CLOEXEC with a minimum of 3.
        let dup = fd.try_clone()?;
        low.push(fd);
        Ok(dup)
    };
    let builder = match stdio {
        StdioSpec::Tty { console_socket } => builder.with_console_socket(Some(console_socket)),
        StdioSpec::Fds {
            stdin,
            stdout,
            stderr,
        } => {
            let (stdin, stdout, stderr) = (
                above_stdio(stdin)?,
                above_stdio(stdout)?,
                above_stdio(stderr)?,
            );
            builder
                .with_stdin(stdin)
                .with_stdout(stdout)
                .with_stderr(stderr)
        }
    };
    Ok((builder, low))
}

/// libcontainer's tenant builder leaves its `tenant-notify-*.sock` (and
/// `tenant-tty-*.sock` link) in the container's state directory after every exec;
/// with a healthcheck exec'ing every few seconds they would pile up. They are only
/// used during the (serialized) exec call, so all of them are stale afterwards.
fn remove_tenant_sockets(container_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(container_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("tenant-") && name.ends_with(".sock") {
            if let Err(err) = std::fs::remove_file(entry.path()) {
                tracing::debug!(%err, name, "removing libcontainer exec socket");
            }
        }
    }
}

const OOM_SCORE_ADJ: &str = "/proc/self/oom_score_adj";

/// Children, fds and oom_score_adj of this process before a libcontainer call, to
/// clean up what a failed call leaves behind.
struct Snapshot {
    children: HashSet<i32>,
    fds: HashSet<RawFd>,
    oom_score_adj: Option<String>,
}

impl Snapshot {
    fn take() -> Self {
        Self {
            children: own_children(),
            fds: open_fds(),
            oom_score_adj: std::fs::read_to_string(OOM_SCORE_ADJ).ok(),
        }
    }

    /// libcontainer writes the process's `oomScoreAdj` to the *calling* process's
    /// oom_score_adj (the container inherits it from there): give the caller its
    /// own value back once the container's processes exist.
    fn restore_oom_score_adj(&self) {
        let Some(saved) = &self.oom_score_adj else {
            return;
        };
        if std::fs::read_to_string(OOM_SCORE_ADJ).ok().as_ref() != Some(saved) {
            if let Err(err) = std::fs::write(OOM_SCORE_ADJ, saved.trim()) {
                tracing::warn!(%err, "restoring oom_score_adj");
            }
        }
    }

    fn clean_up_after_failure(&self) {
        reap_failed_helpers(&self.children);
        close_leaked_channels(&self.fds);
    }
}

/// The fds open in this process.
fn open_fds() -> HashSet<RawFd> {
    std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// libcontainer 0.7 keeps its parent/child channels (close-on-exec unix
/// SOCK_SEQPACKET socketpairs) as raw fds and closes them only on success: after a
/// failed create or exec, closes such sockets that were opened during the call.
/// Nothing else in this process uses SOCK_SEQPACKET, and libcontainer calls are
/// serialized, so no socket of another user is touched.
fn close_leaked_channels(before: &HashSet<RawFd>) {
    for fd in open_fds().difference(before) {
        if is_libcontainer_channel(*fd) {
            // SAFETY: the fd was leaked by libcontainer (see above): no object owns
            // it, so closing it cannot invalidate anyone's fd.
            unsafe { libc::close(*fd) };
        }
    }
}

fn is_libcontainer_channel(fd: RawFd) -> bool {
    fn sockopt(fd: RawFd, opt: libc::c_int) -> Option<libc::c_int> {
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into the local int; a
        // non-socket fd just fails with ENOTSOCK.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        (rc == 0).then_some(value)
    }
    // SAFETY: F_GETFD only reads the fd's flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    flags >= 0
        && flags & libc::FD_CLOEXEC != 0
        && sockopt(fd, libc::SO_DOMAIN) == Some(libc::AF_UNIX)
        && sockopt(fd, libc::SO_TYPE) == Some(libc::SOCK_SEQPACKET)
}

/// This process's children (of all its threads), from
/// `/proc/self/task/*/children`; empty if the kernel does not provide that.
fn own_children() -> HashSet<i32> {
    let mut pids = HashSet::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return pids;
    };
    for task in tasks.flatten() {
        if let Ok(list) = std::fs::read_to_string(task.path().join("children")) {
            pids.extend(
                list.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    pids
}

/// After a failed create or exec, libcontainer may leave its intermediate and init
/// processes (named `youki:[1:INTER]` / `youki:[2:INIT]`, never exec'd) as our
/// children. Reaps those that appeared during the call (not in `before`), waiting
/// briefly for them to exit; processes of earlier calls are never touched.
fn reap_failed_helpers(before: &HashSet<i32>) {
    let deadline = Instant::now() + Duration::from_millis(500);
    loop {
        let pending: Vec<i32> = own_children()
            .into_iter()
            .filter(|pid| !before.contains(pid) && is_libcontainer_helper(*pid))
            .collect();
        for &pid in &pending {
            match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => {}
                Ok(status) => tracing::debug!(pid, ?status, "reaped libcontainer helper"),
                Err(err) => tracing::debug!(pid, %err, "waiting for libcontainer helper"),
            }
        }
        if pending.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            tracing::warn!(?pending, "libcontainer helper processes did not exit");
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn is_libcontainer_helper(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|comm| comm.starts_with("youki:["))
        .unwrap_or(false)
}

/// A temporary file removed on drop (exec's process.json).
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_file(&self.0) {
            if err.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.0.display(), %err, "failed to remove temporary file");
            }
        }
    }
}

impl Runtime for BuiltinRuntime {
    fn name(&self) -> &str {
        NAME
    }

    fn run(&self, id: &str, bundle: &Path, stdio: StdioSpec) -> Result<u32, RuntimeError> {
        let _lock = libcontainer_lock();
        let before = Snapshot::take();
        let result = self.run_locked(id, bundle, stdio);
        before.restore_oom_score_adj();
        if result.is_err() {
            before.clean_up_after_failure();
        }
        result
    }

    fn exec(
        &self,
        id: &str,
        _bundle: &Path,
        process: &oci_spec::runtime::Process,
        stdio: StdioSpec,
    ) -> Result<u32, RuntimeError> {
        let _lock = libcontainer_lock();
        let before = Snapshot::take();
        let result = self.exec_locked(id, process, stdio);
        before.restore_oom_score_adj();
        if result.is_err() {
            before.clean_up_after_failure();
        }
        if let Ok(dir) = self.container_dir("exec", id) {
            remove_tenant_sockets(&dir);
        }
        result
    }

    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RuntimeError> {
        const ACTION: &str = "kill";
        // libcontainer rewrites state.json in place (truncate, write) on kill and
        // delete: a kill racing the shim's delete read a truncated file, failed
        // the delete, and left the container's cgroups behind. One call at a time.
        let _lock = libcontainer_lock();
        let mut container = self
            .load(ACTION, id)?
            .ok_or_else(|| self.failed(ACTION, id, "container does not exist".into()))?;

        // The state records init's pid only: if init has exited and been reaped,
        // the pid may since belong to an unrelated process. Signal it only while it
        // is still in the container's cgroup.
        if container.status() != ContainerStatus::Stopped && !all {
            if let Some(pid) = container.pid() {
                let cgroup = container
                    .spec()
                    .map_err(|e| self.lib_failed(ACTION, id, e))?
                    .cgroup_path;
                if !pid_in_cgroup(pid.as_raw(), &cgroup) {
                    return Err(self.failed(ACTION, id, "container not running".into()));
                }
            }
        }

        match Signal::try_from(signal) {
            Ok(sig) => container.kill(sig, all).map_err(|err| match err {
                LibcontainerError::IncorrectStatus(ContainerStatus::Stopped) => {
                    self.failed(ACTION, id, "container not running".into())
                }
                err => self.lib_failed(ACTION, id, err),
            }),
            // Signals nix does not name (real-time signals): deliver to init directly.
            Err(_) if !all && signal > 0 && signal <= libc::SIGRTMAX() => {
                let pid = match (container.status(), container.pid()) {
                    (ContainerStatus::Stopped, _) | (_, None) => {
                        return Err(self.failed(ACTION, id, "container not running".into()))
                    }
                    (_, Some(pid)) => pid,
                };
                // SAFETY: kill(2) takes plain integers and touches no memory.
                let rc = unsafe { libc::kill(pid.as_raw(), signal) };
                if rc == 0 {
                    Ok(())
                } else {
                    Err(self.failed(
                        ACTION,
                        id,
                        format!(
                            "sending signal {signal} to {pid}: {}",
                            std::io::Error::last_os_error()
                        ),
                    ))
                }
            }
            Err(_) => Err(self.failed(ACTION, id, format!("unsupported signal {signal}"))),
        }
    }

    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        const ACTION: &str = "delete";
        let _lock = libcontainer_lock();
        let dir = self.container_dir(ACTION, id)?;
        if !dir.exists() {
            self.remove_derived_bundle(id);
            return Ok(());
        }
        let result = match Container::load(dir.clone()) {
            Ok(mut container) => container.delete(force).map_err(|err| match err {
                LibcontainerError::IncorrectStatus(status) => self.failed(
                    ACTION,
                    id,
                    format!("container is still {status}: kill it first or force the deletion"),
                ),
                err => self.lib_failed(ACTION, id, err),
            }),
            Err(err) => {
                // Only possible when a create was interrupted before libcontainer
                // wrote its state: there is no process and no cgroup to clean up.
                tracing::warn!(id, err = %describe(&err), "container state unreadable; removing its directory");
                std::fs::remove_dir_all(&dir).map_err(|source| RuntimeError::Io {
                    runtime: NAME.to_owned(),
                    context: format!("removing {}", dir.display()),
                    source,
                })
            }
        };
        if result.is_ok() {
            self.remove_derived_bundle(id);
        }
        result
    }
}

/// Whether process `pid` is in `cgroup` (a path as in the spec's cgroupsPath) in
/// any hierarchy. Relative (systemd-style) paths cannot be checked: assumed yes.
fn pid_in_cgroup(pid: i32, cgroup: &Path) -> bool {
    if !cgroup.is_absolute() {
        return true;
    }
    let Some(cgroup) = cgroup.to_str() else {
        return true;
    };
    let cgroup = match cgroup.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    };
    match std::fs::read_to_string(format!("/proc/{pid}/cgroup")) {
        // Lines are `hierarchy-id:controllers:path`.
        Ok(text) => text
            .lines()
            .filter_map(|line| line.splitn(3, ':').nth(2))
            .any(|path| path == cgroup),
        Err(_) => false,
    }
}

/// An error and its sources as one line, without the repetitions that
/// `#[error(transparent)]` wrappers produce; a missing or non-executable program is
/// phrased like runc does (`exec: "x": executable file not found in $PATH`), which
/// the daemon maps to exit codes 127/126.
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !text.is_empty() && !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    normalize_exec_error(message)
}

/// Rewrites libcontainer's executor validation errors into runc's wording.
fn normalize_exec_error(message: String) -> String {
    const PREFIX: &str = "executable '";
    let Some(start) = message.find(PREFIX) else {
        return message;
    };
    let rest = &message[start + PREFIX.len()..];
    if let Some(end) = rest.find("' not found in $PATH") {
        return format!(
            "unable to start container process: exec: \"{}\": executable file not found in $PATH",
            &rest[..end]
        );
    }
    if let Some(end) = rest.find("' at path ") {
        if rest.contains("does not have correct permissions") {
            return format!(
                "unable to start container process: exec: \"{}\": permission denied",
                &rest[..end]
            );
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_executable_is_phrased_like_runc() {
        let m = normalize_exec_error(
            "failed to create container: error in executing process : executable 'nosuch' not found in $PATH".into(),
        );
        assert_eq!(
            m,
            "unable to start container process: exec: \"nosuch\": executable file not found in $PATH"
        );
    }

    #[test]
    fn non_executable_is_permission_denied() {
        let m = normalize_exec_error(
            "error in executing process : executable '/etc/passwd' at path '\"/etc/passwd\"' does not have correct permissions".into(),
        );
        assert!(
            m.ends_with("exec: \"/etc/passwd\": permission denied"),
            "{m}"
        );
    }

    #[test]
    fn other_errors_are_kept() {
        let m = normalize_exec_error("container already exists".into());
        assert_eq!(m, "container already exists");
    }

    #[test]
    fn explicit_nnp_false_is_removed_from_config() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        let original = serde_json::json!({
            "ociVersion": "1.0.2",
            "process": {"args": ["sh"], "noNewPrivileges": false, "x-unknown": 1},
            "x-top": {"kept": true}
        });
        std::fs::write(&config, original.to_string()).unwrap();
        normalize_for_libcontainer(&config).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
        assert!(v["process"].get("noNewPrivileges").is_none());
        assert_eq!(v["process"]["x-unknown"], 1);
        assert_eq!(v["x-top"]["kept"], true);

        // true, absent, no process: untouched.
        for doc in [
            serde_json::json!({"process": {"noNewPrivileges": true}}),
            serde_json::json!({"process": {"args": ["sh"]}}),
            serde_json::json!({"ociVersion": "1.0.2"}),
        ] {
            let text = doc.to_string();
            std::fs::write(&config, &text).unwrap();
            normalize_for_libcontainer(&config).unwrap();
            assert_eq!(std::fs::read_to_string(&config).unwrap(), text);
        }
        std::fs::write(&config, "{not json").unwrap();
        assert!(normalize_for_libcontainer(&config).is_err());
    }

    #[test]
    fn masked_eq_operands_are_swapped_for_libcontainer() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        let doc = serde_json::json!({
            "linux": {"seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}
            ]}}
        });
        std::fs::write(&config, doc.to_string()).unwrap();
        normalize_for_libcontainer(&config).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
        let clone = &v["linux"]["seccomp"]["syscalls"][0]["args"][0];
        assert_eq!(clone["value"], 0);
        assert_eq!(clone["valueTwo"], 2114060288);
        let personality = &v["linux"]["seccomp"]["syscalls"][1]["args"][0];
        assert_eq!(personality["value"], 8);
        assert!(personality.get("valueTwo").is_none());
    }

    #[test]
    fn elevation_for_seccomp() {
        use oci_spec::runtime::{Capability, LinuxCapabilities, Process};
        let docker: LinuxCapabilities = serde_json::from_value(serde_json::json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL"],
            "effective": ["CAP_CHOWN", "CAP_KILL"],
            "permitted": ["CAP_CHOWN", "CAP_KILL"],
        }))
        .unwrap();
        let mut process = Process::default();
        process.set_capabilities(Some(docker.clone()));

        process.set_no_new_privileges(Some(true));
        let (p, restore) = elevate_for_seccomp(&process);
        assert!(restore.is_none());
        assert_eq!(p, process);

        process.set_no_new_privileges(Some(false));
        let (p, restore) = elevate_for_seccomp(&process);
        assert_eq!(restore, Some(docker.clone()));
        assert_eq!(p.no_new_privileges(), None);
        let caps = p.capabilities().as_ref().unwrap();
        for set in [caps.bounding(), caps.effective(), caps.permitted()] {
            let set = set.as_ref().unwrap();
            assert!(set.contains(&Capability::SysAdmin) && set.contains(&Capability::Setpcap));
            assert!(set.contains(&Capability::Chown));
        }

        // Already privileged, or no capabilities at all: nothing to raise.
        let mut all = process.clone();
        all.set_capabilities(None);
        assert!(elevate_for_seccomp(&all).1.is_none());
        let mut admin = docker.clone();
        let mut with_admin = admin.effective().clone().unwrap();
        with_admin.insert(Capability::SysAdmin);
        admin.set_effective(Some(with_admin.clone()));
        admin.set_permitted(Some(with_admin));
        let mut privileged = process.clone();
        privileged.set_capabilities(Some(admin));
        assert!(elevate_for_seccomp(&privileged).1.is_none());
    }

    #[test]
    fn pid_in_cgroup_reads_proc() {
        let me = std::process::id() as i32;
        let text = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let own = text.lines().next().unwrap().splitn(3, ':').nth(2).unwrap();
        assert!(pid_in_cgroup(me, Path::new(own)));
        assert!(!pid_in_cgroup(me, Path::new("/berth/surely-not-here")));
        assert!(pid_in_cgroup(me, Path::new("relative:systemd:path")));
        assert!(!pid_in_cgroup(i32::MAX, Path::new("/")));
    }

    #[test]
    fn invalid_ids_are_rejected_before_touching_the_filesystem() {
        let rt = BuiltinRuntime::new(PathBuf::from("/nonexistent/berth-test-root"));
        for id in ["", ".", "..", "a/b", "../x"] {
            let err = rt.delete(id, true).unwrap_err();
            assert!(matches!(err, RuntimeError::Failed { .. }), "{id}: {err}");
        }
        // A valid but unknown id: delete is a no-op, kill is an error.
        rt.delete("unknown", false).unwrap();
        assert!(rt.kill("unknown", 9, false).is_err());
    }
}
