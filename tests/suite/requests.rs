//! Access requests: filed anonymously, granted by an admin with an end date, the new user sets their
//! own password and sees exactly the granted scope; after the end date the grant no longer works; a
//! refused request leaves no account.

use crate::common::{Env, assert_ok};
use crate::server::{PASSWORD, Server, add_user};

fn request(server: &Server, user: &str, area: &str) -> u32 {
    let (status, page) = server.post_form(None, "/access/request", &[
        ("full_name", "สมศรี ใจดี"),
        ("position", "นักวิชาการศึกษา"),
        ("agency", "สำนักงานสาธารณสุขจังหวัด"),
        ("user_name", user),
        ("data", "public_enrollment, รายงานสารสนเทศ 4 ด้าน"),
        ("role", "director"),
        ("area", area),
        ("purpose", "วางแผนบริการสุขภาพนักเรียน"),
    ]);
    assert_eq!(status, 200, "{page}");
    let at = page.find("data-request=\"").unwrap() + 14;
    page[at..at + page[at..].find('"').unwrap()].parse().unwrap()
}

#[test]
fn a_granted_request_gives_exactly_its_scope_until_it_expires() {
    let env = Env::new();
    let pull = env.generate("pull", 11, "mixed");
    assert_ok(&env.ingest(&pull), "ingest");
    let area = env.first("SELECT min(area_code) FROM areas");
    add_user(&env, "admin", "admin", &[]);
    let server = Server::start(&env, &[]);
    let admin = format!("Cookie: khlang_session={}", server.login("admin"));

    // Filed anonymously; a missing field is refused with its reason.
    let (status, page) = server.post_form(None, "/access/request", &[("full_name", "x"), ("role", "director")]);
    assert_eq!(status, 400);
    assert!(page.contains("the request needs"), "{page}");
    let pages = crate::dashboards::chromium(&env, &server, None, &["/access/request".to_string()]);
    assert_eq!((pages[0]["status"].clone(), pages[0]["problems"].clone()), (serde_json::json!(200), serde_json::json!([])));
    assert!(pages[0]["text"].as_str().unwrap().contains("วัตถุประสงค์"), "the form in Chromium");
    let id = request(&server, "somsri", &area);
    let refused = request(&server, "intruder", &area);

    // Refused: no account.
    let (status, _) = server.post_form(Some(&admin), "/access/requests", &[("action", "refuse"), ("id", &refused.to_string()), ("reason", "ไม่ระบุหนังสือนำส่ง")]);
    assert_eq!(status, 200);
    let users = String::from_utf8_lossy(&env.cmd().args(["user", "list"]).output().unwrap().stdout).to_string();
    assert!(!users.contains("intruder"), "{users}");

    // Granted with an end date: a one-time link, never a password on the page.
    let until = ((chrono::Utc::now() + chrono::Duration::hours(7)).date_naive() + chrono::Duration::days(30)).to_string();
    let (status, page) = server.post_form(Some(&admin), "/access/requests", &[("action", "grant"), ("id", &id.to_string()), ("expires", &until)]);
    assert_eq!(status, 200, "{page}");
    let at = page.find("/access/setup?token=").unwrap() + 20;
    let token: String = page[at..].chars().take_while(|c| c.is_ascii_hexdigit()).collect();
    assert_eq!(token.len(), 64);
    assert_eq!(server.post_form(None, "/access/setup", &[("token", &token), ("password", PASSWORD)]).0, 200);
    assert_eq!(server.post_form(None, "/access/setup", &[("token", &token), ("password", "another password")]).0, 400, "the link works once");

    // The new user sees exactly the granted area.
    let token = server.login("somsri");
    let (status, out) = server.api_sql(&token, "SELECT count(DISTINCT area_code) AS n, min(area_code) AS a FROM schools", "csv");
    let out = String::from_utf8_lossy(&out).to_string();
    assert_eq!(status, 200, "{out}");
    assert_eq!(out.lines().nth(1).unwrap().trim(), format!("1,{area}"));
    let cookie = format!("Cookie: khlang_session={token}");
    assert_eq!(server.curl(&["-H", &cookie, &format!("/area/{area}")]).0, 200);

    // After the end date (set in the past here), the grant no longer works; the refusal is audited.
    assert_ok(&env.cmd().args(["user", "expires", "somsri", "2020-01-01"]).output().unwrap(), "user expires");
    let body = format!("{{\"user\":\"somsri\",\"password\":\"{PASSWORD}\"}}");
    let (status, _) = server.curl(&["-X", "POST", "-H", "Content-Type: application/json", "-d", &body, "/api/login"]);
    assert_eq!(status, 401, "an expired grant still signs in");
    let o = server.psql("somsri", PASSWORD, &["-c", "SELECT 1"]);
    assert!(!o.status.success(), "an expired grant still signs in over the wire");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let audit = env.sql_csv("SELECT action, count(*) AS n FROM audit_log WHERE action LIKE 'access%' OR object LIKE '%expired%' GROUP BY action ORDER BY action");
    assert!(audit.contains("access_grant,2") && audit.contains("access_refuse,1") && audit.contains("access_request,2") && audit.contains("login_failed"), "{audit}");
}
