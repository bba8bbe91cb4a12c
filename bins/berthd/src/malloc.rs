//! The C allocator's knobs (glibc malloc; elsewhere these do nothing). The only
//! `unsafe` of this crate: plain libc calls.

/// Caps glibc's malloc arenas. By default every thread that allocates while the
/// others hold their arenas gets one of its own (up to 8 per core), and memory freed
/// into an arena stays there: the blocking-pool threads of builds, pulls and pushes
/// left a daemon holding tens of MiB after the work was done. Call before the async
/// runtime starts its threads. An operator's own setting (`MALLOC_ARENA_MAX` or
/// `GLIBC_TUNABLES=glibc.malloc.arena_max=N`) wins.
pub fn limit_arenas(max: i32) {
    let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() || tunables.contains("malloc.arena_max") {
        return;
    }
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets an allocator parameter; M_ARENA_MAX takes any
    // positive count. No allocation is in progress in another thread at startup.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, max);
    }
    #[cfg(not(target_env = "gnu"))]
    let _ = max;
}

/// Gives the free memory of every arena back to the kernel (whole free pages inside
/// the heaps too, not only the top of the main heap as free() does).
pub fn trim() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim takes the arena locks itself and only releases pages that
    // hold no allocation. The daemon starts processes only through fork/posix_spawn
    // and exec (whose child does not allocate before exec), never with a raw clone
    // that could inherit a held arena lock.
    unsafe {
        libc::malloc_trim(0);
    }
}
