//! Dockerfile parser and AST: pure, no IO.
//!
//! [`parse`] turns Dockerfile text into a [`Dockerfile`]: parser directives,
//! global `ARG`s and stages of typed [`Instruction`]s, each with its location
//! and original text. It follows BuildKit's parser (`frontend/dockerfile/parser`
//! and `instructions`) for syntax, accepted forms and error wording, so that a
//! Dockerfile Docker accepts is accepted here and vice versa.
//!
//! Words are kept as written; the builder expands them per step with
//! [`Step::expand`] (rules in [`expand`]). [`ignore`] implements
//! `.dockerignore` matching.
//!
//! ```
//! let df = dockerfile::parse("FROM busybox AS base\nENV A=1\nRUN echo $A\n").unwrap();
//! assert_eq!(df.stages[0].name.as_deref(), Some("base"));
//! let env = vec![("A".to_string(), "1".to_string())];
//! let step = &df.stages[0].instructions[0];
//! assert_eq!(step.expand(&env).unwrap(), step.instruction);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ast;
pub mod error;
pub mod expand;
pub mod ignore;
mod instructions;
mod lines;
pub mod mount;
pub mod units;
mod words;

pub use ast::{
    Add, ArgDecl, Command, Copy, Directive, Dockerfile, Healthcheck, HealthcheckConfig, Heredoc,
    InlineSource, Instruction, Location, NetworkMode, Onbuild, Run, RunScript, SecurityMode, Stage,
    Step, Warning,
};
pub use error::ParseError;
pub use expand::{ExpandError, Lexer, Lookup, NoEnv};
pub use ignore::{IgnoreError, IgnoreMatcher};
pub use instructions::INSTRUCTIONS;
pub use mount::{CacheSharing, MountSpec, MountType};

use instructions::{parse_instruction, Parsed, Req};

/// Parses a Dockerfile.
///
/// Errors carry the line of the offending instruction and BuildKit's message;
/// see [`ParseError`].
pub fn parse(src: &str) -> Result<Dockerfile, ParseError> {
    let lines = lines::parse_lines(src)?;
    let escape = lines.escape;
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for node in &lines.nodes {
        let req = Req {
            keyword: &node.keyword,
            flags: &node.flags,
            rest: &node.rest,
            original: &node.original,
            heredocs: &node.heredocs,
            escape,
        };
        let err = |message: String| {
            ParseError::new(node.start_line, node.end_line, message).with_instruction(&node.keyword)
        };
        let location = Location {
            start_line: node.start_line,
            end_line: node.end_line,
        };
        match parse_instruction(&req).map_err(err)? {
            Parsed::From(f) => stages.push(Stage {
                name: f.name,
                base: f.base,
                platform: f.platform,
                instructions: Vec::new(),
                location,
                original: node.original.clone(),
            }),
            Parsed::Instruction(Instruction::Arg(args)) if stages.is_empty() => {
                meta_args.extend(args);
            }
            Parsed::Instruction(instruction) => {
                let Some(stage) = stages.last_mut() else {
                    return Err(err("no build stage in current context".into()));
                };
                stage.instructions.push(Step {
                    instruction,
                    location,
                    original: node.original.clone(),
                    keyword: node.keyword.clone(),
                    escape,
                });
            }
        }
    }
    if stages.is_empty() {
        let last = lines.nodes.last().map(|n| n.end_line).unwrap_or(0);
        return Err(ParseError::new(
            last,
            last,
            "dockerfile contains no stages to build",
        ));
    }
    Ok(Dockerfile {
        directives: lines.directives,
        escape,
        meta_args,
        stages,
        warnings: lines.warnings,
    })
}
