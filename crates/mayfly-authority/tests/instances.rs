//! Several authorities on one database, as CA instances behind a load balancer run: one
//! instance at a time publishes the CRL, and instances starting together on an empty
//! database seed its registry once.
#![allow(clippy::unwrap_used, reason = "a test panics on failure by design")]

mod common;

use std::time::Duration;

use common::{TestCa, crl_serials, test_ca};
use mayfly_authority::{Authority, RevocationRecord, RevokeAuth, RevokeRequest, SignRequest};
use mayfly_jwt::Operation;
use mayfly_store::{CrlStateStore as _, DbType, RevocationStore as _, Store};

const PLAIN: &str = r#"{"provisioners": [PROVISIONER]}"#;
const ADMIN: &str = r#"{"provisioners": [PROVISIONER], "enableAdmin": true}"#;

/// A second instance of `ca`: another authority on the same SQLite file.
async fn second_instance(ca: &TestCa, authority_json: &str) -> Authority {
    let store = Store::open(&ca.db_config()).await.unwrap();
    ca.instance(&ca.config(authority_json), store)
}

/// Signs a certificate for `name` through `ca`'s first instance; returns its serial.
async fn issue(ca: &TestCa, name: &str) -> String {
    let (csr_der, _) = common::csr(name, &[name]);
    let token = ca.token(Operation::Sign, name, &[name]);
    let request = SignRequest {
        csr_der,
        token,
        ..SignRequest::default()
    };
    ca.authority.sign(request).await.unwrap().serial
}

fn unix_now() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since_epoch.as_secs()).unwrap()
}

#[tokio::test]
async fn instances_publish_the_crl_one_at_a_time_without_redundant_crls() {
    let ca = test_ca(PLAIN).await;
    let other = second_instance(&ca, PLAIN).await;
    let (store, issuer) = (ca.authority.store(), ca.issuer_id());
    ca.authority.publish_crl().await.unwrap();
    let first = store.last_crl(&issuer).await.unwrap().unwrap().number;

    // A revocation no CRL lists yet (recorded straight in the store: no CRL is published).
    let serial = issue(&ca, "one.example.com").await;
    store
        .revoke(RevocationRecord {
            serial: serial.clone(),
            revoked_at: unix_now(),
            reason: 1,
            reason_text: String::new(),
            revoked_by: "test".into(),
            issuer: issuer.clone(),
            not_after: Some(unix_now() + 3600),
        })
        .await
        .unwrap();

    // Both instances publish while a third holder has the CRL lock: neither may build until
    // it is released, then one builds and the other, re-checking under the lock, returns
    // that CRL instead of numbering a redundant one.
    let now = unix_now();
    assert!(
        store
            .lock_crl(issuer.clone(), "holder".into(), now, now + 60)
            .await
            .unwrap()
    );
    let holder = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let number = store.last_crl(&issuer).await.unwrap().unwrap().number;
        assert_eq!(number, first, "a CRL was published under another's lock");
        store
            .unlock_crl(issuer.clone(), "holder".into())
            .await
            .unwrap();
    };
    let (a, b, ()) = tokio::join!(ca.authority.publish_crl(), other.publish_crl(), holder);
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        store.last_crl(&issuer).await.unwrap().unwrap().number,
        first + 1,
        "the instance that waited built a CRL of its own"
    );
    assert!(a == b, "the two instances returned different CRLs");
    assert_eq!(crl_serials(&a), std::slice::from_ref(&serial));

    // A revocation on the other instance publishes the next number, which both then serve.
    let second = issue(&ca, "two.example.com").await;
    let token = ca.token(Operation::Revoke, &second, &[&second]);
    other
        .revoke(RevokeRequest {
            serial: second.clone(),
            reason_code: None,
            reason: String::new(),
            auth: RevokeAuth::Token(token),
        })
        .await
        .unwrap();
    let latest = store.last_crl(&issuer).await.unwrap().unwrap();
    assert_eq!(latest.number, first + 2);
    let mut listed = crl_serials(&latest.der);
    listed.sort();
    let mut expected = vec![serial, second];
    expected.sort();
    assert_eq!(listed, expected);
    assert!(ca.authority.crl().await.unwrap() == latest.der);
}

/// Starts two instances of `ca` with remote management on `stores` together and checks that
/// the registry they seed holds ca.json's provisioner and exactly one super admin.
async fn start_together(ca: &TestCa, stores: [Store; 2]) {
    let config = ca.config(ADMIN);
    let [a, b] = stores.map(|store| ca.instance(&config, store));
    let (seeded_a, seeded_b) = tokio::join!(a.sync_registry(), b.sync_registry());
    assert!(seeded_a.unwrap() && seeded_b.unwrap());
    let admins = a.admins().await.unwrap();
    assert_eq!(admins.len(), 1, "{admins:?}");
    assert_eq!(
        (admins[0].subject.as_str(), admins[0].provisioner.as_str()),
        (mayfly_authority::DEFAULT_ADMIN_SUBJECT, "ops")
    );
    for instance in [&a, &b] {
        let names: Vec<String> = instance
            .provisioner_configs()
            .unwrap()
            .iter()
            .map(|p| p.name().to_owned())
            .collect();
        assert_eq!(names, ["ops"]);
    }
}

#[tokio::test]
async fn instances_starting_together_on_an_empty_sqlite_database_seed_one_super_admin() {
    for _ in 0..5 {
        let ca = test_ca(PLAIN).await;
        let config = ca.db_config();
        let stores = [
            Store::open(&config).await.unwrap(),
            Store::open(&config).await.unwrap(),
        ];
        start_together(&ca, stores).await;
    }
}

#[tokio::test]
async fn instances_starting_together_on_an_empty_server_database_seed_one_super_admin() {
    let ca = test_ca(PLAIN).await;
    for db_type in [DbType::Postgresql, DbType::Mysql] {
        let Some((db, first)) = common::fresh_server_db(db_type).await else {
            continue;
        };
        let second = Store::open(&db.config).await.unwrap();
        start_together(&ca, [first, second]).await;
        db.drop().await;
    }
}
