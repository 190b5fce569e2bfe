//! The SQL service shared by the wire protocol, the HTTP API and the web pages: the query service,
//! the users, the audit log, the cap on heavy queries and the web sign-in tokens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::access::Principal;
use crate::audit::{Action, Audit, Event};
use crate::users::{LoginFailure, Users};
use crate::{QueryError, QueryService};

/// How long a sign-in token stays valid.
const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);

#[derive(Debug, Clone)]
pub struct SqlService {
    pub q: QueryService,
    pub users: Users,
    pub audit: Audit,
    heavy: Arc<Semaphore>,
    tokens: Arc<Mutex<HashMap<String, (Principal, Instant)>>>,
}

impl SqlService {
    pub fn new(q: QueryService, audit: Audit) -> Self {
        let users = Users::new(q.warehouse().clone());
        let heavy = Arc::new(Semaphore::new(q.limits().max_concurrent.max(1)));
        SqlService { q, users, audit, heavy, tokens: Arc::new(Mutex::new(HashMap::new())) }
    }

    /// The area a school belongs to, from the latest published `schools`.
    pub async fn school_area(&self, school: &str) -> Option<String> {
        let b = self.q.sql(&format!("SELECT area_code FROM schools WHERE school_code = '{}'", school.replace('\'', "''"))).await.ok()?;
        crate::scalar_string(&b)
    }

    /// Checks a user's password and records the attempt either way.
    pub async fn login(&self, user: &str, password: &str, client: &str, channel: &str) -> Result<Principal, LoginFailure> {
        match self.users.check(user, password).await {
            Ok(Ok(u)) => {
                if u.scram.is_none() {
                    // A user made by an older Khlang: keep a SCRAM verifier now that the password is at hand.
                    if let Err(e) = self.users.add_scram(&u.name, password).await {
                        tracing::warn!(user, error = %e, "cannot store the user's SCRAM verifier");
                    }
                }
                self.admit(u, client, channel).await
            }
            Ok(Err(why)) => {
                self.refused(user, why, client, channel);
                Err(why)
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the user list");
                self.refused(user, LoginFailure::UnknownUser, client, channel);
                Err(LoginFailure::UnknownUser)
            }
        }
    }

    /// A user whose password was checked: who they are now (a school user's area comes from the
    /// warehouse), with the sign-in recorded.
    pub async fn admit(&self, u: crate::users::User, client: &str, channel: &str) -> Result<Principal, LoginFailure> {
        let area = match &u.school {
            Some(s) => self.school_area(s).await,
            None => None,
        };
        match crate::users::principal(&u, area) {
            Ok(who) => {
                self.audit.record(Event::new(&who, Action::Login, channel, client));
                Ok(who)
            }
            Err(why) => {
                self.refused(&u.name, why, client, channel);
                Err(why)
            }
        }
    }

    /// Records a refused sign-in, with the reason the client is not told.
    pub fn refused(&self, user: &str, why: LoginFailure, client: &str, channel: &str) {
        tracing::warn!(user, client, reason = why.reason(), "sign-in refused");
        let mut e = Event::new(&Principal::public(), Action::LoginFailed, format!("{channel}: {}", why.reason()), client);
        e.user = user.to_string();
        self.audit.record(e);
    }

    /// A new sign-in token for `who` (HTTP bearer token and web session cookie).
    pub fn issue_token(&self, who: Principal) -> String {
        let mut bytes = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut bytes);
        let token = hex::encode(bytes);
        if let Ok(mut t) = self.tokens.lock() {
            let now = Instant::now();
            t.retain(|_, (_, at)| now.duration_since(*at) < TOKEN_LIFETIME);
            t.insert(token.clone(), (who, now));
        }
        token
    }

    pub fn principal_of_token(&self, token: &str) -> Option<Principal> {
        let t = self.tokens.lock().ok()?;
        let (who, at) = t.get(token)?;
        (at.elapsed() < TOKEN_LIFETIME).then(|| who.clone())
    }

    pub fn revoke_token(&self, token: &str) {
        if let Ok(mut t) = self.tokens.lock() {
            t.remove(token);
        }
    }

    /// A place among the heavy queries allowed to run at once, waiting for one up to the time limit.
    pub async fn heavy_permit(&self) -> Result<OwnedSemaphorePermit, QueryError> {
        let limit = self.q.limits().max_concurrent;
        let wait = self.q.limits().queue_wait;
        match tokio::time::timeout(wait, self.heavy.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(p),
            _ => Err(QueryError::Limit(format!(
                "{limit} heavy queries are already running, the most allowed at once (setting max_concurrent_queries = {limit}), and none finished within {} s; try again shortly",
                wait.as_secs()
            ))),
        }
    }

    pub fn timeout_message(&self) -> String {
        let t = self.q.limits().timeout.as_secs();
        format!("the query ran longer than the time limit of {t} s (setting query_timeout_seconds = {t}) and was stopped")
    }

    /// Rewrites an engine error about a limit into one that names the limit and its value.
    pub fn explain_error(&self, message: &str) -> String {
        if message.contains("Resources exhausted") {
            let mib = self.q.limits().memory_bytes >> 20;
            return format!(
                "the query needs more memory than the per-query budget of {mib} MiB (setting query_memory_mb = {mib}), even after spilling to disk; narrow it with WHERE or aggregate first"
            );
        }
        message.to_string()
    }
}
