//! `berth`: Berth's command-line client, speaking the Docker Engine API.

#![forbid(unsafe_code)]

mod auth;
mod client;
mod commands;
mod format;
mod jsonmessage;
mod stream;
mod tty;

use clap::{Parser, Subcommand};

use crate::client::{Client, Host, DEFAULT_HOST};
use commands::InspectKind;
use commands::{container as c, image as i, network as n, system as s, volume as v};

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    version,
    about = "A self-sufficient runtime for containers",
    disable_help_subcommand = true
)]
struct Cli {
    /// Daemon socket to connect to (unix:///path or tcp://host:port)
    #[arg(short = 'H', long = "host", env = "BERTH_HOST")]
    host: Option<String>,
    /// Location of client config files (default "~/.docker", or $DOCKER_CONFIG)
    #[arg(long = "config", value_name = "DIR")]
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create and run a new container from an image
    Run(c::RunArgs),
    /// Create a new container
    Create(c::CreateArgs),
    /// Start one or more stopped containers
    Start(c::StartArgs),
    /// Stop one or more running containers
    Stop(c::StopArgs),
    /// Kill one or more running containers
    Kill(c::KillArgs),
    /// Restart one or more containers
    Restart(c::RestartArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(c::WaitArgs),
    /// Remove one or more containers
    Rm(c::RmArgs),
    /// Rename a container
    Rename(c::RenameArgs),
    /// List containers
    Ps(c::PsArgs),
    /// Return low-level information on Berth objects
    Inspect(commands::InspectArgs),
    /// Fetch the logs of a container
    Logs(c::LogsArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(c::AttachArgs),
    /// Execute a command in a running container
    Exec(c::ExecArgs),
    /// Display the running processes of a container
    Top(c::TopArgs),
    /// Pause all processes within one or more containers
    Pause(c::PauseArgs),
    /// Unpause all processes within one or more containers
    Unpause(c::PauseArgs),
    /// List port mappings or a specific mapping for the container
    Port(c::PortArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(c::DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(c::ExportArgs),
    /// Create a new image from a container's changes
    Commit(c::CommitArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(commands::cp::CpArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(commands::stats::StatsArgs),
    /// Update configuration of one or more containers
    Update(commands::stats::UpdateArgs),
    /// List images
    Images(i::ImagesArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(i::TagArgs),
    /// Remove one or more images
    Rmi(i::RmiArgs),
    /// Show the history of an image
    History(i::HistoryArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(i::ImportArgs),
    /// Load an image from a tar archive or STDIN
    Load(i::LoadArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(i::SaveArgs),
    /// Download an image from a registry
    Pull(i::PullArgs),
    /// Upload an image to a registry
    Push(i::PushArgs),
    /// Build an image from a Dockerfile
    Build(i::BuildArgs),
    /// Authenticate to a registry
    Login(commands::login::LoginArgs),
    /// Log out from a registry
    Logout(commands::login::LogoutArgs),
    /// Show the Berth version information
    Version(s::VersionArgs),
    /// Display system-wide information
    Info(s::InfoArgs),
    /// Get real time events from the server
    Events(s::EventsArgs),
    /// Manage containers
    Container {
        #[command(subcommand)]
        cmd: ContainerCmd,
    },
    /// Manage images
    Image {
        #[command(subcommand)]
        cmd: ImageCmd,
    },
    /// Manage networks
    Network {
        #[command(subcommand)]
        cmd: NetworkCmd,
    },
    /// Manage volumes
    Volume {
        #[command(subcommand)]
        cmd: VolumeCmd,
    },
    /// Run a private registry server
    Registry {
        #[command(subcommand)]
        cmd: commands::registry::RegistryCmd,
    },
    /// Manage Berth
    System {
        #[command(subcommand)]
        cmd: SystemCmd,
    },
}

#[derive(Subcommand, Debug)]
enum NetworkCmd {
    /// List networks
    #[command(visible_alias = "list")]
    Ls(n::NetworkLsArgs),
    /// Create a network
    Create(n::NetworkCreateArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(n::NetworkRmArgs),
    /// Display detailed information on one or more networks
    Inspect(n::NetworkInspectArgs),
    /// Connect a container to a network
    Connect(n::NetworkConnectArgs),
    /// Disconnect a container from a network
    Disconnect(n::NetworkDisconnectArgs),
    /// Remove all unused networks
    Prune(commands::PruneOpts),
}

#[derive(Subcommand, Debug)]
enum VolumeCmd {
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(v::VolumeLsArgs),
    /// Create a volume
    Create(v::VolumeCreateArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(v::VolumeRmArgs),
    /// Display detailed information on one or more volumes
    Inspect(commands::ObjectInspectArgs),
    /// Remove unused local volumes
    Prune(v::VolumePruneArgs),
}

#[derive(Subcommand, Debug)]
enum ContainerCmd {
    /// Create and run a new container from an image
    Run(c::RunArgs),
    /// Create a new container
    Create(c::CreateArgs),
    /// Start one or more stopped containers
    Start(c::StartArgs),
    /// Stop one or more running containers
    Stop(c::StopArgs),
    /// Kill one or more running containers
    Kill(c::KillArgs),
    /// Restart one or more containers
    Restart(c::RestartArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(c::WaitArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(c::RmArgs),
    /// Rename a container
    Rename(c::RenameArgs),
    /// List containers
    #[command(visible_aliases = ["ps", "list"])]
    Ls(c::PsArgs),
    /// Display detailed information on one or more containers
    Inspect(c::ContainerInspectArgs),
    /// Fetch the logs of a container
    Logs(c::LogsArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(c::AttachArgs),
    /// Execute a command in a running container
    Exec(c::ExecArgs),
    /// Display the running processes of a container
    Top(c::TopArgs),
    /// Remove all stopped containers
    Prune(commands::PruneOpts),
    /// Pause all processes within one or more containers
    Pause(c::PauseArgs),
    /// Unpause all processes within one or more containers
    Unpause(c::PauseArgs),
    /// List port mappings or a specific mapping for the container
    Port(c::PortArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(c::DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(c::ExportArgs),
    /// Create a new image from a container's changes
    Commit(c::CommitArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(commands::cp::CpArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(commands::stats::StatsArgs),
    /// Update configuration of one or more containers
    Update(commands::stats::UpdateArgs),
}

#[derive(Subcommand, Debug)]
enum ImageCmd {
    /// List images
    #[command(visible_alias = "list")]
    Ls(i::ImagesArgs),
    /// Display detailed information on one or more images
    Inspect(commands::ObjectInspectArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(i::TagArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(i::RmiArgs),
    /// Show the history of an image
    History(i::HistoryArgs),
    /// Remove unused images
    Prune(i::PruneArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(i::ImportArgs),
    /// Load an image from a tar archive or STDIN
    Load(i::LoadArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(i::SaveArgs),
    /// Download an image from a registry
    Pull(i::PullArgs),
    /// Upload an image to a registry
    Push(i::PushArgs),
    /// Build an image from a Dockerfile
    Build(i::BuildArgs),
}

#[derive(Subcommand, Debug)]
enum SystemCmd {
    /// Display system-wide information
    Info(s::InfoArgs),
    /// Remove unused data
    Prune(s::SystemPruneArgs),
    /// Get real time events from the server
    Events(s::EventsArgs),
}

async fn dispatch(client: &Client, cmd: Cmd) -> anyhow::Result<i32> {
    match cmd {
        Cmd::Run(a) => c::run(client, a).await,
        Cmd::Create(a) => c::create(client, a).await,
        Cmd::Start(a) => c::start(client, a).await,
        Cmd::Stop(a) => c::stop(client, a).await,
        Cmd::Kill(a) => c::kill(client, a).await,
        Cmd::Restart(a) => c::restart(client, a).await,
        Cmd::Wait(a) => c::wait(client, a).await,
        Cmd::Rm(a) => c::rm(client, a).await,
        Cmd::Rename(a) => c::rename(client, a).await,
        Cmd::Ps(a) => c::ps(client, a).await,
        Cmd::Inspect(a) => commands::inspect(client, a).await,
        Cmd::Logs(a) => c::logs(client, a).await,
        Cmd::Attach(a) => c::attach(client, a).await,
        Cmd::Exec(a) => c::exec(client, a).await,
        Cmd::Top(a) => c::top(client, a).await,
        Cmd::Pause(a) => c::pause(client, a).await,
        Cmd::Unpause(a) => c::unpause(client, a).await,
        Cmd::Port(a) => c::port(client, a).await,
        Cmd::Diff(a) => c::diff(client, a).await,
        Cmd::Export(a) => c::export(client, a).await,
        Cmd::Commit(a) => c::commit(client, a).await,
        Cmd::Cp(a) => commands::cp::cp(client, a).await,
        Cmd::Stats(a) => commands::stats::stats(client, a).await,
        Cmd::Update(a) => commands::stats::update(client, a).await,
        Cmd::Images(a) => i::images(client, a).await,
        Cmd::Tag(a) => i::tag(client, a).await,
        Cmd::Rmi(a) => i::rmi(client, a).await,
        Cmd::History(a) => i::history(client, a).await,
        Cmd::Import(a) => i::import(client, a).await,
        Cmd::Load(a) => i::load(client, a).await,
        Cmd::Save(a) => i::save(client, a).await,
        Cmd::Pull(a) => i::pull(client, a).await,
        Cmd::Push(a) => i::push(client, a).await,
        Cmd::Build(a) => i::build(client, a).await,
        Cmd::Login(a) => commands::login::login(client, a).await,
        Cmd::Logout(a) => commands::login::logout(a),
        Cmd::Version(a) => s::version(client, a).await,
        Cmd::Info(a) => s::info(client, a).await,
        Cmd::Events(a) => s::events(client, a).await,
        Cmd::Container { cmd } => match cmd {
            ContainerCmd::Run(a) => c::run(client, a).await,
            ContainerCmd::Create(a) => c::create(client, a).await,
            ContainerCmd::Start(a) => c::start(client, a).await,
            ContainerCmd::Stop(a) => c::stop(client, a).await,
            ContainerCmd::Kill(a) => c::kill(client, a).await,
            ContainerCmd::Restart(a) => c::restart(client, a).await,
            ContainerCmd::Wait(a) => c::wait(client, a).await,
            ContainerCmd::Rm(a) => c::rm(client, a).await,
            ContainerCmd::Rename(a) => c::rename(client, a).await,
            ContainerCmd::Ls(a) => c::ps(client, a).await,
            ContainerCmd::Inspect(a) => c::inspect(client, a).await,
            ContainerCmd::Logs(a) => c::logs(client, a).await,
            ContainerCmd::Attach(a) => c::attach(client, a).await,
            ContainerCmd::Exec(a) => c::exec(client, a).await,
            ContainerCmd::Top(a) => c::top(client, a).await,
            ContainerCmd::Prune(a) => s::container_prune(client, a).await,
            ContainerCmd::Pause(a) => c::pause(client, a).await,
            ContainerCmd::Unpause(a) => c::unpause(client, a).await,
            ContainerCmd::Port(a) => c::port(client, a).await,
            ContainerCmd::Diff(a) => c::diff(client, a).await,
            ContainerCmd::Export(a) => c::export(client, a).await,
            ContainerCmd::Commit(a) => c::commit(client, a).await,
            ContainerCmd::Cp(a) => commands::cp::cp(client, a).await,
            ContainerCmd::Stats(a) => commands::stats::stats(client, a).await,
            ContainerCmd::Update(a) => commands::stats::update(client, a).await,
        },
        Cmd::Image { cmd } => match cmd {
            ImageCmd::Ls(a) => i::images(client, a).await,
            ImageCmd::Inspect(a) => a.run(client, InspectKind::Image).await,
            ImageCmd::Tag(a) => i::tag(client, a).await,
            ImageCmd::Rm(a) => i::rmi(client, a).await,
            ImageCmd::History(a) => i::history(client, a).await,
            ImageCmd::Prune(a) => i::prune(client, a).await,
            ImageCmd::Import(a) => i::import(client, a).await,
            ImageCmd::Load(a) => i::load(client, a).await,
            ImageCmd::Save(a) => i::save(client, a).await,
            ImageCmd::Pull(a) => i::pull(client, a).await,
            ImageCmd::Push(a) => i::push(client, a).await,
            ImageCmd::Build(a) => i::build(client, a).await,
        },
        Cmd::Network { cmd } => match cmd {
            NetworkCmd::Ls(a) => n::network_ls(client, a).await,
            NetworkCmd::Create(a) => n::network_create(client, a).await,
            NetworkCmd::Rm(a) => n::network_rm(client, a).await,
            NetworkCmd::Inspect(a) => n::network_inspect(client, a).await,
            NetworkCmd::Connect(a) => n::network_connect(client, a).await,
            NetworkCmd::Disconnect(a) => n::network_disconnect(client, a).await,
            NetworkCmd::Prune(a) => n::network_prune(client, a).await,
        },
        Cmd::Volume { cmd } => match cmd {
            VolumeCmd::Ls(a) => v::volume_ls(client, a).await,
            VolumeCmd::Create(a) => v::volume_create(client, a).await,
            VolumeCmd::Rm(a) => v::volume_rm(client, a).await,
            VolumeCmd::Inspect(a) => a.run(client, InspectKind::Volume).await,
            VolumeCmd::Prune(a) => v::volume_prune(client, a).await,
        },
        Cmd::Registry { cmd } => commands::registry::run(cmd).await,
        Cmd::System { cmd } => match cmd {
            SystemCmd::Info(a) => s::info(client, a).await,
            SystemCmd::Prune(a) => s::system_prune(client, a).await,
            SystemCmd::Events(a) => s::events(client, a).await,
        },
    }
}

async fn real_main(cli: Cli) -> i32 {
    if let Some(dir) = &cli.config {
        auth::set_config_dir(dir.clone());
    }
    // logout only edits the credential store.
    if let Cmd::Logout(a) = cli.cmd {
        return match commands::login::logout(a) {
            Ok(code) => code,
            Err(e) => {
                commands::eprint_err(&e);
                1
            }
        };
    }
    // The registry server needs no daemon.
    if let Cmd::Registry { cmd } = cli.cmd {
        return match commands::registry::run(cmd).await {
            Ok(code) => code,
            Err(e) => {
                commands::eprint_err(&e);
                1
            }
        };
    }
    // An empty BERTH_HOST counts as unset, like an empty DOCKER_HOST.
    let host_s = cli
        .host
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| DEFAULT_HOST.to_string());
    let host = match Host::parse(&host_s) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("{e:#}");
            return 1;
        }
    };
    let is_run = matches!(
        cli.cmd,
        Cmd::Run(_)
            | Cmd::Create(_)
            | Cmd::Container {
                cmd: ContainerCmd::Run(_) | ContainerCmd::Create(_)
            }
    );
    let client = match Client::connect(host).await {
        Ok(c) => c,
        Err(e) => {
            if is_run {
                eprintln!("berth: {e:#}\n\nRun 'berth run --help' for more information");
                return 125;
            }
            eprintln!("{e:#}");
            return 1;
        }
    };
    match dispatch(&client, cli.cmd).await {
        Ok(code) => code,
        Err(e) => {
            tty::restore();
            let broken_pipe = e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            });
            if broken_pipe {
                // Our reader went away: end quietly, as a SIGPIPE death would.
                return 141;
            }
            commands::eprint_err(&e);
            1
        }
    }
}

/// Rust ignores SIGPIPE, so `println!` to a closed pipe panics; exit quietly
/// instead, with the status a SIGPIPE death gives (like docker's CLI).
fn install_broken_pipe_hook() {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("Broken pipe") {
            tty::restore();
            std::process::exit(141);
        }
        prev(info);
    }));
}

/// The exit status docker's CLI gives a command line it cannot parse: 125
/// for a bad flag or flag value (its `FlagErrorFunc`), 1 for missing or
/// surplus arguments; help and version requests succeed.
fn parse_error_status(kind: clap::error::ErrorKind) -> i32 {
    use clap::error::ErrorKind as K;
    match kind {
        K::DisplayHelp | K::DisplayVersion => 0,
        K::MissingRequiredArgument
        | K::TooManyValues
        | K::TooFewValues
        | K::WrongNumberOfValues => 1,
        K::DisplayHelpOnMissingArgumentOrSubcommand | K::MissingSubcommand => 1,
        _ => 125,
    }
}

fn main() {
    install_broken_pipe_hook();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap renders the message (and the help or version text).
            let _ = e.print();
            std::process::exit(parse_error_status(e.kind()));
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("failed to start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = rt.block_on(real_main(cli));
    tty::restore();
    // Exit without waiting for the stdin reader thread.
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn parse_errors_exit_like_docker() {
        let kind = |args: &[&str]| Cli::try_parse_from(args).map(drop).unwrap_err().kind();
        let code = |args: &[&str]| parse_error_status(kind(args));
        assert_eq!(
            code(&["berth", "network", "create", "--gateway", "x", "n"]),
            125
        );
        assert_eq!(code(&["berth", "volume", "ls", "--bogus"]), 125);
        assert_eq!(code(&["berth", "network", "create"]), 1);
        assert_eq!(code(&["berth", "network", "connect", "n"]), 1);
        assert_eq!(code(&["berth", "network", "--help"]), 0);
    }

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_passes_trailing_args_verbatim() {
        let cli = Cli::try_parse_from([
            "berth",
            "-H",
            "unix:///x.sock",
            "run",
            "--rm",
            "-h",
            "box",
            "-e",
            "A=1",
            "busybox",
            "sh",
            "-c",
            "echo -n hi",
            "--rm",
        ])
        .unwrap();
        assert_eq!(cli.host.as_deref(), Some("unix:///x.sock"));
        match cli.cmd {
            Cmd::Run(r) => {
                assert!(r.opts.rm);
                assert_eq!(r.opts.hostname.as_deref(), Some("box"));
                assert_eq!(r.ic.image(), "busybox");
                assert_eq!(r.ic.command(), ["sh", "-c", "echo -n hi", "--rm"]);
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn flags_stop_at_the_image() {
        let cli = Cli::try_parse_from([
            "berth",
            "run",
            "--entrypoint",
            "/bin/sh",
            "busybox",
            "-c",
            "echo hi",
        ])
        .unwrap();
        match cli.cmd {
            Cmd::Run(r) => {
                assert_eq!(r.opts.cpu_shares, None);
                assert_eq!(r.ic.command(), ["-c", "echo hi"]);
            }
            other => panic!("parsed as {other:?}"),
        }
        let cli = Cli::try_parse_from(["berth", "exec", "-i", "c1", "ls", "-l", "-i"]).unwrap();
        match cli.cmd {
            Cmd::Exec(e) => {
                assert!(e.interactive);
                assert_eq!(e.args, ["c1", "ls", "-l", "-i"]);
            }
            other => panic!("parsed as {other:?}"),
        }
        let cli = Cli::try_parse_from(["berth", "top", "c1", "-ef"]).unwrap();
        assert!(matches!(cli.cmd, Cmd::Top(_)));
        assert!(Cli::try_parse_from(["berth", "run"]).is_err());
        assert!(Cli::try_parse_from(["berth", "exec", "c1"]).is_err());
    }

    #[test]
    fn aliases_and_bool_flags() {
        let cli = Cli::try_parse_from(["berth", "container", "ls", "-a"]).unwrap();
        assert!(matches!(
            cli.cmd,
            Cmd::Container {
                cmd: ContainerCmd::Ls(_)
            }
        ));
        let cli = Cli::try_parse_from(["berth", "image", "rm", "-f", "x"]).unwrap();
        assert!(matches!(
            cli.cmd,
            Cmd::Image {
                cmd: ImageCmd::Rm(_)
            }
        ));
        let cli = Cli::try_parse_from(["berth", "run", "--sig-proxy=false", "busybox"]).unwrap();
        match cli.cmd {
            Cmd::Run(r) => assert!(!r.opts.sig_proxy),
            other => panic!("parsed as {other:?}"),
        }
        let cli = Cli::try_parse_from(["berth", "history", "-H=false", "busybox"]).unwrap();
        match cli.cmd {
            Cmd::History(h) => assert!(!h.human),
            other => panic!("parsed as {other:?}"),
        }
        let cli = Cli::try_parse_from(["berth", "run", "--entrypoint", "", "busybox"]).unwrap();
        match cli.cmd {
            Cmd::Run(r) => assert_eq!(r.opts.entrypoint.as_deref(), Some("")),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn config_dir_flag_and_login_parse() {
        let cli = Cli::try_parse_from([
            "berth",
            "--config",
            "/tmp/cfg",
            "login",
            "-u",
            "me",
            "--password-stdin",
            "127.0.0.1:5000",
        ])
        .unwrap();
        assert_eq!(cli.config, Some(std::path::PathBuf::from("/tmp/cfg")));
        match cli.cmd {
            Cmd::Login(l) => {
                assert_eq!(l.username.as_deref(), Some("me"));
                assert!(l.password_stdin);
                assert_eq!(l.server.as_deref(), Some("127.0.0.1:5000"));
            }
            other => panic!("parsed as {other:?}"),
        }
        // `registry serve --config` is the registry's own TOML file.
        let cli =
            Cli::try_parse_from(["berth", "registry", "serve", "--config", "r.toml"]).unwrap();
        assert_eq!(cli.config, None);
        let cli = Cli::try_parse_from([
            "berth",
            "pull",
            "-a",
            "--disable-content-trust=false",
            "--platform",
            "linux/amd64",
            "127.0.0.1:5000/x",
        ])
        .unwrap();
        match cli.cmd {
            Cmd::Pull(p) => {
                assert!(p.all_tags);
                assert!(!p.trust.disable_content_trust);
                assert_eq!(p.platform.as_deref(), Some("linux/amd64"));
            }
            other => panic!("parsed as {other:?}"),
        }
        let cli = Cli::try_parse_from(["berth", "run", "-q", "--pull", "always", "x"]).unwrap();
        match cli.cmd {
            Cmd::Run(r) => {
                assert!(r.opts.quiet);
                assert_eq!(r.opts.pull, "always");
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn registry_serve_parses() {
        let cli = Cli::try_parse_from([
            "berth",
            "registry",
            "serve",
            "--addr",
            "127.0.0.1:5000",
            "--root",
            "/tmp/r",
        ])
        .unwrap();
        match cli.cmd {
            Cmd::Registry {
                cmd: commands::registry::RegistryCmd::Serve(a),
            } => {
                assert_eq!(a.addr.port(), 5000);
                assert_eq!(a.root, std::path::PathBuf::from("/tmp/r"));
            }
            other => panic!("parsed as {other:?}"),
        }
        assert!(
            Cli::try_parse_from(["berth", "registry", "gc", "--root", "/r", "--dry-run"]).is_ok()
        );
    }
}
