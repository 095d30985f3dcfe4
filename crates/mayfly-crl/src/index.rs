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

use crate::asn1_time::{self, Asn1Time};
use crate::{CertInfo, CertStatus, CrlEntries, CrlError, Reason, RevokedCert, Serial};

/// Bytes read from index.txt at a time.
const READ_BUFFER: usize = 256 * 1024;

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

/// One parsed line, borrowing its free-text fields and keeping its times as digits (no
/// allocation or date arithmetic on the CRL path).
struct Row<'a> {
    status: Status,
    expiry: Asn1Time,
    revocation: Option<RowRevocation<'a>>,
    serial: Serial,
    /// Checked: UTF-8 without control characters.
    filename: &'a [u8],
    /// Checked: UTF-8 without control characters.
    subject: &'a [u8],
}

/// The revocation column of a [`Row`].
struct RowRevocation<'a> {
    date: Asn1Time,
    reason: Option<Reason>,
    invalidity_date: Option<Asn1Time>,
    hold_instruction: Option<&'a str>,
}

impl<'a> Row<'a> {
    /// Parses one line (without its line ending).
    #[inline(always)]
    fn parse(line: &'a [u8]) -> Result<Self, String> {
        let mut fields: [&[u8]; 6] = [&[]; 6];
        let mut rest = line;
        for (i, slot) in fields[..5].iter_mut().enumerate() {
            let Some(tab) = find_byte(rest, b'\t') else {
                return Err(format!("expected 6 TAB-separated fields, found {}", i + 1));
            };
            *slot = &rest[..tab];
            rest = &rest[tab + 1..];
        }
        fields[5] = rest;
        let [status, expiry, revocation, serial, filename, subject] = fields;
        if !is_printable_ascii(filename) || !is_printable_ascii(subject) {
            let tabs = subject.iter().filter(|&&b| b == b'\t').count();
            if tabs > 0 {
                return Err(format!(
                    "expected 6 TAB-separated fields, found {}",
                    6 + tabs
                ));
            }
            // OpenSSL writes names with non-printable characters escaped (`\x0D`); a raw
            // control character (a stray CR of a CRLF file, say) would not survive being
            // written back.
            if let Some(c) = [text(filename)?, text(subject)?]
                .iter()
                .find_map(|f| f.chars().find(|c| c.is_control()))
            {
                return Err(format!(
                    "control character {c:?} in the filename or subject field"
                ));
            }
        }
        let status = match status {
            b"V" => Status::Valid,
            b"R" => Status::Revoked,
            b"E" => Status::Expired,
            other => {
                return Err(format!(
                    "status {:?} is not V, R or E",
                    String::from_utf8_lossy(other)
                ));
            }
        };
        let expiry = time_field(expiry, "expiry date")?;
        let revocation = match (status, revocation) {
            (Status::Revoked, field) => Some(parse_revocation(field)?),
            (_, b"") => None,
            (_, other) => {
                return Err(format!(
                    "revocation field {:?} on a row that is not R",
                    String::from_utf8_lossy(other)
                ));
            }
        };
        let serial = match Serial::from_hex_digits(serial) {
            Ok(serial) => serial,
            // The messages (and the leniency about spaces) of the command line's parser.
            Err(_) => Serial::from_hex(text(serial)?).map_err(|e| e.to_string())?,
        };
        Ok(Self {
            status,
            expiry,
            revocation,
            serial,
            filename,
            subject,
        })
    }

    /// The row as kept by [`Index`].
    fn to_entry(&self) -> Result<IndexEntry, CrlError> {
        let revocation = match &self.revocation {
            None => None,
            Some(rev) => Some(Revocation {
                date: rev.date.to_datetime()?,
                reason: rev.reason,
                invalidity_date: rev.invalidity_date.map(Asn1Time::to_datetime).transpose()?,
                hold_instruction: rev.hold_instruction.map(str::to_owned),
            }),
        };
        Ok(IndexEntry {
            status: self.status,
            expiry: self.expiry.to_datetime()?,
            revocation,
            serial: self.serial,
            filename: String::from_utf8_lossy(self.filename).into_owned(),
            subject: String::from_utf8_lossy(self.subject).into_owned(),
        })
    }
}

