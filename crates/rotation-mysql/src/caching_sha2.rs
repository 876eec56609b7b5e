//! The stored form of a `caching_sha2_password` account, computed in the function, so that the
//! server receives a hash instead of the new password
//! (`IDENTIFIED WITH caching_sha2_password AS 0x<hex>`) and the password cannot reach its logs.
//!
//! MySQL 8 and 9 keep `$A$005$<salt><digest>` in `mysql.user.authentication_string` and print it
//! in `SHOW CREATE USER ... AS '...'`: `A` names SHA-256, `005` is the number of rounds ÷ 1000
//! as three upper-case hex digits, the salt is 20 bytes, and the digest is the 43 characters of
//! SHA-256-crypt (Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512", glibc's `$5$`). MySQL
//! differs from glibc in two ways: the whole 20-byte salt is hashed (glibc stops at 16), and the
//! rounds live in `005`, not in a `rounds=` parameter.

use sha2::{Digest, Sha256};

/// The rounds MySQL uses by default (`caching_sha2_password_digest_rounds`), and writes as `005`.
const ROUNDS: u32 = 5_000;

/// The length of a MySQL salt.
pub const SALT_LEN: usize = 20;

/// The longest password MySQL hashes for `caching_sha2_password` (`CRYPT_MAX_PASSWORD_SIZE`);
/// a longer one is left to the server, which refuses it with its own message.
pub const MAX_PASSWORD_BYTES: usize = 256;

/// What [`new_salt`] draws from. MySQL hashes the salt only up to a `$` or NUL, and its hashing
/// also looks for `rounds=` in it; letters and digits can make none of these, and need no
/// quoting in any literal or log line.
const SALT_ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The crypt base-64 alphabet, which differs from RFC 4648's in order and symbols.
const CRYPT_BASE64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The stored form of `password` with `salt`: `$A$005$` + salt + 43 characters of digest.
///
/// # Panics
/// If `salt` has a byte that is not 7-bit ASCII, or is NUL or `$`: MySQL would hash a shorter
/// salt than it stores, and the account could never log in. [`new_salt`] and MySQL's own salts
/// never have one.
pub fn stored_form(password: &[u8], salt: &[u8; SALT_LEN]) -> String {
    assert!(
        salt.iter().all(|&b| b.is_ascii() && b != 0 && b != b'$'),
        "a caching_sha2_password salt is 7-bit ASCII without NUL or '$'"
    );
    let digest = sha256_crypt(password, salt, ROUNDS);
    let mut out = format!("$A${:03X}$", ROUNDS / 1000);
    out.extend(salt.iter().map(|&b| char::from(b)));
    out.push_str(&crypt_base64(&digest));
    out
}

/// A new salt: 20 letters and digits from the operating system's CSPRNG.
pub fn new_salt() -> Result<[u8; SALT_LEN], getrandom::Error> {
    // 248 is the largest multiple of 62 that fits in a byte: bytes at or above it are dropped,
    // so that `b % 62` favours no symbol.
    const LIMIT: u8 = 248;
    let mut salt = [0u8; SALT_LEN];
    let mut filled = 0;
    let mut random = [0u8; 32];
    while filled < SALT_LEN {
        getrandom::fill(&mut random)?;
        for &b in random.iter().filter(|&&b| b < LIMIT) {
            if filled == SALT_LEN {
                break;
            }
            salt[filled] = SALT_ALPHABET[usize::from(b % 62)];
            filled += 1;
        }
    }
    Ok(salt)
}

