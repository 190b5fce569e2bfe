//! The installation secret and the keyed hash that replaces citizen IDs in every analyst table.
//! The secret lives outside the warehouse (a file only the service account can read), so a copy of
//! the tables alone cannot be joined back to citizen IDs.

use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::digest::generic_array::GenericArray;
use sha2::{Sha256, compress256};

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
        // The key blocks (RFC 2104): the 32-byte key, zero-padded to SHA-256's 64-byte block, XORed
        // with the inner and outer pads, each hashed once from SHA-256's initial state.
        let keyed = |pad: u8| {
            let mut block = [pad; 64];
            for (b, k) in block.iter_mut().zip(self.key) {
                *b ^= k;
            }
            compressed(SHA256_INITIAL, &block)
        };
        // HMAC accepts keys of any length, so this cannot fail for a 32-byte key.
        KeyedHasher { inner: keyed(0x36), outer: keyed(0x5c), mac: Hmac::<Sha256>::new_from_slice(&self.key).ok() }
    }
}

/// SHA-256's initial hash value (FIPS 180-4, 5.3.3).
const SHA256_INITIAL: [u32; 8] = [0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19];

/// `Secret::keyed_hash` for many IDs: the HMAC's inner and outer key blocks are hashed once, and an ID
/// that fits one block with its padding (any citizen ID) takes exactly two SHA-256 block
/// compressions, with no hasher state copied or buffered per ID.
#[derive(Clone)]
pub struct KeyedHasher {
    /// The SHA-256 states after the inner and the outer key block.
    inner: [u32; 8],
    outer: [u32; 8],
    /// The general HMAC, for IDs longer than one block takes.
    mac: Option<Hmac<Sha256>>,
}

/// `state` after one more SHA-256 block.
fn compressed(mut state: [u32; 8], block: &[u8; 64]) -> [u32; 8] {
    compress256(&mut state, std::slice::from_ref(GenericArray::from_slice(block)));
    state
}

/// The longest message that fits one block after 64 bytes already hashed: its padding takes a byte
/// and the bit length eight.
const ONE_BLOCK: usize = 64 - 1 - 8;

/// One final SHA-256 block: `message` (at most `ONE_BLOCK` bytes), the padding, and the bit length of
/// the 64-byte key block and the message.
fn last_block(message: &[u8]) -> [u8; 64] {
    let mut block = [0u8; 64];
    let n = message.len().min(ONE_BLOCK);
    if let (Some(to), Some(from)) = (block.get_mut(..n), message.get(..n)) {
        to.copy_from_slice(from);
    }
    if let Some(b) = block.get_mut(n) {
        *b = 0x80;
    }
    let bits = ((64 + n) as u64) * 8;
    if let Some(to) = block.get_mut(56..) {
        to.copy_from_slice(&bits.to_be_bytes());
    }
    block
}

impl KeyedHasher {
    /// The keyed hash of `id` (first 16 bytes of the HMAC) as 32 lower-case hex digits in `out`.
    pub fn hash_hex(&self, id: &str, out: &mut [u8; 32]) {
        let _ = hex::encode_to_slice(self.digest(id), out);
    }

    /// The keyed hash of `id` as its 16 bytes (what `hash_hex` writes out in hex).
    pub fn digest(&self, id: &str) -> [u8; 16] {
        let mut out = [0u8; 16];
        if id.len() > ONE_BLOCK {
            let Some(base) = &self.mac else { return out };
            let mut mac = base.clone();
            mac.update(id.as_bytes());
            let digest = mac.finalize().into_bytes();
            out.copy_from_slice(digest.get(..16).unwrap_or(&[0u8; 16]));
            return out;
        }
        let inner = compressed(self.inner, &last_block(id.as_bytes()));
        let mut hashed = [0u8; 32];
        for (to, word) in hashed.chunks_exact_mut(4).zip(inner) {
            to.copy_from_slice(&word.to_be_bytes());
        }
        let outer = compressed(self.outer, &last_block(&hashed));
        for (to, word) in out.chunks_exact_mut(4).zip(outer) {
            to.copy_from_slice(&word.to_be_bytes());
        }
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

    /// The two-block path gives the general HMAC's bytes for every length it takes, and longer IDs
    /// still hash (by the general HMAC).
    #[test]
    fn keyed_hash_is_hmac_sha256() -> Result<(), WarehouseError> {
        let dir = tempfile::tempdir().map_err(|e| WarehouseError::Secret { path: "tmp".into(), message: e.to_string() })?;
        let secret = Secret::load_or_create(&dir.path().join("secret.key"))?;
        let hasher = secret.hasher();
        for len in 0..=80 {
            let id: String = (0..len).map(|i| char::from(b'0' + ((i * 7 + len) % 10) as u8)).collect();
            let mut mac = Hmac::<Sha256>::new_from_slice(&secret.key).map_err(|e| WarehouseError::Secret { path: "key".into(), message: e.to_string() })?;
            mac.update(id.as_bytes());
            let want = mac.finalize().into_bytes();
            assert_eq!(hasher.digest(&id).as_slice(), &want[..16], "an ID of {len} bytes");
        }
        Ok(())
    }
}
