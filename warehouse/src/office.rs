//! The office's calendar and clock, each in one place: Buddhist-Era years, the Thai academic year,
//! the office's time zone (setting `timezone`, Asia/Bangkok unless set), and SQL string literals.

use std::sync::OnceLock;

use chrono::{DateTime, Datelike as _, NaiveDate, NaiveDateTime, Offset as _, TimeZone as _, Utc};
use chrono_tz::Tz;

/// A Buddhist-Era year (พ.ศ.) is the Common-Era year plus 543.
pub const BE_OFFSET: i32 = 543;

/// The Buddhist-Era year of a Common-Era year: 2026 → 2569.
pub fn be_year(ce: i32) -> i32 {
    ce + BE_OFFSET
}

/// The Common-Era year of a Buddhist-Era year: 2569 → 2026.
pub fn ce_year(be: i32) -> i32 {
    be - BE_OFFSET
}

/// The academic year (BE) a date falls in: it starts on 16 May, so May (after the holidays) onwards
/// belongs to the year starting then, January to April to the one before.
pub fn academic_year_be(d: NaiveDate) -> i32 {
    if d.month() >= 5 { be_year(d.year()) } else { be_year(d.year()) - 1 }
}

/// The office's time zone when the setting `timezone` is not given.
pub const DEFAULT_TIMEZONE: &str = "Asia/Bangkok";

static ZONE: OnceLock<Tz> = OnceLock::new();

/// Sets the office's time zone for this process from the setting `timezone` (the first call wins).
pub fn set_time_zone(name: &str) -> Result<Tz, String> {
    let tz: Tz = name.parse().map_err(|_| format!("setting timezone = '{name}' is not a time zone name like {DEFAULT_TIMEZONE}"))?;
    Ok(*ZONE.get_or_init(|| tz))
}

/// The office's time zone.
pub fn time_zone() -> Tz {
    ZONE.get().copied().unwrap_or(chrono_tz::Asia::Bangkok)
}

/// `t` on the office's clock.
pub fn local(t: DateTime<Utc>) -> NaiveDateTime {
    t.with_timezone(&time_zone()).naive_local()
}

/// `t` on the office's clock with its offset, like `2026-06-10 17:00:00 +07`.
pub fn local_stamp(t: DateTime<Utc>) -> String {
    let t = t.with_timezone(&time_zone());
    let offset = t.offset().fix().local_minus_utc();
    let minutes = (offset.abs() / 60) % 60;
    let sign = if offset < 0 { '-' } else { '+' };
    let zone = if minutes == 0 { format!("{sign}{:02}", offset.abs() / 3600) } else { format!("{sign}{:02}:{minutes:02}", offset.abs() / 3600) };
    format!("{} {zone}", t.format("%Y-%m-%d %H:%M:%S"))
}

/// The moment the office's clock shows `t` (the earlier one where the clock goes back).
pub fn from_local(t: NaiveDateTime) -> Option<DateTime<Utc>> {
    time_zone().from_local_datetime(&t).earliest().map(|t| t.with_timezone(&Utc))
}

/// The office's date at `t`.
pub fn date(t: DateTime<Utc>) -> NaiveDate {
    local(t).date()
}

/// Today at the office.
pub fn today() -> NaiveDate {
    date(Utc::now())
}

/// `s` as a SQL string literal: in single quotes, each quote inside doubled.
pub fn sql_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `s` as a SQL identifier: in double quotes, each double quote inside doubled.
pub fn sql_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_dates_and_literals_as_the_office_writes_them() {
        assert_eq!((be_year(2026), ce_year(2569)), (2569, 2026));
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default();
        assert_eq!((academic_year_be(d(2026, 6, 10)), academic_year_be(d(2026, 3, 31))), (2569, 2568));
        let t = DateTime::parse_from_rfc3339("2026-06-10T20:30:00Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default();
        assert_eq!(date(t), d(2026, 6, 11), "03:30 the next day in Bangkok");
        assert_eq!(local_stamp(t), "2026-06-11 03:30:00 +07");
        assert_eq!(from_local(local(t)), Some(t));
        assert_eq!(sql_literal("O'Brien"), "'O''Brien'");
        assert!(set_time_zone("Mars/Olympus").is_err());
    }
}
