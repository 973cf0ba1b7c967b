use std::path::PathBuf;

use crate::cli::ReportArgs;
use crate::config::Config;
use crate::error::{EXIT_OK, Error, Result, show};
use crate::report::Report;
use crate::store::Store;

pub fn exec(config: &Config, args: ReportArgs) -> Result<i32> {
    let id = &args.campaign;
    let unknown = || Error::input(format!("no campaign `{id}` in `{}`", show(&config.store)));
    let mut store = Store::open_existing(&config.store)?.ok_or_else(unknown)?;
    if store.campaign(id)?.is_none() {
        return Err(unknown());
    }
    // A run that died may have left its last events in its journal.
    if let Err(e) = crate::store::journal::settle(&mut store, &config.store, id) {
        eprintln!("warning: campaign `{id}`: {e}");
    }
    let report = Report::gather(&store, config, id)?;
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from(format!("report-{id}.html")));
    crate::report::write(&out, &report.html()?)?;
    say!("{}; report written to {}", report.summary(), show(&out));
    Ok(EXIT_OK)
}
