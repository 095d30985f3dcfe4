//! The store conformance suite: every test runs against SQLite, MariaDB/MySQL and PostgreSQL,
//! each on its own fresh database.
#![allow(
    clippy::unwrap_used,
    reason = "test and bench code: a failed step must panic"
)]

mod common;

use std::time::Duration;

use common::TestDb;
use mayfly_store::{
    AcmeKind, AcmeObject, AcmeStore, AuditEvent, AuditLog, CertificateRecord, CertificateStore,
    Consumed, CrlRecord, CrlStateStore, EabKey, PruneConfig, PruneReport, RegistryKind,
    RegistryStore, RevocationRecord, RevocationStore, Store, StoreError, TokenReplay,
};
use mayfly_template::GoDuration;

per_backend!(
    certificates,
    issuance_is_atomic,
    an_acme_order_buys_one_certificate,
    failed_writes_spoil_no_concurrent_ones,
    same_jti_from_64_tasks_wins_once,
    same_jti_across_two_instances_wins_once,
    serial_is_unique_under_concurrency,
    revocation_is_idempotent,
    crl_numbers_and_lock,
    registry,
    registry_puts_racing_on_one_name_all_succeed,
    acme,
    audit,
    pruning,
    instances_pruning_together_remove_each_row_once,
    schema_versions,
    migration_interrupted_after_its_first_ddl_completes,
    instances_starting_together_on_a_new_database,
);

const FAR: i64 = 4_000_000_000;

fn cert(serial: &str, not_after: i64) -> CertificateRecord {
    CertificateRecord {
        serial: serial.into(),
        der: Some(vec![0x30, 0x82, 1, 2, 3]),
        subject: "CN=app.example".into(),
        sans: vec!["app.example".into(), "10.0.0.1".into()],
        not_before: 1_700_000_000,
        not_after,
        provisioner: "jwk@example".into(),
        issuer: "ica1".into(),
    }
}

fn revocation(serial: &str, reason: i64, not_after: Option<i64>) -> RevocationRecord {
    RevocationRecord {
        serial: serial.into(),
        revoked_at: 1_700_000_100,
        reason,
        reason_text: "key compromise".into(),
        revoked_by: "admin".into(),
        issuer: "ica1".into(),
        not_after,
    }
}

async fn certificates(db: &TestDb) {
    let store = db.open().await;
    // A certificate without its DER first, then with: NULL must not fix the column's type.
    let without_der = CertificateRecord {
        der: None,
        ..cert("09", FAR)
    };
    store.insert_certificate(without_der.clone()).await.unwrap();
    store.insert_certificate(cert("0a", FAR)).await.unwrap();
    store.insert_certificate(cert("0b", FAR)).await.unwrap();
    assert_eq!(store.certificate("09").await.unwrap(), Some(without_der));
    assert_eq!(
        store.certificate("0a").await.unwrap(),
        Some(cert("0a", FAR))
    );
    assert_eq!(store.certificate("ff").await.unwrap(), None);
    let err = store.insert_certificate(cert("0a", FAR)).await.unwrap_err();
    assert!(
        matches!(err, StoreError::DuplicateSerial(ref s) if s == "0a"),
        "{err}"
    );
    let err = store.insert_certificate(cert("0A", FAR)).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidInput {
                field: "serial",
                ..
            }
        ),
        "{err}"
    );
    let page = store.list_certificates(None, 1).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].serial, "09");
    let page = store.list_certificates(Some("0a"), 10).await.unwrap();
    assert_eq!(
        page.iter().map(|c| c.serial.as_str()).collect::<Vec<_>>(),
        ["0b"]
    );
}

async fn issuance_is_atomic(db: &TestDb) {
    let store = db.open().await;
    store
        .record_issuance("t1".into(), FAR, cert("01", FAR))
        .await
        .unwrap();
    let err = store
        .record_issuance("t1".into(), FAR, cert("02", FAR))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::TokenReplayed(ref j) if j == "t1"),
        "{err}"
    );
    assert_eq!(
        store.certificate("02").await.unwrap(),
        None,
        "a refused issuance stored nothing"
    );
    // A duplicate serial rolls back the token use as well.
    let err = store
        .record_issuance("t2".into(), FAR, cert("01", FAR))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::DuplicateSerial(_)), "{err}");
    assert!(
        store.record_token("t2".into(), FAR).await.unwrap(),
        "t2 must still be unused"
    );
}

