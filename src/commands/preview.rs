//! `mailshot preview`: serves the campaign's preview page on 127.0.0.1 until Ctrl-C (see
//! [`crate::preview`]); prints its address, one line, once the campaign is first loaded.

use std::io::Write as _;
use std::path::PathBuf;

use crate::cli::PreviewArgs;
use crate::config::Config;
use crate::error::{EXIT_OK, Result};
use crate::preview::Options;

pub fn exec(config_path: PathBuf, config: &Config, args: PreviewArgs) -> Result<i32> {
    let PreviewArgs {
        campaign,
        as_member,
        port,
        render,
    } = args;
    if let Some(id) = &campaign {
        crate::compose::campaign::check_campaign_id(id)?;
    }
    let subject = render.subject.clone();
    // The command line's overrides, applied again to every config read after a change.
    let overrides = move |c: &mut Config| super::check::apply_overrides(c, &render);
    let mut config = config.clone();
    overrides(&mut config);
    let options = Options {
        config_path,
        campaign,
        subject,
        overrides: Box::new(overrides),
    };
    crate::preview::run(options, &config, as_member.as_deref(), port, |bound| {
        say!("preview: http://{bound}/");
        // Whoever started it reads the address from this line: it must not wait in a buffer.
        let _ = std::io::stdout().flush();
    })?;
    Ok(EXIT_OK)
}
