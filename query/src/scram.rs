//! SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it: the verifier kept per user
//! (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, the format of PostgreSQL's
//! `pg_authid`), and the server's side of the exchange. The verifier does not let whoever reads
//! it sign in: that needs the ClientKey, which only the password gives.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// PostgreSQL's default iteration count.
pub const ITERATIONS: u32 = 4096;

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length, so the error arm is never taken; were it taken, no proof
    // would match and the sign-in would fail.
    let Ok(mut m) = <HmacSha256 as hmac::Mac>::new_from_slice(key) else { return [0u8; 32] };
    m.update(data);
    m.finalize().into_bytes().into()
}

/// Hi(password, salt, i): PBKDF2 with HMAC-SHA-256, one block.
fn hi(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut first = salt.to_vec();
    first.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac(password, &first);
    let mut out = u;
    for _ in 1..iterations {
        u = hmac(password, &u);
        for (o, x) in out.iter_mut().zip(u.iter()) {
            *o ^= x;
        }
    }
    out
}

/// A user's stored SCRAM secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: [u8; 32],
    pub server_key: [u8; 32],
}

impl Verifier {
    /// The verifier of `password` with a fresh random salt.
    pub fn new(password: &str) -> Verifier {
        let mut salt = [0u8; 16];
        rand::Rng::fill(&mut rand::rng(), &mut salt);
        Self::with_salt(password, &salt, ITERATIONS)
    }

    pub fn with_salt(password: &str, salt: &[u8], iterations: u32) -> Verifier {
        // SASLprep leaves ASCII passwords as they are; PostgreSQL uses the raw bytes when a
        // password is not valid for SASLprep, and so do we for anything beyond ASCII.
        let salted = hi(password.as_bytes(), salt, iterations);
        let client_key = hmac(&salted, b"Client Key");
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        let server_key = hmac(&salted, b"Server Key");
        Verifier { iterations, salt: salt.to_vec(), stored_key, server_key }
    }

    /// A verifier no password matches, for refusing an unknown user only at the end of the
    /// exchange (so the exchange does not tell which names exist).
    pub fn impossible() -> Verifier {
        let mut v = Verifier::new("");
        rand::Rng::fill(&mut rand::rng(), &mut v.stored_key);
        v
    }

    pub fn encode(&self) -> String {
        format!("SCRAM-SHA-256${}:{}${}:{}", self.iterations, B64.encode(&self.salt), B64.encode(self.stored_key), B64.encode(self.server_key))
    }

    pub fn decode(s: &str) -> Option<Verifier> {
        let rest = s.strip_prefix("SCRAM-SHA-256$")?;
        let (params, keys) = rest.split_once('$')?;
        let (iterations, salt) = params.split_once(':')?;
        let (stored, server) = keys.split_once(':')?;
        Some(Verifier {
            iterations: iterations.parse().ok()?,
            salt: B64.decode(salt).ok()?,
            stored_key: B64.decode(stored).ok()?.try_into().ok()?,
            server_key: B64.decode(server).ok()?.try_into().ok()?,
        })
    }
}

/// Why an exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    #[error("the client asked for channel binding, which this server does not offer")]
    ChannelBinding,
    #[error("wrong password")]
    WrongPassword,
}

/// The server's state between its first message and the client's final one.
#[derive(Debug, Clone)]
pub struct Exchange {
    verifier: Verifier,
    client_first_bare: String,
    server_first: String,
    gs2_header: String,
    nonce: String,
}

/// Reads the client-first-message and answers with the server-first-message.
pub fn server_first(client_first: &[u8], verifier: Verifier) -> Result<(Exchange, String), ScramError> {
    let text = std::str::from_utf8(client_first).map_err(|_| ScramError::Malformed("client-first-message is not UTF-8"))?;
    // gs2-header: "n,," (no binding), "y,," (client could bind, server did not offer), "p=…" (binding).
    let (gs2_header, bare) = match text.get(..3) {
        Some("n,,") | Some("y,,") => (text[..3].to_string(), &text[3..]),
        _ if text.starts_with("p=") => return Err(ScramError::ChannelBinding),
        _ => {
            // An authorization identity ("n,a=…,"): keep the header whole.
            let mut parts = text.splitn(3, ',');
            let (Some(flag), Some(authzid), Some(bare)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(ScramError::Malformed("client-first-message has no GS2 header"));
            };
            if flag != "n" && flag != "y" {
                return Err(ScramError::Malformed("unknown channel-binding flag"));
            }
            (format!("{flag},{authzid},"), bare)
        }
    };
    let client_nonce = bare
        .split(',')
        .find_map(|a| a.strip_prefix("r="))
        .filter(|n| !n.is_empty())
        .ok_or(ScramError::Malformed("client-first-message has no nonce"))?;
    let mut server_nonce = [0u8; 18];
    rand::Rng::fill(&mut rand::rng(), &mut server_nonce);
    let nonce = format!("{client_nonce}{}", B64.encode(server_nonce));
    let server_first = format!("r={nonce},s={},i={}", B64.encode(&verifier.salt), verifier.iterations);
    let ex = Exchange { verifier, client_first_bare: bare.to_string(), server_first: server_first.clone(), gs2_header, nonce };
    Ok((ex, server_first))
}

