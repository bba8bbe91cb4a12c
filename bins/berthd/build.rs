//! Link berthd as a position-dependent executable. Every container's shim is this
//! binary; as a PIE, the dynamic loader rewrites ~1 MB of relocated data
//! (vtables, string tables) in each shim, which stays private dirty memory. A
//! non-PIE executable has those addresses fixed at link time, so the pages stay
//! clean and shared between all shims.
fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
