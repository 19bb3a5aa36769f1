//! The route table, derived from the `google.api.http` annotations of every
//! method in the descriptor set. Adding an annotated RPC to a proto makes it
//! reachable over HTTP; no route is written by hand.

pub mod template;

use http::Method;
use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MethodDescriptor, Value};
use proto::access::v1::AccessRule;
use proto::google::api::{HttpRule, http_rule::Pattern};

pub use template::PathTemplate;

/// Where the HTTP body goes in the request message.
#[derive(Debug, Clone)]
pub enum BodyRule {
    /// No body: every field comes from the path and the query string.
    None,
    /// `body: "*"`: the body is the whole request message.
    Whole,
    /// `body: "field"`: the body is this field; the rest comes from the path
    /// and the query string.
    Field(FieldDescriptor),
}

/// How a route's messages travel over HTTP, from the RPC's shape.
#[derive(Debug, Clone)]
pub enum Streaming {
    /// One JSON request, one JSON response.
    Unary,
    /// A client-streaming RPC whose request is a `oneof` of a metadata
    /// message and a `bytes` chunk: the HTTP body (raw or the `file` part of
    /// `multipart/form-data`) is the bytes, the query string the metadata.
    ByteUpload {
        /// The metadata field of the oneof.
        metadata: FieldDescriptor,
        /// The `bytes` field of the oneof.
        chunk: FieldDescriptor,
    },
    /// A server-streaming RPC whose response is a `oneof` of a metadata
    /// message and a `bytes` chunk: a download, with headers from the
    /// metadata (`filename`, `content_type`/`mime_type`, `size_bytes`,
    /// `sha256`).
    ByteDownload {
        /// The metadata field of the oneof.
        metadata: FieldDescriptor,
        /// The `bytes` field of the oneof.
        chunk: FieldDescriptor,
    },
    /// Any other server-streaming RPC: Server-Sent Events, one JSON message
    /// per event.
    Events,
}

/// The metadata and `bytes` fields of a message that is a single oneof of
/// one message field and one `bytes` field.
fn metadata_and_chunk(
    message: &prost_reflect::MessageDescriptor,
) -> Option<(FieldDescriptor, FieldDescriptor)> {
    let mut oneofs = message.oneofs();
    let oneof = oneofs.next()?;
    if oneofs.next().is_some() || message.fields().len() != 2 {
        return None;
    }
    let fields: Vec<FieldDescriptor> = oneof.fields().collect();
    let metadata = fields
        .iter()
        .find(|f| matches!(f.kind(), Kind::Message(_)))?;
    let chunk = fields.iter().find(|f| matches!(f.kind(), Kind::Bytes))?;
    Some((metadata.clone(), chunk.clone()))
}

/// One HTTP binding of one RPC.
#[derive(Debug, Clone)]
pub struct Route {
    /// The HTTP method.
    pub http_method: Method,
    /// The path template.
    pub template: PathTemplate,
    /// Where the body goes.
    pub body: BodyRule,
    /// The response field sent as the body, if not the whole response.
    pub response_body: Option<FieldDescriptor>,
    /// How its messages travel.
    pub streaming: Streaming,
    /// The RPC.
    pub method: MethodDescriptor,
    /// Its gRPC path, `/package.Service/Method`.
    pub grpc_path: String,
    /// Who may call it (from `access.v1.rule`).
    pub access: AccessRule,
    /// The upstream that serves it: the first part of its package
    /// (`auth` for `auth.v1`).
    pub upstream: String,
}

/// What a request matched.
#[derive(Debug)]
pub enum Lookup<'a> {
    /// A route, with the path variables.
    Found(&'a Route, Vec<(String, String)>),
    /// The path exists, but not for this method.
    MethodNotAllowed(Vec<Method>),
    /// No route has this path.
    NotFound,
}

/// A problem in the annotations, found when the table is built.
#[derive(Debug, thiserror::Error)]
#[error("{method}: {problem}")]
pub struct RouteError {
    method: String,
    problem: String,
}

