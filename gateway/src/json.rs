//! JSON ⇄ protobuf by the proto3 JSON mapping (prost-reflect's serde support),
//! plus the two conventions of our HTTP contract: proto field names on output
//! (both spellings accepted on input), and enums as lower-case names without
//! their type prefix (`"status": "active"` for `CONVERSATION_STATUS_ACTIVE`;
//! the full names are accepted on input too).

use prost_reflect::{
    DeserializeOptions, DynamicMessage, EnumDescriptor, Kind, MessageDescriptor, ReflectMessage,
    SerializeOptions,
};
use serde_json::Value as Json;

/// Parses `json` as a `descriptor` message, refusing unknown fields.
pub fn to_message(
    descriptor: &MessageDescriptor,
    mut json: Json,
) -> Result<DynamicMessage, String> {
    rewrite_enums(&mut json, descriptor, &long_name);
    let options = DeserializeOptions::new().deny_unknown_fields(true);
    DynamicMessage::deserialize_with_options(descriptor.clone(), json, &options)
        .map_err(|e| e.to_string())
}

/// `message` as JSON, with every field (defaults included) under its proto name.
pub fn from_message(message: &DynamicMessage) -> Json {
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .skip_default_fields(false);
    let mut json = message
        .serialize_with_options(serde_json::value::Serializer, &options)
        .unwrap_or(Json::Null);
    rewrite_enums(&mut json, &message.descriptor(), &short_name);
    json
}

/// The name used on the wire for an enum value: `CONVERSATION_STATUS_ACTIVE`
/// of `ConversationStatus` is `active`.
pub fn short_name(enum_type: &EnumDescriptor, name: &str) -> Option<String> {
    let prefix = screaming_snake(enum_type.name()) + "_";
    Some(
        name.strip_prefix(&prefix)
            .unwrap_or(name)
            .to_ascii_lowercase(),
    )
}

/// The full value name for a short or full `name`; `None` leaves it as is.
fn long_name(enum_type: &EnumDescriptor, name: &str) -> Option<String> {
    if enum_type.get_value_by_name(name).is_some() {
        return None;
    }
    enum_type
        .values()
        .find(|v| short_name(enum_type, v.name()).as_deref() == Some(&name.to_ascii_lowercase()))
        .map(|v| v.name().to_owned())
}

fn screaming_snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

type Rename = dyn Fn(&EnumDescriptor, &str) -> Option<String>;

/// Applies `rename` to every enum string in `json`, a `descriptor` message.
fn rewrite_enums(json: &mut Json, descriptor: &MessageDescriptor, rename: &Rename) {
    // Well-known types hold no enums of ours and have their own JSON forms.
    if descriptor.package_name() == "google.protobuf" {
        return;
    }
    let Json::Object(object) = json else { return };
    for field in descriptor.fields() {
        for key in [field.name(), field.json_name()] {
            let Some(value) = object.get_mut(key) else {
                continue;
            };
            let values: Vec<&mut Json> = if field.is_map() {
                match value {
                    Json::Object(map) => map.values_mut().collect(),
                    _ => continue,
                }
            } else if field.is_list() {
                match value {
                    Json::Array(items) => items.iter_mut().collect(),
                    _ => continue,
                }
            } else {
                vec![value]
            };
            let kind = if field.is_map() {
                match field.kind() {
                    Kind::Message(entry) => entry.map_entry_value_field().kind(),
                    other => other,
                }
            } else {
                field.kind()
            };
            for value in values {
                match &kind {
                    Kind::Enum(enum_type) => {
                        if let Json::String(name) = value
                            && let Some(renamed) = rename(enum_type, name)
                        {
                            *name = renamed;
                        }
                    }
                    Kind::Message(inner) => rewrite_enums(value, inner, rename),
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor(name: &str) -> MessageDescriptor {
        proto::descriptor_pool().get_message_by_name(name).unwrap()
    }

    #[test]
    fn enums_go_out_short_and_lower_case() {
        let message = to_message(
            &descriptor("workspace.v1.Conversation"),
            serde_json::json!({"status": "CONVERSATION_STATUS_ARCHIVED", "turn_count": 3}),
        )
        .unwrap();
        let json = from_message(&message);
        assert_eq!(json["status"], "archived");
        assert_eq!(json["turn_count"], 3);
        // Every field is present, under its proto name.
        assert_eq!(json["conversation_id"], "");
        assert!(json.get("conversationId").is_none());
    }

    #[test]
    fn enums_come_in_short_or_full_and_fields_in_either_spelling() {
        let d = descriptor("workspace.v1.ListConversationsRequest");
        for input in [
            serde_json::json!({"status": "archived", "pageSize": 5}),
            serde_json::json!({"status": "CONVERSATION_STATUS_ARCHIVED", "page_size": 5}),
            serde_json::json!({"status": "Archived", "page_size": "5"}),
        ] {
            let json = from_message(&to_message(&d, input.clone()).unwrap());
            assert_eq!(
                (json["status"].as_str(), json["page_size"].as_i64()),
                (Some("archived"), Some(5)),
                "{input}"
            );
        }
    }

    #[test]
    fn unknown_fields_and_values_are_refused_naming_them() {
        let d = descriptor("workspace.v1.ListConversationsRequest");
        let error = to_message(&d, serde_json::json!({"colour": "red"})).unwrap_err();
        assert!(error.contains("colour"), "{error}");
        assert!(to_message(&d, serde_json::json!({"status": "sideways"})).is_err());
        assert!(to_message(&d, serde_json::json!({"page_size": "many"})).is_err());
    }

    #[test]
    fn timestamps_are_rfc3339_and_int64_are_strings() {
        let message = to_message(
            &descriptor("auth.v1.User"),
            serde_json::json!({"created_at": "2026-11-21T10:00:00Z"}),
        )
        .unwrap();
        assert_eq!(from_message(&message)["created_at"], "2026-11-21T10:00:00Z");
    }

    #[test]
    fn screaming_snake_splits_words() {
        assert_eq!(screaming_snake("ConversationStatus"), "CONVERSATION_STATUS");
        assert_eq!(screaming_snake("Task"), "TASK");
    }
}
