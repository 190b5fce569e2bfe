//! The HTTP SQL API: sign in, run SQL with the result in the format asked for (streamed), list the
//! tables, keep saved queries. Mounted by the web app under `/api`.

use std::net::SocketAddr;


use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt as _;
use serde::Deserialize;
use serde_json::json;

use crate::access::Principal;
use crate::audit::Action;
use crate::export::{Encoder, ExportFormat};
use crate::saved::SavedQueries;
use crate::service::SqlService;
use crate::QueryError;
use crate::run::RunOptions;

pub const COOKIE: &str = "khlang_session";

/// A JSON error with a status.
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        ApiError(status_of(&e), e.to_string())
    }
}

/// The HTTP status of each kind of failure.
fn status_of(e: &QueryError) -> StatusCode {
    match e {
        QueryError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
        QueryError::Timeout { .. } | QueryError::Memory { .. } | QueryError::Cancelled => StatusCode::UNPROCESSABLE_ENTITY,
        QueryError::Warehouse(_) | QueryError::Internal(_) | QueryError::Tls(_) | QueryError::Format { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        QueryError::Cluster(_) => StatusCode::BAD_GATEWAY,
        QueryError::Sql(_) | QueryError::ReadOnly(_) | QueryError::User(_) => StatusCode::BAD_REQUEST,
    }
}

/// Who is calling: a bearer token, the web session cookie, or nobody (the public).
#[derive(Debug, Clone)]
pub struct Caller {
    pub who: Principal,
    pub client: String,
}

fn token_of(headers: &HeaderMap) -> Option<String> {
    if let Some(t) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")) {
        return Some(t.trim().to_string());
    }
    let cookies = headers.get_all(header::COOKIE);
    cookies.iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| c.trim().strip_prefix(&format!("{COOKIE}=")).map(str::to_string))
}

impl<S> FromRequestParts<S> for Caller
where
    SqlService: axum::extract::FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let svc = &<SqlService as axum::extract::FromRef<S>>::from_ref(state);
        let client = parts.extensions.get::<ConnectInfo<SocketAddr>>().map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string());
        let who = match token_of(&parts.headers) {
            None => Principal::public(),
            Some(t) => svc
                .principal_of_token(&t)
                .await
                .ok_or_else(|| ApiError(StatusCode::UNAUTHORIZED, "the sign-in token is unknown or expired; sign in again with POST /api/login".into()))?,
        };
        Ok(Caller { who, client })
    }
}

#[derive(Deserialize)]
struct Login {
    user: String,
    password: String,
}

async fn login(State(svc): State<SqlService>, ConnectInfo(addr): ConnectInfo<SocketAddr>, Json(l): Json<Login>) -> Result<Response, ApiError> {
    let who = svc
        .login(&l.user, &l.password, &addr.ip().to_string(), "http")
        .await
        .map_err(|_| ApiError(StatusCode::UNAUTHORIZED, format!("sign-in failed for user \"{}\": unknown user or wrong password", l.user)))?;
    let token = svc.issue_token(who.clone()).await?;
    let body = Json(json!({
        "token": token,
        "user": who.user,
        "role": who.role.as_str(),
        "area": who.area(),
        "school": match &who.scope { crate::Scope::School { school, .. } => Some(school.clone()), _ => None },
    }));
    let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/");
    let mut r = body.into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}

async fn logout(State(svc): State<SqlService>, headers: HeaderMap) -> Response {
    if let Some(t) = token_of(&headers)
        && let Err(e) = svc.revoke_token(&t).await
    {
        tracing::warn!(error = %e, "cannot end the kept sign-in");
    }
    let mut r = Json(json!({ "signed_out": true })).into_response();
    r.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_static("khlang_session=; Max-Age=0; Path=/"));
    r
}

#[derive(Deserialize, Default)]
struct SqlParams {
    format: Option<String>,
    as_of: Option<String>,
}

#[derive(Deserialize)]
struct SqlBody {
    sql: String,
    #[serde(default)]
    as_of: Option<String>,
    #[serde(default)]
    format: Option<String>,
}

