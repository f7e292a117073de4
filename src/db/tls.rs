//! TLS for PostgreSQL connections, with libpq's `sslmode` semantics.
//!
//! `tokio-postgres` only knows `disable`, `prefer` and `require`, and rustls
//! always verifies the server certificate. This module bridges the two so that
//! the five libpq modes mean what operators expect:
//!
//! | mode          | TLS                     | certificate chain | host name   |
//! |---------------|-------------------------|-------------------|-------------|
//! | `disable`     | never                   | –                 | –           |
//! | `prefer`      | if the server offers it | not checked       | not checked |
//! | `require`     | always                  | not checked       | not checked |
//! | `verify-ca`   | always                  | checked           | not checked |
//! | `verify-full` | always                  | checked           | checked     |
//!
//! For `verify-ca` and `verify-full` the chain is checked against the
//! certificates in [`TlsSettings::root_cert`], or against the system's trust
//! store when no file is given. Unlike libpq, `require` never turns into
//! `verify-ca` because a root file is present: the mode alone decides.
//!
//! When the certificate is not checked (`prefer`, `require`), the handshake
//! still proves that the server holds the key of the certificate it sent, so
//! the traffic is safe from eavesdropping, but not from a server that
//! impersonates the real one: only the verifying modes protect against that.
//!
//! Build a [`PgConnector`] once from the settings and use it for every
//! connection of a pool.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use diesel::{ConnectionError, ConnectionResult};
use diesel_async::AsyncPgConnection;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{VerifierBuilderError, WebPkiServerVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore,
    SignatureScheme,
};
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

pub use crate::config::tls::{ParseSslModeError, SslMode, TlsSettings};

/// The closest mode `tokio-postgres` understands; certificate checks are done by the rustls
/// configuration instead.
fn postgres_mode(mode: SslMode) -> PgSslMode {
    match mode {
        SslMode::Disable => PgSslMode::Disable,
        SslMode::Prefer => PgSslMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
    }
}

/// Errors found while preparing the TLS client.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The root certificate file could not be read.
    #[error("cannot read the root certificate file {}: {source}", path.display())]
    RootCertRead {
        /// The file.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The root certificate file is not valid PEM.
    #[error("the root certificate file {} is not valid PEM: {reason}", path.display())]
    RootCertParse {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The root certificate file has no `CERTIFICATE` section.
    #[error("the root certificate file {} contains no certificate", path.display())]
    RootCertEmpty {
        /// The file.
        path: PathBuf,
    },
    /// A certificate in the root file cannot serve as a trust anchor.
    #[error("the root certificate file {} holds an unusable certificate: {source}", path.display())]
    RootCertRejected {
        /// The file.
        path: PathBuf,
        /// Why rustls rejected it.
        source: rustls::Error,
    },
    /// No root file was given and the system trust store is empty or unreadable.
    #[error(
        "no trusted root certificates: set DB_SSLROOTCERT to a PEM file of root certificates \
         or install the system CA bundle (ca-certificates){details}"
    )]
    NoSystemRoots {
        /// Problems reported while reading the system store, if any.
        details: String,
    },
    /// rustls refused to build a certificate verifier.
    #[error("cannot build the certificate verifier: {0}")]
    Verifier(#[from] VerifierBuilderError),
    /// rustls refused to build the client configuration.
    #[error("cannot build the TLS client configuration: {0}")]
    Config(#[from] rustls::Error),
}

impl TlsSettings {
    /// Builds the rustls configuration for these settings, or `None` for
    /// `disable`. Reads the root certificates now, so a bad file is reported
    /// here rather than at the first connection.
    fn client_config(&self) -> Result<Option<ClientConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()?;
        let config = match self.mode {
            SslMode::Disable => return Ok(None),
            SslMode::Prefer | SslMode::Require => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate {
                    algorithms: provider.signature_verification_algorithms,
                }))
                .with_no_client_auth(),
            SslMode::VerifyCa => {
                let chain = webpki_verifier(self.root_cert.as_deref(), provider)?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(ChainOnly { chain }))
                    .with_no_client_auth()
            }
            SslMode::VerifyFull => {
                let verifier = webpki_verifier(self.root_cert.as_deref(), provider)?;
                builder.with_webpki_verifier(verifier).with_no_client_auth()
            }
        };
        Ok(Some(config))
    }
}

