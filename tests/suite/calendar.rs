//! The reporting calendar: a deadline, a load that misses one school, and that school listed late
//! by the right number of days, on the page (in Chromium), in CSV and XLSX read back.

use crate::common::{Env, assert_ok};
use crate::dashboards::chromium;
use crate::server::{Server, add_user};

#[test]
fn a_school_that_misses_the_deadline_is_listed_late_by_the_right_days() {
    let env = Env::new();
    let pull = env.generate("pull", 11, "mixed");
    // The codes to use, from a scratch warehouse: the office's own first hears of the pull below.
    let scratch = env.path("scratch");
    assert_ok(&env.ingest_into(&pull, &scratch), "ingest into scratch");
    let pick = |sql: &str| env.sql_csv_in(&scratch, sql).lines().nth(1).unwrap_or_default().trim().trim_matches('"').to_string();
    let snapshot = pick("SELECT max(snapshot_date) FROM enrollments");
    let area = pick("SELECT min(area_code) FROM schools");
    let late = pick(&format!("SELECT max(school_code) FROM enrollments WHERE snapshot_date = DATE '{snapshot}' AND area_code = '{area}'"));
    let other = pick(&format!("SELECT min(school_code) FROM enrollments WHERE snapshot_date = DATE '{snapshot}' AND area_code = '{area}'"));
    // The deadline is five days from today; the school's data never comes; judged a week after it.
    let today = (chrono::Utc::now() + chrono::Duration::hours(7)).date_naive();
    let due = today + chrono::Duration::days(5);
    let on = (today + chrono::Duration::days(12)).to_string();
    let o = env.cmd().args(["calendar", "add", "--feed", "students", "--period", &snapshot, "--due", &due.to_string(), "--name", "ข้อมูลนักเรียนรอบ 10 พ.ย."]).output().unwrap();
    assert_ok(&o, "calendar add");
    let o = env.cmd().args(["calendar", "add", "--feed", "students", "--period", "2026-02-30", "--due", "2026-06-10"]).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("snapshot date like"), "a bad period is refused with its reason");
    // The office's load misses one school.
    let missing = env.pull_without_school(&pull, "pull-missing", &late);
    assert_ok(&env.ingest(&missing), "ingest without one school");
    assert_eq!(env.count(&format!("SELECT count(*) FROM enrollments WHERE snapshot_date = DATE '{snapshot}' AND school_code = '{late}'")), 0);

    // CSV read back: the school that did not send, seven days late; nobody else late.
    let o = env.cmd().args(["calendar", "status", "1", "--on", &on, "--format", "csv"]).output().unwrap();
    assert_ok(&o, "calendar status csv");
    let text = String::from_utf8(o.stdout).unwrap();
    let mut r = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    assert_eq!(rows.len(), 1, "{text}");
    assert_eq!((&rows[0][1], &rows[0][5]), (late.as_str(), "7"), "{text}");
    assert!(rows[0][3].contains("ยังไม่ส่ง"), "{text}");
    // XLSX read back: the same school, the days stored as a number.
    let xlsx = env.path("late.xlsx");
    assert_ok(&env.cmd().args(["calendar", "status", "1", "--on", &on, "--format", "xlsx", "--out"]).arg(&xlsx).output().unwrap(), "calendar status xlsx");
    use calamine::Reader as _;
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&xlsx).unwrap();
    let sheet = book.worksheet_range("โรงเรียนที่ส่งล่าช้า").unwrap();
    let row = sheet.rows().find(|r| r.get(1).map(|c| c.to_string()) == Some(late.clone())).expect("the late school in the XLSX");
    assert_eq!(row[5], calamine::Data::Float(7.0));
    assert_eq!(sheet.rows().skip(3).count(), 1, "only the late school");
    // Open rejected rows per school equal SQL over the latest load's rejected rows.
    let o = env.cmd().args(["calendar", "status", "1", "--on", &on]).output().unwrap();
    assert_ok(&o, "calendar status");
    let table = String::from_utf8(o.stdout).unwrap();
    let want = env.sql_csv(&format!(
        "SELECT school_code, count(*) FROM rejected_rows WHERE feed = 'students' AND snapshot_date = DATE '{snapshot}' AND run_id = (SELECT max(run_id) FROM ingest_runs WHERE feed = 'students') \
         AND school_code IN (SELECT school_code FROM schools WHERE status = 'open') GROUP BY school_code"
    ));
    let with_rejections: Vec<(String, String)> = want.lines().skip(1).filter_map(|l| l.split_once(',')).map(|(a, b)| (a.to_string(), b.to_string())).collect();
    assert!(!with_rejections.is_empty(), "the pull has rejected rows on purpose");
    for (school, n) in &with_rejections {
        let line = table.lines().find(|l| l.contains(school.as_str())).unwrap_or_else(|| panic!("{school} not listed"));
        assert_eq!(line.split_whitespace().nth(4), Some(n.as_str()), "{line}");
    }

    // On the web: the director sees the late school, a school user only its own row.
    add_user(&env, "director", "director", &["--area", &area]);
    add_user(&env, "principal", "school", &["--school", &other]);
    let server = Server::start(&env, &[]);
    let path = format!("/calendar?deadline=1&on={on}");
    let pages = chromium(&env, &server, Some("director"), &["/calendar".to_string(), path.clone()]);
    for p in &pages {
        assert_eq!(p["status"], 200, "{}", p["path"]);
        assert_eq!(p["problems"], serde_json::json!([]), "{}", p["path"]);
    }
    assert!(pages[1]["text"].as_str().unwrap().contains(&late), "the director's list lacks {late}");
    add_user(&env, "ict", "analyst", &[]);
    let ingest_page = chromium(&env, &server, Some("ict"), &["/admin/ingest".to_string()]);
    assert_eq!(ingest_page[0]["problems"], serde_json::json!([]));
    assert!(ingest_page[0]["text"].as_str().unwrap().contains("ข้อมูลนักเรียนรอบ 10 พ.ย."), "the ingest page lists the deadline");
    let cookie = format!("Cookie: khlang_session={}", server.login("principal"));
    let (status, body) = server.curl(&["-H", &cookie, &path]);
    let body = String::from_utf8_lossy(&body).to_string();
    assert_eq!(status, 200);
    assert!(body.contains(&format!("data-school=\"{other}\"")) && !body.contains(&format!("data-school=\"{late}\"")), "a school sees only its own row");
    let (status, _) = server.curl(&["-H", &cookie, "-d", "action=remove", "-d", "id=1", "/calendar"]);
    assert_eq!(status, 403, "a school cannot change the calendar");
    let director = format!("Cookie: khlang_session={}", server.login("director"));
    let (status, csv_bytes) = server.curl(&["-H", &director, &format!("{path}&format=csv")]);
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&csv_bytes).contains(&late));

    // The school's data arrives (today, before the deadline): no longer late.
    assert_ok(&env.ingest(&pull), "ingest with the school");
    let o = env.cmd().args(["calendar", "status", "1", "--on", &on, "--format", "csv"]).output().unwrap();
    let text = String::from_utf8(o.stdout).unwrap();
    assert_eq!(text.trim_start_matches('\u{feff}').lines().count(), 1, "nobody late: {text}");
}
