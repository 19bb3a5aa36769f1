//! Measures what issue figures ask of the auth-service alone: the time of one
//! bcrypt hash at a cost, on one thread, and the service's login throughput
//! under concurrent logins over gRPC. Build and run in release:
//!
//! ```sh
//! cargo run --release -p devstack &          # or any running auth-service
//! cargo run --release -p auth-service --example login_load -- \
//!     --addr http://127.0.0.1:50051 --concurrency 64 --seconds 10 --cost 12
//! ```
//!
//! Registers one throw-away account (`load-<random>@example.com`) and signs
//! it in from `concurrency` tasks for `seconds`. The account's lockout does
//! not trigger: every login succeeds.

use std::time::{Duration, Instant};

use proto::auth::v1::{LoginRequest, RegisterRequest, auth_service_client::AuthServiceClient};

#[derive(Debug)]
struct Args {
    addr: String,
    concurrency: usize,
    seconds: u64,
    cost: u32,
}

fn args() -> Args {
    let mut args = Args {
        addr: "http://127.0.0.1:50051".into(),
        concurrency: 64,
        seconds: 10,
        cost: 12,
    };
    let mut iter = std::env::args().skip(1);
    while let Some(flag) = iter.next() {
        let value = iter.next().unwrap_or_default();
        match flag.as_str() {
            "--addr" => args.addr = value,
            "--concurrency" => args.concurrency = value.parse().expect("--concurrency N"),
            "--seconds" => args.seconds = value.parse().expect("--seconds N"),
            "--cost" => args.cost = value.parse().expect("--cost N"),
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

#[tokio::main]
#[allow(clippy::print_stdout)]
async fn main() {
    let args = args();

    // One hash on one thread, median of 5.
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let started = Instant::now();
            bcrypt::hash("correct horse battery", args.cost).expect("bcrypt");
            started.elapsed()
        })
        .collect();
    times.sort();
    let hash_time = times[2];
    println!(
        "bcrypt cost {}: one hash {:.1} ms (median of 5, one thread)",
        args.cost,
        hash_time.as_secs_f64() * 1e3
    );

    let channel = tonic::transport::Endpoint::from_shared(args.addr.clone())
        .expect("--addr is a URL")
        .connect()
        .await
        .expect("the auth-service answers");
    let client = AuthServiceClient::new(channel);
    let email = format!("load-{}@example.com", uuid::Uuid::new_v4().simple());
    let password = "correct horse battery";
    client
        .clone()
        .register(RegisterRequest {
            email: email.clone(),
            password: password.into(),
            ..Default::default()
        })
        .await
        .expect("register");

    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let mut client = client.clone();
        let email = email.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0u64, 0u64);
            while Instant::now() < deadline {
                let request = LoginRequest {
                    email: email.clone(),
                    password: password.into(),
                    ..Default::default()
                };
                match client.login(request).await {
                    Ok(_) => ok += 1,
                    Err(_) => failed += 1,
                }
            }
            (ok, failed)
        }));
    }
    let (mut ok, mut failed) = (0, 0);
    for task in tasks {
        let (o, f) = task.await.expect("task");
        ok += o;
        failed += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "logins: {ok} ok, {failed} failed in {elapsed:.1} s with {} concurrent: {:.1} logins/s",
        args.concurrency,
        ok as f64 / elapsed
    );
    println!(
        "bound by hashing: {cores} cores / {:.1} ms = {:.1} logins/s; measured / bound = {:.2}",
        hash_time.as_secs_f64() * 1e3,
        cores as f64 / hash_time.as_secs_f64(),
        (ok as f64 / elapsed) / (cores as f64 / hash_time.as_secs_f64())
    );
}
