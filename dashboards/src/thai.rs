//! Thai presentation: Buddhist-Era dates, number grouping, the page shell. Thai UI text lives here.

use khlang_query::office;

pub const MONTHS: [&str; 12] = ["ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค."];

/// `2026-06-10` → `10 มิ.ย. 2569`.
pub fn date_be(iso: &str) -> String {
    let parts: Vec<&str> = iso.split('-').collect();
    match (parts.first().and_then(|y| y.parse::<i32>().ok()), parts.get(1).and_then(|m| m.parse::<usize>().ok()), parts.get(2).and_then(|d| d.parse::<u32>().ok())) {
        (Some(y), Some(m), Some(d)) if (1..=12).contains(&m) => format!("{} {} {}", d, MONTHS[m - 1], office::be_year(y)),
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
            format!("{} {} {}", d.day(), MONTHS_LONG[d.month0() as usize], office::be_year(d.year()))
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

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A role as Thai staff call it.
pub fn role(r: khlang_query::Role) -> &'static str {
    match r {
        khlang_query::Role::Admin => "ผู้ดูแลระบบ",
        khlang_query::Role::Analyst => "นักวิเคราะห์",
        khlang_query::Role::Director => "ผู้บริหารเขตพื้นที่",
        khlang_query::Role::School => "โรงเรียน",
        khlang_query::Role::Public => "ประชาชน",
    }
}

const CSS: &str = "\
@font-face{font-family:Laksaman;src:url(/static/fonts/Laksaman.ttf) format('truetype');font-weight:normal}\
@font-face{font-family:Laksaman;src:url(/static/fonts/Laksaman-Bold.ttf) format('truetype');font-weight:bold}\
body{font-family:Laksaman,Sarabun,'Noto Sans Thai',Tahoma,sans-serif;font-size:19px;margin:0 2rem 2rem;color:#1d2733}\
h1{font-size:1.9rem;margin:.6rem 0} h2{font-size:1.5rem;color:#1f3f66;border-bottom:2px solid #d6dee8} h3{font-size:1.2rem}\
a{color:#1f5f99} .meta{color:#5a6b7d;margin:.2rem 0} .error{color:#b83b5e;font-weight:bold}\
nav.top{display:flex;gap:1.2rem;flex-wrap:wrap;padding:.6rem 0;border-bottom:1px solid #d6dee8} nav.top .user{margin-left:auto}\
nav.subject ul{display:flex;flex-wrap:wrap;gap:.4rem 1.1rem;list-style:none;padding:0;margin:.6rem 0}\
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(12rem,1fr));gap:.8rem;margin:.8rem 0}\
.card{border:1px solid #d6dee8;border-radius:.5rem;padding:.6rem .9rem} .label{color:#5a6b7d} .value{font-size:1.9rem;font-weight:bold} .unit{color:#5a6b7d}\
table{border-collapse:collapse;margin:.8rem 0 1.4rem;min-width:40%} caption{text-align:left;font-weight:bold;color:#1f3f66;padding:.3rem 0}\
th,td{border-bottom:1px solid #e6ebf0;padding:.15rem .6rem;text-align:left} th{background:#eef2f7} td.num{text-align:right;font-variant-numeric:tabular-nums}\
figure.chart{margin:1rem 0} figure.chart svg{max-width:100%;height:auto} details summary{cursor:pointer;color:#1f5f99}\
form.chooser{margin:.6rem 0} select,input,button{font:inherit} form.login{display:grid;gap:.6rem;max-width:22rem}\
@media print{nav,form.chooser{display:none} details{display:block} section.domain{break-before:page}}";

pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"th\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<link rel=\"icon\" href=\"data:,\"><title>{t} · คลังข้อมูล</title><style>{CSS}</style></head><body><header><h1>{t}</h1></header><main>{body}</main>\
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
        assert_eq!(decimal(1234.56, 1), "1,234.6");
        assert_eq!(decimal(-0.04, 1), "0.0");
        assert_eq!(decimal(-12.5, 2), "-12.50");
        assert_eq!(date_be_long("2026-11-10"), "10 พฤศจิกายน 2569");
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-21T17:30:00Z").map(|t| t.with_timezone(&chrono::Utc));
        assert_eq!(t.map(datetime_be).ok().as_deref(), Some("22 พ.ย. 2569 00:30"));
    }
}
