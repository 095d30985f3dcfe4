//! The OpenSSL CA database (`index.txt`), read and written as `openssl ca` does.
//!
//! One line per certificate, six TAB-separated fields:
//! `status  expiry  revocation  serial  filename  subject`, where status is `V` (valid),
//! `R` (revoked) or `E` (expired), expiry and revocation dates are `YYMMDDHHMMSSZ` (or
//! `YYYYMMDDHHMMSSZ`), the revocation field is `date[,reason[,detail]]` (detail: the compromise
//! time as `keyTime,<time>`/`CAkeyTime,<time>`, a hold as `holdInstruction,<oid>`), the serial is
//! upper-case hex, the filename is usually `unknown`, and the subject is `/CN=...` form.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::Path;

use time::OffsetDateTime;

use crate::{CertInfo, CertStatus, CrlError, Reason, RevokedCert, Serial, asn1_time};

/// The status column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// `V`: valid.
    Valid,
    /// `R`: revoked.
    Revoked,
    /// `E`: expired (set by `updatedb`).
    Expired,
}

/// The revocation column of an `R` row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// When the certificate was revoked.
    pub date: OffsetDateTime,
    /// The reason, when one was given.
    pub reason: Option<Reason>,
    /// The compromise time (`keyCompromise,<time>` / `CACompromise,<time>`), the CRL's
    /// invalidityDate.
    pub invalidity_date: Option<OffsetDateTime>,
    /// The hold instruction of a `certificateHold` row, kept as written.
    pub hold_instruction: Option<String>,
}

impl Revocation {
    /// The CRL entry for the certificate `serial` revoked like this.
    pub fn entry(&self, serial: Serial) -> RevokedCert {
        RevokedCert {
            serial,
            revocation_date: self.date,
            reason: self.reason,
            invalidity_date: self.invalidity_date,
        }
    }
}

/// One row of index.txt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// V, R or E.
    pub status: Status,
    /// The certificate's notAfter.
    pub expiry: OffsetDateTime,
    /// Present exactly when the status is R.
    pub revocation: Option<Revocation>,
    /// The serial number.
    pub serial: Serial,
    /// The certificate file name (`unknown` as `openssl ca` writes it).
    pub filename: String,
    /// The subject in `/CN=...` form.
    pub subject: String,
}

impl IndexEntry {
    /// A `V` row for an issued certificate, as `openssl ca` records it.
    pub fn for_certificate(cert: &CertInfo) -> Self {
        Self {
            status: Status::Valid,
            expiry: cert.not_after(),
            revocation: None,
            serial: cert.serial(),
            filename: "unknown".into(),
            subject: cert.subject_oneline().into(),
        }
    }

    fn write(&self, out: &mut String) {
        let status = match self.status {
            Status::Valid => 'V',
            Status::Revoked => 'R',
            Status::Expired => 'E',
        };
        let _ = write!(out, "{status}\t{}\t", asn1_time::format(self.expiry));
        if let Some(rev) = &self.revocation {
            out.push_str(&asn1_time::format(rev.date));
            match (rev.reason, rev.invalidity_date, &rev.hold_instruction) {
                (Some(Reason::KeyCompromise), Some(t), _) => {
                    let _ = write!(out, ",keyTime,{}", asn1_time::format_generalized(t));
                }
                (Some(Reason::CaCompromise), Some(t), _) => {
                    let _ = write!(out, ",CAkeyTime,{}", asn1_time::format_generalized(t));
                }
                (_, _, Some(hold)) => {
                    let _ = write!(out, ",holdInstruction,{hold}");
                }
                (Some(reason), _, _) => {
                    let _ = write!(out, ",{reason}");
                }
                (None, _, _) => {}
            }
        }
        let _ = writeln!(
            out,
            "\t{}\t{}\t{}",
            self.serial, self.filename, self.subject
        );
    }

