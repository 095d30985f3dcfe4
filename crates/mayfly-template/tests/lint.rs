//! The template linter: `.Insecure` data in sensitive keys and unescaped interpolation.

use mayfly_template::{
    DEFAULT_INTERMEDIATE_TEMPLATE, DEFAULT_LEAF_TEMPLATE, DEFAULT_ROOT_TEMPLATE, LintKind,
    Template, lint,
};
use mayfly_testkit::step_fixtures;

fn kinds(src: &str) -> Vec<(LintKind, usize)> {
    let t = Template::parse("t", src).unwrap_or_else(|e| panic!("{e}"));
    lint(&t).into_iter().map(|w| (w.kind, w.line)).collect()
}

#[test]
fn default_templates_are_clean() {
    for t in [
        DEFAULT_LEAF_TEMPLATE,
        DEFAULT_INTERMEDIATE_TEMPLATE,
        DEFAULT_ROOT_TEMPLATE,
    ] {
        assert_eq!(kinds(t), vec![], "{t}");
    }
}

#[test]
fn insecure_data_in_sensitive_keys_is_flagged() {
    let src = "{\n  \"subject\": {{ toJson .Subject }},\n  \"basicConstraints\": {{ toJson .Insecure.User.bc }},\n  \"keyUsage\": [{{ .Insecure.User.ku }}]\n}";
    assert_eq!(
        kinds(src),
        vec![
            (LintKind::InsecureInSensitiveField, 3),
            (LintKind::InsecureInSensitiveField, 4),
            (LintKind::UnescapedInsecure, 4),
        ]
    );
    // Through a variable and `with`.
    let src = "{{ $u := .Insecure.User }}{\n\"extensions\": {{ toJson $u.ext }},\n{{ with .Insecure.CR }}\"nameConstraints\": {{ toJson .x }}{{ end }}}";
    assert_eq!(
        kinds(src),
        vec![
            (LintKind::InsecureInSensitiveField, 2),
            (LintKind::InsecureInSensitiveField, 3)
        ]
    );
}

#[test]
fn unescaped_interpolation_is_flagged() {
    // The classic footgun: a requester-chosen common name inside quotes.
    let src = "{ \"subject\": \"{{ .Insecure.CR.Subject.CommonName }}\" }";
    assert_eq!(kinds(src), vec![(LintKind::UnescapedInsecure, 1)]);
    // toJson inside quotes still breaks out of the string.
    let src = "{ \"subject\": \"{{ toJson .Subject }}\" }";
    assert_eq!(kinds(src), vec![(LintKind::Unescaped, 1)]);
    let src = std::fs::read_to_string(step_fixtures().join("crypto/x509util/testdata/example.tpl"))
        .unwrap_or_default();
    let found = kinds(&src);
    assert!(found.contains(&(LintKind::Unescaped, 8)), "{found:?}");
    assert!(
        !found.iter().any(|(_, line)| *line == 14),
        "fail prints nothing: {found:?}"
    );
    assert!(
        !found
            .iter()
            .any(|(k, _)| *k == LintKind::InsecureInSensitiveField),
        "{found:?}"
    );
}
