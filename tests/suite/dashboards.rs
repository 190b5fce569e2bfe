//! The director's web app and the four-domain report, end to end: pages loaded in Debian's headless
//! Chromium (signed in through the form), PDF read back by poppler, XLSX read back by calamine, and
//! every checked number compared with the same figure computed by SQL.

use std::process::Command;

use crate::common::{Env, assert_ok};
use crate::server::{PASSWORD, Server, add_user};

struct Site {
    env: Env,
    server: Server,
    area: String,
    school: String,
    small_school: String,
    district: String,
    snapshot: String,
    fiscal_year: String,
}

fn site() -> Site {
    let env = Env::new();
    let pull = env.generate("pull", 11, "mixed");
    assert_ok(&env.ingest(&pull), "ingest");
    let area = env.first("SELECT min(area_code) FROM areas");
    let snapshot = env.first("SELECT max(snapshot_date) FROM school_snapshot_summary");
    let school = env.first(&format!("SELECT max(school_code) FROM school_snapshot_summary WHERE snapshot_date = DATE '{snapshot}' AND size_band <> 'small'"));
    let small_school = env.first(&format!("SELECT min(school_code) FROM school_snapshot_summary WHERE snapshot_date = DATE '{snapshot}' AND size_band = 'small'"));
    let district = env.first(&format!("SELECT district_code FROM schools WHERE school_code = '{school}'"));
    let fiscal_year = env.first("SELECT max(fiscal_year) FROM budget_lines");
    add_user(&env, "admin", "admin", &[]);
    add_user(&env, "director", "director", &["--area", &area]);
    add_user(&env, "principal", "school", &["--school", &school]);
    add_user(&env, "elsewhere", "director", &["--area", "99010000"]);
    // The public sees only approved figures: the local operator approves this load for every area.
    assert_ok(&env.cmd().args(["publish", "approve", "--reason", "test site"]).output().unwrap(), "khlang publish approve");
    let server = Server::start(&env, &[]);
    Site { env, server, area, school, small_school, district, snapshot, fiscal_year }
}

fn number(text: &str) -> f64 {
    text.replace([',', ' '], "").parse().unwrap_or_else(|_| panic!("not a number on the page: {text:?}"))
}

fn sql_number(env: &Env, sql: &str) -> f64 {
    env.first(sql).parse().unwrap_or_else(|_| panic!("not a number from {sql}"))
}

/// Loads pages in Chromium as `user`; one JSON object per page.
fn browse(s: &Site, user: &str, paths: &[String]) -> Vec<serde_json::Value> {
    chromium(&s.env, &s.server, Some(user), paths)
}

