//! OCSP requests: DER as POSTed, and the base64 path segment of a GET (RFC 6960 A.1).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mayfly_crl::OcspRequest;

fuzz_target!(|data: &[u8]| {
    let _ = OcspRequest::from_der(data);
    if let Ok(segment) = std::str::from_utf8(data) {
        let _ = OcspRequest::from_get_path(segment);
    }
});
