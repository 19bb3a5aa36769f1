//! Operating the service: its metrics after a scenario, a SIGTERM under load
//! (the real binary, a real signal), and a PostgreSQL restart.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proto::workspace::v1::conversation_service_client::ConversationServiceClient;
use proto::workspace::v1::{self as pb, file_service_client::FileServiceClient};
use sha2::Digest;
use tokio::time::Instant;
use tonic::Code;

use crate::helpers::{authorized, spawn_stack};

async fn scrape(addr: std::net::SocketAddr) -> String {
    // HTTPS clients take the process's TLS provider: none is installed
    // until a service starts in this process.
    service_runtime::tls::install_crypto_provider();
    let response = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// The value of the first sample line starting with `series`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(series))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn the_queue_metrics_show_depth_by_kind_claim_waits_retries_and_the_busiest_users() {
    let stack = spawn_stack().await;
    let ann = stack.user("ann@example.com").await;
    let bob = stack.user("bob@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    for (user, kind) in [
        (&ann, "ocr.document"),
        (&ann, "ocr.document"),
        (&ann, "ocr.document"),
        (&bob, "image.inpaint"),
    ] {
        stack
            .create(
                &user.token,
                pb::CreateTaskRequest {
                    query: "q".into(),
                    kind: kind.into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
    // Two of Ann's claimed after 3 s in the queue; one fails retryably.
    stack.clock.advance(chrono::Duration::seconds(3));
    let first = stack
        .claim_kinds(&worker, "w1", &["ocr.document"])
        .await
        .unwrap()
        .task
        .unwrap();
    stack
        .claim_kinds(&worker, "w2", &["ocr.document"])
        .await
        .unwrap()
        .task
        .unwrap();
    stack
        .fail(&worker, "w1", &first.task_id, true)
        .await
        .unwrap();

    let text = scrape(stack.metrics_addr).await;
    for (series, value) in [
        (
            r#"task_queue_depth_by_kind{kind="ocr.document",status="pending"}"#,
            2.0,
        ),
        (
            r#"task_queue_depth_by_kind{kind="ocr.document",status="processing"}"#,
            1.0,
        ),
        (
            r#"task_queue_depth_by_kind{kind="image.inpaint",status="pending"}"#,
            1.0,
        ),
        (r#"task_claim_wait_seconds_count{kind="ocr.document"}"#, 2.0),
        (r#"task_claim_wait_seconds_sum{kind="ocr.document"}"#, 6.0),
        (
            r#"task_retries_total{kind="ocr.document",reason="failed"}"#,
            1.0,
        ),
        (r#"task_running_top_users{rank="1"}"#, 1.0),
    ] {
        assert_eq!(sample(&text, series), Some(value), "{series} in:\n{text}");
    }
    // No user is named anywhere.
    assert!(!text.contains(&ann.id.to_string()), "{text}");
    assert!(!text.contains(&bob.id.to_string()), "{text}");
}

#[tokio::test]
async fn the_metrics_name_every_rpc_its_codes_the_pool_and_the_queue() {
    let stack = spawn_stack().await;
    let ann = stack.user("ann@example.com").await;
    let bob = stack.user("bob@example.com").await;
    let task = stack.create_task(&ann.token, "count the rows", &[]).await;
    // Bob asking for Ann's task: NOT_FOUND.
    let error = stack.get_task(&bob.token, &task.task_id).await.unwrap_err();
    assert_eq!(error.code(), Code::NotFound);

    let text = scrape(stack.metrics_addr).await;
    let created =
        r#"rpc_server_requests_total{method="workspace.v1.TaskService/CreateTask",code="OK"}"#;
    assert_eq!(sample(&text, created), Some(1.0), "{text}");
    let refused =
        r#"rpc_server_requests_total{method="workspace.v1.TaskService/GetTask",code="NOT_FOUND"}"#;
    assert_eq!(sample(&text, refused), Some(1.0), "{text}");
    for series in [
        r#"rpc_server_request_duration_seconds_bucket{le="+Inf",method="workspace.v1.TaskService/CreateTask",code="OK"}"#,
        r#"rpc_server_requests_in_flight{method="workspace.v1.TaskService/CreateTask"}"#,
        r#"db_pool_connections{state="in_use"}"#,
        r#"db_pool_connections{state="idle"}"#,
        "db_pool_max_connections",
        "db_pool_waiting_requests",
    ] {
        assert!(
            sample(&text, series).is_some(),
            "{series} missing from:\n{text}"
        );
    }
    assert_eq!(sample(&text, "db_pool_max_connections"), Some(4.0));
    assert_eq!(
        sample(&text, r#"task_queue_depth{status="pending"}"#),
        Some(1.0),
        "{text}"
    );
    // Nothing in flight once the calls are done.
    assert_eq!(
        sample(
            &text,
            r#"rpc_server_requests_in_flight{method="workspace.v1.TaskService/CreateTask"}"#
        ),
        Some(0.0)
    );

    let auth = scrape(stack.auth_metrics_addr).await;
    for series in [
        r#"rpc_server_requests_total{method="auth.v1.AuthService/Login",code="OK"}"#,
        "bcrypt_queue_depth",
        "bcrypt_in_progress",
        "revocation_stream_subscribers",
        "revocation_stream_lag_events",
        "db_pool_max_connections",
    ] {
        assert!(
            sample(&auth, series).is_some(),
            "{series} missing from:\n{auth}"
        );
    }
    // The workspace-service's revocation stream and the auth-service's own
    // verifier.
    assert!(
        sample(&auth, "revocation_stream_subscribers").unwrap() >= 2.0,
        "{auth}"
    );
}

/// A free port on loopback (bound, then released for the child to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_until<F, Fut>(what: &str, deadline: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let give_up = Instant::now() + deadline;
    while !check().await {
        assert!(Instant::now() < give_up, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn connect(addr: &str) -> Option<tonic::transport::Channel> {
    tonic::transport::Endpoint::from_shared(addr.to_owned())
        .unwrap()
        .connect()
        .await
        .ok()
}

#[tokio::test]
async fn sigterm_under_load_finishes_every_call_that_started() {
    let stack = spawn_stack().await;
    let user = stack.user("load@example.com").await;
    let database_url = testkit::Database::fresh(testkit::database::Schema::Workspace)
        .await
        .url;
    let storage = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_workspace-service"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("WORKSPACE_LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("WORKSPACE_METRICS_ADDR", "127.0.0.1:0")
        .env("WORKSPACE_DATABASE_URL", &database_url)
        .env("AUTH_SERVICE_URL", &stack.auth_url)
        .env("STORAGE_DIR", storage.path())
        .env("WORKSPACE_DRAIN_SECS", "30")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_until(
        "the service to accept calls",
        Duration::from_secs(30),
        || async { connect(&url).await.is_some() },
    )
    .await;

    // An upload that is half sent when the signal arrives.
    let (parts, rest) = tokio::sync::mpsc::channel::<pb::UploadFileRequest>(4);
    let upload_channel = connect(&url).await.unwrap();
    let content: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    parts
        .send(pb::UploadFileRequest {
            part: Some(pb::upload_file_request::Part::Metadata(
                pb::UploadFileMetadata {
                    filename: "in-flight.bin".into(),
                    mime_type: "application/octet-stream".into(),
                    ..Default::default()
                },
            )),
        })
        .await
        .unwrap();
    parts
        .send(pb::UploadFileRequest {
            part: Some(pb::upload_file_request::Part::Chunk(
                content[..1024 * 1024].to_vec().into(),
            )),
        })
        .await
        .unwrap();
    let token = user.token.clone();
    let upload = tokio::spawn(async move {
        FileServiceClient::new(upload_channel)
            .upload_file(authorized(
                &token,
                tokio_stream::wrappers::ReceiverStream::new(rest),
            ))
            .await
    });

    // Steady load: eight clients creating conversations, each on its own
    // connection, until the service turns them away.
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::new();
    for client in 0..8 {
        let channel = connect(&url).await.unwrap();
        let token = user.token.clone();
        let (acknowledged, failures) = (acknowledged.clone(), failures.clone());
        clients.push(tokio::spawn(async move {
            let mut conversations = ConversationServiceClient::new(channel);
            for n in 0.. {
                let title = format!("client {client} call {n}");
                let request = authorized(
                    &token,
                    pb::CreateConversationRequest {
                        title: title.clone(),
                        file_ids: Vec::new(),
                    },
                );
                match conversations.create_conversation(request).await {
                    Ok(_) => acknowledged.lock().unwrap().push(title),
                    // Not accepted: the connection was closed or refused
                    // before the call reached the service.
                    Err(status) if status.code() == Code::Unavailable => return,
                    Err(status) => {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("{title}: {status:?}"));
                        return;
                    }
                }
            }
        }));
    }
    wait_until("load to build up", Duration::from_secs(30), || async {
        acknowledged.lock().unwrap().len() >= 200
    })
    .await;

    let pid = child.id().expect("running");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Once it stops accepting, finish the upload that was in flight.
    wait_until("the listener to close", Duration::from_secs(10), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
    })
    .await;
    for chunk in content[1024 * 1024..].chunks(1024 * 1024) {
        parts
            .send(pb::UploadFileRequest {
                part: Some(pb::upload_file_request::Part::Chunk(chunk.to_vec().into())),
            })
            .await
            .unwrap();
    }
    drop(parts);
    let file = upload
        .await
        .unwrap()
        .expect("the upload in flight completes during the drain")
        .into_inner()
        .file
        .unwrap();
    assert_eq!(file.size_bytes, content.len() as i64);
    assert_eq!(file.sha256, hex::encode(sha2::Sha256::digest(&content)));

    for client in clients {
        client.await.unwrap();
    }
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the service exits within its drain time")
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    assert_eq!(
        *failures.lock().unwrap(),
        Vec::<String>::new(),
        "calls failed after starting"
    );

    // Every acknowledged call is stored.
    let acknowledged = acknowledged.lock().unwrap().clone();
    let db = testkit::Database::at(&database_url).client().await;
    let stored: i64 = db
        .query_one(
            "SELECT count(*) FROM conversations WHERE title = ANY($1)",
            &[&acknowledged],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, acknowledged.len() as i64);
    assert!(acknowledged.len() >= 200);
}

/// A PostgreSQL cluster of this test's own, so that it can be stopped.
fn private_cluster(root: &std::path::Path) -> postgres_kit::ClusterOptions {
    // The server runs as the postgres user, which must reach its directory.
    std::fs::set_permissions(root, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    postgres_kit::ClusterOptions {
        data_dir: root.join("data"),
        listen: postgres_kit::Listen::Socket,
        ephemeral: true,
        log_file: root.join("postgres.log"),
    }
}

async fn start(options: &postgres_kit::ClusterOptions) -> postgres_kit::LocalCluster {
    let options = options.clone();
    tokio::task::spawn_blocking(move || postgres_kit::LocalCluster::start(options))
        .await
        .unwrap()
        .expect("the private cluster starts")
}

async fn stop(cluster: postgres_kit::LocalCluster) {
    tokio::task::spawn_blocking(move || cluster.stop())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_service_waits_for_its_database_and_outlives_a_restart() {
    let stack = spawn_stack().await;
    let user = stack.user("restart@example.com").await;
    let root = tempfile::tempdir().unwrap();
    let options = private_cluster(root.path());
    let cluster = start(&options).await;
    let admin = testkit::Database::at(cluster.url("postgres"))
        .client()
        .await;
    admin
        .batch_execute("CREATE DATABASE workspace")
        .await
        .unwrap();
    drop(admin);
    let database_url = cluster.url("workspace");
    // Down before the service starts.
    stop(cluster).await;

    let mut config =
        testkit::configs::workspace(&database_url, &stack.auth_url, &root.path().join("files"));
    config.database_pool_size = 2;
    config.database_pool_wait = Duration::from_secs(1);
    let build = tokio::spawn(workspace_service::Application::build(config));
    assert!(!build.is_finished(), "the service must wait, not give up");
    let cluster = start(&options).await;
    let app = tokio::time::timeout(Duration::from_secs(60), build)
        .await
        .expect("the service starts once its database is up")
        .unwrap()
        .expect("and migrates it");
    let addr = app.local_addr();
    let _running = testkit::running::Running::spawn(|stopped| app.run_until(stopped));
    let mut conversations =
        ConversationServiceClient::new(connect(&format!("http://{addr}")).await.unwrap());
    let create = |title: &str| {
        authorized(
            &user.token,
            pb::CreateConversationRequest {
                title: title.into(),
                file_ids: Vec::new(),
            },
        )
    };
    conversations
        .create_conversation(create("before"))
        .await
        .unwrap();

    // The database goes away: calls are UNAVAILABLE, and the process lives.
    stop(cluster).await;
    let error = conversations
        .create_conversation(create("during"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Unavailable, "{error:?}");

    // It comes back: calls succeed again, with no restart of the service.
    let cluster = start(&options).await;
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        match conversations.create_conversation(create("after")).await {
            Ok(_) => break,
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                assert!(Instant::now() < give_up, "no recovery: {status:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    let db = testkit::Database::at(&database_url).client().await;
    let titles: Vec<String> = db
        .query("SELECT title FROM conversations ORDER BY created_at", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(titles, ["before", "after"]);
    drop(db);
    stop(cluster).await;
}

/// `workspace-service health`, as a container health check runs it.
async fn health_check(addr: &str) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_workspace-service"))
        .arg("health")
        .env_clear()
        .env("WORKSPACE_LISTEN_ADDR", addr)
        .env("RUST_LOG", "error")
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_health_subcommand_passes_a_serving_service_and_fails_a_missing_one() {
    let stack = spawn_stack().await;
    let serving = health_check(&stack.addr.to_string()).await;
    assert!(serving.status.success(), "{serving:?}");
    // Nothing listens there: exit 1, saying why.
    let missing = health_check(&format!("127.0.0.1:{}", free_port())).await;
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
    assert!(
        String::from_utf8_lossy(&missing.stdout).contains("cannot connect"),
        "{missing:?}"
    );
}

/// The server's overall health ("").
async fn health_of(addr: std::net::SocketAddr) -> i32 {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let channel = connect(&format!("http://{addr}")).await.unwrap();
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
}

#[tokio::test]
async fn the_service_is_not_ready_before_it_knows_the_revocations() {
    use tonic_health::pb::health_check_response::ServingStatus;
    let stack = spawn_stack().await;
    // With its auth-service: ready once the first snapshot is in.
    let ready = crate::helpers::eventually(Duration::from_secs(10), || async {
        health_of(stack.addr).await == ServingStatus::Serving as i32
    })
    .await;
    assert!(ready);

    // With no auth-service to tell it which sessions are revoked, a second
    // instance serves calls (tokens it can check) but reports not ready.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let root = tempfile::tempdir().unwrap();
    let mut config = testkit::configs::workspace(
        &stack.workspace_database_url,
        &nowhere,
        &root.path().join("files"),
    );
    config.run_migrations = false;
    let app = workspace_service::Application::build(config).await.unwrap();
    let addr = app.local_addr();
    let _running = testkit::running::Running::spawn(|stopped| app.run_until(stopped));
    assert_eq!(health_of(addr).await, ServingStatus::NotServing as i32);
}
