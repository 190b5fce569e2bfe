//! Khlang web app (axum, server-rendered HTML in Thai): dashboards for directors, the four-domain
//! information report as web page, PDF and XLSX, the open-data page, and the operators' pages.

#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

pub mod admin;
pub mod batch;
pub mod cache;
pub mod calendar;
pub mod charts;
pub mod doc;
pub mod fonts;
pub mod html;
pub mod msg;
pub mod pages;
pub mod pdf;
pub mod public;
pub mod publishing;
pub mod quality;
pub mod report;
pub mod requests;
pub mod table;
pub mod thai;
pub mod usage;
pub mod xlsx;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use khlang_query::transport::api::Caller;
use khlang_query::audit::Action;
use khlang_query::run::RunOptions;
use khlang_query::{QueryService, Role, Scope, SqlService, scalar_string};

#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("cannot listen on {addr}: {message}")]
    Bind { addr: String, message: String },
    #[error("the web server stopped: {0}")]
    Serve(String),
}

#[derive(Clone)]
pub struct AppState {
    query: Arc<QueryService>,
    svc: SqlService,
    reports: cache::ReportCache,
}

impl axum::extract::FromRef<AppState> for SqlService {
    fn from_ref(st: &AppState) -> SqlService {
        st.svc.clone()
    }
}

fn router(svc: SqlService, reports: cache::ReportCache) -> Router {
    let state = AppState { query: Arc::new(svc.q.clone()), svc: svc.clone(), reports };
    Router::new()
        .route("/", get(pages::routes::home))
        .route("/area/{code}", get(pages::routes::area))
        .route("/area/{code}/districts/{district}", get(pages::routes::district))
        .route("/area/{code}/chart/{file}", get(pages::routes::area_chart))
        .route("/school/{code}/chart/{file}", get(pages::routes::school_chart))
        .route("/area/{code}/{page}", get(pages::routes::area_page))
        .route("/school/{code}", get(pages::routes::school))
        .route("/school/{code}/{page}", get(pages::routes::school_page))
        .route("/reports/{kind}/{file}", get(pages::routes::report))
        .route("/public", get(public::page))
        .route("/public/data/{file}", get(public::download))
        .route("/approvals", get(publishing::page).post(publishing::decide))
        .route("/calendar", get(calendar::page).post(calendar::edit))
        .route("/access/request", get(requests::form).post(requests::file))
        .route("/access/requests", get(requests::list).post(requests::decide))
        .route("/access/setup", get(requests::setup_form).post(requests::setup))
        .route("/admin/ingest", get(admin::ingest))
        .route("/admin/usage", get(admin::usage))
        .route("/admin/usage-report", get(usage::page))
        .route("/logout", get(logout))
        .route("/static/fonts/{file}", get(font_file))
        .route("/quality", get(quality_page))
        .route("/login", get(login_form).post(login_submit))
        .route("/saved", get(saved_list))
        .route("/saved/{name}", get(saved_run))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(state)
        .merge(khlang_query::transport::api::router(svc))
}

/// Serves the web app and the HTTP API on `addr`: HTTPS when `tls` is given.
pub async fn serve(svc: SqlService, addr: SocketAddr, tls: Option<&khlang_query::tls::Tls>, on_ready: impl FnOnce(SocketAddr)) -> Result<(), DashboardError> {
    let bind_err = |e: std::io::Error| DashboardError::Bind { addr: addr.to_string(), message: e.to_string() };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(bind_err)?;
    let local = listener.local_addr().map_err(bind_err)?;
    let reports = cache::ReportCache::default();
    let _warm = AbortOnDrop(tokio::spawn(reports.clone().keep_warm(svc.clone())));
    let app = router(svc, reports).into_make_service_with_connect_info::<SocketAddr>();
    match tls {
        Some(t) => {
            let acceptor = t.http_acceptor().map_err(|e| DashboardError::Serve(e.to_string()))?;
            // TapIo carries the client's address through to ConnectInfo, as for a plain listener.
            let listener = axum::serve::ListenerExt::tap_io(khlang_query::tls::TlsListener::new(listener, acceptor).map_err(bind_err)?, |_| {});
            on_ready(local);
            axum::serve(listener, app).await.map_err(|e| DashboardError::Serve(e.to_string()))
        }
        None => {
            on_ready(local);
            axum::serve(listener, app).await.map_err(|e| DashboardError::Serve(e.to_string()))
        }
    }
}

