//! Signing in over the wire: TLS when the office requires it, SCRAM-SHA-256 (or a cleartext
//! password where configured) against Khlang's users, and the backend key a client quotes to
//! cancel its running query.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion_postgres::pgwire;
use futures::{Sink, SinkExt as _};
use pgwire::api::auth::{StartupHandler, finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata};
use pgwire::api::cancel::CancelHandler;
use pgwire::api::{ClientInfo, METADATA_USER, PgWireConnectionState, PidSecretKeyGenerator, RandomPidSecretKeyGenerator};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::startup::{Authentication, SecretKey};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use super::pg_err;
use crate::access::Principal;
use crate::run::CancelSignal;
use crate::audit::{Action, Event};
use crate::scram::{self, ScramError, Verifier};
use crate::service::SqlService;
use crate::users::{LoginFailure, User};

/// How a password travels over the wire (setting `wire_auth`, named as in `pg_hba.conf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WireAuth {
    /// SCRAM-SHA-256: the password never crosses the network.
    #[default]
    ScramSha256,
    /// The password in clear (over TLS, or for old clients on a trusted network).
    Password,
}

impl WireAuth {
    pub fn parse(s: &str) -> Option<WireAuth> {
        match s {
            "scram-sha-256" => Some(WireAuth::ScramSha256),
            "password" => Some(WireAuth::Password),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            WireAuth::ScramSha256 => "scram-sha-256",
            WireAuth::Password => "password",
        }
    }
}

/// Open connections by backend process id, for cancel requests (which come on a new connection).
#[derive(Debug, Default)]
pub struct Cancels {
    open: Mutex<HashMap<i32, (SecretKey, Arc<CancelSignal>)>>,
}

/// Removes a connection from [`Cancels`] when the connection ends.
pub struct Registration {
    pid: i32,
    cancels: Arc<Cancels>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut m) = self.cancels.open.lock() {
            m.remove(&self.pid);
        }
    }
}

impl Cancels {
    fn register(self: &Arc<Self>, pid: i32, key: SecretKey, signal: Arc<CancelSignal>) -> Registration {
        if let Ok(mut m) = self.open.lock() {
            m.insert(pid, (key, signal));
        }
        Registration { pid, cancels: self.clone() }
    }
}

#[async_trait]
impl CancelHandler for Cancels {
    async fn on_cancel_request(&self, request: CancelRequest) {
        let signal = self.open.lock().ok().and_then(|m| m.get(&request.pid).filter(|(k, _)| k.eq_value(&request.secret_key)).map(|(_, s)| s.clone()));
        match signal {
            Some(s) => {
                tracing::info!(pid = request.pid, "cancel request");
                s.cancel();
            }
            None => tracing::debug!(pid = request.pid, "cancel request for no open connection (or a wrong key)"),
        }
    }
}

/// A SCRAM exchange half done: the server's first message has been sent.
struct Pending {
    exchange: scram::Exchange,
    user: Option<User>,
}

#[derive(Default)]
struct ScramState(Mutex<Option<Pending>>);

/// Password sign-in against Khlang's users.
pub struct Startup {
    pub(super) svc: SqlService,
    pub(super) params: Arc<super::settings::Parameters>,
    pub(super) method: WireAuth,
    pub(super) tls_required: bool,
    pub(super) cancels: Arc<Cancels>,
    pub(super) keys: RandomPidSecretKeyGenerator,
}

fn client_addr<C: ClientInfo + ?Sized>(client: &C) -> String {
    client.socket_addr().ip().to_string()
}

fn failed(user: &str) -> PgWireError {
    pg_err("FATAL", "28P01", format!("password authentication failed for user \"{user}\""))
}

impl Startup {
    fn refuse<C: ClientInfo + ?Sized>(&self, client: &C, user: &str, reason: &str) {
        let mut e = Event::new(&Principal::public(), Action::LoginFailed, format!("wire: {reason}"), client_addr(client));
        e.user = user.to_string();
        self.svc.audit.record(e);
    }

