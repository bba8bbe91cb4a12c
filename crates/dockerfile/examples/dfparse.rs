//! Parses a Dockerfile from stdin and prints the result: `OK <stages>` or the
//! error (`dockerfile parse error on line N: ...`). A debugging aid and the
//! driver of differential tests against Docker's classic builder.

use std::io::Read;

fn main() {
    let mut src = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut src) {
        eprintln!("read stdin: {e}");
        std::process::exit(2);
    }
    match dockerfile::parse(&src) {
        Ok(df) => {
            if std::env::args().any(|a| a == "-v") {
                println!("{df:#?}");
            }
            println!("OK {} stage(s)", df.stages.len());
        }
        Err(e) => {
            println!("{e}");
            std::process::exit(1);
        }
    }
}