/// Opens PostgreSQL connections with a fixed TLS policy.
///
/// Cheap to clone: the rustls configuration is shared.
#[derive(Clone)]
pub struct PgConnector {
    mode: SslMode,
    tls: Option<MakeRustlsConnect>,
}

impl fmt::Debug for PgConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConnector")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl PgConnector {
    /// Prepares the TLS client for `tls`, loading the root certificates for
    /// the verifying modes.
    pub fn new(tls: TlsSettings) -> Result<Self, TlsError> {
        let tls_connect = tls.client_config()?.map(MakeRustlsConnect::new);
        Ok(PgConnector {
            mode: tls.mode,
            tls: tls_connect,
        })
    }

    /// The mode every connection uses.
    pub fn mode(&self) -> SslMode {
        self.mode
    }

    /// Opens one connection to `url`, a `postgres://` URL or a libpq
    /// `key=value` string.
    ///
    /// The mode comes from the connector. A URL may still carry `sslmode`
    /// (any libpq name) as long as it asks for no more protection than the
    /// connector gives; otherwise the connection is refused instead of
    /// quietly weakened. Error messages never contain the URL or the
    /// password.
    pub async fn connect(&self, url: &str) -> ConnectionResult<AsyncPgConnection> {
        let result = self.try_connect(url).await;
        match &result {
            Ok(_) => tracing::debug!(sslmode = %self.mode, "opened a PostgreSQL connection"),
            Err(error) => {
                tracing::debug!(sslmode = %self.mode, %error, "PostgreSQL connection failed");
            }
        }
        result
    }

    async fn try_connect(&self, url: &str) -> ConnectionResult<AsyncPgConnection> {
        let (config, password) = self.config(url)?;
        let failed = |error: tokio_postgres::Error| connect_failed(&error, password.as_deref());
        // diesel-async drives the connection on a tokio task and reports its
        // failures through the next query on this connection.
        match &self.tls {
            None => {
                let (client, connection) = config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(failed)?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await
            }
            Some(tls) => {
                let (client, connection) = config.connect(tls.clone()).await.map_err(failed)?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await
            }
        }
    }

    /// Opens a plain `tokio-postgres` connection with the same TLS rules as [`Self::connect`],
    /// for `LISTEN`: the client, and the notifications the connection receives (the channel
    /// closes when the connection ends, whatever the reason).
    pub async fn connect_for_notifications(
        &self,
        url: &str,
    ) -> ConnectionResult<(
        tokio_postgres::Client,
        tokio::sync::mpsc::UnboundedReceiver<tokio_postgres::Notification>,
    )> {
        let (config, password) = self.config(url)?;
        let failed = |error: tokio_postgres::Error| connect_failed(&error, password.as_deref());
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        let client = match &self.tls {
            None => {
                let (client, connection) = config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(failed)?;
                tokio::spawn(forward_notifications(connection, sender));
                client
            }
            Some(tls) => {
                let (client, connection) = config.connect(tls.clone()).await.map_err(failed)?;
                tokio::spawn(forward_notifications(connection, sender));
                client
            }
        };
        Ok((client, receiver))
    }

    /// The `tokio-postgres` configuration of `url` under these TLS settings, and the URL's
    /// password (to redact it from errors).
    fn config(&self, url: &str) -> ConnectionResult<(tokio_postgres::Config, Option<String>)> {
        let (url, url_mode) = take_url_sslmode(url).map_err(ConnectionError::BadConnection)?;
        let mut config = tokio_postgres::Config::from_str(&url).map_err(|e| {
            ConnectionError::BadConnection(format!("invalid database URL: {}", error_chain(&e)))
        })?;

        let requested = url_mode.or(match config.get_ssl_mode() {
            PgSslMode::Disable => Some(SslMode::Disable),
            PgSslMode::Require => Some(SslMode::Require),
            _ => None,
        });
        if let Some(requested) = requested.filter(|requested| *requested > self.mode) {
            return Err(ConnectionError::BadConnection(format!(
                "the database URL asks for sslmode={requested} but the TLS settings only \
                 provide sslmode={}; raise DB_SSLMODE or drop sslmode from the URL",
                self.mode
            )));
        }
        config.ssl_mode(postgres_mode(self.mode));

        let password = config
            .get_password()
            .map(|password| String::from_utf8_lossy(password).into_owned());
        Ok((config, password))
    }
}

/// A failed connection attempt, without the password.
fn connect_failed(error: &tokio_postgres::Error, password: Option<&str>) -> ConnectionError {
    let message = format!("cannot connect to PostgreSQL: {}", error_chain(error));
    ConnectionError::BadConnection(redact(message, password))
}

