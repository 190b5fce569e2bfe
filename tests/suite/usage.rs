//! The yearly report on the warehouse's use: after a year's worth of real use (loads, sign-ins, a
//! failed one, queries, an export, a saved query run twice, reports opened, access requests granted
//! and refused, a proposal and an approval), the PDF read with pdftotext shows the Thai headings and
//! figures, and the XLSX read back holds every figure equal to SQL over audit_log and ingest_runs.

use calamine::Reader as _;

use crate::common::{Env, assert_ok};
use crate::dashboards::group;
use crate::server::{Server, add_user};

/// The fiscal year (Buddhist Era) of today in Thai time: from 1 October.
fn this_fiscal_year() -> i32 {
    use chrono::Datelike as _;
    let today = (chrono::Utc::now() + chrono::Duration::hours(7)).date_naive();
    today.year() + 543 + i32::from(today.month() >= 10)
}

#[test]
fn the_usage_report_shows_what_the_audit_log_and_the_load_log_hold() {
    let env = Env::new();
    let pull = env.generate("pull", 11, "mixed");
    // The codes to use, from a scratch warehouse.
    let scratch = env.path("scratch");
    assert_ok(&env.ingest_into(&pull, &scratch), "ingest into scratch");
    let pick = |sql: &str| env.sql_csv_in(&scratch, sql).lines().nth(1).unwrap_or_default().trim().trim_matches('"').to_string();
    let area = pick("SELECT min(area_code) FROM areas");
    let snapshot = pick("SELECT max(snapshot_date) FROM enrollments");
    let school = pick(&format!("SELECT max(school_code) FROM enrollments WHERE snapshot_date = DATE '{snapshot}' AND area_code = '{area}'"));
    // Two loads that both miss one school, against a deadline that was yesterday: the school is
    // listed as not sent, the others as one day late.
    let missing = env.pull_without_school(&pull, "pull-missing", &school);
    assert_ok(&env.ingest(&missing), "first load");
    assert_ok(&env.ingest(&missing), "second load");
    let today = (chrono::Utc::now() + chrono::Duration::hours(7)).date_naive();
    let due = (today - chrono::Duration::days(1)).to_string();
    let o = env.cmd().args(["calendar", "add", "--feed", "students", "--period", &snapshot, "--due", &due, "--name", "ข้อมูลนักเรียนรอบทดสอบ"]).output().unwrap();
    assert_ok(&o, "calendar add");

    add_user(&env, "admin", "admin", &[]);
    add_user(&env, "director", "director", &["--area", &area]);
    add_user(&env, "ict", "analyst", &[]);
    let server = Server::start(&env, &[]);
    let admin = format!("Cookie: khlang_session={}", server.login("admin"));
    let director = format!("Cookie: khlang_session={}", server.login("director"));
    let ict = server.login("ict");
    // A failed sign-in.
    let (status, _) = server.curl(&["-X", "POST", "-H", "Content-Type: application/json", "-d", "{\"user\":\"ict\",\"password\":\"wrong\"}", "/api/login"]);
    assert_eq!(status, 401);
    // Queries, an export, a saved query run twice, a report page and the PDF.
    for sql in ["SELECT count(*) FROM schools", "SELECT area_code, sum(students) FROM school_snapshot_summary GROUP BY area_code"] {
        assert_eq!(server.api_sql(&ict, sql, "json").0, 200);
    }
    assert_eq!(server.api_sql(&ict, "SELECT school_code, school_name FROM schools", "csv").0, 200);
    let auth = format!("Authorization: Bearer {ict}");
    let (status, body) = server.curl(&["-X", "POST", "-H", &auth, "-H", "Content-Type: application/json", "-d", "{\"name\":\"นักเรียนรายเขต\",\"sql\":\"SELECT area_code, count(*) FROM enrollments GROUP BY area_code\",\"shared\":true}", "/api/saved"]);
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    for _ in 0..2 {
        let name: String = "นักเรียนรายเขต".bytes().map(|b| format!("%{b:02X}")).collect();
        let (status, body) = server.curl(&["-X", "POST", "-H", &auth, &format!("/api/saved/{name}/run?format=json")]);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    assert_eq!(server.curl(&["-H", &director, &format!("/area/{area}")]).0, 200);
    assert_eq!(server.curl(&["-H", &director, &format!("/reports/area/{area}.pdf")]).0, 200);
    // Two access requests: one granted, one refused.
    let mut ids = Vec::new();
    for user in ["somsri", "intruder"] {
        let (status, page) = server.post_form(None, "/access/request", &[
            ("full_name", "สมศรี ใจดี"),
            ("position", "นักวิชาการศึกษา"),
            ("agency", "สำนักงานสาธารณสุขจังหวัด"),
            ("user_name", user),
            ("data", "public_enrollment"),
            ("role", "director"),
            ("area", &area),
            ("purpose", "วางแผนบริการสุขภาพนักเรียน"),
        ]);
        assert_eq!(status, 200, "{page}");
        let at = page.find("data-request=\"").unwrap() + 14;
        ids.push(page[at..at + page[at..].find('"').unwrap()].to_string());
    }
    let until = (today + chrono::Duration::days(30)).to_string();
    assert_eq!(server.post_form(Some(&admin), "/access/requests", &[("action", "grant"), ("id", &ids[0]), ("expires", &until)]).0, 200);
    assert_eq!(server.post_form(Some(&admin), "/access/requests", &[("action", "refuse"), ("id", &ids[1]), ("reason", "ไม่ระบุหนังสือนำส่ง")]).0, 200);
    // Proposed by the ICT officer, approved by the director.
    let ict_web = format!("Cookie: khlang_session={ict}");
    assert_eq!(server.post_form(Some(&ict_web), "/approvals", &[("action", "propose"), ("area", &area), ("snapshot", &snapshot), ("state", "2")]).0, 200);
    assert_eq!(server.post_form(Some(&director), "/approvals", &[("action", "approve"), ("area", &area), ("snapshot", &snapshot), ("state", "2"), ("reason", "ตรวจสอบแล้ว")]).0, 200);

    // The quality report of the snapshot shows its deadline.
    let (status, page) = server.curl(&["-H", &director, &format!("/quality?snapshot={snapshot}")]);
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&page).contains("ข้อมูลนักเรียนรอบทดสอบ"), "the quality report lists the snapshot's deadline");
    // The report, on the web as PDF and XLSX.
    let fy = this_fiscal_year();
    let (status, pdf) = server.curl(&["-H", &admin, &format!("/admin/usage-report?fiscal_year={fy}&format=pdf")]);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&pdf));
    assert!(pdf.starts_with(b"%PDF"));
    let (status, xlsx) = server.curl(&["-H", &admin, &format!("/admin/usage-report?fiscal_year={fy}&format=xlsx")]);
    assert_eq!(status, 200);
    // A director may not read how others use the warehouse.
    assert_eq!(server.curl(&["-H", &director, "/admin/usage-report"]).0, 403);
    drop(server);

    // What the logs hold, in SQL. The XLSX was made after the PDF: its own opening counts once more.
    let n = |sql: &str| env.first(sql).parse::<i64>().unwrap_or_else(|_| panic!("{sql}: {}", env.first(sql)));
    let in_year = format!(
        "at >= TIMESTAMP '{}-09-30T17:00:00' AND at < TIMESTAMP '{}-09-30T17:00:00'",
        fy - 544,
        fy - 543
    );
    let reports_before_xlsx = n(&format!("SELECT count(*) FROM audit_log WHERE action = 'report' AND object NOT LIKE '% chart %' AND object <> 'usage {fy} xlsx' AND {in_year}"));
    let expected: Vec<(&str, &str, i64)> = vec![
        ("การนำเข้าข้อมูล", "ครั้งที่นำเข้าข้อมูล", n("SELECT count(DISTINCT run_id) FROM ingest_runs")),
        ("การนำเข้าข้อมูล", "แถวที่นำเข้า", n("SELECT sum(rows_loaded) FROM ingest_runs")),
        ("การนำเข้าข้อมูล", "แถวที่ถูกปฏิเสธ", n("SELECT sum(rows_rejected) FROM ingest_runs")),
        ("คุณภาพข้อมูล", "แถวที่ถูกปฏิเสธ", n("SELECT count(*) FROM rejected_rows")),
        // The last load of each period (a whole-table feed's every load): the base of "fixed by the next".
        (
            "คุณภาพข้อมูล",
            "ในการนำเข้าครั้งสุดท้ายของรอบ",
            n("SELECT count(*) FROM rejected_rows r JOIN ingest_runs i ON i.run_id = r.run_id AND i.feed = r.feed WHERE i.scope = 'all' \
               OR i.started_at = (SELECT max(j.started_at) FROM ingest_runs j WHERE j.feed = i.feed AND j.scope = i.scope AND j.status = 'ok')"),
        ),
        // The same pull loaded twice fixes nothing.
        ("คุณภาพข้อมูล", "แก้ไขแล้วในรอบถัดไป", 0),
        ("ผู้ใช้", "บัญชีผู้ใช้", 4),
        ("ผู้ใช้", "ครั้งที่เข้าสู่ระบบ", n(&format!("SELECT count(*) FROM audit_log WHERE action = 'login' AND {in_year}"))),
        ("ผู้ใช้", "เข้าสู่ระบบไม่สำเร็จ", n(&format!("SELECT count(*) FROM audit_log WHERE action = 'login_failed' AND {in_year}"))),
        ("การใช้ข้อมูล", "คำสั่ง SQL", n(&format!("SELECT count(*) FROM audit_log WHERE action = 'query' AND {in_year}"))),
        ("การใช้ข้อมูล", "ส่งออกข้อมูล", n(&format!("SELECT count(*) FROM audit_log WHERE action = 'export' AND {in_year}"))),
        ("ที่ใช้มากที่สุด", "ครั้งที่ใช้คำสั่งที่บันทึกไว้", 2),
        ("คำร้องและการอนุมัติ", "คำร้องขอเข้าถึงข้อมูล", n(&format!("SELECT count(*) FROM audit_log WHERE action = 'access_request' AND {in_year}"))),
        ("คำร้องและการอนุมัติ", "อนุญาต", n(&format!("SELECT count(*) FROM audit_log WHERE action = 'access_grant' AND object LIKE 'request % granted%' AND {in_year}"))),
        ("คำร้องและการอนุมัติ", "ไม่อนุญาต", n(&format!("SELECT count(*) FROM audit_log WHERE action = 'access_refuse' AND {in_year}"))),
        ("คำร้องและการอนุมัติ", "เสนอขออนุมัติเผยแพร่", n(&format!("SELECT count(*) FROM audit_log WHERE action = 'publish_propose' AND {in_year}"))),
        ("คำร้องและการอนุมัติ", "อนุมัติเผยแพร่", n(&format!("SELECT count(*) FROM audit_log WHERE action = 'publish_approve' AND {in_year}"))),
    ];
    // The figures are what happened, not zeros that would match an empty log.
    let value = |sheet: &str, label: &str| expected.iter().find(|e| e.0 == sheet && e.1 == label).unwrap().2;
    assert_eq!(value("การนำเข้าข้อมูล", "ครั้งที่นำเข้าข้อมูล"), 2);
    assert!(value("การนำเข้าข้อมูล", "แถวที่ถูกปฏิเสธ") > 0, "the pull has rejected rows on purpose");
    assert_eq!(value("ผู้ใช้", "ครั้งที่เข้าสู่ระบบ"), 3, "admin, director and ict");
    assert_eq!(value("ผู้ใช้", "เข้าสู่ระบบไม่สำเร็จ"), 1);
    assert_eq!(value("การใช้ข้อมูล", "คำสั่ง SQL"), 4, "two queries and two saved runs");
    assert_eq!(value("การใช้ข้อมูล", "ส่งออกข้อมูล"), 1);
    assert_eq!(
        (value("คำร้องและการอนุมัติ", "คำร้องขอเข้าถึงข้อมูล"), value("คำร้องและการอนุมัติ", "อนุญาต"), value("คำร้องและการอนุมัติ", "ไม่อนุญาต")),
        (2, 1, 1)
    );
    assert_eq!((value("คำร้องและการอนุมัติ", "เสนอขออนุมัติเผยแพร่"), value("คำร้องและการอนุมัติ", "อนุมัติเผยแพร่")), (1, 1));

    // XLSX read back: each figure on its sheet, stored as a number.
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(xlsx)).unwrap();
    let names = book.sheet_names();
    assert_eq!(names, vec!["การนำเข้าข้อมูล", "คุณภาพข้อมูล", "ปฏิทินการรายงาน", "ผู้ใช้", "การใช้ข้อมูล", "ที่ใช้มากที่สุด", "คำร้องและการอนุมัติ"]);
    let figure = |book: &mut calamine::Xlsx<std::io::Cursor<Vec<u8>>>, sheet: &str, label: &str| -> f64 {
        let range = book.worksheet_range(sheet).unwrap();
        let row = range.rows().find(|r| r.first().map(|c| c.to_string()) == Some(label.to_string())).unwrap_or_else(|| panic!("no {label} on {sheet}"));
        match row[1] {
            calamine::Data::Float(f) => f,
            ref other => panic!("{label} on {sheet} is {other:?}, not a number"),
        }
    };
    for (sheet, label, want) in &expected {
        assert_eq!(figure(&mut book, sheet, label), *want as f64, "{label} on {sheet}");
    }
    assert_eq!(figure(&mut book, "การใช้ข้อมูล", "เปิดรายงาน"), (reports_before_xlsx + 1) as f64, "reports opened, the XLSX's own request included");
    // The late school against the calendar, and the saved query by name.
    let calendar = book.worksheet_range("ปฏิทินการรายงาน").unwrap();
    // The deadline's rows: in the chart's data, then in the table of deadlines, then in the late list.
    let deadline = calendar.rows().filter(|r| r.first().map(|c| c.to_string()) == Some("ข้อมูลนักเรียนรอบทดสอบ".into())).nth(1).expect("the deadline's row");
    let schools = n("SELECT count(*) FROM schools WHERE status = 'open'");
    assert_eq!(&deadline[2..6], &[schools as f64, 0.0, (schools - 1) as f64, 1.0].map(calamine::Data::Float), "schools, on time, late, not sent");
    let row = calendar.rows().find(|r| r.get(1).map(|c| c.to_string()) == Some(school.clone())).expect("the school that did not send, listed late");
    assert_eq!((row[3].to_string(), &row[4]), ("ยังไม่ส่ง (เลยกำหนด)".to_string(), &calamine::Data::Float(1.0)));
    let top = book.worksheet_range("ที่ใช้มากที่สุด").unwrap();
    let saved = top.rows().find(|r| r.first().map(|c| c.to_string()) == Some("นักเรียนรายเขต".into())).expect("the saved query by name");
    assert_eq!(saved[1], calamine::Data::Float(2.0));

    // PDF read back: Thai headings and the figures as printed.
    let pdf_path = env.path("usage.pdf");
    std::fs::write(&pdf_path, &pdf).unwrap();
    let o = std::process::Command::new("pdftotext").args(["-layout", "-enc", "UTF-8"]).arg(&pdf_path).arg("-").output().unwrap();
    assert_ok(&o, "pdftotext");
    let text = String::from_utf8(o.stdout).unwrap();
    for heading in [
        "รายงานผลการพัฒนาและการใช้งานระบบคลังข้อมูล",
        // pdftotext puts a space after ปี, where the font's marks sit.
        &format!("งบประมาณ {fy}"),
        "การนำเข้าข้อมูล",
        "คุณภาพข้อมูลที่นำเข้า",
        "การส่งข้อมูลตามปฏิทินการรายงาน",
        "ผู้ใช้และการเข้าสู่ระบบ",
        "การใช้ข้อมูล",
        "คำร้องขอเข้าถึงข้อมูลและการอนุมัติเผยแพร่",
        "หน้า 1 จาก",
    ] {
        assert!(text.contains(heading), "the PDF lacks {heading}");
    }
    for (label, unit) in [("แถวที่นำเข้า", "แถว"), ("แถวที่ถูกปฏิเสธ", "แถว")] {
        let v = value("การนำเข้าข้อมูล", label);
        assert!(text.contains(&format!("{} {unit}", group(v))), "the PDF lacks {label} {}", group(v));
    }
    assert!(text.contains("นักเรียนรายเขต"), "the saved query in the PDF");
    assert!(text.contains(&school), "the late school in the PDF");

    // The command line writes the same report; the web page reads in Chromium.
    let out = env.path("usage");
    let o = env.cmd().args(["usage-report", "--fiscal-year", &fy.to_string(), "--out"]).arg(&out).output().unwrap();
    assert_ok(&o, "khlang usage-report");
    assert!(out.join(format!("usage_report_{fy}.pdf")).exists() && out.join(format!("usage_report_{fy}.xlsx")).exists());
    let o = env.cmd().args(["usage-report", "--fiscal-year", "70", "--out"]).arg(&out).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("Buddhist-Era year"), "a bad year is refused with its reason");
    let server = Server::start(&env, &[]);
    let pages = crate::dashboards::chromium(&env, &server, Some("admin"), &[format!("/admin/usage-report?fiscal_year={fy}")]);
    assert_eq!((pages[0]["status"].clone(), pages[0]["problems"].clone()), (serde_json::json!(200), serde_json::json!([])));
    assert!(pages[0]["text"].as_str().unwrap().contains("คำร้องขอเข้าถึงข้อมูล"));
}