impl Exchange {
    /// Checks the client-final-message's proof; on success, the server-final-message.
    pub fn finish(&self, client_final: &[u8]) -> Result<String, ScramError> {
        let text = std::str::from_utf8(client_final).map_err(|_| ScramError::Malformed("client-final-message is not UTF-8"))?;
        let (without_proof, proof) = text.rsplit_once(",p=").ok_or(ScramError::Malformed("client-final-message has no proof"))?;
        let mut binding = None;
        let mut nonce = None;
        for a in without_proof.split(',') {
            if let Some(v) = a.strip_prefix("c=") {
                binding = Some(v);
            } else if let Some(v) = a.strip_prefix("r=") {
                nonce = Some(v);
            }
        }
        if binding != Some(B64.encode(self.gs2_header.as_bytes()).as_str()) {
            return Err(ScramError::Malformed("channel binding does not match the GS2 header"));
        }
        if nonce != Some(self.nonce.as_str()) {
            return Err(ScramError::Malformed("the nonce does not match"));
        }
        let proof: [u8; 32] = B64.decode(proof).ok().and_then(|p| p.try_into().ok()).ok_or(ScramError::Malformed("the proof is not 32 bytes of base64"))?;
        let auth_message = format!("{},{},{without_proof}", self.client_first_bare, self.server_first);
        let client_signature = hmac(&self.verifier.stored_key, auth_message.as_bytes());
        let mut client_key = [0u8; 32];
        for (k, (p, s)) in client_key.iter_mut().zip(proof.iter().zip(client_signature.iter())) {
            *k = p ^ s;
        }
        let stored: [u8; 32] = Sha256::digest(client_key).into();
        // Constant-time comparison: the difference is folded before it is looked at.
        let diff = stored.iter().zip(self.verifier.stored_key.iter()).fold(0u8, |d, (a, b)| d | (a ^ b));
        if diff != 0 {
            return Err(ScramError::WrongPassword);
        }
        let server_signature = hmac(&self.verifier.server_key, auth_message.as_bytes());
        Ok(format!("v={}", B64.encode(server_signature)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The client's side, as libpq computes it.
    fn client_final(password: &str, client_first_bare: &str, server_first: &str, gs2: &str) -> String {
        let attrs: Vec<(&str, &str)> = server_first.split(',').map(|a| a.split_at(2)).collect();
        let nonce = attrs.iter().find(|(k, _)| *k == "r=").unwrap().1;
        let salt = B64.decode(attrs.iter().find(|(k, _)| *k == "s=").unwrap().1).unwrap();
        let iterations: u32 = attrs.iter().find(|(k, _)| *k == "i=").unwrap().1.parse().unwrap();
        let salted = hi(password.as_bytes(), &salt, iterations);
        let client_key = hmac(&salted, b"Client Key");
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        let without_proof = format!("c={},r={nonce}", B64.encode(gs2));
        let auth = format!("{client_first_bare},{server_first},{without_proof}");
        let sig = hmac(&stored_key, auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(sig.iter()).map(|(a, b)| a ^ b).collect();
        format!("{without_proof},p={}", B64.encode(proof))
    }

    #[test]
    fn the_right_password_signs_in_and_a_wrong_one_does_not() {
        let v = Verifier::new("correct horse 42");
        assert_eq!(Verifier::decode(&v.encode()), Some(v.clone()));
        let bare = "n=ana,r=rOprNGfwEbeRWgbNEkqO";
        let (ex, first) = server_first(format!("n,,{bare}").as_bytes(), v.clone()).unwrap();
        let ok = ex.finish(client_final("correct horse 42", bare, &first, "n,,").as_bytes()).unwrap();
        assert!(ok.starts_with("v="));
        let (ex, first) = server_first(format!("n,,{bare}").as_bytes(), v).unwrap();
        assert_eq!(ex.finish(client_final("wrong", bare, &first, "n,,").as_bytes()), Err(ScramError::WrongPassword));
        assert_eq!(server_first(b"p=tls-server-end-point,,n=,r=x", Verifier::impossible()).err(), Some(ScramError::ChannelBinding));
    }

    #[test]
    fn the_rfc_7677_example_verifier() {
        // RFC 7677 §3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations.
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let v = Verifier::with_salt("pencil", &salt, 4096);
        let bare = "n=user,r=rOprNGfwEbeRWgbNEkqO";
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let without_proof = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let ex = Exchange { verifier: v, client_first_bare: bare.into(), server_first: server_first.into(), gs2_header: "n,,".into(), nonce: "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".into() };
        let got = ex.finish(format!("{without_proof},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=").as_bytes()).unwrap();
        assert_eq!(got, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    }
}