/// Drives `connection`, sending every notification it receives, until it ends.
async fn forward_notifications<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    sender: tokio::sync::mpsc::UnboundedSender<tokio_postgres::Notification>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures_util::StreamExt;
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    while let Some(message) = messages.next().await {
        match message {
            Ok(tokio_postgres::AsyncMessage::Notification(notification)) => {
                if sender.send(notification).is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "the notification connection failed");
                return;
            }
        }
    }
}

/// Removes the `sslmode` parameters from a `postgres://` URL, which
/// `tokio-postgres` rejects for the verifying modes, and returns the last
/// one. Other forms are returned unchanged.
fn take_url_sslmode(url: &str) -> Result<(Cow<'_, str>, Option<SslMode>), String> {
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let Some((base, query)) = url.split_once('?').filter(|_| is_url) else {
        return Ok((Cow::Borrowed(url), None));
    };
    let mut mode = None;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("sslmode", value)) => {
                mode = Some(
                    value
                        .parse::<SslMode>()
                        .map_err(|e| format!("invalid database URL: {e}"))?,
                );
            }
            _ => kept.push(pair),
        }
    }
    if mode.is_none() {
        return Ok((Cow::Borrowed(url), None));
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((Cow::Owned(rest), mode))
}

/// `error` followed by its sources: `tokio-postgres` keeps the useful part
/// (the server's message, the TLS failure) in the source.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// Replaces every occurrence of `password` in `message`.
fn redact(message: String, password: Option<&str>) -> String {
    match password {
        Some(password) if !password.is_empty() && message.contains(password) => {
            message.replace(password, "********")
        }
        _ => message,
    }
}

