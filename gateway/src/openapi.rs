//! The OpenAPI 3 document of the HTTP API, generated from the same route
//! table and descriptors the gateway serves with: paths and methods from the
//! `google.api.http` annotations, parameters from path variables and the
//! query string, schemas from the messages (by the proto3 JSON mapping and
//! our enum convention), descriptions from the proto comments, and the
//! bearer scheme on every route that the access rules do not mark public.

use std::collections::{BTreeMap, HashMap};

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value as Json, json};

use crate::json::short_name;
use crate::routes::{BodyRule, Route, RouteTable, Streaming};

/// The document for `table`.
pub fn document(table: &RouteTable) -> Json {
    let mut generator = Generator::default();
    let mut paths: BTreeMap<String, Map<String, Json>> = BTreeMap::new();
    for route in table.routes() {
        let operation = generator.operation(route);
        paths
            .entry(route.template.openapi_path())
            .or_default()
            .insert(route.http_method.as_str().to_ascii_lowercase(), operation);
    }
    let mut schemas = Map::new();
    schemas.insert("Error".into(), error_schema());
    while let Some(message) = generator.pending.pop() {
        let name = schema_name(&message);
        if schemas.contains_key(&name) {
            continue;
        }
        let schema = generator.message_schema(&message);
        schemas.insert(name, schema);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Identity and workspace backbone",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "HTTP/JSON face of the auth-service and the workspace-service, \
                generated from their protos. Errors follow AIP-193.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
        },
        "security": [{"bearer": []}],
    })
}

/// Collects the messages the operations refer to.
#[derive(Default)]
struct Generator {
    pending: Vec<MessageDescriptor>,
    comments: HashMap<String, HashMap<Vec<i32>, String>>,
}

