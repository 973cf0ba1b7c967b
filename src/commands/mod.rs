//! One module per subcommand: each parses nothing itself, calls into the library and prints.

pub mod check;
pub mod import;
pub mod log;
pub mod send;
pub mod status;
pub mod suppress;

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::error::Result;

/// Runs the parsed command line; returns the exit status.
pub fn run(cli: Cli) -> Result<i32> {
    let config = Config::load(&cli.config)?;
    match cli.command {
        Command::Send(args) => send::exec(config, args),
        Command::Status(args) => status::exec(&config, args),
        Command::Log(args) => log::exec(&config, args),
        Command::Import(args) => import::exec(&config, args),
        Command::Suppress(args) => suppress::exec(&config, args),
        Command::Check(args) => check::exec(config, args),
        Command::Serve(args) => {
            crate::serve::run(&config, &args.listen).map(|()| crate::error::EXIT_OK)
        }
    }
}
