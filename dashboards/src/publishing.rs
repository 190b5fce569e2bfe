//! `/approvals`: approval before publishing. Staff propose the figures of the latest published state,
//! the director of the area (or an admin) reviews exactly what the public would see and approves or
//! returns them with a reason; the history of every decision is listed.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use khlang_query::transport::api::{ApiError, Caller};
use khlang_query::approvals::{Approval, Approvals, Decision, Proposal};
use khlang_query::{Principal, Role, Scope};

use crate::pages::{error_page, table_html};
use crate::public::{approval_line, group_tables, tables_of};
use crate::{AppState, msg, thai};

#[derive(Debug, Default, serde::Deserialize)]
pub struct Params {
    area: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
pub struct Form {
    action: String,
    area: Option<String>,
    snapshot: Option<String>,
    fiscal_year: Option<String>,
    state: Option<u64>,
    reason: Option<String>,
}

/// Who may open the page: staff of the office. School users and the public may not.
fn may_open(who: &Principal) -> bool {
    matches!(who.role, Role::Admin | Role::Analyst | Role::Director)
}

fn may_decide(who: &Principal) -> bool {
    matches!(who.role, Role::Admin | Role::Director)
}

/// The areas the caller works on: a director's or area analyst's own, every area otherwise.
fn areas_of(who: &Principal, all: &[String]) -> Vec<String> {
    match &who.scope {
        Scope::Area(a) => vec![a.clone()],
        _ => all.to_vec(),
    }
}

fn row(e: &Approval, names: &std::collections::HashMap<String, String>) -> String {
    let area = match &e.area {
        Some(a) => thai::escape(names.get(a).unwrap_or(a)),
        None => "ทุกเขตพื้นที่".into(),
    };
    format!(
        "<tr data-decision=\"{}\"><td>{}</td><td>{area}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{} ({})</td><td>{}</td></tr>",
        e.decision.as_str(),
        thai::datetime_be(e.at),
        e.state,
        thai::date_be(&e.snapshot.to_string()),
        e.decision.thai(),
        thai::escape(&e.by),
        thai::role(e.role),
        thai::escape(e.reason.as_deref().unwrap_or(""))
    )
}

/// `GET /approvals?area=`: where each area stands, the figures awaiting a decision and the forms.
pub async fn page(State(st): State<AppState>, caller: Result<Caller, ApiError>, Query(p): Query<Params>) -> Response {
    let Some(caller) = crate::pages::signed_in(caller) else { return crate::sign_in_first("/approvals") };
    render(&st, &caller.who, p.area.filter(|a| !a.is_empty()), None).await
}

async fn render(st: &AppState, who: &Principal, area: Option<String>, message: Option<(bool, String)>) -> Response {
    if !may_open(who) {
        return error_page(StatusCode::FORBIDDEN, "หน้านี้สำหรับผู้อำนวยการเขตพื้นที่ ผู้ดูแลระบบ และเจ้าหน้าที่ของสำนักงานเขต");
    }
    let fail = |e: String| error_page(StatusCode::INTERNAL_SERVER_ERROR, &e);
    let dir = match st.reports.directory(&st.svc).await {
        Ok(d) => d,
        Err(e) => return fail(e.to_string()),
    };
    let commit = match st.reports.commit(&st.svc).await {
        Ok(Some(c)) => c,
        Ok(None) => return Html(crate::shell(who, "อนุมัติเผยแพร่ข้อมูล", &format!("<p>{}</p>", msg::EMPTY))).into_response(),
        Err(e) => return fail(e.to_string()),
    };
    let history = match st.svc.approvals().history().await {
        Ok(h) => h,
        Err(e) => return fail(e.to_string()),
    };
    let mut all: Vec<String> = dir.areas.keys().cloned().collect();
    all.sort();
    let mine = areas_of(who, &all);
    // The area whose figures are shown: asked for (within the caller's areas), or a director's own.
    let area = match area {
        Some(a) if mine.contains(&a) => Some(a),
        Some(a) if dir.areas.contains_key(&a) => return error_page(StatusCode::FORBIDDEN, msg::FORBIDDEN),
        Some(a) => return error_page(StatusCode::NOT_FOUND, &format!("{} {a}", msg::NO_SUCH_AREA)),
        None if mine.len() == 1 => mine.first().cloned(),
        None => None,
    };
    let name = |a: &String| dir.areas.get(a).cloned().unwrap_or_else(|| a.clone());

    let mut body = String::from(
        "<p>ข้อมูลที่นำเข้าแล้วใช้ภายในสำนักงานได้ทันที ส่วนการเผยแพร่แก่สาธารณะและหน่วยงานภายนอกต้องเสนอผู้อำนวยการสำนักงานเขตพื้นที่การศึกษาพิจารณาอนุมัติก่อน \
         (อนุมัติ: เผยแพร่ · ไม่อนุมัติ: ทบทวนแก้ไขแล้วเสนอใหม่) สาธารณะเห็นข้อมูลชุดที่อนุมัติจนกว่าจะอนุมัติชุดใหม่</p>",
    );
    if let Some((ok, m)) = &message {
        body.push_str(&format!("<p class=\"{}\" role=\"status\">{}</p>", if *ok { "notice" } else { "error" }, thai::escape(m)));
    }
    body.push_str(&format!("<p class=\"meta\" data-version=\"{}\">ข้อมูลชุดล่าสุดที่นำเข้า: ชุดที่ {} เมื่อ {} น.</p>", commit.seq, commit.seq, thai::datetime_be(commit.at)));
    body.push_str("<table data-table=\"approval_status\"><caption>สถานะการเผยแพร่แต่ละเขตพื้นที่</caption><thead><tr><th>เขตพื้นที่</th><th>สถานะ</th><th>ที่สาธารณะเห็น</th></tr></thead><tbody>");
    for s in Approvals::status(&history, &mine, commit.seq) {
        let shown = s.public.as_ref().map_or_else(|| "ยังไม่เผยแพร่".to_string(), approval_line);
        body.push_str(&format!(
            "<tr data-area=\"{}\"><td><a href=\"/approvals?area={}\">{}</a></td><td>{}</td><td>{shown}</td></tr>",
            s.area,
            s.area,
            thai::escape(&name(&s.area)),
            s.thai()
        ));
    }
    body.push_str("</tbody></table>");

    if let Some(a) = &area {
        // Exactly what the public would see of this area from the latest state.
        let ctx = match st.svc.q.session_for_commit(&Principal::public(), Some(&commit)).await {
            Ok(c) => c,
            Err(e) => return fail(e.to_string()),
        };
        let admin = match st.svc.q.session_for_commit(&Principal::local_admin(), Some(&commit)).await {
            Ok(c) => c,
            Err(e) => return fail(e.to_string()),
        };
        let latest = |sql: &str| {
            let admin = admin.clone();
            let sql = sql.to_string();
            async move { crate::report::rows_or_none(&admin, &sql).await.first().and_then(|r| r.first()).map(|c| c.text()).filter(|t| !t.is_empty()) }
        };
        let Some(snapshot) = latest("SELECT CAST(max(snapshot_date) AS VARCHAR) FROM school_snapshot_summary").await.and_then(|s| s.parse::<chrono::NaiveDate>().ok()) else {
            body.push_str("<p>ข้อมูลชุดล่าสุดยังไม่มีข้อมูลนักเรียนให้เผยแพร่</p>");
            return Html(crate::shell(who, "อนุมัติเผยแพร่ข้อมูล", &body)).into_response();
        };
        let fiscal_year = latest("SELECT CAST(max(fiscal_year) AS VARCHAR) FROM budget_lines").await;
        body.push_str(&format!("<h2>ตัวเลขที่จะเผยแพร่: {} (ข้อมูลชุดที่ {})</h2>", thai::escape(&name(a)), commit.seq));
        body.push_str(&format!(
            "<p>{} {}{} · <a href=\"/reports/area/{a}.html?snapshot={snapshot}{fy}\">รายงานสารสนเทศ 4 ด้าน</a> (<a href=\"/reports/area/{a}.pdf?snapshot={snapshot}{fy}\">PDF</a>)</p>",
            msg::SNAPSHOT,
            thai::date_be_long(&snapshot.to_string()),
            fiscal_year.as_ref().map(|y| format!(" · {} {y}", msg::FISCAL_YEAR)).unwrap_or_default(),
            fy = fiscal_year.as_ref().map(|y| format!("&fiscal_year={y}")).unwrap_or_default(),
        ));
        let hidden = format!(
            "<input type=\"hidden\" name=\"area\" value=\"{a}\"><input type=\"hidden\" name=\"snapshot\" value=\"{snapshot}\"><input type=\"hidden\" name=\"fiscal_year\" value=\"{}\"><input type=\"hidden\" name=\"state\" value=\"{}\">",
            fiscal_year.clone().unwrap_or_default(),
            commit.seq
        );
        if may_decide(who) {
            body.push_str(&format!(
                "<form class=\"decision\" method=\"post\" action=\"/approvals\">{hidden}<label>เหตุผล / ข้อสังเกต <textarea name=\"reason\" rows=\"2\" cols=\"60\"></textarea></label> \
                 <button type=\"submit\" name=\"action\" value=\"approve\">อนุมัติเผยแพร่</button> <button type=\"submit\" name=\"action\" value=\"return\">ส่งกลับให้ทบทวนแก้ไข</button></form>"
            ));
        }
        if matches!(who.role, Role::Admin | Role::Analyst) {
            body.push_str(&format!("<form class=\"propose\" method=\"post\" action=\"/approvals\">{hidden}<button type=\"submit\" name=\"action\" value=\"propose\">เสนอ ผอ.สพท. พิจารณา</button></form>"));
        }
        for t in tables_of(group_tables(&ctx, std::slice::from_ref(a)).await) {
            body.push_str(&table_html(&t));
        }
    }

    body.push_str("<table data-table=\"approval_history\"><caption>ประวัติการเสนอและการอนุมัติ</caption><thead><tr><th>เมื่อ</th><th>เขตพื้นที่</th><th>ข้อมูลชุดที่</th><th>รอบข้อมูล</th><th>การดำเนินการ</th><th>โดย</th><th>เหตุผล</th></tr></thead><tbody>");
    let names = &dir.areas;
    for e in history.iter().rev().filter(|e| mine.iter().any(|a| e.covers(a))) {
        body.push_str(&row(e, names));
    }
    body.push_str("</tbody></table>");
    Html(crate::shell(who, "อนุมัติเผยแพร่ข้อมูล", &body)).into_response()
}

/// `POST /approvals`: propose, approve or return the figures shown on the page.
pub async fn decide(State(st): State<AppState>, caller: Result<Caller, ApiError>, axum::Form(f): axum::Form<Form>) -> Response {
    let Some(caller) = crate::pages::signed_in(caller) else { return crate::sign_in_first("/approvals") };
    let who = &caller.who;
    let decision = match f.action.as_str() {
        "propose" => Decision::Proposed,
        "approve" => Decision::Approved,
        "return" => Decision::Returned,
        other => return error_page(StatusCode::BAD_REQUEST, &format!("action '{other}' is not propose, approve or return")),
    };
    let allowed = match decision {
        Decision::Proposed => matches!(who.role, Role::Admin | Role::Analyst),
        _ => may_decide(who),
    };
    if !allowed {
        return error_page(StatusCode::FORBIDDEN, "เฉพาะผู้อำนวยการสำนักงานเขตพื้นที่การศึกษาหรือผู้ดูแลระบบที่อนุมัติหรือส่งกลับข้อมูลเพื่อเผยแพร่ได้");
    }
    let fiscal_year = match f.fiscal_year.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(y) => match y.parse::<i32>() {
            Ok(y) => Some(y),
            Err(_) => return error_page(StatusCode::BAD_REQUEST, &format!("fiscal year '{y}' is not a Buddhist-Era year")),
        },
        None => None,
    };
    let area = f.area.filter(|a| !a.is_empty());
    let proposal = Proposal { area: area.clone(), snapshot: f.snapshot.filter(|s| !s.is_empty()), fiscal_year, state: f.state, reason: f.reason };
    let message = match st.svc.decide(who, decision, proposal, &caller.client).await {
        Ok(e) => (true, format!("บันทึกแล้ว: {} ข้อมูลชุดที่ {}", e.decision.thai(), e.state)),
        Err(e) => (false, e.to_string()),
    };
    let status = if message.0 { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    // After a refusal the page is shown for the caller's own areas: the area asked for may be the fault.
    let shown = if message.0 { area } else { None };
    let mut r = render(&st, who, shown, Some(message)).await;
    if r.status() == StatusCode::OK {
        *r.status_mut() = status;
    }
    r
}