fn pick_format(param: Option<&str>, headers: &HeaderMap) -> Result<ExportFormat, ApiError> {
    if let Some(f) = param {
        return ExportFormat::parse(f).ok_or_else(|| ApiError(StatusCode::BAD_REQUEST, format!("format '{f}' is not one of json, csv, arrow, parquet, xlsx")));
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    Ok(ExportFormat::from_accept(accept).unwrap_or(ExportFormat::Json))
}

/// Runs `sql` for the caller and streams the result in `format`.
pub async fn run_sql(svc: &SqlService, caller: &Caller, sql: &str, format: ExportFormat, as_of: Option<&str>, filename: &str) -> Result<Response, ApiError> {
    let who = &caller.who;
    // The public reads what directors approved, never a state they did not; signed-in users read
    // the published state, or the one published at `as_of`.
    let commit = match (as_of, who.role == crate::Role::Public) {
        (Some(_), true) => return Err(ApiError(StatusCode::BAD_REQUEST, "as_of is for signed-in users: the public reads the figures approved for publishing".into())),
        (None, true) => None,
        (None, false) => Some(svc.q.warehouse().committed().await.map_err(QueryError::from)?),
        (Some(t), false) => {
            let t = crate::parse_time(t).ok_or_else(|| ApiError(StatusCode::BAD_REQUEST, format!("as_of '{t}' is not a time like 2026-06-10 17:00 (Thai time) or 2026-06-10T17:00:00+07:00")))?;
            Some(svc.q.warehouse().committed_at(t).await.map_err(QueryError::from)?)
        }
    };
    let action = if format.is_export() { Action::Export } else { Action::Query };
    let mut run = svc.begin(who, &caller.client, sql, RunOptions::new(action)).await?;
    let ctx = match commit {
        None => svc.q.approved_public_session().await?,
        Some(commit) => svc.q.session_for_commit(who, commit.as_ref()).await?,
    };
    let ctx = svc.q.for_analysts(ctx);
    let df = run.plan(&ctx, sql).await?;
    let (schema, batches) = run.execute(df).await?;
    let mut encoder = Encoder::new(format, schema).map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.to_string()))?;
    let start = encoder.start();
    // Each batch as the format's bytes, then the format's ending; an error ends the body.
    let body = futures::stream::unfold((Box::pin(batches), Some(encoder)), |(mut batches, mut encoder)| async move {
        let enc = encoder.as_mut()?;
        let bytes = match batches.next().await {
            Some(Ok(b)) => enc.batch(&b).map_err(|e| e.to_string()),
            Some(Err(e)) => {
                tracing::warn!("query failed while streaming: {e}");
                Err(e.to_string())
            }
            None => encoder.take()?.finish().map_err(|e| e.to_string()),
        };
        if bytes.is_err() {
            encoder = None;
        }
        Some((bytes.map(Bytes::from).map_err(std::io::Error::other), (batches, encoder)))
    });
    let body = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(Bytes::from(start)) }).chain(body);
    let mut r = Response::new(Body::from_stream(body));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    if format.is_export()
        && let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}.{}\"", format.extension()))
    {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

async fn sql(State(svc): State<SqlService>, caller: Caller, Query(p): Query<SqlParams>, headers: HeaderMap, body: String) -> Result<Response, ApiError> {
    let is_json = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"));
    let (text, as_of, fmt) = if is_json {
        let b: SqlBody = serde_json::from_str(&body).map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("the request body is not JSON like {{\"sql\": \"SELECT …\"}}: {e}")))?;
        (b.sql, b.as_of.or(p.as_of), b.format.or(p.format))
    } else {
        (body, p.as_of, p.format)
    };
    if text.trim().is_empty() {
        return Err(ApiError(StatusCode::BAD_REQUEST, "no SQL was sent: POST the query text, or JSON {\"sql\": \"SELECT …\"}".into()));
    }
    let format = pick_format(fmt.as_deref(), &headers)?;
    run_sql(&svc, &caller, &text, format, as_of.as_deref(), "khlang").await
}

