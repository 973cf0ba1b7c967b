//! What each campaign was sent as, by revision (`campaign_masters`, beside
//! `campaign_sources`): the once-per-campaign HTML, the subject template, the preview text,
//! and the web edition (the bulletin with no member data), recorded at its first send and at
//! each `--accept-changes`, in the same transaction as its sources. The web edition, the
//! archive, the feed and `status` read it here, never today's files.

use rusqlite::{OptionalExtension, named_params};

use super::Store;
use crate::error::Result;

/// What a campaign was sent as: one revision's master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Master {
    /// The subject template (`--subject`, the issue's, or `<mj-title>`), as given.
    pub subject_template: String,
    /// The inbox preview text, plain (empty when the bulletin has none).
    pub preview: String,
    /// The once-per-campaign HTML, variables unfilled; `None` for a campaign rendered per
    /// member (there is no such render).
    pub html: Option<String>,
    /// The web edition; `None` when `[web] base_url` was not set.
    pub web: Option<WebEdition>,
}

/// The bulletin with no member data and no member token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebEdition {
    pub subject: String,
    pub html: String,
}

/// One campaign of the archive: its latest revision's web edition, without the HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edition {
    pub campaign: String,
    pub subject: String,
    pub preview: String,
    /// When it was first sent (RFC 3339, UTC).
    pub published: String,
    /// When its latest revision was sent (RFC 3339, UTC).
    pub updated: String,
}

/// Records `master` as `campaign`'s revision that [`super::deliveries`] has just given its
/// sources (the highest in `campaign_sources`), inside the same transaction.
pub(super) fn record_master(
    tx: &rusqlite::Transaction,
    campaign: &str,
    master: &Master,
) -> Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO campaign_masters
             (campaign, revision, recorded_at, subject_template, preview, html, web_subject, web_html)
         VALUES (:campaign,
             (SELECT COALESCE(MAX(revision), 1) FROM campaign_sources WHERE campaign = :campaign),
             :at, :subject, :preview, :html, :web_subject, :web_html)",
        named_params![
            ":campaign": campaign,
            ":at": super::now(),
            ":subject": master.subject_template,
            ":preview": master.preview,
            ":html": master.html,
            ":web_subject": master.web.as_ref().map(|w| &w.subject),
            ":web_html": master.web.as_ref().map(|w| &w.html),
        ],
    )?;
    Ok(())
}

/// The latest revision of each campaign, as a subquery's condition on `m`.
const LATEST: &str =
    "m.revision = (SELECT MAX(revision) FROM campaign_masters x WHERE x.campaign = m.campaign)";

impl Store {
    /// What `campaign` was last sent as, and that revision's number; `None` for a campaign
    /// not sent yet, or sent before the store kept it.
    pub fn master(&self, campaign: &str) -> Result<Option<(u32, Master)>> {
        let sql = format!(
            "SELECT revision, subject_template, preview, html, web_subject, web_html
             FROM campaign_masters m WHERE m.campaign = ?1 AND {LATEST}"
        );
        Ok(self
            .conn
            .query_row(&sql, [campaign], |r| {
                let web = match (r.get::<_, Option<String>>(4)?, r.get(5)?) {
                    (Some(subject), Some(html)) => Some(WebEdition { subject, html }),
                    _ => None,
                };
                Ok((
                    r.get(0)?,
                    Master {
                        subject_template: r.get(1)?,
                        preview: r.get(2)?,
                        html: r.get(3)?,
                        web,
                    },
                ))
            })
            .optional()?)
    }

    /// The web edition's HTML of `campaign` as last sent; `None` when it has none.
    pub fn edition_html(&self, campaign: &str) -> Result<Option<String>> {
        let sql =
            format!("SELECT web_html FROM campaign_masters m WHERE m.campaign = ?1 AND {LATEST}");
        Ok(self
            .conn
            .query_row(&sql, [campaign], |r| r.get(0))
            .optional()?
            .flatten())
    }

    /// Every campaign whose latest revision has a web edition, newest first (by first send,
    /// then campaign ID).
    pub fn editions(&self) -> Result<Vec<Edition>> {
        let sql = format!(
            "SELECT m.campaign, m.web_subject, m.preview,
                 (SELECT MIN(recorded_at) FROM campaign_masters f WHERE f.campaign = m.campaign),
                 m.recorded_at
             FROM campaign_masters m WHERE m.web_html IS NOT NULL AND {LATEST}
             ORDER BY 4 DESC, m.campaign DESC"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([], |r| {
            Ok(Edition {
                campaign: r.get(0)?,
                subject: r.get(1)?,
                preview: r.get(2)?,
                published: r.get(3)?,
                updated: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CampaignInfo, now};

    fn info(id: &str) -> CampaignInfo {
        CampaignInfo {
            id: id.into(),
            template: "t.mjml".into(),
            list: "l.csv".into(),
            subject: "S".into(),
            transport: "outbox".into(),
            started_at: now(),
            finished_at: None,
        }
    }

    fn master(subject: &str, web: bool) -> Master {
        Master {
            subject_template: format!("{subject} {{{{ month }}}}"),
            preview: "P".into(),
            html: Some("<p>{{ first_name }}</p>".into()),
            web: web.then(|| WebEdition {
                subject: subject.into(),
                html: format!("<p>{subject}</p>"),
            }),
        }
    }

    #[test]
    fn each_revision_keeps_what_it_was_sent_as_and_the_latest_is_the_edition() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("m.db")).unwrap();
        let sources = |d: &str| {
            (
                d.to_string(),
                [("subject".to_string(), d.to_string())].into(),
            )
        };
        let none = std::iter::empty();
        store
            .begin_campaign_frozen(
                &info("a"),
                Some(&sources("1")),
                Some(&master("First", true)),
                none,
            )
            .unwrap();
        // Another campaign without a web edition is not in the archive.
        store
            .begin_campaign_frozen(
                &info("b"),
                Some(&sources("1")),
                Some(&master("B", false)),
                std::iter::empty(),
            )
            .unwrap();
        assert_eq!(
            store.edition_html("a").unwrap().as_deref(),
            Some("<p>First</p>")
        );
        assert_eq!(store.edition_html("b").unwrap(), None);
        assert_eq!(store.edition_html("nothing").unwrap(), None);
        assert_eq!(store.master("b").unwrap().unwrap(), (1, master("B", false)));
        // Accepted changes: revision 2, the edition and the master replaced, first send kept.
        store
            .begin_campaign_frozen(
                &info("a"),
                Some(&sources("2")),
                Some(&master("Second", true)),
                std::iter::empty(),
            )
            .unwrap();
        assert_eq!(
            store.master("a").unwrap().unwrap(),
            (2, master("Second", true))
        );
        assert_eq!(
            store.edition_html("a").unwrap().as_deref(),
            Some("<p>Second</p>")
        );
        let editions = store.editions().unwrap();
        assert_eq!(editions.len(), 1);
        let e = &editions[0];
        assert_eq!(
            (e.campaign.as_str(), e.subject.as_str(), e.preview.as_str()),
            ("a", "Second", "P")
        );
        assert!(e.published <= e.updated);
    }
}
