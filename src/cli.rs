//! Command-line arguments (clap). Each subcommand's work lives in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "mailshot",
    version,
    about = "Send an MJML e-bulletin to a CSV member list over SMTP, rate-limited, with every delivery logged."
)]
pub struct Cli {
    /// Configuration file; relative paths inside it are resolved against its folder.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        default_value = "config.toml"
    )]
    pub config: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render the bulletin for every member and send it (preflight first: nothing goes unless every member renders).
    Send(SendArgs),
    /// Show each campaign's members, accepted, deferred, failed and pending counts, late bounces
    /// and complaints, and when it ran.
    Status(StatusArgs),
    /// Print one row per member of a campaign: status, attempts and the server's last reply.
    Log(LogArgs),
    /// Merge CRM/Excel exports into the member list: any encoding or delimiter, checked, deduplicated.
    Import(ImportArgs),
    /// Manage the suppression list: addresses that are never mailed again.
    Suppress(SuppressArgs),
    /// Run the one-click unsubscribe service (RFC 8058) that the unsubscribe links point at.
    Serve(ServeArgs),
    /// Lint a campaign before it goes: every member rendered, plus what mailbox providers require.
    Check(CheckArgs),
    /// Start next month's Markdown issue from the last one: same sections, month moved on.
    New(NewArgs),
    /// Serve a local page showing the bulletin as a member gets it, updated as you save.
    Preview(PreviewArgs),
    /// Write the web editions, the archive and its Atom feed as static files for any web host.
    Publish(PublishArgs),
    /// Read the bounce mailbox: bounces, complaints and unsubscribe replies matched to members,
    /// recorded, and suppressed where they call for it; read mail is moved, never deleted.
    Bounces(BouncesArgs),
    /// Write one campaign's report: a self-contained HTML page with charts (counts, acceptances
    /// over time, server replies, late bounces, unsubscribes) and a summary on the terminal.
    Report(ReportArgs),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Campaign ID.
    #[arg(long, value_name = "ID")]
    pub campaign: String,
    /// Where to write the page. Default: `report-<ID>.html` in the current folder.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Folder to write into: `DIR/bulletins/index.html`, `DIR/bulletins/feed.atom` and
    /// `DIR/bulletins/<campaign>/index.html`, served at `[web] base_url`.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// Campaign ID: its Markdown issue `issues/<ID>.md` is shown if there is one. Default: the
    /// last issue in the issues folder (by name), else the config's template as campaign
    /// `preview`.
    #[arg(long, value_name = "ID")]
    pub campaign: Option<String>,
    /// Show this member's rendering first. Default: the first member of the list.
    #[arg(long = "as", value_name = "EMAIL")]
    pub as_member: Option<String>,
    /// Port on 127.0.0.1 to serve the page on; 0 picks a free one.
    #[arg(long, value_name = "N", default_value_t = crate::preview::DEFAULT_PORT)]
    pub port: u16,
    #[command(flatten)]
    pub render: RenderArgs,
}

#[derive(Debug, Args)]
pub struct BouncesArgs {
    /// Read this Maildir (a folder with `cur/` and `new/`) or mbox file instead of the IMAP
    /// mailbox in `[bounces]`.
    #[arg(long, value_name = "PATH")]
    pub from: Option<PathBuf>,
    /// Stay connected (IMAP IDLE) and read bounces as they arrive, until Ctrl-C or SIGTERM.
    #[arg(long, conflicts_with = "from")]
    pub watch: bool,
    /// A line for every message read, not only for those left in place.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// Campaign ID of the new issue, e.g. `2023-06`: writes `issues/<ID>.md`.
    #[arg(value_name = "CAMPAIGN")]
    pub campaign: String,
    /// Start from this campaign's issue. Default: the last one whose ID sorts before CAMPAIGN.
    #[arg(long, value_name = "PREVIOUS")]
    pub from: Option<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Campaign ID (used in the variables and Feedback-ID).
    #[arg(long, value_name = "ID", default_value = "check")]
    pub campaign: String,
    #[command(flatten)]
    pub render: RenderArgs,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on (put a TLS-terminating proxy in front of it).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub listen: String,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Export files to import (CSV or tab-separated; UTF-8, UTF-16 or Windows-1252; or .xlsx).
    #[arg(required = true, value_name = "RAW.csv")]
    pub inputs: Vec<PathBuf>,
    /// The member list to merge into. Default: `list` in the config.
    #[arg(long, value_name = "PATH")]
    pub into: Option<PathBuf>,
    /// Make the import the whole list: members not in it are dropped (and reported).
    #[arg(long)]
    pub replace: bool,
    /// Check and count everything; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the rejected rows, with file, line and reason, to this CSV file.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Field delimiter (`,` `;` or `tab`). Default: detected from the header line.
    #[arg(long, value_name = "C", value_parser = crate::list::import::parse_delimiter)]
    pub delimiter: Option<u8>,
    /// Text encoding (`utf-8`, `utf-16le`, `utf-16be`, `windows-1252`). Default: detected.
    #[arg(long, value_name = "NAME", value_parser = crate::list::import::parse_encoding)]
    pub encoding: Option<&'static encoding_rs::Encoding>,
    /// The column holding the address, for headers mailshot cannot guess (`E-mail 1 - Value`).
    #[arg(long, value_name = "NAME")]
    pub email_column: Option<String>,
    /// The column holding the first name.
    #[arg(long, value_name = "NAME")]
    pub first_name_column: Option<String>,
    /// The column holding the last name.
    #[arg(long, value_name = "NAME")]
    pub last_name_column: Option<String>,
    /// The sheet to read from an .xlsx workbook. Default: the first.
    #[arg(long, value_name = "NAME")]
    pub sheet: Option<String>,
}

