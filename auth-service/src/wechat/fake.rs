//! A stand-in for WeChat's `/sns/jscode2session`, on loopback, for tests
//! and for trying WeChat login with the dev stack (`devstack --fake-wechat`).
//! Codes choose the answer:
//!
//! | code | answer |
//! |---|---|
//! | `invalid` | errcode 40029 |
//! | `used` | errcode 40163 |
//! | `limited` | errcode 45011 |
//! | `busy` | errcode -1 |
//! | `flaky-…` | 500 the first time, then like any other code |
//! | `slow` | an answer after 30 s |
//! | anything else | success: openid `o-<code>`, unionid `u-<code>`, a fresh session key |
//!
//! A wrong app id or secret is errcode 40125, as at WeChat. Unlike WeChat,
//! a code may be used again (so the same code signs in the same user).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

#[derive(Clone)]
struct Shared {
    app_id: String,
    secret: String,
    seen_flaky: Arc<Mutex<HashSet<String>>>,
    calls: Arc<Mutex<usize>>,
}

/// A running fake; stops when dropped.
pub struct FakeWechat {
    addr: SocketAddr,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeWechat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeWechat {
    /// Starts a fake for this app on `addr` (port 0: any free port).
    pub async fn start(addr: SocketAddr, app_id: &str, secret: &str) -> std::io::Result<Self> {
        let shared = Shared {
            app_id: app_id.to_owned(),
            secret: secret.to_owned(),
            seen_flaky: Arc::default(),
            calls: Arc::default(),
        };
        let app = Router::new()
            .route("/sns/jscode2session", get(jscode2session))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, shared, task })
    }

    /// What `WECHAT_API_BASE` should be.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many calls it has answered.
    pub fn calls(&self) -> usize {
        *self.shared.calls.lock().expect("not poisoned")
    }
}

async fn jscode2session(
    State(shared): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    *shared.calls.lock().expect("not poisoned") += 1;
    let field = |name: &str| query.get(name).map(String::as_str).unwrap_or_default();
    let error = |code: i64, message: &str| {
        axum::Json(json!({"errcode": code, "errmsg": message})).into_response()
    };
    if field("appid") != shared.app_id || field("secret") != shared.secret {
        return error(40125, "invalid appsecret");
    }
    if field("grant_type") != "authorization_code" {
        return error(40002, "invalid grant_type");
    }
    let code = field("js_code").to_owned();
    match code.as_str() {
        "" | "invalid" => return error(40029, "invalid code"),
        "used" => return error(40163, "code been used"),
        "limited" => return error(45011, "api minute-quota reach limit"),
        "busy" => return error(-1, "system error"),
        "slow" => tokio::time::sleep(Duration::from_secs(30)).await,
        flaky if flaky.starts_with("flaky-") => {
            let first = shared
                .seen_flaky
                .lock()
                .expect("not poisoned")
                .insert(code.clone());
            if first {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        }
        _ => {}
    }
    let session_key: [u8; 16] = rand::random();
    use base64::Engine;
    axum::Json(json!({
        "openid": format!("o-{code}"),
        "unionid": format!("u-{code}"),
        "session_key": base64::engine::general_purpose::STANDARD.encode(session_key),
    }))
    .into_response()
}
