//! Mail: what the service writes to its users, and how it leaves.
//!
//! A mail is never sent from an RPC. The RPC writes it to the outbox
//! ([`enqueue`]) in the transaction of the change that causes it, and the
//! sender ([`crate::mail_sender`]) delivers it through the [`Mailer`]: over
//! SMTP (`SMTP_URL`, with `lettre`), or, without a mail server, as `.eml`
//! files in a directory (`MAIL_DIR`; the dev stack's `.devstack/mail/`).
//! A mail server that is down delays mail; it never fails the change.

pub mod templates;

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use uuid::Uuid;

use crate::db::mail_outbox::{Mail, NewMail};

pub use templates::{Locale, Template};

/// Writes `template`, addressed to `to`, to the outbox. Call inside the
/// transaction of the change that causes the mail.
pub async fn enqueue(
    conn: &mut AsyncPgConnection,
    to: &str,
    template: &Template,
    now: DateTime<Utc>,
) -> diesel::QueryResult<()> {
    NewMail {
        id: Uuid::now_v7(),
        recipient: to,
        subject: &template.subject,
        body_text: &template.text,
        created_at: now,
        next_attempt_at: now,
    }
    .insert(conn)
    .await
}

/// The outbox's backlog (mail neither sent nor abandoned) as of the
/// sender's last pass: the gauge `mail_outbox_backlog`.
#[derive(Debug, Clone, Default)]
pub struct Backlog(std::sync::Arc<std::sync::atomic::AtomicI64>);

impl Backlog {
    pub fn get(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn set(&self, value: i64) {
        self.0.store(value, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Where mail goes.
#[derive(Clone)]
pub enum Mailer {
    /// An SMTP server.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// One `.eml` file per mail in this directory.
    Directory(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The SMTP URL may hold a password: never printed.
        match self {
            Self::Smtp(_) => f.write_str("Mailer::Smtp"),
            Self::Directory(_, dir) => write!(f, "Mailer::Directory({})", dir.display()),
        }
    }
}

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The mail can never be sent as it is (a malformed address): not retried.
    #[error("{0}")]
    Permanent(String),
    /// It may go through later (the server is down, or refused it for now).
    #[error("{0}")]
    Transient(String),
}

impl Mailer {
    /// The SMTP transport of `url`, as `lettre` reads it: `smtps://` is
    /// implicit TLS, `smtp://…?tls=required` STARTTLS, plain `smtp://` no
    /// TLS (loopback and tests); `user:pass@` logs in.
    pub fn smtp(url: &str) -> Result<Self, String> {
        AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map(|builder| Self::Smtp(builder.build()))
            .map_err(|e| format!("is not a valid SMTP URL: {e}"))
    }

    /// Whether `url` is an SMTP URL [`Mailer::smtp`] takes (checked at
    /// start; nothing is connected).
    pub fn check_smtp_url(url: &str) -> Result<(), String> {
        AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map(drop)
            .map_err(|e| format!("is not a valid SMTP URL: {e}"))
    }

    /// Mail written as files into `dir` (created if missing).
    pub fn directory(dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(Self::Directory(
            AsyncFileTransport::<Tokio1Executor>::new(&dir),
            dir,
        ))
    }

    /// Sends one mail of the outbox from `from`.
    pub async fn send(&self, from: &Mailbox, mail: &Mail) -> Result<(), SendError> {
        let to: Mailbox = mail
            .recipient
            .parse()
            .map_err(|e| SendError::Permanent(format!("recipient: {e}")))?;
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body_text.clone())
            .map_err(|e| SendError::Permanent(e.to_string()))?;
        match self {
            Self::Smtp(transport) => match transport.send(message).await {
                Ok(_) => Ok(()),
                // 5xx: the server will not take this mail, ever.
                Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
                Err(e) => Err(SendError::Transient(e.to_string())),
            },
            Self::Directory(transport, dir) => {
                let id = transport
                    .send(message)
                    .await
                    .map_err(|e| SendError::Transient(e.to_string()))?;
                tracing::info!(path = %dir.join(format!("{id}.eml")).display(), "mail written");
                Ok(())
            }
        }
    }
}