#[derive(Debug, Args)]
pub struct SuppressArgs {
    #[command(subcommand)]
    pub action: SuppressAction,
}

#[derive(Debug, Subcommand)]
pub enum SuppressAction {
    /// Suppress addresses (e.g. an unsubscribe that arrived by reply).
    Add {
        #[arg(required = true, value_name = "EMAIL")]
        emails: Vec<String>,
        /// Why: `unsubscribed`, `hard-bounce`, `soft-bounces`, `complaint` or `manual`.
        #[arg(long, default_value = "manual")]
        reason: String,
    },
    /// Lift suppressions (only on the member's own request).
    Remove {
        #[arg(required = true, value_name = "EMAIL")]
        emails: Vec<String>,
    },
    /// List every suppressed address.
    List {
        #[arg(long, value_enum, default_value = "csv")]
        format: LogFormat,
    },
    /// Suppress every address in a file (a CSV with an email column, or one address per line).
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        #[arg(long, default_value = "unsubscribed")]
        reason: String,
        /// Field delimiter (`,` `;` or `tab`). Default: detected, as for `import`.
        #[arg(long, value_name = "C", value_parser = crate::list::import::parse_delimiter)]
        delimiter: Option<u8>,
        /// Text encoding. Default: detected, as for `import`.
        #[arg(long, value_name = "NAME", value_parser = crate::list::import::parse_encoding)]
        encoding: Option<&'static encoding_rs::Encoding>,
    },
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// Campaign ID, e.g. `2023-04`. Re-running a campaign never mails a member it already reached.
    #[arg(long, value_name = "ID")]
    pub campaign: String,
    #[command(flatten)]
    pub render: RenderArgs,
    /// Render and check everything and say what would be sent; contact no server, record nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Send one rendering, subject prefixed `[TEST]`, to this address only; not recorded.
    /// Repeatable, or comma-separated: each address gets its own copy. Its unsubscribe links
    /// unsubscribe nobody.
    #[arg(
        long,
        value_name = "ADDRESS",
        conflicts_with = "dry_run",
        value_delimiter = ','
    )]
    pub test_to: Vec<String>,
    /// With `--test-to`: render for this member instead of the first.
    #[arg(long = "as", value_name = "EMAIL", requires = "test_to")]
    pub as_member: Option<String>,
    /// Send to at most N members in this run; the rest stay pending for the next run.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Also re-attempt members that failed or ran out of attempts in earlier runs (never the
    /// suppressed or hard-bounced).
    #[arg(long)]
    pub retry_failed: bool,
    /// Also send to members left `uncertain` by an interrupted run (they may get two copies).
    #[arg(long)]
    pub resend_uncertain: bool,
    /// Go on with a campaign whose template, partials, Markdown issue, values or subject
    /// changed since its first send (its members then get different bulletins); the new
    /// sources are recorded beside the old.
    #[arg(long)]
    pub accept_changes: bool,
    /// Do not ask for confirmation (required when standard input is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// What to render: shared by `send`, `check` and `preview`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Subject line (a template: may use variables). Default: the template's `<mj-title>`.
    #[arg(long, value_name = "TEXT")]
    pub subject: Option<String>,
    /// MJML template. Default: `template` in the config.
    #[arg(long, value_name = "PATH")]
    pub template: Option<PathBuf>,
    /// Member list (CSV with an `email` column). Default: `list` in the config.
    #[arg(long, value_name = "PATH")]
    pub list: Option<PathBuf>,
    /// A campaign variable, overriding `[vars]` in the config. Repeatable.
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))?;
    let k = k.trim();
    if !crate::list::is_identifier(k) {
        return Err(format!(
            "`{k}` is not a usable variable name (letters, digits and `_`)"
        ));
    }
    Ok((k.to_string(), v.to_string()))
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this campaign.
    #[arg(long, value_name = "ID")]
    pub campaign: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    #[arg(long, value_name = "ID")]
    pub campaign: String,
    #[arg(long, value_enum, default_value = "csv")]
    pub format: LogFormat,
}
