//! A 200 MiB upload and download through the gateway, run as its own
//! process so its memory can be read alone: its peak resident set may grow
//! by less than 32 MiB over what it used before the transfer.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::StreamExt;
use reqwest::header;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::stack::{eventually, spawn_stack_configured};

const SIZE: u64 = 200 << 20;
const PIECE: usize = 64 << 10;

/// The gateway binary, killed when dropped.
struct GatewayProcess {
    child: Child,
    base: String,
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl GatewayProcess {
    /// A field of `/proc/<pid>/status`, in KiB.
    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{field} in /proc/pid/status"))
    }
}

/// Piece `i` of the test file: every piece differs, so nothing dedups.
fn piece(i: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; PIECE];
    for (j, b) in bytes.iter_mut().enumerate() {
        *b = (i as usize).wrapping_mul(31).wrapping_add(j) as u8;
    }
    bytes[..8].copy_from_slice(&i.to_le_bytes());
    bytes
}

#[tokio::test]
async fn a_200_mib_upload_and_download_grow_the_gateway_by_under_32_mib() {
    let stack = spawn_stack_configured(|ws| ws.max_file_bytes = SIZE + 1, |_| {}).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .env("GATEWAY_LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("AUTH_SERVICE_URL", &stack.auth_url)
        .env("WORKSPACE_SERVICE_URL", &stack.workspace_url)
        .env("GATEWAY_UPLOAD_LIMIT_BYTES", (SIZE + 1).to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let gateway = GatewayProcess {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    // HTTPS clients take the process's TLS provider: none is installed
    // until a service starts in this process.
    service_runtime::tls::install_crypto_provider();
    let http = reqwest::Client::new();
    let healthz = format!("{}/healthz", gateway.base);
    assert!(
        eventually(Duration::from_secs(30), || {
            let request = http.get(&healthz).send();
            async move { request.await.is_ok_and(|r| r.status().is_success()) }
        })
        .await,
        "the gateway process starts"
    );
    let token = stack.signed_in("ada@example.com").await;

    // Warm up (connections, allocator pools) with a small transfer.
    let warm = http
        .post(format!("{}/v1/files?filename=warm.bin", gateway.base))
        .bearer_auth(&token)
        .body(piece(0))
        .send()
        .await
        .unwrap();
    assert_eq!(warm.status(), 200);
    let before = gateway.status_kib("VmRSS:");

    let pieces = SIZE / PIECE as u64;
    let body = futures::stream::iter(1..=pieces).map(|i| Ok::<_, std::io::Error>(piece(i)));
    let response = http
        .post(format!("{}/v1/files?filename=big.bin", gateway.base))
        .bearer_auth(&token)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let file: Value = response.json().await.unwrap();
    assert_eq!(file["file"]["size_bytes"], SIZE.to_string());
    let id = file["file"]["file_id"].as_str().unwrap();

    let mut expected = Sha256::new();
    for i in 1..=pieces {
        expected.update(piece(i));
    }
    let expected = hex::encode(expected.finalize());
    assert_eq!(file["file"]["sha256"], expected);

    let response = http
        .get(format!("{}/v1/files/{id}/content", gateway.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut read = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        size += chunk.len() as u64;
        read.update(&chunk);
    }
    assert_eq!(size, SIZE);
    assert_eq!(hex::encode(read.finalize()), expected);

    let peak = gateway.status_kib("VmHWM:");
    let growth_mib = peak.saturating_sub(before) as f64 / 1024.0;
    eprintln!("gateway: {before} KiB before, peak {peak} KiB, growth {growth_mib:.1} MiB");
    assert!(growth_mib < 32.0, "the gateway grew by {growth_mib:.1} MiB");
}
