use md5::Md5;
use proto::workspace::v1 as pb;
use sha2::{Digest, Sha256};
use tonic::Code;

use crate::helpers::{authorized, spawn_stack};

fn csv(rows: usize) -> Vec<u8> {
    (0..rows)
        .map(|i| format!("{i},{}\n", i * 2))
        .collect::<String>()
        .into_bytes()
}

#[tokio::test]
async fn an_upload_round_trips_with_its_hashes_and_its_chinese_name() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let data = csv(200_000); // ~2.4 MB, several chunks
    let chunks: Vec<Vec<u8>> = data.chunks(1 << 20).map(<[u8]>::to_vec).collect();
    let file = stack
        .upload(&ada.token, "销售数据 2026.csv", chunks)
        .await
        .unwrap();
    assert_eq!(file.filename, "销售数据 2026.csv");
    assert_eq!(file.size_bytes, data.len() as i64);
    assert_eq!(file.md5, hex::encode(Md5::digest(&data)));
    assert_eq!(file.sha256, hex::encode(Sha256::digest(&data)));
    assert_eq!(file.mime_type, "text/csv");
    let (meta, bytes) = stack.download(&ada.token, &file.file_id).await.unwrap();
    assert_eq!(meta.file_id, file.file_id);
    assert_eq!(bytes, data);
    assert!(stack.stored("tmp").is_empty());
}

#[tokio::test]
async fn identical_content_is_stored_once_and_freed_with_its_last_file() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let grace = stack.user("grace@example.com").await;
    let a = stack
        .upload(&ada.token, "a.csv", vec![b"same bytes".to_vec()])
        .await
        .unwrap();
    let g = stack
        .upload(&grace.token, "g.csv", vec![b"same bytes".to_vec()])
        .await
        .unwrap();
    assert_ne!(a.file_id, g.file_id);
    assert_eq!(stack.stored("blobs").len(), 1);
    let delete = |token: &str, id: &str| {
        let mut files = stack.files.clone();
        let request = authorized(token, pb::DeleteFileRequest { file_id: id.into() });
        async move { files.delete_file(request).await }
    };
    delete(&ada.token, &a.file_id).await.unwrap();
    assert_eq!(stack.stored("blobs").len(), 1, "grace's file still uses it");
    assert_eq!(
        stack.download(&grace.token, &g.file_id).await.unwrap().1,
        b"same bytes"
    );
    delete(&grace.token, &g.file_id).await.unwrap();
    assert!(stack.stored("blobs").is_empty());
    assert_eq!(stack.count("SELECT count(*) FROM blobs").await, 0);
}

#[tokio::test]
async fn racing_uploads_of_the_same_content_all_succeed_with_one_blob() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let data = csv(50_000);
    let names: Vec<String> = (0..8).map(|i| format!("copy{i}.csv")).collect();
    let uploads = names
        .iter()
        .map(|name| stack.upload(&ada.token, name, vec![data.clone()]));
    for result in futures::future::join_all(uploads).await {
        result.unwrap();
    }
    assert_eq!(stack.stored("blobs").len(), 1);
    assert_eq!(stack.count("SELECT refs::bigint FROM blobs").await, 8);
    assert_eq!(stack.count("SELECT count(*) FROM files").await, 8);
    assert!(stack.stored("tmp").is_empty());
}

