//! A PKCS#10 request: DER (parse, verify the signature, check the key, read the SANs) or,
//! when the input is text, PEM; then the template view of what was accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mayfly_template::CertificateRequest;

fuzz_target!(|data: &[u8]| {
    let parsed = match std::str::from_utf8(data) {
        Ok(pem) if pem.starts_with("-----") => CertificateRequest::from_pem(pem),
        _ => CertificateRequest::from_der(data),
    };
    if let Ok(csr) = parsed {
        let _ = csr.to_template_value();
    }
});
