//! The mail sender: delivers the outbox's mail through the [`Mailer`],
//! retrying with exponential backoff.
//!
//! Each pass claims the mails that are due (a lease, so replicas share the
//! work and a sender that dies mid-send leaves its mail to be retried),
//! sends them, and records each outcome. A failure is retried after 10 s,
//! 20 s, 40 s… at most an hour apart, until [`MAX_ATTEMPTS`]; a mail the
//! server refuses for good (5xx) is abandoned at once. Delivery is
//! at-least-once: a crash between the server's acceptance and the update
//! sends that mail again. The backlog (mail neither sent nor abandoned) is
//! the gauge `mail_outbox_backlog`.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::db::mail_outbox::Mail;
use crate::mail::{Mailer, SendError};
use crate::state::AppState;

/// Attempts before a mail is abandoned (about nine hours of retries).
pub const MAX_ATTEMPTS: i32 = 16;

/// How long a claimed mail is left to its sender before it is due again.
const LEASE: Duration = Duration::from_secs(120);

/// Mails claimed at once.
const BATCH: i64 = 20;

/// When attempt `attempts` (1 for the first) failed, the delay before the
/// next one; None once the attempts have run out.
pub fn retry_delay(attempts: i32) -> Option<Duration> {
    if attempts >= MAX_ATTEMPTS {
        return None;
    }
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(20);
    Some(Duration::from_secs(10u64 << doublings).min(Duration::from_secs(3600)))
}

/// Runs the sender until the service drains: a pass every `interval`.
pub fn spawn(state: AppState, mailer: Mailer, interval: Duration) {
    tokio::spawn(async move {
        let mut draining = state.draining.clone();
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                changed = draining.wait_for(|d| *d) => {
                    let _ = changed;
                    return;
                }
            }
            if let Err(e) = send_due(&state, &mailer).await {
                tracing::warn!(error = %e, "mail sender pass failed");
            }
        }
    });
}

/// One pass: sends every mail due now, batch after batch. Returns how many
/// were sent.
pub async fn send_due(state: &AppState, mailer: &Mailer) -> anyhow::Result<usize> {
    let from = &state.config.mail.from;
    let mut sent = 0;
    loop {
        let now = state.clock.now();
        let claimed = {
            let mut conn = state.pool.get().await?;
            Mail::claim_due(&mut conn, now, lease_end(now), BATCH).await?
        };
        for mail in &claimed {
            let outcome = mailer.send(from, mail).await;
            let now = state.clock.now();
            let mut conn = state.pool.get().await?;
            match outcome {
                Ok(()) => {
                    Mail::mark_sent(&mut conn, mail.id, now).await?;
                    sent += 1;
                }
                Err(error) => {
                    let retry_at = match &error {
                        SendError::Permanent(_) => None,
                        SendError::Transient(_) => retry_delay(mail.attempts)
                            .and_then(|d| chrono::Duration::from_std(d).ok())
                            .map(|d| now + d),
                    };
                    // The address is personal data: the id says which mail.
                    tracing::warn!(
                        mail_id = %mail.id,
                        attempts = mail.attempts,
                        abandoned = retry_at.is_none(),
                        error = %error,
                        "mail not sent"
                    );
                    let text = error.to_string();
                    Mail::mark_failed(&mut conn, mail.id, &text, retry_at, now).await?;
                }
            }
        }
        if claimed.len() < BATCH as usize {
            break;
        }
    }
    let mut conn = state.pool.get().await?;
    state.mail_backlog.set(Mail::backlog(&mut conn).await?);
    Ok(sent)
}

fn lease_end(now: DateTime<Utc>) -> DateTime<Utc> {
    now + chrono::Duration::from_std(LEASE).expect("a small duration")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_from_ten_seconds_up_to_an_hour_then_stop() {
        assert_eq!(retry_delay(1), Some(Duration::from_secs(10)));
        assert_eq!(retry_delay(2), Some(Duration::from_secs(20)));
        assert_eq!(retry_delay(5), Some(Duration::from_secs(160)));
        assert_eq!(retry_delay(10), Some(Duration::from_secs(3600)));
        assert_eq!(
            retry_delay(MAX_ATTEMPTS - 1),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(retry_delay(MAX_ATTEMPTS), None);
    }
}
