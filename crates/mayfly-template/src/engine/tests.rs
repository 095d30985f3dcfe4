use serde_json::json;

use super::*;

fn render(src: &str, data: Value) -> Result<String, TemplateError> {
    Template::parse("t", src)?.render(&data)
}

fn ok(src: &str, data: Value) -> String {
    match render(src, data) {
        Ok(s) => s,
        Err(e) => panic!("{src:?}: {e}"),
    }
}

#[test]
fn fields_and_json_tag_fallback() {
    let data = json!({"Insecure": {"CR": {"subject": {"commonName": "a<b"}}}});
    assert_eq!(
        ok("{{ .Insecure.CR.Subject.CommonName }}", data.clone()),
        "a<b"
    );
    assert_eq!(
        ok("{{ toJson .Insecure.CR.Subject }}", data),
        r#"{"commonName":"a\u003cb"}"#
    );
    assert_eq!(ok("{{ .Missing.Deeper }}", json!({})), "<no value>");
}

#[test]
fn conditionals_and_trimming() {
    let src = "a\n{{- if eq .X 1 }} one {{- else if eq .X 2 }} two {{- else }} many {{- end }}\n";
    assert_eq!(ok(src, json!({"X": 1})), "a one\n");
    assert_eq!(ok(src, json!({"X": 2})), "a two\n");
    assert_eq!(ok(src, json!({"X": 3})), "a many\n");
    assert_eq!(
        ok(
            "{{ with .A }}{{ .B }}{{ else }}none{{ end }}",
            json!({"A": {"B": 5}})
        ),
        "5"
    );
    assert_eq!(
        ok("{{ with .A }}{{ .B }}{{ else }}none{{ end }}", json!({})),
        "none"
    );
    assert_eq!(
        ok(
            "{{ if and .A (not .B) }}y{{ end }}",
            json!({"A": 1, "B": false})
        ),
        "y"
    );
    assert_eq!(
        ok(r#"{{ or .GOOS "linux" | eq "windows" }}"#, json!({})),
        "false"
    );
}

#[test]
fn range_variables_define_template() {
    let data = json!({"L": ["a", "b", "c"], "M": {"y": 2, "x": 1}});
    assert_eq!(
        ok(
            "{{ range $i, $v := .L }}{{ $i }}={{ $v }};{{ end }}",
            data.clone()
        ),
        "0=a;1=b;2=c;"
    );
    assert_eq!(
        ok(
            "{{ range $k, $v := .M }}{{ $k }}{{ $v }}{{ end }}",
            data.clone()
        ),
        "x1y2"
    );
    assert_eq!(
        ok(
            "{{ range .L }}{{ if eq . \"b\" }}{{ break }}{{ end }}{{ . }}{{ end }}",
            data.clone()
        ),
        "a"
    );
    assert_eq!(
        ok("{{ range .Nope }}x{{ else }}empty{{ end }}", data.clone()),
        "empty"
    );
    assert_eq!(
        ok(
            "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}",
            json!({})
        ),
        "2"
    );
    assert_eq!(
        ok(
            r#"{{ define "n" }}[{{ . }}]{{ end }}{{ template "n" .L }}{{ range .L }}{{ template "n" . }}{{ end }}"#,
            data.clone()
        ),
        "[[a b c]][a][b][c]"
    );
    assert_eq!(
        ok(
            "{{ $.L | len }} {{ index .L 1 }} {{ printf \"%s/%d\" \"a\" 3 }}",
            data
        ),
        "3 b a/3"
    );
    assert_eq!(
        ok("{{/* comment */}}x{{- /* trimmed */ -}} y", json!({})),
        "xy"
    );
}

#[test]
fn errors_name_template_line_and_column() {
    match render("line1\n  {{ .A | nosuch }}", json!({})) {
        Err(TemplateError::Syntax {
            template,
            line,
            column,
            message,
        }) => {
            assert_eq!((template.as_str(), line, column), ("t", 2, 11));
            assert!(message.contains("nosuch"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        render("{{ if .A }}x", json!({})),
        Err(TemplateError::Syntax { .. })
    ));
    assert!(matches!(
        render("{{ end }}", json!({})),
        Err(TemplateError::Syntax { .. })
    ));
    match render("x\n{{ lt .A 3 }}", json!({"A": "s"})) {
        Err(TemplateError::Execution {
            line: 2, column: 4, ..
        }) => {}
        other => panic!("{other:?}"),
    }
    match render("{{ $y }}", json!({})) {
        Err(TemplateError::Execution { message, .. }) => assert!(message.contains("$y")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn fail_is_its_own_error() {
    match render(r#"{{ fail "no way" }}"#, json!({})) {
        Err(e @ TemplateError::Failed { .. }) => assert_eq!(e.to_string(), "no way"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn limits_stop_runaway_templates() {
    let looping = r#"{{ define "loop" }}{{ template "loop" . }}{{ end }}{{ template "loop" . }}"#;
    assert!(matches!(
        render(looping, json!({})),
        Err(TemplateError::Limit { .. })
    ));
    let limits = Limits {
        max_steps: 1000,
        ..Limits::default()
    };
    let t = Template::parse_with_limits(
        "big",
        "{{ range .N }}{{ range $.N }}x{{ end }}{{ end }}",
        limits,
    );
    let t = t.unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        t.render(&json!({"N": 100})),
        Err(TemplateError::Limit {
            limit: "evaluation steps",
            ..
        })
    ));
    let limits = Limits {
        max_output_bytes: 10,
        ..Limits::default()
    };
    let t = Template::parse_with_limits("out", "{{ range 20 }}x{{ end }}", limits);
    assert!(matches!(
        t.and_then(|t| t.render(&json!({}))),
        Err(TemplateError::Limit {
            limit: "output bytes",
            ..
        })
    ));
    let limits = Limits {
        max_template_bytes: 4,
        ..Limits::default()
    };
    assert!(matches!(
        Template::parse_with_limits("src", "12345", limits),
        Err(TemplateError::Limit {
            limit: "template bytes",
            ..
        })
    ));
}

#[test]
fn nesting_is_bounded_so_no_template_overflows_the_stack() {
    // Found by the template_engine fuzz target: thousands of parentheses or `else if`s
    // recursed the parser until the stack overflowed.
    let parens = format!("{{{{ {}1{} }}}}", "(".repeat(5000), ")".repeat(5000));
    let err = render(&parens, json!({}))
        .map(drop)
        .unwrap_err()
        .to_string();
    assert!(err.contains("parentheses nest deeper than 100"), "{err}");
    let chain = format!(
        "{{{{ if .A }}}}{}{{{{ end }}}}",
        "{{ else if .A }}".repeat(3000)
    );
    let err = render(&chain, json!({})).map(drop).unwrap_err().to_string();
    assert!(err.contains("nests deeper than 100 blocks"), "{err}");
    // What the limits allow still fits a tokio worker's 2 MiB stack (this is a debug
    // build, whose frames are larger than release ones): 99 nested blocks, 99 nested
    // parentheses, and a template calling itself until the call depth limit stops it.
    let deep = format!(
        "{{{{ define \"t\" }}}}{}{{{{ template \"t\" . }}}}{}{{{{ end }}}}{{{{ template \"t\" . }}}}",
        "{{ if true }}".repeat(98),
        "{{ end }}".repeat(98),
    );
    let sub = format!("{{{{ {}1{} }}}}", "(".repeat(99), ")".repeat(99));
    let outcome = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let called = render(&deep, json!({})).map(drop);
            let parens = render(&sub, json!({}));
            (called, parens)
        })
        .expect("thread")
        .join()
        .expect("no stack overflow");
    assert!(
        matches!(outcome.0, Err(TemplateError::Limit { .. })),
        "{:?}",
        outcome.0
    );
    assert_eq!(outcome.1.ok().as_deref(), Some("1"));
}

#[test]
fn invalid_json_shows_the_region() {
    let t = Template::parse("bad", "{\n    \"subject\": \"x,\n}").unwrap_or_else(|e| panic!("{e}"));
    match t.render_json(&json!({})) {
        Err(TemplateError::InvalidJson { line, excerpt, .. }) => {
            assert_eq!(line, 3);
            assert!(excerpt.contains("\"subject\": \"x,"), "{excerpt}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn growing_values_are_bounded() {
    let src =
        r#"{{ $x := "ab" }}{{ range 64 }}{{ $x = printf "%s%s" $x $x }}{{ end }}{{ len $x }}"#;
    assert!(matches!(
        render(src, json!({})),
        Err(TemplateError::Limit {
            limit: "value bytes",
            ..
        })
    ));
    let src = r#"{{ $x := list 1 }}{{ range 64 }}{{ $x = list $x $x }}{{ end }}"#;
    assert!(matches!(
        render(src, json!({})),
        Err(TemplateError::Limit {
            limit: "value bytes",
            ..
        })
    ));
    assert_eq!(
        ok(r#"{{ printf "%099999999d" 1 | len }}"#, json!({})),
        "1024"
    );
    // Small but deep: 20,000 nested lists overflowed the stack (aborting the process) when
    // the value was measured or dropped.
    for src in [
        r#"{{ $x := list 1 }}{{ range 20000 }}{{ $x = list $x }}{{ end }}{{ len $x }}"#,
        r#"{{ $x := dict }}{{ range 20000 }}{{ $x = dict "a" $x }}{{ end }}{{ toJson $x }}"#,
    ] {
        assert!(
            matches!(
                render(src, json!({})),
                Err(TemplateError::Limit {
                    limit: "value nesting",
                    max: 128,
                    ..
                })
            ),
            "{src}"
        );
    }
    // As deep as JSON data may be is fine.
    assert_eq!(
        ok(
            r#"{{ $x := list 1 }}{{ range 127 }}{{ $x = list $x }}{{ end }}{{ len $x }}"#,
            json!({})
        ),
        "1"
    );
}

#[test]
fn comparisons_follow_go() {
    let data = json!({"N": 3, "F": 2.5, "S": "b", "Size": 256});
    for (src, want) in [
        ("{{ ne .N 3 }}", "false"),
        ("{{ ne .N 4 }}", "true"),
        ("{{ ne .S \"a\" }}", "true"),
        ("{{ le .N 3 }}", "true"),
        ("{{ le .N 2 }}", "false"),
        ("{{ le .F 3 }}", "true"),
        ("{{ gt .N 2 }}", "true"),
        ("{{ gt .N 3 }}", "false"),
        ("{{ gt .S \"a\" }}", "true"),
        // Strings order bytewise, as Go compares them: "10" < "9".
        ("{{ gt \"10\" \"9\" }}", "false"),
        ("{{ ge .N 3 }}", "true"),
        ("{{ ge .N 4 }}", "false"),
        ("{{ ge .S \"b\" }}", "true"),
        // The form step's documentation uses for RSA key sizes (bytes).
        ("{{ if lt .Size 384 }}short{{ else }}long{{ end }}", "short"),
        ("{{ if and (ge .N 1) (le .N 5) }}in{{ end }}", "in"),
    ] {
        assert_eq!(ok(src, data.clone()), want, "{src}");
    }
    // Ordering needs two numbers or two strings; `ne` needs exactly two arguments.
    for src in [
        "{{ le .N \"3\" }}",
        "{{ gt .Missing 1 }}",
        "{{ ge true false }}",
        "{{ ne 1 2 3 }}",
        "{{ ne 1 }}",
        "{{ ne .N \"3\" }}",
    ] {
        assert!(
            matches!(
                render(src, data.clone()),
                Err(TemplateError::Execution { .. })
            ),
            "{src}"
        );
    }
}

#[test]
fn hidden_members_are_read_but_not_printed_by_to_json() {
    let data =
        json!({"CR": {"dnsNames": ["a"], "$publicKey": {"$type": "*rsa.PublicKey", "size": 256}}});
    assert_eq!(
        ok(
            r#"{{ typeIs "*rsa.PublicKey" .CR.PublicKey }} {{ .CR.PublicKey.Size }}"#,
            data.clone()
        ),
        "true 256"
    );
    assert_eq!(
        ok("{{ toJson .CR }}", data.clone()),
        r#"{"dnsNames":["a"]}"#
    );
    // `$type` is a type annotation, not a field.
    assert_eq!(ok("{{ .CR.PublicKey.Type }}", data), "<no value>");
}
