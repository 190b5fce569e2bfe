//! `/approvals`: approval before publishing. Staff propose the figures of the latest published state,
//! the director of the area (or an admin) reviews exactly what the public would see and approves or
//! returns them with a reason; the history of every decision is listed.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use khlang_query::approvals::{Approval, Approvals, Decision, Proposal, Status};
use khlang_query::transport::api::{ApiError, Caller};
use khlang_query::{Principal, Role, Scope};
use maud::{Markup, html};

use crate::msg::{self, publishing as m};
use crate::pages::error_page;
use crate::public::{approval_line, group_tables, tables_of};
use crate::{AppState, html, thai};

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

/// The page in the app's frame.
fn framed(who: &Principal, body: Markup) -> Response {
    Html(html::shell(who, m::TITLE, body).into_string()).into_response()
}

/// Where each area stands, with a link to its figures.
fn status_table(statuses: &[Status], names: &HashMap<String, String>) -> Markup {
    html! {
        table data-table="approval_status" {
            caption { (m::T_STATUS) }
            thead { tr { th { (msg::C_AREA) } th { (msg::C_STATUS) } th { (m::C_PUBLIC_SEES) } } }
            tbody {
                @for s in statuses {
                    tr data-area=(s.area) {
                        td { a href={ "/approvals?area=" (s.area) } { (names.get(&s.area).unwrap_or(&s.area)) } }
                        td { (m::status(s)) }
                        td {
                            @match &s.public {
                                Some(p) => (approval_line(p)),
                                None => (m::NOT_PUBLISHED),
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Every proposal, approval and return, newest first.
fn history_table<'a>(entries: impl Iterator<Item = &'a Approval>, names: &HashMap<String, String>) -> Markup {
    html! {
        table data-table="approval_history" {
            caption { (m::T_HISTORY) }
            thead {
                tr {
                    th { (m::AT) } th { (msg::C_AREA) } th { (msg::DATA_VERSION) } th { (msg::DATA_ROUND) } th { (m::C_ACTION) } th { (msg::C_BY) } th { (msg::C_REASON) }
                }
            }
            tbody {
                @for e in entries {
                    tr data-decision=(e.decision.as_str()) {
                        td { (thai::datetime_be(e.at)) }
                        td {
                            @match &e.area {
                                Some(a) => (names.get(a).unwrap_or(a)),
                                None => (msg::public::ALL_AREAS),
                            }
                        }
                        td.num { (e.state) }
                        td { (thai::date_be(&e.snapshot.to_string())) }
                        td { (m::decision(e.decision)) }
                        td { (e.by) " (" (msg::role(e.role)) ")" }
                        td { (e.reason.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    }
}

/// `GET /approvals?area=`: where each area stands, the figures awaiting a decision and the forms.
pub async fn page(State(st): State<AppState>, caller: Result<Caller, ApiError>, Query(p): Query<Params>) -> Response {
    let Some(caller) = crate::pages::signed_in(caller) else { return crate::sign_in_first("/approvals") };
    render(&st, &caller.who, p.area.filter(|a| !a.is_empty()), None).await
}

async fn render(st: &AppState, who: &Principal, area: Option<String>, message: Option<(bool, String)>) -> Response {
    if !may_open(who) {
        return error_page(StatusCode::FORBIDDEN, m::STAFF_ONLY);
    }
    let fail = |e: String| error_page(StatusCode::INTERNAL_SERVER_ERROR, &e);
    let dir = match st.reports.directory(&st.svc).await {
        Ok(d) => d,
        Err(e) => return fail(e.to_string()),
    };
    let commit = match st.reports.commit(&st.svc).await {
        Ok(Some(c)) => c,
        Ok(None) => return framed(who, html! { p { (msg::EMPTY) } }),
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
    let names = &dir.areas;

    let head = html! {
        p { (m::INTRO) }
        @if let Some((ok, text)) = &message {
            p class=(if *ok { "notice" } else { "error" }) role="status" { (text) }
        }
        p.meta data-version=(commit.seq) { (m::LATEST_LOADED) " " (commit.seq) " " (m::AT) " " (thai::datetime_be(commit.at)) " " (m::HOURS) }
        (status_table(&Approvals::status(&history, &mine, commit.seq), names))
    };

    let figures = match &area {
        None => html! {},
        Some(a) => {
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
                async move { crate::table::rows_or_none(&admin, &sql).await.first().and_then(|r| r.first()).map(|c| c.text()).filter(|t| !t.is_empty()) }
            };
            let Some(snapshot) = latest("SELECT CAST(max(snapshot_date) AS VARCHAR) FROM school_snapshot_summary").await.and_then(|s| s.parse::<chrono::NaiveDate>().ok()) else {
                return framed(who, html! { (head) p { (m::NO_STUDENTS_IN_LATEST) } });
            };
            let fiscal_year = latest("SELECT CAST(max(fiscal_year) AS VARCHAR) FROM budget_lines").await;
            let fy = fiscal_year.as_ref().map(|y| format!("&fiscal_year={y}")).unwrap_or_default();
            let hidden = html! {
                input type="hidden" name="area" value=(a);
                input type="hidden" name="snapshot" value=(snapshot);
                input type="hidden" name="fiscal_year" value=(fiscal_year.clone().unwrap_or_default());
                input type="hidden" name="state" value=(commit.seq);
            };
            let tables = tables_of(group_tables(&ctx, std::slice::from_ref(a)).await);
            html! {
                h2 { (m::TO_BE_PUBLISHED) " " (names.get(a).unwrap_or(a)) " (" (msg::DATA_VERSION) " " (commit.seq) ")" }
                p {
                    (msg::SNAPSHOT) " " (thai::date_be_long(&snapshot.to_string()))
                    @if let Some(y) = &fiscal_year { " · " (msg::FISCAL_YEAR) " " (y) }
                    " · " a href={ "/reports/area/" (a) ".html?snapshot=" (snapshot) (fy) } { (m::REPORT_LINK) }
                    " (" a href={ "/reports/area/" (a) ".pdf?snapshot=" (snapshot) (fy) } { "PDF" } ")"
                }
                @if may_decide(who) {
                    form.decision method="post" action="/approvals" {
                        (hidden)
                        label { (m::REASON_OR_NOTE) " " textarea name="reason" rows="2" cols="60" {} }
                        " "
                        button type="submit" name="action" value="approve" { (m::APPROVED) }
                        " "
                        button type="submit" name="action" value="return" { (m::RETURNED) }
                    }
                }
                @if matches!(who.role, Role::Admin | Role::Analyst) {
                    form.propose method="post" action="/approvals" {
                        (hidden)
                        button type="submit" name="action" value="propose" { (m::PROPOSE) }
                    }
                }
                @for t in &tables { (html::table(t)) }
            }
        }
    };

    let history = history_table(history.iter().rev().filter(|e| mine.iter().any(|a| e.covers(a))), names);
    framed(who, html! { (head) (figures) (history) })
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
        return error_page(StatusCode::FORBIDDEN, m::DECIDERS_ONLY);
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
        Ok(e) => (true, format!("{} {} {} {}", m::SAVED, m::decision(e.decision), msg::DATA_VERSION, e.state)),
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
