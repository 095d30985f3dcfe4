//! Templates cannot escalate: a provisioner template asking for a CA certificate, a path
//! length, CA key usages, name constraints, an OCSP-signing EKU, or SANs taken from the
//! user's `.Insecure` data issues nothing; the CA refuses with a 403 naming the problem.

use mayfly_reliability::{Ca, csr_pem};
use mayfly_testkit::temp_dir;

/// `(what, template, templateData sent by the client)`.
const MALICIOUS: &[(&str, &str, &str)] = &[
    (
        "isCA",
        r#"{"subject": {{ toJson .Subject }}, "sans": {{ toJson .SANs }}, "basicConstraints": {"isCA": true, "maxPathLen": 0}}"#,
        "null",
    ),
    (
        "keyUsage certSign",
        r#"{"subject": {{ toJson .Subject }}, "sans": {{ toJson .SANs }}, "keyUsage": ["digitalSignature", "certSign", "crlSign"]}"#,
        "null",
    ),
    (
        "name constraints",
        r#"{"subject": {{ toJson .Subject }}, "sans": {{ toJson .SANs }}, "nameConstraints": {"critical": true, "permittedDNSDomains": ["example"]}}"#,
        "null",
    ),
    (
        "extKeyUsage OCSPSigning",
        r#"{"subject": {{ toJson .Subject }}, "sans": {{ toJson .SANs }}, "extKeyUsage": ["serverAuth", "ocspSigning"]}"#,
        "null",
    ),
    (
        "SANs from .Insecure",
        r#"{"subject": {{ toJson .Subject }}, "sans": {{ toJson .Insecure.User.sans }}}"#,
        r#"{"sans": [{"type": "dns", "value": "evil.example"}, {"type": "ip", "value": "10.0.0.1"}]}"#,
    ),
    (
        "subject from .Insecure",
        r#"{"subject": {"commonName": {{ toJson .Insecure.User.cn }}}, "sans": {{ toJson .SANs }}}"#,
        r#"{"cn": "evil.example"}"#,
    ),
];

/// Templates the CA wrongly accepts today (product bugs), reported on every run.
const KNOWN_BUGS: &[(&str, &str)] = &[];

#[test]
fn malicious_templates_issue_nothing_beyond_policy() {
    let dir = temp_dir();
    let mut ca = Ca::init(dir.path());
    let key = ca.provisioner();
    let mut refused = 0;
    let mut issued = Vec::new();
    for (what, template, data) in MALICIOUS {
        ca.kill();
        ca.edit_config(|json| {
            json["authority"]["provisioners"][0]["options"] =
                serde_json::json!({"x509": {"template": template}});
        });
        ca.start();
        let (csr, _) = csr_pem("t.example");
        let token = ca.sign_token(&key, &["t.example".to_owned()]);
        let data: serde_json::Value = serde_json::from_str(data).expect("templateData");
        let body = serde_json::json!({"csr": csr, "ott": token, "templateData": data});
        let reply = ca
            .https()
            .call("POST", "/1.0/sign", body.to_string().as_bytes())
            .expect("sign answers");
        let short: String = reply.text().chars().take(140).collect();
        println!("templates: {what}: {} {short}", reply.status);
        match reply.status {
            400..=499 => refused += 1,
            _ if KNOWN_BUGS.iter().any(|(k, _)| k == what) => {
                println!("templates: KNOWN BUG {what} issued");
            }
            _ => issued.push(format!("{what}: {} {}", reply.status, reply.text())),
        }
    }
    println!(
        "templates: {refused} of {} malicious templates refused",
        MALICIOUS.len()
    );
    assert!(
        issued.is_empty(),
        "malicious templates issued:\n{}",
        issued.join("\n")
    );
}