    /// The sign-in succeeded: keep who it is, give the connection its cancel key, and say ready.
    async fn admit<C>(&self, client: &mut C, who: Principal) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        client.session_extensions().insert(who);
        let (pid, key) = self.keys.generate(client);
        client.set_pid_and_secret_key(pid, key.clone());
        let signal = client.session_extensions().get_or_insert_with(CancelSignal::default);
        client.session_extensions().insert(self.cancels.register(pid, key, signal));
        finish_authentication(client, self.params.as_ref()).await
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                let user = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
                if user.is_empty() {
                    self.refuse(client, "", "no user name in the startup packet");
                    return Err(pg_err("FATAL", "28000", "no user name was given; connect with a Khlang user name (psql -U NAME)"));
                }
                if self.tls_required && !client.is_secure() {
                    self.refuse(client, &user, "a sign-in without TLS where TLS is required");
                    return Err(pg_err(
                        "FATAL",
                        "28000",
                        "this Khlang server accepts sign-ins only over TLS (setting tls_required = true); connect with sslmode=require or sslmode=verify-full",
                    ));
                }
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                let ask = match self.method {
                    WireAuth::ScramSha256 => Authentication::SASL(vec!["SCRAM-SHA-256".to_string()]),
                    WireAuth::Password => Authentication::CleartextPassword,
                };
                client.send(PgWireBackendMessage::Authentication(ask)).await?;
            }
            PgWireFrontendMessage::PasswordMessageFamily(msg) => {
                let user = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
                let addr = client_addr(client);
                match self.method {
                    WireAuth::Password => {
                        let pwd = msg.into_password()?;
                        match self.svc.login(&user, &pwd.password, &addr, "wire").await {
                            Ok(who) => self.admit(client, who).await?,
                            Err(_) => return Err(failed(&user)),
                        }
                    }
                    WireAuth::ScramSha256 => {
                        let state = client.session_extensions().get_or_insert_with(ScramState::default);
                        let pending = state.0.lock().ok().and_then(|mut p| p.take());
                        match pending {
                            None => {
                                let first = msg.into_sasl_initial_response()?;
                                if first.auth_method != "SCRAM-SHA-256" {
                                    return Err(pg_err("FATAL", "28000", format!("SASL mechanism {} is not offered; use SCRAM-SHA-256", first.auth_method)));
                                }
                                let known = self.svc.users.get(&user).await.ok().flatten();
                                let verifier = match &known {
                                    Some(u) => match u.scram.as_deref().and_then(Verifier::decode) {
                                        Some(v) => v,
                                        None => {
                                            self.refuse(client, &user, "no SCRAM-SHA-256 password stored for the user");
                                            return Err(pg_err(
                                                "FATAL",
                                                "28000",
                                                format!(
                                                    "user \"{user}\" has no SCRAM-SHA-256 password yet (made by an older Khlang): sign in once on the web, or set the password again with khlang user add"
                                                ),
                                            ));
                                        }
                                    },
                                    None => Verifier::impossible(),
                                };
                                let data = first.data.unwrap_or_default();
                                let (exchange, server_first) = scram::server_first(&data, verifier).map_err(|e| {
                                    self.refuse(client, &user, &e.to_string());
                                    pg_err("FATAL", "28000", e.to_string())
                                })?;
                                if let Ok(mut p) = state.0.lock() {
                                    *p = Some(Pending { exchange, user: known });
                                }
                                client.send(PgWireBackendMessage::Authentication(Authentication::SASLContinue(server_first.into_bytes().into()))).await?;
                            }
                            Some(pending) => {
                                let last = msg.into_sasl_response()?;
                                let result = match (pending.exchange.finish(&last.data), pending.user) {
                                    (Ok(server_final), Some(u)) => Ok((server_final, u)),
                                    (Ok(_), None) | (Err(ScramError::WrongPassword), None) => Err(LoginFailure::UnknownUser),
                                    (Err(ScramError::WrongPassword), Some(_)) => Err(LoginFailure::WrongPassword),
                                    (Err(e), _) => {
                                        self.refuse(client, &user, &e.to_string());
                                        return Err(pg_err("FATAL", "08P01", e.to_string()));
                                    }
                                };
                                match result {
                                    Ok((server_final, u)) => match self.svc.admit(u, &addr, "wire").await {
                                        Ok(who) => {
                                            client.send(PgWireBackendMessage::Authentication(Authentication::SASLFinal(server_final.into_bytes().into()))).await?;
                                            self.admit(client, who).await?;
                                        }
                                        Err(_) => return Err(failed(&user)),
                                    },
                                    Err(why) => {
                                        self.svc.refused(&user, why, &addr, "wire");
                                        return Err(failed(&user));
                                    }
                                }
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}
