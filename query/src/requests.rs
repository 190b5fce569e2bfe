//! Access requests (แบบคำร้องขอเข้าถึงข้อมูลสารสนเทศ): someone without an account, or with too narrow
//! a scope, asks for data; an admin grants (creating or widening the user, with an end date) or
//! refuses with a reason. A new user sets their own password through a one-time link. Kept in
//! `_khlang/access_requests.json`; every request and decision is audited.

use chrono::{DateTime, NaiveDate, Utc};
use khlang_warehouse::Warehouse;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::QueryError;
use crate::access::{Principal, Role};
use crate::audit::{Action, Event};
use crate::service::SqlService;

const DOC: &str = "access_requests.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Pending,
    Granted,
    Refused,
}

/// What the requester filled in.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Form {
    pub full_name: String,
    pub position: String,
    pub agency: String,
    /// The user name wanted (an existing user's, to widen their scope).
    pub user_name: String,
    /// Which data: tables or reports.
    pub data: String,
    /// analyst, director or school.
    pub role: String,
    pub area: Option<String>,
    pub school: Option<String>,
    pub purpose: String,
    pub from: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Request {
    pub id: u32,
    pub form: Form,
    pub filed_at: DateTime<Utc>,
    pub filed_from: String,
    pub state: State,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    /// The last day of the grant.
    pub expires: Option<NaiveDate>,
    /// SHA-256 of the one-time link's token for a new user to set their password; cleared when used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_token_sha256: Option<String>,
}

fn bad(m: impl Into<String>) -> QueryError {
    QueryError::User(m.into())
}

