//! Shared by the integration tests: a SoftHSM2 token in a test directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use mayfly_testkit::{run_ok, tool, write_file};

/// SoftHSM2's PKCS#11 module as Debian installs it.
pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A fresh token `root-token` (user PIN 1234, in `dir/pin.txt`) under `dir/tokens`. Returns
/// the `SOFTHSM2_CONF` file to set and the `pkcs11:` URI of the key `object` in it, or `None`
/// when SoftHSM2 is not installed (outside CI).
pub fn softhsm(dir: &Path, object: &str) -> Option<(PathBuf, String)> {
    let util = tool("softhsm2-util")?;
    tool(MODULE)?;
    std::fs::create_dir_all(dir.join("tokens")).unwrap_or_else(|e| panic!("{e}"));
    // log.level ERROR: SoftHSM's INFO lines go to syslog through /dev/log.
    let conf = write_file(
        dir,
        "softhsm2.conf",
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            dir.join("tokens").display()
        ),
    );
    run_ok(Command::new(util).env("SOFTHSM2_CONF", &conf).args([
        "--init-token",
        "--free",
        "--label",
        "root-token",
        "--so-pin",
        "12345678",
        "--pin",
        "1234",
    ]));
    let pin = write_file(dir, "pin.txt", "1234\n");
    let uri = format!(
        "pkcs11:token=root-token;object={object}?module-path={MODULE}&pin-source=file:{}",
        pin.display()
    );
    Some((conf, uri))
}
