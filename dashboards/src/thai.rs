//! Thai presentation: Buddhist-Era dates, number grouping, the page shell. Thai UI text lives here.

pub const MONTHS: [&str; 12] = ["ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค."];

/// `2026-06-10` → `10 มิ.ย. 2569`.
pub fn date_be(iso: &str) -> String {
    let parts: Vec<&str> = iso.split('-').collect();
    match (parts.first().and_then(|y| y.parse::<i32>().ok()), parts.get(1).and_then(|m| m.parse::<usize>().ok()), parts.get(2).and_then(|d| d.parse::<u32>().ok())) {
        (Some(y), Some(m), Some(d)) if (1..=12).contains(&m) => format!("{} {} {}", d, MONTHS[m - 1], y + 543),
        _ => iso.to_string(),
    }
}

pub const MONTHS_LONG: [&str; 12] =
    ["มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน", "กรกฎาคม", "สิงหาคม", "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม"];

/// `2026-06-10` → `10 มิถุนายน 2569`, as official letters write it.
pub fn date_be_long(iso: &str) -> String {
    match chrono::NaiveDate::parse_from_str(iso, "%Y-%m-%d") {
        Ok(d) => {
            use chrono::Datelike as _;
            format!("{} {} {}", d.day(), MONTHS_LONG[d.month0() as usize], d.year() + 543)
        }
        Err(_) => iso.to_string(),
    }
}

/// A UTC time as Thai time (UTC+7, no daylight saving): `21 พ.ย. 2569 22:48`.
pub fn datetime_be(t: chrono::DateTime<chrono::Utc>) -> String {
    let local = t + chrono::Duration::hours(7);
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

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"th\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{t} · คลังข้อมูล</title><style>\
body{{font-family:'Sarabun','Noto Sans Thai','Tahoma',sans-serif;margin:2rem;color:#1d2733}}\
h1{{font-size:1.6rem}} .meta{{color:#5a6b7d}} .cards{{display:grid;grid-template-columns:repeat(auto-fill,minmax(13rem,1fr));gap:1rem}}\
.card{{border:1px solid #d6dee8;border-radius:.5rem;padding:1rem}} .label{{color:#5a6b7d}} .value{{font-size:1.8rem;font-weight:600}}\
</style></head><body><header><h1>{t}</h1></header><main>{body}</main>\
<footer><p class=\"meta\">คลังข้อมูลสารสนเทศทางการศึกษา (Khlang)</p></footer></body></html>",
        t = escape(title)
    )
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
        assert_eq!(date_be_long("2026-11-10"), "10 พฤศจิกายน 2569");
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-21T17:30:00Z").map(|t| t.with_timezone(&chrono::Utc));
        assert_eq!(t.map(datetime_be).ok().as_deref(), Some("22 พ.ย. 2569 00:30"));
    }
}