/// Every HTTP route of the API.
#[derive(Debug, Clone)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// Builds the table from the `google.api.http` options in `pool`.
    pub fn from_descriptors(pool: &DescriptorPool) -> Result<Self, RouteError> {
        let Some(http) = pool.get_extension_by_name("google.api.http") else {
            return Ok(Self { routes: Vec::new() });
        };
        let mut routes = Vec::new();
        for service in pool.services() {
            for method in service.methods() {
                let options = method.options();
                if !options.has_extension(&http) {
                    continue;
                }
                let rule: HttpRule = match options.get_extension(&http).as_ref() {
                    Value::Message(message) => message.transcode_to().map_err(|e| RouteError {
                        method: method.full_name().to_owned(),
                        problem: format!("unreadable google.api.http: {e}"),
                    })?,
                    _ => continue,
                };
                let access = proto::access_rule(&method);
                let mut bindings = vec![rule.clone()];
                bindings.extend(rule.additional_bindings.iter().cloned());
                for binding in bindings {
                    routes.push(route(&method, &binding, access.clone())?);
                }
            }
        }
        // Most specific first, so `/v1/tasks:stats` is tried before `/v1/tasks/{id}`.
        routes.sort_by_key(|r| std::cmp::Reverse(r.template.specificity()));
        Ok(Self { routes })
    }

    /// Every route.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The route for `method` and `path`. The path belongs to the most
    /// specific templates that match it (`/v1/admin/users/top` to that
    /// literal path, not to `/v1/admin/users/{user_id}`): another method
    /// there is 405, with the methods of those templates only, as the
    /// OpenAPI document lists them.
    pub fn lookup(&self, method: &Method, path: &str) -> Lookup<'_> {
        let mut matched: Vec<(&Route, Vec<(String, String)>)> = self
            .routes
            .iter()
            .filter_map(|route| route.template.matches(path).map(|v| (route, v)))
            .collect();
        let Some(best) = matched.iter().map(|(r, _)| r.template.specificity()).max() else {
            return Lookup::NotFound;
        };
        matched.retain(|(route, _)| route.template.specificity() == best);
        let mut allowed = Vec::new();
        for (route, variables) in matched {
            if route.http_method == *method {
                return Lookup::Found(route, variables);
            }
            if !allowed.contains(&route.http_method) {
                allowed.push(route.http_method.clone());
            }
        }
        if allowed.is_empty() {
            Lookup::NotFound
        } else {
            Lookup::MethodNotAllowed(allowed)
        }
    }
}

fn route(
    method: &MethodDescriptor,
    rule: &HttpRule,
    access: AccessRule,
) -> Result<Route, RouteError> {
    let error = |problem: String| RouteError {
        method: method.full_name().to_owned(),
        problem,
    };
    let (http_method, path) = match &rule.pattern {
        Some(Pattern::Get(path)) => (Method::GET, path.as_str()),
        Some(Pattern::Put(path)) => (Method::PUT, path.as_str()),
        Some(Pattern::Post(path)) => (Method::POST, path.as_str()),
        Some(Pattern::Delete(path)) => (Method::DELETE, path.as_str()),
        Some(Pattern::Patch(path)) => (Method::PATCH, path.as_str()),
        Some(Pattern::Custom(custom)) => (
            Method::from_bytes(custom.kind.as_bytes())
                .map_err(|_| error(format!("bad HTTP method {:?}", custom.kind)))?,
            custom.path.as_str(),
        ),
        None => return Err(error("google.api.http without a pattern".into())),
    };
    let template = PathTemplate::parse(path).map_err(|e| error(e.to_string()))?;
    let input = method.input();
    for field_path in template.variables() {
        resolve(&input, field_path)
            .ok_or_else(|| error(format!("no field {field_path} for a path variable")))?;
    }
    let body = match rule.body.as_str() {
        "" => BodyRule::None,
        "*" => BodyRule::Whole,
        field => BodyRule::Field(
            input
                .get_field_by_name(field)
                .ok_or_else(|| error(format!("no body field {field}")))?,
        ),
    };
    let response_body = match rule.response_body.as_str() {
        "" => None,
        field => Some(
            method
                .output()
                .get_field_by_name(field)
                .ok_or_else(|| error(format!("no response_body field {field}")))?,
        ),
    };
    let streaming = match (method.is_client_streaming(), method.is_server_streaming()) {
        (false, false) => Streaming::Unary,
        (true, false) => {
            let (metadata, chunk) = metadata_and_chunk(&input).ok_or_else(|| {
                error("a client-streaming route needs a oneof of metadata and bytes".into())
            })?;
            Streaming::ByteUpload { metadata, chunk }
        }
        (false, true) => match metadata_and_chunk(&method.output()) {
            Some((metadata, chunk)) => Streaming::ByteDownload { metadata, chunk },
            None => Streaming::Events,
        },
        (true, true) => return Err(error("bidirectional streams have no HTTP mapping".into())),
    };
    let service = method.parent_service();
    Ok(Route {
        streaming,
        http_method,
        template,
        body,
        response_body,
        grpc_path: format!("/{}/{}", service.full_name(), method.name()),
        access,
        upstream: service
            .package_name()
            .split('.')
            .next()
            .unwrap_or_default()
            .to_owned(),
        method: method.clone(),
    })
}