/// An ACME order turns valid in its certificate's transaction, only from the revision it was
/// read at: a second finalization of the same order stores neither its certificate nor its
/// audit event.
async fn an_acme_order_buys_one_certificate(db: &TestDb) {
    let store = db.open().await;
    let ready = AcmeObject {
        status: "ready".into(),
        ..object("order1", "acct1")
    };
    store
        .create_object(AcmeKind::Order, ready.clone())
        .await
        .unwrap();
    let valid = |serial: &str| {
        Some(Consumed::AcmeOrder(AcmeObject {
            status: "valid".into(),
            data: format!(r#"{{"certificate":"{serial}"}}"#),
            ..ready.clone()
        }))
    };
    let issued = |serial: &str| AuditEvent {
        at: 1_700_000_000,
        event: "issue".into(),
        serial: Some(serial.into()),
        subject: None,
        provisioner: Some("acme".into()),
        detail: String::new(),
    };
    store
        .record_issued(valid("0a"), cert("0a", FAR), issued("0a"))
        .await
        .unwrap();
    let order = store.object(AcmeKind::Order, "order1").await.unwrap();
    let order = order.unwrap();
    assert_eq!((order.status.as_str(), order.revision), ("valid", 2));
    assert!(order.data.contains("0a"), "{}", order.data);

    let err = store
        .record_issued(valid("0b"), cert("0b", FAR), issued("0b"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Changed { key, .. } if key == "order1"),
        "{err}"
    );
    assert_eq!(store.certificate("0b").await.unwrap(), None);
    let events = store.audit_since(0, 100).await.unwrap();
    let serials: Vec<_> = events.iter().map(|(_, e)| e.serial.as_deref()).collect();
    assert_eq!(serials, [Some("0a")]);
    let order = store.object(AcmeKind::Order, "order1").await.unwrap();
    assert_eq!(
        order.unwrap().revision,
        2,
        "the order was not written again"
    );
}

async fn failed_writes_spoil_no_concurrent_ones(db: &TestDb) {
    let store = db.open().await;
    for i in 0..16 {
        store.record_token(format!("used{i}"), FAR).await.unwrap();
    }
    // Replays and fresh issuances race: on SQLite they share group-committed transactions.
    let mut handles = Vec::new();
    for i in 0..32 {
        let store = store.clone();
        let jti = if i % 2 == 0 {
            format!("used{}", i / 2)
        } else {
            format!("fresh{i}")
        };
        handles.push(tokio::spawn(async move {
            store
                .record_issuance(jti, FAR, cert(&format!("{i:04x}"), FAR))
                .await
        }));
    }
    for (i, h) in handles.into_iter().enumerate() {
        let result = h.await.unwrap();
        let stored = store.certificate(&format!("{i:04x}")).await.unwrap();
        if i % 2 == 0 {
            assert!(
                matches!(result, Err(StoreError::TokenReplayed(_))),
                "{i}: {result:?}"
            );
            assert_eq!(stored, None);
        } else {
            result.unwrap();
            assert!(stored.is_some());
        }
    }
}

async fn race_jti(stores: Vec<Store>, tasks: usize) -> usize {
    let mut handles = Vec::new();
    for i in 0..tasks {
        let store = stores[i % stores.len()].clone();
        handles.push(tokio::spawn(async move {
            store.record_token("same".into(), FAR).await
        }));
    }
    let mut wins = 0;
    for h in handles {
        if h.await.unwrap().unwrap() {
            wins += 1;
        }
    }
    wins
}

async fn same_jti_from_64_tasks_wins_once(db: &TestDb) {
    let store = db.open().await;
    assert_eq!(race_jti(vec![store.clone()], 64).await, 1);
    assert!(!store.record_token("same".into(), FAR).await.unwrap());
}

async fn same_jti_across_two_instances_wins_once(db: &TestDb) {
    let a = db.open().await;
    let b = db.open().await;
    assert_eq!(race_jti(vec![a, b], 64).await, 1);
}

async fn serial_is_unique_under_concurrency(db: &TestDb) {
    let store = db.open().await;
    let mut handles = Vec::new();
    for _ in 0..32 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            store.insert_certificate(cert("abcd", FAR)).await
        }));
    }
    let mut ok = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::DuplicateSerial(_)) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(ok, 1);
}

