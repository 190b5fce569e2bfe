//! The nightly schedule: a cron expression in Thai time (Asia/Bangkok, default 02:00), and retries
//! with backoff for a pull that fails (the ministry export not finished yet, the database busy).

use std::str::FromStr as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;

use crate::IngestError;
use crate::load::{IngestReport, Progress, Source, ingest};
use khlang_warehouse::{Secret, Warehouse};

pub const DEFAULT_SCHEDULE: &str = "0 2 * * *";
pub use khlang_warehouse::office::DEFAULT_TIMEZONE;

#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    tz: Tz,
    text: String,
}

impl Schedule {
    /// `expr`: five fields (minute hour day month weekday) or six with seconds first.
    pub fn parse(expr: &str, timezone: &str) -> Result<Schedule, IngestError> {
        let cron = Cron::from_str(expr).map_err(|e| IngestError::Setting { setting: "schedule".into(), message: format!("'{expr}' is not a cron expression: {e}") })?;
        let tz: Tz = timezone.parse().map_err(|_| IngestError::Setting { setting: "timezone".into(), message: format!("'{timezone}' is not a time zone name like Asia/Bangkok") })?;
        Ok(Schedule { cron, tz, text: format!("{expr} ({timezone})") })
    }

    /// The first run strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Result<DateTime<Utc>, IngestError> {
        let local = t.with_timezone(&self.tz);
        let next = self
            .cron
            .find_next_occurrence(&local, false)
            .map_err(|e| IngestError::Setting { setting: "schedule".into(), message: format!("{} has no next run: {e}", self.text) })?;
        Ok(next.with_timezone(&Utc))
    }

    /// A time in the schedule's zone, for messages.
    pub fn local(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.tz).format("%Y-%m-%d %H:%M:%S %Z").to_string()
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

/// How often and how patiently a failed pull is tried again.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Tries after the first.
    pub retries: u32,
    /// Wait before the first retry; doubled before each next one.
    pub backoff: Duration,
}

impl Retry {
    pub fn wait_before(&self, retry: u32) -> Duration {
        self.backoff.saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)))
    }
}

/// Ingests `source`, trying again after a failure as `retry` says. Every failed try is in
/// `ingest_runs`; the error of the last try is returned.
pub async fn ingest_with_retries(wh: &Warehouse, secret: &Secret, source: &Source, retry: Retry, progress: Progress<'_>) -> Result<IngestReport, IngestError> {
    let mut attempt = 0u32;
    loop {
        match ingest(wh, secret, source, progress).await {
            Ok(r) => {
                if attempt > 0 {
                    tracing::info!(source = source.shown().as_str(), attempt = attempt + 1, "the pull succeeded after retrying");
                }
                return Ok(r);
            }
            Err(e) if attempt < retry.retries => {
                attempt += 1;
                let wait = retry.wait_before(attempt);
                tracing::warn!(source = source.shown().as_str(), error = %e, retry = attempt, of = retry.retries, wait_seconds = wait.as_secs_f64(), "the pull failed; trying again");
                tokio::time::sleep(wait).await;
            }
            Err(e) => {
                if retry.retries > 0 {
                    tracing::error!(source = source.shown().as_str(), tries = attempt + 1, "the pull failed on every try");
                }
                return Err(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).unwrap_or_default()
    }

    #[test]
    fn two_in_the_morning_bangkok_is_seven_in_the_evening_utc() -> Result<(), IngestError> {
        let s = Schedule::parse(DEFAULT_SCHEDULE, DEFAULT_TIMEZONE)?;
        // 01:00 Bangkok (18:00 UTC the day before): tonight at 02:00 Bangkok.
        assert_eq!(s.next_after(utc("2026-11-20T18:00:00Z"))?, utc("2026-11-20T19:00:00Z"));
        // Just after 02:00 Bangkok: tomorrow night.
        assert_eq!(s.next_after(utc("2026-11-20T19:00:01Z"))?, utc("2026-11-21T19:00:00Z"));
        assert!(s.local(utc("2026-11-20T19:00:00Z")).starts_with("2026-11-21 02:00:00"));
        Ok(())
    }

    #[test]
    fn seconds_field_and_bad_settings() -> Result<(), IngestError> {
        let s = Schedule::parse("*/5 * * * * *", DEFAULT_TIMEZONE)?;
        assert_eq!(s.next_after(utc("2026-11-20T18:00:01Z"))?, utc("2026-11-20T18:00:05Z"));
        assert!(Schedule::parse("every night", DEFAULT_TIMEZONE).is_err());
        assert!(Schedule::parse(DEFAULT_SCHEDULE, "Bangkok").is_err());
        Ok(())
    }

    #[test]
    fn backoff_doubles() {
        let r = Retry { retries: 3, backoff: Duration::from_secs(60) };
        assert_eq!([r.wait_before(1), r.wait_before(2), r.wait_before(3)], [Duration::from_secs(60), Duration::from_secs(120), Duration::from_secs(240)]);
    }
}
