//! Where file contents live: an object store (a local directory by default,
//! any S3-compatible service for several replicas) holding each distinct
//! content once, under its SHA-256.
//!
//! ```text
//! tmp/<uuid>              an upload in progress (or abandoned by a crash)
//! blobs/<aa>/<sha256>     a stored content; aa = its first two hex digits
//! ```
//!
//! An upload is streamed to `tmp/`, hashed on the way, and renamed into
//! `blobs/` by the caller while it holds the blob's row lock in the database.
//! Nothing is ever held whole in memory.

use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use md5::Md5;
use object_store::path::Path;
use secrecy::ExposeSecret;

use crate::config::S3Settings;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};

/// The parts in flight while uploading to the store.
const UPLOAD_CONCURRENCY: usize = 2;
/// The part size of uploads to the store (S3's minimum is 5 MiB).
const PART_SIZE: usize = 5 << 20;

/// The object store of file contents. Cheap to clone.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// The directory of a local store, for what its listing does not show.
    local_root: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlobStore({})", self.store)
    }
}

/// An object of the store, for the sweeper.
#[derive(Debug, Clone)]
pub struct StoredObject {
    /// Its path.
    pub path: Path,
    /// The SHA-256 it holds, for objects under `blobs/`.
    pub sha256: Option<String>,
    /// When it was last written.
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

impl BlobStore {
    /// A store in a local directory (created if missing).
    pub fn local(dir: &std::path::Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir)?
            .with_automatic_cleanup(true);
        Ok(Self {
            store: Arc::new(store),
            local_root: Some(dir.to_owned()),
        })
    }

    /// A store in an S3-compatible bucket (see [`S3Settings`]).
    pub fn s3(settings: &S3Settings) -> anyhow::Result<Self> {
        let mut builder =
            object_store::aws::AmazonS3Builder::from_env().with_bucket_name(&settings.bucket);
        if let Some(endpoint) = &settings.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(region) = &settings.region {
            builder = builder.with_region(region);
        }
        if let Some((id, secret)) = &settings.credentials {
            builder = builder
                .with_access_key_id(id)
                .with_secret_access_key(secret.expose_secret());
        }
        Ok(Self {
            store: Arc::new(builder.build()?),
            local_root: None,
        })
    }

    /// Starts an upload under `tmp/`.
    pub async fn upload(&self) -> anyhow::Result<Upload> {
        let path = Path::from(format!("tmp/{}", uuid::Uuid::new_v4()));
        let writer = self.store.put_multipart(&path).await?;
        Ok(Upload {
            store: self.clone(),
            path,
            writer: Some(WriteMultipart::new_with_chunk_size(writer, PART_SIZE)),
            md5: Md5::new(),
            sha256: Sha256::new(),
            size: 0,
        })
    }

    /// Moves a finished upload to the place of its content (replacing an
    /// identical copy, if any).
    pub async fn promote(&self, tmp: &Path, sha256: &str) -> anyhow::Result<()> {
        self.store.rename(tmp, &blob_path(sha256)).await?;
        Ok(())
    }

    /// The bytes of a content, as a stream.
    pub async fn read(
        &self,
        sha256: &str,
    ) -> anyhow::Result<BoxStream<'static, anyhow::Result<Bytes>>> {
        let result = self.store.get(&blob_path(sha256)).await?;
        Ok(match result.payload {
            object_store::GetResultPayload::File(file, _) => read_file(file),
            object_store::GetResultPayload::Stream(stream) => {
                stream.map_err(anyhow::Error::from).boxed()
            }
        })
    }

    /// Deletes a content (no error when it is already gone).
    pub async fn delete_blob(&self, sha256: &str) -> anyhow::Result<()> {
        self.delete(&blob_path(sha256)).await
    }

    /// Deletes an object (no error when it is already gone).
    pub async fn delete(&self, path: &Path) -> anyhow::Result<()> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the staging files of local uploads cut off by a crash (kill
    /// -9, power loss) that were last written before `cutoff`; how many.
    /// object_store writes a local upload to `tmp/<id>#<n>` and renames it
    /// when complete; its listings skip such names, so [`Self::list`] does
    /// not show them. (On S3 an upload cut off is an incomplete multipart
    /// upload, not an object: the bucket's `AbortIncompleteMultipartUpload`
    /// lifecycle rule removes those; see docs/workspace.md.)
    pub async fn sweep_staging(
        &self,
        cutoff: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<usize> {
        let Some(root) = self.local_root.clone() else {
            return Ok(0);
        };
        let cutoff = std::time::SystemTime::from(cutoff);
        tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
            let entries = match std::fs::read_dir(root.join("tmp")) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
                Err(e) => return Err(e.into()),
            };
            let mut removed = 0;
            for entry in entries {
                let entry = entry?;
                let staging = entry.file_name().to_string_lossy().contains('#');
                let old = entry.metadata()?.modified()? < cutoff;
                if staging && old && entry.file_type()?.is_file() {
                    match std::fs::remove_file(entry.path()) {
                        Ok(()) => removed += 1,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            Ok(removed)
        })
        .await?
    }

    /// Every object under `tmp/` and `blobs/`.
    pub async fn list(&self) -> anyhow::Result<Vec<StoredObject>> {
        self.objects().try_collect().await
    }

    /// Every stored object (temporary uploads, then contents) as a stream,
    /// listed a page at a time by the backend: a sweep never holds the
    /// whole listing.
    pub fn objects(&self) -> BoxStream<'_, anyhow::Result<StoredObject>> {
        futures::stream::iter(["tmp", "blobs"])
            .flat_map(move |prefix| {
                self.store
                    .list(Some(&Path::from(prefix)))
                    // Deleted while being listed (the sweep deletes as it
                    // goes, uploads are cancelled): nothing to sweep.
                    .filter(|meta| {
                        futures::future::ready(!matches!(
                            meta,
                            Err(object_store::Error::NotFound { .. })
                        ))
                    })
                    .map(move |meta| {
                        let meta = meta?;
                        let sha256 = (prefix == "blobs")
                            .then(|| meta.location.filename().map(str::to_owned))
                            .flatten();
                        Ok(StoredObject {
                            path: meta.location,
                            sha256,
                            last_modified: meta.last_modified,
                        })
                    })
            })
            .boxed()
    }
}

