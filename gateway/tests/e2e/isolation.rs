//! The isolation matrix, generated from the descriptors rather than listed
//! by hand: every method of the API is called by a caller who must be
//! refused, over gRPC straight to its service and over each of its HTTP
//! routes through the gateway.
//!
//! - A method that takes a resource id (a field `*_id`, or `*_ids` of ids),
//!   called by Eve with one of Ada's ids (the other ids her own), is
//!   NOT_FOUND / 404, and Ada's data is the same afterwards.
//! - A superuser method called by Eve is PERMISSION_DENIED / 403.
//! - A method that needs a scope (the worker methods need `tasks.process`)
//!   is PERMISSION_DENIED for Eve's user token and for a service account
//!   without the scope.
//!
//! A new method with an id field the matrix has no resource for fails the
//! test until `seed` makes one.

use std::collections::BTreeMap;
use std::time::Duration;

use gateway::routes::{BodyRule, Route, RouteTable};
use gateway::upstream::Upstreams;
use prost_reflect::{FieldDescriptor, Kind, MethodDescriptor};
use proto::auth::v1::IssueServiceTokenRequest;
use proto::auth::v1::auth_service_client::AuthServiceClient;
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};
use tonic::Code;

use crate::stack::{Stack, spawn_stack};

/// An id that names nothing.
const UNKNOWN: &str = "00000000-0000-0000-0000-000000000000";

/// One user's resources, by the name of the request field that refers to
/// one (`conversation_id`), and their content as the user sees it.
struct Owner {
    token: String,
    ids: BTreeMap<&'static str, String>,
}

