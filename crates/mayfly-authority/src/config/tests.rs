use super::*;

fn fixture(rel: &str) -> PathBuf {
    mayfly_testkit::step_fixtures().join(rel)
}

#[test]
fn step_test_config_loads() {
    let config = CaConfig::load(&fixture("certificates/ca/testdata/ca.json")).unwrap();
    assert_eq!(config.authority.provisioners.len(), 5);
    assert_eq!(config.authority.provisioners[3].name(), "mariano");
    assert!(
        config.password.0,
        "the password key is noticed (and its value dropped)"
    );
    let ProvisionerConfig::Jwk(mariano) = &config.authority.provisioners[3] else {
        panic!("mariano is a JWK provisioner");
    };
    let min = mariano
        .claims
        .as_ref()
        .and_then(|c| c.min_tls_cert_duration);
    assert_eq!(min, Some(GoDuration::from_secs(1)));
    assert!(
        config.crt.is_absolute(),
        "paths are resolved: {}",
        config.crt.display()
    );
    let tls = config.tls.unwrap();
    assert_eq!((tls.min_version, tls.max_version), (1.2, 1.3));
}

#[test]
fn step_example_config_loads_with_long_claims() {
    let config = CaConfig::load(&fixture("certificates/examples/pki/config/ca.json")).unwrap();
    let names: Vec<_> = config
        .authority
        .provisioners
        .iter()
        .map(|p| p.name())
        .collect();
    assert_eq!(
        names,
        [
            "mariano@smallstep.com",
            "mike@smallstep.com",
            "decade",
            "90days"
        ]
    );
    let ProvisionerConfig::Jwk(decade) = &config.authority.provisioners[2] else {
        panic!("decade is a JWK provisioner");
    };
    let max = decade.claims.as_ref().and_then(|c| c.max_tls_cert_duration);
    assert_eq!(max, Some(GoDuration::from_secs(87_600 * 3600)));
    // step's layout: config/ca.json with paths relative to the folder above config/.
    assert!(
        config
            .crt
            .ends_with("examples/pki/examples/pki/secrets/intermediate_ca.crt")
    );
}

const MINIMAL: &str = r#"{
    "root": "certs/root_ca.crt", "crt": "certs/intermediate_ca.crt",
    "key": "secrets/intermediate_ca_key", "address": ":9000", "dnsNames": ["localhost"],
    "authority": {"provisioners": [{"type": "JWK", "name": "admin", "key": {"kty": "EC"}}]}
}"#;

#[test]
fn unknown_keys_are_named_with_their_location() {
    let bad = MINIMAL.replace(r#""name": "admin""#, r#""name": "admin", "claim": {}"#);
    let (location, message) = CaConfig::from_json(&bad).unwrap_err();
    assert_eq!(location, "authority.provisioners[0].claim");
    assert!(message.contains("unknown field `claim`"), "{message}");

    let bad = MINIMAL.replace(r#""address""#, r#""adress""#);
    let (location, message) = CaConfig::from_json(&bad).unwrap_err();
    assert_eq!(location, "adress");
    assert!(message.contains("unknown field `adress`"), "{message}");
}

#[test]
fn bad_values_are_named() {
    let bad = MINIMAL.replace(
        r#""name": "admin""#,
        r#""name": "admin", "claims": {"maxTLSCertDuration": "10 days"}"#,
    );
    let (location, message) = CaConfig::from_json(&bad).unwrap_err();
    assert_eq!(
        location,
        "authority.provisioners[0].claims.maxTLSCertDuration"
    );
    assert!(
        message.contains("invalid duration \"10 days\""),
        "{message}"
    );

    let bad = MINIMAL.replace(r#""type": "JWK""#, r#""type": "OIDC""#);
    let (location, message) = CaConfig::from_json(&bad).unwrap_err();
    assert_eq!(location, "authority.provisioners[0].type");
    assert!(message.contains("\"OIDC\" is not supported"), "{message}");

    let (location, _) = CaConfig::from_json("{\n  \"root\": ,\n}").unwrap_err();
    assert_eq!(location, "line 2 column 11");
}

#[test]
fn comment_keys_are_skipped_but_not_inside_jwks() {
    let with_comment = MINIMAL.replace(r#""address""#, r#""_note": "hello", "address""#);
    assert!(CaConfig::from_json(&with_comment).is_ok());
    let config =
        CaConfig::from_json(&MINIMAL.replace(r#""kty": "EC""#, r#""kty": "EC", "_x": 1"#)).unwrap();
    let ProvisionerConfig::Jwk(p) = &config.authority.provisioners[0] else {
        panic!("JWK");
    };
    assert_eq!(p.key["_x"], 1);
}

#[test]
fn provisioner_round_trips_with_its_type() {
    let config = CaConfig::from_json(MINIMAL).unwrap();
    let json = serde_json::to_value(&config.authority.provisioners[0]).unwrap();
    assert_eq!(json["type"], "JWK");
    assert_eq!(json["name"], "admin");
}