async fn revocation_is_idempotent(db: &TestDb) {
    let store = db.open().await;
    let first = store.revoke(revocation("aa", 1, Some(FAR))).await.unwrap();
    assert_eq!(first, revocation("aa", 1, Some(FAR)));
    let again = store.revoke(revocation("aa", 4, Some(FAR))).await.unwrap();
    assert_eq!(again, first, "a repeat returns the record stored first");
    store
        .revoke(revocation("bb", 0, Some(1_000)))
        .await
        .unwrap();
    store.revoke(revocation("cc", 0, None)).await.unwrap();
    assert_eq!(store.revocation("aa").await.unwrap(), Some(first));
    assert_eq!(store.revocation("dd").await.unwrap(), None);
    let listed = store.list_revoked("ica1", 2_000).await.unwrap();
    let serials: Vec<_> = listed.iter().map(|r| r.serial.as_str()).collect();
    assert_eq!(serials, ["aa", "cc"], "expired revocations leave the CRL");
    assert!(store.list_revoked("other", 0).await.unwrap().is_empty());
}

async fn crl_numbers_and_lock(db: &TestDb) {
    let store = db.open().await;
    assert_eq!(store.last_crl("ica1").await.unwrap(), None);
    let mut handles = Vec::new();
    for _ in 0..16 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            store.next_crl_number("ica1".into()).await
        }));
    }
    let mut numbers = Vec::new();
    for h in handles {
        numbers.push(h.await.unwrap().unwrap());
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=16).collect::<Vec<i64>>());
    let crl = CrlRecord {
        number: 16,
        der: vec![0x30, 0, 1],
        this_update: 1_700_000_000,
    };
    store.store_crl("ica1".into(), crl.clone()).await.unwrap();
    assert_eq!(store.last_crl("ica1").await.unwrap(), Some(crl));
    assert_eq!(store.next_crl_number("ica1".into()).await.unwrap(), 17);

    assert!(
        store
            .lock_crl("ica1".into(), "a".into(), 100, 200)
            .await
            .unwrap()
    );
    assert!(
        !store
            .lock_crl("ica1".into(), "b".into(), 150, 250)
            .await
            .unwrap()
    );
    assert!(
        store
            .lock_crl("ica1".into(), "a".into(), 150, 250)
            .await
            .unwrap(),
        "renewal"
    );
    assert!(
        store
            .lock_crl("ica1".into(), "b".into(), 251, 300)
            .await
            .unwrap(),
        "expired"
    );
    store.unlock_crl("ica1".into(), "b".into()).await.unwrap();
    assert!(
        store
            .lock_crl("ica1".into(), "a".into(), 260, 300)
            .await
            .unwrap(),
        "released"
    );
}

