//! The hostile-request corpus in `tests/corpus/` (written by `tests/corpus/generate.py`).

use std::path::{Path, PathBuf};

/// One request of the corpus.
#[derive(Debug, Clone)]
pub struct CorpusEntry {
    /// `group/name` (the file's path under `tests/corpus/`, without `.req`).
    pub name: String,
    /// The HTTP method, as sent.
    pub method: String,
    /// The request target, as sent (traversal sequences included).
    pub path: String,
    /// `@sans`: the SANs a `@@OTT@@` token carries (default `corpus.example`).
    pub sans: Vec<String>,
    /// Header lines sent as they are (placeholders resolved).
    pub headers: Vec<String>,
    /// The body template.
    pub body: Vec<u8>,
}

/// Every `*.req` file under a folder, sorted by name.
#[derive(Debug)]
pub struct Corpus {
    /// The entries.
    pub entries: Vec<CorpusEntry>,
}

impl Corpus {
    /// `tests/corpus/` at the workspace root.
    pub fn dir() -> PathBuf {
        mayfly_testkit::workspace_root().join("tests/corpus")
    }

    /// Loads every `*.req` under `dir`.
    pub fn load(dir: &Path) -> Self {
        let mut files = Vec::new();
        collect(dir, &mut files);
        files.sort();
        let entries = files
            .iter()
            .map(|f| {
                let name = f
                    .strip_prefix(dir)
                    .unwrap_or(f)
                    .with_extension("")
                    .display()
                    .to_string();
                let raw = std::fs::read(f).expect("a corpus file");
                parse(name, &raw)
            })
            .collect();
        Self { entries }
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("the corpus folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "req") {
            out.push(path);
        }
    }
}

fn parse(name: String, raw: &[u8]) -> CorpusEntry {
    let split = raw
        .windows(2)
        .position(|w| w == b"\n\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = raw.get(split + 2..).unwrap_or_default().to_vec();
    let mut lines = head.lines();
    let first = lines.next().unwrap_or_default();
    let (method, path) = first.split_once(' ').unwrap_or((first, "/"));
    let mut sans = vec!["corpus.example".to_owned()];
    let mut headers = Vec::new();
    for line in lines {
        if let Some(json) = line.strip_prefix("@sans ") {
            sans = serde_json::from_str(json).expect("@sans is a JSON array of strings");
        } else {
            headers.push(line.to_owned());
        }
    }
    CorpusEntry {
        name,
        method: method.to_owned(),
        path: path.to_owned(),
        sans,
        headers,
        body,
    }
}

impl CorpusEntry {
    /// The body and headers with every `@@NAME@@` replaced by `resolve(NAME)`.
    pub fn render(&self, mut resolve: impl FnMut(&str) -> String) -> (Vec<String>, Vec<u8>) {
        let headers = self
            .headers
            .iter()
            .map(|h| String::from_utf8_lossy(&substitute(h.as_bytes(), &mut resolve)).into_owned())
            .collect();
        (headers, substitute(&self.body, &mut resolve))
    }
}

fn substitute(input: &[u8], resolve: &mut impl FnMut(&str) -> String) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut rest = input;
    while let Some(start) = rest.windows(2).position(|w| w == b"@@") {
        let after = &rest[start + 2..];
        let Some(end) = after.windows(2).position(|w| w == b"@@") else {
            break;
        };
        out.extend_from_slice(&rest[..start]);
        let name = String::from_utf8_lossy(&after[..end]);
        out.extend_from_slice(resolve(&name).as_bytes());
        rest = &after[end + 2..];
    }
    out.extend_from_slice(rest);
    out
}
