//! Approval before publishing (the manual's "เสนอ ผอ.สพท. พิจารณาอนุมัติเผยแพร่"): a load publishes
//! a new warehouse state for staff, but the public sees an area's figures only from a state its
//! director (or an admin) approved, pinned to that state until another is approved.
//!
//! Every proposal, approval and return is kept in `_khlang/approvals.json` (the history the public
//! state is worked out from) and written to `audit_log`.

use chrono::{DateTime, NaiveDate, Utc};
use khlang_warehouse::Warehouse;
use khlang_warehouse::office::sql_literal;
use serde::{Deserialize, Serialize};

use crate::QueryError;
use crate::access::{Principal, Role, Scope};
use crate::audit::{Action, Event};
use crate::service::SqlService;

const DOC: &str = "approvals.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Staff put the state's figures to the director.
    Proposed,
    /// The director approved them for the public.
    Approved,
    /// The director sent them back to be reviewed and corrected.
    Returned,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Proposed => "proposed",
            Decision::Approved => "approved",
            Decision::Returned => "returned",
        }
    }


    fn action(self) -> Action {
        match self {
            Decision::Proposed => Action::PublishPropose,
            Decision::Approved => Action::PublishApprove,
            Decision::Returned => Action::PublishReturn,
        }
    }
}

/// One entry of the history.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Approval {
    /// The area whose figures these are; `None`: every area (an admin's decision).
    pub area: Option<String>,
    /// The student snapshot the figures are of.
    pub snapshot: NaiveDate,
    /// The fiscal year (Buddhist Era) of the budget figures, when the state has budget lines.
    pub fiscal_year: Option<i32>,
    /// The published warehouse state the figures were read from.
    pub state: u64,
    pub decision: Decision,
    pub by: String,
    pub role: Role,
    pub at: DateTime<Utc>,
    pub reason: Option<String>,
}

impl Approval {
    /// Whether the entry is about `area` (its own, or every area).
    pub fn covers(&self, area: &str) -> bool {
        self.area.as_deref().is_none_or(|a| a == area)
    }

    /// The audit record's object: what was decided, on which state.
    pub fn describe(&self) -> String {
        let mut s = format!("publish {} area={} snapshot={} state={}", self.decision.as_str(), self.area.as_deref().unwrap_or("all"), self.snapshot, self.state);
        if let Some(fy) = self.fiscal_year {
            s.push_str(&format!(" fiscal_year={fy}"));
        }
        if let Some(r) = &self.reason {
            s.push_str(&format!(" reason: {r}"));
        }
        s
    }
}

/// What a decision is about, as the caller gives it.
#[derive(Debug, Clone, Default)]
pub struct Proposal {
    /// The area; for a director their own, for an admin `None` means every area.
    pub area: Option<String>,
    /// ISO date of the student snapshot; the latest in the state when `None`.
    pub snapshot: Option<String>,
    /// Buddhist-Era fiscal year; the latest in the state when `None`.
    pub fiscal_year: Option<i32>,
    /// The state the decider reviewed. A decision is refused if a load published another since,
    /// so nobody approves figures they have not seen.
    pub state: Option<u64>,
    pub reason: Option<String>,
}

/// Where an area stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub area: String,
    /// The approved entry the public sees, if any.
    pub public: Option<Approval>,
    /// The latest published state.
    pub latest: u64,
    /// The last entry about the latest state, if any.
    pub pending: Option<Approval>,
}

/// Where an area stands, as its publishing page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// The public sees the latest published state.
    PublishedLatest,
    /// The latest state was returned for review.
    Returned,
    /// The latest state awaits the director's decision.
    Proposed,
    /// Nobody has proposed the latest state.
    NotProposed,
}

impl Status {
    pub fn position(&self) -> Position {
        match (&self.public, &self.pending) {
            (Some(p), _) if p.state == self.latest => Position::PublishedLatest,
            (_, Some(p)) if p.decision == Decision::Returned => Position::Returned,
            (_, Some(p)) if p.decision == Decision::Proposed => Position::Proposed,
            _ => Position::NotProposed,
        }
    }
}

fn bad(m: impl Into<String>) -> QueryError {
    QueryError::User(m.into())
}

