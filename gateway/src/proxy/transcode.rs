//! Builds the request message of a route from the path variables, the query
//! string and the JSON body, by the rules of `google.api.http`.

use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value as Json};

use crate::error::ApiError;
use crate::json;
use crate::routes::{BodyRule, Route, resolve};

/// The request message for `route`.
pub fn request_message(
    route: &Route,
    variables: Vec<(String, String)>,
    query: Option<&str>,
    body: &[u8],
) -> Result<DynamicMessage, ApiError> {
    let input = route.method.input();
    let mut root = Map::new();
    match &route.body {
        BodyRule::None => {
            if !body.iter().all(u8::is_ascii_whitespace) {
                return Err(ApiError::bad_field(
                    "body",
                    "this route takes no request body",
                ));
            }
        }
        BodyRule::Whole => {
            root = match parse_body(body)? {
                Json::Object(object) => object,
                _ => return Err(ApiError::bad_field("body", "must be a JSON object")),
            };
        }
        BodyRule::Field(field) => {
            set(&mut root, field, parse_body(body)?);
        }
    }
    if matches!(route.body, BodyRule::Whole)
        && let Some((key, _)) = form_urlencoded::parse(query.unwrap_or("").as_bytes()).next()
    {
        return Err(ApiError::bad_field(
            &key,
            "this route takes its fields from the body, not the query string",
        ));
    }
    add_query(&mut root, &input, query)?;
    for (path, value) in variables {
        let field =
            resolve(&input, &path).expect("route variables were checked when the table was built");
        set_path(
            &mut root,
            &input,
            &path,
            scalar(&field, &path, &value)?,
            false,
        );
    }
    json::to_message(&input, Json::Object(root)).map_err(|e| ApiError::bad_field("body", e))
}

/// A `descriptor` message from the query string alone (the metadata of an
/// upload, whose body is the bytes).
pub fn query_message(
    descriptor: &MessageDescriptor,
    query: Option<&str>,
) -> Result<DynamicMessage, ApiError> {
    let mut root = Map::new();
    add_query(&mut root, descriptor, query)?;
    json::to_message(descriptor, Json::Object(root)).map_err(|e| ApiError::bad_field("query", e))
}

/// Sets the fields named in the query string (repeated fields may repeat).
fn add_query(
    root: &mut Map<String, Json>,
    descriptor: &MessageDescriptor,
    query: Option<&str>,
) -> Result<(), ApiError> {
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let field = resolve_spelling(descriptor, &key)
            .ok_or_else(|| ApiError::bad_field(&key, "unknown query parameter"))?;
        set_path(
            root,
            descriptor,
            &key,
            scalar(&field, &key, &value)?,
            field.is_list(),
        );
    }
    Ok(())
}

fn parse_body(body: &[u8]) -> Result<Json, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Json::Object(Map::new()));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_field("body", format!("is not valid JSON: {e}")))
}

/// The field at `path`, written in proto names or lowerCamelCase.
fn resolve_spelling(message: &MessageDescriptor, path: &str) -> Option<FieldDescriptor> {
    let mut current = message.clone();
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let field = current
            .get_field_by_name(part)
            .or_else(|| current.get_field_by_json_name(part))?;
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

/// A query or path value as the JSON the mapping expects for `field`.
fn scalar(field: &FieldDescriptor, name: &str, raw: &str) -> Result<Json, ApiError> {
    let bad = |what: &str| ApiError::bad_field(name, format!("{raw:?} is not {what}"));
    Ok(match field.kind() {
        Kind::Bool => match raw {
            "true" | "1" => Json::Bool(true),
            "false" | "0" => Json::Bool(false),
            _ => return Err(bad("true or false")),
        },
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 | Kind::Uint32 | Kind::Fixed32 => Json::Number(
            raw.parse::<i64>()
                .map_err(|_| bad("a whole number"))?
                .into(),
        ),
        Kind::Float | Kind::Double => {
            serde_json::Number::from_f64(raw.parse().map_err(|_| bad("a number"))?)
                .map(Json::Number)
                .ok_or_else(|| bad("a finite number"))?
        }
        // 64-bit integers, strings, bytes, enums, timestamps and the other
        // well-known types all take a JSON string.
        _ => Json::String(raw.to_owned()),
    })
}

fn set(object: &mut Map<String, Json>, field: &FieldDescriptor, value: Json) {
    object.remove(field.json_name());
    object.insert(field.name().to_owned(), value);
}

/// Sets (or, for repeated fields, appends to) the field at a dotted `path`.
fn set_path(
    root: &mut Map<String, Json>,
    message: &MessageDescriptor,
    path: &str,
    value: Json,
    append: bool,
) {
    let mut object = root;
    let mut current = message.clone();
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let field = current
            .get_field_by_name(part)
            .or_else(|| current.get_field_by_json_name(part))
            .expect("the path was resolved before");
        if i + 1 == parts.len() {
            if append {
                let existing = object
                    .remove(field.json_name())
                    .or_else(|| object.remove(field.name()));
                let mut items = match existing {
                    Some(Json::Array(items)) => items,
                    _ => Vec::new(),
                };
                items.push(value);
                object.insert(field.name().to_owned(), Json::Array(items));
            } else {
                set(object, &field, value);
            }
            return;
        }
        let Kind::Message(next) = field.kind() else {
            return;
        };
        if let Some(existing) = object.remove(field.json_name()) {
            object.insert(field.name().to_owned(), existing);
        }
        let entry = object
            .entry(field.name().to_owned())
            .or_insert_with(|| Json::Object(Map::new()));
        if !entry.is_object() {
            *entry = Json::Object(Map::new());
        }
        object = entry.as_object_mut().expect("just made an object");
        current = next;
    }
}