async fn registry(db: &TestDb) {
    let store = db.open().await;
    assert_eq!(store.registry_revision().await.unwrap(), 0);
    let r1 = store
        .put_entry(
            RegistryKind::Provisioner,
            "jwk".into(),
            r#"{"type":"JWK"}"#.into(),
        )
        .await
        .unwrap();
    let r2 = store
        .put_entry(
            RegistryKind::Provisioner,
            "jwk".into(),
            r#"{"type":"JWK","v":2}"#.into(),
        )
        .await
        .unwrap();
    assert!(r2 > r1);
    store
        .put_entry(
            RegistryKind::Admin,
            "root".into(),
            r#"{"super":true}"#.into(),
        )
        .await
        .unwrap();
    let provs = store.entries(RegistryKind::Provisioner).await.unwrap();
    assert_eq!(provs.len(), 1);
    assert_eq!(provs[0].data, r#"{"type":"JWK","v":2}"#);
    assert_eq!(store.entries(RegistryKind::Admin).await.unwrap().len(), 1);
    let err = store
        .put_entry(RegistryKind::Admin, "x".into(), "not json".into())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput { .. }), "{err}");
    let r4 = store
        .delete_entry(RegistryKind::Provisioner, "jwk".into())
        .await
        .unwrap();
    assert!(r4.unwrap() > r2);
    assert_eq!(
        store
            .delete_entry(RegistryKind::Provisioner, "jwk".into())
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.registry_revision().await.unwrap(), r4.unwrap());
}

async fn registry_puts_racing_on_one_name_all_succeed(db: &TestDb) {
    let store = db.open().await;
    let data = |i: usize| format!(r#"{{"type":"JWK","v":{i}}}"#);
    let mut handles = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            store
                .put_entry(RegistryKind::Provisioner, "jwk".into(), data(i))
                .await
        }));
    }
    let mut revisions = Vec::new();
    for h in handles {
        revisions.push(h.await.unwrap().unwrap());
    }
    revisions.sort_unstable();
    assert_eq!(revisions, (1..=16).collect::<Vec<i64>>(), "one bump each");
    let entries = store.entries(RegistryKind::Provisioner).await.unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!((0..16).any(|i| entries[0].data == data(i)), "{entries:?}");
    assert_eq!(store.registry_revision().await.unwrap(), 16);
}

