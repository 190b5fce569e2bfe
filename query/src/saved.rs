//! Saved queries: named SQL a user keeps, and may share with everyone in their area. Kept in
//! `_khlang/saved_queries.json` beside the tables.

use serde::{Deserialize, Serialize};

use crate::QueryError;
use crate::access::Principal;
use khlang_warehouse::Warehouse;

const DOC: &str = "saved_queries.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SavedQuery {
    pub name: String,
    pub owner: String,
    /// The owner's area when saved (`None`: national).
    pub area: Option<String>,
    pub shared: bool,
    pub sql: String,
    pub saved_at: chrono::DateTime<chrono::Utc>,
}

/// The first line of the SQL text audited for a run of a saved query, before its name: the yearly
/// report on use counts the runs of each saved query by it.
pub const SAVED_MARK: &str = "-- saved query: ";

impl SavedQuery {
    /// The statement as run and audited: the query under a comment line naming it.
    pub fn audited_sql(&self) -> String {
        format!("{SAVED_MARK}{}\n{}", self.name.replace(['\n', '\r'], " "), self.sql)
    }

    /// Whether `who` may see and run it: their own, or shared within their area (a national
    /// query shared is seen by everyone signed in).
    pub fn visible_to(&self, who: &Principal) -> bool {
        self.owner == who.user || who.is_admin() || (self.shared && (self.area.is_none() || self.area.as_deref() == who.area()))
    }
}

#[derive(Debug, Clone)]
pub struct SavedQueries {
    wh: Warehouse,
}

fn bad(m: impl Into<String>) -> QueryError {
    QueryError::User(m.into())
}

impl SavedQueries {
    pub fn new(wh: Warehouse) -> Self {
        Self { wh }
    }

    async fn all(&self) -> Result<Vec<SavedQuery>, QueryError> {
        Ok(self.wh.read_json_doc(DOC).await?.unwrap_or_default())
    }

    /// The queries `who` can see, their own first.
    pub async fn list(&self, who: &Principal) -> Result<Vec<SavedQuery>, QueryError> {
        let mut v: Vec<SavedQuery> = self.all().await?.into_iter().filter(|q| q.visible_to(who)).collect();
        v.sort_by(|a, b| (a.owner != who.user, &a.name, &a.owner).cmp(&(b.owner != who.user, &b.name, &b.owner)));
        Ok(v)
    }

    /// Saves (or replaces) one of `who`'s queries.
    pub async fn save(&self, who: &Principal, name: &str, sql: &str, shared: bool) -> Result<SavedQuery, QueryError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.contains('/') {
            return Err(bad("a saved query needs a name of 1 to 100 characters, without '/'"));
        }
        if sql.trim().is_empty() {
            return Err(bad("a saved query needs SQL text"));
        }
        let q = SavedQuery {
            name: name.to_string(),
            owner: who.user.clone(),
            area: who.area().map(str::to_string),
            shared,
            sql: sql.to_string(),
            saved_at: chrono::Utc::now(),
        };
        crate::change_doc(&self.wh, DOC, |all: &mut Vec<SavedQuery>| {
            all.retain(|x| !(x.owner == q.owner && x.name == q.name));
            all.push(q.clone());
            Ok(())
        })
        .await?;
        Ok(q)
    }

    /// The query of that name `who` can see: their own first, then one shared with them.
    pub async fn find(&self, who: &Principal, name: &str) -> Result<Option<SavedQuery>, QueryError> {
        Ok(self.list(who).await?.into_iter().find(|q| q.name == name))
    }

    /// Deletes one of `who`'s own queries; false when they have none of that name.
    pub async fn delete(&self, who: &Principal, name: &str) -> Result<bool, QueryError> {
        crate::change_doc(&self.wh, DOC, |all: &mut Vec<SavedQuery>| {
            let before = all.len();
            all.retain(|x| !(x.owner == who.user && x.name == name));
            Ok(all.len() < before)
        })
        .await
    }
}
