//! The writer lock: one load at a time writes to a warehouse.
//!
//! On a local directory it is an OS file lock, which goes with the process however it ends. An
//! object store has no locks, so there it is a lease: `_khlang/writer.lease`, created only if absent
//! (`If-None-Match`), renewed by its holder with `If-Match` while the load runs, and deleted at the
//! end. A lease whose holder stopped renewing it (the load was killed, the host died) expires after
//! `LEASE_SECONDS` and may then be taken over; on the holder's own host a dead holder process is seen
//! at once. Two loads starting together cannot both win: the create and the takeover are
//! conditional writes, and the store refuses the second.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use crate::WarehouseError;
use crate::store::Warehouse;

const LEASE: &str = "_khlang/writer.lease";
/// How long a lease holds without renewal; it is renewed every third of that.
pub const LEASE_SECONDS: i64 = 60;

/// Who holds the lease, so a refused load can say who is writing and a dead holder can be seen.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Holder {
    /// One per lock taken: a renewal only ever replaces its own lease.
    token: String,
    host: String,
    /// The kernel's boot id and the process's start time (clock ticks since boot) tell a live
    /// holder from another process that reused its pid.
    boot_id: String,
    pid: u32,
    started_ticks: u64,
    taken: DateTime<Utc>,
    expires: DateTime<Utc>,
}

impl Holder {
    fn me(token: &str) -> Holder {
        let now = Utc::now();
        let pid = std::process::id();
        Holder {
            token: token.to_string(),
            host: read_trimmed("/proc/sys/kernel/hostname").unwrap_or_else(|| "unknown".into()),
            boot_id: read_trimmed("/proc/sys/kernel/random/boot_id").unwrap_or_default(),
            pid,
            started_ticks: started_ticks(pid).unwrap_or(0),
            taken: now,
            expires: now + chrono::Duration::seconds(LEASE_SECONDS),
        }
    }

    /// The lease can be taken over: it expired, or its holder ran on this machine and is gone.
    fn is_stale(&self, now: DateTime<Utc>) -> bool {
        if self.expires < now {
            return true;
        }
        let here = read_trimmed("/proc/sys/kernel/random/boot_id").unwrap_or_default();
        !self.boot_id.is_empty() && self.boot_id == here && started_ticks(self.pid) != Some(self.started_ticks)
    }
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Field 22 of `/proc/PID/stat`; `None` when there is no such process.
fn started_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Held while a load writes; released by `release`, or when dropped or the process ends.
#[derive(Debug)]
pub struct WriterLock {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    File(#[allow(dead_code, reason = "held for its lock")] std::fs::File),
    Lease { store: Arc<dyn ObjectStore>, path: StorePath, token: String, lost: Arc<AtomicBool>, renewer: tokio::task::JoinHandle<()> },
}

impl WriterLock {
    /// Fails when the lease was taken over while this load ran (it stopped renewing for longer
    /// than `LEASE_SECONDS`): the load must not publish over the new holder's work.
    pub fn still_held(&self) -> Result<(), WarehouseError> {
        match &self.inner {
            Inner::Lease { lost, path, .. } if lost.load(Ordering::SeqCst) => Err(WarehouseError::Commit {
                message: format!("this load lost the writer lease {path} (it could not renew it for {LEASE_SECONDS} seconds) and publishes nothing"),
            }),
            _ => Ok(()),
        }
    }