/// Whether the server has made a published state ready ahead (its sessions and directory built),
/// for a load balancer or a start-up script: 503 while it starts, then 200 and `ready <state>`.
async fn ready(State(st): State<AppState>) -> Response {
    match st.reports.warmed() {
        Some(seq) => format!("ready {seq}\n").into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response(),
    }
}

/// Stops a background task when the server it works for stops.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Debug, serde::Deserialize)]
struct LoginForm {
    user: String,
    password: String,
    next: Option<String>,
}

fn login_page(message: &str, next: &str) -> String {
    let body = maud::html! {
        @if !message.is_empty() { (html::error(message)) }
        form.login method="post" action="/login" {
            input type="hidden" name="next" value=(next);
            label { (msg::USER_NAME) " " input name="user" autocomplete="username" required; }
            label { (msg::PASSWORD) " " input name="password" type="password" autocomplete="current-password" required; }
            button type="submit" { (msg::SIGN_IN) }
        }
    };
    html::page(msg::SIGN_IN, body).into_string()
}

#[derive(Debug, serde::Deserialize)]
struct NextParam {
    next: Option<String>,
}

async fn login_form(axum::extract::Query(p): axum::extract::Query<NextParam>) -> Response {
    Html(login_page("", p.next.as_deref().unwrap_or("/"))).into_response()
}

/// Only paths on this site: never send a signed-in user elsewhere.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") => n.to_string(),
        _ => "/".into(),
    }
}

async fn login_submit(State(st): State<AppState>, axum::extract::ConnectInfo(addr): axum::extract::ConnectInfo<SocketAddr>, axum::Form(f): axum::Form<LoginForm>) -> Response {
    let next = safe_next(f.next.as_deref());
    match st.svc.login(&f.user, &f.password, &addr.ip().to_string(), "web").await {
        Ok(who) => {
            let token = match st.svc.issue_token(who).await {
                Ok(t) => t,
                Err(e) => return pages::error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
            };
            (
                StatusCode::SEE_OTHER,
                [
                    (axum::http::header::SET_COOKIE, format!("{}={token}; HttpOnly; SameSite=Lax; Path=/", khlang_query::transport::api::COOKIE)),
                    (axum::http::header::LOCATION, next),
                ],
            )
                .into_response()
        }
        Err(khlang_query::users::LoginFailure::LockedOut) => {
            (StatusCode::UNAUTHORIZED, Html(login_page(msg::LOCKED_OUT, &next))).into_response()
        }
        Err(_) => (StatusCode::UNAUTHORIZED, Html(login_page(msg::WRONG_PASSWORD, &next))).into_response(),
    }
}

/// Sends a visitor who has not signed in to the sign-in page.
pub(crate) fn sign_in_first(next: &str) -> Response {
    (StatusCode::SEE_OTHER, [(axum::http::header::LOCATION, format!("/login?next={}", url_encode(next)))]).into_response()
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// Ends the web session: the token is forgotten and the cookie cleared.
async fn logout(State(st): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let prefix = format!("{}=", khlang_query::transport::api::COOKIE);
    for c in headers.get_all(axum::http::header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')) {
        if let Some(t) = c.trim().strip_prefix(&prefix)
            && let Err(e) = st.svc.revoke_token(t).await
        {
            tracing::warn!(error = %e, "cannot end the kept sign-in");
        }
    }
    (
        StatusCode::SEE_OTHER,
        [(axum::http::header::SET_COOKIE, format!("{}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0", khlang_query::transport::api::COOKIE)), (axum::http::header::LOCATION, "/login".to_string())],
    )
        .into_response()
}

/// The bundled Thai font, so pages and charts look the same as the PDF on every machine.
async fn font_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let bytes = match file.as_str() {
        "Laksaman.ttf" => fonts::REGULAR,
        "Laksaman-Bold.ttf" => fonts::BOLD,
        _ => return pages::error_page(StatusCode::NOT_FOUND, msg::NO_SUCH_FILE),
    };
    ([(axum::http::header::CONTENT_TYPE, "font/ttf"), (axum::http::header::CACHE_CONTROL, "public, max-age=604800")], bytes).into_response()
}

