//! OpenSSL's index.txt: whatever parses must write back to text that parses to the same
//! entries, and the one-pass CRL reader must agree with the full parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mayfly_crl::Index;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = Index::parse(text);
    assert_eq!(parsed.is_ok(), Index::revoked_in(text).is_ok(), "parsers disagree");
    if let Ok(index) = parsed {
        let again = Index::parse(&index.to_text()).expect("written index.txt parses");
        assert_eq!(again, index, "index.txt does not round-trip");
    }
});