    /// Gives the lock up now (a lease is deleted, so the next load need not wait for it to expire).
    pub async fn release(self) {
        if let Inner::Lease { store, path, token, renewer, .. } = &self.inner {
            renewer.abort();
            if let Ok(Some((holder, _))) = read(store.as_ref(), path).await
                && holder.token == *token
                && let Err(e) = store.delete(path).await
            {
                tracing::warn!(lease = %path, error = %e, "the writer lease could not be removed; it expires by itself");
            }
        }
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        if let Inner::Lease { renewer, .. } = &self.inner {
            renewer.abort();
        }
    }
}

async fn read(store: &dyn ObjectStore, path: &StorePath) -> Result<Option<(Holder, UpdateVersion)>, WarehouseError> {
    let got = match store.get(path).await {
        Ok(g) => g,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(lease_err(path, e)),
    };
    let version = UpdateVersion { e_tag: got.meta.e_tag.clone(), version: got.meta.version.clone() };
    let bytes = got.bytes().await.map_err(|e| lease_err(path, e))?;
    let holder = serde_json::from_slice(&bytes).map_err(|e| lease_err(path, format!("is damaged ({e}); delete it if no load is running")))?;
    Ok(Some((holder, version)))
}

fn lease_err(path: &StorePath, e: impl std::fmt::Display) -> WarehouseError {
    WarehouseError::Commit { message: format!("writer lease {path}: {e}") }
}

fn body(h: &Holder) -> Result<PutPayload, WarehouseError> {
    serde_json::to_vec_pretty(h).map(PutPayload::from).map_err(|e| WarehouseError::Commit { message: e.to_string() })
}

impl Warehouse {
    /// Takes the warehouse's writer lock, or refuses with `Busy` naming who holds it.
    pub async fn lock_writer(&self) -> Result<WriterLock, WarehouseError> {
        if let Ok(dir) = self.location().to_file_path() {
            return self.lock_file(&dir.join("_khlang"));
        }
        let (store, path) = self.object(LEASE);
        let store = store.clone();
        let token = uuid_token();
        let mine = Holder::me(&token);
        let created = store.put_opts(&path, body(&mine)?, PutOptions { mode: PutMode::Create, ..Default::default() }).await;
        let mut version = match created {
            Ok(r) => UpdateVersion::from(r),
            Err(object_store::Error::AlreadyExists { .. }) => {
                let busy = |h: &Holder| WarehouseError::Busy {
                    location: format!("{} (process {} on {}, since {}; its lease runs to {})", self.location(), h.pid, h.host, h.taken, h.expires),
                };
                let Some((held, version)) = read(store.as_ref(), &path).await? else {
                    // Released between our create and our read: the other load just finished.
                    return Err(WarehouseError::Busy { location: self.location().to_string() });
                };
                if !held.is_stale(Utc::now()) {
                    return Err(busy(&held));
                }
                match store.put_opts(&path, body(&mine)?, PutOptions { mode: PutMode::Update(version), ..Default::default() }).await {
                    Ok(r) => {
                        tracing::warn!(pid = held.pid, host = held.host.as_str(), "took over the writer lease of a load that stopped");
                        UpdateVersion::from(r)
                    }
                    Err(object_store::Error::Precondition { .. }) => return Err(busy(&held)),
                    Err(e) => return Err(lease_err(&path, e)),
                }
            }
            Err(e) => return Err(lease_err(&path, e)),
        };
        let lost = Arc::new(AtomicBool::new(false));
        let renewer = {
            let (store, path, lost, token) = (store.clone(), path.clone(), lost.clone(), token.clone());
            tokio::spawn(async move {
                let every = Duration::from_secs((LEASE_SECONDS / 3).unsigned_abs());
                loop {
                    tokio::time::sleep(every).await;
                    let mut next = Holder::me(&token);
                    next.taken = mine.taken;
                    let renewed = match body(&next) {
                        Ok(b) => store.put_opts(&path, b, PutOptions { mode: PutMode::Update(version.clone()), ..Default::default() }).await,
                        Err(_) => continue,
                    };
                    match renewed {
                        Ok(r) => version = UpdateVersion::from(r),
                        Err(object_store::Error::Precondition { .. }) => {
                            tracing::error!(lease = %path, "another load took over the writer lease; this load will publish nothing");
                            lost.store(true, Ordering::SeqCst);
                            return;
                        }
                        // A passing network error: try again at the next turn, before the lease runs out.
                        Err(e) => tracing::warn!(lease = %path, error = %e, "the writer lease could not be renewed; trying again"),
                    }
                }
            })
        };
        Ok(WriterLock { inner: Inner::Lease { store, path, token, lost, renewer } })
    }

