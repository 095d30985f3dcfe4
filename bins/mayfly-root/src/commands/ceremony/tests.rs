use super::{CeremonyFile, Kind, check_sections};

fn parse(yaml: &str) -> anyhow::Result<CeremonyFile> {
    let file: CeremonyFile = serde_norway::from_str(yaml)?;
    check_sections(&file)?;
    Ok(file)
}

#[test]
fn every_shipped_example_parses() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ceremonies");
    let mut kinds = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let file = parse(&text).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
        kinds.push(file.ceremony);
    }
    for kind in [Kind::Root, Kind::Intermediate, Kind::Crl] {
        assert!(kinds.contains(&kind), "no example of {kind:?}");
    }
}

#[test]
fn what_the_file_does_not_state_is_refused() {
    let root = "ceremony: root\ntranscript: t.json\nroot:\n  name: R\n  key-type: P-256\n  not-after: 87600h\n  key: {kms: 'pkcs11:token=a;object=b?module-path=/m'}\n  certificate: r.crt\n";
    assert!(parse(root).is_ok());
    let cases = [
        (
            root.replace("  name: R\n", "  name: R\n  pathlen: 3\n"),
            "unknown field `pathlen`",
        ),
        (
            root.replace("  not-after: 87600h\n", ""),
            "missing field `not-after`",
        ),
        (
            root.replace("ceremony: root", "ceremony: crl"),
            "needs a `crl:` section",
        ),
        (
            format!(
                "{root}crl:\n  issuer: {{certificate: r.crt, key: r.key}}\n  index: i.txt\n  next-update: 720h\n  format: der\n  out: r.crl\n"
            ),
            "refusing what the ceremony does not state",
        ),
        (
            root.replace("ceremony: root", "ceremony: cross-sign"),
            "unknown variant",
        ),
    ];
    for (yaml, expected) in cases {
        let err = parse(&yaml)
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(err.contains(expected), "{expected:?} not in {err:?}");
    }
}