fn digest(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

fn required(what: &str, v: &str) -> Result<(), QueryError> {
    if v.trim().is_empty() { Err(bad(format!("the request needs {what}"))) } else { Ok(()) }
}

#[derive(Debug, Clone)]
pub struct Requests {
    wh: Warehouse,
}

impl Requests {
    pub fn new(wh: Warehouse) -> Self {
        Self { wh }
    }

    pub async fn list(&self) -> Result<Vec<Request>, QueryError> {
        Ok(self.wh.read_json_doc(DOC).await?.unwrap_or_default())
    }

    async fn change<T>(&self, f: impl FnMut(&mut Vec<Request>) -> Result<T, QueryError>) -> Result<T, QueryError> {
        crate::change_doc(&self.wh, DOC, f).await
    }
}

impl SqlService {
    pub fn requests(&self) -> Requests {
        Requests::new(self.q.warehouse().clone())
    }

    /// Files a request (anyone, signed in or not); audited.
    pub async fn file_request(&self, form: Form, client: &str) -> Result<Request, QueryError> {
        for (what, v) in [("a full name", &form.full_name), ("a position", &form.position), ("an agency", &form.agency), ("a user name", &form.user_name), ("which data", &form.data), ("a purpose", &form.purpose)] {
            required(what, v)?;
        }
        let role = Role::parse(&form.role).filter(|r| matches!(r, Role::Analyst | Role::Director | Role::School)).ok_or_else(|| bad(format!("role '{}' is not analyst, director or school", form.role)))?;
        if role == Role::School && form.school.as_deref().is_none_or(str::is_empty) {
            return Err(bad("a school's access needs its 10-digit school code"));
        }
        if role == Role::Director && form.area.as_deref().is_none_or(str::is_empty) {
            return Err(bad("a director's access needs the 8-digit area code"));
        }
        if let (Some(a), Some(b)) = (form.from, form.until)
            && b < a
        {
            return Err(bad("the period ends before it starts"));
        }
        let r = self
            .requests()
            .change(|all| {
                let id = all.iter().map(|r| r.id).max().unwrap_or(0) + 1;
                let r = Request {
                    id,
                    form: form.clone(),
                    filed_at: Utc::now(),
                    filed_from: client.to_string(),
                    state: State::Pending,
                    decided_by: None,
                    decided_at: None,
                    reason: None,
                    expires: None,
                    setup_token_sha256: None,
                };
                all.push(r.clone());
                Ok(r)
            })
            .await?;
        let mut e = Event::new(&Principal::public(), Action::AccessRequest, format!("request {} by {} ({}) for {} as {}", r.id, r.form.full_name, r.form.agency, r.form.user_name, r.form.role), client);
        e.user = r.form.user_name.clone();
        self.audit.record(e);
        Ok(r)
    }

    /// Grants request `id` (admins): creates or widens the user until `expires`. For a new user,
    /// returns the one-time token of the link through which they set their password.
    pub async fn grant_request(&self, who: &Principal, id: u32, expires: NaiveDate, client: &str) -> Result<(Request, Option<String>), QueryError> {
        if !who.is_admin() {
            return Err(bad("only an admin may grant access requests"));
        }
        if expires < khlang_warehouse::office::today() {
            return Err(bad(format!("the grant would end on {expires}, before today")));
        }
        let pending = self.requests().list().await?.into_iter().find(|r| r.id == id).ok_or_else(|| bad(format!("there is no access request {id}")))?;
        if pending.state != State::Pending {
            return Err(bad(format!("access request {id} was already decided")));
        }
        let f = &pending.form;
        let role = Role::parse(&f.role).ok_or_else(|| bad(format!("role '{}' is not known", f.role)))?;
        let area = f.area.as_deref().filter(|a| !a.is_empty() && role != Role::School);
        let school = f.school.as_deref().filter(|s| !s.is_empty() && role == Role::School);
        let (_, created) = self.users.grant(f.user_name.trim(), role, area, school, Some(expires)).await?;
        let token = created.then(|| {
            let mut bytes = [0u8; 32];
            rand::Rng::fill(&mut rand::rng(), &mut bytes);
            hex::encode(bytes)
        });
        let hashed = token.as_deref().map(digest);
        let r = self
            .requests()
            .change(|all| {
                let r = all.iter_mut().find(|r| r.id == id).ok_or_else(|| bad(format!("there is no access request {id}")))?;
                r.state = State::Granted;
                r.decided_by = Some(who.user.clone());
                r.decided_at = Some(Utc::now());
                r.expires = Some(expires);
                r.setup_token_sha256 = hashed.clone();
                Ok(r.clone())
            })
            .await?;
        self.audit.record(Event::new(who, Action::AccessGrant, format!("request {id} granted: {} as {} until {expires}", r.form.user_name, r.form.role), client));
        Ok((r, token))
    }

    /// Refuses request `id` with a reason (admins); no account is made.
    pub async fn refuse_request(&self, who: &Principal, id: u32, reason: &str, client: &str) -> Result<Request, QueryError> {
        if !who.is_admin() {
            return Err(bad("only an admin may refuse access requests"));
        }
        required("a reason to refuse it", reason)?;
        let r = self
            .requests()
            .change(|all| {
                let r = all.iter_mut().find(|r| r.id == id).ok_or_else(|| bad(format!("there is no access request {id}")))?;
                if r.state != State::Pending {
                    return Err(bad(format!("access request {id} was already decided")));
                }
                r.state = State::Refused;
                r.decided_by = Some(who.user.clone());
                r.decided_at = Some(Utc::now());
                r.reason = Some(reason.trim().to_string());
                Ok(r.clone())
            })
            .await?;
        self.audit.record(Event::new(who, Action::AccessRefuse, format!("request {id} refused: {}", reason.trim()), client));
        Ok(r)
    }

    /// A new user sets their password through the grant's one-time link.
    pub async fn set_password_by_token(&self, token: &str, password: &str, client: &str) -> Result<String, QueryError> {
        let hashed = digest(token);
        let all = self.requests().list().await?;
        let r = all.iter().find(|r| r.setup_token_sha256.as_deref() == Some(hashed.as_str())).ok_or_else(|| bad("this link is not valid or was already used"))?;
        let name = r.form.user_name.trim().to_string();
        self.users.set_password(&name, password).await?;
        let id = r.id;
        self.requests()
            .change(|all| {
                if let Some(r) = all.iter_mut().find(|r| r.id == id) {
                    r.setup_token_sha256 = None;
                }
                Ok(())
            })
            .await?;
        let mut e = Event::new(&Principal::public(), Action::AccessGrant, format!("request {id}: password set by the new user"), client);
        e.user = name.clone();
        self.audit.record(e);
        Ok(name)
    }
}
