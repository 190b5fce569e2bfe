//! Small JSON documents kept beside the tables under `_khlang/` (users, saved queries), on the same
//! object store as the tables so a warehouse on S3 carries them too.

use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};

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
        let bytes = serde_json::to_vec_pretty(value).map_err(|e| err(name, e))?;
        self.write_doc(name, bytes).await
    }
}
