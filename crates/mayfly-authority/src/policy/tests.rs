use super::*;

fn policy(json: &str) -> NamePolicy {
    let config: X509Policy = serde_json::from_str(json).unwrap();
    NamePolicy::compile(Some(&config)).unwrap()
}

fn ip(s: &str) -> Name<'static> {
    Name::Ip(s.parse().unwrap())
}

#[test]
fn no_policy_allows_everything_but_wildcards() {
    let p = NamePolicy::compile(None).unwrap();
    assert!(p.check(Some("anything"), &[Name::Dns("a.b.c")]).is_ok());
    assert_eq!(
        p.check(None, &[Name::Dns("*.example.com")]),
        Err(PolicyError::Wildcard("*.example.com".into()))
    );
}

#[test]
fn dns_allow_rules_match_exactly_or_below() {
    let p = policy(r#"{"allow": {"dns": ["*.internal.example", "example.com"]}}"#);
    assert!(p.check(None, &[Name::Dns("a.internal.example")]).is_ok());
    assert!(p.check(None, &[Name::Dns("a.b.INTERNAL.example")]).is_ok());
    assert!(p.check(None, &[Name::Dns("example.com")]).is_ok());
    for refused in [
        "internal.example",
        "xinternal.example",
        "www.example.com",
        "evil.com",
    ] {
        assert!(
            matches!(
                p.check(None, &[Name::Dns(refused)]),
                Err(PolicyError::NotAllowed { .. })
            ),
            "{refused}"
        );
    }
}

#[test]
fn an_allow_list_refuses_kinds_it_does_not_name() {
    let p = policy(r#"{"allow": {"dns": ["*.example.com"]}}"#);
    assert!(matches!(
        p.check(None, &[ip("10.0.0.1")]),
        Err(PolicyError::NotAllowed { .. })
    ));
    assert!(matches!(
        p.check(None, &[Name::Email("a@example.com")]),
        Err(PolicyError::NotAllowed { .. })
    ));
}

#[test]
fn deny_wins_over_allow() {
    let p =
        policy(r#"{"allow": {"dns": ["*.example.com"]}, "deny": {"dns": ["admin.example.com"]}}"#);
    assert!(p.check(None, &[Name::Dns("www.example.com")]).is_ok());
    let err = p
        .check(None, &[Name::Dns("admin.example.com")])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "DNS name \"admin.example.com\" is denied by policy rule \"admin.example.com\""
    );
}

#[test]
fn ip_ranges() {
    let p = policy(r#"{"allow": {"ip": ["10.0.0.0/8", "fd00::/8", "192.168.1.7"]}}"#);
    assert!(p.check(None, &[ip("10.200.3.4")]).is_ok());
    assert!(p.check(None, &[ip("fd12::1")]).is_ok());
    assert!(p.check(None, &[ip("192.168.1.7")]).is_ok());
    assert!(p.check(None, &[ip("192.168.1.8")]).is_err());
    assert!(p.check(None, &[ip("11.0.0.1")]).is_err());
    assert!(
        p.check(None, &[ip("::ffff:10.0.0.1")]).is_err(),
        "v4-mapped is not v4"
    );
}

#[test]
fn emails_and_uris() {
    let p = policy(
        r#"{"allow": {"email": ["@example.com", "ops@other.org"], "uri": ["*.example.org"]}}"#,
    );
    assert!(p.check(None, &[Name::Email("anyone@EXAMPLE.com")]).is_ok());
    assert!(p.check(None, &[Name::Email("ops@other.org")]).is_ok());
    assert!(p.check(None, &[Name::Email("dev@other.org")]).is_err());
    assert!(
        p.check(None, &[Name::Uri("spiffe://svc.example.org/workload")])
            .is_ok()
    );
    assert!(
        p.check(None, &[Name::Uri("https://user@svc.example.org:8443/x")])
            .is_ok()
    );
    assert!(
        p.check(None, &[Name::Uri("spiffe://example.org/workload")])
            .is_err()
    );
    assert!(p.check(None, &[Name::Uri("not a uri")]).is_err());
}

#[test]
fn common_name_must_be_listed_or_be_a_san() {
    let p = policy(r#"{"allow": {"dns": ["*.example.com"], "cn": ["Service Account"]}}"#);
    assert!(
        p.check(Some("www.example.com"), &[Name::Dns("www.example.com")])
            .is_ok()
    );
    assert!(
        p.check(Some("Service Account"), &[Name::Dns("a.example.com")])
            .is_ok()
    );
    assert!(matches!(
        p.check(Some("root"), &[Name::Dns("a.example.com")]),
        Err(PolicyError::NotAllowed { .. })
    ));
    let deny = policy(r#"{"deny": {"cn": ["root"]}}"#);
    assert!(matches!(
        deny.check(Some("root"), &[]),
        Err(PolicyError::Denied { .. })
    ));
}

#[test]
fn wildcards_need_the_flag_and_an_allow_rule() {
    let p = policy(r#"{"allow": {"dns": ["*.example.com"]}, "allowWildcardNames": true}"#);
    assert!(p.check(None, &[Name::Dns("*.example.com")]).is_ok());
    assert!(p.check(None, &[Name::Dns("*.other.com")]).is_err());
}

#[test]
fn malformed_rules_are_refused_with_the_rule() {
    for json in [
        r#"{"allow": {"dns": ["*"]}}"#,
        r#"{"allow": {"dns": ["a..b"]}}"#,
        r#"{"allow": {"ip": ["10.0.0.0/33"]}}"#,
        r#"{"allow": {"ip": ["ten"]}}"#,
        r#"{"deny": {"email": ["user@"]}}"#,
    ] {
        let config: X509Policy = serde_json::from_str(json).unwrap();
        let err = NamePolicy::compile(Some(&config)).unwrap_err();
        assert!(
            matches!(err, PolicyError::InvalidRule { .. }),
            "{json}: {err}"
        );
    }
    let unknown =
        serde_json::from_str::<X509Policy>(r#"{"allow": {"domains": ["x"]}}"#).unwrap_err();
    assert!(unknown.to_string().contains("domains"), "{unknown}");
}