/// A field as text.
fn text(field: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(field)
        .map_err(|_| format!("{:?} is not UTF-8", String::from_utf8_lossy(field)))
}

/// Only printable ASCII (0x20-0x7E), eight bytes at a time.
#[inline(always)]
fn is_printable_ascii(field: &[u8]) -> bool {
    let (words, rest) = field.as_chunks::<8>();
    let outside = words.iter().fold(0, |seen, word| {
        let x = u64::from_le_bytes(*word);
        // The high bit of a byte below 0x20, or of a byte at or above 0x7F.
        let low = x.wrapping_sub(ONES * 0x20) & !x;
        let high = ((x & (ONES * 0x7F)).wrapping_add(ONES)) | x;
        seen | ((low | high) & HIGHS)
    });
    outside == 0 && rest.iter().all(|&b| (0x20..0x7F).contains(&b))
}

/// `0x01` in every byte.
const ONES: u64 = 0x0101_0101_0101_0101;
/// `0x80` in every byte.
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// A date field, named `what` in the error.
#[inline(always)]
fn time_field(field: &[u8], what: &str) -> Result<Asn1Time, String> {
    Asn1Time::parse(field).ok_or_else(|| {
        format!(
            "{what}: {}",
            CrlError::Time(String::from_utf8_lossy(field).into_owned())
        )
    })
}

/// Position of the first `needle` in `haystack`, eight bytes at a time.
#[inline(always)]
fn find_byte(haystack: &[u8], needle: u8) -> Option<usize> {
    let pattern = ONES * u64::from(needle);
    let (words, rest) = haystack.as_chunks::<8>();
    for (i, word) in words.iter().enumerate() {
        // A zero byte of `x` is a match; the lowest flagged byte is exact.
        let x = u64::from_le_bytes(*word) ^ pattern;
        let found = x.wrapping_sub(ONES) & !x & HIGHS;
        if found != 0 {
            return Some(i * 8 + (found.trailing_zeros() / 8) as usize);
        }
    }
    let done = words.len() * 8;
    rest.iter().position(|&b| b == needle).map(|p| done + p)
}

