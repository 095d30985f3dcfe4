//! Writing key files: atomically, with tight permissions, never clobbering by accident.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use crate::{KeyError, Password, PrivateKey};

/// Writes a secret (private key, password) to `path` with mode 0600.
///
/// The data goes to a temporary file in the same folder first and is then moved into place,
/// so readers never see half a key. An existing `path` is replaced only when `overwrite` is
/// true; otherwise the result is [`KeyError::AlreadyExists`]. Missing parent folders are
/// created with mode 0700.
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
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(
        ".tmp-{}",
        crate::public::hex_lower(&crate::random_bytes::<8>())
    ));
    let temp = dir.join(temp_name);
    let result = write_new(&temp, contents, mode).and_then(|()| {
        if overwrite {
            std::fs::rename(&temp, path).map_err(|e| KeyError::io(path, e))
        } else {
            // A hard link fails if `path` appeared meanwhile: no race can clobber it.
            std::fs::hard_link(&temp, path).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => KeyError::AlreadyExists(path.to_path_buf()),
                _ => KeyError::io(path, e),
            })
        }
    });
    let _ = std::fs::remove_file(&temp);
    result
}

fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), KeyError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| KeyError::io(path, e))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| KeyError::io(path, e))
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
}
