//! Starting the stack: a service that cannot start says so at once.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

#[tokio::test]
async fn a_service_that_cannot_bind_its_port_fails_the_start_at_once() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    // Well under the patience a restart gets for its old port (15 s).
    let started = tokio::time::timeout(
        Duration::from_secs(5),
        testkit::Stack::builder()
            .auth(move |c| c.listen_addr = addr)
            .start(),
    )
    .await
    .expect("the start gives up at once rather than retrying");
    let error = started.err().expect("the port is taken");
    assert!(
        format!("{error:#}").contains("AUTH_LISTEN_ADDR"),
        "the error names the setting: {error:#}"
    );
}