impl Generator {
    fn operation(&mut self, route: &Route) -> Json {
        let method = &route.method;
        let service = method.parent_service();
        let input = method.input();
        let path_fields: Vec<String> = route.template.variables().map(str::to_owned).collect();
        let mut parameters: Vec<Json> = path_fields
            .iter()
            .map(|name| {
                let schema = crate::routes::resolve(&input, name)
                    .map(|f| self.field_schema(&f))
                    .unwrap_or(json!({"type": "string"}));
                json!({"name": name, "in": "path", "required": true, "schema": schema})
            })
            .collect();

        let mut operation = Map::new();
        operation.insert(
            "operationId".into(),
            json!(format!("{}_{}", service.name(), method.name())),
        );
        operation.insert("tags".into(), json!([service.name()]));
        if let Some(text) = self.comment(method.parent_file(), method.path()) {
            let summary = first_sentence(&text);
            operation.insert("summary".into(), json!(summary));
            operation.insert("description".into(), json!(text));
        }
        if route.access.public {
            operation.insert("security".into(), json!([]));
        }

        let success = match &route.streaming {
            Streaming::ByteUpload { metadata, .. } => {
                if let Kind::Message(metadata) = metadata.kind() {
                    parameters.extend(self.query_parameters(&metadata, &[]));
                }
                operation.insert(
                    "requestBody".into(),
                    json!({
                        "required": true,
                        "description": "The file: the raw body (its Content-Type is the file's) or \
                            the part named `file` of a multipart form.",
                        "content": {
                            "application/octet-stream": {
                                "schema": {"type": "string", "format": "binary"}
                            },
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["file"],
                                    "properties": {"file": {"type": "string", "format": "binary"}},
                                }
                            },
                        },
                    }),
                );
                self.response_json(route)
            }
            Streaming::ByteDownload { .. } => {
                parameters.extend(self.query_parameters(&input, &path_fields));
                json!({
                    "description": "The bytes, with Content-Type, Content-Length and \
                        Content-Disposition from the metadata.",
                    "headers": {
                        "Content-Disposition": {"schema": {"type": "string"}},
                    },
                    // The file's own type (a PDF, a CSV, JSON, ...): any
                    // bytes, so no schema.
                    "content": {"*/*": {}},
                })
            }
            Streaming::Events => {
                parameters.extend(self.query_parameters(&input, &path_fields));
                let name = self.reference(&method.output());
                json!({
                    "description": format!(
                        "Server-Sent Events: one `message` event per {name} (JSON), an `error` \
                         event with the error body if the stream fails after it started."
                    ),
                    // The schema of each event.
                    "content": {"text/event-stream": {"schema": {
                        "type": "object",
                        "properties": {
                            "event": {"type": "string", "enum": ["message", "error"]},
                            "data": {"type": "string", "description": "the JSON of the message or of the error body"},
                            "id": {"type": "string"},
                            "retry": {"type": "integer"},
                        },
                        "required": ["data"],
                    }}},
                })
            }
            Streaming::Unary => {
                match &route.body {
                    BodyRule::None => {
                        parameters.extend(self.query_parameters(&input, &path_fields));
                    }
                    BodyRule::Whole => {
                        let schema = self.schema_ref(&input);
                        operation.insert(
                            "requestBody".into(),
                            json!({
                                // Every field is optional in proto3: no
                                // body is the empty message.
                                "required": false,
                                "content": {"application/json": {"schema": schema}},
                            }),
                        );
                    }
                    BodyRule::Field(field) => {
                        let mut skip = path_fields.clone();
                        skip.push(field.name().to_owned());
                        parameters.extend(self.query_parameters(&input, &skip));
                        let schema = self.field_schema(field);
                        operation.insert(
                            "requestBody".into(),
                            json!({
                                // Every field is optional in proto3: no
                                // body is the empty message.
                                "required": false,
                                "content": {"application/json": {"schema": schema}},
                            }),
                        );
                    }
                }
                self.response_json(route)
            }
        };
        if !parameters.is_empty() {
            operation.insert("parameters".into(), Json::Array(parameters));
        }
        operation.insert(
            "responses".into(),
            json!({
                "200": success,
                "default": {
                    "description": "An error (AIP-193).",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                },
            }),
        );
        Json::Object(operation)
    }

    fn response_json(&mut self, route: &Route) -> Json {
        let schema = match &route.response_body {
            Some(field) => self.field_schema(field),
            None => self.schema_ref(&route.method.output()),
        };
        json!({"description": "OK", "content": {"application/json": {"schema": schema}}})
    }

    /// The fields a client may set in the query string: scalars, enums and
    /// lists of them, not bound to the path.
    fn query_parameters(&mut self, message: &MessageDescriptor, skip: &[String]) -> Vec<Json> {
        message
            .fields()
            .filter(|f| !skip.iter().any(|s| s == f.name()))
            .filter(|f| !f.is_map())
            .filter(|f| match f.kind() {
                Kind::Message(m) => is_scalar_wkt(&m),
                _ => true,
            })
            .map(|f| {
                let mut parameter = json!({
                    "name": f.name(),
                    "in": "query",
                    "required": false,
                    "schema": self.field_schema(&f),
                });
                if f.is_list() {
                    parameter["explode"] = json!(true);
                }
                if let Some(text) = self.comment(f.parent_file(), f.path()) {
                    parameter["description"] = json!(text);
                }
                parameter
            })
            .collect()
    }

    fn reference(&mut self, message: &MessageDescriptor) -> String {
        self.pending.push(message.clone());
        schema_name(message)
    }

    fn schema_ref(&mut self, message: &MessageDescriptor) -> Json {
        if let Some(schema) = well_known(message) {
            return schema;
        }
        json!({"$ref": format!("#/components/schemas/{}", self.reference(message))})
    }

    fn message_schema(&mut self, message: &MessageDescriptor) -> Json {
        let mut properties = Map::new();
        for field in message.fields() {
            let mut schema = self.field_schema(&field);
            if let Some(text) = self.comment(field.parent_file(), field.path())
                && let Some(object) = schema.as_object_mut()
                && !object.contains_key("$ref")
            {
                object.insert("description".into(), json!(text));
            }
            properties.insert(field.name().to_owned(), schema);
        }
        // The gateway refuses unknown fields (400), so the schema says so.
        let mut schema = json!({
            "type": "object",
            "properties": properties,
            "additionalProperties": false,
        });
        if let Some(text) = self.comment(message.parent_file(), message.path()) {
            schema["description"] = json!(text);
        }
        schema
    }

    fn field_schema(&mut self, field: &FieldDescriptor) -> Json {
        if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                return json!({"type": "object"});
            };
            let value = self.kind_schema(&entry.map_entry_value_field().kind());
            return json!({"type": "object", "additionalProperties": value});
        }
        let item = self.kind_schema(&field.kind());
        if field.is_list() {
            json!({"type": "array", "items": item})
        } else {
            item
        }
    }

    fn kind_schema(&mut self, kind: &Kind) -> Json {
        match kind {
            Kind::Bool => json!({"type": "boolean"}),
            Kind::String => json!({"type": "string"}),
            Kind::Bytes => json!({"type": "string", "format": "byte"}),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                json!({"type": "integer", "format": "int32"})
            }
            Kind::Uint32 | Kind::Fixed32 => {
                json!({"type": "integer", "format": "int64", "minimum": 0, "maximum": u32::MAX})
            }
            // 64-bit integers travel as strings (numbers are accepted too).
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                json!({"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"})
            }
            Kind::Uint64 | Kind::Fixed64 => {
                json!({"type": "string", "format": "uint64", "pattern": "^[0-9]+$"})
            }
            Kind::Float => json!({"type": "number", "format": "float"}),
            Kind::Double => json!({"type": "number", "format": "double"}),
            Kind::Enum(enum_type) => {
                let values: Vec<String> = enum_type
                    .values()
                    .filter_map(|v| short_name(enum_type, v.name()))
                    .collect();
                json!({"type": "string", "enum": values})
            }
            Kind::Message(message) => self.schema_ref(message),
        }
    }

    /// The leading comment of the element at `path` in `file`, trimmed.
    fn comment(&mut self, file: prost_reflect::FileDescriptor, path: &[i32]) -> Option<String> {
        let comments = self
            .comments
            .entry(file.name().to_owned())
            .or_insert_with(|| {
                file.file_descriptor_proto()
                    .source_code_info
                    .iter()
                    .flat_map(|info| &info.location)
                    .filter_map(|location| {
                        let text = location.leading_comments.as_deref()?.trim();
                        (!text.is_empty()).then(|| {
                            let text = text.lines().map(str::trim).collect::<Vec<_>>().join("\n");
                            (location.path.clone(), text)
                        })
                    })
                    .collect()
            });
        comments.get(path).cloned()
    }
}

