//! The reporting calendar (ปฏิทินการรายงานข้อมูล): the office's deadlines for schools to key their
//! data, kept as data it edits in `_khlang/calendar.json` beside the tables.

use chrono::{DateTime, NaiveDate, Utc};
use khlang_warehouse::Warehouse;
use serde::{Deserialize, Serialize};

use crate::QueryError;
use crate::access::{Principal, Role};

const DOC: &str = "calendar.json";

/// The feeds a school keys and the office sets deadlines for.
pub const FEEDS: [&str; 3] = ["students", "personnel", "budget"];

/// One deadline: the data of one period of one feed, due by the end of `due` (Thai time).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Deadline {
    pub id: u32,
    pub feed: String,
    /// The student or personnel snapshot date (`2026-06-10`), or for budget the Buddhist-Era fiscal
    /// year and quarter (`2569-Q2`).
    pub period: String,
    pub due: NaiveDate,
    pub name: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// What a deadline's period selects in its table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Period {
    Snapshot(NaiveDate),
    Quarter { fiscal_year: i32, quarter: i32 },
}

impl Deadline {
    pub fn period(&self) -> Result<Period, QueryError> {
        parse_period(&self.feed, &self.period)
    }

    /// The table a school's rows of this feed are in, and the SQL condition selecting the period.
    pub fn rows(&self) -> Result<(&'static str, String), QueryError> {
        Ok(match (self.feed.as_str(), self.period()?) {
            ("students", Period::Snapshot(d)) => ("enrollments", format!("snapshot_date = DATE '{d}'")),
            ("personnel", Period::Snapshot(d)) => ("personnel", format!("as_of_date = DATE '{d}'")),
            (_, Period::Quarter { fiscal_year, quarter }) => ("budget_lines", format!("fiscal_year = {fiscal_year} AND fiscal_quarter = {quarter}")),
            (feed, _) => return Err(bad(format!("feed {feed} has no such period"))),
        })
    }

    /// How an ingest run names the period in its `scope` (`snapshot_date 2026-06-10, …`).
    pub fn scope_word(&self) -> Result<String, QueryError> {
        Ok(match self.period()? {
            Period::Snapshot(d) => d.to_string(),
            Period::Quarter { fiscal_year, .. } => fiscal_year.to_string(),
        })
    }
}

fn bad(m: impl Into<String>) -> QueryError {
    QueryError::User(m.into())
}

pub fn parse_period(feed: &str, period: &str) -> Result<Period, QueryError> {
    match feed {
        "students" | "personnel" => NaiveDate::parse_from_str(period, "%Y-%m-%d")
            .map(Period::Snapshot)
            .map_err(|_| bad(format!("the period of a {feed} deadline is its snapshot date like 2026-06-10, not '{period}'"))),
        "budget" => {
            let parsed = period.split_once("-Q").and_then(|(y, q)| Some((crate::reference::fiscal_year_be(y)?, q.parse::<i32>().ok()?)));
            match parsed {
                Some((fiscal_year, quarter)) if (1..=4).contains(&quarter) => Ok(Period::Quarter { fiscal_year, quarter }),
                _ => Err(bad(format!("the period of a budget deadline is a Buddhist-Era fiscal year and quarter like 2569-Q2, not '{period}'"))),
            }
        }
        other => Err(bad(format!("feed '{other}' has no deadlines: use one of {}", FEEDS.join(", ")))),
    }
}

#[derive(Debug, Clone)]
pub struct Calendar {
    wh: Warehouse,
}

impl Calendar {
    pub fn new(wh: Warehouse) -> Self {
        Self { wh }
    }

    /// Every deadline, by due date.
    pub async fn list(&self) -> Result<Vec<Deadline>, QueryError> {
        let mut all: Vec<Deadline> = self.wh.read_json_doc(DOC).await?.unwrap_or_default();
        all.sort_by_key(|d| (d.due, d.id));
        Ok(all)
    }

    pub async fn get(&self, id: u32) -> Result<Option<Deadline>, QueryError> {
        Ok(self.list().await?.into_iter().find(|d| d.id == id))
    }

    fn may_edit(who: &Principal) -> Result<(), QueryError> {
        if matches!(who.role, Role::Admin | Role::Analyst) { Ok(()) } else { Err(bad("only the office's staff (an admin or an analyst) may change the reporting calendar")) }
    }

    /// Adds a deadline; the name defaults to the feed and period.
    pub async fn add(&self, who: &Principal, feed: &str, period: &str, due: NaiveDate, name: Option<&str>) -> Result<Deadline, QueryError> {
        Self::may_edit(who)?;
        parse_period(feed, period)?;
        let name = name.map(str::trim).filter(|n| !n.is_empty()).map_or_else(|| format!("{feed} {period}"), str::to_string);
        crate::change_doc(&self.wh, DOC, |all: &mut Vec<Deadline>| {
            let id = all.iter().map(|d| d.id).max().unwrap_or(0) + 1;
            let d = Deadline { id, feed: feed.to_string(), period: period.to_string(), due, name: name.clone(), created_by: who.user.clone(), created_at: Utc::now() };
            all.push(d.clone());
            Ok(d)
        })
        .await
    }

    /// Removes a deadline; `false` when there was none of that number.
    pub async fn remove(&self, who: &Principal, id: u32) -> Result<bool, QueryError> {
        Self::may_edit(who)?;
        crate::change_doc(&self.wh, DOC, |all: &mut Vec<Deadline>| {
            let before = all.len();
            all.retain(|d| d.id != id);
            Ok(all.len() != before)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn periods_are_checked_per_feed() {
        assert_eq!(parse_period("students", "2026-06-10").unwrap(), Period::Snapshot(NaiveDate::from_ymd_opt(2026, 6, 10).unwrap()));
        assert_eq!(parse_period("budget", "2569-Q2").unwrap(), Period::Quarter { fiscal_year: 2569, quarter: 2 });
        assert!(parse_period("budget", "2026-Q5").is_err());
        assert!(parse_period("students", "10/06/2569").unwrap_err().to_string().contains("like 2026-06-10"));
        assert!(parse_period("buildings", "2026-06-10").is_err());
    }
}
