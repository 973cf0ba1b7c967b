use clap::Parser;

fn main() {
    let cli = mailshot::cli::Cli::parse();
    let code = match mailshot::commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            err.exit_code()
        }
    };
    std::process::exit(code);
}
