//! Users of the warehouse: name, role, scope and an argon2 password hash, kept in
//! `_khlang/users.json` beside the tables.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use khlang_warehouse::Warehouse;
use serde::{Deserialize, Serialize};

use crate::QueryError;
use crate::access::{Principal, Role, Scope};

const DOC: &str = "users.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school: Option<String>,
    pub password_hash: String,
    /// The SCRAM-SHA-256 verifier for sign-in over the wire (PostgreSQL's format); absent for
    /// users made before Khlang spoke SCRAM, until their next password sign-in on the web.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scram: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The last day (Thai time) the user may sign in; `None`: no end. Set by an access grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<chrono::NaiveDate>,
}

/// Why a sign-in failed. The client is told only "password authentication failed"; the log and the
/// audit record get the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginFailure {
    UnknownUser,
    WrongPassword,
    /// A school user whose school is no longer in the warehouse.
    NoScope,
    /// A user whose access grant has ended.
    Expired,
    /// Too many wrong passwords in a row: the account waits a while before it may sign in again.
    LockedOut,
}

impl LoginFailure {
    pub fn reason(self) -> &'static str {
        match self {
            LoginFailure::UnknownUser => "unknown user",
            LoginFailure::WrongPassword => "wrong password",
            LoginFailure::NoScope => "the user's school is not in the warehouse",
            LoginFailure::Expired => "the user's access has expired",
            LoginFailure::LockedOut => "the account is locked for a while after repeated wrong passwords",
        }
    }
}

fn bad(message: impl Into<String>) -> QueryError {
    QueryError::User(message.into())
}

pub fn hash_password(password: &str) -> Result<String, QueryError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| bad(format!("cannot hash the password: {e}")))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// The users of one warehouse.
#[derive(Debug, Clone)]
pub struct Users {
    wh: Warehouse,
}

impl Users {
    pub fn new(wh: Warehouse) -> Self {
        Self { wh }
    }

    pub async fn list(&self) -> Result<Vec<User>, QueryError> {
        Ok(self.wh.read_json_doc(DOC).await?.unwrap_or_default())
    }

    /// Changes the user list with `f`, keeping every other writer's change made meanwhile.
    async fn change<R>(&self, f: impl FnMut(&mut Vec<User>) -> Result<R, QueryError>) -> Result<R, QueryError> {
        crate::change_doc(&self.wh, DOC, f).await
    }

    pub async fn get(&self, name: &str) -> Result<Option<User>, QueryError> {
        Ok(self.list().await?.into_iter().find(|u| u.name == name))
    }

