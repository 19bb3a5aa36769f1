//! Database URLs read as libpq reads them, and connections made over TLS
//! when the URL asks for it.
//!
//! tokio-postgres knows `sslmode` up to `require` and no `sslrootcert`; this
//! module takes both off the URL and applies them itself with rustls:
//!
//! | `sslmode` | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | - |
//! | `prefer` (default, as in libpq) | if the server offers it | not checked |
//! | `require` | always | not checked; checked like `verify-ca` when `sslrootcert` is given (as libpq does) |
//! | `verify-ca` | always | signed by a CA of `sslrootcert` |
//! | `verify-full` | always | signed by a CA of `sslrootcert`, and issued for the host connected to |
//!
//! `sslrootcert` names a PEM file of CA certificates, or is `system` for the
//! operating system's store. `verify-ca` and `verify-full` need it (libpq
//! would look in `~/.postgresql/root.crt`; a service has no such home, so it
//! is stated). Client certificates (`sslcert`, `sslkey`) are not supported.
//!
//! [`DatabaseUrl::parse`] is where a malformed URL or an option nobody
//! supports is found: services call it while reading their configuration
//! and stop at once, naming the variable, instead of waiting for a database
//! that is only unreachable in appearance.

use std::sync::Arc;

use diesel_async::AsyncPgConnection;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Why a database URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidUrl(String);

/// A parsed database URL: the connection settings and how to use TLS.
#[derive(Clone)]
pub struct DatabaseUrl {
    config: tokio_postgres::Config,
    /// Unused with `disable`: tokio-postgres then never asks for TLS.
    tls: MakeRustlsConnect,
    mode: &'static str,
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The config holds the password: only what is safe to show.
        f.debug_struct("DatabaseUrl")
            .field("hosts", &self.config.get_hosts().len())
            .field("dbname", &self.config.get_dbname())
            .field("sslmode", &self.mode)
            .finish()
    }
}

