//! Access requests on the web: anyone files the form (แบบคำร้องขอเข้าถึงข้อมูลสารสนเทศ) at
//! `/access/request`; an admin grants or refuses at `/access/requests`; a new user sets their own
//! password through the one-time link of the grant at `/access/setup`.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use khlang_query::transport::api::{ApiError, Caller};
use khlang_query::requests::{Form, Request, State as ReqState};
use khlang_query::{Principal, Role};

use maud::{Markup, html};

use crate::msg::{self, requests as m};
use crate::pages::error_page;
use crate::{AppState, html, thai};

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

/// The app's frame around `body`.
fn framed(who: &Principal, title: &str, body: Markup) -> Response {
    Html(html::shell(who, title, body).into_string()).into_response()
}

fn field(name: &str, label: &str, kind: &str) -> Markup {
    html! { label { (label) " " input name=(name) type=(kind); } }
}

/// `GET /access/request`: the request form.
pub async fn form(caller: Result<Caller, ApiError>) -> Response {
    let (who, _) = who_of(caller);
    let body = html! {
        p { (m::FORM_INTRO) }
        form.request method="post" action="/access/request" {
            (field("full_name", m::FULL_NAME, "text"))
            (field("position", msg::C_POSITION, "text"))
            (field("agency", msg::C_AGENCY, "text"))
            (field("user_name", m::WANTED_USER_NAME, "text"))
            label { (m::DATA_WANTED) " " textarea name="data" rows="2" cols="60" required {} }
            label {
                (m::ROLE_WANTED) " "
                select name="role" {
                    @for (value, role) in [("analyst", Role::Analyst), ("director", Role::Director), ("school", Role::School)] {
                        option value=(value) { (msg::role(role)) }
                    }
                }
            }
            (field("area", m::AREA_FIELD, "text"))
            (field("school", m::SCHOOL_FIELD, "text"))
            label { (m::PURPOSE) " " textarea name="purpose" rows="2" cols="60" required {} }
            (field("from", m::FROM, "date"))
            (field("until", m::UNTIL, "date"))
            button type="submit" { (m::SUBMIT) }
        }
    };
    framed(&who, m::FORM_TITLE, body)
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
        Ok(r) => framed(&who, m::FORM_TITLE, html! { p.notice data-request=(r.id) { (m::FILED) " " (r.id) " " (m::WILL_DECIDE) } }),
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

fn date_be(d: Option<chrono::NaiveDate>) -> String {
    d.map(|d| thai::date_be(&d.to_string())).unwrap_or_default()
}

/// The requests, newest first: a pending one with the form to grant or refuse it, a decided one
/// with its outcome.
fn requests_table(all: &[Request]) -> Markup {
    html! {
        table data-table="access_requests" {
            caption { (msg::NAV_ACCESS_REQUESTS) }
            thead {
                tr {
                    th { (msg::C_NUMBER) } th { (msg::C_REQUESTER) } th { (msg::USER_NAME) } th { (m::C_SCOPE) } th { (m::C_DATA_AND_PURPOSE) } th { (m::C_PERIOD) } th { (m::C_OUTCOME) }
                }
            }
            tbody {
                @for r in all.iter().rev() {
                    @let f = &r.form;
                    @let scope = [f.area.as_deref(), f.school.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
                    @let by = r.decided_by.as_deref().unwrap_or("");
                    tr data-request=(r.id) {
                        td { (r.id) }
                        td { (f.full_name) " · " (f.position) " · " (f.agency) }
                        td { (f.user_name) }
                        td { (f.role) " " (scope) }
                        td { (f.data) " — " (f.purpose) }
                        td { (date_be(f.from)) " – " (date_be(f.until)) }
                        td {
                            @match r.state {
                                ReqState::Pending => form method="post" action="/access/requests" {
                                    input type="hidden" name="id" value=(r.id);
                                    label { (m::UNTIL_DAY) " " input type="date" name="expires" value=(f.until.map(|d| d.to_string()).unwrap_or_default()); }
                                    " "
                                    button name="action" value="grant" { (m::GRANT) }
                                    " "
                                    label { (msg::C_REASON) " " input name="reason"; }
                                    " "
                                    button name="action" value="refuse" { (m::REFUSE) }
                                },
                                ReqState::Granted => { (m::GRANTED_UNTIL) " " (date_be(r.expires)) " " (msg::C_BY) " " (by) },
                                ReqState::Refused => { (m::REFUSE) ": " (r.reason.as_deref().unwrap_or("")) " (" (by) ")" },
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn render(st: &AppState, who: &Principal, message: Option<Markup>) -> Response {
    if who.role != Role::Admin {
        return error_page(StatusCode::FORBIDDEN, msg::ADMINS_ONLY);
    }
    let all = match st.svc.requests().list().await {
        Ok(a) => a,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    framed(who, msg::NAV_ACCESS_REQUESTS, html! { @if let Some(m) = message { (m) } (requests_table(&all)) })
}

/// `POST /access/requests`: grant (with the last day) or refuse (with a reason).
pub async fn decide(State(st): State<AppState>, caller: Result<Caller, ApiError>, axum::Form(d): axum::Form<Decision>) -> Response {
    let Some(caller) = crate::pages::signed_in(caller) else { return crate::sign_in_first("/access/requests") };
    let who = &caller.who;
    if who.role != Role::Admin {
        return error_page(StatusCode::FORBIDDEN, m::ADMINS_DECIDE);
    }
    let result = match d.action.as_str() {
        "grant" => match date(d.expires.as_deref()) {
            Some(expires) => st.svc.grant_request(who, d.id, expires, &caller.client).await.map(|(r, token)| match token {
                Some(t) => html! {
                    p.notice { (m::GRANTED_REQUEST) " " (r.id) " " (m::SEND_LINK) " " code data-setup-link { "/access/setup?token=" (t) } }
                },
                None => html! { p.notice { (m::GRANTED_REQUEST) " " (r.id) " " (m::WIDENED) " " (r.form.user_name) " " (m::SAME_PASSWORD) } },
            }),
            None => Err(khlang_query::QueryError::User("granting needs the last day of access (expires, YYYY-MM-DD)".into())),
        },
        "refuse" => st.svc.refuse_request(who, d.id, d.reason.as_deref().unwrap_or(""), &caller.client).await.map(|r| html! { p.notice { (m::REFUSED_REQUEST) " " (r.id) } }),
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
    let body = html! {
        form.login method="post" action="/access/setup" {
            input type="hidden" name="token" value=(t.token);
            label { (m::NEW_PASSWORD) " " input name="password" type="password" autocomplete="new-password" required; }
            button type="submit" { (m::SET_PASSWORD) }
        }
    };
    Html(html::page(m::SET_PASSWORD, body).into_string()).into_response()
}

/// `POST /access/setup`: sets it, once.
pub async fn setup(State(st): State<AppState>, caller: Result<Caller, ApiError>, axum::Form(s): axum::Form<Setup>) -> Response {
    let (_, client) = who_of(caller);
    match st.svc.set_password_by_token(&s.token, &s.password, &client).await {
        Ok(name) => Html(html::page(m::SET_PASSWORD, html! { p.notice { (m::PASSWORD_SET_OF) " " (name) " " (m::DONE) " " a href="/login" { (msg::SIGN_IN) } } }).into_string()).into_response(),
        Err(e) => error_page(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}