/// The first sentence of a comment, on one line.
fn first_sentence(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.find(". ") {
        Some(end) => flat[..=end].to_owned(),
        None => flat,
    }
}

/// A component name: the message's full name.
fn schema_name(message: &MessageDescriptor) -> String {
    message.full_name().to_owned()
}

/// Well-known types with a JSON form of their own, written inline.
fn well_known(message: &MessageDescriptor) -> Option<Json> {
    Some(match message.full_name() {
        "google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
        "google.protobuf.Duration" => {
            json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?s$"})
        }
        "google.protobuf.FieldMask" => json!({"type": "string"}),
        "google.protobuf.Struct" => json!({"type": "object", "additionalProperties": {}}),
        "google.protobuf.Value" => json!({}),
        "google.protobuf.ListValue" => json!({"type": "array", "items": {}}),
        "google.protobuf.Empty" => json!({"type": "object"}),
        "google.protobuf.StringValue" => json!({"type": "string"}),
        "google.protobuf.BoolValue" => json!({"type": "boolean"}),
        "google.protobuf.Int32Value" | "google.protobuf.UInt32Value" => {
            json!({"type": "integer"})
        }
        "google.protobuf.Int64Value" | "google.protobuf.UInt64Value" => {
            json!({"type": "string", "pattern": "^-?[0-9]+$"})
        }
        "google.protobuf.DoubleValue" | "google.protobuf.FloatValue" => json!({"type": "number"}),
        "google.protobuf.BytesValue" => json!({"type": "string", "format": "byte"}),
        _ => return None,
    })
}

