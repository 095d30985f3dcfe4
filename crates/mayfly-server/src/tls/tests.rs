use super::*;

fn config(json: &str) -> TlsConfig {
    serde_json::from_str(json).expect("test config parses")
}

#[test]
fn default_is_tls12_with_the_two_ecdsa_suites() {
    let policy = TlsPolicy::from_config(None).expect("default policy");
    assert_eq!(policy.cipher_suite_names(), DEFAULT_CIPHER_SUITES);
    assert_eq!(policy.versions.len(), 1);
    assert_eq!(policy.versions[0].version, ProtocolVersion::TLSv1_2);
}

#[test]
fn cbc_suites_are_refused_by_name() {
    let err = TlsPolicy::from_config(Some(&config(
        r#"{"cipherSuites": ["TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"]}"#,
    )))
    .expect_err("CBC refused")
    .to_string();
    assert!(
        err.contains("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA") && err.contains("CBC"),
        "{err}"
    );
}

#[test]
fn unknown_suites_and_versions_and_renegotiation_are_refused() {
    for (json, needle) in [
        (
            r#"{"cipherSuites": ["TLS_FOO"]}"#,
            "unknown cipher suite TLS_FOO",
        ),
        (r#"{"minVersion": 1.1}"#, "minVersion 1.1"),
        (
            r#"{"minVersion": 1.3, "maxVersion": 1.2}"#,
            "above maxVersion",
        ),
        (r#"{"renegotiation": true}"#, "renegotiation"),
        (
            r#"{"maxVersion": 1.3, "cipherSuites": ["TLS_AES_128_GCM_SHA256"]}"#,
            "no TLS 1.2 suite",
        ),
    ] {
        let err = TlsPolicy::from_config(Some(&config(json)))
            .expect_err(json)
            .to_string();
        assert!(err.contains(needle), "{json}: {err}");
    }
}

#[test]
fn tls13_enabled_adds_its_suites_and_go_names_are_accepted() {
    let policy = TlsPolicy::from_config(Some(&config(
        r#"{"minVersion": 1.2, "maxVersion": 1.3,
            "cipherSuites": ["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"]}"#,
    )))
    .expect("1.3 policy");
    let names = policy.cipher_suite_names();
    assert_eq!(names[0], "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256");
    assert!(
        names.iter().any(|n| n == "TLS_AES_128_GCM_SHA256"),
        "{names:?}"
    );
    assert_eq!(policy.versions.len(), 2);
}