/// `stored` as a MySQL hex literal (`0x` + upper-case hex of its bytes). A hex literal is read
/// the same whatever the session's `sql_mode` and character set, and MySQL's own stored forms
/// can hold bytes that a quoted literal would have to escape.
pub fn hex_literal(stored: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(2 + 2 * stored.len());
    out.push_str("0x");
    for b in stored.bytes() {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// SHA-256-crypt's digest of `password` with `salt` (used whole: truncating it, as glibc does
/// to 16 bytes, is the caller's business) after `rounds` rounds. The step numbers are those of
/// the specification.
fn sha256_crypt(password: &[u8], salt: &[u8], rounds: u32) -> [u8; 32] {
    let p_len = password.len();

    // Steps 4-8: B = SHA-256(password, salt, password).
    let b: [u8; 32] = Sha256::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize()
        .into();

    // Steps 1-3 and 9-12: A.
    let mut a = Sha256::new();
    a.update(password);
    a.update(salt);
    // As many bytes of B, repeated, as the password has.
    a.update(cycle(&b, p_len));
    // For each bit of the password's length, lowest first: B for a 1, the password for a 0.
    let mut n = p_len;
    while n > 0 {
        if n & 1 == 1 {
            a.update(b);
        } else {
            a.update(password);
        }
        n >>= 1;
    }
    let a: [u8; 32] = a.finalize().into();

    // Steps 13-16: P, the password's length of SHA-256(password repeated once per byte).
    let mut dp = Sha256::new();
    for _ in 0..p_len {
        dp.update(password);
    }
    let p = cycle(&dp.finalize().into(), p_len);

    // Steps 17-20: S, the salt's length of SHA-256(salt repeated 16 + A[0] times).
    let mut ds = Sha256::new();
    for _ in 0..16 + usize::from(a[0]) {
        ds.update(salt);
    }
    let s = cycle(&ds.finalize().into(), salt.len());

    // Step 21: the rounds, which make each guess cost `rounds` hashes.
    let mut c = a;
    for i in 0..rounds {
        let mut h = Sha256::new();
        if i % 2 == 1 {
            h.update(&p);
        } else {
            h.update(c);
        }
        if i % 3 != 0 {
            h.update(&s);
        }
        if i % 7 != 0 {
            h.update(&p);
        }
        if i % 2 == 1 {
            h.update(c);
        } else {
            h.update(&p);
        }
        c = h.finalize().into();
    }
    c
}

/// `len` bytes of `digest` repeated.
fn cycle(digest: &[u8; 32], len: usize) -> Vec<u8> {
    digest.iter().copied().cycle().take(len).collect()
}

/// The specification's 43-character encoding of a SHA-256-crypt digest: its bytes in threes, in
/// the specification's order, each three as four characters, lowest six bits first.
fn crypt_base64(digest: &[u8; 32]) -> String {
    // (high, middle, low) byte of each group of three, as step 22 of the specification lists
    // them; the last group has only two bytes and gives three characters.
    const GROUPS: [(usize, usize, usize); 10] = [
        (0, 10, 20),
        (21, 1, 11),
        (12, 22, 2),
        (3, 13, 23),
        (24, 4, 14),
        (15, 25, 5),
        (6, 16, 26),
        (27, 7, 17),
        (18, 28, 8),
        (9, 19, 29),
    ];
    let mut out = String::with_capacity(43);
    let mut push = |w: u32, chars: usize| {
        for k in 0..chars {
            out.push(char::from(CRYPT_BASE64[((w >> (6 * k)) & 0x3f) as usize]));
        }
    };
    for (hi, mid, lo) in GROUPS {
        let w = u32::from(digest[hi]) << 16 | u32::from(digest[mid]) << 8 | u32::from(digest[lo]);
        push(w, 4);
    }
    push(u32::from(digest[31]) << 8 | u32::from(digest[30]), 3);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vector of Drepper's specification ("Unix crypt using SHA-256 and SHA-512"; the same
    /// table is glibc's `crypt/sha256c-test.c`): glibc's salt is at most 16 bytes, so the
    /// longer salts of the table are given here cut to 16, as glibc cuts them.
    fn drepper(password: &str, salt: &str, rounds: u32, expected: &str) {
        let digest = sha256_crypt(password.as_bytes(), salt.as_bytes(), rounds);
        assert_eq!(crypt_base64(&digest), expected, "{password:?} / {salt:?}");
    }

    #[test]
    fn drepper_vectors_with_the_default_rounds() {
        drepper(
            "Hello world!",
            "saltstring",
            5_000,
            "5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5",
        );
        // The table's "toolongsaltstring", cut to 16.
        drepper(
            "This is just a test",
            "toolongsaltstrin",
            5_000,
            "Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5",
        );
    }

    #[test]
    fn drepper_vectors_with_other_rounds() {
        // "saltstringsaltstring", cut to 16.
        drepper(
            "Hello world!",
            "saltstringsaltst",
            10_000,
            "3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA",
        );
        // A password longer than a digest: B and P are each more than one block.
        drepper(
            "a very much longer text to encrypt.  This one even stretches over morethan one line.",
            "anotherlongsalts",
            1_400,
            "Rx.j8H.h8HjEDGomFU8bDkXm3XIUnzyxf12oP84Bnq1",
        );
        drepper(
            "we have a short salt string but not a short password",
            "short",
            77_777,
            "JiO1O3ZpDAxGJeaDIuqCoEFysAe1mZNJRs3pw0KQRd/",
        );
    }

    fn unhex(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn mysql_manual_stored_form() {
        // The MySQL Reference Manual, "SHOW CREATE USER Statement" (8.0, 8.4, 9.x): after
        // `CREATE USER 'u1'@'localhost' IDENTIFIED BY 'secret'`, with
        // print_identified_with_as_hex, the server shows this. Its salt has bytes a quoted
        // literal would have to escape (0x0A, 0x0C, 0x10).
        let shown = "0x244124303035240C7745603626313D613C4C10633E0A104B1E14135A544A787156\
                     7245614F4872344643546336546F624F6C7861326932752F45622F4F473273597557627139";
        let bytes = unhex(&shown[2..]);
        let salt: [u8; SALT_LEN] = bytes[7..7 + SALT_LEN].try_into().expect("20 bytes");
        let stored = stored_form(b"secret", &salt);
        assert_eq!(stored.as_bytes(), bytes.as_slice());
        assert_eq!(hex_literal(&stored), shown);
    }

    #[test]
    fn the_form_has_mysqls_shape() {
        let salt = new_salt().expect("salt");
        let stored = stored_form(b"p", &salt);
        assert_eq!(stored.len(), 7 + SALT_LEN + 43);
        assert!(stored.starts_with("$A$005$"));
        assert_eq!(&stored.as_bytes()[7..7 + SALT_LEN], salt.as_slice());
        assert!(
            stored[7 + SALT_LEN..]
                .bytes()
                .all(|b| CRYPT_BASE64.contains(&b))
        );
        assert!(hex_literal(&stored).starts_with("0x24412430303524"));
    }

    #[test]
    fn salts_are_letters_and_digits_and_differ() {
        let (a, b) = (new_salt().expect("salt"), new_salt().expect("salt"));
        for salt in [a, b] {
            assert!(salt.iter().all(u8::is_ascii_alphanumeric), "{salt:?}");
        }
        // 62^20 possible salts: two equal ones mean the source is not random.
        assert_ne!(a, b);
    }

    #[test]
    #[should_panic(expected = "salt")]
    fn a_salt_mysql_would_cut_is_refused() {
        let mut salt = [b'a'; SALT_LEN];
        salt[3] = b'$';
        stored_form(b"p", &salt);
    }
}
