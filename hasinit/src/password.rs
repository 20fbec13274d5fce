//! Generated passwords for the first admin.

use shared::Secret;

/// Letters and digits without look-alikes (0/O, 1/l/I): easy to copy from a terminal.
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
/// 24 characters of 57: about 140 bits.
const LENGTH: usize = 24;

/// A random password from the OS random source, with at least one upper-case letter, one
/// lower-case letter and one digit (for servers with a composition rule).
pub fn generate() -> Result<Secret, getrandom::Error> {
    loop {
        let mut out = String::with_capacity(LENGTH);
        let mut bytes = [0u8; 64];
        while out.len() < LENGTH {
            getrandom::fill(&mut bytes)?;
            // Rejection sampling keeps every character equally likely.
            let limit = (256 / ALPHABET.len() * ALPHABET.len()) as u8;
            for b in bytes.iter().filter(|b| **b < limit) {
                if out.len() == LENGTH {
                    break;
                }
                out.push(ALPHABET[*b as usize % ALPHABET.len()] as char);
            }
        }
        let has = |f: fn(&char) -> bool| out.chars().any(|c| f(&c));
        if has(char::is_ascii_uppercase)
            && has(char::is_ascii_lowercase)
            && has(char::is_ascii_digit)
        {
            return Ok(Secret::new(out));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn passwords_are_long_mixed_and_different_each_time() {
        let mut seen = HashSet::new();
        for _ in 0..100 {
            let p = generate().expect("random source");
            let p = p.expose();
            assert_eq!(p.len(), LENGTH);
            assert!(p.bytes().all(|b| ALPHABET.contains(&b)), "{p}");
            assert!(p.chars().any(|c| c.is_ascii_digit()), "{p}");
            assert!(seen.insert(p.to_string()), "repeated {p}");
        }
    }
}
