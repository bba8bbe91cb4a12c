//! The typed Dockerfile AST produced by [`crate::parse`].
//!
//! Values are kept **as written** (after line continuations are joined): quotes
//! and `$VARIABLES` in the words of instructions that BuildKit expands (ENV,
//! LABEL, ARG values, COPY/ADD, WORKDIR, USER, VOLUME, EXPOSE, STOPSIGNAL, RUN
//! mounts, FROM) are still in place. The builder resolves them with
//! [`Step::expand`] (or [`Instruction::expand`]) against the environment of the
//! step, exactly when BuildKit does; see [`crate::expand`].

use std::time::Duration;

use crate::mount::MountSpec;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// Parser directives found at the top (`syntax`, `escape`, `check`), in order.
    pub directives: Vec<Directive>,
    /// The escape character in effect (`\` unless `# escape=` changed it).
    pub escape: char,
    /// `ARG` declarations before the first `FROM` (the global scope, usable in
    /// `FROM` lines).
    pub meta_args: Vec<ArgDecl>,
    /// Build stages, one per `FROM`, in order.
    pub stages: Vec<Stage>,
    /// Non-fatal findings (e.g. empty continuation lines), as BuildKit warns.
    pub warnings: Vec<Warning>,
}

impl Dockerfile {
    /// The value of a parser directive (`syntax`, `escape`, `check`), if present.
    pub fn directive(&self, name: &str) -> Option<&str> {
        self.directives
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(name))
            .map(|d| d.value.as_str())
    }

    /// The stage with this name (names are stored lower-case; the lookup is
    /// case-insensitive, as BuildKit's).
    pub fn stage(&self, name: &str) -> Option<(usize, &Stage)> {
        self.stages.iter().enumerate().find(|(_, s)| {
            s.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    }
}

/// A parser directive such as `# syntax=docker/dockerfile:1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// Lower-cased directive name.
    pub name: String,
    /// The value, trimmed, case preserved.
    pub value: String,
    /// 1-based line.
    pub line: usize,
}

/// A non-fatal parser finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Short description, worded as BuildKit's.
    pub message: String,
    /// 1-based line it refers to.
    pub line: usize,
}

/// Lines an instruction spans in the source (1-based, inclusive; heredoc bodies
/// included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    /// First line.
    pub start_line: usize,
    /// Last line.
    pub end_line: usize,
}

/// One `FROM` and the instructions that follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The stage name from `FROM image AS name`, lower-cased.
    pub name: Option<String>,
    /// The base image reference or stage name, as written (may hold `$ARG`s;
    /// see [`Stage::expanded_base`]).
    pub base: String,
    /// `--platform` as written, if given.
    pub platform: Option<String>,
    /// The instructions of the stage, in order.
    pub instructions: Vec<Step>,
    /// Where the `FROM` line is.
    pub location: Location,
    /// The `FROM` instruction's text (continuations joined, trimmed).
    pub original: String,
}

/// An instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The typed instruction.
    pub instruction: Instruction,
    /// Lines it spans.
    pub location: Location,
    /// The instruction text: continuation lines joined, comments removed,
    /// trimmed, heredoc bodies not included (what BuildKit shows in its
    /// progress output and uses for `created_by`).
    pub original: String,
    /// The keyword as written (e.g. `run`, `RUN`).
    pub keyword: String,
    /// The Dockerfile's escape character (needed to expand the words).
    pub escape: char,
}

/// An `ARG` declaration: `ARG name` or `ARG name=default`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    /// The argument name.
    pub name: String,
    /// The default value as written (quotes and `$VARS` intact), if any.
    pub default: Option<String>,
}

/// A Dockerfile instruction other than `FROM` (which starts a [`Stage`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// `RUN`.
    Run(Run),
    /// `CMD`.
    Cmd(Command),
    /// `ENTRYPOINT`.
    Entrypoint(Command),
    /// `ENV k=v ...` or `ENV k v`: (key, value) pairs as written.
    Env(Vec<(String, String)>),
    /// `ARG`.
    Arg(Vec<ArgDecl>),
    /// `LABEL k=v ...`: (key, value) pairs as written.
    Label(Vec<(String, String)>),
    /// `EXPOSE 80/tcp ...`: the words as written (they may expand to several).
    Expose(Vec<String>),
    /// `COPY`.
    Copy(Copy),
    /// `ADD`.
    Add(Add),
    /// `WORKDIR path`.
    Workdir(String),
    /// `USER user[:group]`.
    User(String),
    /// `VOLUME`: paths.
    Volume(Vec<String>),
    /// `SHELL ["executable", "params"]`.
    Shell(Vec<String>),
    /// `STOPSIGNAL`.
    StopSignal(String),
    /// `HEALTHCHECK`.
    Healthcheck(Healthcheck),
    /// `ONBUILD <instruction>`.
    Onbuild(Onbuild),
    /// `MAINTAINER` (deprecated).
    Maintainer(String),
}

