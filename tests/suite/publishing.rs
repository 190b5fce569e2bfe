//! Approval before publishing: the public sees an area's figures only from a state its director
//! approved, pinned there until another is approved; returns and proposals are kept and audited.

use crate::common::{Env, assert_ok};
use crate::dashboards::chromium;
use crate::server::{Server, add_user};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

/// Posts the approvals form as a signed-in user.
fn post(server: &Server, cookie: &str, fields: &[(&str, &str)]) -> (u16, String) {
    server.post_form(Some(cookie), "/approvals", fields)
}

#[test]
fn the_public_sees_what_the_director_approved_and_nothing_else() {
    let env = Env::new();
    let pull = env.generate("pull", 11, "mixed");
    assert_ok(&env.ingest(&pull), "ingest");
    let area = env.first("SELECT min(area_code) FROM areas");
    let school = env.first(&format!("SELECT min(school_code) FROM schools WHERE area_code = '{area}'"));
    let snapshot = env.first("SELECT max(snapshot_date) FROM school_snapshot_summary");
    add_user(&env, "director", "director", &["--area", &area]);
    add_user(&env, "ict", "analyst", &["--area", &area]);
    add_user(&env, "principal", "school", &["--school", &school]);
    let server = Server::start(&env, &[]);
    let cookie = |u: &str| format!("Cookie: khlang_session={}", server.login(u));
    let (director, ict, principal) = (cookie("director"), cookie("ict"), cookie("principal"));
    let public_csv = || {
        let (status, body) = server.curl(&[&format!("/public/data/public_schools.csv?area={area}")]);
        (status, text(&body))
    };

    // Nothing approved yet: no figures for the public, on the page or as downloads.
    let (status, body) = server.curl(&[&format!("/public?area={area}")]);
    assert_eq!(status, 200);
    assert!(text(&body).contains("ยังไม่มีข้อมูลที่ผู้อำนวยการอนุมัติให้เผยแพร่"), "{}", text(&body));
    assert!(!text(&body).contains("<table"), "figures shown before any approval");
    assert_eq!(public_csv().0, 404);

    // A school user can neither open the page nor approve.
    assert_eq!(server.curl(&["-H", &principal, "/approvals"]).0, 403);
    assert_eq!(post(&server, &principal, &[("action", "approve"), ("area", &area), ("state", "1")]).0, 403);
    // The ICT officer proposes; the director sees the figures awaiting a decision.
    let (status, page) = post(&server, &ict, &[("action", "propose"), ("area", &area), ("snapshot", &snapshot), ("state", "1")]);
    assert_eq!(status, 200, "{page}");
    assert_eq!(post(&server, &ict, &[("action", "approve"), ("area", &area), ("state", "1")]).0, 403, "an analyst cannot approve");
    let (status, page) = server.curl(&["-H", &director, "/approvals"]);
    let page = text(&page);
    assert_eq!(status, 200);
    assert!(page.contains("รอ ผอ. พิจารณา"), "{page}");
    assert!(page.contains("data-table=\"public_schools\""), "the director sees the figures to be published");
    assert!(page.contains("value=\"approve\""), "the director has the approval form");
    // A director may not decide for another area; returning needs a reason.
    let (status, page) = post(&server, &director, &[("action", "approve"), ("area", "99010000"), ("state", "1")]);
    assert_eq!(status, 400, "{page}");
    let (status, page) = post(&server, &director, &[("action", "return"), ("area", &area), ("state", "1"), ("reason", " ")]);
    assert_eq!(status, 400);
    assert!(page.contains("needs a reason"), "{page}");

    // Approved: the public sees state 1, with the approval line, in Chromium, signed out.
    let (status, page) = post(&server, &director, &[("action", "approve"), ("area", &area), ("snapshot", &snapshot), ("state", "1"), ("reason", "ตรวจสอบแล้ว")]);
    assert_eq!(status, 200, "{page}");
    let pages = chromium(&env, &server, None, &[format!("/public?area={area}"), "/public".to_string()]);
    for p in &pages {
        assert_eq!(p["status"], 200, "{}", p["path"]);
        assert_eq!(p["problems"], serde_json::json!([]), "{}", p["path"]);
        let t = p["text"].as_str().unwrap();
        assert!(t.contains("ข้อมูลชุดที่ 1") && t.contains("อนุมัติให้เผยแพร่โดย director"), "{}: {t}", p["path"]);
        assert!(p["tables"].as_u64().unwrap() >= 4, "{}: tables", p["path"]);
    }
    let (status, approved_csv) = public_csv();
    assert_eq!(status, 200);
    let published = |csv: &str| -> i64 {
        let mut r = csv::Reader::from_reader(csv.trim_start_matches('\u{feff}').as_bytes());
        let h = r.headers().unwrap().clone();
        let (si, di) = (h.iter().position(|c| c == "students").unwrap(), h.iter().position(|c| c == "snapshot_date").unwrap());
        r.records().map(|rec| rec.unwrap()).filter(|rec| rec[di] == *snapshot).map(|rec| rec[si].parse::<i64>().unwrap_or(0)).sum()
    };
    let want: i64 = env.first(&format!("SELECT sum(students) FROM public_schools WHERE area_code = '{area}' AND snapshot_date = DATE '{snapshot}'")).parse().unwrap();
    assert_eq!(published(&approved_csv), want, "the download is the approved state's public view");

    // A second load with fewer students: staff see state 2, the public still state 1.
    let pull2 = env.pull_without_school(&pull, "pull2", &school);
    assert_ok(&env.ingest(&pull2), "second ingest");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let now: i64 = env.first(&format!("SELECT sum(students) FROM public_schools WHERE area_code = '{area}' AND snapshot_date = DATE '{snapshot}'")).parse().unwrap();
    assert!(now < want, "the second load has fewer students ({now} against {want})");
    assert_eq!(public_csv().1, approved_csv, "a later load changed what the public sees");
    let (_, body) = server.curl(&[&format!("/public?area={area}")]);
    assert!(text(&body).contains("data-approved-version=\"1\""));
    // Approving what was reviewed before the load is refused: the figures are not the ones seen.
    let (status, page) = post(&server, &director, &[("action", "approve"), ("area", &area), ("state", "1")]);
    assert_eq!(status, 400);
    assert!(page.contains("review the new figures"), "{page}");
    // Returned: still state 1 for the public.
    let (status, page) = post(&server, &director, &[("action", "return"), ("area", &area), ("state", "2"), ("reason", "จำนวนนักเรียนลดลงผิดปกติ")]);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("ส่งกลับให้ทบทวนแก้ไข") && page.contains("จำนวนนักเรียนลดลงผิดปกติ"), "{page}");
    let (st_after, after_return) = public_csv();
    assert_eq!(after_return, approved_csv, "a returned state became public ({st_after})");
    // Approved again: the public follows.
    let (status, page) = post(&server, &director, &[("action", "approve"), ("area", &area), ("state", "2")]);
    assert_eq!(status, 200, "{page}");
    let (_, after) = public_csv();
    assert_eq!(published(&after), now);
    let (_, body) = server.curl(&[&format!("/public?area={area}")]);
    assert!(text(&body).contains("data-approved-version=\"2\""));

    // The command line sees the same history; every step is in the audit log.
    let o = env.cmd().args(["publish", "status", "--area", &area]).output().unwrap();
    assert_ok(&o, "publish status");
    let status_text = text(&o.stdout);
    assert!(status_text.contains("state 2") && status_text.contains("approved") && status_text.contains("director"), "{status_text}");
    let o = env.cmd().args(["publish", "return", "--area", &area]).output().unwrap();
    assert!(!o.status.success() && text(&o.stderr).contains("needs a reason"), "{}", text(&o.stderr));
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let audited = env.sql_csv(&format!(
        "SELECT action, user_name, count(*) AS n FROM audit_log WHERE action LIKE 'publish%' AND object LIKE '%area={area}%' GROUP BY action, user_name ORDER BY action, user_name"
    ));
    assert_eq!(
        audited.lines().skip(1).collect::<Vec<_>>(),
        vec!["publish_approve,director,2", "publish_propose,ict,1", "publish_return,director,1"],
        "{audited}"
    );
}
