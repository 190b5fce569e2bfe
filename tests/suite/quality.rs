//! The data-quality report for schools, and `submission_status`.

use super::common::*;

use std::path::Path;
use std::process::Command;

/// Splits a UTF-8 CSV line (the generator's utf8-english students files quote nothing).
fn fields(line: &str) -> Vec<&str> {
    line.split(',').collect()
}

/// Drops every row of school `gone` and every other row of school `halved` from a students file;
/// returns where each kept line (by its old number) now is.
fn thin(path: &Path, gone: &str, halved: &str) -> std::collections::BTreeMap<u64, u64> {
    let mut moved = std::collections::BTreeMap::new();
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let col = fields(header).iter().position(|h| *h == "school_code").unwrap();
    let mut out = vec![header.to_string()];
    let mut seen = 0;
    for (i, l) in lines.enumerate() {
        let code = fields(l)[col];
        if code == gone {
            continue;
        }
        if code == halved {
            seen += 1;
            if seen % 2 == 0 {
                continue;
            }
        }
        out.push(l.to_string());
        moved.insert(i as u64 + 2, out.len() as u64);
    }
    std::fs::write(path, out.join("\n") + "\n").unwrap();
    moved
}

#[test]
fn quality_report_tells_each_school_what_to_fix_and_who_did_not_submit() {
    let env = Env::new();
    let pull = env.generate("pull", 51, "utf8-english");
    let mut students: Vec<String> =
        std::fs::read_dir(&pull).unwrap().flatten().map(|e| e.file_name().to_string_lossy().to_string()).filter(|n| n.starts_with("students_")).collect();
    students.sort();
    let latest = students.last().unwrap().clone();

    // Two schools of the area: one sends nothing for the latest snapshot, one half its students.
    let schools = std::fs::read_to_string(pull.join("schools.csv")).unwrap();
    let mut rows = schools.lines();
    let header = fields(rows.next().unwrap());
    let code_col = header.iter().position(|h| *h == "school_code").unwrap();
    let name_col = header.iter().position(|h| *h == "school_name").unwrap();
    let area_col = header.iter().position(|h| *h == "area_code").unwrap();
    // Schools with many students, so half is a clear drop.
    let text = std::fs::read_to_string(pull.join(&latest)).unwrap();
    let sc = fields(text.lines().next().unwrap()).iter().position(|h| *h == "school_code").unwrap();
    let mut per_school = std::collections::BTreeMap::<String, usize>::new();
    for l in text.lines().skip(1) {
        *per_school.entry(fields(l)[sc].to_string()).or_default() += 1;
    }
    let mut big: Vec<(&String, &usize)> = per_school.iter().collect();
    big.sort_by_key(|(c, n)| (std::cmp::Reverse(**n), (*c).clone()));
    let (gone, halved) = (big[0].0.clone(), big[1].0.clone());
    let school_row = |code: &str| rows.clone().map(fields).find(|f| f[code_col] == code).map(|f| (f[name_col].to_string(), f[area_col].to_string())).unwrap();
    let (gone_name, area) = school_row(&gone);
    let moved = thin(&pull.join(&latest), &gone, &halved);
    assert_ok(&env.ingest(&pull), "ingest");

    let snapshot = env.sql_csv("SELECT CAST(max(snapshot_date) AS VARCHAR) FROM enrollments").lines().nth(1).unwrap().to_string();
    // submission_status names both.
    let status = env.sql_csv(&format!("SELECT school_code, status FROM submission_status WHERE snapshot_date = DATE '{snapshot}' AND status <> 'ok' ORDER BY 1"));
    assert!(status.contains(&format!("{gone},not_submitted")), "{status}");
    assert!(status.contains(&format!("{halved},students_dropped")), "{status}");

    // CSV: every seeded invalid row of the latest snapshot's file is there with a Thai explanation.
    let out = env.path("quality.csv");
    let o = env.cmd().args(["quality", "--snapshot", &snapshot, "--area", &area, "--format", "csv", "--out"]).arg(&out).output().unwrap();
    assert_ok(&o, "quality csv");
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "a BOM for Excel");
    let mut r = csv::Reader::from_reader(&bytes[3..]);
    let head: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    let at = |n: &str| head.iter().position(|h| h == n).unwrap();
    let recs: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let m = manifest(&pull);
    let seeded = m.files.iter().find(|f| f.file == latest).unwrap();
    for inv in &seeded.invalid {
        // Rows of the two thinned schools are gone (a duplicate's partner may now be unique).
        let Some(line) = moved.get(&inv.line) else { continue };
        if inv.rule == "duplicate_enrollment" {
            continue;
        }
        let hit = recs.iter().find(|x| &x[at("source_file")] == latest.as_str() && x[at("line_no")] == line.to_string());
        let hit = hit.unwrap_or_else(|| panic!("seeded {} at {latest}:{} is not in the report", inv.rule, inv.line));
        assert_eq!(&hit[at("rule")], inv.rule.as_str());
        assert!(hit[at("explanation_th")].chars().any(|c| ('\u{0E00}'..='\u{0E7F}').contains(&c)), "{hit:?}");
        assert!(!hit[at("explanation_th")].starts_with("ข้อมูลไม่ผ่านการตรวจสอบ"), "no explanation for {}", inv.rule);
        assert!(!hit[at("fix_th")].is_empty());
    }
    // Duplicates across schools are reported to both schools.
    for d in recs.iter().filter(|x| &x[at("rule")] == "duplicate_enrollment") {
        let detail = &d[at("detail")];
        let other: Vec<&str> = detail.split(|c: char| !c.is_ascii_digit()).filter(|s| s.len() == 10 && *s != &d[at("school_code")]).collect();
        for o in other {
            assert!(recs.iter().any(|x| &x[at("rule")] == "duplicate_enrollment" && &x[at("school_code")] == o), "school {o} is not told of {detail}");
        }
    }
    assert!(recs.iter().any(|x| &x[at("rule")] == "duplicate_enrollment"), "the pull has cross-school duplicates");
    assert!(recs.iter().any(|x| x[at("school_code")] == gone && &x[at("rule")] == "not_submitted"));
    assert!(recs.iter().any(|x| x[at("school_code")] == halved && &x[at("rule")] == "students_dropped"));
    // Only the snapshot asked for: no row from an older students file.
    assert!(recs.iter().filter(|x| &x[at("feed")] == "students" && !x[at("source_file")].is_empty()).all(|x| &x[at("source_file")] == latest.as_str()));

    // HTML: Thai, Buddhist-Era date, the school that sent nothing by name.
    let o = env.cmd().args(["quality", "--snapshot", &snapshot, "--area", &area, "--format", "html"]).output().unwrap();
    assert_ok(&o, "quality html");
    let html = String::from_utf8(o.stdout).unwrap();
    assert!(html.contains("lang=\"th\"") && html.contains("รายงานคุณภาพข้อมูลนักเรียน"));
    let year_be: i32 = snapshot[..4].parse::<i32>().unwrap() + 543;
    assert!(html.contains(&year_be.to_string()), "no BE year in the report");
    assert!(html.contains(&gone_name), "the school that sent nothing is not named");
    assert!(html.contains(&format!("data-school=\"{gone}\" data-status=\"not_submitted\"")));

    // One school's own report holds only its rows.
    let o = env.cmd().args(["quality", "--snapshot", &snapshot, "--school", &halved, "--format", "csv"]).output().unwrap();
    assert_ok(&o, "quality for one school");
    let one = String::from_utf8(o.stdout).unwrap();
    let mut r = csv::Reader::from_reader(one.trim_start_matches('\u{feff}').as_bytes());
    let sc = r.headers().unwrap().iter().position(|h| h == "school_code").unwrap();
    let recs: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert!(!recs.is_empty());
    assert!(recs.iter().all(|x| x[sc] == halved), "{one}");

    // XLSX: a real workbook with the Thai sheets.
    let xlsx = env.path("quality.xlsx");
    let o = env.cmd().args(["quality", "--snapshot", &snapshot, "--area", &area, "--format", "xlsx", "--out"]).arg(&xlsx).output().unwrap();
    assert_ok(&o, "quality xlsx");
    let script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nprint(z.read('xl/workbook.xml').decode('utf-8'))\nprint(z.read('xl/sharedStrings.xml').decode('utf-8'))\n";
    let o = Command::new("python3").arg("-c").arg(script).arg(&xlsx).output().unwrap();
    assert_ok(&o, "read xlsx");
    let inside = String::from_utf8(o.stdout).unwrap();
    assert!(inside.contains("การส่งข้อมูล") && inside.contains("รายการที่ต้องแก้ไข"), "sheets");
    assert!(inside.contains("ไม่ส่งข้อมูล") && inside.contains(&gone_name));

    // A snapshot the warehouse does not have: one clear error.
    let o = env.cmd().args(["quality", "--snapshot", "2020-06-10"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("no student snapshot 2020-06-10"), "{stderr}");
}

