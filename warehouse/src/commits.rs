//! Warehouse commits: the set of table versions that together make one consistent state.
//!
//! Delta gives each table atomic commits, but a nightly load writes a dozen tables. A load publishes
//! a warehouse commit (`_khlang/commits/<seq>.json`, the version of every table) only after every
//! table is written. Readers pin every table to the latest warehouse commit, so they see the whole
//! load or none of it; a load that died part-way has its table versions rolled back (Delta restore)
//! by the next writer before it writes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::TryStreamExt as _;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::WarehouseError;
use crate::store::Warehouse;

const COMMITS: &str = "_khlang/commits";

/// One published state of the warehouse.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Commit {
    /// 1, 2, 3, … in publishing order.
    pub seq: u64,
    /// The ingest run that published it.
    pub run_id: String,
    pub at: DateTime<Utc>,
    /// Version of every table in this state.
    pub tables: BTreeMap<String, u64>,
}

fn err(message: impl std::fmt::Display) -> WarehouseError {
    WarehouseError::Commit { message: message.to_string() }
}

impl Warehouse {
    fn commit_store(&self) -> Result<(&std::sync::Arc<dyn ObjectStore>, StorePath), WarehouseError> {
        Ok(self.object(COMMITS))
    }

    /// Sequence numbers of every published commit, ascending.
    async fn commit_seqs(&self) -> Result<Vec<u64>, WarehouseError> {
        let (store, prefix) = self.commit_store()?;
        let metas: Vec<_> = store.list(Some(&prefix)).try_collect().await.map_err(err)?;
        let mut seqs: Vec<u64> = metas.iter().filter_map(|m| m.location.filename()?.strip_suffix(".json")?.parse().ok()).collect();
        seqs.sort_unstable();
        Ok(seqs)
    }

    async fn read_commit(&self, seq: u64) -> Result<Commit, WarehouseError> {
        let (store, prefix) = self.commit_store()?;
        let path = prefix.clone().join(format!("{seq:020}.json"));
        let bytes = store.get(&path).await.map_err(err)?.bytes().await.map_err(err)?;
        serde_json::from_slice(&bytes).map_err(|e| err(format!("{path}: {e}")))
    }

    /// The latest published state; `None` for a warehouse no load has finished in.
    /// Asked before every statement: after the first time it is one existence check (of the next
    /// commit's file) rather than a listing and a read.
    pub async fn committed(&self) -> Result<Option<Commit>, WarehouseError> {
        let seen = self.latest.lock().ok().and_then(|l| l.clone());
        if let Some(c) = seen {
            let (store, prefix) = self.commit_store()?;
            if let Err(object_store::Error::NotFound { .. }) = store.head(&prefix.clone().join(format!("{:020}.json", c.seq + 1))).await {
                return Ok(Some(c));
            }
        }
        let latest = match self.commit_seqs().await?.last() {
            Some(&seq) => Some(self.read_commit(seq).await?),
            None => None,
        };
        if let (Some(c), Ok(mut l)) = (&latest, self.latest.lock()) {
            *l = Some(c.clone());
        }
        Ok(latest)
    }

    /// The published state `seq`; `None` when there is none of that number.
    pub async fn commit(&self, seq: u64) -> Result<Option<Commit>, WarehouseError> {
        if self.commit_seqs().await?.contains(&seq) { Ok(Some(self.read_commit(seq).await?)) } else { Ok(None) }
    }

    /// The state that was current at time `t` (the last commit published at or before it).
    pub async fn committed_at(&self, t: DateTime<Utc>) -> Result<Option<Commit>, WarehouseError> {
        Ok(self.commits().await?.into_iter().take_while(|c| c.at <= t).last())
    }

    /// Every published state, oldest first.
    pub async fn commits(&self) -> Result<Vec<Commit>, WarehouseError> {
        let mut out = Vec::new();
        for seq in self.commit_seqs().await? {
            out.push(self.read_commit(seq).await?);
        }
        Ok(out)
    }

    /// Publishes the current latest version of every table as the next warehouse state. Fails
    /// (publishing nothing) if another writer published in between.
    pub async fn publish(&self, run_id: &str) -> Result<Commit, WarehouseError> {
        let seq = self.commit_seqs().await?.last().map_or(1, |s| s + 1);
        let tables: BTreeMap<String, u64> = self.versions().await?.into_iter().collect();
        let commit = Commit { seq, run_id: run_id.to_string(), at: Utc::now(), tables };
        let (store, prefix) = self.commit_store()?;
        let path = prefix.clone().join(format!("{seq:020}.json"));
        let body = serde_json::to_vec_pretty(&commit).map_err(err)?;
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        store.put_opts(&path, PutPayload::from(body), opts).await.map_err(|e| match e {
            object_store::Error::AlreadyExists { .. } => err(format!("warehouse commit {seq} was published by another writer at the same time")),
            e => err(e),
        })?;
        tracing::info!(seq, run_id, "published warehouse commit");
        Ok(commit)
    }

    /// Rolls every table written after the latest published state back to its version in that
    /// state (a Delta restore, itself one commit), so a load that died part-way leaves no trace.
    /// Returns the tables rolled back as (table, from version, to version).
    pub async fn recover(&self) -> Result<Vec<(String, u64, u64)>, WarehouseError> {
        let Some(commit) = self.committed().await? else {
            // Nothing was ever published. Tables written by a load that never finished are emptied
            // back to their creation (version 0).
            return self.roll_back_to(&BTreeMap::new()).await;
        };
        self.roll_back_to(&commit.tables).await
    }

    async fn roll_back_to(&self, tables: &BTreeMap<String, u64>) -> Result<Vec<(String, u64, u64)>, WarehouseError> {
        let mut rolled = Vec::new();
        for (name, latest) in self.versions().await? {
            if crate::schema::is_live(&name) {
                continue;
            }
            let target = tables.get(&name).copied().unwrap_or(0);
            if latest <= target {
                continue;
            }
            self.restore(&name, target).await?;
            tracing::warn!(table = name.as_str(), from = latest, to = target, "rolled back an unpublished load");
            rolled.push((name, latest, target));
        }
        rolled.sort();
        Ok(rolled)
    }
}
