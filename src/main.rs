//! The `bookshelf` command: parse the command line and hand over to the library.

use std::process::ExitCode;

use bookshelf::cli::{run_migrate, settings, Cli, Command, ServeArgs};
use bookshelf::config::Settings;
use clap::Parser;

/// mimalloc instead of glibc's malloc: a request allocates and frees many
/// small blocks on several threads, and glibc's arenas spent about 14% of the
/// server's CPU on a GET by id (perf; bench/results.md has the A/B).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[rocket::main]
async fn main() -> ExitCode {
    if let Err(e) = dotenvy::dotenv() {
        if !e.not_found() {
            eprintln!("error: cannot read .env: {e}");
            return ExitCode::FAILURE;
        }
    }
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => serve(args).await,
        Command::Backup { path } => {
            let done = settings().and_then(|settings| bookshelf::backup::backup(&settings, &path));
            match done {
                Ok(backup) => {
                    println!(
                        "backup written to {} ({} bytes, integrity_check ok)",
                        path.display(),
                        backup.bytes
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Migrate(command) => {
            quiet_on_a_closed_pipe();
            match run_migrate(command) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Lets a command that prints (`bookshelf migrate status | head -1`) end
/// quietly when its reader goes away, as other command-line tools do, instead
/// of panicking in `println!` on EPIPE. Rust ignores SIGPIPE so that a server
/// sees EPIPE on a closed socket; `serve` keeps that.
fn quiet_on_a_closed_pipe() {
    // SAFETY: setting a signal's disposition to its default, before any thread
    // of this command could depend on SIGPIPE being ignored.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

async fn serve(args: ServeArgs) -> ExitCode {
    let mut figment = bookshelf::config::figment();
    if let Some(mode) = args.migrate {
        figment = figment.merge(("migrate", mode));
    }
    // The JSON log must be in place before Rocket installs its own logger;
    // a bad configuration is reported by Rocket, in its own format.
    if let (Ok(settings), Ok(config)) = (
        figment.extract::<Settings>(),
        figment.extract::<rocket::Config>(),
    ) {
        if settings.log_format == bookshelf::config::LogFormat::Json {
            if let Err(e) = bookshelf::logging::init_json(config.log_level.into()) {
                eprintln!("error: cannot set up the JSON log: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    match bookshelf::rocket(figment).launch().await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            // Marks the error handled; Rocket would panic on dropping it otherwise.
            e.pretty_print();
            ExitCode::FAILURE
        }
    }
}
