//! PEM private keys, plain and encrypted (PBES2 PKCS#8, OpenSSL's legacy `DEK-Info`), read
//! with the password the seed corpus was encrypted with.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mayfly_keys::{Password, encryption_cipher, read_private_key_pem};

fuzz_target!(|data: &[u8]| {
    let _ = encryption_cipher(data);
    let password = Password::from_bytes(b"fuzz-password".to_vec());
    let _ = read_private_key_pem(data, Some(&password));
});
