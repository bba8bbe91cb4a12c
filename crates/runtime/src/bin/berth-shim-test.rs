//! The shim as a standalone binary, for the runtime crate's tests
//! (`berth-shim-test shim <state_dir>`); berthd does the same.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 || args[1] != "shim" {
        eprintln!("usage: berth-shim-test shim <state_dir>");
        std::process::exit(2);
    }
    std::process::exit(runtime::shim::shim_main(std::path::Path::new(&args[2])));
}