impl DatabaseUrl {
    /// Parses `url` (URL or `key=value` form) and loads the CA file it
    /// names. The error never repeats the URL (it may hold a password).
    pub fn parse(url: &str) -> Result<Self, InvalidUrl> {
        let (rest, options) = split_ssl_options(url)?;
        let mut config: tokio_postgres::Config = rest
            .parse()
            .map_err(|e| InvalidUrl(format!("not a PostgreSQL connection string: {e}")))?;
        let mode = options.mode.as_deref().unwrap_or("prefer");
        let roots = options.root_cert.as_deref().map(load_roots).transpose()?;
        let (ssl_mode, verifier): (SslMode, Arc<dyn ServerCertVerifier>) = match mode {
            "disable" => (SslMode::Disable, Arc::new(Unverified::new())),
            "allow" | "prefer" => (SslMode::Prefer, Arc::new(Unverified::new())),
            "require" => match roots {
                None => (SslMode::Require, Arc::new(Unverified::new())),
                Some(roots) => (SslMode::Require, Arc::new(ChainOnly::new(roots)?)),
            },
            "verify-ca" | "verify-full" => {
                let roots = roots.ok_or_else(|| {
                    InvalidUrl(format!(
                        "sslmode={mode} needs sslrootcert: a PEM file of CA certificates, or `system`"
                    ))
                })?;
                let verifier: Arc<dyn ServerCertVerifier> = if mode == "verify-ca" {
                    Arc::new(ChainOnly::new(roots)?)
                } else {
                    full_verifier(roots)?
                };
                (SslMode::Require, verifier)
            }
            other => {
                return Err(InvalidUrl(format!(
                    "sslmode {other:?} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                )));
            }
        };
        config.ssl_mode(ssl_mode);
        // A connection whose peer went silent (a half-open LISTEN, a
        // failover that dropped packets) is found within about 25 s.
        config
            .keepalives(true)
            .keepalives_idle(std::time::Duration::from_secs(10))
            .keepalives_interval(std::time::Duration::from_secs(5))
            .keepalives_retries(3);
        let client = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| InvalidUrl(format!("TLS: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        let tls = MakeRustlsConnect::new(client);
        let mode = match mode {
            "disable" => "disable",
            "allow" | "prefer" => "prefer",
            "require" => "require",
            "verify-ca" => "verify-ca",
            _ => "verify-full",
        };
        Ok(Self { config, tls, mode })
    }

    /// The connection settings (without the TLS options).
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// The settings, to adjust before connecting (timeouts, application name).
    pub fn config_mut(&mut self) -> &mut tokio_postgres::Config {
        &mut self.config
    }

    /// Opens a tokio-postgres connection; the caller drives `connection`.
    pub async fn connect_raw(
        &self,
    ) -> Result<
        (
            tokio_postgres::Client,
            tokio_postgres::Connection<tokio_postgres::Socket, Stream>,
        ),
        tokio_postgres::Error,
    > {
        self.config.connect(self.tls.clone()).await
    }

    /// Opens a diesel-async connection.
    pub async fn connect(&self) -> diesel::ConnectionResult<AsyncPgConnection> {
        let (client, connection) = self
            .connect_raw()
            .await
            .map_err(|e| diesel::ConnectionError::BadConnection(describe(&e)))?;
        AsyncPgConnection::try_from_client_and_connection(client, connection).await
    }
}

/// An error with its causes: tokio-postgres keeps the TLS or I/O reason in
/// the source, and "error performing TLS handshake" alone does not help.
fn describe(error: &tokio_postgres::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

struct SslOptions {
    mode: Option<String>,
    root_cert: Option<String>,
}

/// `url` without `sslmode` and `sslrootcert`, and their values. Refuses
/// client certificates, which are not supported.
fn split_ssl_options(url: &str) -> Result<(String, SslOptions), InvalidUrl> {
    let mut options = SslOptions {
        mode: None,
        root_cert: None,
    };
    let mut take = |key: &str, value: String| -> Result<bool, InvalidUrl> {
        match key {
            "sslmode" => options.mode = Some(value),
            "sslrootcert" => options.root_cert = Some(value),
            "sslcert" | "sslkey" | "sslpassword" => {
                return Err(InvalidUrl(format!(
                    "{key}: client certificates are not supported"
                )));
            }
            _ => return Ok(false),
        }
        Ok(true)
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let (base, fragment) = match url.split_once('#') {
            Some((base, fragment)) => (base, Some(fragment)),
            None => (url, None),
        };
        let (base, query) = base.split_once('?').unwrap_or((base, ""));
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .map_err(|_| InvalidUrl(format!("{key}: not UTF-8 after percent-decoding")))?
                .into_owned();
            if !take(key, value)? {
                kept.push(pair);
            }
        }
        let mut rest = base.to_owned();
        if !kept.is_empty() {
            rest.push('?');
            rest.push_str(&kept.join("&"));
        }
        if let Some(fragment) = fragment {
            rest.push('#');
            rest.push_str(fragment);
        }
        rest
    } else {
        let mut kept = Vec::new();
        for word in url.split_whitespace() {
            match word.split_once('=') {
                Some((key, value)) if take(key.trim(), value.trim_matches('\'').to_owned())? => {}
                _ => kept.push(word),
            }
        }
        kept.join(" ")
    };
    Ok((rest, options))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn load_roots(path: &str) -> Result<RootCertStore, InvalidUrl> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = RootCertStore::empty();
    if path == "system" {
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            return Err(InvalidUrl(
                "sslrootcert=system: no CA certificates found in the system store".into(),
            ));
        }
        return Ok(roots);
    }
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| InvalidUrl(format!("sslrootcert {path}: {e}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| InvalidUrl(format!("sslrootcert {path}: {e}")))?;
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| InvalidUrl(format!("sslrootcert {path}: {e}")))?;
    }
    if roots.is_empty() {
        return Err(InvalidUrl(format!(
            "sslrootcert {path}: no certificate in the file"
        )));
    }
    Ok(roots)
}

fn full_verifier(roots: RootCertStore) -> Result<Arc<dyn ServerCertVerifier>, InvalidUrl> {
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| InvalidUrl(format!("sslrootcert: {e}")))?;
    Ok(verifier)
}

/// `verify-ca`: the chain must lead to a trusted CA; the name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<dyn ServerCertVerifier>);

impl ChainOnly {
    fn new(roots: RootCertStore) -> Result<Self, InvalidUrl> {
        Ok(Self(full_verifier(roots)?))
    }
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer` and `require` without a CA: encrypted, the certificate not
/// checked (as libpq does; it protects against passive listeners only).
/// The handshake's signatures are still verified.
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl Unverified {
    fn new() -> Self {
        Self(provider())
    }
}

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The stream of a connection (TLS only if it was negotiated).
pub type Stream = <<MakeRustlsConnect as tokio_postgres::tls::MakeTlsConnect<
    tokio_postgres::Socket,
>>::TlsConnect as tokio_postgres::tls::TlsConnect<tokio_postgres::Socket>>::Stream;
