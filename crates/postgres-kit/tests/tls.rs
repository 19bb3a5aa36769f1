//! Connections over TLS against a PostgreSQL that accepts nothing else: the
//! server runs with `ssl = on` and a `pg_hba.conf` of `hostssl` lines only,
//! its certificate (for `localhost`) issued by a CA this test makes.

// Test code: an unwrap is the assertion, and a scenario reads top to bottom.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel_async::RunQueryDsl;
use postgres_kit::{ClusterOptions, DatabaseUrl, Listen, LocalCluster};

struct TlsServer {
    _cluster: LocalCluster,
    port: u16,
    ca: PathBuf,
    other_ca: PathBuf,
    _root: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A CA and a certificate it issued for `localhost`; the CA's PEM, the
/// server's certificate and key.
fn issue() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    (ca_cert.pem(), server.pem(), server_key.serialize_pem())
}

fn write_owned(path: &Path, contents: &str, like: &Path, mode: u32) {
    std::fs::write(path, contents).unwrap();
    let owner = std::fs::metadata(like).unwrap();
    std::os::unix::fs::chown(path, Some(owner.uid()), Some(owner.gid())).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn start() -> TlsServer {
    let root = tempfile::tempdir().unwrap();
    // The server may run as the `postgres` user: it must reach the directory.
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = free_port();
    let options = ClusterOptions {
        data_dir: root.path().join("data"),
        listen: Listen::Tcp {
            host: "127.0.0.1".into(),
            port,
        },
        ephemeral: true,
        log_file: root.path().join("postgres.log"),
    };
    // Created without TLS, then configured for TLS only and started again.
    LocalCluster::start(options.clone()).unwrap().stop();
    let data = &options.data_dir;
    let (ca, cert, key) = issue();
    let (other_ca, _, _) = issue();
    let version = data.join("PG_VERSION");
    write_owned(&data.join("server.crt"), &cert, &version, 0o644);
    write_owned(&data.join("server.key"), &key, &version, 0o600);
    let mut conf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
    conf.push_str("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
    std::fs::write(data.join("postgresql.conf"), conf).unwrap();
    std::fs::write(
        data.join("pg_hba.conf"),
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n",
    )
    .unwrap();
    let ca_path = root.path().join("ca.crt");
    std::fs::write(&ca_path, ca).unwrap();
    let other_ca_path = root.path().join("other-ca.crt");
    std::fs::write(&other_ca_path, other_ca).unwrap();
    let cluster = LocalCluster::start(options).unwrap();
    TlsServer {
        _cluster: cluster,
        port,
        ca: ca_path,
        other_ca: other_ca_path,
        _root: root,
    }
}

impl TlsServer {
    fn url(&self, host: &str, query: &str) -> DatabaseUrl {
        DatabaseUrl::parse(&format!(
            "postgresql://postgres@{host}:{}/postgres?{query}",
            self.port
        ))
        .unwrap()
    }
}

async fn select_one(url: &DatabaseUrl) -> Result<i32, String> {
    let mut conn = url.connect().await.map_err(|e| e.to_string())?;
    diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>("1"))
        .get_result(&mut conn)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn tls_modes_behave_as_libpq_documents_them() {
    let server = start();
    let ca = server.ca.display().to_string();
    let other = server.other_ca.display().to_string();

    // verify-full: the CA and the name both check out.
    let full = server.url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    assert_eq!(select_one(&full).await, Ok(1));

    // The pool and LISTEN go the same way.
    let pool =
        postgres_kit::build_pool(&full, &postgres_kit::PoolSettings::new("tls-test")).unwrap();
    let mut conn = pool.get().await.unwrap();
    let ssl: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
        "ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    ))
    .get_result(&mut conn)
    .await
    .unwrap();
    assert!(ssl, "the pool's connection is not encrypted");
    let listener = postgres_kit::notify::Listener::spawn(full.clone(), "tls_test");
    let mut notices = listener.subscribe();
    let heard = tokio::time::timeout(Duration::from_secs(10), notices.recv()).await;
    assert_eq!(
        heard.expect("LISTEN over TLS connects").unwrap(),
        postgres_kit::notify::Notice::Resync
    );

    // A name the certificate was not issued for is refused by verify-full,
    // accepted by verify-ca (which checks the CA only).
    let wrong_name = server.url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let refused = select_one(&wrong_name).await.unwrap_err();
    assert!(refused.contains("certificate"), "{refused}");
    let ca_only = server.url("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={ca}"));
    assert_eq!(select_one(&ca_only).await, Ok(1));

    // A certificate from a CA not trusted is refused, also by `require`
    // with a root certificate (libpq then verifies like verify-ca).
    for mode in ["verify-full", "verify-ca", "require"] {
        let untrusted = server.url("localhost", &format!("sslmode={mode}&sslrootcert={other}"));
        let refused = select_one(&untrusted).await.unwrap_err();
        assert!(refused.contains("certificate"), "{mode}: {refused}");
    }

    // require without a CA encrypts without checking; prefer uses TLS when
    // offered; disable is refused by this server (hostssl only).
    assert_eq!(
        select_one(&server.url("localhost", "sslmode=require")).await,
        Ok(1)
    );
    assert_eq!(select_one(&server.url("localhost", "")).await, Ok(1));
    let plain = select_one(&server.url("localhost", "sslmode=disable"))
        .await
        .unwrap_err();
    assert!(
        plain.contains("pg_hba.conf") || plain.contains("no encryption"),
        "{plain}"
    );
}

#[test]
fn bad_urls_and_unsupported_options_are_refused_without_repeating_the_url() {
    let cases = [
        (
            "postgresql://u:hunter2@h/db?sslmode=verify-full",
            "sslrootcert",
        ),
        ("postgresql://u:hunter2@h/db?sslmode=sometimes", "sslmode"),
        (
            "postgresql://u:hunter2@h/db?sslrootcert=/nonexistent/ca.crt",
            "sslrootcert",
        ),
        (
            "postgresql://u:hunter2@h/db?sslcert=/c.crt",
            "client certificates",
        ),
        (
            "postgresql://u:hunter2@h/db?nonsense=1",
            "connection string",
        ),
        ("postgresql://u:hunter2@h:notaport/db", "connection string"),
    ];
    for (url, expected) in cases {
        let error = DatabaseUrl::parse(url).unwrap_err().to_string();
        assert!(error.contains(expected), "{url}: {error}");
        assert!(!error.contains("hunter2"), "{url}: {error}");
    }
    // libpq's key=value form, and a URL with a percent-encoded path.
    assert!(DatabaseUrl::parse("host=localhost dbname=auth sslmode=require").is_ok());
    assert!(DatabaseUrl::parse("postgresql://u@h/db?sslmode=prefer&application_name=x").is_ok());
}
