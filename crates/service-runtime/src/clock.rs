//! Time as the services see it. Rules that depend on time (lockouts, leases,
//! expiry) read a [`Clock`], so tests move time forward instead of sleeping.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

/// The current time.
#[derive(Clone)]
pub struct Clock {
    manual: Option<Arc<Mutex<DateTime<Utc>>>>,
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clock")
            .field("manual", &self.manual.is_some())
            .finish()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self { manual: None }
    }

    /// A clock that stands still at `start` until [`Clock::advance`] moves it.
    pub fn manual(start: DateTime<Utc>) -> Self {
        Self {
            manual: Some(Arc::new(Mutex::new(start))),
        }
    }

    /// Now.
    pub fn now(&self) -> DateTime<Utc> {
        match &self.manual {
            Some(now) => *now.lock().expect("clock lock"),
            None => Utc::now(),
        }
    }

    /// Moves a manual clock forward (no effect on the system clock).
    pub fn advance(&self, by: Duration) {
        if let Some(now) = &self.manual {
            *now.lock().expect("clock lock") += by;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let start = Utc::now();
        let clock = Clock::manual(start);
        assert_eq!(clock.now(), start);
        clock.clone().advance(Duration::minutes(16));
        assert_eq!(clock.now(), start + Duration::minutes(16));
    }
}
