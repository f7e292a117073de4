//! TLS to PostgreSQL against real servers: each libpq `sslmode` must accept
//! exactly the servers and certificates libpq would.
//!
//! The certificates are made fresh for every run: a test CA that issues a
//! server certificate for `localhost` only, and an unrelated CA that trusts
//! nothing the server has. Connecting to `localhost` matches the certificate;
//! connecting to `127.0.0.1` reaches the same server under a name the
//! certificate does not cover.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;

use common::pg_cluster::{ClusterOptions, PgCluster, SslFiles};
use diesel::sql_types::{Bool, Text};
use diesel::{ConnectionError, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use mapagov::db::tls::{PgConnector, SslMode, TlsSettings};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

const DB: &str = "tls_test";

/// Root certificate files a client may trust.
struct Roots {
    /// The CA that issued the server certificate.
    ca_file: PathBuf,
    /// A CA that has nothing to do with the server.
    other_ca_file: PathBuf,
    _dir: tempfile::TempDir,
}

/// A self-signed CA named `name`.
fn make_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA")
}

/// A server certificate for `localhost` and the roots for the clients.
fn pki() -> (SslFiles, Roots) {
    let ca = make_ca("MapaGov test CA");
    let other_ca = make_ca("Unrelated test CA");

    let mut params =
        CertificateParams::new(vec!["localhost".to_owned()]).expect("server parameters");
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate().expect("server key");
    let server_cert = params
        .signed_by(&server_key, &ca)
        .expect("server certificate");

    let dir = tempfile::tempdir().expect("temporary directory");
    let ca_file = dir.path().join("root.crt");
    let other_ca_file = dir.path().join("other-root.crt");
    std::fs::write(&ca_file, ca.pem()).expect("write CA");
    std::fs::write(&other_ca_file, other_ca.pem()).expect("write other CA");

    let server = SslFiles {
        cert_pem: server_cert.pem().into_bytes(),
        key_pem: server_key.serialize_pem().into_bytes(),
    };
    let roots = Roots {
        ca_file,
        other_ca_file,
        _dir: dir,
    };
    (server, roots)
}

fn cluster(ssl: Option<SslFiles>) -> PgCluster {
    let cluster = PgCluster::start(ClusterOptions {
        ssl,
        ..ClusterOptions::default()
    });
    cluster.create_database(DB);
    cluster
}

/// An SSL-enabled server and the roots behind its certificate.
fn ssl_cluster() -> (PgCluster, Roots) {
    let (server_files, roots) = pki();
    (cluster(Some(server_files)), roots)
}

/// The application role's URL with `host` in place of 127.0.0.1.
fn url_for(cluster: &PgCluster, host: &str) -> String {
    cluster
        .url(DB)
        .replacen("@127.0.0.1:", &format!("@{host}:"), 1)
}

fn connector(mode: SslMode, root: Option<&PathBuf>) -> PgConnector {
    PgConnector::new(TlsSettings {
        mode,
        root_cert: root.cloned(),
    })
    .expect("TLS settings")
}

#[derive(QueryableByName)]
struct Session {
    #[diesel(sql_type = Bool)]
    ssl: bool,
    #[diesel(sql_type = Text)]
    user_name: String,
}

/// Whether this session is encrypted, as the server sees it.
async fn session_uses_tls(conn: &mut AsyncPgConnection) -> bool {
    let session: Session = diesel::sql_query(
        "SELECT ssl, current_user::text AS user_name FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    )
    .get_result(conn)
    .await
    .expect("session query");
    assert_eq!(session.user_name, "mapagov");
    session.ssl
}

/// Connects and reports whether the session is encrypted.
async fn connect_tls_state(connector: &PgConnector, url: &str) -> bool {
    let mut conn = connector
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("{} should connect: {e}", connector.mode()));
    session_uses_tls(&mut conn).await
}

/// Expects the connection to be refused with a message containing `reason`
/// and not the password.
async fn refused(connector: &PgConnector, url: &str, cluster: &PgCluster, reason: &str) {
    let message = match connector.connect(url).await {
        Ok(_) => panic!("{} should refuse this server", connector.mode()),
        Err(ConnectionError::BadConnection(message)) => message,
        Err(other) => panic!("unexpected error kind: {other}"),
    };
    assert!(
        message.contains(reason),
        "expected `{reason}` in the error, got: {message}"
    );
    assert!(
        !message.contains(cluster.password()),
        "the error reveals the password: {message}"
    );
}