fn object(id: &str, owner: &str) -> AcmeObject {
    AcmeObject {
        id: id.into(),
        owner: owner.into(),
        status: "pending".into(),
        expires_at: FAR,
        data: format!(r#"{{"id":"{id}"}}"#),
        revision: 1,
    }
}

async fn acme(db: &TestDb) {
    let store = db.open().await;
    store
        .create_object(AcmeKind::Account, object("acct1", "thumb1"))
        .await
        .unwrap();
    let err = store
        .create_object(AcmeKind::Account, object("acct2", "thumb1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::AlreadyExists { .. }),
        "same key thumbprint: {err}"
    );
    let by_key = store.objects_of(AcmeKind::Account, "thumb1").await.unwrap();
    assert_eq!(by_key, [object("acct1", "thumb1")]);

    // Orders of one account created concurrently: none lost.
    let mut handles = Vec::new();
    for i in 0..20 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            store
                .create_object(AcmeKind::Order, object(&format!("o{i}"), "acct1"))
                .await
        }));
    }
    for h in handles {
        h.await.unwrap().unwrap();
    }
    assert_eq!(
        store
            .objects_of(AcmeKind::Order, "acct1")
            .await
            .unwrap()
            .len(),
        20
    );

    // Optimistic update: the second writer with a stale revision loses.
    let mut o = store.object(AcmeKind::Order, "o1").await.unwrap().unwrap();
    o.status = "ready".into();
    assert!(
        store
            .update_object(AcmeKind::Order, o.clone())
            .await
            .unwrap()
    );
    assert!(!store.update_object(AcmeKind::Order, o).await.unwrap());
    let o = store.object(AcmeKind::Order, "o1").await.unwrap().unwrap();
    assert_eq!((o.status.as_str(), o.revision), ("ready", 2));
    store
        .create_object(AcmeKind::Authorization, object("z1", "acct1"))
        .await
        .unwrap();
    store
        .create_object(AcmeKind::Challenge, object("c1", "z1"))
        .await
        .unwrap();
    assert_eq!(
        store
            .objects_of(AcmeKind::Challenge, "z1")
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store.object(AcmeKind::Authorization, "nope").await.unwrap(),
        None
    );
    // An order and its authorizations are created together or not at all.
    store
        .create_objects(vec![
            (AcmeKind::Authorization, object("z2", "acct1")),
            (AcmeKind::Order, object("o-new", "acct1")),
        ])
        .await
        .unwrap();
    assert!(
        store
            .object(AcmeKind::Authorization, "z2")
            .await
            .unwrap()
            .is_some()
    );
    let err = store
        .create_objects(vec![
            (AcmeKind::Authorization, object("z3", "acct1")),
            (AcmeKind::Order, object("o-new", "acct1")),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
    assert_eq!(
        store.object(AcmeKind::Authorization, "z3").await.unwrap(),
        None,
        "the authorization of a refused order stays behind"
    );

    // Nonce uses (relaxed writes): each nonce wins exactly once, even when racing requests
    // (16 uses of one nonce, alongside durable writes and uses of other nonces) and when a
    // second instance sees it; an overlong nonce is refused by name.
    let mut handles = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let other = store
                .record_nonce_use(format!("n1-{i}"), FAR)
                .await
                .unwrap();
            let token = store
                .record_token(format!("nonce-race-{i}"), FAR)
                .await
                .unwrap();
            assert!(other && token);
            store.record_nonce_use("n1".into(), FAR).await
        }));
    }
    let mut wins = 0;
    for h in handles {
        wins += usize::from(h.await.unwrap().unwrap());
    }
    assert_eq!(wins, 1);
    assert!(!store.record_nonce_use("n1".into(), FAR).await.unwrap());
    assert!(
        !db.open()
            .await
            .record_nonce_use("n1-3".into(), FAR)
            .await
            .unwrap()
    );
    assert!(store.record_nonce_use("n2".into(), FAR).await.unwrap());
    let long = "n".repeat(mayfly_store::MAX_KEY_LEN + 1);
    let err = store.record_nonce_use(long, FAR).await.unwrap_err();
    assert!(err.to_string().contains("nonce"), "{err}");

    let key = EabKey {
        key_id: "kid1".into(),
        provisioner: "acme".into(),
        hmac_key: vec![7; 32],
        bound_account: None,
    };
    store.add_eab_key(key.clone()).await.unwrap();
    assert_eq!(store.eab_key("kid1").await.unwrap(), Some(key));
    // An account and its EAB binding are stored together or not at all.
    store
        .create_account(object("acct-e1", "thumb-e1"), Some("kid1".into()))
        .await
        .unwrap();
    let err = store
        .create_account(object("acct-e2", "thumb-e2"), Some("kid1".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Changed { .. }), "used key: {err}");
    assert_eq!(
        store.object(AcmeKind::Account, "acct-e2").await.unwrap(),
        None
    );
    store
        .add_eab_key(EabKey {
            key_id: "kid2".into(),
            provisioner: "acme".into(),
            hmac_key: vec![8; 32],
            bound_account: None,
        })
        .await
        .unwrap();
    let err = store
        .create_account(object("acct-e3", "thumb-e1"), Some("kid2".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::AlreadyExists { .. }),
        "same key: {err}"
    );
    let unused = store.eab_key("kid2").await.unwrap().unwrap();
    assert_eq!(
        unused.bound_account, None,
        "the refused account left kid2 unused"
    );
    store
        .delete_eab_key("acme".into(), "kid2".into())
        .await
        .unwrap();
    let bound = store.eab_key("kid1").await.unwrap().unwrap();
    assert_eq!(bound.bound_account.as_deref(), Some("acct-e1"));
    // Listed by provisioner; deleted only through their own provisioner.
    assert_eq!(store.eab_keys("acme").await.unwrap(), vec![bound]);
    assert!(store.eab_keys("other").await.unwrap().is_empty());
    assert!(
        !store
            .delete_eab_key("other".into(), "kid1".into())
            .await
            .unwrap()
    );
    assert!(
        store
            .delete_eab_key("acme".into(), "kid1".into())
            .await
            .unwrap()
    );
    assert_eq!(store.eab_key("kid1").await.unwrap(), None);
}