/// Bytes read from a local file at a time, each read on a blocking thread.
/// (object_store's own stream reads 8 KiB per blocking call: downloads ran
/// at a sixth of the disk's speed.)
const READ_PIECE: u64 = 1 << 20;

/// A local file as a stream of pieces of up to [`READ_PIECE`] bytes.
fn read_file(file: std::fs::File) -> BoxStream<'static, anyhow::Result<Bytes>> {
    futures::stream::try_unfold(file, |mut file| async move {
        tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let mut buffer = Vec::with_capacity(READ_PIECE as usize);
            let read = (&mut file).take(READ_PIECE).read_to_end(&mut buffer)?;
            Ok((read > 0).then(|| (Bytes::from(buffer), file)))
        })
        .await?
    })
    .boxed()
}

fn blob_path(sha256: &str) -> Path {
    Path::from(format!("blobs/{}/{sha256}", &sha256[..2.min(sha256.len())]))
}

/// An upload in progress: bytes go to the store and through the hashes.
/// Dropped unfinished (an error, a cancelled call), it deletes what it wrote.
pub struct Upload {
    store: BlobStore,
    path: Path,
    writer: Option<WriteMultipart>,
    md5: Md5,
    sha256: Sha256,
    size: u64,
}

/// A finished upload, still under `tmp/`.
#[derive(Debug, Clone)]
pub struct Uploaded {
    /// Its temporary path.
    pub path: Path,
    /// Its size in bytes.
    pub size: u64,
    /// Its MD5, hex.
    pub md5: String,
    /// Its SHA-256, hex.
    pub sha256: String,
}

impl Upload {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends `chunk`, waiting while too many parts are in flight (so memory
    /// stays bounded whatever the file's size).
    pub async fn write(&mut self, chunk: &[u8]) -> anyhow::Result<()> {
        let writer = self
            .writer
            .as_mut()
            .expect("an unfinished upload has a writer");
        writer.wait_for_capacity(UPLOAD_CONCURRENCY).await?;
        self.md5.update(chunk);
        self.sha256.update(chunk);
        self.size += chunk.len() as u64;
        writer.write(chunk);
        Ok(())
    }

    /// Completes the upload.
    pub async fn finish(mut self) -> anyhow::Result<Uploaded> {
        let writer = self
            .writer
            .take()
            .expect("an unfinished upload has a writer");
        if let Err(e) = writer.finish().await {
            self.cleanup();
            return Err(e.into());
        }
        let uploaded = Uploaded {
            path: self.path.clone(),
            size: self.size,
            md5: hex::encode(self.md5.clone().finalize()),
            sha256: hex::encode(self.sha256.clone().finalize()),
        };
        // From here on the caller owns the temporary object.
        self.path = Path::default();
        Ok(uploaded)
    }

    fn cleanup(&mut self) {
        let writer = self.writer.take();
        let store = self.store.clone();
        let path = std::mem::take(&mut self.path);
        if path.as_ref().is_empty() {
            return;
        }
        // Drop cannot wait: the cleanup runs on its own.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Some(writer) = writer {
                    let _ = writer.abort().await;
                }
                if let Err(e) = store.delete(&path).await {
                    tracing::warn!(path = %path, error = %e, "cannot delete an abandoned upload");
                }
            });
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        self.cleanup();
    }
}