/// The approved entry the public sees for `area`: the newest approval about it whose state was not
/// returned afterwards.
pub fn effective<'a>(history: &'a [Approval], area: &str) -> Option<&'a Approval> {
    history.iter().enumerate().rev().find_map(|(i, e)| {
        let withdrawn = history.iter().skip(i + 1).any(|r| r.decision == Decision::Returned && r.state == e.state && r.covers(area));
        (e.decision == Decision::Approved && e.covers(area) && !withdrawn).then_some(e)
    })
}

/// `areas` grouped by the approval the public sees each at, in the order first met; and the areas
/// nothing has been approved for.
pub fn groups(history: &[Approval], areas: impl IntoIterator<Item = String>) -> (Vec<(Approval, Vec<String>)>, Vec<String>) {
    let mut groups: Vec<(Approval, Vec<String>)> = Vec::new();
    let mut unapproved = Vec::new();
    for a in areas {
        match effective(history, &a) {
            Some(e) => match groups.iter_mut().find(|(g, _)| g == e) {
                Some((_, members)) => members.push(a),
                None => groups.push((e.clone(), vec![a])),
            },
            None => unapproved.push(a),
        }
    }
    (groups, unapproved)
}

/// `area_code IN (…)` for SQL.
pub fn area_in(areas: &[String]) -> String {
    let quoted: Vec<String> = areas.iter().map(|a| sql_literal(a)).collect();
    format!("area_code IN ({})", quoted.join(", "))
}

/// The history of one warehouse.
#[derive(Debug, Clone)]
pub struct Approvals {
    wh: Warehouse,
}

impl Approvals {
    pub fn new(wh: Warehouse) -> Self {
        Self { wh }
    }

    /// Every entry, oldest first.
    pub async fn history(&self) -> Result<Vec<Approval>, QueryError> {
        Ok(self.wh.read_json_doc(DOC).await?.unwrap_or_default())
    }

    /// Where each of `areas` stands against the latest published state `latest`.
    pub fn status(history: &[Approval], areas: &[String], latest: u64) -> Vec<Status> {
        areas
            .iter()
            .map(|a| Status {
                area: a.clone(),
                public: effective(history, a).cloned(),
                latest,
                pending: history.iter().rev().find(|e| e.state == latest && e.covers(a)).cloned(),
            })
            .collect()
    }

    async fn append(&self, entry: Approval) -> Result<(), QueryError> {
        crate::change_doc(&self.wh, DOC, |all: &mut Vec<Approval>| {
            all.push(entry.clone());
            Ok(())
        })
        .await
    }
}

impl SqlService {
    pub fn approvals(&self) -> Approvals {
        Approvals::new(self.q.warehouse().clone())
    }

