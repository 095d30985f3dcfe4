//! `mayfly-root ceremony FILE`: a whole ceremony (a root, an intermediate, or a CRL) described
//! in a YAML file, with a transcript for the audit binder.
//!
//! The file states everything: unknown keys are errors, nothing has a default except the
//! built-in templates, outputs are never overwritten, and an intermediate is signed only when
//! the CSR's subject (and, if stated, its SHA-256) is the one the file names. Relative paths
//! are relative to the ceremony file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use mayfly_crl::{Index, Reason, Serial};
use mayfly_keys::{KeyType, Signer};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::crl::CrlJob;
use super::init::{NewKey, RootSpec};
use super::sign;
use crate::util;

/// Flags of `mayfly-root ceremony`.
#[derive(Debug, clap::Args)]
pub struct CeremonyArgs {
    /// The ceremony file (YAML).
    #[arg(value_name = "CEREMONY.yaml")]
    file: PathBuf,
    /// Check the file and print what it would do, without doing it.
    #[arg(long)]
    validate: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct CeremonyFile {
    ceremony: Kind,
    transcript: PathBuf,
    root: Option<RootCeremony>,
    intermediate: Option<IntermediateCeremony>,
    crl: Option<CrlCeremony>,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum Kind {
    Root,
    Intermediate,
    Crl,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RootCeremony {
    name: String,
    key_type: String,
    not_after: String,
    template: Option<PathBuf>,
    key: NewKeySpec,
    certificate: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct NewKeySpec {
    file: Option<PathBuf>,
    password_file: Option<PathBuf>,
    kms: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct IssuerSpec {
    certificate: PathBuf,
    key: String,
    password_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct IntermediateCeremony {
    csr: PathBuf,
    csr_sha256: Option<String>,
    subject: String,
    template: Option<PathBuf>,
    #[serde(default)]
    set: BTreeMap<String, Value>,
    not_after: String,
    issuer: IssuerSpec,
    index: PathBuf,
    certificate: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct CrlCeremony {
    issuer: IssuerSpec,
    index: PathBuf,
    crlnumber: Option<PathBuf>,
    next_update: String,
    #[serde(default)]
    revoke: Vec<RevokeSpec>,
    format: CrlFormat,
    out: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RevokeSpec {
    serial: String,
    reason: Option<String>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum CrlFormat {
    Der,
    Pem,
}

/// The audit record being built.
struct Transcript {
    base: PathBuf,
    inputs: Vec<Value>,
    outputs: Vec<Value>,
    extra: serde_json::Map<String, Value>,
}

impl Transcript {
    fn path(&self, p: &Path) -> PathBuf {
        self.base.join(p)
    }

    /// Reads an input file and records its SHA-256.
    fn input(&mut self, p: &Path) -> anyhow::Result<Vec<u8>> {
        let path = self.path(p);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        self.inputs
            .push(json!({"path": p, "sha256": util::sha256_hex(&bytes)}));
        Ok(bytes)
    }

    /// Records an output file already written, with extra facts about it.
    fn output(&mut self, p: &Path, facts: Value) -> anyhow::Result<()> {
        let path = self.path(p);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let mut entry = json!({"path": p, "sha256": util::sha256_hex(&bytes)});
        if let (Value::Object(e), Value::Object(f)) = (&mut entry, facts) {
            e.extend(f);
        }
        self.outputs.push(entry);
        Ok(())
    }

    fn signer(&mut self, location: &str, signer: &dyn Signer) -> anyhow::Result<()> {
        let key = json!({
            "location": location,
            "publicKeySha256": signer.public_key().fingerprint_sha256()?,
        });
        self.extra.insert("signingKey".into(), key);
        Ok(())
    }
}

/// Runs `mayfly-root ceremony`.
pub fn run(args: &CeremonyArgs) -> anyhow::Result<()> {
    let started = OffsetDateTime::now_utc().replace_nanosecond(0)?;
    let text =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let file: CeremonyFile = serde_norway::from_slice(&text)
        .with_context(|| format!("{}: not a valid ceremony file", args.file.display()))?;
    check_sections(&file)?;
    let base = args
        .file
        .parent()
        .map_or_else(PathBuf::new, Path::to_path_buf);
    let mut transcript = Transcript {
        base,
        inputs: Vec::new(),
        outputs: Vec::new(),
        extra: serde_json::Map::new(),
    };
    let transcript_path = transcript.path(&file.transcript);
    util::refuse_existing(&transcript_path)?;
    if args.validate {
        eprintln!(
            "{}: a valid {} ceremony",
            args.file.display(),
            kind_name(file.ceremony)
        );
        return Ok(());
    }
    match (&file.root, &file.intermediate, &file.crl) {
        (Some(root), _, _) => root_ceremony(root, &mut transcript)?,
        (_, Some(int), _) => intermediate_ceremony(int, &mut transcript)?,
        (_, _, Some(crl)) => crl_ceremony(crl, &mut transcript)?,
        _ => bail!("no ceremony section"),
    }
    let mut record = json!({
        "tool": concat!("mayfly-root ", env!("CARGO_PKG_VERSION")),
        "ceremony": file.ceremony,
        "ceremonyFile": {"path": args.file, "sha256": util::sha256_hex(&text)},
        "started": started.format(&Rfc3339)?,
        "finished": OffsetDateTime::now_utc().replace_nanosecond(0)?.format(&Rfc3339)?,
        "inputs": transcript.inputs,
        "outputs": transcript.outputs,
    });
    if let Value::Object(r) = &mut record {
        r.extend(transcript.extra);
    }
    let pretty = serde_json::to_string_pretty(&record)? + "\n";
    mayfly_keys::write_public_file(&transcript_path, pretty.as_bytes(), false)
        .with_context(|| format!("writing {}", transcript_path.display()))?;
    eprint!("{pretty}");
    eprintln!("Transcript written to {}", transcript_path.display());
    Ok(())
}

fn kind_name(kind: Kind) -> String {
    format!("{kind:?}").to_lowercase()
}

/// Exactly the section the `ceremony:` kind names must be there, and no other.
fn check_sections(file: &CeremonyFile) -> anyhow::Result<()> {
    let present = [
        (Kind::Root, file.root.is_some()),
        (Kind::Intermediate, file.intermediate.is_some()),
        (Kind::Crl, file.crl.is_some()),
    ];
    let name = kind_name;
    if let Some((kind, _)) = present
        .iter()
        .find(|(k, there)| *k == file.ceremony && !there)
    {
        bail!("ceremony: {0} needs a `{0}:` section", name(*kind));
    }
    if let Some((kind, _)) = present
        .iter()
        .find(|(k, there)| *k != file.ceremony && *there)
    {
        bail!(
            "a `{}:` section in a {} ceremony: refusing what the ceremony does not state",
            name(*kind),
            name(file.ceremony)
        );
    }
    Ok(())
}

fn root_ceremony(spec: &RootCeremony, t: &mut Transcript) -> anyhow::Result<()> {
    let key_type: KeyType = spec.key_type.parse()?;
    let template = spec.template.as_deref().map(|p| t.path(p));
    if let Some(p) = &spec.template {
        t.input(p)?;
    }
    let (key, location) = match (&spec.key.file, &spec.key.password_file, &spec.key.kms) {
        (Some(file), Some(password), None) => (
            NewKey::File(t.path(file), util::read_password(&t.path(password))?),
            file.display().to_string(),
        ),
        (None, None, Some(uri)) => (NewKey::Kms(uri.clone()), uri.clone()),
        (Some(_), None, None) => {
            bail!("root.key.file needs root.key.password-file: the root key is stored encrypted")
        }
        _ => bail!("root.key needs either `file` + `password-file`, or `kms`"),
    };
    let out = t.path(&spec.certificate);
    let cert = super::init::create_root(RootSpec {
        name: &spec.name,
        key_type,
        not_after: &spec.not_after,
        template: template.as_deref(),
        key,
        out: &out,
    })?;
    let public = mayfly_template::certificate_public_key(&cert)?;
    t.extra.insert(
        "signingKey".into(),
        json!({"location": location, "publicKeySha256": public.fingerprint_sha256()?}),
    );
    if let Some(file) = &spec.key.file {
        t.output(file, json!({"kind": "encrypted private key"}))?;
    }
    t.output(
        &spec.certificate,
        json!({"certificate": util::certificate_summary(&cert)?}),
    )
}

fn intermediate_ceremony(spec: &IntermediateCeremony, t: &mut Transcript) -> anyhow::Result<()> {
    let out = t.path(&spec.certificate);
    util::refuse_existing(&out)?;
    let csr = t.input(&spec.csr)?;
    if let Some(expected) = &spec.csr_sha256 {
        let actual = util::sha256_hex(&csr);
        if !actual.eq_ignore_ascii_case(expected.trim()) {
            bail!("the CSR's SHA-256 is {actual}, not the {expected} the ceremony states");
        }
    }
    if let Some(p) = &spec.template {
        t.input(p)?;
    }
    let root_bytes_path = &spec.issuer.certificate;
    t.input(root_bytes_path)?;
    let root = sign::read_certificate(&t.path(root_bytes_path))?;
    let set: Vec<(String, Value)> = spec.set.clone().into_iter().collect();
    let template = spec.template.as_deref().map(|p| t.path(p));
    let prepared = sign::prepare(&csr, template.as_deref(), &set, &spec.not_after, &root)?;
    let subject = prepared.request.subject().to_string();
    if subject != spec.subject {
        bail!(
            "the CSR's subject is {subject:?}, not the {:?} the ceremony states",
            spec.subject
        );
    }
    eprint!("{}", prepared.describe(&root)?);
    let signer = load_issuer(&spec.issuer, t)?;
    let cert = prepared.sign(&root, signer.as_ref())?;
    let index = t.path(&spec.index);
    sign::record_and_write(&cert, &index, &out)?;
    t.output(
        &spec.certificate,
        json!({"certificate": util::certificate_summary(&cert)?}),
    )?;
    t.output(&spec.index, json!({"kind": "index.txt"}))
}

fn load_issuer(issuer: &IssuerSpec, t: &mut Transcript) -> anyhow::Result<Box<dyn Signer>> {
    let location = if issuer.key.starts_with("pkcs11:") {
        issuer.key.clone()
    } else {
        t.input(Path::new(&issuer.key))?;
        t.path(Path::new(&issuer.key)).display().to_string()
    };
    let password = issuer.password_file.as_ref().map(|p| t.path(p));
    let signer = crate::key::load_signer(&location, password.as_deref())?;
    t.signer(&issuer.key, signer.as_ref())?;
    Ok(signer)
}

fn crl_ceremony(spec: &CrlCeremony, t: &mut Transcript) -> anyhow::Result<()> {
    let out = t.path(&spec.out);
    util::refuse_existing(&out)?;
    let lifetime = util::parse_duration(&spec.next_update)?;
    let index_path = t.path(&spec.index);
    t.input(&spec.index)?;
    t.input(&spec.issuer.certificate)?;
    let signer = load_issuer(&spec.issuer, t)?;
    if !spec.revoke.is_empty() {
        let mut index = Index::load(&index_path)?;
        let now = OffsetDateTime::now_utc();
        for r in &spec.revoke {
            let serial = Serial::from_hex(&r.serial)
                .with_context(|| format!("revoke: serial {:?}", r.serial))?;
            let reason = r
                .reason
                .as_deref()
                .map(str::parse::<Reason>)
                .transpose()
                .with_context(|| format!("revoke: serial {}", r.serial))?;
            index.revoke(serial, reason, now)?;
        }
        index.save(&index_path)?;
        t.extra.insert(
            "revoked".into(),
            json!(
                spec.revoke
                    .iter()
                    .map(|r| json!({"serial": r.serial, "reason": r.reason}))
                    .collect::<Vec<_>>()
            ),
        );
    }
    let crlnumber = spec.crlnumber.as_deref().map(|p| t.path(p));
    let job = CrlJob {
        index: &index_path,
        ca: &t.path(&spec.issuer.certificate),
        crlnumber: crlnumber.as_deref(),
        lifetime: time::Duration::try_from(lifetime)?,
        pem: spec.format == CrlFormat::Pem,
    };
    let (_, number) = job.issue(signer.as_ref(), Some(&out))?;
    let entries = Index::revoked_in_file(&index_path)?.len();
    t.output(
        &spec.out,
        json!({"crl": {"number": number.to_string(), "entries": entries, "nextUpdateIn": spec.next_update}}),
    )?;
    if !spec.revoke.is_empty() {
        t.output(&spec.index, json!({"kind": "index.txt"}))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
