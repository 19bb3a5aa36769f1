//! LISTEN on a PostgreSQL channel and fan the notifications out to any number
//! of subscribers in the process. PostgreSQL delivers a notification only when
//! the transaction that sent it commits, so subscribers never hear of a change
//! that did not happen.
//!
//! The listener keeps one connection and reconnects with backoff. While it is
//! disconnected notifications are lost, so after every (re)connection it sends
//! [`Notice::Resync`]: subscribers reload whatever they watch. TCP keepalives
//! (set on every connection, see [`crate::connect`]) find a connection whose
//! peer went silent within about 25 s, so a half-open LISTEN is replaced
//! rather than waited on forever.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::broadcast;

/// What a subscriber hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A notification's payload.
    Payload(String),
    /// Notifications may have been missed: reload.
    Resync,
}

/// The fan-out of one channel; cheap to clone.
#[derive(Debug, Clone)]
pub struct Listener {
    tx: broadcast::Sender<Notice>,
}

impl Listener {
    /// Listens on `channel` (an SQL identifier of ours, not user input) of the
    /// database at `url`, from a background task.
    pub fn spawn(url: crate::DatabaseUrl, channel: &'static str) -> Self {
        let (tx, _) = broadcast::channel(4096);
        let sender = tx.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                match listen_once(&url, channel, &sender).await {
                    Ok(()) => backoff = Duration::from_millis(100),
                    Err(e) => tracing::warn!(channel, error = %e, "listener lost its connection"),
                }
                let _ = sender.send(Notice::Resync);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
        Self { tx }
    }

    /// Hears every notice from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.tx.subscribe()
    }

    /// How many subscribers listen.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Notices not yet taken by the slowest subscriber.
    pub fn backlog(&self) -> usize {
        self.tx.len()
    }
}

async fn listen_once(
    url: &crate::DatabaseUrl,
    channel: &str,
    sender: &broadcast::Sender<Notice>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = url.connect_raw().await?;
    // Polling messages also drives the connection, so LISTEN completes while
    // this loop runs.
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    let statement = format!("LISTEN {channel}");
    let listen = client.batch_execute(&statement);
    tokio::pin!(listen);
    let mut listening = false;
    loop {
        tokio::select! {
            result = &mut listen, if !listening => {
                result?;
                listening = true;
                // Whatever happened before LISTEN took effect is reloaded.
                let _ = sender.send(Notice::Resync);
            }
            message = messages.next() => match message {
                Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                    let _ = sender.send(Notice::Payload(n.payload().to_owned()));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            }
        }
    }
}