#[tokio::test]
async fn bad_uploads_are_refused_and_leave_nothing_behind() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let cases: Vec<(&str, Vec<Vec<u8>>, Code)> = vec![
        ("empty.csv", vec![], Code::InvalidArgument),
        ("../etc/passwd", vec![b"x".to_vec()], Code::InvalidArgument),
        ("nul\0.csv", vec![b"x".to_vec()], Code::InvalidArgument),
        (
            "big-chunk.csv",
            vec![vec![0u8; (1 << 20) + 1]],
            Code::InvalidArgument,
        ),
    ];
    for (name, chunks, code) in cases {
        let status = stack.upload(&ada.token, name, chunks).await.unwrap_err();
        assert_eq!(status.code(), code, "{name:?}");
    }
    // A stream that does not start with the metadata.
    let chunk_first = vec![pb::UploadFileRequest {
        part: Some(pb::upload_file_request::Part::Chunk(b"x".to_vec().into())),
    }];
    let status = stack
        .files
        .clone()
        .upload_file(authorized(&ada.token, tokio_stream::iter(chunk_first)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(stack.count("SELECT count(*) FROM files").await, 0);
    assert!(stack.stored("blobs").is_empty());
    assert!(
        crate::helpers::eventually(std::time::Duration::from_secs(5), || async {
            stack.stored("tmp").is_empty()
        })
        .await
    );
}

#[tokio::test]
async fn a_file_over_the_size_limit_is_resource_exhausted() {
    let stack = crate::helpers::spawn_stack_with(|config| config.max_file_bytes = 1000).await;
    let ada = stack.user("ada@example.com").await;
    let status = stack
        .upload(&ada.token, "big.csv", vec![vec![1u8; 600], vec![2u8; 600]])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(
        stack
            .upload(&ada.token, "fits.csv", vec![vec![1u8; 1000]])
            .await
            .is_ok()
    );
    assert_eq!(stack.count("SELECT count(*) FROM files").await, 1);
}

#[tokio::test]
async fn a_cancelled_upload_leaves_neither_a_record_nor_a_stray_object() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut files = stack.files.clone();
    let request = authorized(&ada.token, tokio_stream::wrappers::ReceiverStream::new(rx));
    let call = tokio::spawn(async move { files.upload_file(request).await });
    tx.send(pb::UploadFileRequest {
        part: Some(pb::upload_file_request::Part::Metadata(
            pb::UploadFileMetadata {
                filename: "half.csv".into(),
                mime_type: String::new(),
                ..Default::default()
            },
        )),
    })
    .await
    .unwrap();
    for _ in 0..3 {
        tx.send(pb::UploadFileRequest {
            part: Some(pb::upload_file_request::Part::Chunk(
                vec![7u8; 1 << 20].into(),
            )),
        })
        .await
        .unwrap();
    }
    // The temporary object exists while the upload runs.
    assert!(
        crate::helpers::eventually(std::time::Duration::from_secs(5), || async {
            !stack.stored("tmp").is_empty()
        })
        .await
    );
    call.abort();
    drop(tx);
    let cleaned = crate::helpers::eventually(std::time::Duration::from_secs(5), || async {
        stack.stored("tmp").is_empty()
    })
    .await;
    assert!(cleaned, "the temporary object was left behind");
    assert_eq!(stack.count("SELECT count(*) FROM files").await, 0);
    assert!(stack.stored("blobs").is_empty());
}

