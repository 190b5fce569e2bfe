//! Thai presentation: Buddhist-Era dates and number grouping (the words are in `msg`).

use crate::msg::{MONTHS, MONTHS_LONG};

use khlang_query::office;


/// `2026-06-10` → `10 มิ.ย. 2569`.
pub fn date_be(iso: &str) -> String {
    let parts: Vec<&str> = iso.split('-').collect();
    match (parts.first().and_then(|y| y.parse::<i32>().ok()), parts.get(1).and_then(|m| m.parse::<usize>().ok()), parts.get(2).and_then(|d| d.parse::<u32>().ok())) {
        (Some(y), Some(m), Some(d)) if (1..=12).contains(&m) => format!("{} {} {}", d, MONTHS.get(m - 1).unwrap_or(&""), office::be_year(y)),
        _ => iso.to_string(),
    }
}


/// `2026-06-10` → `10 มิถุนายน 2569`, as official letters write it.
pub fn date_be_long(iso: &str) -> String {
    match chrono::NaiveDate::parse_from_str(iso, "%Y-%m-%d") {
        Ok(d) => {
            use chrono::Datelike as _;
            format!("{} {} {}", d.day(), MONTHS_LONG.get(d.month0() as usize).unwrap_or(&""), office::be_year(d.year()))
        }
        Err(_) => iso.to_string(),
    }
}

/// A UTC time on the office's clock: `21 พ.ย. 2569 22:48`.
pub fn datetime_be(t: chrono::DateTime<chrono::Utc>) -> String {
    let local = office::local(t);
    format!("{} {}", date_be(&local.format("%Y-%m-%d").to_string()), local.format("%H:%M"))
}

/// Thousands separators as Thai documents write them: 1,234,567.
pub fn number(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A number with `places` decimals and thousands separators: 1,234.5.
pub fn decimal(v: f64, places: usize) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let s = format!("{:.*}", places, v.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let grouped = number(int.parse::<i64>().unwrap_or(0));
    let sign = if v < 0.0 && s.bytes().any(|b| b.is_ascii_digit() && b != b'0') { "-" } else { "" };
    if frac.is_empty() { format!("{sign}{grouped}") } else { format!("{sign}{grouped}.{frac}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thai_formats() {
        assert_eq!(date_be("2026-06-10"), "10 มิ.ย. 2569");
        assert_eq!(number(1234567), "1,234,567");
        assert_eq!(number(-1000), "-1,000");
        assert_eq!(number(12), "12");
        assert_eq!(decimal(1234.56, 1), "1,234.6");
        assert_eq!(decimal(-0.04, 1), "0.0");
        assert_eq!(decimal(-12.5, 2), "-12.50");
        assert_eq!(date_be_long("2026-11-10"), "10 พฤศจิกายน 2569");
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-21T17:30:00Z").map(|t| t.with_timezone(&chrono::Utc));
        assert_eq!(t.map(datetime_be).ok().as_deref(), Some("22 พ.ย. 2569 00:30"));
    }
}