/// The field at a dotted path (`a.b.c`), through singular message fields.
pub fn resolve(message: &prost_reflect::MessageDescriptor, path: &str) -> Option<FieldDescriptor> {
    let mut current = message.clone();
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let field = current.get_field_by_name(part)?;
        if parts.peek().is_none() {
            return Some(field);
        }
        match field.kind() {
            Kind::Message(next) if !field.is_list() && !field.is_map() => current = next,
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        RouteTable::from_descriptors(proto::descriptor_pool()).unwrap()
    }

    #[test]
    fn every_annotated_method_of_the_api_has_a_route() {
        let table = table();
        let http = proto::descriptor_pool()
            .get_extension_by_name("google.api.http")
            .unwrap();
        for service in proto::descriptor_pool().services() {
            for method in service.methods() {
                if method.options().has_extension(&http) {
                    assert!(
                        table.routes().iter().any(|r| r.method == method),
                        "{} has no route",
                        method.full_name()
                    );
                }
            }
        }
    }

    #[test]
    fn lookups_distinguish_not_found_from_method_not_allowed() {
        let table = table();
        assert!(matches!(
            table.lookup(&Method::POST, "/v1/auth/login"),
            Lookup::Found(..)
        ));
        match table.lookup(&Method::GET, "/v1/auth/login") {
            Lookup::MethodNotAllowed(allowed) => assert_eq!(allowed, vec![Method::POST]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            table.lookup(&Method::GET, "/v1/nothing"),
            Lookup::NotFound
        ));
    }

    #[test]
    fn a_path_belongs_to_its_most_specific_templates_only() {
        let table = table();
        // `/v1/admin/users/top` is not a user id for UpdateUser.
        match table.lookup(&Method::PATCH, "/v1/admin/users/top") {
            Lookup::MethodNotAllowed(allowed) => assert_eq!(allowed, vec![Method::GET]),
            other => panic!("{other:?}"),
        }
        // `…/7:cancel` is not a task id for GetTask.
        match table.lookup(&Method::GET, "/v1/tasks/7:cancel") {
            Lookup::MethodNotAllowed(allowed) => assert_eq!(allowed, vec![Method::POST]),
            other => panic!("{other:?}"),
        }
        // The less specific template still has every other path.
        let Lookup::Found(route, variables) = table.lookup(&Method::PATCH, "/v1/admin/users/42")
        else {
            panic!("no UpdateUser route")
        };
        assert_eq!(route.method.name(), "UpdateUser");
        assert_eq!(variables, vec![("user_id".to_owned(), "42".to_owned())]);
    }

    #[test]
    fn routes_carry_the_access_rule_and_upstream_of_their_method() {
        let table = table();
        let Lookup::Found(login, _) = table.lookup(&Method::POST, "/v1/auth/login") else {
            panic!("no login route")
        };
        assert!(login.access.public);
        assert_eq!(login.upstream, "auth");
        assert_eq!(login.grpc_path, "/auth.v1.AuthService/Login");
        let Lookup::Found(list, _) = table.lookup(&Method::GET, "/v1/conversations") else {
            panic!("no conversations route")
        };
        assert!(!list.access.public);
        assert_eq!(list.upstream, "workspace");
    }

    #[test]
    fn streaming_routes_are_classified_by_their_messages() {
        let table = table();
        let kind = |method: Method, path: &str| match table.lookup(&method, path) {
            Lookup::Found(route, _) => route.streaming.clone(),
            other => panic!("{other:?}"),
        };
        assert!(matches!(
            kind(Method::POST, "/v1/files"),
            Streaming::ByteUpload { .. }
        ));
        assert!(matches!(
            kind(Method::GET, "/v1/files/x/content"),
            Streaming::ByteDownload { .. }
        ));
        assert!(matches!(
            kind(Method::GET, "/v1/tasks/x:export"),
            Streaming::ByteDownload { .. }
        ));
        assert!(matches!(
            kind(Method::GET, "/v1/tasks/x:watch"),
            Streaming::Events
        ));
        assert!(matches!(kind(Method::GET, "/v1/tasks/x"), Streaming::Unary));
    }
}
