use clap::Parser;

fn main() {
    let cli = mailshot::cli::Cli::parse();
    let result = mailshot::commands::run(cli, Box::new(mailshot::clock::SystemClock));
    std::process::exit(mailshot::commands::exit_code(result));
}