/// Well-known types that fit in a query parameter.
fn is_scalar_wkt(message: &MessageDescriptor) -> bool {
    matches!(
        message.full_name(),
        "google.protobuf.Timestamp"
            | "google.protobuf.Duration"
            | "google.protobuf.FieldMask"
            | "google.protobuf.StringValue"
            | "google.protobuf.BoolValue"
            | "google.protobuf.Int32Value"
            | "google.protobuf.UInt32Value"
            | "google.protobuf.Int64Value"
            | "google.protobuf.UInt64Value"
            | "google.protobuf.DoubleValue"
            | "google.protobuf.FloatValue"
    )
}

/// The AIP-193 error body.
fn error_schema() -> Json {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "status", "message"],
            "properties": {
                "code": {"type": "integer", "description": "The HTTP status."},
                "status": {"type": "string", "description": "The gRPC code name, e.g. NOT_FOUND."},
                "message": {"type": "string"},
                "details": {"type": "array", "items": {
                    "type": "object",
                    "properties": {"@type": {"type": "string"}},
                    "description": "google.rpc.BadRequest (field_violations) or RetryInfo.",
                }},
            },
        }},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Json {
        document(&RouteTable::from_descriptors(proto::descriptor_pool()).unwrap())
    }

    #[test]
    fn every_route_is_an_operation_with_a_unique_id() {
        let table = RouteTable::from_descriptors(proto::descriptor_pool()).unwrap();
        let doc = document(&table);
        let mut ids = std::collections::HashSet::new();
        for route in table.routes() {
            let operation = &doc["paths"][route.template.openapi_path()]
                [route.http_method.as_str().to_ascii_lowercase()];
            assert!(operation.is_object(), "{} missing", route.grpc_path);
            assert!(ids.insert(operation["operationId"].as_str().unwrap().to_owned()));
        }
    }

    #[test]
    fn public_routes_need_no_token_and_the_others_a_bearer() {
        let doc = doc();
        assert_eq!(
            doc["paths"]["/v1/auth/login"]["post"]["security"],
            json!([])
        );
        assert!(doc["paths"]["/v1/auth/me"]["get"].get("security").is_none());
        assert_eq!(doc["security"], json!([{"bearer": []}]));
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
    }

    #[test]
    fn schemas_follow_the_json_mapping() {
        let doc = doc();
        let schemas = &doc["components"]["schemas"];
        let file = &schemas["workspace.v1.File"]["properties"];
        assert_eq!(file["size_bytes"]["type"], "string", "int64 as a string");
        assert_eq!(file["uploaded_at"]["format"], "date-time");
        let task = &schemas["workspace.v1.Task"]["properties"];
        assert!(
            task["status"]["enum"]
                .as_array()
                .unwrap()
                .contains(&json!("completed"))
        );
        // Every $ref resolves.
        let text = doc.to_string();
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap();
            assert!(schemas.get(name).is_some(), "dangling $ref {name}");
        }
    }

    #[test]
    fn operations_carry_the_proto_comments() {
        let doc = doc();
        let summary = doc["paths"]["/v1/auth/login"]["post"]["summary"]
            .as_str()
            .unwrap();
        assert!(!summary.is_empty());
    }

    /// What schemathesis found the document saying wrongly (docs/RELIABILITY.md).
    #[test]
    fn the_document_describes_what_the_gateway_accepts_and_sends() {
        let doc = doc();
        // No body is the empty message: logout is sent without one.
        assert_eq!(
            doc["paths"]["/v1/auth/logout"]["post"]["requestBody"]["required"],
            false
        );
        // Unknown fields are refused.
        assert_eq!(
            doc["components"]["schemas"]["auth.v1.RefreshRequest"]["additionalProperties"],
            false
        );
        // An export is the file's own type; a watch is one event per message.
        let export = &doc["paths"]["/v1/tasks/{task_id}:export"]["get"]["responses"]["200"];
        assert_eq!(export["content"], json!({"*/*": {}}));
        let watch = &doc["paths"]["/v1/tasks/{task_id}:watch"]["get"]["responses"]["200"];
        assert_eq!(
            watch["content"]["text/event-stream"]["schema"]["required"],
            json!(["data"])
        );
    }
}
