//! TLS for the wire protocol and HTTPS: the server certificate and key from PEM files, and a
//! self-signed pair for a first install (`khlang tls self-signed`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("setting tls_cert: cannot read a PEM certificate from {path}: {message}")]
    Cert { path: PathBuf, message: String },
    #[error("setting tls_key: cannot read a PEM private key from {path}: {message}")]
    Key { path: PathBuf, message: String },
    #[error("settings tls_cert and tls_key: the key in {key} does not go with the certificate in {cert}: {message}")]
    Mismatch { cert: PathBuf, key: PathBuf, message: String },
    #[error("setting {0} is given without {1}: TLS needs both a certificate (tls_cert) and its key (tls_key)")]
    Half(&'static str, &'static str),
    #[error("setting tls_required = true needs tls_cert and tls_key: clients cannot be required to use TLS the server does not offer")]
    RequiredWithout,
    #[error("cannot make a self-signed certificate: {0}")]
    Generate(String),
    #[error("cannot write {path}: {message}")]
    Write { path: PathBuf, message: String },
}

/// The server's certificate and key, loaded once at start.
#[derive(Clone)]
pub struct Tls {
    pub cert: PathBuf,
    certs: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("cert", &self.cert).finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads the settings `tls_cert` and `tls_key` (both or neither).
    pub fn from_settings(cert: Option<&Path>, key: Option<&Path>, required: bool) -> Result<Option<Tls>, TlsError> {
        match (cert, key) {
            (Some(c), Some(k)) => Tls::load(c, k).map(Some),
            (Some(_), None) => Err(TlsError::Half("tls_cert", "tls_key")),
            (None, Some(_)) => Err(TlsError::Half("tls_key", "tls_cert")),
            (None, None) if required => Err(TlsError::RequiredWithout),
            (None, None) => Ok(None),
        }
    }

    pub fn load(cert: &Path, key: &Path) -> Result<Tls, TlsError> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| TlsError::Cert { path: cert.to_path_buf(), message: e.to_string() })?;
        if certs.is_empty() {
            return Err(TlsError::Cert { path: cert.to_path_buf(), message: "the file holds no CERTIFICATE block".into() });
        }
        let k = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key { path: key.to_path_buf(), message: e.to_string() })?;
        let tls = Tls { cert: cert.to_path_buf(), certs, key: Arc::new(k) };
        // Check the pair now, so a mismatch fails at start with the file names.
        tls.config(&[]).map_err(|e| match e {
            TlsError::Generate(message) => TlsError::Mismatch { cert: cert.to_path_buf(), key: key.to_path_buf(), message },
            other => other,
        })?;
        Ok(tls)
    }

    fn config(&self, alpn: &[&[u8]]) -> Result<Arc<ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(self.certs.clone(), self.key.clone_key()))
            .map_err(|e| TlsError::Generate(e.to_string()))?;
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(cfg))
    }

    /// The acceptor for the PostgreSQL wire protocol (ALPN `postgresql`, for direct TLS too).
    pub fn wire_acceptor(&self) -> Result<TlsAcceptor, TlsError> {
        Ok(TlsAcceptor::from(self.config(&[b"postgresql"])?))
    }

    /// The acceptor for HTTPS.
    pub fn http_acceptor(&self) -> Result<TlsAcceptor, TlsError> {
        Ok(TlsAcceptor::from(self.config(&[b"http/1.1"])?))
    }
}

/// Writes `server.crt` and `server.key` (PEM) into `dir`: a self-signed certificate for `hosts`
/// (names and IP addresses), for a first install. Clients then trust `server.crt` itself
/// (`sslrootcert=server.crt`).
pub fn self_signed(hosts: &[String], dir: &Path) -> Result<(PathBuf, PathBuf), TlsError> {
    let cert = rcgen::generate_simple_self_signed(hosts.to_vec()).map_err(|e| TlsError::Generate(e.to_string()))?;
    std::fs::create_dir_all(dir).map_err(|e| TlsError::Write { path: dir.to_path_buf(), message: e.to_string() })?;
    let (crt, key) = (dir.join("server.crt"), dir.join("server.key"));
    let write = |p: &Path, text: String| std::fs::write(p, text).map_err(|e| TlsError::Write { path: p.to_path_buf(), message: e.to_string() });
    write(&crt, cert.cert.pem())?;
    write(&key, cert.signing_key.serialize_pem())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).map_err(|e| TlsError::Write { path: key.clone(), message: e.to_string() })?;
    }
    Ok((crt, key))
}

/// A listener for axum that completes each TLS handshake off the accept loop, so a slow or
/// broken client does not hold up the others.
pub struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    pub fn new(listener: TcpListener, acceptor: TlsAcceptor) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (socket, addr) = match listener.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot accept an HTTPS connection");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    return;
                }
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(socket)).await {
                        Ok(Ok(stream)) => {
                            let _ = tx.send((stream, addr)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(client = %addr, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(client = %addr, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { rx, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(x) => x,
            // The accept task ends only when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
