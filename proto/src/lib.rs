//! The API of the system, generated from the protos in this crate: message
//! types, tonic clients and servers, and the encoded file descriptor set that
//! reflection and the gateway read (HTTP routes, access rules, JSON mapping).

use std::collections::HashMap;
use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, MethodDescriptor, Value};

/// `access.v1`: the method option that says who may call a method.
pub mod access {
    /// Version 1.
    pub mod v1 {
        #![allow(clippy::too_many_lines)] // generated code
        tonic::include_proto!("access.v1");
    }
}

/// `auth.v1`: accounts, sessions, tokens.
pub mod auth {
    /// Version 1.
    pub mod v1 {
        #![allow(clippy::too_many_lines)] // generated code
        tonic::include_proto!("auth.v1");
    }
}

/// `workspace.v1`: files, conversations, tasks.
pub mod workspace {
    /// Version 1.
    pub mod v1 {
        #![allow(clippy::too_many_lines)] // generated code
        tonic::include_proto!("workspace.v1");
    }
}

/// `google.api`: the HTTP annotations.
pub mod google {
    /// The `google.api` package.
    pub mod api {
        #![allow(clippy::too_many_lines)] // generated code
        tonic::include_proto!("google.api");
    }
}

/// The encoded `FileDescriptorSet` of every proto of the API, imports included.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/descriptor_set.bin"));

/// The decoded descriptors of the API.
pub fn descriptor_pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(FILE_DESCRIPTOR_SET)
            .expect("the descriptor set built by build.rs decodes")
    })
}

/// The access rule the proto states for `method` (the default rule, a
/// signed-in user, when it states none).
pub fn access_rule(method: &MethodDescriptor) -> access::v1::AccessRule {
    let pool = descriptor_pool();
    let Some(extension) = pool.get_extension_by_name("access.v1.rule") else {
        return access::v1::AccessRule::default();
    };
    let options = method.options();
    if !options.has_extension(&extension) {
        return access::v1::AccessRule::default();
    }
    match options.get_extension(&extension).as_ref() {
        Value::Message(message) => message.transcode_to().unwrap_or_default(),
        _ => access::v1::AccessRule::default(),
    }
}

/// The access rule of the method at a gRPC path (`/auth.v1.AuthService/Login`),
/// or `None` when the path names no method of the API (health, reflection).
/// The rules are read from the descriptors once: this runs on every call.
pub fn access_rule_for_path(path: &str) -> Option<&'static access::v1::AccessRule> {
    static RULES: OnceLock<HashMap<String, access::v1::AccessRule>> = OnceLock::new();
    RULES
        .get_or_init(|| {
            descriptor_pool()
                .services()
                .flat_map(|service| service.methods().collect::<Vec<_>>())
                .map(|method| {
                    let path =
                        format!("/{}/{}", method.parent_service().full_name(), method.name());
                    (path, access_rule(&method))
                })
                .collect()
        })
        .get(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_is_public_and_get_me_is_not() {
        assert!(
            access_rule_for_path("/auth.v1.AuthService/Login")
                .unwrap()
                .public
        );
        assert!(
            !access_rule_for_path("/auth.v1.AuthService/GetMe")
                .unwrap()
                .public
        );
    }

    #[test]
    fn paths_outside_the_api_have_no_rule() {
        assert!(access_rule_for_path("/grpc.health.v1.Health/Check").is_none());
        assert!(access_rule_for_path("garbage").is_none());
    }
}
