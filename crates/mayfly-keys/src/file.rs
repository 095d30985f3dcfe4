//! Writing key files: atomically, with tight permissions, never clobbering by accident.

use std::ffi::{OsStr, OsString};
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use crate::{KeyError, Password, PrivateKey};

/// Writes a secret (private key, password) to `path` with mode 0600.
///
/// The data goes to a temporary file in the same folder first and is then moved into place,
/// so readers never see half a key; temporary files a killed writer left for `path` are
/// removed. An existing `path` is replaced only when `overwrite` is true; otherwise the result
/// is [`KeyError::AlreadyExists`]. Missing parent folders are created with mode 0700.
pub fn write_secret_file(path: &Path, contents: &[u8], overwrite: bool) -> Result<(), KeyError> {
    write_file_atomically(path, contents, overwrite, 0o600)
}

/// Writes a public file (public key, certificate) like [`write_secret_file`] but with mode
/// 0644.
pub fn write_public_file(path: &Path, contents: &[u8], overwrite: bool) -> Result<(), KeyError> {
    write_file_atomically(path, contents, overwrite, 0o644)
}

/// Reads a PEM private key file, decrypting it with `password` when it is encrypted.
pub fn read_private_key_file(
    path: &Path,
    password: Option<&Password>,
) -> Result<PrivateKey, KeyError> {
    let pem = zeroize::Zeroizing::new(std::fs::read(path).map_err(|e| KeyError::io(path, e))?);
    crate::read_private_key_pem(&pem, password)
}

fn write_file_atomically(
    path: &Path,
    contents: &[u8],
    overwrite: bool,
    mode: u32,
) -> Result<(), KeyError> {
    if !overwrite && path.symlink_metadata().is_ok() {
        return Err(KeyError::AlreadyExists(path.to_path_buf()));
    }
    let file_name = path
        .file_name()
        .ok_or_else(|| KeyError::io(path, std::io::ErrorKind::InvalidInput.into()))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| KeyError::io(dir, e))?;
    remove_stale_temps(dir, file_name);
    let mut attempts = 0;
    loop {
        let mut temp_name = temp_prefix(file_name);
        temp_name.push(crate::public::hex_lower(&crate::random_bytes::<8>()));
        let temp = dir.join(temp_name);
        // Held (with its lock) until the temporary file is in place: see `remove_stale_temps`.
        let _locked = write_locked(&temp, contents, mode)?;
        let result = if overwrite {
            std::fs::rename(&temp, path).map_err(|e| KeyError::io(path, e))
        } else {
            // A hard link fails if `path` appeared meanwhile: no race can clobber it.
            std::fs::hard_link(&temp, path).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => KeyError::AlreadyExists(path.to_path_buf()),
                _ => KeyError::io(path, e),
            })
        };
        // Another writer's clean-up can take the temporary file for a stale one in the
        // instant between its creation and its lock: then it is gone, and we start again.
        let lost = result.is_err() && temp.symlink_metadata().is_err();
        let _ = std::fs::remove_file(&temp);
        attempts += 1;
        if !lost || attempts == 3 {
            return result;
        }
    }
}

/// `.NAME.tmp-`: the start of the temporary files written on the way to `NAME`.
fn temp_prefix(file_name: &OsStr) -> OsString {
    let mut prefix = OsString::from(".");
    prefix.push(file_name);
    prefix.push(".tmp-");
    prefix
}

/// Removes the temporary files for `file_name` in `dir` that a writer killed between writing
/// and renaming left behind. A live writer holds an exclusive lock on its temporary file until
/// it is in place (the kernel drops the lock when its process dies), so only unlocked ones
/// are removed. Best effort: what cannot be read or removed is left alone.
fn remove_stale_temps(dir: &Path, file_name: &OsStr) {
    let prefix = temp_prefix(file_name);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let ours = name
            .as_bytes()
            .strip_prefix(prefix.as_bytes())
            .is_some_and(|random| random.len() == 16 && random.iter().all(u8::is_ascii_hexdigit));
        if !ours || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = File::open(&path) else {
            continue;
        };
        if file.try_lock().is_ok() {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Creates `path` (which must not exist) locked, writes `contents` and syncs them; the file
/// stays locked until the returned handle is dropped.
fn write_locked(path: &Path, contents: &[u8], mode: u32) -> Result<File, KeyError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| KeyError::io(path, e))?;
    file.lock()
        .and_then(|()| file.write_all(contents))
        .and_then(|()| file.sync_all())
        .map_err(|e| KeyError::io(path, e))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn secret_files_are_0600_and_not_overwritten_unless_asked() {
        let dir = mayfly_testkit::temp_dir();
        let path = dir.path().join("sub/dir/key.pem");
        write_secret_file(&path, b"one", false).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(matches!(
            write_secret_file(&path, b"two", false),
            Err(KeyError::AlreadyExists(p)) if p == path
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        write_secret_file(&path, b"two", true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let leftovers = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary files are left behind");
    }

    #[test]
    fn temporary_files_left_by_a_killed_writer_are_removed() {
        let dir = mayfly_testkit::temp_dir();
        let path = dir.path().join("svc.crt");
        let temp = |random: &str| dir.path().join(format!(".svc.crt.tmp-{random}"));
        // Left by writers killed between writing and renaming (no lock held any more).
        let stale = [temp("0123456789abcdef"), temp("00ff00ff00ff00ff")];
        for file in &stale {
            std::fs::write(file, b"half a cert").unwrap();
        }
        // A writer still at work holds its lock: its file stays.
        let live = temp("fedcba9876543210");
        std::fs::write(&live, b"being written").unwrap();
        let writer = File::open(&live).unwrap();
        writer.lock().unwrap();
        // Not temporary files of this writer.
        let others = [
            dir.path().join(".svc.key.tmp-0123456789abcdef"),
            temp("not-ours"),
            dir.path().join("svc.crt.tmp-0123456789abcdef"),
        ];
        for file in &others {
            std::fs::write(file, b"keep").unwrap();
        }

        write_public_file(&path, b"whole", true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"whole");
        for file in &stale {
            assert!(!file.exists(), "{} was left behind", file.display());
        }
        assert!(live.exists(), "a live writer's file was removed");
        for file in &others {
            assert!(file.exists(), "{} was removed", file.display());
        }
        drop(writer);
        write_public_file(&path, b"again", true).unwrap();
        assert!(!live.exists(), "unlocked now, so stale");
    }
}