#[derive(Debug, serde::Deserialize)]
struct QualityParams {
    /// Student snapshot (ISO date); the latest when absent.
    snapshot: Option<String>,
    area: Option<String>,
    school: Option<String>,
    /// html (default), csv or xlsx.
    format: Option<String>,
}

/// The data-quality report for schools (`khlang quality` on the web): HTML, or a CSV / XLSX download.
async fn quality_page(State(st): State<AppState>, caller: Caller, axum::extract::Query(p): axum::extract::Query<QualityParams>) -> Response {
    let q = &st.query;
    let who = &caller.who;
    if who.role == Role::Public {
        return sign_in_first("/quality");
    }
    // A refusal or failure: the report's title over one line.
    let refused = |status: StatusCode, line: String| (status, Html(html::page(msg::QUALITY_TITLE, maud::html! { p { (line) } }).into_string())).into_response();
    let snapshot = match p.snapshot.filter(|s| !s.is_empty()) {
        Some(s) => s,
        None => {
            match q.sql("SELECT max(snapshot_date) FROM enrollments").await.ok().as_deref().and_then(scalar_string) {
                Some(s) => s,
                None => return refused(StatusCode::NOT_FOUND, msg::QUALITY_NO_STUDENTS.into()),
            }
        }
    };
    let asked = match (p.area.filter(|a| !a.is_empty()), p.school.filter(|s| !s.is_empty())) {
        (Some(a), _) => quality::Scope::Area(a),
        (None, Some(s)) => quality::Scope::School(s),
        (None, None) => quality::Scope::All,
    };
    // The report can be no wider than the user's own scope.
    let scope = match (&who.scope, asked) {
        (Scope::National, asked) => asked,
        (Scope::Area(mine), quality::Scope::All) => quality::Scope::Area(mine.clone()),
        (Scope::Area(mine), quality::Scope::Area(a)) if &a == mine => quality::Scope::Area(a),
        (Scope::School { school, .. }, quality::Scope::All) => quality::Scope::School(school.clone()),
        (Scope::School { school, .. }, quality::Scope::School(s)) if &s == school => quality::Scope::School(s),
        (Scope::Area(_), quality::Scope::School(s)) if st.svc.school_area(&s).await.as_deref() == who.area() => quality::Scope::School(s),
        _ => return refused(StatusCode::FORBIDDEN, msg::QUALITY_FORBIDDEN.into()),
    };
    st.svc.audit.record(khlang_query::audit::Event::new(who, khlang_query::audit::Action::Report, format!("quality {snapshot} {scope:?}"), caller.client.clone()));
    let report = match quality::build(q, who, &snapshot, scope).await {
        Ok(r) => r,
        Err(e @ quality::ReportError::Setting { .. }) => return refused(StatusCode::NOT_FOUND, format!("{}: {e}", msg::QUALITY_NOT_FOUND)),
        Err(e) => {
            tracing::error!(error = %e, "quality report failed");
            return refused(StatusCode::INTERNAL_SERVER_ERROR, msg::QUALITY_FAILED.into());
        }
    };
    let download = |bytes: Result<Vec<u8>, quality::ReportError>, mime: &'static str, ext: &str| -> Response {
        match bytes {
            Ok(b) => (
                StatusCode::OK,
                [
                    (axum::http::header::CONTENT_TYPE, mime.to_string()),
                    (axum::http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"quality_{}.{ext}\"", report.snapshot)),
                ],
                b,
            )
                .into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    };
    match p.format.as_deref().unwrap_or("html") {
        "csv" => download(report.csv(), "text/csv; charset=utf-8", "csv"),
        "xlsx" => download(report.xlsx(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
        "html" => {
            // The reporting calendar's deadlines for this snapshot, for the reader's own schools.
            let deadlines: Vec<_> = khlang_query::calendar::Calendar::new(st.svc.q.warehouse().clone())
                .list()
                .await
                .unwrap_or_default()
                .into_iter()
                .filter(|d| d.feed == "students" && d.period == report.snapshot)
                .collect();
            let table = if deadlines.is_empty() { maud::Markup::default() } else { calendar::deadlines_table(&st, who, &deadlines, calendar::today()).await };
            (StatusCode::OK, Html(report.html_with(table))).into_response()
        }
        other => (StatusCode::BAD_REQUEST, format!("format '{other}' is not html, csv or xlsx")).into_response(),
    }
}

/// A page of its own with `title` over `body` and the given status.
fn titled(status: StatusCode, title: &str, body: maud::Markup) -> Response {
    (status, Html(html::page(title, body).into_string())).into_response()
}

/// The saved queries a signed-in user can run: their own and those shared with their area.
async fn saved_list(State(st): State<AppState>, caller: Caller) -> Response {
    if caller.who.role == Role::Public {
        return sign_in_first("/saved");
    }
    let list = match khlang_query::saved::SavedQueries::new(st.svc.q.warehouse().clone()).list(&caller.who).await {
        Ok(l) => l,
        Err(e) => return titled(StatusCode::INTERNAL_SERVER_ERROR, msg::NAV_SAVED, maud::html! { p { (e) } }),
    };
    let body = maud::html! {
        @if list.is_empty() {
            p { (msg::SAVED_NONE) " " code { "POST /api/saved" } }
        } @else {
            table {
                thead { tr { th { (msg::SAVED_NAME) } th { (msg::SAVED_BY) } th { (msg::SAVED_SHARED) } th { "SQL" } th { (msg::SAVED_DOWNLOAD) } } }
                tbody {
                    @for q in &list {
                        @let link = url_encode(&q.name);
                        tr {
                            td { a href={ "/saved/" (link) } { (q.name) } }
                            td { (q.owner) }
                            td { (if q.shared { msg::SAVED_AREA_WIDE } else { msg::SAVED_PRIVATE }) }
                            td { code { (q.sql) } }
                            td { (downloads(&link)) }
                        }
                    }
                }
            }
        }
    };
    titled(StatusCode::OK, msg::NAV_SAVED, body)
}

/// The links that run a saved query for download.
fn downloads(link: &str) -> maud::Markup {
    maud::html! { a href={ "/api/saved/" (link) "/run?format=csv" } { "CSV" } " · " a href={ "/api/saved/" (link) "/run?format=xlsx" } { "XLSX" } }
}

/// Rows shown on the page; the downloads hold the whole result.
const PAGE_ROWS: usize = 1000;

/// Runs a saved query with the caller's own scope and shows the result as a table.
async fn saved_run(State(st): State<AppState>, caller: Caller, axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let who = &caller.who;
    if who.role == Role::Public {
        return sign_in_first(&format!("/saved/{}", url_encode(&name)));
    }
    let title = format!("{}: {name}", msg::NAV_SAVED);
    let q = match khlang_query::saved::SavedQueries::new(st.svc.q.warehouse().clone()).find(who, &name).await {
        Ok(Some(q)) => q,
        Ok(None) => return titled(StatusCode::NOT_FOUND, &title, maud::html! { p { (msg::SAVED_NO_SUCH) } }),
        Err(e) => return titled(StatusCode::INTERNAL_SERVER_ERROR, &title, maud::html! { (e) }),
    };
    let sql = q.audited_sql();
    let read = async {
        let mut run = st.svc.begin(who, &caller.client, &sql, RunOptions::new(Action::Query)).await?;
        let ctx = st.svc.q.session_for(who).await?;
        let df = run.plan(&ctx, &sql).await?.limit(0, Some(PAGE_ROWS))?;
        run.collect(df).await
    };
    let result = match read.await {
        Ok(batches) => table::Table::of_result("saved_result", &q.name, &batches),
        Err(e) => Err(report::ReportError::Query(e.to_string())),
    };
    match result {
        Ok(t) => {
            let body = maud::html! {
                p { code { (q.sql) } }
                p { (downloads(&url_encode(&name))) }
                @if t.columns.is_empty() { p { (msg::NO_ROWS) } } @else { (html::table(&t)) }
            };
            titled(StatusCode::OK, &title, body)
        }
        Err(e) => titled(StatusCode::BAD_REQUEST, &title, maud::html! { p.error { (e) } }),
    }
}