#[tokio::test]
async fn the_sweeper_removes_old_orphans_and_keeps_what_is_referenced() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let kept = stack
        .upload(&ada.token, "kept.csv", vec![b"kept".to_vec()])
        .await
        .unwrap();
    // What a crash leaves: a temporary upload and a content with no row.
    std::fs::create_dir_all(stack.storage_dir.join("tmp")).unwrap();
    std::fs::write(stack.storage_dir.join("tmp/crashed-upload"), b"partial").unwrap();
    // And an upload cut off by kill -9 mid-body: object_store's staging file,
    // which its listings skip (found by the faults suite).
    std::fs::write(
        stack
            .storage_dir
            .join("tmp/0780d950-4e1b-4498-8cd1-20af886e6ba8#1"),
        b"partial",
    )
    .unwrap();
    let orphan = "ab".to_owned() + &"0".repeat(62);
    std::fs::create_dir_all(stack.storage_dir.join("blobs/ab")).unwrap();
    std::fs::write(
        stack.storage_dir.join(format!("blobs/ab/{orphan}")),
        b"orphan",
    )
    .unwrap();

    // Young objects are left alone: they may be uploads in progress.
    let report = workspace_service::blobs::sweep(&stack.state).await.unwrap();
    assert_eq!((report.temporary, report.orphan_objects), (0, 0));
    stack.clock.advance(chrono::Duration::hours(2));
    let report = workspace_service::blobs::sweep(&stack.state).await.unwrap();
    assert_eq!((report.temporary, report.orphan_objects), (2, 1));
    assert!(stack.stored("tmp").is_empty());
    assert_eq!(
        std::fs::read_dir(stack.storage_dir.join("tmp"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(stack.stored("blobs").len(), 1);
    assert_eq!(
        stack.download(&ada.token, &kept.file_id).await.unwrap().1,
        b"kept"
    );
}

#[tokio::test]
async fn files_are_listed_newest_first_with_their_conversations() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let first = stack
        .upload(&ada.token, "first.csv", vec![b"1".to_vec()])
        .await
        .unwrap();
    stack.clock.advance(chrono::Duration::seconds(1));
    let second = stack
        .upload(&ada.token, "second.csv", vec![b"2".to_vec()])
        .await
        .unwrap();
    let listed = stack
        .files
        .clone()
        .list_files(authorized(&ada.token, pb::ListFilesRequest::default()))
        .await
        .unwrap()
        .into_inner();
    let names: Vec<_> = listed.files.iter().map(|f| f.filename.as_str()).collect();
    assert_eq!(names, ["second.csv", "first.csv"]);
    assert_eq!(listed.total_size, 2);
    let file_id: uuid::Uuid = first.file_id.parse().unwrap();
    let conversation = stack
        .create_conversation(&ada.token, "uses first", &[file_id])
        .await
        .unwrap();
    let used_by = stack
        .files
        .clone()
        .list_file_conversations(authorized(
            &ada.token,
            pb::ListFileConversationsRequest {
                file_id: first.file_id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .conversations;
    assert_eq!(used_by.len(), 1);
    assert_eq!(used_by[0].conversation_id, conversation.conversation_id);
    let _ = second;
}

#[tokio::test]
async fn every_id_taking_file_rpc_answers_not_found_for_another_users_id() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let eve = stack.user("eve@example.com").await;
    let file = stack
        .upload(&ada.token, "private.csv", vec![b"secret".to_vec()])
        .await
        .unwrap();
    let id = file.file_id.clone();
    let mut files = stack.files.clone();
    let t = &eve.token;
    let codes = [
        files
            .get_file(authorized(
                t,
                pb::GetFileRequest {
                    file_id: id.clone(),
                },
            ))
            .await
            .unwrap_err()
            .code(),
        stack.download(t, &id).await.unwrap_err().code(),
        files
            .delete_file(authorized(
                t,
                pb::DeleteFileRequest {
                    file_id: id.clone(),
                },
            ))
            .await
            .unwrap_err()
            .code(),
        files
            .list_file_conversations(authorized(
                t,
                pb::ListFileConversationsRequest {
                    file_id: id.clone(),
                },
            ))
            .await
            .unwrap_err()
            .code(),
    ];
    assert_eq!(codes, [Code::NotFound; 4]);
    assert_eq!(stack.download(&ada.token, &id).await.unwrap().1, b"secret");
}

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn a_256_mib_upload_streams_with_bounded_memory() {
    let stack = crate::helpers::spawn_stack_with(|config| config.max_file_bytes = 300 << 20).await;
    let ada = stack.user("ada@example.com").await;
    const TOTAL: usize = 256 << 20;
    // The client makes each chunk as it is sent: nothing holds the file.
    let chunks = futures::stream::iter(0..TOTAL / (1 << 20)).map(|i| pb::UploadFileRequest {
        part: Some(pb::upload_file_request::Part::Chunk(
            vec![(i % 251) as u8; 1 << 20].into(),
        )),
    });
    let metadata = futures::stream::iter([pb::UploadFileRequest {
        part: Some(pb::upload_file_request::Part::Metadata(
            pb::UploadFileMetadata {
                filename: "big.bin".into(),
                mime_type: String::new(),
                ..Default::default()
            },
        )),
    }]);
    use futures::StreamExt;
    let before = rss_kib();
    let file = stack
        .files
        .clone()
        .upload_file(authorized(&ada.token, metadata.chain(chunks)))
        .await
        .unwrap()
        .into_inner()
        .file
        .unwrap();
    let growth_mib = rss_kib().saturating_sub(before) / 1024;
    assert_eq!(file.size_bytes, TOTAL as i64);
    assert!(
        growth_mib < 64,
        "memory grew by {growth_mib} MiB for a 256 MiB upload"
    );
    let stored = stack.stored("blobs");
    assert_eq!(std::fs::metadata(&stored[0]).unwrap().len(), TOTAL as u64);
}

#[tokio::test]
async fn a_sweep_goes_through_more_orphans_than_one_page_and_keeps_what_is_referenced() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let kept = stack
        .upload(&ada.token, "kept.csv", vec![b"kept".to_vec()])
        .await
        .unwrap();
    // 2,500 orphans in 16 directories: three pages of the listing, deleted
    // while it goes on.
    for i in 0..2_500u32 {
        let sha256 = format!("{:02x}{:062x}", i % 16, i);
        let dir = stack.storage_dir.join(format!("blobs/{}", &sha256[..2]));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(&sha256), b"orphan").unwrap();
    }
    stack.clock.advance(chrono::Duration::hours(2));
    let report = workspace_service::blobs::sweep(&stack.state).await.unwrap();
    assert_eq!(report.orphan_objects, 2_500);
    assert_eq!(stack.stored("blobs").len(), 1);
    assert_eq!(
        stack.download(&ada.token, &kept.file_id).await.unwrap().1,
        b"kept"
    );
}