async fn audit(db: &TestDb) {
    let store = db.open().await;
    let event = |n: i64| AuditEvent {
        at: 1_700_000_000 + n,
        event: if n % 2 == 0 {
            "issue".into()
        } else {
            "refuse".into()
        },
        // The first event's optional columns are NULL, later ones not: a server that
        // prepared the statement from NULLs of the wrong type refuses the later values.
        serial: (n % 2 == 1).then(|| format!("{n:02x}")),
        subject: (n > 0).then(|| "CN=x".into()),
        provisioner: (n > 1).then(|| "p".into()),
        detail: format!("event {n}"),
    };
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(store.append_audit(event(n)).await.unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let all = store.audit_since(0, 100).await.unwrap();
    assert_eq!(
        all.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>(),
        (0..5).map(event).collect::<Vec<_>>()
    );
    let tail = store.audit_since(ids[2], 1).await.unwrap();
    assert_eq!(tail, [(ids[3], event(3))]);
}

async fn pruning(db: &TestDb) {
    let store = db.open().await;
    store.record_token("old".into(), 1_000).await.unwrap();
    store.record_token("new".into(), FAR).await.unwrap();
    // Expired, but a token is still accepted within its clock leeway: its use is kept.
    store
        .record_token("just-expired".into(), 1_950)
        .await
        .unwrap();
    assert!(store.record_nonce_use("n-old".into(), 1_000).await.unwrap());
    assert!(store.record_nonce_use("n-new".into(), FAR).await.unwrap());
    store.insert_certificate(cert("01", 1_000)).await.unwrap();
    store.insert_certificate(cert("02", FAR)).await.unwrap();
    store.insert_certificate(cert("03", 1_800)).await.unwrap();
    store
        .revoke(revocation("01", 1, Some(1_000)))
        .await
        .unwrap();
    let report = store.prune(2_000, Duration::from_secs(500)).await.unwrap();
    assert_eq!(
        (report.tokens, report.nonces, report.certificate_ders),
        (1, 1, 1)
    );
    let der = async |serial| store.certificate(serial).await.unwrap().unwrap().der;
    assert_eq!(der("01").await, None);
    assert!(der("02").await.is_some());
    assert!(der("03").await.is_some(), "expired less than 500 s ago");
    let pruned = store.certificate("01").await.unwrap().unwrap();
    assert_eq!(pruned.not_after, 1_000, "only the DER goes");
    assert!(
        store.revocation("01").await.unwrap().is_some(),
        "revocations are kept"
    );
    assert!(!store.record_token("new".into(), FAR).await.unwrap());
    assert!(
        !store
            .record_token("just-expired".into(), FAR)
            .await
            .unwrap()
    );
    assert!(!store.record_nonce_use("n-new".into(), FAR).await.unwrap());
    let again = store.prune(2_000, Duration::from_secs(500)).await.unwrap();
    assert_eq!(again, PruneReport::default());

    // The scheduled pruner, configured as in ca.json's `db` block, does the same in the
    // background; "0s" turns it off.
    store.record_token("old2".into(), 1_000).await.unwrap();
    let off = PruneConfig {
        interval: Some(GoDuration(Duration::ZERO)),
        ..PruneConfig::default()
    };
    assert!(store.spawn_pruning(&off).is_none());
    let config = PruneConfig {
        interval: Some(GoDuration(Duration::from_millis(50))),
        keep_expired_certificate_der: Some(GoDuration(Duration::ZERO)),
    };
    let task = store.spawn_pruning(&config).unwrap();
    let mut gone = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if der("03").await.is_none() && store.record_token("old2".into(), 1_000).await.unwrap() {
            gone = true;
            break;
        }
    }
    task.abort();
    assert!(
        gone,
        "the scheduled pruner removed the expired token id and DER"
    );
}