/// Parses every line of `reader`, passing each non-comment row to `each`; errors name the
/// line. Lines end at `\n` or `\r\n` as [`str::lines`] splits them (a lone `\r` at the very
/// end stays in the line, and is refused there as a control character). The one parser of
/// [`Index::parse`], [`Index::load`], [`Index::revoked_in`] and [`Index::revoked_in_file`].
fn for_each_row(
    mut reader: impl BufRead,
    path: &Path,
    mut each: impl FnMut(Row<'_>) -> Result<(), CrlError>,
) -> Result<(), CrlError> {
    let mut number = 0;
    // `ended`: the line had a `\n`, so a CR before it is part of the line ending.
    let mut line = |text: &[u8], ended: bool| {
        number += 1;
        let text = match text.strip_suffix(b"\r") {
            Some(text) if ended => text,
            _ => text,
        };
        if text.starts_with(b"#") {
            return Ok(());
        }
        let at_line = |problem| CrlError::IndexLine {
            line: number,
            problem,
        };
        let row = Row::parse(text).map_err(at_line)?;
        each(row).map_err(|e| at_line(e.to_string()))
    };
    // The start of a line that runs past the end of the reader's buffer.
    let mut carry = Vec::new();
    loop {
        let buffer = reader.fill_buf().map_err(|e| CrlError::io(path, e))?;
        let used = buffer.len();
        if used == 0 {
            break;
        }
        let mut rest = buffer;
        if !carry.is_empty() {
            let Some(end) = find_byte(rest, b'\n') else {
                carry.extend_from_slice(rest);
                reader.consume(used);
                continue;
            };
            carry.extend_from_slice(&rest[..end]);
            line(&carry, true)?;
            carry.clear();
            rest = &rest[end + 1..];
        }
        while let Some(end) = find_byte(rest, b'\n') {
            line(&rest[..end], true)?;
            rest = &rest[end + 1..];
        }
        carry.extend_from_slice(rest);
        reader.consume(used);
    }
    if !carry.is_empty() {
        line(&carry, false)?;
    }
    Ok(())
}

/// The CRL entries of the `R` rows of `reader` (about `rows` of them).
fn revoked_from_reader(
    reader: impl BufRead,
    path: &Path,
    rows: usize,
) -> Result<CrlEntries, CrlError> {
    let mut revoked = CrlEntries::with_capacity(rows);
    for_each_row(reader, path, |row| {
        if let Some(rev) = &row.revocation {
            revoked.push_entry(
                row.serial,
                &rev.date,
                rev.reason,
                rev.invalidity_date.as_ref(),
            );
        }
        Ok(())
    })?;
    Ok(revoked)
}

/// Parses `date[,reason[,detail]]`. OpenSSL spells a compromise time as `keyTime,<time>` /
/// `CAkeyTime,<time>` and a hold instruction as `holdInstruction,<oid name>`.
#[inline(always)]
fn parse_revocation(field: &[u8]) -> Result<RowRevocation<'_>, String> {
    let (date, rest) = split_at_comma(field);
    if date.is_empty() {
        return Err("an R row needs a revocation date".into());
    }
    let mut revocation = RowRevocation {
        date: time_field(date, "revocation date")?,
        reason: None,
        invalidity_date: None,
        hold_instruction: None,
    };
    let Some(rest) = rest else {
        return Ok(revocation);
    };
    let (name, detail) = split_at_comma(rest);
    let compromise = |reason| -> Result<_, String> {
        let time = detail
            .ok_or_else(|| format!("{} needs a compromise time", String::from_utf8_lossy(name)))?;
        Ok((Some(reason), Some(time_field(time, "compromise time")?)))
    };
    match name {
        b"keyTime" => {
            (revocation.reason, revocation.invalidity_date) = compromise(Reason::KeyCompromise)?
        }
        b"CAkeyTime" => {
            (revocation.reason, revocation.invalidity_date) = compromise(Reason::CaCompromise)?
        }
        b"holdInstruction" => {
            let hold = detail.ok_or("holdInstruction needs an instruction")?;
            revocation.reason = Some(Reason::CertificateHold);
            revocation.hold_instruction = Some(text(hold)?);
        }
        other => {
            if let Some(detail) = detail {
                return Err(format!(
                    "unexpected revocation detail {:?} after {}",
                    String::from_utf8_lossy(detail),
                    String::from_utf8_lossy(other)
                ));
            }
            let reason = Reason::from_name(other).ok_or_else(|| {
                CrlError::Reason(String::from_utf8_lossy(other).into_owned()).to_string()
            })?;
            revocation.reason = Some(reason);
        }
    }
    Ok(revocation)
}

