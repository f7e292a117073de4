//! Notices by e-mail: a POP's author is told when it is published, sent back to draft (with the
//! reviewer's reason) or archived, in Portuguese, with a link to the POP's catalogue address.
//!
//! Off unless `SMTP_URL` is set. A notice is queued only after the status change has committed,
//! and queueing never waits: the mutation neither blocks on the mail server nor fails with it. One
//! worker task sends the queue in order through SMTP (`lettre`), retrying a failed send with
//! growing pauses; a notice that still fails, finds a full queue or an author without an address
//! is logged and counted in `/metrics` (`mapagov_mail_notices_total{outcome}`).

pub mod message;

use crate::config::MailConfig;
use crate::db::models::Pop;
use crate::db::{queries, Db};
use crate::domain::Status;
use crate::telemetry::metrics::Metrics;
use lettre::message::{header::ContentType, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Notices waiting to be sent; past this, new ones are dropped (and counted).
const QUEUE: usize = 1024;
/// Sends of one notice before it is given up.
const ATTEMPTS: u32 = 5;
/// Pause after the first failed send; doubled after each further failure.
const FIRST_RETRY: Duration = Duration::from_millis(500);

/// What happened to a POP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Published as version `version`.
    Published {
        /// The new version number.
        version: i32,
    },
    /// Sent back to draft by its reviewer.
    SentBack {
        /// The reviewer's reason.
        reason: String,
    },
    /// Archived.
    Archived,
}

/// One notice to a POP's author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The POP's public id.
    pub pop: uuid::Uuid,
    /// Its process name.
    pub pop_name: String,
    /// Its author (the user who created it).
    pub author_id: Option<i64>,
    /// What happened.
    pub event: Event,
}

impl Notice {
    /// The notice a committed status change of `pop` (now in `to`) sends its author:
    /// publication, send-back (with its reason) and archiving; `None` for a submission.
    pub fn status_changed(pop: &Pop, to: Status, reason: Option<&str>) -> Option<Notice> {
        let event = match to {
            Status::Published => Event::Published {
                version: pop.meta.versao,
            },
            Status::Draft => Event::SentBack {
                reason: reason.unwrap_or_default().trim().to_owned(),
            },
            Status::Archived => Event::Archived,
            Status::InReview => return None,
        };
        Some(Notice {
            pop: pop.meta.uuid.0,
            pop_name: pop.content.nome_processo.clone().unwrap_or_default(),
            author_id: pop.meta.created_by_id,
            event,
        })
    }
}

/// Queues notices for the sending task (a no-op when mail is off).
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    queue: Option<mpsc::Sender<Notice>>,
    metrics: Option<Arc<Metrics>>,
}

impl Notifier {
    /// Starts the sending task when `config` has an SMTP server; otherwise notices are ignored.
    pub fn start(
        config: &MailConfig,
        db: Db,
        public_base_url: String,
        metrics: Arc<Metrics>,
    ) -> Notifier {
        let Some(smtp) = &config.smtp else {
            return Notifier::default();
        };
        let (queue, receiver) = mpsc::channel(QUEUE);
        let sender = Sender {
            transport: smtp.transport(),
            from: config.from.clone(),
            db,
            public_base_url,
            metrics: Arc::clone(&metrics),
        };
        tokio::spawn(sender.run(receiver));
        Notifier {
            queue: Some(queue),
            metrics: Some(metrics),
        }
    }

    /// Queues `notice` without waiting; a full queue drops it (logged and counted).
    pub fn notify(&self, notice: Notice) {
        let Some(queue) = &self.queue else { return };
        if queue.try_send(notice).is_err() {
            tracing::warn!("mail: the notice queue is full; a notice was dropped");
            if let Some(metrics) = &self.metrics {
                metrics.notice("dropped");
            }
        }
    }
}

/// The sending task's state.
struct Sender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    db: Db,
    public_base_url: String,
    metrics: Arc<Metrics>,
}

impl Sender {
    async fn run(self, mut receiver: mpsc::Receiver<Notice>) {
        while let Some(notice) = receiver.recv().await {
            let outcome = self.deliver(&notice).await;
            self.metrics.notice(outcome);
        }
    }

    /// Sends one notice, retrying; returns the outcome counted in `/metrics`.
    async fn deliver(&self, notice: &Notice) -> &'static str {
        let message = match self.message(notice).await {
            Ok(Some(message)) => message,
            Ok(None) => return "no_address",
            Err(detail) => {
                tracing::warn!(pop = %notice.pop, error = %detail, "mail: notice not sent");
                return "failed";
            }
        };
        let mut pause = FIRST_RETRY;
        for attempt in 1..=ATTEMPTS {
            match self.transport.send(message.clone()).await {
                Ok(_) => return "sent",
                Err(err) if attempt < ATTEMPTS => {
                    tracing::info!(pop = %notice.pop, attempt, error = %err, "mail: send failed, retrying");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                Err(err) => {
                    tracing::warn!(pop = %notice.pop, attempts = ATTEMPTS, error = %err, "mail: notice not sent");
                }
            }
        }
        "failed"
    }

    /// The e-mail of `notice`, or `None` when its author has no address.
    async fn message(&self, notice: &Notice) -> Result<Option<Message>, String> {
        let Some(author_id) = notice.author_id else {
            return Ok(None);
        };
        let author = {
            let mut pooled = self.db.get().await.map_err(|e| e.message())?;
            queries::users_by_ids(&mut pooled.conn(), &[author_id])
                .await
                .map_err(|e| e.message())?
                .into_iter()
                .next()
        };
        let Some(to) = author.and_then(|user| {
            let address = user.email.trim().parse().ok()?;
            Some(Mailbox::new(Some(user.username), address))
        }) else {
            return Ok(None);
        };
        let link = crate::pdf::catalogue_url(&self.public_base_url, notice.pop);
        let (subject, body) = message::compose(notice, &link);
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map(Some)
            .map_err(|e| e.to_string())
    }
}
