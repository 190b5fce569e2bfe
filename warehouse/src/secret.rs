//! The installation secret and the keyed hash that replaces citizen IDs in every analyst table.
//! The secret lives outside the warehouse (a file only the service account can read), so a copy of
//! the tables alone cannot be joined back to citizen IDs.

use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::WarehouseError;

#[derive(Clone)]
pub struct Secret {
    key: [u8; 32],
    pub path: PathBuf,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret").field("path", &self.path).finish_non_exhaustive()
    }
}

/// Default place of the secret: `$XDG_DATA_HOME/khlang/secret.key` or `~/.local/share/khlang/secret.key`.
pub fn default_secret_path() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("khlang").join("secret.key")
}

impl Secret {
    /// Reads the secret, creating it (32 random bytes, hex, mode 0600) on first use.
    pub fn load_or_create(path: &Path) -> Result<Secret, WarehouseError> {
        let err = |e: std::io::Error| WarehouseError::Secret { path: path.display().to_string(), message: e.to_string() };
        if !path.exists() {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(err)?;
            }
            let mut key = [0u8; 32];
            rand::rng().fill_bytes(&mut key);
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, hex::encode(key)).map_err(err)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
            }
            // Two processes starting at once: the first rename wins and both read the same file below.
            if std::fs::hard_link(&tmp, path).is_err() && !path.exists() {
                std::fs::rename(&tmp, path).map_err(err)?;
            }
            let _ = std::fs::remove_file(&tmp);
            tracing::info!(path = %path.display(), "created the installation secret");
        }
        let text = std::fs::read_to_string(path).map_err(err)?;
        let bytes = hex::decode(text.trim()).map_err(|_| WarehouseError::Secret {
            path: path.display().to_string(),
            message: "the file is not a hex-encoded 32-byte key".into(),
        })?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| WarehouseError::Secret {
            path: path.display().to_string(),
            message: "the key must be 32 bytes (64 hex digits)".into(),
        })?;
        Ok(Secret { key, path: path.to_path_buf() })
    }

    /// HMAC-SHA256 of the ID with the installation secret, first 16 bytes, hex.
    pub fn keyed_hash(&self, id: &str) -> String {
        let mut out = [0u8; 32];
        self.hasher().hash_hex(id, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The keyed hash with the key schedule done once, for the millions of IDs of a load.
    pub fn hasher(&self) -> KeyedHasher {
        // HMAC accepts keys of any length, so this cannot fail for a 32-byte key.
        KeyedHasher(Hmac::<Sha256>::new_from_slice(&self.key).ok())
    }
}

/// `Secret::keyed_hash` for many IDs: the HMAC's inner and outer key blocks are hashed once.
#[derive(Clone)]
pub struct KeyedHasher(Option<Hmac<Sha256>>);

impl KeyedHasher {
    /// The keyed hash of `id` (first 16 bytes of the HMAC) as 32 lower-case hex digits in `out`.
    pub fn hash_hex(&self, id: &str, out: &mut [u8; 32]) {
        let _ = hex::encode_to_slice(self.digest(id), out);
    }

    /// The keyed hash of `id` as its 16 bytes (what `hash_hex` writes out in hex).
    pub fn digest(&self, id: &str) -> [u8; 16] {
        let mut out = [0u8; 16];
        let Some(base) = &self.0 else { return out };
        let mut mac = base.clone();
        mac.update(id.as_bytes());
        let digest = mac.finalize().into_bytes();
        out.copy_from_slice(digest.get(..16).unwrap_or(&[0u8; 16]));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_created_once_and_hash_is_stable() -> Result<(), WarehouseError> {
        let dir = tempfile::tempdir().map_err(|e| WarehouseError::Secret { path: "tmp".into(), message: e.to_string() })?;
        let path = dir.path().join("k/secret.key");
        let a = Secret::load_or_create(&path)?;
        let b = Secret::load_or_create(&path)?;
        let h = a.keyed_hash("1101700230708");
        assert_eq!(h.len(), 32);
        assert_eq!(h, b.keyed_hash("1101700230708"));
        assert_ne!(h, a.keyed_hash("1101700230709"));
        Ok(())
    }
}
