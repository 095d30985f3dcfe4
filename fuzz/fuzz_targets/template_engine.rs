//! The certificate template engine with hostile input on both sides: the bytes up to the
//! first NUL are the template, the rest is the JSON data it renders (null if not JSON).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mayfly_template::Template;

fuzz_target!(|data: &[u8]| {
    let (template, json) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &b""[..]),
    };
    let Ok(text) = std::str::from_utf8(template) else {
        return;
    };
    let data = serde_json::from_slice(json).unwrap_or(serde_json::Value::Null);
    if let Ok(template) = Template::parse("fuzz", text) {
        let _ = template.render_json(&data);
    }
});
