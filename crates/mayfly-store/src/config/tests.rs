use super::*;

fn parse(json: &str) -> Result<DbConfig, serde_json::Error> {
    serde_json::from_str(json)
}

#[test]
fn reads_step_ca_blocks() {
    let c =
        parse(r#"{"type":"mysql","dataSource":"user:pw@tcp(127.0.0.1:3306)/","database":"ca"}"#)
            .unwrap();
    assert_eq!(c.db_type, DbType::Mysql);
    assert_eq!(c.database_name().unwrap().as_deref(), Some("ca"));
    assert_eq!(
        c.connect_options().unwrap().database_url.as_str(),
        "mysql://user:pw@127.0.0.1:3306/ca"
    );
    let p = parse(r#"{"type":"postgresql","dataSource":"postgresql://u@h:5432/","database":"x"}"#)
        .unwrap();
    assert_eq!(
        p.connect_options().unwrap().database_url.as_str(),
        "postgresql://u@h:5432/x"
    );
    assert_eq!(
        p.admin_options().unwrap().database_url.as_str(),
        "postgresql://u@h:5432/postgres"
    );
}

#[test]
fn refuses_badger_with_migration_advice() {
    let err = parse(r#"{"type":"badgerv2","dataSource":"/var/db"}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("badgerv2") && err.contains("sqlite"), "{err}");
    assert!(err.contains("keep publishing step-ca's last CRL"), "{err}");
    let err = parse(r#"{"type":"sqlite","dataSource":"x","extra":1}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("extra"), "{err}");
}

#[test]
fn refuses_odd_database_names() {
    let c = parse(r#"{"type":"mysql","dataSource":"mysql://h/","database":"a;drop"}"#).unwrap();
    assert!(matches!(c.database_name(), Err(StoreError::Config(_))));
}

#[test]
fn debug_hides_passwords_and_missing_dirs_are_named() {
    let c = parse(r#"{"type":"mysql","dataSource":"mysql://u:hunter2@h:3306/"}"#).unwrap();
    assert!(!format!("{c:?}").contains("hunter2"));
    let err = DbConfig::sqlite(Path::new("/nonexistent-mayfly/db/x.sqlite"))
        .connect_options()
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent-mayfly/db"), "{err}");
}

#[test]
fn prune_settings_default_and_parse() {
    let hour = std::time::Duration::from_secs(3600);
    let plain = parse(r#"{"type":"sqlite","dataSource":"x"}"#).unwrap();
    assert_eq!(plain.prune.interval(), Some(hour));
    assert_eq!(plain.prune.keep_expired_certificate_der(), 90 * 24 * hour);
    assert!(!serde_json::to_string(&plain).unwrap().contains("prune"));
    let set = parse(
        r#"{"type":"sqlite","dataSource":"x",
            "prune":{"interval":"15m","keepExpiredCertificateDer":"7d"}}"#,
    )
    .unwrap();
    assert_eq!(set.prune.interval(), Some(hour / 4));
    assert_eq!(set.prune.keep_expired_certificate_der(), 7 * 24 * hour);
    let off = parse(r#"{"type":"sqlite","dataSource":"x","prune":{"interval":"0s"}}"#).unwrap();
    assert_eq!(off.prune.interval(), None);
    let err = parse(r#"{"type":"sqlite","dataSource":"x","prune":{"every":"1h"}}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("every"), "{err}");
}
