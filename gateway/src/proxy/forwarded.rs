//! What the services are told about the client, signed so that they can
//! believe it.

use std::net::IpAddr;

use http::{HeaderMap, header};

use crate::middleware::REQUEST_ID;

/// Who the client is, as the services are told.
pub struct Client {
    /// Its address; `None` when a trusted proxy did not say.
    pub ip: Option<IpAddr>,
    /// What signs the forwarded facts (`FORWARDED_SECRET`).
    pub key: Option<service_runtime::forwarded::ForwardingKey>,
}

/// The headers the services need: the token, the request id, the trace
/// context, and who the client is (for sessions, the audit log and the
/// per-address limits), signed so that the services can believe it.
pub fn forward_headers(
    headers: &HeaderMap,
    client: &Client,
    metadata: &mut tonic::metadata::MetadataMap,
) {
    use service_runtime::forwarded;
    for name in ["authorization", REQUEST_ID, "traceparent", "tracestate"] {
        if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok())
            && let Ok(value) = value.parse()
        {
            metadata.insert(name, value);
        }
    }
    if let Some(agent) = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        && let Ok(value) = agent.parse()
    {
        metadata.insert(forwarded::USER_AGENT, value);
    }
    let ip = client
        .ip
        .map_or_else(|| forwarded::UNKNOWN.to_owned(), |ip| ip.to_string());
    if let Ok(value) = ip.parse() {
        metadata.insert(forwarded::FOR, value);
    }
    if let Some(key) = &client.key {
        key.sign_metadata(metadata, forwarded::unix_now());
    }
}
