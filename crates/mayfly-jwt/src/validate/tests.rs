use super::*;

#[test]
fn hosts_are_compared_without_port_and_case() {
    assert_eq!(
        host_of("CA.Example.com:9000").as_deref(),
        Some("ca.example.com")
    );
    assert_eq!(host_of("10.0.0.1").as_deref(), Some("10.0.0.1"));
    assert_eq!(host_of("[::1]:443").as_deref(), Some("::1"));
    assert_eq!(host_of("[::1]").as_deref(), Some("::1"));
    for bad in [
        "", ":443", "ca:port", "user@ca", "[::1", "[::1]x", "ca:99999",
    ] {
        assert_eq!(host_of(bad), None, "{bad:?}");
    }
}

#[test]
fn memory_replay_refuses_a_second_use_and_forgets_expired_ids() {
    let replay = MemoryReplay::default();
    let later = SystemTime::now() + Duration::from_secs(60);
    assert!(replay.record_jti("a", later).expect("store"));
    assert!(!replay.record_jti("a", later).expect("store"));
    let past = SystemTime::now() - Duration::from_secs(1);
    assert!(replay.record_jti("b", past).expect("store"));
    // "b" expired, so it is pruned on the next insert and may be recorded again.
    assert!(replay.record_jti("b", later).expect("store"));
}
