//! Published images: the bytes of each local image a campaign uses, under its content-hashed
//! name (see [`crate::compose::images`]), kept for `mailshot serve` and a static publisher.
//! A name is its content's hash, so storing one again changes nothing.
//!
//! Who sees which: `serve` answers any stored image (a `--test-to` copy's too: the chair's
//! copy shows its images), `publish` writes only the images of campaigns with a web edition
//! (sent), recorded in `campaign_images` by the send that stored them.

use rusqlite::{OptionalExtension, named_params};

use super::{Store, now};
use crate::error::Result;

/// An image as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredImage {
    /// `banner-0123456789.png`: `{base_url}/bulletins/images/<name>`.
    pub name: String,
    /// `image/png`, `image/jpeg`, `image/gif` or `image/webp`.
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl Store {
    /// Stores each image not stored yet (by name), in one transaction; with `campaign` (a
    /// send, not a test copy), records them as that campaign's, to be published.
    pub fn put_images(
        &mut self,
        campaign: Option<&str>,
        images: &[crate::compose::images::Image],
    ) -> Result<()> {
        if images.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        {
            let mut ins = tx.prepare(
                "INSERT INTO images (name, content_type, bytes, stored_at)
                 VALUES (:name, :content_type, :bytes, :at) ON CONFLICT(name) DO NOTHING",
            )?;
            let mut uses = tx.prepare(
                "INSERT INTO campaign_images (campaign, name) VALUES (?1, ?2)
                 ON CONFLICT DO NOTHING",
            )?;
            let at = now();
            for i in images {
                ins.execute(named_params![
                    ":name": i.name,
                    ":content_type": i.content_type,
                    ":bytes": i.bytes.as_slice(),
                    ":at": at,
                ])?;
                if let Some(c) = campaign {
                    uses.execute(rusqlite::params![c, i.name])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The image stored as `name`: its content type and bytes.
    pub fn image(&self, name: &str) -> Result<Option<(String, Vec<u8>)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT content_type, bytes FROM images WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// The images of every campaign with a web edition (sent), by name: what `publish`
    /// writes. Those only a `--test-to` copy stored are left out.
    pub fn published_images(&self) -> Result<Vec<StoredImage>> {
        let mut stmt = self.conn.prepare(
            "SELECT name, content_type, bytes FROM images WHERE name IN
                 (SELECT u.name FROM campaign_images u JOIN campaign_masters m
                  ON m.campaign = u.campaign WHERE m.web_html IS NOT NULL)
             ORDER BY name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(StoredImage {
                name: r.get(0)?,
                content_type: r.get(1)?,
                bytes: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_stored_once_by_name_and_read_back_with_their_type() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("m.db")).unwrap();
        let image = |name: &str, bytes: &[u8]| crate::compose::images::Image {
            name: name.into(),
            path: "images/x.png".into(),
            content_type: "image/png",
            sha256: String::new(),
            width: 1,
            height: 1,
            bytes: std::sync::Arc::new(bytes.to_vec()),
        };
        store.put_images(None, &[image("x-1.png", b"one")]).unwrap();
        // Again under the same name: the first bytes stay (a name is its content's hash).
        store
            .put_images(
                Some("c"),
                &[image("x-1.png", b"other"), image("y-2.png", b"two")],
            )
            .unwrap();
        assert_eq!(
            store.image("x-1.png").unwrap(),
            Some(("image/png".to_string(), b"one".to_vec()))
        );
        assert_eq!(store.image("nope.png").unwrap(), None);
        assert_eq!(
            store.image("y-2.png").unwrap(),
            Some(("image/png".to_string(), b"two".to_vec()))
        );
        // Campaign `c` has no web edition (not sent): nothing of it is published.
        assert_eq!(store.published_images().unwrap(), []);
    }
}