impl Instruction {
    /// The upper-case keyword of this instruction (`RUN`, `COPY`, ...).
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::Run(_) => "RUN",
            Instruction::Cmd(_) => "CMD",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Env(_) => "ENV",
            Instruction::Arg(_) => "ARG",
            Instruction::Label(_) => "LABEL",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::Copy(_) => "COPY",
            Instruction::Add(_) => "ADD",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::User(_) => "USER",
            Instruction::Volume(_) => "VOLUME",
            Instruction::Shell(_) => "SHELL",
            Instruction::StopSignal(_) => "STOPSIGNAL",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::Onbuild(_) => "ONBUILD",
            Instruction::Maintainer(_) => "MAINTAINER",
        }
    }
}

/// A command line: shell form (run through the `SHELL`) or exec form (JSON array).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Shell form: the text after the keyword (and flags), as written. Empty
    /// when the instruction has no arguments.
    Shell(String),
    /// Exec form: the JSON array's strings.
    Exec(Vec<String>),
}

/// A here-document attached to `RUN`, `COPY` or `ADD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word with quotes removed (`EOF` for `<<"EOF"`).
    pub name: String,
    /// File descriptor number written before `<<` (`3<<EOF`); 0 when absent.
    pub fd: u32,
    /// `false` when any part of the delimiter was quoted: the body is then not
    /// expanded.
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from the body lines.
    pub chomp: bool,
    /// The body as written: every line up to (not including) the delimiter
    /// line, each with its newline. Tabs are **not** stripped here; see
    /// [`Heredoc::body`].
    pub content: String,
}

impl Heredoc {
    /// The body with leading tabs removed from every line when `chomp` is set.
    pub fn body(&self) -> String {
        if self.chomp {
            chomp_heredoc_content(&self.content)
        } else {
            self.content.clone()
        }
    }
}

/// Removes leading tabs from every line (the `<<-` rule).
pub fn chomp_heredoc_content(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for line in s.split_inclusive('\n') {
        out.push_str(line.trim_start_matches('\t'));
    }
    out
}

/// `RUN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The command. In shell form it still contains the `<<EOF` words; the
    /// bodies are in `heredocs`.
    pub command: Command,
    /// Here-documents of a shell-form `RUN`, in order.
    pub heredocs: Vec<Heredoc>,
    /// `--mount` values, typed. Values holding `$VARIABLES` are resolved by
    /// [`Instruction::expand`]; until then they hold the text as written.
    pub mounts: Vec<MountSpec>,
    /// The raw `--mount` flag values, in order (what `mounts` was parsed from).
    pub mount_flags: Vec<String>,
    /// `--network`.
    pub network: NetworkMode,
    /// `--security`.
    pub security: SecurityMode,
}

/// What a `RUN` executes, once heredocs are taken into account (BuildKit's
/// `dispatchRun`). Shell forms are still to be prefixed with the `SHELL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunScript {
    /// No heredocs: the command as written.
    Command(Command),
    /// The command is one heredoc whose body (tabs stripped for `<<-`)
    /// starts with `#!`: BuildKit writes the body to an executable file
    /// `/dev/pipes/<name>` (mode 0755, mounted read-only) and runs `path`
    /// through the shell. (BuildKit does this on Linux images only.)
    ShebangFile {
        /// The file name (the heredoc delimiter).
        name: String,
        /// Where BuildKit mounts it: `/dev/pipes/<name>`.
        path: String,
        /// The file content.
        body: String,
    },
    /// The command is one heredoc: its body (tabs stripped for `<<-`) is
    /// the shell script. Not expanded by the builder.
    Script(String),
    /// Heredocs used inside a longer command: the command line followed, for
    /// each heredoc, by a newline, the body as written and the delimiter, for
    /// the shell to interpret.
    Reconstituted(String),
}

