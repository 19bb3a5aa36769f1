//! A real SMTP server on loopback for the tests that send mail: `aiosmtpd`
//! (PyPI), delivering into a maildir the test reads back. `.ci/run`
//! installs it; `AIOSMTPD` may name the binary.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A mail as the server received it, decoded.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: String,
    pub subject: String,
    pub text: String,
}

impl Received {
    /// The first line of the text that starts with `prefix` (a link).
    pub fn line_starting_with(&self, prefix: &str) -> Option<&str> {
        self.text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
    }

    /// The value of `name=` in the first link of the text under `prefix`.
    pub fn link_parameter(&self, prefix: &str, name: &str) -> Option<String> {
        let link = self.line_starting_with(prefix)?;
        let query = link.split_once('?')?.1;
        query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key == name).then(|| value.to_owned())
        })
    }
}

/// An SMTP server on a loopback port; stopped when dropped.
pub struct SmtpServer {
    child: Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> PathBuf {
    service_runtime::testing::tool(
        "AIOSMTPD",
        &["aiosmtpd"],
        "pip install aiosmtpd (see .ci/run)",
    )
}

impl SmtpServer {
    /// Starts a server on a free port.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Self::start_on(port).await
    }

    /// Starts a server on `port` and waits until it accepts connections.
    pub async fn start_on(port: u16) -> Self {
        let maildir = tempfile::tempdir().expect("a temporary directory");
        let child = Command::new(binary())
            .args([
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(maildir.path().join("box"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        let server = Self {
            child,
            port,
            maildir,
        };
        let up = crate::eventually(Duration::from_secs(30), || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await;
        assert!(up, "aiosmtpd accepts connections on port {port}");
        server
    }

    /// The `SMTP_URL` of this server (plain SMTP, loopback).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every mail received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        let dir = self.maildir.path().join("box").join("new");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        // Maildir names start with the delivery time.
        files.sort();
        files
            .iter()
            .filter_map(|path| std::fs::read(path).ok())
            .filter_map(|raw| parse(&raw))
            .collect()
    }

    /// The mails to `to`, waiting up to 10 s for at least `count` of them.
    pub async fn wait_for(&self, to: &str, count: usize) -> Vec<Received> {
        let to_me = || {
            self.received()
                .into_iter()
                .filter(|m| m.to.contains(to))
                .collect::<Vec<_>>()
        };
        let arrived =
            crate::eventually(Duration::from_secs(10), || async { to_me().len() >= count }).await;
        let mails = to_me();
        assert!(
            arrived,
            "{count} mail(s) to {to} arrived; got {}",
            mails.len()
        );
        mails
    }
}

fn parse(raw: &[u8]) -> Option<Received> {
    use mailparse::MailHeaderMap;
    let mail = mailparse::parse_mail(raw).ok()?;
    Some(Received {
        to: mail.headers.get_first_value("To").unwrap_or_default(),
        subject: mail.headers.get_first_value("Subject").unwrap_or_default(),
        text: mail.get_body().ok()?,
    })
}