/// The standard rustls verifier (chain and host name) over the configured
/// roots.
fn webpki_verifier(
    root_cert: Option<&Path>,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, TlsError> {
    let roots = match root_cert {
        Some(path) => roots_from_file(path)?,
        None => system_roots()?,
    };
    Ok(WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build()?)
}

fn roots_from_file(path: &Path) -> Result<RootCertStore, TlsError> {
    let pem = std::fs::read(path).map_err(|source| TlsError::RootCertRead {
        path: path.to_owned(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::RootCertParse {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::RootCertEmpty {
            path: path.to_owned(),
        });
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|source| TlsError::RootCertRejected {
                path: path.to_owned(),
                source,
            })?;
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _unusable) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let details = found
            .errors
            .iter()
            .map(|e| format!("; {e}"))
            .collect::<String>();
        return Err(TlsError::NoSystemRoots { details });
    }
    Ok(roots)
}

/// Accepts any server certificate (`prefer`, `require`) while still checking
/// that the server signed the handshake with that certificate's key.
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCertificate {
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `verify-ca`: the full rustls verification except the host name check.
///
/// `WebPkiServerVerifier` checks the chain (validity dates, key usage,
/// signatures up to a trusted root) before it compares names, so a
/// name-mismatch error means everything else passed.
#[derive(Debug)]
struct ChainOnly {
    chain: Arc<WebPkiServerVerifier>,
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
        match self.chain.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
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
        self.chain.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chain.supported_verify_schemes()
    }

    fn root_hint_subjects(&self) -> Option<&[DistinguishedName]> {
        self.chain.root_hint_subjects()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_libpq_name_and_round_trips() {
        for mode in SslMode::ALL {
            assert_eq!(mode.as_str().parse::<SslMode>(), Ok(mode));
            assert_eq!(mode.to_string(), mode.as_str());
        }
        assert_eq!("verify-full".parse(), Ok(SslMode::VerifyFull));
        assert_eq!("verify-ca".parse(), Ok(SslMode::VerifyCa));
    }

    #[test]
    fn parsing_ignores_case_and_blanks() {
        assert_eq!(" Verify-Full\n".parse(), Ok(SslMode::VerifyFull));
        assert_eq!("REQUIRE".parse(), Ok(SslMode::Require));
    }

    #[test]
    fn parsing_rejects_other_names() {
        for bad in ["", "allow", "verify_full", "verifyfull", "true", "ssl"] {
            let err = bad.parse::<SslMode>().expect_err(bad);
            assert_eq!(err.value, bad);
            assert!(err.to_string().contains("verify-full"), "{err}");
        }
    }

    #[test]
    fn default_is_prefer_and_order_is_by_strength() {
        assert_eq!(SslMode::default(), SslMode::Prefer);
        assert!(SslMode::ALL.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(!SslMode::Require.verifies_certificate());
        assert!(SslMode::VerifyCa.verifies_certificate());
    }

    #[test]
    fn maps_to_the_closest_tokio_postgres_mode() {
        assert_eq!(postgres_mode(SslMode::Disable), PgSslMode::Disable);
        assert_eq!(postgres_mode(SslMode::Prefer), PgSslMode::Prefer);
        for mode in [SslMode::Require, SslMode::VerifyCa, SslMode::VerifyFull] {
            assert_eq!(postgres_mode(mode), PgSslMode::Require);
        }
    }

    #[test]
    fn url_sslmode_is_taken_out_of_the_query() {
        let (rest, mode) =
            take_url_sslmode("postgres://u:p@h/db?sslmode=verify-full").expect("valid");
        assert_eq!(rest, "postgres://u:p@h/db");
        assert_eq!(mode, Some(SslMode::VerifyFull));

        let (rest, mode) = take_url_sslmode(
            "postgresql://h/db?application_name=x&sslmode=require&connect_timeout=5",
        )
        .expect("valid");
        assert_eq!(
            rest,
            "postgresql://h/db?application_name=x&connect_timeout=5"
        );
        assert_eq!(mode, Some(SslMode::Require));

        let (rest, mode) = take_url_sslmode("postgres://h/db?connect_timeout=5").expect("valid");
        assert_eq!(rest, "postgres://h/db?connect_timeout=5");
        assert_eq!(mode, None);

        let (rest, mode) = take_url_sslmode("host=h sslmode=require").expect("valid");
        assert_eq!(rest, "host=h sslmode=require");
        assert_eq!(mode, None);

        assert!(take_url_sslmode("postgres://h/db?sslmode=sometimes").is_err());
    }

    #[test]
    fn redaction_hides_the_password() {
        assert_eq!(
            redact("bad secret here".to_owned(), Some("secret")),
            "bad ******** here"
        );
        assert_eq!(redact("nothing".to_owned(), Some("")), "nothing");
        assert_eq!(redact("nothing".to_owned(), None), "nothing");
    }

    #[test]
    fn only_disable_goes_without_a_tls_client() {
        assert!(TlsSettings::new(SslMode::Disable)
            .client_config()
            .expect("config")
            .is_none());
        for mode in [SslMode::Prefer, SslMode::Require] {
            let connector = PgConnector::new(TlsSettings::new(mode)).expect("connector");
            assert!(connector.tls.is_some());
            assert_eq!(connector.mode(), mode);
        }
    }

    fn root_file(contents: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), contents).expect("write");
        file
    }

    fn verifying(mode: SslMode, path: &Path) -> Result<PgConnector, TlsError> {
        PgConnector::new(TlsSettings {
            mode,
            root_cert: Some(path.to_owned()),
        })
    }

    #[test]
    fn a_root_file_with_a_ca_certificate_is_accepted() {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&key).expect("CA");
        let file = root_file(&ca.pem());
        for mode in [SslMode::VerifyCa, SslMode::VerifyFull] {
            verifying(mode, file.path()).expect("connector");
        }
    }

    #[test]
    fn a_missing_root_file_is_named_in_the_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("root.crt");
        let err = verifying(SslMode::VerifyFull, &missing).expect_err("missing file");
        assert!(matches!(err, TlsError::RootCertRead { .. }), "{err}");
        assert!(
            err.to_string().contains(&missing.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn a_root_file_without_certificates_is_rejected() {
        let file = root_file("not a certificate\n");
        let err = verifying(SslMode::VerifyCa, file.path()).expect_err("empty file");
        assert!(matches!(err, TlsError::RootCertEmpty { .. }), "{err}");
        assert!(err.to_string().contains(&file.path().display().to_string()));
    }

    #[test]
    fn a_damaged_root_file_is_rejected() {
        let file = root_file("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n");
        let err = verifying(SslMode::VerifyFull, file.path()).expect_err("bad PEM");
        assert!(matches!(err, TlsError::RootCertParse { .. }), "{err}");
    }

    #[test]
    fn the_root_file_is_ignored_when_nothing_is_verified() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("root.crt");
        for mode in [SslMode::Disable, SslMode::Prefer, SslMode::Require] {
            verifying(mode, &missing).expect("connector");
        }
    }
}
