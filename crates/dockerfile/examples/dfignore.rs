//! Reads a `.dockerignore` (first argument) and paths on stdin; prints the
//! paths a context walker keeps: directories that are excluded are skipped
//! unless an exception may re-include something below them.

use std::io::BufRead;

fn main() {
    let Some(file) = std::env::args().nth(1) else {
        eprintln!("usage: dfignore <.dockerignore> < paths");
        std::process::exit(2);
    };
    let content = match std::fs::read_to_string(&file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{file}: {e}");
            std::process::exit(2);
        }
    };
    let pm = match dockerfile::IgnoreMatcher::from_dockerignore(&content) {
        Ok(pm) => pm,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    for line in std::io::stdin().lock().lines() {
        let Ok(path) = line else { break };
        let parts: Vec<&str> = path.split('/').collect();
        let skipped = (1..parts.len()).any(|i| {
            let dir = parts[..i].join("/");
            pm.matches(&dir) && !pm.may_match_children(&dir)
        });
        if !skipped && !pm.matches(&path) {
            println!("{path}");
        }
    }
}