    /// The CRL entry for an `R` row.
    pub fn revoked_cert(&self) -> Option<RevokedCert> {
        self.revocation.as_ref().map(|rev| rev.entry(self.serial))
    }
}

/// One parsed line, borrowing its free-text fields (no allocation for the CRL path).
struct Row<'a> {
    status: Status,
    expiry: OffsetDateTime,
    revocation: Option<Revocation>,
    serial: Serial,
    filename: &'a str,
    subject: &'a str,
}

impl<'a> Row<'a> {
    fn parse(line: &'a str) -> Result<Self, String> {
        let mut fields = [""; 6];
        let mut count = 0;
        for (slot, field) in fields.iter_mut().zip(line.splitn(6, '\t')) {
            *slot = field;
            count += 1;
        }
        if count == 6 {
            count += fields[5].matches('\t').count();
        }
        if count != 6 {
            return Err(format!("expected 6 TAB-separated fields, found {count}"));
        }
        let [status, expiry, revocation, serial, filename, subject] = fields;
        // OpenSSL writes names with non-printable characters escaped (`\x0D`); a raw control
        // character (a stray CR of a CRLF file, say) would not survive being written back.
        if let Some(c) = [filename, subject]
            .iter()
            .find_map(|f| f.chars().find(|c| c.is_control()))
        {
            return Err(format!(
                "control character {c:?} in the filename or subject field"
            ));
        }
        let status = match status.as_bytes() {
            b"V" => Status::Valid,
            b"R" => Status::Revoked,
            b"E" => Status::Expired,
            other => return Err(format!("status {other:?} is not V, R or E")),
        };
        let expiry = asn1_time::parse(expiry).map_err(|e| format!("expiry date: {e}"))?;
        let revocation = match (status, revocation) {
            (Status::Revoked, field) => Some(parse_revocation(field)?),
            (_, "") => None,
            (_, other) => return Err(format!("revocation field {other:?} on a row that is not R")),
        };
        let serial = Serial::from_hex(serial).map_err(|e| e.to_string())?;
        Ok(Self {
            status,
            expiry,
            revocation,
            serial,
            filename,
            subject,
        })
    }

    /// Every non-comment line of `text`, parsed, with errors naming the line.
    fn all(text: &'a str) -> impl Iterator<Item = Result<Self, CrlError>> + 'a {
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.starts_with('#'))
            .map(|(i, line)| {
                Self::parse(line).map_err(|problem| CrlError::IndexLine {
                    line: i + 1,
                    problem,
                })
            })
    }
}

impl From<Row<'_>> for IndexEntry {
    fn from(row: Row<'_>) -> Self {
        Self {
            status: row.status,
            expiry: row.expiry,
            revocation: row.revocation,
            serial: row.serial,
            filename: row.filename.into(),
            subject: row.subject.into(),
        }
    }
}

fn revoked_from_reader(
    mut reader: impl BufRead,
    path: &Path,
    expected_rows: usize,
) -> Result<Vec<RevokedCert>, CrlError> {
    let mut revoked = Vec::with_capacity(expected_rows);
    let mut line = String::new();
    for number in 1.. {
        line.clear();
        if reader
            .read_line(&mut line)
            .map_err(|e| CrlError::io(path, e))?
            == 0
        {
            break;
        }
        // As `str::lines` splits: at `\n` or `\r\n`; a lone `\r` at the very end stays in
        // the line (and is refused there as a control character).
        let text = match line.strip_suffix('\n') {
            Some(text) => text.strip_suffix('\r').unwrap_or(text),
            None => &line,
        };
        if text.starts_with('#') {
            continue;
        }
        let row = Row::parse(text).map_err(|problem| CrlError::IndexLine {
            line: number,
            problem,
        })?;
        if let Some(rev) = &row.revocation {
            revoked.push(rev.entry(row.serial));
        }
    }
    Ok(revoked)
}