    fn lock_file(&self, dir: &std::path::Path) -> Result<WriterLock, WarehouseError> {
        let lock_err = |e: std::io::Error| WarehouseError::Location { location: dir.display().to_string(), message: e.to_string() };
        std::fs::create_dir_all(dir).map_err(lock_err)?;
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("writer.lock")).map_err(lock_err)?;
        match file.try_lock() {
            Ok(()) => Ok(WriterLock { inner: Inner::File(file) }),
            Err(std::fs::TryLockError::WouldBlock) => Err(WarehouseError::Busy { location: self.location().to_string() }),
            Err(std::fs::TryLockError::Error(e)) => Err(lock_err(e)),
        }
    }

    /// Refuses an object store that does not honour conditional writes: a second create of the
    /// same key must be refused, and so must an update with a stale version. Without them two
    /// writers could silently overwrite each other's commits. A local directory needs no probe.
    pub async fn check_conditional_writes(&self) -> Result<(), WarehouseError> {
        if self.is_local() {
            return Ok(());
        }
        let (store, path) = self.object(&format!("_khlang/probe/{}", uuid_token()));
        let refuse = |what: &str| WarehouseError::Location {
            location: self.location().to_string(),
            message: format!(
                "the object store does not honour conditional writes ({what}), so two writers could silently overwrite each other's commits; \
                 use a store that supports If-None-Match and If-Match (AWS S3, MinIO, Ceph RGW, …)"
            ),
        };
        let create = || PutOptions { mode: PutMode::Create, ..Default::default() };
        store.put_opts(&path, PutPayload::from_static(b"1"), create()).await.map_err(|e| WarehouseError::Location {
            location: self.location().to_string(),
            message: format!("cannot write {path}: {e}"),
        })?;
        let second = store.put_opts(&path, PutPayload::from_static(b"2"), create()).await;
        let outcome = match second {
            Err(object_store::Error::AlreadyExists { .. }) => {
                let stale = UpdateVersion { e_tag: Some("\"0000000000000000\"".into()), version: None };
                match store.put_opts(&path, PutPayload::from_static(b"3"), PutOptions { mode: PutMode::Update(stale), ..Default::default() }).await {
                    Err(object_store::Error::Precondition { .. }) => Ok(()),
                    Ok(_) => Err(refuse("an update with a stale If-Match was accepted")),
                    Err(e) => Err(refuse(&format!("an update with If-Match failed: {e}"))),
                }
            }
            Ok(_) => Err(refuse("a second create of the same key with If-None-Match was accepted")),
            Err(e) => Err(refuse(&format!("a second create of the same key failed: {e}"))),
        };
        if let Err(e) = store.delete(&path).await {
            tracing::debug!(probe = %path, error = %e, "probe object left behind");
        }
        outcome
    }
}

fn uuid_token() -> String {
    use rand::Rng as _;
    let n: u128 = rand::rng().random();
    format!("{n:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_of_a_dead_process_on_this_machine_is_stale_and_a_live_ones_is_not() {
        let mine = Holder::me("t");
        assert!(!mine.is_stale(Utc::now()), "{mine:?}");
        assert!(mine.is_stale(mine.expires + chrono::Duration::seconds(1)));
        let dead = Holder { pid: u32::MAX - 7, ..mine.clone() };
        assert!(dead.is_stale(Utc::now()));
        let reused = Holder { started_ticks: mine.started_ticks + 1, ..mine.clone() };
        assert!(reused.is_stale(Utc::now()), "a pid reused by another process");
        let elsewhere = Holder { boot_id: "another-machine".into(), pid: u32::MAX - 7, ..mine };
        assert!(!elsewhere.is_stale(Utc::now()), "another host's live lease waits for its expiry");
    }
}
