use std::path::{Path, PathBuf};

use mayfly_keys::Password;

use super::{ShareError, ShareFile, combine, split};

fn named(files: &[ShareFile], picks: &[usize]) -> Vec<(PathBuf, ShareFile)> {
    picks
        .iter()
        .map(|&i| (PathBuf::from(format!("share-{}", i + 1)), files[i].clone()))
        .collect()
}

fn through_text(file: &ShareFile) -> ShareFile {
    ShareFile::parse(&file.to_text(), Path::new("t")).unwrap_or_else(|e| panic!("{e}"))
}

fn round_trip(password: &[u8], threshold: u8, shares: u8, picks: &[usize]) {
    let pw = Password::from_bytes(password.to_vec());
    let files: Vec<ShareFile> = split(&pw, threshold, shares)
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(through_text)
        .collect();
    assert_eq!(files.len(), usize::from(shares));
    let got =
        combine(&named(&files, picks)).unwrap_or_else(|e| panic!("{threshold}/{shares}: {e}"));
    assert_eq!(got.as_bytes(), password, "{threshold}/{shares} {picks:?}");
}

/// A pseudo-random pick of `k` distinct indices out of `n` (xorshift; test data only).
fn pick(k: usize, n: usize, seed: &mut u64) -> Vec<usize> {
    let mut all: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        all.swap(i, usize::try_from(*seed % (i as u64 + 1)).unwrap_or(0));
    }
    all.truncate(k);
    all
}

#[test]
fn every_small_threshold_round_trips_with_any_subset() {
    let mut seed = 0x9e37_79b9_7f4a_7c15;
    for shares in 1..=9u8 {
        for threshold in 1..=shares {
            let picks = pick(usize::from(threshold), usize::from(shares), &mut seed);
            round_trip(b"correct horse battery staple", threshold, shares, &picks);
        }
    }
}

#[test]
fn extremes_round_trip() {
    let mut seed = 42;
    round_trip(b"x", 1, 1, &[0]);
    round_trip(b"", 2, 3, &[2, 0]);
    let long: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    round_trip(&long, 3, 5, &[4, 1, 2]);
    round_trip(b"pw", 255, 255, &pick(255, 255, &mut seed));
    round_trip(b"pw", 2, 255, &[254, 0]);
    round_trip(b"pw", 128, 255, &pick(128, 255, &mut seed));
    // More shares than needed also work.
    round_trip(b"pw", 3, 5, &[0, 1, 2, 3, 4]);
}

#[test]
fn impossible_splits_are_refused() {
    let pw = Password::from_bytes(b"pw".to_vec());
    for (t, n) in [(0, 5), (6, 5), (0, 0)] {
        assert!(matches!(split(&pw, t, n), Err(ShareError::Parameters(_))));
    }
}

#[test]
fn too_few_duplicate_and_mixed_shares_are_refused() {
    let pw = Password::from_bytes(b"root password".to_vec());
    let files = split(&pw, 3, 5).unwrap_or_else(|e| panic!("{e}"));
    let err = combine(&named(&files, &[0, 3])).err();
    assert!(
        matches!(err, Some(ShareError::NotEnough { have: 2, need: 3 })),
        "{err:?}"
    );
    let err = combine(&named(&files, &[0, 3, 3])).err();
    assert!(
        matches!(err, Some(ShareError::Duplicate { index: 4, .. })),
        "{err:?}"
    );
    let other = split(&pw, 3, 5).unwrap_or_else(|e| panic!("{e}"));
    let mut mixed = named(&files, &[0, 1]);
    mixed.push((PathBuf::from("other-3"), other[2].clone()));
    let err = combine(&mixed).err();
    assert!(
        matches!(&err, Some(ShareError::OtherSet { path, .. }) if path == Path::new("other-3")),
        "{err:?}"
    );
}

#[test]
fn a_mistyped_share_is_named() {
    let pw = Password::from_bytes(b"root password".to_vec());
    let files = split(&pw, 2, 3).unwrap_or_else(|e| panic!("{e}"));
    let text = files[1].to_text();
    let share_line = text
        .lines()
        .find(|l| l.starts_with("share: "))
        .unwrap_or_default()
        .to_owned();
    // Change one hex digit of the share value.
    let mut typo = share_line.clone().into_bytes();
    let at = typo.len() - 1;
    typo[at] = if typo[at] == b'0' { b'1' } else { b'0' };
    let typo = String::from_utf8(typo).unwrap_or_default();
    let bad = text.replace(&share_line, &typo);
    let err = ShareFile::parse(&bad, Path::new("shares/b")).err();
    assert!(
        matches!(&err, Some(ShareError::Checksum { path, index: 2 }) if path == Path::new("shares/b")),
        "{err:?}"
    );
    let message = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("shares/b") && message.contains("mistyped"),
        "{message}"
    );
}

#[test]
fn a_forged_share_with_a_good_checksum_fails_the_verifier() {
    let pw = Password::from_bytes(b"root password".to_vec());
    let files = split(&pw, 2, 3).unwrap_or_else(|e| panic!("{e}"));
    let mut forged = files[1].clone();
    forged.value[0] ^= 1;
    let forged = through_text(&forged); // a fresh checksum over the altered value
    let err = combine(&[
        (PathBuf::from("a"), files[0].clone()),
        (PathBuf::from("b"), forged),
    ])
    .err();
    assert!(matches!(err, Some(ShareError::WrongCombination)), "{err:?}");
}

#[test]
fn malformed_files_say_what_is_wrong() {
    let pw = Password::from_bytes(b"pw".to_vec());
    let text = split(&pw, 2, 2).unwrap_or_else(|e| panic!("{e}"))[0].to_text();
    let cases = [
        (
            text.replace("threshold:", "thresold:"),
            "unknown field \"thresold\"",
        ),
        (
            text.replace("mayfly-share: v1", "mayfly-share: v9"),
            "unsupported version",
        ),
        (
            text.lines()
                .filter(|l| !l.starts_with("verifier"))
                .collect::<Vec<_>>()
                .join("\n"),
            "no \"verifier\"",
        ),
        (
            text.replace("index: 1", "index: x"),
            "index is not a number",
        ),
    ];
    for (bad, expected) in cases {
        let err = ShareFile::parse(&bad, Path::new("s"))
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(|e| e.contains(expected)),
            "{err:?}"
        );
    }
}

#[test]
fn a_share_is_longer_than_the_password_hides_its_length() {
    let short = split(&Password::from_bytes(b"a".to_vec()), 2, 2).unwrap_or_else(|e| panic!("{e}"));
    let longer =
        split(&Password::from_bytes(vec![b'a'; 20]), 2, 2).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(short[0].value.len(), longer[0].value.len());
    assert_eq!(short[0].value.len(), 64);
}

#[test]
fn the_verifier_is_hmac_sha256_under_the_shared_key() {
    use hmac::{Hmac, KeyInit as _, Mac as _};
    let key = [7u8; 32];
    let set = [1u8; 16];
    let mut mac = <Hmac<sha2::Sha256>>::new_from_slice(&key).unwrap_or_else(|e| panic!("{e}"));
    mac.update(super::VERIFIER_CONTEXT);
    mac.update(&set);
    mac.update(b"pw");
    let expected: [u8; 32] = mac.finalize().into_bytes().into();
    assert_eq!(super::verifier(&key, &set, b"pw"), expected);
}
