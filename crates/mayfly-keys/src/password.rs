//! Passwords: read from a file, asked for on a terminal, or generated. Never from the
//! environment.

use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use zeroize::Zeroizing;

use crate::KeyError;

/// A password. The bytes are zeroized on drop and never shown by `Debug`.
#[derive(Clone)]
pub struct Password(Zeroizing<Vec<u8>>);

/// Characters of generated passwords: 64 of them, so each random byte gives one character
/// without bias (6 bits each).
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Length of generated passwords: 32 characters, 192 bits of entropy.
const GENERATED_LEN: usize = 32;

impl Password {
    /// Wraps password bytes as they are.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Reads a password file as step does: one trailing `\n` or `\r\n` is stripped, everything
    /// else (leading spaces included) is part of the password. An empty password is refused.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let mut bytes = Zeroizing::new(std::fs::read(path).map_err(|e| KeyError::io(path, e))?);
        strip_line_ending(&mut bytes);
        if bytes.is_empty() {
            return Err(KeyError::Password(format!(
                "the password file {} is empty",
                path.display()
            )));
        }
        Ok(Self(bytes))
    }

    /// Generates a strong random password: 32 characters from `[A-Za-z0-9_-]` (192 bits).
    pub fn generate() -> Self {
        let random = Zeroizing::new(crate::random_bytes::<GENERATED_LEN>());
        Self::from_bytes(
            random
                .iter()
                .map(|b| ALPHABET[usize::from(b & 63)])
                .collect(),
        )
    }

    /// Asks for a password on the controlling terminal (`/dev/tty`) with echo turned off.
    ///
    /// Fails with [`KeyError::Password`] when there is no terminal (scripts must use a
    /// password file) or when the answer is empty.
    pub fn prompt(prompt: &str) -> Result<Self, KeyError> {
        let no_tty = |e: std::io::Error| {
            KeyError::Password(format!(
                "cannot prompt for a password without a terminal ({e}): use a password file"
            ))
        };
        let tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .map_err(no_tty)?;
        let saved = rustix::termios::tcgetattr(&tty).map_err(|e| no_tty(e.into()))?;
        let mut silent = saved.clone();
        silent.local_modes.remove(rustix::termios::LocalModes::ECHO);
        let set = |t| rustix::termios::tcsetattr(&tty, rustix::termios::OptionalActions::Now, t);
        set(&silent).map_err(|e| no_tty(e.into()))?;
        let mut line = Zeroizing::new(Vec::new());
        let read = (&tty)
            .write_all(prompt.as_bytes())
            .and_then(|()| BufReader::new(&tty).read_until(b'\n', &mut line));
        let restored = set(&saved);
        let _ = (&tty).write_all(b"\n");
        read.map_err(no_tty)?;
        restored.map_err(|e| no_tty(e.into()))?;
        strip_line_ending(&mut line);
        if line.is_empty() {
            return Err(KeyError::Password("the password is empty".into()));
        }
        Ok(Self(line))
    }

    /// The password bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether two passwords are equal, compared in constant time.
    pub fn matches(&self, other: &Password) -> bool {
        subtle::ConstantTimeEq::ct_eq(self.as_bytes(), other.as_bytes()).into()
    }
}

fn strip_line_ending(bytes: &mut Vec<u8>) {
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_strips_one_line_ending_and_keeps_spaces() {
        let dir = mayfly_testkit::temp_dir();
        for (content, expected) in [
            (&b"  pass\n"[..], &b"  pass"[..]),
            (b"pass\r\n", b"pass"),
            (b"pass\n\n", b"pass\n"),
            (b"pass ", b"pass "),
        ] {
            let path = mayfly_testkit::write_file(dir.path(), "pw", content);
            assert_eq!(Password::from_file(&path).unwrap().as_bytes(), expected);
        }
        let empty = mayfly_testkit::write_file(dir.path(), "empty", "\n");
        assert!(matches!(
            Password::from_file(&empty),
            Err(KeyError::Password(_))
        ));
        assert!(matches!(
            Password::from_file(&dir.path().join("missing")),
            Err(KeyError::Io { .. })
        ));
    }

    #[test]
    fn fixture_password2_keeps_leading_spaces() {
        let path = mayfly_testkit::step_fixtures().join("crypto/pemutil/testdata/password2.txt");
        assert_eq!(Password::from_file(&path).unwrap().as_bytes(), b"  pass");
    }

    #[test]
    fn generated_passwords_are_long_printable_and_distinct() {
        let a = Password::generate();
        let b = Password::generate();
        assert_eq!(a.as_bytes().len(), GENERATED_LEN);
        assert!(a.as_bytes().iter().all(|c| ALPHABET.contains(c)));
        assert_ne!(a.as_bytes(), b.as_bytes());
    }

    #[test]
    fn debug_hides_the_secret() {
        let p = Password::from_bytes(b"hunter2".to_vec());
        assert_eq!(format!("{p:?}"), "Password(***)");
        assert!(p.matches(&Password::from_bytes(b"hunter2".to_vec())));
        assert!(!p.matches(&Password::from_bytes(b"hunter3".to_vec())));
    }
}
