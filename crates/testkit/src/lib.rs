//! The running stack, for every crate's tests and for the dev stack: the one
//! place where the services are configured for a test, started in-process,
//! waited for, stopped and started again.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! let stack = testkit::Stack::builder()
//!     .auth(|c| c.login_max_failures = 3)
//!     .workspace(|c| c.task_max_attempts = 2)
//!     .gateway(|_| {})
//!     .start()
//!     .await?;
//! let ada = stack.user("ada@example.com").await;
//! let rows = stack.workspace().database.count("SELECT count(*) FROM files").await;
//! # Ok(()) }
//! ```
//!
//! - [`stack`]: [`Stack`] and its builder; the handles of each running
//!   service ([`stack::Auth`], [`stack::Workspace`], [`stack::Gateway`]).
//! - [`configs`]: the configurations tests run with (port 0, a fresh
//!   database, bcrypt at its lowest cost, the shared forwarding key).
//! - [`database`]: a fresh database per test on the process's throw-away
//!   cluster, and SQL access to it.
//! - [`fixtures`]: the password of every test user, the gateway's secret,
//!   requests with a token or as the gateway forwards them.
//! - [`mail`]: a real SMTP server on loopback, and the mail it received.
//!
//! Dependencies run one way: `stack` uses `configs`, `database` and
//! `fixtures`; `configs` uses `fixtures`; nothing here is used by a service.

pub mod configs;
pub mod database;
pub mod fixtures;
pub mod mail;
pub mod running;
pub mod stack;

pub use database::Database;
pub use fixtures::{PASSWORD, authorized, eventually};
pub use stack::{Stack, StackBuilder, User};