impl Run {
    /// The command to execute with the heredocs applied, as BuildKit does.
    pub fn script(&self) -> RunScript {
        let (Command::Shell(line), Some(first)) = (&self.command, self.heredocs.first()) else {
            return RunScript::Command(self.command.clone());
        };
        if crate::lines::heredoc_marker(line).is_some() {
            let body = first.body();
            if body.starts_with("#!") {
                return RunScript::ShebangFile {
                    name: first.name.clone(),
                    path: format!("/dev/pipes/{}", first.name),
                    body,
                };
            }
            return RunScript::Script(body);
        }
        let mut full = line.clone();
        for h in &self.heredocs {
            full.push('\n');
            full.push_str(&h.content);
            full.push_str(&h.name);
        }
        RunScript::Reconstituted(full)
    }
}

/// `RUN --network=...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// The default network (also when the flag is absent).
    #[default]
    Default,
    /// No network.
    None,
    /// The host's network namespace.
    Host,
}

/// `RUN --security=...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityMode {
    /// The default sandbox (also when the flag is absent).
    #[default]
    Sandbox,
    /// Privileged ("insecure") execution.
    Insecure,
}

/// A file source given inline with a here-document (`COPY <<EOF /dest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineSource {
    /// The delimiter name (used as the file name).
    pub path: String,
    /// The body (leading tabs already stripped for `<<-`).
    pub data: String,
    /// Whether `$VARIABLES` in the body are expanded (delimiter not quoted).
    pub expand: bool,
}

/// `COPY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// Source paths as written (heredoc sources are in `inline`).
    pub sources: Vec<String>,
    /// Here-document sources.
    pub inline: Vec<InlineSource>,
    /// Destination as written.
    pub dest: String,
    /// `--from` (stage name, index or image).
    pub from: Option<String>,
    /// `--chown`.
    pub chown: Option<String>,
    /// `--chmod`.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--parents`.
    pub parents: bool,
    /// `--exclude` patterns (repeatable).
    pub exclude: Vec<String>,
    /// Whether the arguments were a JSON array.
    pub json: bool,
}

/// `ADD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Add {
    /// Source paths or URLs as written (heredoc sources are in `inline`).
    pub sources: Vec<String>,
    /// Here-document sources.
    pub inline: Vec<InlineSource>,
    /// Destination as written.
    pub dest: String,
    /// `--chown`.
    pub chown: Option<String>,
    /// `--chmod`.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--exclude` patterns (repeatable).
    pub exclude: Vec<String>,
    /// `--checksum`.
    pub checksum: Option<String>,
    /// `--keep-git-dir` (`None` when not given).
    pub keep_git_dir: Option<bool>,
    /// `--unpack` (`None` when not given).
    pub unpack: Option<bool>,
    /// Whether the arguments were a JSON array.
    pub json: bool,
}

/// `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable any inherited check.
    None,
    /// `HEALTHCHECK [options] CMD ...`.
    Check(HealthcheckConfig),
}

/// The options and command of `HEALTHCHECK CMD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthcheckConfig {
    /// The check. `Shell` maps to `["CMD-SHELL", cmd]`, `Exec` to `["CMD", ...]`.
    pub command: Command,
    /// `--interval` (`None` when absent or zero: the default applies).
    pub interval: Option<Duration>,
    /// `--timeout`.
    pub timeout: Option<Duration>,
    /// `--start-period`.
    pub start_period: Option<Duration>,
    /// `--start-interval`.
    pub start_interval: Option<Duration>,
    /// `--retries` (`None` when absent).
    pub retries: Option<u32>,
}

impl HealthcheckConfig {
    /// The image-config `Test` array: `["CMD-SHELL", cmd]` or `["CMD", args...]`.
    pub fn test(&self) -> Vec<String> {
        match &self.command {
            Command::Shell(s) => vec!["CMD-SHELL".to_string(), s.clone()],
            Command::Exec(v) => {
                let mut t = vec!["CMD".to_string()];
                t.extend(v.iter().cloned());
                t
            }
        }
    }
}

/// `ONBUILD <instruction>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Onbuild {
    /// The trigger, parsed (never `FROM`, `ONBUILD` or `MAINTAINER`).
    pub instruction: Box<Instruction>,
    /// The trigger's text as stored in the image config's `OnBuild` list:
    /// the original line without the `ONBUILD` keyword, followed by any
    /// heredoc bodies and delimiters (as BuildKit stores it).
    pub expression: String,
}
