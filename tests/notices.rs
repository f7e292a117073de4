//! E-mail notices to a POP's author, received by a real SMTP server the test starts (aiosmtpd,
//! Debian's `python3-aiosmtpd`; `scripts/test` installs it) into a maildir.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::pops::{change_status, create};
use common::{Backend, TestServer};
use mapagov::db::Conn;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Python with aiosmtpd: Debian's, else the first on `PATH`.
fn python() -> &'static str {
    let has = |python: &str| {
        Command::new(python)
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success())
    };
    ["/usr/bin/python3", "python3"]
        .into_iter()
        .find(|p| has(p))
        .expect("aiosmtpd (apt-get install python3-aiosmtpd, or pip install aiosmtpd)")
}

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An SMTP server storing every message in a maildir; killed on drop.
struct SmtpServer {
    child: Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl SmtpServer {
    fn start() -> SmtpServer {
        let maildir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new(python())
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("box"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        SmtpServer {
            child,
            port,
            maildir,
        }
    }

    /// The messages received, decoded by Python's `email` package, oldest first: `to`,
    /// `rcpt` (the envelope recipients), `from`, `subject`, `body`.
    fn messages(&self) -> Vec<Value> {
        let script = r#"
import json, mailbox, sys, email.header
box = mailbox.Maildir(sys.argv[1], create=False)
out = []
for key in box.keys():
    m = box[key]
    subject = str(email.header.make_header(email.header.decode_header(m["Subject"])))
    out.append({"to": m["To"], "rcpt": m["X-RcptTo"], "from": m["From"], "subject": subject,
                "body": m.get_payload(decode=True).decode(m.get_content_charset() or "utf-8")})
print(json.dumps(out))
"#;
        let dir = self.maildir.path().join("box");
        if !dir.join("new").exists() {
            return Vec::new();
        }
        let output = Command::new(python())
            .args(["-c", script])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// Waits until `n` messages arrived; returns them.
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} messages arrived",
                messages.len()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Gives the test user `tester` an e-mail address.
async fn set_email(server: &TestServer, address: &str) {
    use diesel_async::RunQueryDsl;
    let sql = format!("UPDATE users SET email = '{address}' WHERE username = 'tester'");
    let db = server.db().await;
    let mut pooled = db.get().await.unwrap();
    let updated = match pooled.conn() {
        Conn::Pg(mut c) => diesel::sql_query(sql).execute(&mut c).await.unwrap(),
        Conn::Sqlite(c) => diesel::sql_query(sql).execute(c).await.unwrap(),
    };
    assert_eq!(updated, 1);
}

/// One received message by subject prefix.
fn by_subject<'m>(messages: &'m [Value], prefix: &str) -> &'m Value {
    messages
        .iter()
        .find(|m| m["subject"].as_str().unwrap().starts_with(prefix))
        .unwrap_or_else(|| panic!("no message `{prefix}…` in {messages:#?}"))
}

async fn the_author_hears_of_publication_send_back_and_archiving(backend: Backend) {
    let smtp = SmtpServer::start();
    let smtp_url = format!("smtp://127.0.0.1:{}", smtp.port);
    let server = TestServer::start_with(
        backend,
        &[
            ("SMTP_URL", &smtp_url),
            ("MAIL_FROM", "MapaGov <nao-responda@mapagov.example.gov.br>"),
            ("PUBLIC_BASE_URL", "https://pops.example.gov.br/"),
        ],
    )
    .await;
    set_email(&server, "autora@example.gov.br").await;
    let pop = create(&server, "s", json!({"nomeProcesso": "Conceder pensão"})).await;
    let id = pop["id"].clone();
    let link = format!(
        "https://pops.example.gov.br/catalogo/pops/{}",
        id.as_str().unwrap()
    );

    change_status(&server, &id, "IN_REVIEW", None).await;
    change_status(
        &server,
        &id,
        "DRAFT",
        Some("Falta a base legal do benefício"),
    )
    .await;
    let messages = smtp.wait_for(1).await;
    assert_eq!(
        messages.len(),
        1,
        "submitting sends nothing; sending back does"
    );
    let back = by_subject(&messages, "POP devolvido para ajustes: Conceder pensão");
    assert!(
        back["rcpt"]
            .as_str()
            .unwrap()
            .contains("autora@example.gov.br"),
        "{back:#}"
    );
    assert!(back["to"]
        .as_str()
        .unwrap()
        .contains("autora@example.gov.br"));
    assert!(back["from"]
        .as_str()
        .unwrap()
        .contains("nao-responda@mapagov.example.gov.br"));
    let body = back["body"].as_str().unwrap();
    assert!(
        body.contains("Motivo: Falta a base legal do benefício"),
        "{body}"
    );
    assert!(body.contains(&link), "{body}");

    change_status(&server, &id, "IN_REVIEW", None).await;
    change_status(&server, &id, "PUBLISHED", None).await;
    change_status(&server, &id, "ARCHIVED", None).await;
    let messages = smtp.wait_for(3).await;
    let published = by_subject(&messages, "POP publicado: Conceder pensão");
    assert!(published["body"]
        .as_str()
        .unwrap()
        .contains("foi publicado (versão 2)"));
    assert!(published["body"].as_str().unwrap().contains(&link));
    let archived = by_subject(&messages, "POP arquivado: Conceder pensão");
    assert!(archived["rcpt"]
        .as_str()
        .unwrap()
        .contains("autora@example.gov.br"));
    assert!(archived["body"].as_str().unwrap().contains(&link));
    assert_eq!(metric(&server, "sent").await, 3.0);
}

/// `mapagov_mail_notices_total{outcome}` from `/metrics`.
async fn metric(server: &TestServer, outcome: &str) -> f64 {
    let samples = common::prom::scrape(server.http(), &server.base).await;
    common::prom::value(
        &samples,
        "mapagov_mail_notices_total",
        &[("outcome", outcome)],
    )
}

async fn a_mail_server_that_is_down_neither_blocks_nor_fails_the_mutation(backend: Backend) {
    let closed = format!("smtp://127.0.0.1:{}", free_port());
    let server = TestServer::start_with(backend, &[("SMTP_URL", &closed)]).await;
    set_email(&server, "autora@example.gov.br").await;
    let pop = create(&server, "s", json!({"nomeProcesso": "Conceder pensão"})).await;
    let id = pop["id"].clone();
    change_status(&server, &id, "IN_REVIEW", None).await;
    let started = Instant::now();
    let published = change_status(&server, &id, "PUBLISHED", None).await;
    assert_eq!(published["pop"]["status"], "PUBLISHED");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the mutation waited for the mail"
    );
    let deadline = Instant::now() + Duration::from_secs(40);
    while metric(&server, "failed").await < 1.0 {
        assert!(
            Instant::now() < deadline,
            "the failed notice was never counted"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(metric(&server, "sent").await, 0.0);
}

async fn an_author_without_an_address_is_counted_not_mailed(backend: Backend) {
    let smtp = SmtpServer::start();
    let smtp_url = format!("smtp://127.0.0.1:{}", smtp.port);
    let server = TestServer::start_with(backend, &[("SMTP_URL", &smtp_url)]).await;
    let pop = create(&server, "s", json!({"nomeProcesso": "Sem endereço"})).await;
    let id = pop["id"].clone();
    change_status(&server, &id, "IN_REVIEW", None).await;
    change_status(&server, &id, "PUBLISHED", None).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while metric(&server, "no_address").await < 1.0 {
        assert!(Instant::now() < deadline, "the notice was never counted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(smtp.messages().is_empty());
}

both_backends!(
    the_author_hears_of_publication_send_back_and_archiving,
    a_mail_server_that_is_down_neither_blocks_nor_fails_the_mutation,
    an_author_without_an_address_is_counted_not_mailed,
);