#[test]
fn the_quality_report_is_served_on_the_web() {
    let env = Env::new();
    let pull = env.generate("pull", 52, "mixed");
    assert_ok(&env.ingest(&pull), "ingest");
    crate::server::add_user(&env, "ict", "admin", &[]);
    let server = crate::server::Server::start(&env, &[]);
    // Signing in first: the report is not public.
    let (status, _) = server.curl(&["/quality"]);
    assert_eq!(status, 303, "the report was served without signing in");
    let token = server.login("ict");
    let auth = format!("Authorization: Bearer {token}");
    let get = |path: &str| {
        let (status, body) = server.curl(&["-H", &auth, path]);
        format!("{}\n{status}", String::from_utf8(body).unwrap())
    };
    let html = get("/quality");
    let csv = get("/quality?snapshot=2026-11-10&format=csv");
    let missing = get("/quality?snapshot=2020-06-10");

    // Scoped users read the report through their own session: a school user gets its own rows only,
    // whatever it asks for; a director of another area gets nothing of this one.
    let school = env.sql_csv("SELECT school_code FROM rejected_rows WHERE school_code IN (SELECT school_code FROM schools) GROUP BY 1 ORDER BY count(*) DESC LIMIT 1");
    let school = school.lines().nth(1).unwrap().trim().to_string();
    let area = env.sql_csv(&format!("SELECT area_code FROM schools WHERE school_code = '{school}'")).lines().nth(1).unwrap().trim().to_string();
    crate::server::add_user(&env, "kru", "school", &["--school", &school]);
    crate::server::add_user(&env, "elsewhere", "director", &["--area", "99999999"]);
    let as_user = |user: &str, path: &str| {
        let auth = format!("Authorization: Bearer {}", server.login(user));
        let (status, body) = server.curl(&["-H", &auth, path]);
        (status, String::from_utf8(body).unwrap())
    };
    let (status, own) = as_user("kru", "/quality?snapshot=2026-11-10&format=csv");
    assert_eq!(status, 200, "{own}");
    let rows: Vec<&str> = own.lines().skip(1).collect();
    assert!(!rows.is_empty() && rows.iter().all(|l| l.starts_with(&format!("2026-11-10,{area},{school},"))), "a school user saw other schools' rows: {own}");
    let everyone = csv.lines().filter(|l| l.starts_with("2026-11-10,")).count();
    assert!(rows.len() < everyone, "the school user's report is the whole office's");
    let (status, _) = as_user("kru", &format!("/quality?snapshot=2026-11-10&format=csv&area={area}"));
    assert_eq!(status, 403, "a school user asked for its whole area");
    let (status, page) = as_user("elsewhere", &format!("/quality?snapshot=2026-11-10&format=csv&area={area}"));
    assert_eq!(status, 403, "a director read another area's report: {page}");
    let (status, page) = as_user("elsewhere", "/quality?snapshot=2026-11-10&format=csv");
    assert!(status == 404 || (status == 200 && page.lines().skip(1).all(|l| !l.contains(&area))), "a director of another area saw this one: {status} {page}");
    drop(server);
    // The latest snapshot by default, in Thai.
    assert!(html.ends_with("200") && html.contains("รายงานคุณภาพข้อมูลนักเรียน") && html.contains("2569"), "{html}");
    assert!(html.contains("data-rule=\"duplicate_enrollment\""), "the seeded duplicates are listed");
    // The same report as the command gives, as a download.
    let o = env.cmd().args(["quality", "--snapshot", "2026-11-10", "--format", "csv"]).output().unwrap();
    assert_ok(&o, "quality csv");
    let cli = String::from_utf8(o.stdout).unwrap();
    assert_eq!(csv.trim_end_matches("200").trim_end(), cli.trim_end());
    assert!(missing.ends_with("404") && missing.contains("2020-06-10"), "{missing}");
}
