//! Disk full: the SQLite database sits on a 4 MiB tmpfs (or a loop-mounted ext4 image where
//! tmpfs cannot be mounted) that a filler file fills up under a steady sign load. While it is
//! full, signs are refused with 503 and a JSON message naming the storage; nothing a client
//! saw acknowledged is lost; once the filler is deleted the same process signs again by itself.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use mayfly_reliability::{Acked, Ca, StopOnDrop, sign_load, wait_for};
use mayfly_testkit::{missing, run, run_ok, temp_dir, tool};

/// A small filesystem mounted on `dir` (unmounted on drop).
struct SmallFs {
    dir: PathBuf,
    kind: &'static str,
}

impl SmallFs {
    /// A 4 MiB tmpfs, else an 8 MiB loop-mounted ext4 image; `None` without the right to mount.
    fn mount(dir: &Path, image: &Path) -> Option<Self> {
        std::fs::create_dir_all(dir).expect("the mount point");
        let tmpfs = run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs"])
            .arg(dir));
        if tmpfs.0 {
            return Some(Self {
                dir: dir.to_path_buf(),
                kind: "tmpfs 4 MiB",
            });
        }
        let file = std::fs::File::create(image).expect("the image file");
        file.set_len(8 << 20).expect("size the image");
        let ext4 = run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(image)).0
            && run(Command::new("mount")
                .args(["-o", "loop"])
                .arg(image)
                .arg(dir))
            .0;
        if ext4 {
            return Some(Self {
                dir: dir.to_path_buf(),
                kind: "loop ext4 8 MiB",
            });
        }
        missing(&format!(
            "the right to mount a small filesystem (tmpfs: {})",
            tmpfs.1.trim()
        ));
        None
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = run(Command::new("umount").arg("-l").arg(&self.dir));
    }
}

/// Writes `path` until the filesystem refuses more; returns the bytes written.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).expect("the filler file");
    let chunk = vec![0x5a_u8; 16 * 1024];
    let mut written = 0;
    while file.write_all(&chunk).is_ok() {
        written += chunk.len() as u64;
    }
    // The last partial chunk: fill to the very last byte.
    while file.write_all(&[0x5a]).is_ok() {
        written += 1;
    }
    let _ = file.sync_all();
    written
}

#[test]
fn a_full_disk_gives_503s_loses_nothing_and_recovers_by_itself() {
    let Some(sqlite3) = tool("sqlite3") else {
        return;
    };
    let dir = temp_dir();
    // Declared before the CA: dropped after it, so the server is gone before the unmount.
    let Some(fs) = SmallFs::mount(&dir.path().join("dbfs"), &dir.path().join("dbfs.img")) else {
        return;
    };
    let db = fs.dir.join("mayfly.db");
    let mut ca = Ca::init_stopped(dir.path());
    ca.edit_config(|json| {
        json["db"] = serde_json::json!({"type": "sqlite", "dataSource": db});
    });
    ca.start();
    let pid = ca.pid();
    let key = ca.provisioner();
    let acked = Arc::new(Mutex::new(Acked::default()));
    let stop = AtomicBool::new(false);
    let filler = fs.dir.join("filler");
    let statuses = |acked: &Mutex<Acked>| acked.lock().expect("lock").take_statuses();
    let count = |acked: &Mutex<Acked>, status: u16| acked.lock().expect("lock").count(status);

    let (healthy, full, recovered, filled) = thread::scope(|s| {
        for _ in 0..2 {
            let (ca, key, acked, stop) = (&ca, &key, &acked, &stop);
            s.spawn(move || sign_load(ca, key, acked, stop, Duration::from_millis(10), true));
        }
        let _stop = StopOnDrop(&stop);
        thread::sleep(Duration::from_secs(1));
        let healthy = statuses(&acked);
        let filled = fill(&filler);
        // Pages free inside the database and WAL files absorb a few writes first.
        let refused = wait_for(Duration::from_secs(60), || count(&acked, 503) >= 10);
        thread::sleep(Duration::from_millis(500));
        let full = statuses(&acked);
        assert!(
            refused,
            "no 503 within 60 s of the disk filling up: {full:?}"
        );
        std::fs::remove_file(&filler).expect("delete the filler");
        let back = wait_for(Duration::from_secs(30), || count(&acked, 201) >= 1);
        let _ = statuses(&acked);
        assert!(back, "no sign succeeded within 30 s of space returning");
        thread::sleep(Duration::from_secs(1));
        (healthy, full, statuses(&acked), filled)
    });
    println!("disk full ({}): filler {filled} bytes", fs.kind);
    println!("disk full: healthy {:?}", healthy.0);
    println!(
        "disk full: while full {:?}; 503 said {:?}",
        full.0,
        full.1.get(&503)
    );
    println!("disk full: after space returned {:?}", recovered.0);

    assert_eq!(ca.pid(), pid, "the CA restarted");
    assert!(ca.running(), "the CA died:\n{}", ca.log());
    assert!(healthy.0.keys().all(|s| *s == 201), "before: {healthy:?}");
    assert!(
        full.0.keys().all(|s| *s == 201 || *s == 503),
        "while full, a sign got something else than 201 or 503: {full:?}"
    );
    let refusal: serde_json::Value =
        serde_json::from_str(&full.1[&503]).expect("the 503 body is JSON");
    assert_eq!(refusal["status"], 503);
    let message = refusal["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("storage") && message.contains("full"),
        "the 503 message does not say the storage is full: {message:?}"
    );
    assert!(
        recovered.0.keys().all(|s| *s == 201) && recovered.0.get(&201) >= Some(&1),
        "after the space returned: {recovered:?}"
    );

    let a = acked.lock().expect("lock");
    let rows = |sql: &str| -> std::collections::BTreeSet<String> {
        run_ok(Command::new(&sqlite3).arg(&db).arg(sql))
            .lines()
            .map(|l| l.trim().to_owned())
            .collect()
    };
    let certs = rows("SELECT serial FROM certificates");
    let revoked = rows("SELECT serial FROM revocations");
    a.assert_stored(&certs, &revoked);
    println!(
        "disk full: {} certificates and {} revocations acknowledged, none lost; same process throughout",
        a.certificates.len(),
        a.revocations.len()
    );
    let log = ca.log();
    assert!(!log.contains("panicked"), "mayfly-ca panicked:\n{log}");
    // The log's audit lines name only issuances the store holds (none for a refused write).
    let logged: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("event=issue"))
        .filter_map(|l| l.split("serial=Some(\"").nth(1)?.split('"').next())
        .collect();
    assert!(
        !logged.is_empty(),
        "no issue audit lines in the log:\n{log}"
    );
    let phantom: Vec<_> = logged.iter().filter(|s| !certs.contains(**s)).collect();
    assert!(
        phantom.is_empty(),
        "issuances logged but not stored: {phantom:?}"
    );
}