/// Parses `date[,reason[,detail]]`. OpenSSL spells a compromise time as `keyTime,<time>` /
/// `CAkeyTime,<time>` and a hold instruction as `holdInstruction,<oid name>`.
fn parse_revocation(field: &str) -> Result<Revocation, String> {
    let mut parts = field.splitn(3, ',');
    let date = parts.next().unwrap_or_default();
    if date.is_empty() {
        return Err("an R row needs a revocation date".into());
    }
    let date = asn1_time::parse(date).map_err(|e| format!("revocation date: {e}"))?;
    let mut revocation = Revocation {
        date,
        reason: None,
        invalidity_date: None,
        hold_instruction: None,
    };
    let Some(name) = parts.next() else {
        return Ok(revocation);
    };
    let detail = parts.next();
    let compromise = |reason| -> Result<_, String> {
        let time = detail.ok_or_else(|| format!("{name} needs a compromise time"))?;
        Ok((
            Some(reason),
            Some(asn1_time::parse(time).map_err(|e| format!("compromise time: {e}"))?),
        ))
    };
    match name {
        "keyTime" => {
            (revocation.reason, revocation.invalidity_date) = compromise(Reason::KeyCompromise)?
        }
        "CAkeyTime" => {
            (revocation.reason, revocation.invalidity_date) = compromise(Reason::CaCompromise)?
        }
        "holdInstruction" => {
            let hold = detail.ok_or("holdInstruction needs an instruction")?;
            revocation.reason = Some(Reason::CertificateHold);
            revocation.hold_instruction = Some(hold.to_owned());
        }
        other => {
            if let Some(detail) = detail {
                return Err(format!(
                    "unexpected revocation detail {detail:?} after {other}"
                ));
            }
            revocation.reason = Some(other.parse::<Reason>().map_err(|e| e.to_string())?);
        }
    }
    Ok(revocation)
}

/// An OpenSSL CA database.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Index {
    entries: Vec<IndexEntry>,
}

impl Index {
    /// Parses index.txt text; a malformed line is an error naming its number. `#` lines are
    /// comments, as OpenSSL's TXT_DB treats them.
    pub fn parse(text: &str) -> Result<Self, CrlError> {
        let entries = Row::all(text)
            .map(|row| row.map(IndexEntry::from))
            .collect::<Result<_, _>>()?;
        Ok(Self { entries })
    }

    /// The CRL entries of index.txt text without keeping the rows: what a CRL needs from a
    /// large database, in one pass and without per-row allocations. Every line is still
    /// checked as [`Index::parse`] checks it.
    pub fn revoked_in(text: &str) -> Result<Vec<RevokedCert>, CrlError> {
        revoked_from_reader(text.as_bytes(), Path::new("index.txt"), text.len() / 64)
    }

    /// [`Index::revoked_in`] streaming from a file: memory stays at the size of the entries,
    /// not of the file.
    pub fn revoked_in_file(path: &Path) -> Result<Vec<RevokedCert>, CrlError> {
        let file = std::fs::File::open(path).map_err(|e| CrlError::io(path, e))?;
        // Rows are ~80 bytes: reserve once instead of growing a large vector step by step.
        let size = file.metadata().map_or(0, |m| m.len());
        let rows = usize::try_from(size / 64).unwrap_or(0);
        revoked_from_reader(BufReader::with_capacity(1 << 20, file), path, rows)
    }

    /// Reads and parses a file (an empty file is an empty database).
    pub fn load(path: &Path) -> Result<Self, CrlError> {
        let text = std::fs::read_to_string(path).map_err(|e| CrlError::io(path, e))?;
        Self::parse(&text)
    }

