//! Small JSON documents kept beside the tables under `_khlang/` (users, saved queries), on the same
//! object store as the tables so a warehouse on S3 carries them too.

use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutMode, PutOptions, PutPayload, UpdateVersion};

use crate::WarehouseError;
use crate::store::Warehouse;

fn err(name: &str, e: impl std::fmt::Display) -> WarehouseError {
    WarehouseError::Document { name: name.to_string(), message: e.to_string() }
}

impl Warehouse {
    fn doc_path(&self, name: &str) -> Result<(&std::sync::Arc<dyn ObjectStore>, StorePath), WarehouseError> {
        Ok(self.object(&format!("_khlang/{name}")))
    }

    /// The document's bytes; `None` when it was never written.
    pub async fn read_doc(&self, name: &str) -> Result<Option<Vec<u8>>, WarehouseError> {
        let (store, path) = self.doc_path(name)?;
        match store.get(&path).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(|e| err(name, e))?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(err(name, e)),
        }
    }

    /// Replaces the document whole (object stores write an object atomically).
    pub async fn write_doc(&self, name: &str, bytes: Vec<u8>) -> Result<(), WarehouseError> {
        let (store, path) = self.doc_path(name)?;
        store.put(&path, PutPayload::from(bytes)).await.map_err(|e| err(name, e))?;
        Ok(())
    }

    /// The document parsed from JSON; `None` when it was never written.
    pub async fn read_json_doc<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>, WarehouseError> {
        match self.read_doc(name).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| err(name, format!("is damaged ({e}); restore it from a backup"))),
        }
    }

    /// Replaces the document with `value` as JSON.
    pub async fn write_json_doc<T: serde::Serialize>(&self, name: &str, value: &T) -> Result<(), WarehouseError> {
        self.write_doc(name, json(name, value)?).await
    }

    /// Reads the document `name` (empty when never written), lets `f` change it and writes it back
    /// only if nobody else wrote it in between, so two servers or commands changing it at once both
    /// keep their change. On an object store the write is conditional on the version read
    /// (`If-Match`, or `If-None-Match` for a new document) and a lost race reads again and calls `f`
    /// again; in a local directory the change holds a lock file and the write replaces the file
    /// atomically. Nothing is written when `f` fails or leaves the document as it was.
    pub async fn change_json_doc<T, R, E>(&self, name: &str, mut f: impl FnMut(&mut T) -> Result<R, E>) -> Result<R, E>
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Default,
        E: From<WarehouseError>,
    {
        if let Ok(dir) = self.location().to_file_path() {
            let _lock = lock_doc(&dir.join("_khlang"), name).await?;
            let mut doc: T = self.read_json_doc(name).await?.unwrap_or_default();
            let before = json(name, &doc)?;
            let out = f(&mut doc)?;
            let after = json(name, &doc)?;
            if after != before {
                self.write_doc(name, after).await?;
            }
            return Ok(out);
        }
        let (store, path) = self.doc_path(name)?;
        for attempt in 0..CHANGE_TRIES {
            let (mut doc, mode): (T, PutMode) = match store.get(&path).await {
                Ok(r) => {
                    let version = UpdateVersion { e_tag: r.meta.e_tag.clone(), version: r.meta.version.clone() };
                    let bytes = r.bytes().await.map_err(|e| err(name, e))?;
                    let doc = serde_json::from_slice(&bytes).map_err(|e| err(name, format!("is damaged ({e}); restore it from a backup")))?;
                    (doc, PutMode::Update(version))
                }
                Err(object_store::Error::NotFound { .. }) => (T::default(), PutMode::Create),
                Err(e) => return Err(err(name, e).into()),
            };
            let before = json(name, &doc)?;
            let out = f(&mut doc)?;
            let bytes = json(name, &doc)?;
            if bytes == before {
                return Ok(out);
            }
            match store.put_opts(&path, PutPayload::from(bytes), PutOptions { mode, ..Default::default() }).await {
                Ok(_) => return Ok(out),
                Err(object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. }) => {
                    tracing::debug!(document = name, attempt, "document changed by another writer meanwhile; reading it again");
                    tokio::time::sleep(std::time::Duration::from_millis(10 + 15 * attempt as u64)).await;
                }
                Err(e) => return Err(err(name, e).into()),
            }
        }
        Err(err(name, format!("was changed by other writers {CHANGE_TRIES} times in a row; try again")).into())
    }
}

/// A document as it is written.
fn json<T: serde::Serialize>(name: &str, doc: &T) -> Result<Vec<u8>, WarehouseError> {
    serde_json::to_vec_pretty(doc).map_err(|e| err(name, e))
}

/// Reads of a document before a change gives up to other writers.
const CHANGE_TRIES: usize = 20;

/// The lock file of one local document, held while it is changed (waits up to 30 s for another
/// process's change to finish).
async fn lock_doc(dir: &std::path::Path, name: &str) -> Result<std::fs::File, WarehouseError> {
    let lock_err = |e: std::io::Error| err(name, format!("cannot be locked for a change in {}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(lock_err)?;
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join(format!("{name}.lock"))).map_err(lock_err)?;
    let t0 = std::time::Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if t0.elapsed() < std::time::Duration::from_secs(30) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            Err(std::fs::TryLockError::WouldBlock) => return Err(err(name, "is being changed by another process for over 30 s")),
            Err(std::fs::TryLockError::Error(e)) => return Err(lock_err(e)),
        }
    }
}
