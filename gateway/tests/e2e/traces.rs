//! One trace across three processes: the gateway continues the client's W3C
//! trace context and passes it on; the auth-service and the
//! workspace-service continue it, so the client's trace id is in the logs of
//! all three. The real binaries run here, each logging JSON lines; once
//! with OTLP export off (the default), once exporting to a collector run by
//! the test, where the spans must also link up parent to child.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Value_;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use crate::stack::eventually;

const TRACE_ID: &str = "5e0c63257de34c92bf9efcd03927272e";

/// A binary of this workspace next to the gateway's, built (or found up to
/// date) by the same cargo that runs this test, so it is never stale.
fn binary(name: &str) -> PathBuf {
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--bin", name, "--package", name])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cannot build {name}");
    PathBuf::from(env!("CARGO_BIN_EXE_gateway")).with_file_name(name)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Process {
    name: &'static str,
    child: tokio::process::Child,
}

impl Process {
    fn spawn(name: &'static str, env: &[(&str, String)], otlp: Option<&str>) -> Self {
        let mut command = tokio::process::Command::new(binary(name));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        if let Some(endpoint) = otlp {
            command
                .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
                .env("OTEL_BSP_SCHEDULE_DELAY", "100");
        }
        Self {
            name,
            child: command.spawn().unwrap(),
        }
    }

    /// Stops the process (SIGTERM, as in production) and returns its log lines.
    async fn stop(mut self) -> Vec<Value> {
        let pid = self.child.id().expect("running").to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        let mut out = String::new();
        let mut stdout = self.child.stdout.take().unwrap();
        tokio::time::timeout(Duration::from_secs(30), stdout.read_to_string(&mut out))
            .await
            .unwrap_or_else(|_| panic!("{} did not stop", self.name))
            .unwrap();
        let status = self.child.wait().await.unwrap();
        assert!(status.success(), "{} exited with {status:?}", self.name);
        out.lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("{}: not a JSON line ({e}): {line}", self.name))
            })
            .collect()
    }
}

/// An OTLP/gRPC trace collector that keeps what it receives.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<ExportTraceServiceRequest>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Collector {
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(self.clone()))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        format!("http://{addr}")
    }

    /// (service name, span name, span id, parent span id) of each span of
    /// the trace `trace_id`, all hex.
    fn spans(&self, trace_id: &str) -> Vec<(String, String, String, String)> {
        let mut spans = Vec::new();
        for request in self.0.lock().unwrap().iter() {
            for resource in &request.resource_spans {
                let service = resource
                    .resource
                    .iter()
                    .flat_map(|r| &r.attributes)
                    .find(|a| a.key == "service.name")
                    .and_then(|a| a.value.as_ref())
                    .and_then(|v| match &v.value {
                        Some(Value_::StringValue(s)) => Some(s.clone()),
                        _ => None,
                    })
                    .unwrap_or_default();
                for scope in &resource.scope_spans {
                    for span in &scope.spans {
                        if hex::encode(&span.trace_id) == trace_id {
                            spans.push((
                                service.clone(),
                                span.name.clone(),
                                hex::encode(&span.span_id),
                                hex::encode(&span.parent_span_id),
                            ));
                        }
                    }
                }
            }
        }
        spans
    }
}

#[tokio::test]
async fn one_trace_id_appears_in_the_logs_of_all_three_processes() {
    trace_across_three_processes(None).await;
}

#[tokio::test]
async fn with_otlp_on_the_exported_spans_of_the_three_processes_link_up() {
    let collector = Collector::default();
    let endpoint = collector.start().await;
    trace_across_three_processes(Some(&endpoint)).await;
    let spans = collector.spans(TRACE_ID);
    let services: std::collections::BTreeSet<&str> =
        spans.iter().map(|(service, ..)| service.as_str()).collect();
    assert_eq!(
        services.into_iter().collect::<Vec<_>>(),
        ["auth-service", "gateway", "workspace-service"],
        "{spans:#?}"
    );
    // Each gateway request span's parent is the client's span; each RPC
    // span's parent is a gateway request span; any other span is inside a
    // span of the same trace.
    let ids = |wanted: Option<&str>| -> Vec<String> {
        spans
            .iter()
            .filter(|(service, ..)| wanted.is_none_or(|w| service == w))
            .map(|(_, _, id, _)| id.clone())
            .collect()
    };
    let (gateway_ids, all_ids) = (ids(Some("gateway")), ids(None));
    for (service, name, _, parent) in &spans {
        match (service.as_str(), name.as_str()) {
            ("gateway", "http") => assert_eq!(parent, "b7ad6b7169203331"),
            (_, "rpc") => assert!(
                gateway_ids.contains(parent),
                "{service} rpc: parent {parent}"
            ),
            _ => assert!(
                all_ids.contains(parent),
                "{service} {name}: parent {parent}"
            ),
        }
    }
    assert!(
        spans
            .iter()
            .filter(|(s, n, ..)| s != "gateway" && n == "rpc")
            .count()
            >= 3,
        "Register, Login and CreateTask: {spans:#?}"
    );
}

