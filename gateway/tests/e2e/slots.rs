//! Slow clients cannot take the gateway offline: requests in progress are
//! capped per address, probes are outside every cap, a JSON body has a total
//! deadline and an upload a minimum rate.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::stack::{PASSWORD, Stack, spawn_stack_with};

/// Opens a connection from `source` and sends the head of a request whose
/// body (`length` bytes announced) starts with `start` and goes no further.
async fn slow_request(stack: &Stack, source: &str, head: &str, start: &[u8]) -> TcpStream {
    let address: std::net::SocketAddr = stack.base.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let mut stream = socket.connect(address).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(start).await.unwrap();
    stream
}

/// Sends `piece` every 50 ms, `times` times, on the write half of `stream`
/// while reading the answer on the other: the answer, if one comes.
async fn trickle(stream: TcpStream, piece: &'static [u8], times: usize) -> String {
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(50));
        for _ in 0..times {
            every.tick().await;
            if write.write_all(piece).await.is_err() {
                break;
            }
        }
        write
    });
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    // Until the head and the start of the body are in, or the connection ends.
    while !String::from_utf8_lossy(&answer).contains("\"message\"") {
        match tokio::time::timeout(Duration::from_secs(30), read.read(&mut buffer)).await {
            Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&buffer[..n]),
            _ => break,
        }
    }
    writer.abort();
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status code of the response that comes on `stream`, if one does.
async fn status_of(mut stream: TcpStream) -> Option<(u16, TcpStream)> {
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.ok()?;
    let text = std::str::from_utf8(&head).ok()?;
    Some((text.get(9..12)?.parse().ok()?, stream))
}

const LOGIN_HEAD: &str = "POST /v1/auth/login HTTP/1.1\r\nHost: gateway\r\n\
    Content-Type: application/json\r\nContent-Length: 100\r\n\r\n";

#[tokio::test]
async fn eleven_hundred_slow_bodies_from_one_address_leave_the_probes_and_other_clients_alone() {
    // The per-address rate limit is off: the attack paced itself under it.
    // The body deadline is long: the slots are held for the whole test.
    let stack = spawn_stack_with(|config| {
        config.rate_limit_per_ip = 0;
        config.body_timeout = Duration::from_secs(300);
    })
    .await;
    stack.signed_in("ada@example.com").await;

    const CONNECTIONS: usize = 1_100;
    const PER_ADDRESS: usize = 64; // the default cap
    let answered = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let mut held = Vec::new();
    for _ in 0..CONNECTIONS / 100 {
        let opened = futures::future::join_all(
            (0..100).map(|_| slow_request(&stack, "127.0.0.2", LOGIN_HEAD, b"{")),
        )
        .await;
        for stream in opened {
            let (answered, refused) = (answered.clone(), refused.clone());
            held.push(tokio::spawn(async move {
                let answer = status_of(stream).await;
                if let Some((status, _)) = &answer {
                    answered.fetch_add(1, Ordering::SeqCst);
                    if *status == 429 {
                        refused.fetch_add(1, Ordering::SeqCst);
                    }
                }
                answer.map(|(_, stream)| stream)
            }));
        }
    }
    // All but the capped ones are answered at once: 429, not a queue.
    let all_but_the_cap = service_runtime::testing::eventually(Duration::from_secs(30), || {
        let answered = answered.load(Ordering::SeqCst);
        async move { answered >= CONNECTIONS - PER_ADDRESS }
    })
    .await;
    assert!(
        all_but_the_cap,
        "{} of {CONNECTIONS} answered, {} of them 429",
        answered.load(Ordering::SeqCst),
        refused.load(Ordering::SeqCst)
    );
    assert_eq!(refused.load(Ordering::SeqCst), CONNECTIONS - PER_ADDRESS);

    // The probe and a client elsewhere go on while the slots stay taken.
    let probe = stack
        .http
        .get(format!("{}/healthz", stack.base))
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 200);
    let login = stack
        .http
        .post(format!("{}/v1/auth/login", stack.base))
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    assert_eq!(
        answered.load(Ordering::SeqCst),
        CONNECTIONS - PER_ADDRESS,
        "the capped requests are still in progress"
    );
    for task in held {
        task.abort();
    }
}

#[tokio::test]
async fn a_json_body_that_trickles_is_cut_at_its_total_deadline() {
    let stack = spawn_stack_with(|config| {
        config.body_timeout = Duration::from_millis(500);
    })
    .await;
    let stream = slow_request(&stack, "127.0.0.1", LOGIN_HEAD, b"{").await;
    // A byte every 50 ms: well within the idle timeout (30 s) each time; the
    // body would be complete (and not JSON: 400) after 5 s.
    let answer = trickle(stream, b" ", 99).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive within 500 ms"), "{answer}");
}

#[tokio::test]
async fn an_upload_slower_than_the_minimum_rate_is_cut_and_stores_nothing() {
    let stack = spawn_stack_with(|config| {
        config.idle_timeout = Duration::from_millis(300);
        config.upload_min_rate = 1000;
    })
    .await;
    let token = stack.signed_in("ada@example.com").await;
    let head = format!(
        "POST /v1/files?filename=slow.csv HTTP/1.1\r\nHost: gateway\r\n\
         Authorization: Bearer {token}\r\nContent-Type: text/csv\r\n\
         Content-Length: 100000\r\n\r\n"
    );
    let stream = slow_request(&stack, "127.0.0.1", &head, b"a,b\n").await;
    // 10 bytes every 50 ms (200 B/s): each piece well within the idle
    // timeout, the average far under the minimum.
    let answer = trickle(stream, b"1,2\n3,4\n5,", 400).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("slower than 1000 bytes per second"),
        "{answer}"
    );
    let listed = stack
        .call(reqwest::Method::GET, "/v1/files", Some(&token), None)
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(listed["total_size"], 0);
}
