//! The one source of randomness every Mayfly crate uses: the operating system's CSPRNG.

use rand_core::UnwrapErr;

/// A cryptographically secure RNG backed by the operating system (`getrandom`).
///
/// It panics only if the OS refuses randomness, which on Linux means the process cannot run
/// safely at all.
pub fn os_rng() -> UnwrapErr<getrandom::SysRng> {
    UnwrapErr(getrandom::SysRng)
}

/// Fills `buf` with random bytes from the operating system.
pub fn fill_random(buf: &mut [u8]) {
    use rand_core::Rng;
    os_rng().fill_bytes(buf);
}

/// Returns `N` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    fill_random(&mut out);
    out
}
