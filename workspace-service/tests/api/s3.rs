//! The S3 backend against a real S3-compatible server: moto's
//! (`moto_server`, from PyPI `moto[server]`), started on loopback for the
//! test. `.ci/run` installs it; `MOTO_SERVER` may name the binary.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use proto::workspace::v1 as pb;
use secrecy::SecretString;
use service_runtime::testing::eventually;
use sha2::{Digest, Sha256};
use workspace_service::config::{S3Settings, Storage};

use crate::helpers::{authorized, spawn_stack_with};

/// A moto server, stopped when dropped.
struct MotoServer {
    child: Child,
    endpoint: String,
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_binary() -> PathBuf {
    service_runtime::testing::tool(
        "MOTO_SERVER",
        &["moto_server"],
        "pip install 'moto[server]' (see .ci/run)",
    )
}

/// Starts moto on a free loopback port and creates `bucket` in it.
async fn start_moto(bucket: &str) -> MotoServer {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(moto_binary())
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server starts");
    let server = MotoServer {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    // HTTPS clients take the process's TLS provider: none is installed
    // until a service starts in this process.
    service_runtime::tls::install_crypto_provider();
    let http = reqwest::Client::new();
    let bucket_url = format!("{}/{bucket}", server.endpoint);
    let created = eventually(Duration::from_secs(60), || {
        let request = http.put(&bucket_url).send();
        async move { matches!(request.await, Ok(r) if r.status().is_success()) }
    })
    .await;
    assert!(created, "moto answered and created the bucket");
    server
}

#[tokio::test]
async fn files_live_in_an_s3_bucket_deduplicated_and_freed_with_their_last_record() {
    let moto = start_moto("workspace-files").await;
    let endpoint = moto.endpoint.clone();
    let stack = spawn_stack_with(|config| {
        config.storage = Storage::S3(S3Settings {
            bucket: "workspace-files".into(),
            endpoint: Some(endpoint),
            region: Some("us-east-1".into()),
            credentials: Some(("test".into(), SecretString::from("test"))),
        });
    })
    .await;
    let ada = stack.user("ada@example.com").await;
    let grace = stack.user("grace@example.com").await;

    // 12 MiB in 1 MiB chunks: more than one part of a multipart upload.
    let chunks: Vec<Vec<u8>> = (0..12u8).map(|i| vec![i; 1 << 20]).collect();
    let data = chunks.concat();
    let a = stack
        .upload(&ada.token, "大文件.bin", chunks.clone())
        .await
        .unwrap();
    assert_eq!(a.size_bytes, data.len() as i64);
    assert_eq!(a.sha256, hex::encode(Sha256::digest(&data)));
    let g = stack
        .upload(&grace.token, "copy.bin", chunks)
        .await
        .unwrap();

    let stored = stack.state.blobs.list().await.unwrap();
    let blobs: Vec<_> = stored.iter().filter_map(|o| o.sha256.clone()).collect();
    assert_eq!(
        blobs,
        std::slice::from_ref(&a.sha256),
        "one object for both records"
    );
    assert_eq!(stored.len(), 1, "nothing left under tmp/: {stored:?}");

    let (meta, bytes) = stack.download(&grace.token, &g.file_id).await.unwrap();
    assert_eq!(meta.filename, "copy.bin");
    assert!(
        bytes == data,
        "the bytes read back from S3 are the ones written"
    );

    for (token, id) in [(&ada.token, &a.file_id), (&grace.token, &g.file_id)] {
        stack
            .files
            .clone()
            .delete_file(authorized(
                token,
                pb::DeleteFileRequest {
                    file_id: id.clone(),
                },
            ))
            .await
            .unwrap();
    }
    assert!(stack.state.blobs.list().await.unwrap().is_empty());
}
