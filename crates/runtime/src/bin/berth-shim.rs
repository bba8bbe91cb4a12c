//! `berth-shim <state_dir>`: a container's shim (monitor), spawned by berthd through
//! `runtime::shim::spawn_shim`, installed next to berthd. A binary of its own, with
//! only the shim, the runtimes and the log writer in it (no HTTP server, image store
//! or builder): one runs per container, so its memory counts many times over.

fn main() {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        eprintln!("usage: berth-shim <state_dir>");
        std::process::exit(2);
    };
    std::process::exit(runtime::shim::shim_main(std::path::Path::new(&dir)));
}