/// Loads pages in Chromium, signed in through the form as `user` or anonymous; one JSON object per page.
pub fn chromium(env: &Env, server: &Server, user: Option<&str>, paths: &[String]) -> Vec<serde_json::Value> {
    let out = env.path(&format!("shots-{}-{}", user.unwrap_or("anonymous"), crate::server::free_port()));
    std::fs::create_dir_all(&out).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser.py");
    // Chromium's own scratch folders (org.chromium.Chromium.*) go to the test's folder, removed with it.
    let tmp = out.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut c = Command::new("python3");
    c.env("TMPDIR", &tmp).arg(script).args(["--base", &format!("http://127.0.0.1:{}", server.http)]);
    if let Some(u) = user {
        c.args(["--user", u, "--password", PASSWORD]);
    }
    let o = c.arg("--out").arg(&out).args(paths).output().unwrap();
    assert_ok(&o, "browser.py");
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn every_page_type_in_chromium_matches_sql() {
    let s = site();
    let (a, sc) = (&s.area, &s.school);
    let mut paths: Vec<String> = vec![format!("/area/{a}")];
    for p in ["academic", "budget", "personnel", "general", "districts", "small-schools", "staffing", "retirements", "disbursement", "tests"] {
        paths.push(format!("/area/{a}/{p}"));
    }
    paths.push(format!("/area/{a}/districts/{}", s.district));
    paths.push(format!("/school/{sc}"));
    paths.push(format!("/school/{sc}/academic"));
    paths.push(format!("/reports/area/{a}.html"));
    paths.push(format!("/reports/school/{sc}.html"));
    paths.push("/public".into());
    let pages = browse(&s, "director", &paths);
    assert_eq!(pages.len(), paths.len());
    for p in &pages {
        let path = p["path"].as_str().unwrap();
        assert_eq!(p["status"], 200, "{path}: status");
        assert_eq!(p["problems"], serde_json::json!([]), "{path}: console errors");
        let shot = std::fs::metadata(p["screenshot"].as_str().unwrap()).unwrap();
        assert!(shot.len() > 10_000, "{path}: screenshot too small");
        assert!(p["tables"].as_u64().unwrap() >= 1, "{path}: no table");
        assert_eq!(p["laksaman"], true, "{path}: the bundled Thai font did not load");
    }
    let overview = &pages[0];
    assert!(overview["charts"].as_u64().unwrap() >= 4, "overview charts");
    for heading in ["ด้านการบริหารวิชาการ", "ด้านการบริหารงบประมาณ", "ด้านการบริหารงานบุคคล", "ด้านการบริหารทั่วไป"] {
        assert!(overview["text"].as_str().unwrap().contains(heading), "overview lacks {heading}");
    }
    // Numbers on the page equal the same figures computed by SQL.
    let f = &overview["figures"];
    let (env, snap, fy) = (&s.env, &s.snapshot, &s.fiscal_year);
    let summary = format!("FROM school_snapshot_summary WHERE area_code = '{a}' AND snapshot_date = DATE '{snap}'");
    for (key, sql) in [
        ("students", format!("SELECT sum(students) {summary}")),
        ("schools", format!("SELECT count(*) {summary}")),
        ("classrooms", format!("SELECT sum(classrooms) {summary}")),
        ("teachers", format!("SELECT sum(teachers) {summary}")),
        ("teacher_shortage", format!("SELECT -sum(teacher_gap) {summary} AND teacher_gap < 0")),
        ("schools_short", format!("SELECT count(*) {summary} AND teacher_gap < 0")),
        ("small_schools", format!("SELECT count(*) {summary} AND size_band = 'small'")),
        ("dropouts", format!("SELECT count(*) FROM enrollments WHERE area_code = '{a}' AND snapshot_date = DATE '{snap}' AND status = 'dropped_out'")),
        ("allocated", format!("SELECT round(sum(allocated_baht)) FROM budget_lines WHERE area_code = '{a}' AND fiscal_year = {fy}")),
        ("disbursement_rate", format!("SELECT round(sum(disbursed_baht) * 100 / sum(allocated_baht), 1) FROM budget_lines WHERE area_code = '{a}' AND fiscal_year = {fy}")),
        ("buildings_needing_repair", format!("SELECT count(*) FROM buildings WHERE area_code = '{a}' AND condition <> 'good'")),
    ] {
        let page = number(f[key].as_str().unwrap_or_else(|| panic!("no figure {key} on the overview")));
        let want = sql_number(env, &sql);
        assert!((page - want).abs() < 0.51, "{key}: page {page}, SQL {want}");
    }
    // The overview is computed apart (only what it shows), before any domain page: each of its
    // figures is the one its domain's page shows from the whole report.
    for d in ["academic", "budget", "personnel", "general"] {
        let page = pages.iter().find(|p| p["path"] == format!("/area/{a}/{d}")).unwrap();
        let figures = page["figures"].as_object().unwrap();
        assert!(!figures.is_empty(), "{d}: no figures");
        for (key, value) in figures {
            assert_eq!(&overview["figures"][key], value, "{d}: the overview's {key} differs from its page's");
        }
    }
    // The school page shows the school's own figures.
    let school_page = pages.iter().find(|p| p["path"] == format!("/school/{sc}")).unwrap();
    let students = number(school_page["figures"]["students"].as_str().unwrap());
    assert_eq!(students, sql_number(env, &format!("SELECT students FROM school_snapshot_summary WHERE school_code = '{sc}' AND snapshot_date = DATE '{snap}'")));
    // Drill-down lists exactly the district's schools.
    let district = pages.iter().find(|p| p["path"].as_str().unwrap().contains("/districts/")).unwrap();
    let codes = env.sql_csv(&format!("SELECT s.school_code FROM school_snapshot_summary s JOIN schools c ON c.school_code = s.school_code WHERE c.district_code = '{}' AND s.snapshot_date = DATE '{snap}'", s.district));
    let codes: Vec<&str> = codes.lines().skip(1).collect();
    assert!(!codes.is_empty());
    for c in &codes {
        assert!(district["text"].as_str().unwrap().contains(c), "district page lacks school {c}");
    }
    // Districts by their official names (data/districts.csv), on the summary and the drill-down.
    let district_name = official_district(&s.district);
    assert!(district["text"].as_str().unwrap().contains(&district_name), "district page lacks {district_name}");
    let summary_page = pages.iter().find(|p| p["path"] == format!("/area/{a}/districts")).unwrap();
    assert!(summary_page["text"].as_str().unwrap().contains(&district_name), "district summary lacks {district_name}");
    assert!(!summary_page["text"].as_str().unwrap().contains(&format!("อำเภอ {}", s.district)), "a district shown by its code");
    // The small-school list names a small school.
    assert!(pages[6]["text"].as_str().unwrap().contains(s.small_school.as_str()), "small-school list");

    // Operators' pages, as an admin.
    let admin = browse(&s, "admin", &["/admin/ingest".to_string(), "/admin/usage".to_string(), format!("/area/{a}")]);
    for p in &admin {
        assert_eq!(p["status"], 200, "{}", p["path"]);
        assert_eq!(p["problems"], serde_json::json!([]), "{}", p["path"]);
    }
    assert!(admin[0]["text"].as_str().unwrap().contains("students"), "ingest page lists the feeds");
    // The director's visits are in the usage statistics.
    assert!(admin[1]["text"].as_str().unwrap().contains("director"), "usage page lists the director");
}

/// A district's Thai name as documents write it, from the reference shipped in data/.
fn official_district(code: &str) -> String {
    let csv = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/districts.csv")).unwrap();
    let row = csv.lines().find(|l| l.starts_with(&format!("{code},"))).unwrap_or_else(|| panic!("district {code} is not in data/districts.csv"));
    let f: Vec<&str> = row.split(',').collect();
    format!("{}{}", if f[1] == "10" { "เขต" } else { "อำเภอ" }, f[2])
}

fn pdftotext(pdf: &std::path::Path) -> String {
    let o = Command::new("pdftotext").args(["-layout", "-enc", "UTF-8"]).arg(pdf).arg("-").output().unwrap();
    assert_ok(&o, "pdftotext");
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn pdf_and_xlsx_reports_read_back() {
    let s = site();
    let token = s.server.login("director");
    let cookie = format!("Cookie: khlang_session={token}");
    let (a, env) = (&s.area, &s.env);
    let pdf = env.path("area.pdf");
    let (status, bytes) = s.server.curl(&["-H", &cookie, &format!("/reports/area/{a}.pdf?snapshot={}&fiscal_year={}", s.snapshot, s.fiscal_year)]);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert!(bytes.starts_with(b"%PDF"));
    std::fs::write(&pdf, &bytes).unwrap();
    let text = pdftotext(&pdf);
    for heading in ["ด้านการบริหารวิชาการ", "ด้านการบริหารงบประมาณ", "ด้านการบริหารงานบุคคล", "ด้านการบริหารทั่วไป", "ข้อมูลสารสนเทศ 4 ด้าน"] {
        assert!(text.contains(heading), "PDF text lacks {heading}");
    }
    let snap = &s.snapshot;
    let students = sql_number(env, &format!("SELECT sum(students) FROM school_snapshot_summary WHERE area_code = '{a}' AND snapshot_date = DATE '{snap}'")) as i64;
    let grouped = group(students);
    assert!(text.contains(&format!("{grouped} คน")), "PDF lacks the student count {grouped}");
    let shortage = sql_number(env, &format!("SELECT -sum(teacher_gap) FROM school_snapshot_summary WHERE area_code = '{a}' AND snapshot_date = DATE '{snap}' AND teacher_gap < 0")) as i64;
    assert!(text.contains(&format!("{} อัตรา", group(shortage))), "PDF lacks the teacher shortage");
    assert!(text.contains("หน้า 1 จาก"), "page numbers");
    let district_name = official_district(&s.district);
    assert!(text.contains(&district_name), "PDF lacks the district name {district_name}");
    assert!(text.contains("ข้อมูลชุดที่"), "footer with the data version");
    // Fonts embedded; pages render.
    let fonts = Command::new("pdffonts").arg(&pdf).output().unwrap();
    let fonts = String::from_utf8_lossy(&fonts.stdout).to_string();
    assert!(fonts.contains("Laksaman"), "{fonts}");
    assert!(fonts.lines().skip(2).all(|l| l.split_whitespace().rev().nth(4) == Some("yes")), "every font embedded: {fonts}");
    let o = Command::new("pdftoppm").args(["-png", "-r", "60", "-f", "1", "-l", "2"]).arg(&pdf).arg(env.path("page")).output().unwrap();
    assert_ok(&o, "pdftoppm");
    let png = std::fs::read_dir(env.dir.path()).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().starts_with("page")).count();
    assert!(png >= 2, "pdftoppm wrote {png} pages");

    // The same data version gives the same report: the batch command, in another process, writes the
    // same text but for the time it was made.
    let out = env.path("batch");
    let o = env.cmd().args(["report", "--area", a, "--snapshot", &s.snapshot, "--fiscal-year", &s.fiscal_year, "--format", "pdf,xlsx", "--out"]).arg(&out).output().unwrap();
    assert_ok(&o, "khlang report");
    let without_time = |t: &str| t.lines().filter(|l| !l.contains("จัดทำเมื่อ")).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(without_time(&pdftotext(&out.join(format!("area_{a}.pdf")))), without_time(&text));
    assert!(out.join(format!("area_{a}.xlsx")).exists());

    // School report.
    let (status, bytes) = s.server.curl(&["-H", &cookie, &format!("/reports/school/{}.pdf", s.school)]);
    assert_eq!(status, 200);
    std::fs::write(env.path("school.pdf"), &bytes).unwrap();
    assert!(pdftotext(&env.path("school.pdf")).contains("ด้านการบริหารทั่วไป"));

    // XLSX: one sheet per domain, numbers stored as numbers.
    let (status, bytes) = s.server.curl(&["-H", &cookie, &format!("/reports/area/{a}.xlsx")]);
    assert_eq!(status, 200);
    use calamine::Reader as _;
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    assert_eq!(book.sheet_names(), vec!["ด้านการบริหารวิชาการ", "ด้านการบริหารงบประมาณ", "ด้านการบริหารงานบุคคล", "ด้านการบริหารทั่วไป"]);
    let academic = book.worksheet_range("ด้านการบริหารวิชาการ").unwrap();
    let row = academic.rows().find(|r| r.first().map(|c| c.to_string()) == Some("นักเรียน".into())).expect("a นักเรียน row");
    assert_eq!(row[1], calamine::Data::Float(students as f64), "students stored as a number");
    let personnel = book.worksheet_range("ด้านการบริหารงานบุคคล").unwrap();
    let row = personnel.rows().find(|r| r.first().map(|c| c.to_string()) == Some("ครูขาดเกณฑ์".into())).expect("a shortage row");
    assert_eq!(row[1], calamine::Data::Float(shortage as f64));
    assert!(personnel.rows().any(|r| r.iter().any(|c| *c == "ครูตามเกณฑ์")), "Thai headers");
}

/// `n` with thousands separators, as the reports print it.
pub fn group(n: i64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn errors_scope_public_data_and_cache() {
    let s = site();
    let (a, sc) = (&s.area, &s.school);
    let director = format!("Cookie: khlang_session={}", s.server.login("director"));
    let principal = format!("Cookie: khlang_session={}", s.server.login("principal"));
    let elsewhere = format!("Cookie: khlang_session={}", s.server.login("elsewhere"));
    let thai = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    // The server makes each published state ready ahead (sessions, directory) and says so.
    let ready_state = |after: Option<u64>| {
        let t0 = std::time::Instant::now();
        loop {
            let (status, body) = s.server.curl(&["/readyz"]);
            let state = thai(&body).trim().strip_prefix("ready ").and_then(|n| n.parse::<u64>().ok());
            match (status, state) {
                (200, Some(n)) if after.is_none_or(|a| n > a) => return n,
                (200 | 503, _) => assert!(t0.elapsed() < std::time::Duration::from_secs(60), "not ready: {status} {}", thai(&body)),
                _ => panic!("/readyz answered {status} {}", thai(&body)),
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    };
    let first_state = ready_state(None);

    // Not signed in: to the sign-in form.
    let (status, _) = s.server.curl(&[&format!("/area/{a}")]);
    assert_eq!(status, 303);
    // Unknown area or school: a Thai 404 page.
    let (status, body) = s.server.curl(&["-H", &director, "/area/99990000"]);
    assert_eq!(status, 404);
    assert!(thai(&body).contains("ไม่พบสำนักงานเขตพื้นที่การศึกษา"), "{}", thai(&body));
    let (status, body) = s.server.curl(&["-H", &director, "/reports/school/1099999999.pdf"]);
    assert_eq!(status, 404);
    assert!(thai(&body).contains("ไม่พบโรงเรียน"));
    // Bad parameters: 400 with a message.
    for (path, words) in [
        (format!("/area/{a}?snapshot=2026-13-45"), "is not a date"),
        (format!("/area/{a}?fiscal_year=abc"), "is not a Buddhist-Era year"),
        (format!("/area/{a}?snapshot=2001-06-10"), "there is no student snapshot on 2001-06-10"),
        ("/area/abc".to_string(), "is not 8 digits"),
        (format!("/reports/area/{a}.docx"), "is not html, pdf or xlsx"),
    ] {
        let (status, body) = s.server.curl(&["-H", &director, &path]);
        assert_eq!(status, 400, "{path}");
        assert!(thai(&body).contains(words), "{path}: {}", thai(&body));
    }
    // A chart as a PNG picture, drawn with the bundled Thai font.
    let (status, png) = s.server.curl(&["-H", &director, &format!("/area/{a}/chart/students_by_grade.png")]);
    assert_eq!(status, 200);
    assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000, "PNG of {} bytes", png.len());
    assert_eq!(s.server.curl(&["-H", &director, &format!("/area/{a}/chart/nothing.png")]).0, 404);
    // Outside the scope: 403.
    assert_eq!(s.server.curl(&["-H", &principal, &format!("/area/{a}")]).0, 403);
    assert_eq!(s.server.curl(&["-H", &principal, &format!("/school/{}", s.small_school)]).0, 403);
    assert_eq!(s.server.curl(&["-H", &principal, &format!("/school/{sc}")]).0, 200);
    assert_eq!(s.server.curl(&["-H", &elsewhere, &format!("/reports/area/{a}.pdf")]).0, 403);
    assert_eq!(s.server.curl(&["-H", &director, "/admin/usage"]).0, 403);

    // The public page and downloads: nothing under 5 published.
    let (status, body) = s.server.curl(&["/public"]);
    assert_eq!(status, 200);
    assert!(thai(&body).contains("น้อยกว่า 5"));
    let (status, body) = s.server.curl(&[&format!("/public/data/public_schools.csv?area={a}")]);
    assert_eq!(status, 200);
    let text = thai(&body);
    let mut r = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers = r.headers().unwrap().clone();
    let mut rows = 0;
    for rec in r.records() {
        let rec = rec.unwrap();
        rows += 1;
        for col in ["schools", "students", "teachers"] {
            let i = headers.iter().position(|h| h == col).unwrap();
            if let Ok(v) = rec[i].parse::<i64>() {
                assert!(v >= 5, "{col} = {v} published");
            }
        }
    }
    assert!(rows > 0);
    let (status, body) = s.server.curl(&["/public/data/public_enrollment.json"]);
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(v.as_array().unwrap().iter().all(|r| r["students"].is_null() || r["students"].as_i64().unwrap() >= 5));

    // Cached by version: a new load publishes a new version and the page follows it.
    let version = |b: &[u8]| {
        let t = thai(b);
        let at = t.find("data-version=\"").unwrap() + 14;
        t[at..at + t[at..].find('"').unwrap()].to_string()
    };
    let (_, before) = s.server.curl(&["-H", &director, &format!("/area/{a}")]);
    assert_ok(&s.env.ingest(&s.env.path("pull")), "second ingest");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let (_, after) = s.server.curl(&["-H", &director, &format!("/area/{a}")]);
    assert_ne!(version(&before), version(&after), "the page still shows the old version");
    // The new state is made ready too, without anyone asking.
    ready_state(Some(first_state));
}