    /// Writes the database as `openssl ca` does: the new text goes to `<path>.new`, the old
    /// file is kept as `<path>.old`, then the new one is renamed into place.
    pub fn save(&self, path: &Path) -> Result<(), CrlError> {
        let sibling = |suffix: &str| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            std::path::PathBuf::from(name)
        };
        let new = sibling(".new");
        std::fs::write(&new, self.to_text()).map_err(|e| CrlError::io(&new, e))?;
        if path.exists() {
            let old = sibling(".old");
            std::fs::copy(path, &old).map_err(|e| CrlError::io(&old, e))?;
        }
        std::fs::rename(&new, path).map_err(|e| CrlError::io(path, e))
    }

    /// The text of index.txt.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(self.entries.len() * 80);
        for entry in &self.entries {
            entry.write(&mut out);
        }
        out
    }

    /// All rows, in file order.
    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    /// The row for `serial`.
    pub fn find(&self, serial: Serial) -> Option<&IndexEntry> {
        self.entries.iter().find(|e| e.serial == serial)
    }

    /// Records a new row; a serial already present is refused (`openssl ca` does the same).
    pub fn add(&mut self, entry: IndexEntry) -> Result<(), CrlError> {
        if self.find(entry.serial).is_some() {
            return Err(CrlError::DuplicateSerial(entry.serial.to_hex()));
        }
        self.entries.push(entry);
        Ok(())
    }

    /// Marks `serial` revoked at `now` with `reason` (like `openssl ca -revoke
    /// -crl_reason`). Valid and expired rows can be revoked; a revoked one cannot.
    pub fn revoke(
        &mut self,
        serial: Serial,
        reason: Option<Reason>,
        now: OffsetDateTime,
    ) -> Result<&IndexEntry, CrlError> {
        let entry = self
            .entries
            .iter_mut()
            .find(|e| e.serial == serial)
            .ok_or_else(|| CrlError::UnknownSerial(serial.to_hex()))?;
        if entry.status == Status::Revoked {
            return Err(CrlError::AlreadyRevoked(serial.to_hex()));
        }
        entry.status = Status::Revoked;
        entry.revocation = Some(Revocation {
            date: now.replace_nanosecond(0).unwrap_or(now),
            reason,
            invalidity_date: None,
            hold_instruction: None,
        });
        Ok(entry)
    }

    /// Marks valid rows whose expiry has passed as `E` (`openssl ca -updatedb`); returns how
    /// many changed.
    pub fn update_expired(&mut self, now: OffsetDateTime) -> usize {
        let mut changed = 0;
        for entry in &mut self.entries {
            if entry.status == Status::Valid && entry.expiry <= now {
                entry.status = Status::Expired;
                changed += 1;
            }
        }
        changed
    }

    /// The OCSP status of `serial`: revoked for `R` rows, good for `V` and `E` rows (never
    /// revoked), unknown when absent. A linear scan: index the rows yourself for a busy
    /// responder.
    pub fn ocsp_status(&self, serial: Serial) -> CertStatus {
        match self.find(serial) {
            None => CertStatus::Unknown,
            Some(IndexEntry {
                revocation: Some(rev),
                ..
            }) => CertStatus::Revoked {
                time: rev.date,
                reason: rev.reason,
            },
            Some(_) => CertStatus::Good,
        }
    }

    /// The CRL entries: exactly the `R` rows, with their reasons and compromise times.
    pub fn revoked(&self) -> impl Iterator<Item = RevokedCert> + '_ {
        self.entries.iter().filter_map(IndexEntry::revoked_cert)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "R\t301231235959Z\t260101000000Z,keyCompromise\t1F\tunknown\t/CN=Test int\n\
V\t301231235959Z\t\t0A\tunknown\t/CN=still valid\n\
R\t301231235959Z\t250615120000Z\t0B\tunknown\t/CN=revoked no reason\n\
E\t200101000000Z\t\t0C\tunknown\t/CN=expired\n\
R\t20501231235959Z\t250615120000Z,keyTime,20250601000000Z\t0D\tunknown\t/O=x/CN=y\n";

    #[test]
    fn round_trips_openssl_text() {
        let index = Index::parse(SAMPLE).ok();
        assert_eq!(index.as_ref().map(Index::to_text).as_deref(), Some(SAMPLE));
        let revoked: Vec<_> = index
            .iter()
            .flat_map(Index::revoked)
            .map(|r| r.serial.to_hex())
            .collect();
        assert_eq!(revoked, ["1F", "0B", "0D"]);
        let streamed = Index::revoked_in(SAMPLE).ok();
        assert_eq!(streamed, index.map(|i| i.revoked().collect()));
        assert!(Index::revoked_in("R\tbad\n").is_err());
        // CRLF files parse as LF ones.
        let crlf = SAMPLE.replace('\n', "\r\n");
        assert_eq!(Index::parse(&crlf).ok(), Index::parse(SAMPLE).ok());
        assert_eq!(Index::revoked_in(&crlf).ok(), streamed);
        // A lone CR at the end of the file is no line ending: both readers refuse it (the
        // streaming one once took it for one; found by the index_txt fuzz target).
        let lone_cr = "V\t301231235959Z\t\t0A\tunknown\t/CN=x\r";
        assert!(Index::parse(lone_cr).is_err());
        assert!(Index::revoked_in(lone_cr).is_err());
    }

    #[test]
    fn malformed_lines_name_their_number() {
        for (text, needle) in [
            ("V\t301231235959Z\t\t0A\tunknown\n", "6 TAB-separated"),
            ("X\t301231235959Z\t\t0A\tunknown\t/CN=a\n", "status"),
            ("V\t3012Z\t\t0A\tunknown\t/CN=a\n", "expiry"),
            (
                "R\t301231235959Z\t\t0A\tunknown\t/CN=a\n",
                "revocation date",
            ),
            (
                "R\t301231235959Z\t260101000000Z,stolen\t0A\tunknown\t/CN=a\n",
                "stolen",
            ),
            ("V\t301231235959Z\t\tZZ\tunknown\t/CN=a\n", "hexadecimal"),
            (
                "R\t301231235959Z\t260101000000Z,keyTime\t0A\tunknown\t/CN=a\n",
                "compromise time",
            ),
            (
                "R\t301231235959Z\t260101000000Z,superseded,x\t0A\tunknown\t/CN=a\n",
                "detail",
            ),
            // Found by the index_txt fuzz target: one CR of a run is taken as a CRLF ending, so
            // the rest would not survive a write and re-read.
            (
                "V\t301231235959Z\t\t0A\tunknown\t/CN=a\r\r\n",
                "control character",
            ),
        ] {
            let text = format!("# comment\nV\t301231235959Z\t\t01\tunknown\t/CN=ok\n{text}");
            let err = Index::parse(&text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                err.starts_with("index.txt line 3:") && err.contains(needle),
                "{err}"
            );
        }
    }

    #[test]
    fn revoke_and_update_expired() {
        let now = time::macros::datetime!(2026-03-04 05:06:07 UTC);
        let Ok(mut index) = Index::parse(SAMPLE) else {
            panic!("sample parses")
        };
        let ten = Serial::from(10);
        assert!(index.revoke(ten, Some(Reason::Superseded), now).is_ok());
        assert!(matches!(
            index.revoke(ten, None, now),
            Err(CrlError::AlreadyRevoked(_))
        ));
        assert!(matches!(
            index.revoke(Serial::from(99), None, now),
            Err(CrlError::UnknownSerial(_))
        ));
        assert!(
            index
                .to_text()
                .contains("R\t301231235959Z\t260304050607Z,superseded\t0A\t")
        );
        let later = time::macros::datetime!(2031-01-01 00:00:00 UTC);
        assert_eq!(index.update_expired(later), 0, "only V rows expire");
        let Ok(mut index) = Index::parse(SAMPLE) else {
            panic!("sample parses")
        };
        assert_eq!(index.update_expired(later), 1);
        assert!(index.to_text().contains("E\t301231235959Z\t\t0A\t"));
    }
}
