//! TLS for the listeners, with rustls: the server certificate and key, optionally a CA whose
//! client certificates are required (mutual TLS), all re-read on `SIGHUP`.
//!
//! # Reloading
//! Every accepted connection takes the rustls configuration in force when its handshake
//! starts; [`ServerTls::reload`] builds a new configuration from the files and swaps it in.
//! Open connections keep the session they negotiated (nothing is dropped), new connections
//! get the new certificate. A reload that fails (a missing file, a key that does not match)
//! leaves the configuration in force in place.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};

/// The files TLS is served from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key of the leaf certificate.
    pub key: PathBuf,
    /// PEM CA certificates; when set, clients must present a certificate signed by one.
    pub client_ca: Option<PathBuf>,
}

/// Why the TLS files cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or holds no usable PEM item.
    #[error("cannot read {what} from {path}: {reason}")]
    File {
        /// Which file: certificate, key or client CA.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the certificates (for instance, a key that does not match).
    #[error("unusable TLS certificate or key: {0}")]
    Config(#[from] rustls::Error),
    /// The client CA cannot verify certificates.
    #[error("unusable client CA {path}: {reason}")]
    ClientCa {
        /// The CA file.
        path: PathBuf,
        /// What rustls said.
        reason: String,
    },
}

/// What a listener speaks inside TLS, offered to clients by ALPN: a browser that is offered
/// `h2` by a listener speaking HTTP/1.1 would fail after the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/2 only: the gRPC listener.
    Grpc,
    /// HTTP/1.1: the console, metrics, health and Akismet listener.
    Http1,
}

impl Protocol {
    fn alpn(self) -> Vec<Vec<u8>> {
        match self {
            Self::Grpc => vec![b"h2".to_vec()],
            Self::Http1 => vec![b"http/1.1".to_vec()],
        }
    }
}

/// The TLS side of a listener: the configuration in force, swapped on reload.
#[derive(Debug)]
pub struct ServerTls {
    files: TlsFiles,
    protocol: Protocol,
    current: RwLock<Arc<ServerConfig>>,
}

impl ServerTls {
    /// Loads the files for a listener speaking `protocol`.
    ///
    /// # Errors
    /// When a file is missing or unusable.
    pub fn load(files: TlsFiles, protocol: Protocol) -> Result<Self, TlsError> {
        let config = build(&files, protocol)?;
        Ok(Self {
            files,
            protocol,
            current: RwLock::new(Arc::new(config)),
        })
    }

    /// Re-reads the files and puts the new configuration in force for new connections.
    ///
    /// # Errors
    /// When a file is missing or unusable; the configuration in force stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = Arc::new(build(&self.files, self.protocol)?);
        match self.current.write() {
            Ok(mut current) => *current = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
        Ok(())
    }

    /// An acceptor with the configuration in force now.
    pub fn acceptor(&self) -> TlsAcceptor {
        let config = match self.current.read() {
            Ok(current) => Arc::clone(&current),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        };
        TlsAcceptor::from(config)
    }

    /// Whether clients must present a certificate.
    pub fn requires_client_certificates(&self) -> bool {
        self.files.client_ca.is_some()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn build(files: &TlsFiles, protocol: Protocol) -> Result<ServerConfig, TlsError> {
    let chain = certificates(&files.cert, "certificate")?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| TlsError::File {
        what: "private key",
        path: files.key.clone(),
        reason: e.to_string(),
    })?;
    let builder =
        ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = match &files.client_ca {
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for ca in certificates(path, "client CA")? {
                roots.add(ca)?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider())
                .build()
                .map_err(|e| TlsError::ClientCa {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key)?;
    config.alpn_protocols = protocol.alpn();
    Ok(config)
}

/// Every certificate in a PEM file; at least one.
fn certificates(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let error = |reason: String| TlsError::File {
        what,
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|items| items.collect::<Result<Vec<_>, _>>())
        .map_err(|e| error(e.to_string()))?;
    if certs.is_empty() {
        return Err(error("no PEM certificate in the file".to_owned()));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert_path = dir.join(format!("{name}.pem"));
        let key_path = dir.join(format!("{name}.key"));
        std::fs::write(&cert_path, cert.cert.pem()).unwrap();
        std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }

    #[test]
    fn loads_reloads_and_keeps_the_old_configuration_on_a_bad_reload() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = write_pair(dir.path(), "server");
        let files = TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: None,
        };
        let tls = ServerTls::load(files, Protocol::Grpc).unwrap();
        let before = tls.acceptor();
        write_pair(dir.path(), "server");
        tls.reload().unwrap();
        assert!(!Arc::ptr_eq(before.config(), tls.acceptor().config()));

        let in_force = tls.acceptor();
        std::fs::write(&cert, "not a certificate").unwrap();
        let err = tls.reload().unwrap_err();
        assert!(err.to_string().contains("server.pem"), "{err}");
        assert!(Arc::ptr_eq(in_force.config(), tls.acceptor().config()));
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = write_pair(dir.path(), "one");
        let (_, other_key) = write_pair(dir.path(), "two");
        let files = TlsFiles {
            cert,
            key: other_key,
            client_ca: None,
        };
        let err = ServerTls::load(files, Protocol::Http1).unwrap_err();
        assert!(matches!(err, TlsError::Config(_)), "{err}");
    }
}
