//! The page-token decoder: any text as a page token is refused with
//! `InvalidPageToken`, never panics; a token decodes only for the scope
//! it was made for; and any JSON under a valid tag (as if the key had
//! leaked) decodes to a position or is refused.

#![no_main]

use libfuzzer_sys::fuzz_target;
use service_runtime::paging::PageTokens;

fuzz_target!(|data: &[u8]| {
    let tokens = PageTokens::new(b"fuzzing key");
    if let Ok(text) = std::str::from_utf8(data) {
        // Never valid: the tag cannot match by chance.
        assert!(
            tokens
                .decode::<(String, String)>("user:1", text)
                .map_or(true, |p| p.is_none())
        );
        // A token is bound to its scope.
        let token = tokens.encode("user:1", &text);
        assert!(tokens.decode::<String>("user:2", &token).is_err());
        assert_eq!(
            tokens.decode::<String>("user:1", &token),
            Ok(Some(text.to_owned()))
        );
    }
    // Any JSON under a valid tag, read as the positions the lists use.
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) {
        let signed = tokens.encode("user:1", &json);
        let _ = tokens.decode::<(chrono::DateTime<chrono::Utc>, uuid::Uuid)>("user:1", &signed);
    }
});
