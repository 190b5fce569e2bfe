//! Access requests on the web: anyone files the form (แบบคำร้องขอเข้าถึงข้อมูลสารสนเทศ) at
//! `/access/request`; an admin grants or refuses at `/access/requests`; a new user sets their own
//! password through the one-time link of the grant at `/access/setup`.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use khlang_query::transport::api::{ApiError, Caller};
use khlang_query::requests::{Form, State as ReqState};
use khlang_query::{Principal, Role};

use crate::pages::error_page;
use crate::{AppState, thai};

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct RequestForm {
    full_name: String,
    position: String,
    agency: String,
    user_name: String,
    data: String,
    role: String,
    area: Option<String>,
    school: Option<String>,
    purpose: String,
    from: Option<String>,
    until: Option<String>,
}

fn who_of(caller: Result<Caller, ApiError>) -> (Principal, String) {
    match caller {
        Ok(c) => (c.who, c.client),
        Err(_) => (Principal::public(), "unknown".into()),
    }
}

fn date(s: Option<&str>) -> Option<chrono::NaiveDate> {
    s.filter(|s| !s.is_empty()).and_then(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
}

const FORM_TITLE: &str = "แบบคำร้องขอเข้าถึงข้อมูลสารสนเทศ";

/// `GET /access/request`: the request form.
pub async fn form(caller: Result<Caller, ApiError>) -> Response {
    let (who, _) = who_of(caller);
    let field = |name: &str, label: &str, kind: &str| format!("<label>{label} <input name=\"{name}\" type=\"{kind}\"></label>");
    let body = format!(
        "<p>ผู้ที่ยังไม่มีบัญชี หรือต้องการเข้าถึงข้อมูลมากกว่าสิทธิ์ที่มี กรอกคำร้องนี้ ผู้ดูแลระบบจะพิจารณาและแจ้งผล เมื่ออนุมัติแล้วผู้ขอจะได้รับลิงก์สำหรับตั้งรหัสผ่านเอง</p>\
         <form class=\"request\" method=\"post\" action=\"/access/request\">{}{}{}{}<label>ข้อมูลที่ขอ (ตารางหรือรายงาน) <textarea name=\"data\" rows=\"2\" cols=\"60\" required></textarea></label>\
         <label>สิทธิ์ที่ขอ <select name=\"role\"><option value=\"analyst\">นักวิเคราะห์</option><option value=\"director\">ผู้บริหารเขตพื้นที่</option><option value=\"school\">โรงเรียน</option></select></label>\
         {}{}<label>วัตถุประสงค์ <textarea name=\"purpose\" rows=\"2\" cols=\"60\" required></textarea></label>{}{}<button type=\"submit\">ส่งคำร้อง</button></form>",
        field("full_name", "ชื่อ-นามสกุล", "text"),
        field("position", "ตำแหน่ง", "text"),
        field("agency", "หน่วยงาน", "text"),
        field("user_name", "ชื่อผู้ใช้ที่ต้องการ (หรือชื่อผู้ใช้เดิมเพื่อขยายสิทธิ์)", "text"),
        field("area", "รหัสเขตพื้นที่ (8 หลัก)", "text"),
        field("school", "รหัสโรงเรียน (10 หลัก)", "text"),
        field("from", "ใช้ข้อมูลตั้งแต่", "date"),
        field("until", "ถึง", "date"),
    );
    Html(crate::shell(&who, FORM_TITLE, &body)).into_response()
}

/// `POST /access/request`: files it.
pub async fn file(State(st): State<AppState>, caller: Result<Caller, ApiError>, axum::Form(f): axum::Form<RequestForm>) -> Response {
    let (who, client) = who_of(caller);
    let form = Form {
        full_name: f.full_name,
        position: f.position,
        agency: f.agency,
        user_name: f.user_name.trim().to_string(),
        data: f.data,
        role: f.role,
        area: f.area.filter(|s| !s.trim().is_empty()),
        school: f.school.filter(|s| !s.trim().is_empty()),
        purpose: f.purpose,
        from: date(f.from.as_deref()),
        until: date(f.until.as_deref()),
    };
    match st.svc.file_request(form, &client).await {
        Ok(r) => Html(crate::shell(&who, FORM_TITLE, &format!("<p class=\"notice\" data-request=\"{}\">รับคำร้องแล้ว เลขที่คำร้อง {} ผู้ดูแลระบบจะพิจารณาและแจ้งผล</p>", r.id, r.id))).into_response(),
        Err(e) => error_page(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct Decision {
    action: String,
    id: u32,
    expires: Option<String>,
    reason: Option<String>,
}

/// `GET /access/requests`: the requests, with forms to grant or refuse (admins).
pub async fn list(State(st): State<AppState>, caller: Result<Caller, ApiError>) -> Response {
    let Some(caller) = crate::pages::signed_in(caller) else { return crate::sign_in_first("/access/requests") };
    render(&st, &caller.who, None).await
}

async fn render(st: &AppState, who: &Principal, message: Option<String>) -> Response {
    if who.role != Role::Admin {
        return error_page(StatusCode::FORBIDDEN, "หน้านี้สำหรับผู้ดูแลระบบ");
    }
    let all = match st.svc.requests().list().await {
        Ok(a) => a,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let mut body = message.unwrap_or_default();
    body.push_str("<table data-table=\"access_requests\"><caption>คำร้องขอเข้าถึงข้อมูล</caption><thead><tr><th>เลขที่</th><th>ผู้ขอ</th><th>ชื่อผู้ใช้</th><th>สิทธิ์ / ขอบเขต</th><th>ข้อมูลและวัตถุประสงค์</th><th>ช่วงเวลา</th><th>ผล</th></tr></thead><tbody>");
    for r in all.iter().rev() {
        let f = &r.form;
        let scope = [f.area.as_deref(), f.school.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
        let period = format!("{} – {}", f.from.map(|d| thai::date_be(&d.to_string())).unwrap_or_default(), f.until.map(|d| thai::date_be(&d.to_string())).unwrap_or_default());
        let outcome = match r.state {
            ReqState::Pending => format!(
                "<form method=\"post\" action=\"/access/requests\"><input type=\"hidden\" name=\"id\" value=\"{0}\"><label>ถึงวันที่ <input type=\"date\" name=\"expires\" value=\"{1}\"></label> \
                 <button name=\"action\" value=\"grant\">อนุมัติ</button> <label>เหตุผล <input name=\"reason\"></label> <button name=\"action\" value=\"refuse\">ไม่อนุมัติ</button></form>",
                r.id,
                f.until.map(|d| d.to_string()).unwrap_or_default()
            ),
            ReqState::Granted => format!("อนุมัติถึง {} โดย {}", r.expires.map(|d| thai::date_be(&d.to_string())).unwrap_or_default(), thai::escape(r.decided_by.as_deref().unwrap_or(""))),
            ReqState::Refused => format!("ไม่อนุมัติ: {} ({})", thai::escape(r.reason.as_deref().unwrap_or("")), thai::escape(r.decided_by.as_deref().unwrap_or(""))),
        };
        body.push_str(&format!(
            "<tr data-request=\"{}\"><td>{}</td><td>{} · {} · {}</td><td>{}</td><td>{} {}</td><td>{} — {}</td><td>{period}</td><td>{outcome}</td></tr>",
            r.id,
            r.id,
            thai::escape(&f.full_name),
            thai::escape(&f.position),
            thai::escape(&f.agency),
            thai::escape(&f.user_name),
            thai::escape(&f.role),
            thai::escape(&scope),
            thai::escape(&f.data),
            thai::escape(&f.purpose)
        ));
    }
    body.push_str("</tbody></table>");
    Html(crate::shell(who, "คำร้องขอเข้าถึงข้อมูล", &body)).into_response()
}

/// `POST /access/requests`: grant (with the last day) or refuse (with a reason).
pub async fn decide(State(st): State<AppState>, caller: Result<Caller, ApiError>, axum::Form(d): axum::Form<Decision>) -> Response {
    let Some(caller) = crate::pages::signed_in(caller) else { return crate::sign_in_first("/access/requests") };
    let who = &caller.who;
    if who.role != Role::Admin {
        return error_page(StatusCode::FORBIDDEN, "เฉพาะผู้ดูแลระบบที่พิจารณาคำร้องได้");
    }
    let result = match d.action.as_str() {
        "grant" => match date(d.expires.as_deref()) {
            Some(expires) => st.svc.grant_request(who, d.id, expires, &caller.client).await.map(|(r, token)| match token {
                Some(t) => format!(
                    "<p class=\"notice\">อนุมัติคำร้องเลขที่ {} แล้ว ส่งลิงก์นี้ให้ผู้ขอเพื่อตั้งรหัสผ่านเอง (ใช้ได้ครั้งเดียว): <code data-setup-link>/access/setup?token={t}</code></p>",
                    r.id
                ),
                None => format!("<p class=\"notice\">อนุมัติคำร้องเลขที่ {} แล้ว: ขยายสิทธิ์ของผู้ใช้ {} (ใช้รหัสผ่านเดิม)</p>", r.id, thai::escape(&r.form.user_name)),
            }),
            None => Err(khlang_query::QueryError::User("granting needs the last day of access (expires, YYYY-MM-DD)".into())),
        },
        "refuse" => st.svc.refuse_request(who, d.id, d.reason.as_deref().unwrap_or(""), &caller.client).await.map(|r| format!("<p class=\"notice\">ไม่อนุมัติคำร้องเลขที่ {}</p>", r.id)),
        other => Err(khlang_query::QueryError::User(format!("action '{other}' is not grant or refuse"))),
    };
    match result {
        Ok(m) => render(&st, who, Some(m)).await,
        Err(e) => error_page(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct Token {
    token: String,
}

#[derive(Debug, serde::Deserialize)]
pub struct Setup {
    token: String,
    password: String,
}

/// `GET /access/setup?token=`: the new user chooses a password.
pub async fn setup_form(Query(t): Query<Token>) -> Response {
    Html(thai::page(
        "ตั้งรหัสผ่าน",
        &format!(
            "<form class=\"login\" method=\"post\" action=\"/access/setup\"><input type=\"hidden\" name=\"token\" value=\"{}\"><label>รหัสผ่านใหม่ (อย่างน้อย 8 ตัวอักษร) <input name=\"password\" type=\"password\" autocomplete=\"new-password\" required></label><button type=\"submit\">ตั้งรหัสผ่าน</button></form>",
            thai::escape(&t.token)
        ),
    ))
    .into_response()
}

/// `POST /access/setup`: sets it, once.
pub async fn setup(State(st): State<AppState>, caller: Result<Caller, ApiError>, axum::Form(s): axum::Form<Setup>) -> Response {
    let (_, client) = who_of(caller);
    match st.svc.set_password_by_token(&s.token, &s.password, &client).await {
        Ok(name) => Html(thai::page("ตั้งรหัสผ่าน", &format!("<p class=\"notice\">ตั้งรหัสผ่านของ {} แล้ว <a href=\"/login\">เข้าสู่ระบบ</a></p>", thai::escape(&name)))).into_response(),
        Err(e) => error_page(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}