#[tokio::test]
async fn verify_full_checks_the_chain_and_the_host_name() {
    let (server, roots) = ssl_cluster();
    let verify_full = connector(SslMode::VerifyFull, Some(&roots.ca_file));

    assert!(connect_tls_state(&verify_full, &url_for(&server, "localhost")).await);
    refused(
        &verify_full,
        &url_for(&server, "127.0.0.1"),
        &server,
        "not valid for name",
    )
    .await;

    let wrong_ca = connector(SslMode::VerifyFull, Some(&roots.other_ca_file));
    refused(
        &wrong_ca,
        &url_for(&server, "localhost"),
        &server,
        "UnknownIssuer",
    )
    .await;
}

#[tokio::test]
async fn verify_ca_checks_the_chain_but_not_the_host_name() {
    let (server, roots) = ssl_cluster();
    let verify_ca = connector(SslMode::VerifyCa, Some(&roots.ca_file));

    assert!(connect_tls_state(&verify_ca, &url_for(&server, "127.0.0.1")).await);
    assert!(connect_tls_state(&verify_ca, &url_for(&server, "localhost")).await);

    // With the host name mismatch ignored, the chain alone must still decide.
    let wrong_ca = connector(SslMode::VerifyCa, Some(&roots.other_ca_file));
    for host in ["127.0.0.1", "localhost"] {
        refused(&wrong_ca, &url_for(&server, host), &server, "UnknownIssuer").await;
    }
}

#[tokio::test]
async fn require_encrypts_without_checking_the_certificate() {
    let (ssl_server, _roots) = ssl_cluster();
    let plain_server = cluster(None);
    let require = connector(SslMode::Require, None);

    assert!(connect_tls_state(&require, &url_for(&ssl_server, "127.0.0.1")).await);
    refused(
        &require,
        &url_for(&plain_server, "127.0.0.1"),
        &plain_server,
        "does not support TLS",
    )
    .await;
}

#[tokio::test]
async fn prefer_falls_back_to_plaintext_and_disable_never_encrypts() {
    let (ssl_server, _roots) = ssl_cluster();
    let plain_server = cluster(None);
    let prefer = connector(SslMode::Prefer, None);
    let disable = connector(SslMode::Disable, None);

    assert!(connect_tls_state(&prefer, &url_for(&ssl_server, "127.0.0.1")).await);
    assert!(!connect_tls_state(&prefer, &url_for(&plain_server, "127.0.0.1")).await);
    assert!(!connect_tls_state(&disable, &url_for(&ssl_server, "127.0.0.1")).await);
    assert!(!connect_tls_state(&disable, &url_for(&plain_server, "127.0.0.1")).await);
}

#[tokio::test]
async fn sslmode_in_the_url_may_not_ask_for_more_than_the_settings() {
    let (server, roots) = ssl_cluster();
    let verify_full = connector(SslMode::VerifyFull, Some(&roots.ca_file));
    let localhost = url_for(&server, "localhost");

    // libpq-style URLs that spell out the mode keep working.
    for mode in ["verify-full", "require", "disable"] {
        let url = format!("{localhost}?sslmode={mode}&application_name=tls_test");
        assert!(connect_tls_state(&verify_full, &url).await, "{mode}");
    }

    let prefer = connector(SslMode::Prefer, None);
    for mode in ["require", "verify-ca", "verify-full"] {
        let url = format!("{localhost}?sslmode={mode}");
        refused(&prefer, &url, &server, "sslmode").await;
    }
}

#[tokio::test]
async fn wrong_password_is_reported_without_the_url() {
    let (server, _roots) = ssl_cluster();
    let require = connector(SslMode::Require, None);
    let url = url_for(&server, "127.0.0.1").replace(server.password(), "wrong-password-123");
    let message = match require.connect(&url).await {
        Ok(_) => panic!("a wrong password must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(
        message.contains("password authentication failed"),
        "{message}"
    );
    assert!(!message.contains("wrong-password-123"), "{message}");
    assert!(!message.contains("postgres://"), "{message}");
}
