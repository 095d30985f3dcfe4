//! ca.json: the loader (provisioners first, then the whole file with serde) on any text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mayfly_authority::config::CaConfig;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = CaConfig::from_json(text);
    }
});