    /// Records `who`'s `decision` on the latest published state, after checking that they may make
    /// it and that the snapshot, fiscal year and area are in that state; audited.
    pub async fn decide(&self, who: &Principal, decision: Decision, p: Proposal, client: &str) -> Result<Approval, QueryError> {
        let area = match (decision, who.role, &who.scope) {
            (_, Role::Admin, _) => p.area.clone(),
            (Decision::Proposed, Role::Analyst, Scope::National) => p.area.clone(),
            (_, Role::Director, Scope::Area(mine)) | (Decision::Proposed, Role::Analyst, Scope::Area(mine)) => match &p.area {
                Some(a) if a != mine => return Err(bad(format!("area {a} is not yours: you may decide only for area {mine}"))),
                _ => Some(mine.clone()),
            },
            (Decision::Proposed, _, _) => return Err(bad("only staff of the office (an admin, an analyst or the director) may propose figures for publishing")),
            _ => return Err(bad("only the director of the area (ผอ.สพท.) or an admin may approve or return figures for publishing")),
        };
        if decision != Decision::Proposed && who.role != Role::Admin && area.is_none() {
            return Err(bad("a decision for every area needs an admin"));
        }
        let reason = p.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()).map(str::to_string);
        if decision == Decision::Returned && reason.is_none() {
            return Err(bad("returning figures needs a reason (--reason), so the office knows what to review and correct"));
        }
        let Some(commit) = self.q.warehouse().committed().await? else {
            return Err(bad("nothing has been loaded yet, so there is nothing to publish"));
        };
        if let Some(seen) = p.state
            && seen != commit.seq
        {
            return Err(bad(format!(
                "the figures reviewed were of data version {seen}, but a load has since published version {}: review the new figures before deciding",
                commit.seq
            )));
        }
        let ctx = self.q.session_for_commit(&Principal::local_admin(), Some(&commit)).await?;
        let one = |sql: String| {
            let ctx = ctx.clone();
            async move {
                let b = ctx.sql(&sql).await?.collect().await?;
                Ok::<_, QueryError>(crate::scalar_string(&b))
            }
        };
        let snapshot = match p.snapshot.as_deref() {
            Some(s) => {
                let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad(format!("--snapshot '{s}' is not a date like 2026-06-10")))?;
                if one(format!("SELECT CAST(count(*) AS VARCHAR) FROM school_snapshot_summary WHERE snapshot_date = DATE '{d}'")).await?.as_deref() == Some("0") {
                    return Err(bad(format!("there is no student snapshot on {d} in data version {}", commit.seq)));
                }
                d
            }
            None => match one("SELECT CAST(max(snapshot_date) AS VARCHAR) FROM school_snapshot_summary".into()).await? {
                Some(s) => NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|e| bad(format!("snapshot {s}: {e}")))?,
                None => return Err(bad(format!("data version {} has no student snapshot to publish", commit.seq))),
            },
        };
        let has_budget = ctx.table_exist("budget_lines").unwrap_or(false);
        let fiscal_year = match (p.fiscal_year, has_budget) {
            (Some(fy), true) => {
                if one(format!("SELECT CAST(count(*) AS VARCHAR) FROM budget_lines WHERE fiscal_year = {fy}")).await?.as_deref() == Some("0") {
                    return Err(bad(format!("there are no budget lines for fiscal year {fy} in data version {}", commit.seq)));
                }
                Some(fy)
            }
            (Some(fy), false) => return Err(bad(format!("data version {} has no budget lines, so fiscal year {fy} cannot be published", commit.seq))),
            (None, true) => one("SELECT CAST(max(fiscal_year) AS VARCHAR) FROM budget_lines".into()).await?.and_then(|s| s.parse().ok()),
            (None, false) => None,
        };
        if let Some(a) = &area
            && one(format!("SELECT CAST(count(*) AS VARCHAR) FROM areas WHERE area_code = {}", sql_literal(a))).await?.as_deref() != Some("1")
        {
            return Err(bad(format!("there is no area {a} in data version {}", commit.seq)));
        }
        let entry = Approval { area, snapshot, fiscal_year, state: commit.seq, decision, by: who.user.clone(), role: who.role, at: Utc::now(), reason };
        self.approvals().append(entry.clone()).await?;
        self.audit.record(Event::new(who, decision.action(), entry.describe(), client));
        tracing::info!(object = entry.describe().as_str(), by = who.user.as_str(), "publishing decision");
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn entry(area: Option<&str>, state: u64, decision: Decision) -> Approval {
        Approval {
            area: area.map(str::to_string),
            snapshot: NaiveDate::from_ymd_opt(2026, 6, 10).unwrap(),
            fiscal_year: Some(2569),
            state,
            decision,
            by: "d".into(),
            role: Role::Director,
            at: Utc::now(),
            reason: None,
        }
    }

    #[test]
    fn the_public_state_is_the_newest_approval_not_returned_since() {
        use Decision::*;
        let a = "10010000";
        assert_eq!(effective(&[], a), None);
        let h = vec![entry(Some(a), 1, Proposed), entry(Some(a), 1, Approved), entry(Some(a), 2, Proposed), entry(Some(a), 2, Returned)];
        assert_eq!(effective(&h, a).map(|e| e.state), Some(1), "a returned state does not replace the approved one");
        assert_eq!(effective(&h, "10020000"), None, "another area's approval is not this area's");
        let mut h2 = h.clone();
        h2.push(entry(None, 3, Approved));
        assert_eq!(effective(&h2, "10020000").map(|e| e.state), Some(3), "an admin's approval covers every area");
        h2.push(entry(Some(a), 3, Returned));
        assert_eq!(effective(&h2, a).map(|e| e.state), Some(1), "withdrawn for this area only");
        assert_eq!(effective(&h2, "10020000").map(|e| e.state), Some(3));
        let s = Approvals::status(&h, &[a.to_string()], 2);
        assert_eq!(s[0].position(), Position::Returned);
        assert_eq!(Approvals::status(&h, &[a.to_string()], 1)[0].position(), Position::PublishedLatest);
        assert_eq!(Approvals::status(&h, &[a.to_string()], 5)[0].position(), Position::NotProposed);
    }
}
