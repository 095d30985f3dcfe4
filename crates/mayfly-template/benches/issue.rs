//! Issuance hot paths: render the default leaf template, build + sign a P-256 leaf, parse +
//! verify a CSR, and the whole in-process issuance next to rcgen + ring doing the same job.
//!
//! Run: `cargo bench -p mayfly-template --bench issue -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mayfly_keys::{KeyType, PrivateKey, Signer};
use mayfly_template::{
    CA_LIFETIME, Certificate, CertificateProfile, CertificateRequest,
    DEFAULT_INTERMEDIATE_TEMPLATE, DEFAULT_LEAF_TEMPLATE, Issuer, LEAF_LIFETIME, San, Template,
    TemplateData, ValidityPeriod, build_certificate, certificate_to_der,
};

fn fail(e: impl std::fmt::Display) -> ! {
    panic!("bench setup: {e}")
}

fn intermediate() -> (Certificate, PrivateKey) {
    let key = PrivateKey::generate(KeyType::EcP256).unwrap_or_else(|e| fail(e));
    let json = Template::parse("int", DEFAULT_INTERMEDIATE_TEMPLATE)
        .and_then(|t| t.render(&TemplateData::new("Bench CA", &[]).to_value()))
        .unwrap_or_else(|e| fail(e));
    let profile = CertificateProfile::from_json(&json).unwrap_or_else(|e| fail(e));
    let cert = build_certificate(
        &profile,
        key.public_key(),
        Issuer::SelfSigned(&key),
        ValidityPeriod::starting_now(CA_LIFETIME),
    )
    .unwrap_or_else(|e| fail(e));
    (cert, key)
}

fn mayfly(c: &mut Criterion) {
    let (ca, ca_key) = intermediate();
    let leaf_key = PrivateKey::generate(KeyType::EcP256).unwrap_or_else(|e| fail(e));
    let template = Template::parse("leaf", DEFAULT_LEAF_TEMPLATE).unwrap_or_else(|e| fail(e));
    let data = TemplateData::new("bench.example.com", &[San::guess("bench.example.com")])
        .with_public_key(leaf_key.public_key())
        .to_value();
    let rendered = template.render(&data).unwrap_or_else(|e| fail(e));
    let profile = CertificateProfile::from_json(&rendered).unwrap_or_else(|e| fail(e));

    c.bench_function("template/render_default_leaf", |b| {
        b.iter(|| black_box(template.render(black_box(&data))))
    });
    c.bench_function("template/profile_to_signed_p256_leaf_der", |b| {
        b.iter(|| {
            let cert = build_certificate(
                black_box(&profile),
                leaf_key.public_key(),
                Issuer::Ca(&ca, &ca_key),
                ValidityPeriod::starting_now(LEAF_LIFETIME),
            );
            black_box(cert.and_then(|c| certificate_to_der(&c)))
        })
    });
    c.bench_function("template/issue_leaf_render_build_sign", |b| {
        b.iter(|| {
            let json = template
                .render(black_box(&data))
                .unwrap_or_else(|e| fail(e));
            let profile = CertificateProfile::from_json(&json).unwrap_or_else(|e| fail(e));
            let cert = build_certificate(
                &profile,
                leaf_key.public_key(),
                Issuer::Ca(&ca, &ca_key),
                ValidityPeriod::starting_now(LEAF_LIFETIME),
            );
            black_box(cert.and_then(|c| certificate_to_der(&c)))
        })
    });

    let csr_path = mayfly_testkit::step_fixtures()
        .join("certificates/authority/provisioner/testdata/certs/ecdsa.csr");
    let pem = std::fs::read_to_string(csr_path).unwrap_or_else(|e| fail(e));
    let (_, der) = der::pem::decode_vec(pem.as_bytes()).unwrap_or_else(|e| fail(e));
    c.bench_function("template/csr_parse_verify_p256", |b| {
        b.iter(|| black_box(CertificateRequest::from_der(black_box(&der))))
    });
}

fn rcgen_ring(c: &mut Criterion) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap_or_else(|e| fail(e));
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| fail(e));
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Bench CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap_or_else(|e| fail(e));
    c.bench_function("rcgen_ring/issue_p256_leaf", |b| {
        b.iter(|| {
            let mut params = CertificateParams::new(vec!["bench.example.com".to_owned()])
                .unwrap_or_else(|e| fail(e));
            params
                .distinguished_name
                .push(DnType::CommonName, "bench.example.com");
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
            params.use_authority_key_identifier_extension = true;
            params.serial_number = Some(rcgen::SerialNumber::from_slice(
                &mayfly_keys::random_bytes::<16>(),
            ));
            let now = time::OffsetDateTime::now_utc();
            params.not_before = now - time::Duration::minutes(1);
            params.not_after = now + time::Duration::hours(24);
            black_box(
                params
                    .signed_by(&leaf_key, &issuer)
                    .map(|c| c.der().to_vec()),
            )
        })
    });
}

criterion_group!(benches, mayfly, rcgen_ring);
criterion_main!(benches);