/// A file, a conversation using it, a turn in it and a task on the file.
async fn seed(stack: &Stack, email: &str) -> Owner {
    let token = stack.signed_in(email).await;
    let ok = |response: reqwest::Response| async move {
        assert_eq!(response.status(), 200, "seeding");
        response.json::<Value>().await.unwrap()
    };
    let id =
        |value: &Value, pointer: &str| value.pointer(pointer).unwrap().as_str().unwrap().to_owned();
    let file = ok(stack
        .upload(&token, "notes.txt", format!("{email}'s notes"))
        .await)
    .await;
    let file_id = id(&file, "/file/file_id");
    let conversation = ok(stack
        .call(
            Method::POST,
            "/v1/conversations",
            Some(&token),
            Some(json!({"title": email, "file_ids": [file_id]})),
        )
        .await)
    .await;
    let conversation_id = id(&conversation, "/conversation/conversation_id");
    let turn = ok(stack
        .call(
            Method::POST,
            &format!("/v1/conversations/{conversation_id}/turns"),
            Some(&token),
            Some(json!({"query": "what is in my notes?"})),
        )
        .await)
    .await;
    let task = ok(stack
        .call(
            Method::POST,
            "/v1/tasks",
            Some(&token),
            Some(json!({"query": "summarise", "file_ids": [file_id]})),
        )
        .await)
    .await;
    let me = ok(stack
        .call(Method::GET, "/v1/auth/me", Some(&token), None)
        .await)
    .await;
    let sessions = ok(stack
        .call(Method::GET, "/v1/auth/sessions", Some(&token), None)
        .await)
    .await;
    // A corp identity linked to the account.
    let nonce = ok(stack
        .call(
            Method::POST,
            "/v1/auth/login/oidc/start",
            None,
            Some(json!({"provider": "corp"})),
        )
        .await)
    .await["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut claims = stack
        .oidc
        .claims(&format!("corp-{email}"), crate::stack::OIDC_CLIENT_ID);
    claims["nonce"] = json!(nonce);
    let linked = ok(stack
        .call(
            Method::POST,
            "/v1/auth/identities",
            Some(&token),
            Some(json!({"provider": "corp", "id_token": stack.oidc.sign(&claims), "nonce": nonce})),
        )
        .await)
    .await;
    let ids = BTreeMap::from([
        ("file_id", file_id),
        ("conversation_id", conversation_id),
        ("turn_id", id(&turn, "/turn/turn_id")),
        ("task_id", id(&task, "/task/task_id")),
        ("user_id", id(&me, "/user/user_id")),
        ("session_id", id(&sessions, "/sessions/0/session_id")),
        ("device_id", id(&sessions, "/devices/0/device_id")),
        ("identity_id", id(&linked, "/identity/identity_id")),
    ]);
    Owner { token, ids }
}

/// What Ada sees of her resources: compared before and after the matrix.
async fn snapshot(stack: &Stack, owner: &Owner) -> Vec<Value> {
    let mut seen = Vec::new();
    for path in [
        format!("/v1/files/{}", owner.ids["file_id"]),
        format!("/v1/files/{}/content", owner.ids["file_id"]),
        format!("/v1/conversations/{}", owner.ids["conversation_id"]),
        format!("/v1/conversations/{}/turns", owner.ids["conversation_id"]),
        format!("/v1/turns/{}", owner.ids["turn_id"]),
        format!("/v1/tasks/{}", owner.ids["task_id"]),
        "/v1/auth/me".to_owned(),
        "/v1/files".to_owned(),
        "/v1/conversations".to_owned(),
        "/v1/tasks".to_owned(),
    ] {
        let response = stack
            .call(Method::GET, &path, Some(&owner.token), None)
            .await;
        assert_eq!(response.status(), 200, "{path}");
        let body = response.bytes().await.unwrap();
        seen.push(
            serde_json::from_slice(&body)
                .unwrap_or_else(|_| json!({"path": path, "bytes": String::from_utf8_lossy(&body)})),
        );
    }
    // The sessions, without when each was last used.
    let mut sessions: Value = stack
        .call(Method::GET, "/v1/auth/sessions", Some(&owner.token), None)
        .await
        .json()
        .await
        .unwrap();
    for session in sessions["sessions"].as_array_mut().unwrap() {
        session.as_object_mut().unwrap().remove("last_used_at");
    }
    seen.push(sessions);
    seen
}

/// The resource a field refers to: `file_ids` and `file_id` both to
/// `file_id`; `None` when the field refers to none.
fn resource_of(field: &FieldDescriptor) -> Option<String> {
    let name = field.name();
    if let Some(stem) = name.strip_suffix("_ids") {
        return Some(format!("{stem}_id"));
    }
    // `worker_id` names the caller (a worker) and `request_id` a retry of
    // the call itself (AIP-155), not a resource.
    (name.ends_with("_id") && !matches!(name, "worker_id" | "request_id")).then(|| name.to_owned())
}

/// The value of `field` referring to `id`: a string, a list, or a message
/// holding the list (`FileIdList { ids }`).
fn reference(field: &FieldDescriptor, id: &str) -> Value {
    if field.is_list() {
        return json!([id]);
    }
    match field.kind() {
        Kind::Message(message) => {
            let list = message
                .fields()
                .find(FieldDescriptor::is_list)
                .unwrap_or_else(|| panic!("{} holds no list of ids", field.full_name()));
            json!({ list.name(): [id] })
        }
        _ => json!(id),
    }
}

/// The fields a method needs besides ids for its request to be valid.
fn other_fields(method: &MethodDescriptor) -> Value {
    match method.name() {
        "CreateConversation" | "UpdateConversation" => json!({"title": "Eve was here"}),
        "CreateTurn" | "CreateTask" => json!({"query": "Eve was here"}),
        "ClaimTask" | "HeartbeatTask" | "CompleteTask" | "FailTask" | "ReadTaskFile" => {
            json!({"worker_id": "eve-worker"})
        }
        _ => json!({}),
    }
}

/// The gRPC code of calling `method` with `request` as `token`.
async fn grpc_code(
    upstreams: &Upstreams,
    method: &MethodDescriptor,
    request: &Value,
    token: &str,
) -> Code {
    let message = gateway::json::to_message(&method.input(), request.clone())
        .unwrap_or_else(|e| panic!("{}: {request} is no request: {e}", method.full_name()));
    let mut grpc_request = tonic::Request::new(message.clone());
    grpc_request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let service = method.parent_service();
    let upstream = service.package_name().split('.').next().unwrap();
    let path = format!("/{}/{}", service.full_name(), method.name());
    let code = |result: Result<(), tonic::Status>| result.err().map_or(Code::Ok, |s| s.code());
    let call = async {
        match (method.is_client_streaming(), method.is_server_streaming()) {
            (false, false) => code(
                upstreams
                    .unary(upstream, &path, method.output(), grpc_request)
                    .await
                    .map(drop),
            ),
            (false, true) => {
                match upstreams
                    .server_streaming(upstream, &path, method.output(), grpc_request)
                    .await
                {
                    Err(status) => status.code(),
                    Ok(response) => code(response.into_inner().message().await.map(drop)),
                }
            }
            (true, _) => {
                let (metadata, mut stream_request) = (
                    grpc_request.metadata().clone(),
                    tonic::Request::new(tokio_stream::once(message)),
                );
                *stream_request.metadata_mut() = metadata;
                code(
                    upstreams
                        .client_streaming(upstream, &path, method.output(), stream_request)
                        .await
                        .map(drop),
                )
            }
        }
    };
    // A call that is not refused at once may be a stream that stays open
    // (WatchTask): not a refusal either.
    tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .unwrap_or(Code::Ok)
}

/// The HTTP status of calling `route` with `request` (path variables, then
/// the body or the query string) as `token`.
async fn http_status(stack: &Stack, route: &Route, request: &Value, token: &str) -> StatusCode {
    let mut rest: Map<String, Value> = request.as_object().unwrap().clone();
    let mut path = route.template.openapi_path();
    for variable in route.template.variables() {
        let value = rest.remove(variable).unwrap_or_else(|| json!(UNKNOWN));
        path = path.replace(&format!("{{{variable}}}"), value.as_str().unwrap());
    }
    let mut http = stack
        .http
        .request(route.http_method.clone(), format!("{}{path}", stack.base))
        .bearer_auth(token);
    match &route.body {
        BodyRule::Whole => http = http.json(&Value::Object(rest)),
        BodyRule::Field(field) => {
            http = http.json(&rest.remove(field.name()).unwrap_or(json!({})));
        }
        BodyRule::None => {
            let mut query = Vec::new();
            for (name, value) in rest {
                match value {
                    Value::Array(items) => query.extend(
                        items
                            .into_iter()
                            .map(|item| (name.clone(), item.as_str().unwrap().to_owned())),
                    ),
                    Value::String(s) => query.push((name, s)),
                    other => query.push((name, other.to_string())),
                }
            }
            http = http.query(&query);
        }
    }
    tokio::time::timeout(Duration::from_secs(10), http.send())
        .await
        .map_or(StatusCode::OK, |response| response.unwrap().status())
}

/// A token of a new service account with only `scope`.
async fn service_token(stack: &Stack, scope: &str) -> String {
    let pool = postgres_kit::build_pool(
        &postgres_kit::DatabaseUrl::parse(&stack.auth_db).unwrap(),
        &postgres_kit::PoolSettings::new("isolation-test"),
    )
    .unwrap();
    let (client_id, client_secret) =
        auth_service::admin::create_service_account(&pool, "reporter", &[scope.to_owned()])
            .await
            .unwrap();
    let mut auth = AuthServiceClient::connect(stack.auth_url.clone())
        .await
        .unwrap();
    auth.issue_service_token(IssueServiceTokenRequest {
        client_id: client_id.to_string(),
        client_secret,
    })
    .await
    .unwrap()
    .into_inner()
    .access_token
}

#[tokio::test]
async fn the_isolation_matrix_generated_from_the_descriptors_holds() {
    let stack = spawn_stack().await;
    let ada = seed(&stack, "ada@example.com").await;
    let eve = seed(&stack, "eve@example.com").await;
    let reporter = service_token(&stack, "reports.read").await;
    let before = snapshot(&stack, &ada).await;

    let mut upstreams = Upstreams::default();
    upstreams.add("auth", &stack.auth_url).unwrap();
    upstreams.add("workspace", &stack.workspace_url).unwrap();
    let table = RouteTable::from_descriptors(proto::descriptor_pool()).unwrap();
    let methods: Vec<MethodDescriptor> = proto::descriptor_pool()
        .services()
        .filter(|s| ["auth.v1", "workspace.v1"].contains(&s.package_name()))
        .flat_map(|s| s.methods().collect::<Vec<_>>())
        .collect();

    // Each call that must be refused: (method, who, request).
    let mut cases: Vec<(MethodDescriptor, &str, String, Value)> = Vec::new();
    for method in &methods {
        let rule = proto::access_rule(method);
        if rule.public {
            continue;
        }
        let id_fields: Vec<(FieldDescriptor, String)> = method
            .input()
            .fields()
            .filter_map(|f| resource_of(&f).map(|r| (f, r)))
            .collect();
        let mut request = other_fields(method);
        if rule.superuser || !rule.scope.is_empty() {
            // Refused whatever the ids: Ada's where she has one.
            for (field, resource) in &id_fields {
                let id = ada
                    .ids
                    .get(resource.as_str())
                    .map_or(UNKNOWN, String::as_str);
                request[field.name()] = reference(field, id);
            }
            cases.push((method.clone(), "eve", eve.token.clone(), request.clone()));
            if !rule.scope.is_empty() {
                cases.push((
                    method.clone(),
                    "a service account",
                    reporter.clone(),
                    request,
                ));
            }
            continue;
        }
        // One call per id field: that one Ada's, the others Eve's own.
        for (target, _) in &id_fields {
            let mut request = request.clone();
            for (field, resource) in &id_fields {
                let owner = if field == target { &ada } else { &eve };
                let id = owner.ids.get(resource.as_str()).unwrap_or_else(|| {
                    panic!(
                        "{} takes {}: give `seed` a resource for it",
                        method.full_name(),
                        field.name()
                    )
                });
                request[field.name()] = reference(field, id);
            }
            cases.push((method.clone(), "eve", eve.token.clone(), request));
        }
    }

    let mut failures = Vec::new();
    let (mut grpc_calls, mut http_calls) = (0, 0);
    for (method, who, token, request) in &cases {
        let rule = proto::access_rule(method);
        let (code, status) = if rule.superuser || !rule.scope.is_empty() {
            (Code::PermissionDenied, StatusCode::FORBIDDEN)
        } else {
            (Code::NotFound, StatusCode::NOT_FOUND)
        };
        let got = grpc_code(&upstreams, method, request, token).await;
        grpc_calls += 1;
        if got != code {
            failures.push(format!(
                "gRPC {} by {who} with {request}: {got:?}, not {code:?}",
                method.full_name()
            ));
        }
        for route in table.routes().iter().filter(|r| &r.method == method) {
            let got = http_status(&stack, route, request, token).await;
            http_calls += 1;
            if got != status {
                failures.push(format!(
                    "{} {} by {who} with {request}: {got}, not {status}",
                    route.http_method,
                    route.template.as_str()
                ));
            }
        }
    }
    eprintln!(
        "isolation matrix: {} cases, {grpc_calls} gRPC and {http_calls} HTTP calls",
        cases.len()
    );
    for (method, who, _, request) in &cases {
        eprintln!("  {} by {who}: {request}", method.full_name());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The matrix is not empty by accident: it reached these.
    let covered: Vec<String> = cases.iter().map(|(m, ..)| m.name().to_owned()).collect();
    for name in [
        "GetConversation",
        "DeleteFile",
        "UpdateConversation",
        "CreateTask",
        "RevokeSession",
        "UpdateUser",
        "ClaimTask",
    ] {
        assert!(covered.iter().any(|c| c == name), "{name} not covered");
    }
    assert!(
        grpc_calls >= 30 && http_calls >= 20,
        "{grpc_calls} gRPC, {http_calls} HTTP calls"
    );
    // Ada's data is as it was.
    assert_eq!(snapshot(&stack, &ada).await, before);
}
