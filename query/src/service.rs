//! The SQL service shared by the wire protocol, the HTTP API and the web pages: the query service,
//! the users, the audit log, the cap on heavy queries and the web sign-in tokens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use tokio::sync::Semaphore;

use crate::access::Principal;
use crate::audit::{Action, Audit, Event};
use crate::users::{LoginFailure, Users};
use crate::{QueryError, QueryService};

/// How long a sign-in token stays valid.
const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// The sign-ins in force, kept beside the users so they survive a restart and reach every server of
/// the warehouse: each token's SHA-256 (never the token), its user and when it ends.
const SESSIONS: &str = "sessions.json";

/// Wrong passwords in a row (within `LOCKOUT`) that lock an account, and for how long.
pub const MAX_WRONG_PASSWORDS: u32 = 5;
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct KeptSession {
    token_sha256: String,
    user: String,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// Wrong passwords of one account: how many since the first, and until when it is locked.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    first: Instant,
    locked_until: Option<Instant>,
}

/// A sign-in already resolved: who, and when it ends.
type Signed = (Principal, DateTime<Utc>);

fn token_digest(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

#[derive(Debug, Clone)]
pub struct SqlService {
    pub q: QueryService,
    pub users: Users,
    pub audit: Audit,
    /// Places among the heavy queries (`max_concurrent_queries`), taken by [`crate::run::Run`].
    pub(crate) heavy: Arc<Semaphore>,
    /// Sign-ins already resolved, by token: who, and when the sign-in ends.
    tokens: Arc<Mutex<HashMap<String, Signed>>>,
    failures: Arc<Mutex<HashMap<String, Failures>>>,
}

impl SqlService {
    pub fn new(q: QueryService, audit: Audit) -> Self {
        let users = Users::new(q.warehouse().clone());
        let heavy = Arc::new(Semaphore::new(q.limits().max_concurrent.max(1)));
        SqlService { q, users, audit, heavy, tokens: Arc::default(), failures: Arc::default() }
    }

    /// The area a school belongs to, from the latest published `schools`.
    pub async fn school_area(&self, school: &str) -> Option<String> {
        let b = self.q.sql(&format!("SELECT area_code FROM schools WHERE school_code = {}", khlang_warehouse::office::sql_literal(school))).await.ok()?;
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
        if self.locked(&u.name) {
            self.refused(&u.name, LoginFailure::LockedOut, client, channel);
            return Err(LoginFailure::LockedOut);
        }
        if let Ok(mut f) = self.failures.lock() {
            f.remove(&u.name);
        }
        match self.principal_now(&u).await {
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

    /// Who `u` is now: a school user's area is the one the latest published `schools` gives.
    async fn principal_now(&self, u: &crate::users::User) -> Result<Principal, LoginFailure> {
        let area = match &u.school {
            Some(s) => self.school_area(s).await,
            None => None,
        };
        crate::users::principal(u, area)
    }

    /// Records a refused sign-in, with the reason the client is not told. The
    /// `MAX_WRONG_PASSWORDS`th wrong password in a row within `LOCKOUT` locks the account for
    /// `LOCKOUT`, and that is recorded too.
    pub fn refused(&self, user: &str, why: LoginFailure, client: &str, channel: &str) {
        tracing::warn!(user, client, reason = why.reason(), "sign-in refused");
        let mut e = Event::new(&Principal::public(), Action::LoginFailed, format!("{channel}: {}", why.reason()), client);
        e.user = user.to_string();
        self.audit.record(e);
        if why != LoginFailure::WrongPassword {
            return;
        }
        let locked = match self.failures.lock() {
            Ok(mut all) => {
                let now = Instant::now();
                let f = all.entry(user.to_string()).or_insert(Failures { count: 0, first: now, locked_until: None });
                if now.duration_since(f.first) > LOCKOUT {
                    *f = Failures { count: 0, first: now, locked_until: None };
                }
                f.count += 1;
                let lock = f.count == MAX_WRONG_PASSWORDS;
                if lock {
                    f.locked_until = Some(now + LOCKOUT);
                }
                lock
            }
            Err(_) => false,
        };
        if locked {
            let minutes = LOCKOUT.as_secs() / 60;
            tracing::warn!(user, client, "account locked for {minutes} minutes after {MAX_WRONG_PASSWORDS} wrong passwords");
            let mut e = Event::new(&Principal::public(), Action::LoginFailed, format!("{channel}: account locked for {minutes} minutes after {MAX_WRONG_PASSWORDS} wrong passwords"), client);
            e.user = user.to_string();
            self.audit.record(e);
        }
    }

    /// Whether `user` is locked out now after wrong passwords.
    fn locked(&self, user: &str) -> bool {
        self.failures.lock().ok().and_then(|f| f.get(user).and_then(|f| f.locked_until)).is_some_and(|until| Instant::now() < until)
    }

    /// A new sign-in token for `who` (HTTP bearer token and web session cookie), kept in the
    /// warehouse so it outlives a restart of the server.
    pub async fn issue_token(&self, who: Principal) -> Result<String, QueryError> {
        let mut bytes = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut bytes);
        let token = hex::encode(bytes);
        let now = Utc::now();
        let expires_at = now + TOKEN_LIFETIME;
        let kept = KeptSession { token_sha256: token_digest(&token), user: who.user.clone(), issued_at: now, expires_at };
        crate::change_doc(self.q.warehouse(), SESSIONS, |all: &mut Vec<KeptSession>| {
            all.retain(|s| s.expires_at > now);
            all.push(kept.clone());
            Ok(())
        })
        .await?;
        if let Ok(mut t) = self.tokens.lock() {
            t.retain(|_, (_, until)| *until > now);
            t.insert(token.clone(), (who, expires_at));
        }
        Ok(token)
    }

    /// Who signed in with `token`, while the sign-in lasts. A token this server has not seen (it
    /// restarted, or another server of the warehouse signed the user in) is looked up among the kept
    /// sign-ins, and its user read again: a removed user, or one whose access has ended, is signed out.
    pub async fn principal_of_token(&self, token: &str) -> Option<Principal> {
        let now = Utc::now();
        if let Some((who, until)) = self.tokens.lock().ok()?.get(token).cloned() {
            return (until > now).then_some(who);
        }
        let digest = token_digest(token);
        let kept: Vec<KeptSession> = self.q.warehouse().read_json_doc(SESSIONS).await.ok()??;
        let s = kept.into_iter().find(|s| s.token_sha256 == digest && s.expires_at > now)?;
        let u = self.users.get(&s.user).await.ok()??;
        let who = self.principal_now(&u).await.ok()?;
        if let Ok(mut t) = self.tokens.lock() {
            t.insert(token.to_string(), (who.clone(), s.expires_at));
        }
        Some(who)
    }

    /// Ends the sign-in of `token` (sign-out), here and in the kept sign-ins.
    pub async fn revoke_token(&self, token: &str) -> Result<(), QueryError> {
        if let Ok(mut t) = self.tokens.lock() {
            t.remove(token);
        }
        let digest = token_digest(token);
        let now = Utc::now();
        crate::change_doc(self.q.warehouse(), SESSIONS, |all: &mut Vec<KeptSession>| {
            all.retain(|s| s.token_sha256 != digest && s.expires_at > now);
            Ok(())
        })
        .await
    }
}
