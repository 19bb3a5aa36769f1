//! The gateway's path templates: any text parses as a template or is refused
//! with an error, and any path is matched against a template, and against
//! the route table of the API, without a panic. A match gives back only
//! the template's own variables.

#![no_main]

use std::sync::LazyLock;

use gateway::routes::{PathTemplate, RouteTable};
use libfuzzer_sys::fuzz_target;

static TABLE: LazyLock<RouteTable> = LazyLock::new(|| {
    RouteTable::from_descriptors(proto::descriptor_pool()).expect("the API's routes")
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // "template\npath", or the text as both.
    let (template, path) = text.split_once('\n').unwrap_or((text, text));
    if let Ok(parsed) = PathTemplate::parse(template) {
        if let Some(bound) = parsed.matches(path) {
            let variables: Vec<&str> = parsed.variables().collect();
            assert!(
                bound
                    .iter()
                    .all(|(name, _)| variables.contains(&name.as_str()))
            );
        }
        let _ = parsed.openapi_path();
    }
    for method in [http::Method::GET, http::Method::POST, http::Method::DELETE] {
        let _ = TABLE.lookup(&method, path);
    }
});
