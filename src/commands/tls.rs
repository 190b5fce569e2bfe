//! `khlang tls`: certificates for the wire protocol and HTTPS.

use std::path::PathBuf;

#[derive(clap::Subcommand, Debug)]
pub enum TlsCmd {
    /// Write a self-signed certificate and key (server.crt, server.key) for a first install; point
    /// tls_cert and tls_key at them, and give clients server.crt to trust (sslrootcert).
    SelfSigned {
        /// Folder to write server.crt and server.key to.
        #[arg(long)]
        out: PathBuf,
        /// Names and addresses the certificate is for (default: localhost, 127.0.0.1 and ::1).
        #[arg(long = "host")]
        hosts: Vec<String>,
    },
}

pub fn run(what: TlsCmd) -> anyhow::Result<()> {
    let TlsCmd::SelfSigned { out, hosts } = what;
    let hosts = if hosts.is_empty() { vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()] } else { hosts };
    let (crt, key) = khlang_query::tls::self_signed(&hosts, &out)?;
    println!("wrote {} and {} (for {}); set tls_cert and tls_key to them, and give clients {} to trust", crt.display(), key.display(), hosts.join(", "), crt.display());
    Ok(())
}