async fn tables(State(svc): State<SqlService>, caller: Caller) -> Result<Response, ApiError> {
    let ctx = if caller.who.role == crate::Role::Public { svc.q.approved_public_session().await? } else { svc.q.session_for(&caller.who).await? };
    let b = ctx
        .sql("SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position")
        .await
        .map_err(QueryError::from)?
        .collect()
        .await
        .map_err(QueryError::from)?;
    let mut out: Vec<serde_json::Value> = Vec::new();
    for batch in &b {
        let text = |i: usize| arrow::compute::cast(batch.column(i), &arrow::datatypes::DataType::Utf8).map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()));
        let (tables, columns, types, nullable) = (text(0)?, text(1)?, text(2)?, text(3)?);
        let [tables, columns, types, nullable] = [&tables, &columns, &types, &nullable].map(|a| a.as_any().downcast_ref::<arrow::array::StringArray>());
        let (Some(tables), Some(columns), Some(types), Some(nullable)) = (tables, columns, types, nullable) else { continue };
        for r in 0..batch.num_rows() {
            let name = tables.value(r);
            let column = json!({ "name": columns.value(r), "type": types.value(r), "nullable": nullable.value(r) == "YES" });
            match out.last_mut() {
                Some(t) if t["name"] == name => {
                    if let Some(cols) = t["columns"].as_array_mut() {
                        cols.push(column);
                    }
                }
                _ => out.push(json!({ "name": name, "columns": [column] })),
            }
        }
    }
    Ok(Json(json!({ "user": caller.who.user, "role": caller.who.role.as_str(), "tables": out })).into_response())
}

#[derive(Deserialize)]
struct SaveBody {
    name: String,
    sql: String,
    #[serde(default)]
    shared: bool,
}

fn signed_in(caller: &Caller) -> Result<(), ApiError> {
    if caller.who.role == crate::Role::Public {
        return Err(ApiError(StatusCode::UNAUTHORIZED, "saved queries need a signed-in user: POST /api/login first".into()));
    }
    Ok(())
}

async fn saved_list(State(svc): State<SqlService>, caller: Caller) -> Result<Response, ApiError> {
    signed_in(&caller)?;
    let list = SavedQueries::new(svc.q.warehouse().clone()).list(&caller.who).await?;
    Ok(Json(json!({ "saved": list })).into_response())
}

async fn saved_put(State(svc): State<SqlService>, caller: Caller, Json(b): Json<SaveBody>) -> Result<Response, ApiError> {
    signed_in(&caller)?;
    let q = SavedQueries::new(svc.q.warehouse().clone()).save(&caller.who, &b.name, &b.sql, b.shared).await?;
    Ok((StatusCode::CREATED, Json(json!(q))).into_response())
}

async fn saved_delete(State(svc): State<SqlService>, caller: Caller, Path(name): Path<String>) -> Result<Response, ApiError> {
    signed_in(&caller)?;
    if SavedQueries::new(svc.q.warehouse().clone()).delete(&caller.who, &name).await? {
        Ok(Json(json!({ "deleted": name })).into_response())
    } else {
        Err(ApiError(StatusCode::NOT_FOUND, format!("you have no saved query named \"{name}\"")))
    }
}

async fn saved_run(State(svc): State<SqlService>, caller: Caller, Path(name): Path<String>, Query(p): Query<SqlParams>, headers: HeaderMap) -> Result<Response, ApiError> {
    signed_in(&caller)?;
    let q = SavedQueries::new(svc.q.warehouse().clone())
        .find(&caller.who, &name)
        .await?
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("there is no saved query named \"{name}\" that you can run")))?;
    let format = pick_format(p.format.as_deref(), &headers)?;
    // It runs with the caller's own scope, whoever saved it.
    run_sql(&svc, &caller, &q.audited_sql(), format, p.as_of.as_deref(), &name).await
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

const OPENAPI: &str = include_str!("openapi.json");

/// The `/api` routes.
pub fn router(svc: SqlService) -> Router {
    Router::new()
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/sql", post(sql))
        .route("/api/tables", get(tables))
        .route("/api/saved", get(saved_list).post(saved_put))
        .route("/api/saved/{name}", axum::routing::delete(saved_delete))
        .route("/api/saved/{name}/run", get(saved_run).post(saved_run))
        .route("/api/openapi.json", get(openapi))
        .with_state(svc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_failure_has_its_status() {
        assert_eq!(status_of(&QueryError::Busy { limit: 4, wait_seconds: 30 }), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status_of(&QueryError::Timeout { seconds: 3, by_client: false }), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(status_of(&QueryError::Memory { mib: 64 }), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(status_of(&QueryError::ReadOnly("CREATE TABLE".into())), StatusCode::BAD_REQUEST);
        assert_eq!(status_of(&datafusion::error::DataFusionError::Plan("table 'x' not found".into()).into()), StatusCode::BAD_REQUEST);
    }
}