/// `field` up to its first comma, and what follows the comma if there is one.
fn split_at_comma(field: &[u8]) -> (&[u8], Option<&[u8]>) {
    match find_byte(field, b',') {
        Some(comma) => (&field[..comma], Some(&field[comma + 1..])),
        None => (field, None),
    }
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
        Self::read(text.as_bytes(), Path::new("index.txt"))
    }

    fn read(reader: impl BufRead, path: &Path) -> Result<Self, CrlError> {
        let mut entries = Vec::new();
        for_each_row(reader, path, |row| {
            entries.push(row.to_entry()?);
            Ok(())
        })?;
        Ok(Self { entries })
    }

    /// The CRL entries of index.txt text without keeping the rows: what a CRL needs from a
    /// large database, in one pass. Every line is checked as [`Index::parse`] checks it.
    pub fn revoked_in(text: &str) -> Result<CrlEntries, CrlError> {
        revoked_from_reader(text.as_bytes(), Path::new("index.txt"), text.len() / 64)
    }

    /// [`Index::revoked_in`] streaming from a file: memory stays at the size of the encoded
    /// entries (about half the file's), not of the file.
    pub fn revoked_in_file(path: &Path) -> Result<CrlEntries, CrlError> {
        let file = std::fs::File::open(path).map_err(|e| CrlError::io(path, e))?;
        // Rows are ~80 bytes: reserve once (untouched capacity costs no memory) instead of
        // growing large buffers step by step.
        let size = file.metadata().map_or(0, |m| m.len());
        let rows = usize::try_from(size / 64).unwrap_or(0);
        revoked_from_reader(BufReader::with_capacity(READ_BUFFER, file), path, rows)
    }

    /// Reads and parses a file (an empty file is an empty database).
    pub fn load(path: &Path) -> Result<Self, CrlError> {
        let file = std::fs::File::open(path).map_err(|e| CrlError::io(path, e))?;
        Self::read(BufReader::with_capacity(READ_BUFFER, file), path)
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
        assert_eq!(streamed, index.map(|i| i.revoked().collect::<CrlEntries>()));
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

    /// Lines split across the reader's buffer (the carried-over part) parse as whole ones.
    #[test]
    fn any_buffer_size_reads_the_same() {
        let path = Path::new("index.txt");
        let crlf = SAMPLE.replace('\n', "\r\n");
        let texts = [
            format!("# comment\n{SAMPLE}"),
            crlf.clone(),
            format!("{}#last", SAMPLE),
            SAMPLE.trim_end().to_owned(),
        ];
        for text in &texts {
            let whole = Index::parse(text).ok();
            let revoked = Index::revoked_in(text).ok();
            assert!(whole.is_some() && revoked.is_some(), "{text:?}");
            for capacity in 1..=40 {
                let reader = || BufReader::with_capacity(capacity, text.as_bytes());
                assert_eq!(Index::read(reader(), path).ok(), whole, "{capacity}");
                assert_eq!(revoked_from_reader(reader(), path, 0).ok(), revoked);
            }
        }
        // A bad line is found (and numbered) wherever the buffer ends.
        let bad = format!("{crlf}V\t301231235959Z\t\t0A\tunknown\t/CN=x\r");
        for capacity in [1, 7, 64] {
            let reader = BufReader::with_capacity(capacity, bad.as_bytes());
            let err = revoked_from_reader(reader, path, 0)
                .err()
                .map(|e| e.to_string());
            assert!(
                err.as_deref()
                    .is_some_and(|e| e.starts_with("index.txt line 6: control character")),
                "{err:?}"
            );
        }
        // Printable non-ASCII is fine.
        let utf8 = "V\t301231235959Z\t\t0A\tunknown\t/CN=caf\u{e9} \u{4e2d}\n";
        assert_eq!(
            Index::parse(utf8)
                .map(|i| i.entries()[0].subject.clone())
                .ok(),
            Some("/CN=caf\u{e9} \u{4e2d}".to_owned())
        );
        // Files are bytes: a Latin-1 subject is refused with its line, not as an I/O error.
        let latin1 = b"V\t301231235959Z\t\t0A\tunknown\t/CN=caf\xe9\n";
        let err = revoked_from_reader(&latin1[..], path, 0)
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.starts_with("index.txt line 1:") && e.ends_with("is not UTF-8")),
            "{err:?}"
        );
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
            // A C1 control (U+0085, two bytes in UTF-8) and DEL are control characters too.
            (
                "V\t301231235959Z\t\t0A\tunknown\t/CN=caf\u{e9}\u{85}\n",
                "control character '\\u{85}'",
            ),
            (
                "V\t301231235959Z\t\t0A\tunknown\t/CN=a\u{7f}b\n",
                "control character",
            ),
            ("V\t301231235959Z\t\t0A\tunknown\t/CN=a\tb\n", "found 7"),
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
