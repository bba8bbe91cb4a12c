//! Evaluates the config-only instructions of the last stage of a Dockerfile
//! read from stdin (ENV, ARG, LABEL, WORKDIR, USER, EXPOSE, VOLUME,
//! STOPSIGNAL) the way a builder would, and prints the resulting values, one
//! per line. A driver for differential tests against Docker's builder.

use std::io::Read;

use dockerfile::Instruction;

fn main() {
    let mut src = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut src) {
        eprintln!("read stdin: {e}");
        std::process::exit(2);
    }
    let df = match dockerfile::parse(&src) {
        Ok(df) => df,
        Err(e) => {
            println!("{e}");
            std::process::exit(1);
        }
    };
    let Some(stage) = df.stages.last() else {
        return;
    };
    let mut env: Vec<(String, String)> = Vec::new();
    let mut labels = Vec::new();
    let mut workdir = String::from("/");
    for step in &stage.instructions {
        let i = match step.expand(&env) {
            Ok(i) => i,
            Err(e) => {
                println!("{e}");
                std::process::exit(1);
            }
        };
        match i {
            Instruction::Env(kv) => env.extend(kv),
            Instruction::Arg(args) => {
                for a in args {
                    if let Some(v) = a.default {
                        env.push((a.name, v));
                    }
                }
            }
            Instruction::Label(kv) => labels.extend(kv),
            Instruction::Workdir(w) => {
                workdir = if w.starts_with('/') {
                    w
                } else {
                    format!("{}/{}", workdir.trim_end_matches('/'), w)
                }
            }
            Instruction::User(u) => println!("User={u}"),
            Instruction::Expose(p) => println!("Expose={p:?}"),
            Instruction::Volume(v) => println!("Volume={v:?}"),
            Instruction::StopSignal(s) => println!("StopSignal={s}"),
            Instruction::Cmd(c) => println!("Cmd={c:?}"),
            Instruction::Entrypoint(c) => println!("Entrypoint={c:?}"),
            Instruction::Shell(c) => println!("Shell={c:?}"),
            Instruction::Healthcheck(dockerfile::Healthcheck::Check(h)) => {
                println!(
                    "Healthcheck={:?} {:?} {:?}",
                    h.test(),
                    h.interval,
                    h.retries
                )
            }
            Instruction::Onbuild(o) => println!("OnBuild={:?}", o.expression),
            _ => {}
        }
    }
    for (k, v) in &env {
        println!("Env {k}={v}");
    }
    for (k, v) in &labels {
        println!("Label {k}={v}");
    }
    println!("WorkingDir={workdir}");
}