/// Instances sharing a database prune at the same moments: each expired row goes once, a
/// backlog larger than one pruning transaction included, and no pass fails.
async fn instances_pruning_together_remove_each_row_once(db: &TestDb) {
    const ROWS: usize = 2_500;
    let store = db.open().await;
    let values = |prefix: &str| {
        (0..ROWS)
            .map(|i| format!("('{prefix}{i}', 1000)"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    db.raw(&format!(
        "INSERT INTO used_tokens (jti, expires_at) VALUES {}",
        values("t")
    ))
    .await;
    db.raw(&format!(
        "INSERT INTO acme_nonces (nonce, expires_at) VALUES {}",
        values("n")
    ))
    .await;
    let certs = (0..ROWS).map(|i| store.insert_certificate(cert(&format!("{i:04x}"), 1_000)));
    for inserted in futures_util::future::join_all(certs).await {
        inserted.unwrap();
    }
    let instances = [store, db.open().await, db.open().await];
    let passes = instances
        .iter()
        .map(|s| s.prune(FAR, Duration::from_secs(0)));
    let mut total = PruneReport::default();
    for report in futures_util::future::join_all(passes).await {
        let report = report.unwrap();
        total.tokens += report.tokens;
        total.nonces += report.nonces;
        total.certificate_ders += report.certificate_ders;
    }
    let rows = ROWS as u64;
    assert_eq!(
        total,
        PruneReport {
            tokens: rows,
            nonces: rows,
            certificate_ders: rows
        }
    );
    assert!(
        instances[0]
            .list_certificates(None, 10)
            .await
            .unwrap()
            .iter()
            .all(|c| c.der.is_none())
    );
}

/// Several instances opening one new database at the same moment all start: the schema is
/// created once, under the migration lock.
async fn instances_starting_together_on_a_new_database(db: &TestDb) {
    let opened: Vec<_> = (0..8).map(|_| Store::open(&db.config)).collect();
    let stores: Vec<Store> = futures_util::future::join_all(opened)
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("every instance opens the store");
    let versions = stores.iter().map(|s| s.schema_version());
    for version in futures_util::future::join_all(versions).await {
        assert!(version.unwrap() >= 1);
    }
}

async fn schema_versions(db: &TestDb) {
    let store = db.open().await;
    let version = store.schema_version().await.unwrap();
    assert!(version >= 1);
    assert!(store.integrity_check().await.unwrap().is_empty());
    drop(store);
    // Reopening is a no-op; a newer schema is refused, never downgraded.
    assert_eq!(db.open().await.schema_version().await.unwrap(), version);
    db.raw(&format!(
        "INSERT INTO schema_version (version, applied_at) VALUES ({}, 0)",
        version + 1
    ))
    .await;
    let err = Store::open(&db.config).await.unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found, known } if found == version + 1 && known == version),
        "{err}"
    );
    assert!(err.to_string().contains("newer"), "{err}");
}

/// MySQL commits DDL at once: a first start killed after creating a table and its index but
/// before recording the migration leaves them behind, and the next start must complete the
/// migration over them. (SQLite and PostgreSQL migrate in one transaction, but take the
/// same leftovers too.)
async fn migration_interrupted_after_its_first_ddl_completes(db: &TestDb) {
    db.create_empty().await;
    let (key, blob) = match db.backend {
        common::Backend::Sqlite => ("TEXT", "BLOB"),
        common::Backend::Mysql => (
            "VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin",
            "LONGBLOB",
        ),
        common::Backend::Postgres => ("VARCHAR(255)", "BYTEA"),
    };
    db.raw(&format!(
        "CREATE TABLE certificates (serial {key} NOT NULL PRIMARY KEY, der {blob}, \
         subject TEXT NOT NULL, sans TEXT NOT NULL, not_before BIGINT NOT NULL, \
         not_after BIGINT NOT NULL, provisioner {key} NOT NULL, issuer {key} NOT NULL, \
         created_at BIGINT NOT NULL)"
    ))
    .await;
    db.raw("CREATE INDEX certificates_not_after ON certificates (not_after)")
        .await;
    let store = Store::open(&db.config)
        .await
        .expect("the interrupted migration completes");
    assert_eq!(store.schema_version().await.unwrap(), 1);
    assert!(store.integrity_check().await.unwrap().is_empty());
    store.insert_certificate(cert("01", FAR)).await.unwrap();
    assert!(store.record_token("jti".into(), FAR).await.unwrap());
}
