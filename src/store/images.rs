//! Published images: the bytes of each local image a campaign uses, under its content-hashed
//! name (see [`crate::compose::images`]), kept for `mailshot serve` and a static publisher.
//! A name is its content's hash, so storing one again changes nothing.

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
    /// Stores each image not stored yet (by name), in one transaction.
    pub fn put_images(&mut self, images: &[crate::compose::images::Image]) -> Result<()> {
        if images.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        {
            let mut ins = tx.prepare(
                "INSERT INTO images (name, content_type, bytes, stored_at)
                 VALUES (:name, :content_type, :bytes, :at) ON CONFLICT(name) DO NOTHING",
            )?;
            let at = now();
            for i in images {
                ins.execute(named_params![
                    ":name": i.name,
                    ":content_type": i.content_type,
                    ":bytes": i.bytes.as_slice(),
                    ":at": at,
                ])?;
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

    /// Every stored image, by name (for writing them all out).
    pub fn images(&self) -> Result<Vec<StoredImage>> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, content_type, bytes FROM images ORDER BY name")?;
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
        store.put_images(&[image("x-1.png", b"one")]).unwrap();
        // Again under the same name: the first bytes stay (a name is its content's hash).
        store
            .put_images(&[image("x-1.png", b"other"), image("y-2.png", b"two")])
            .unwrap();
        assert_eq!(
            store.image("x-1.png").unwrap(),
            Some(("image/png".to_string(), b"one".to_vec()))
        );
        assert_eq!(store.image("nope.png").unwrap(), None);
        let names: Vec<_> = store
            .images()
            .unwrap()
            .into_iter()
            .map(|i| i.name)
            .collect();
        assert_eq!(names, ["x-1.png", "y-2.png"]);
    }
}
