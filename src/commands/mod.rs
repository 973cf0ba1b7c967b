//! One module per subcommand: each parses nothing itself, calls into the library and prints.
//!
//! A command's report goes out with `say!`: if its reader has gone (`mailshot send ... |
//! head -1`) the rest of the report is dropped, never the work or its exit status. `log` and
//! `suppress list`, whose output is the work, stop instead ([`crate::error::Error::BrokenPipe`]).

/// `println!` for a command's report, that neither panics nor stops on a closed or failed
/// standard output: by the time a line is printed, what it reports has been done and
/// recorded, and the exit status says how it went.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

pub mod bounces;
pub mod check;
pub mod import;
pub mod log;
pub mod new;
pub mod preview;
pub mod publish;
pub mod report;
pub mod send;
pub mod status;
pub mod suppress;

use crate::cli::{Cli, Command};
use crate::clock::Clock;
use crate::config::Config;
use crate::error::Result;

/// Runs the parsed command line with `clock` as the time; returns the exit status.
pub fn run(cli: Cli, clock: Box<dyn Clock>) -> Result<i32> {
    crate::clock::install(clock);
    let config = Config::load(&cli.config)?;
    match cli.command {
        Command::Send(args) => send::exec(config, args),
        Command::Status(args) => status::exec(&config, args),
        Command::Log(args) => log::exec(&config, args),
        Command::Import(args) => import::exec(&config, args),
        Command::Suppress(args) => suppress::exec(&config, args),
        Command::Check(args) => check::exec(config, args),
        Command::New(args) => new::exec(&config, args),
        Command::Publish(args) => publish::exec(&config, args),
        Command::Preview(args) => preview::exec(cli.config, &config, args),
        Command::Bounces(args) => bounces::exec(&config, args),
        Command::Report(args) => report::exec(&config, args),
        Command::Serve(args) => crate::serve::run(&config, &args.listen, |bound| {
            say!("listening on http://{bound}")
        })
        .map(|()| crate::error::EXIT_OK),
    }
}

/// The exit status for `result`, printing the error (`error: ...`) unless standard output's
/// reader went away, which ends quietly.
pub fn exit_code(result: Result<i32>) -> i32 {
    match result {
        Ok(code) => code,
        Err(err) => {
            if err.is_reported() {
                eprintln!("error: {err}");
            }
            err.exit_code()
        }
    }
}