    /// Adds a user, or replaces one of the same name (a password reset or a move).
    pub async fn add(&self, name: &str, role: Role, area: Option<&str>, school: Option<&str>, password: &str) -> Result<User, QueryError> {
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '@')) {
            return Err(bad(format!("user name {name:?} must be letters, digits, '_', '-', '.' or '@'")));
        }
        if password.chars().count() < 8 {
            return Err(bad("the password must be at least 8 characters"));
        }
        let (area, school) = match role {
            Role::Public => return Err(bad("public is the anonymous role; it has no users")),
            Role::Admin => {
                if area.is_some() || school.is_some() {
                    return Err(bad("an admin sees everything; --area and --school do not apply"));
                }
                (None, None)
            }
            Role::Analyst => {
                if school.is_some() {
                    return Err(bad("an analyst is national or limited to one --area; --school does not apply"));
                }
                (area, None)
            }
            Role::Director => match (area, school) {
                (Some(a), None) => (Some(a), None),
                _ => return Err(bad("a director needs --area CODE (and no --school)")),
            },
            Role::School => match school {
                Some(s) => (None, Some(s)),
                None => return Err(bad("a school user needs --school CODE")),
            },
        };
        let user = User {
            name: name.to_string(),
            role,
            area: area.map(str::to_string),
            school: school.map(str::to_string),
            password_hash: hash_password(password)?,
            scram: Some(crate::scram::Verifier::new(password).encode()),
            created_at: chrono::Utc::now(),
            expires: None,
        };
        self.change(|users| {
            users.retain(|u| u.name != name);
            users.push(user.clone());
            users.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(())
        })
        .await?;
        Ok(user)
    }

    /// Gives `name` a role and scope until `expires` (an access grant): a new user gets a password
    /// nobody knows, to be set through the grant's one-time link; an existing user keeps theirs.
    pub async fn grant(&self, name: &str, role: Role, area: Option<&str>, school: Option<&str>, expires: Option<chrono::NaiveDate>) -> Result<(User, bool), QueryError> {
        let existing = self.get(name).await?;
        let password = match &existing {
            Some(_) => None,
            None => {
                let mut bytes = [0u8; 24];
                rand::Rng::fill(&mut rand::rng(), &mut bytes);
                Some(hex::encode(bytes))
            }
        };
        // The checks of `add` (name, role and scope) apply to a grant too.
        let added = self.add(name, role, area, school, password.as_deref().unwrap_or("unchanged-placeholder")).await?;
        let user = self
            .change(|users| {
                let Some(u) = users.iter_mut().find(|u| u.name == name) else { return Ok(added.clone()) };
                if let Some(old) = &existing {
                    u.password_hash = old.password_hash.clone();
                    u.scram = old.scram.clone();
                    u.created_at = old.created_at;
                }
                u.expires = expires;
                Ok(u.clone())
            })
            .await?;
        Ok((user, existing.is_none()))
    }

    /// Sets a user's own password (the one-time link of a grant).
    pub async fn set_password(&self, name: &str, password: &str) -> Result<(), QueryError> {
        if password.chars().count() < 8 {
            return Err(bad("the password must be at least 8 characters"));
        }
        let (hash, scram) = (hash_password(password)?, crate::scram::Verifier::new(password).encode());
        self.change(|users| {
            let u = users.iter_mut().find(|u| u.name == name).ok_or_else(|| bad(format!("there is no user named {name}")))?;
            u.password_hash = hash.clone();
            u.scram = Some(scram.clone());
            Ok(())
        })
        .await
    }

    /// Sets or clears the last day a user may sign in.
    pub async fn set_expiry(&self, name: &str, expires: Option<chrono::NaiveDate>) -> Result<(), QueryError> {
        self.change(|users| {
            let u = users.iter_mut().find(|u| u.name == name).ok_or_else(|| bad(format!("there is no user named {name}")))?;
            u.expires = expires;
            Ok(())
        })
        .await
    }

    /// Stores the SCRAM verifier of a user's (checked) password.
    pub async fn add_scram(&self, name: &str, password: &str) -> Result<(), QueryError> {
        let scram = crate::scram::Verifier::new(password).encode();
        self.change(|users| {
            if let Some(u) = users.iter_mut().find(|u| u.name == name) {
                u.scram = Some(scram.clone());
            }
            Ok(())
        })
        .await
    }

    /// Removes a user; false when there was none of that name.
    pub async fn remove(&self, name: &str) -> Result<bool, QueryError> {
        self.change(|users| {
            let before = users.len();
            users.retain(|u| u.name != name);
            Ok(users.len() < before)
        })
        .await
    }

    /// Checks a password and returns the user. Argon2 is deliberately slow, so the check runs on a
    /// blocking thread.
    pub async fn check(&self, name: &str, password: &str) -> Result<Result<User, LoginFailure>, QueryError> {
        let Some(user) = self.get(name).await? else {
            // Spend the same time as a real check, so timing does not tell which names exist.
            let _ = tokio::task::spawn_blocking(|| verify_password("", DUMMY_HASH)).await;
            return Ok(Err(LoginFailure::UnknownUser));
        };
        let (pw, hash) = (password.to_string(), user.password_hash.clone());
        let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &hash)).await.unwrap_or(false);
        Ok(if ok { Ok(user) } else { Err(LoginFailure::WrongPassword) })
    }
}

/// Who a user is when signed in; a school user's area comes from the warehouse (`school_area`).
pub fn principal(user: &User, school_area: Option<String>) -> Result<Principal, LoginFailure> {
    if user.expires.is_some_and(|last| last < khlang_warehouse::office::today()) {
        return Err(LoginFailure::Expired);
    }
    let scope = match (user.role, &user.area, &user.school) {
        (Role::School, _, Some(school)) => match school_area {
            Some(area) => Scope::School { school: school.clone(), area },
            None => return Err(LoginFailure::NoScope),
        },
        (Role::Director | Role::Analyst, Some(area), _) => Scope::Area(area.clone()),
        _ => Scope::National,
    };
    Ok(Principal { user: user.name.clone(), role: user.role, scope })
}

/// An argon2 hash of a random password, for constant-time refusal of unknown users.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0j4yPp3cT7nnmJYtAGgWDLXcXhcLkiXS1SXkWTdE7xE";