async fn trace_across_three_processes(otlp: Option<&str>) {
    let auth_db = testkit::Database::fresh(testkit::database::Schema::Auth)
        .await
        .url;
    let workspace_db = testkit::Database::fresh(testkit::database::Schema::Workspace)
        .await
        .url;
    let dir = tempfile::tempdir().unwrap();
    let (auth_port, workspace_port, gateway_port) = (free_port(), free_port(), free_port());
    let auth = Process::spawn(
        "auth-service",
        &[
            ("AUTH_LISTEN_ADDR", format!("127.0.0.1:{auth_port}")),
            ("AUTH_METRICS_ADDR", "127.0.0.1:0".into()),
            ("AUTH_DATABASE_URL", auth_db),
            ("JWT_GENERATE_KEY", "true".into()),
            (
                "JWT_SIGNING_KEY_PATH",
                dir.path().join("key.pem").display().to_string(),
            ),
            ("BCRYPT_COST", "10".into()),
        ],
        otlp,
    );
    let workspace = Process::spawn(
        "workspace-service",
        &[
            (
                "WORKSPACE_LISTEN_ADDR",
                format!("127.0.0.1:{workspace_port}"),
            ),
            ("WORKSPACE_METRICS_ADDR", "127.0.0.1:0".into()),
            ("WORKSPACE_DATABASE_URL", workspace_db),
            ("AUTH_SERVICE_URL", format!("http://127.0.0.1:{auth_port}")),
            (
                "STORAGE_DIR",
                dir.path().join("files").display().to_string(),
            ),
        ],
        otlp,
    );
    let gateway = Process::spawn(
        "gateway",
        &[
            ("GATEWAY_LISTEN_ADDR", format!("127.0.0.1:{gateway_port}")),
            ("AUTH_SERVICE_URL", format!("http://127.0.0.1:{auth_port}")),
            (
                "WORKSPACE_SERVICE_URL",
                format!("http://127.0.0.1:{workspace_port}"),
            ),
        ],
        otlp,
    );
    let base = format!("http://127.0.0.1:{gateway_port}");
    // HTTPS clients take the process's TLS provider: none is installed
    // until a service starts in this process.
    service_runtime::tls::install_crypto_provider();
    let http = reqwest::Client::new();
    assert!(
        eventually(Duration::from_secs(60), || {
            let request = http.get(format!("{base}/readyz")).send();
            async move { request.await.is_ok_and(|r| r.status().is_success()) }
        })
        .await,
        "the three processes did not come up"
    );

    // One client operation, one trace: sign up, sign in, create a task.
    let traceparent = format!("00-{TRACE_ID}-b7ad6b7169203331-01");
    let credentials = json!({"email": "trace@example.com", "password": testkit::PASSWORD});
    let registered = http
        .post(format!("{base}/v1/auth/register"))
        .header("traceparent", &traceparent)
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(
        registered.status(),
        200,
        "{}",
        registered.text().await.unwrap()
    );
    let login: Value = http
        .post(format!("{base}/v1/auth/login"))
        .header("traceparent", &traceparent)
        .json(&credentials)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap();
    let created = http
        .post(format!("{base}/v1/tasks"))
        .header("traceparent", &traceparent)
        .bearer_auth(token)
        .json(&json!({"query": "count the rows"}))
        .send()
        .await
        .unwrap();
    if created.status() != 200 {
        let body = created.text().await.unwrap();
        let mut logs = String::new();
        for process in [gateway, workspace, auth] {
            let name = process.name;
            for line in process.stop().await {
                logs.push_str(&format!("{name}: {line}\n"));
            }
        }
        panic!("creating the task failed: {body}\nlogs:\n{logs}");
    }

    // Stop in dependency order; every process exits 0 on SIGTERM.
    let gateway_log = gateway.stop().await;
    let workspace_log = workspace.stop().await;
    let auth_log = auth.stop().await;
    let traced = |log: &[Value]| -> Vec<Value> {
        log.iter()
            .filter(|line| line.to_string().contains(TRACE_ID))
            .cloned()
            .collect()
    };
    let (at_gateway, at_auth, at_workspace) = (
        traced(&gateway_log),
        traced(&auth_log),
        traced(&workspace_log),
    );
    // The gateway logged each of the three requests once at completion.
    let finished = |lines: &[Value], message: &str| {
        lines
            .iter()
            .filter(|line| line["message"] == message)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        finished(&at_gateway, "request finished").len(),
        3,
        "{at_gateway:#?}"
    );
    // The auth-service saw Register and Login in this trace, with their codes.
    let auth_calls = finished(&at_auth, "rpc finished");
    let methods: Vec<String> = auth_calls.iter().map(|line| line.to_string()).collect();
    assert!(
        methods
            .iter()
            .any(|m| m.contains("auth.v1.AuthService/Register")),
        "{auth_calls:#?}"
    );
    assert!(
        methods
            .iter()
            .any(|m| m.contains("auth.v1.AuthService/Login")),
        "{auth_calls:#?}"
    );
    assert!(
        auth_calls.iter().all(|line| line["code"] == "OK"),
        "{auth_calls:#?}"
    );
    // The workspace-service saw CreateTask in this trace, with the user.
    let workspace_calls = finished(&at_workspace, "rpc finished");
    assert_eq!(workspace_calls.len(), 1, "{at_workspace:#?}");
    let line = workspace_calls[0].to_string();
    assert!(
        line.contains("workspace.v1.TaskService/CreateTask"),
        "{line}"
    );
    let user_id = login["user"]["user_id"].as_str().unwrap();
    assert!(
        line.contains(user_id),
        "the user id is on the call's span: {line}"
    );
    // Secrets never reach the logs.
    for log in [&gateway_log, &auth_log, &workspace_log] {
        let text = serde_json::to_string(log).unwrap();
        assert!(!text.contains(testkit::PASSWORD));
        assert!(!text.contains(token));
    }
}
