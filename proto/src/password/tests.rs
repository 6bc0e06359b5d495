use std::collections::HashSet;

use proptest::prelude::*;
use rand_core::{CryptoRng, OsRng, RngCore};

use super::*;

const SESSION_A: [u8; 32] = [1; 32];
const SESSION_B: [u8; 32] = [2; 32];

fn text(password: &OneTimePassword) -> String {
    password.display_grouped().replace('-', "")
}

#[test]
fn password_entropy_is_at_least_40_bits_and_length_at_least_8() {
    let bits = PASSWORD_LEN as f64 * (ALPHABET.len() as f64).log2();
    assert!(bits >= 40.0, "{bits} bits");
    const { assert!(PASSWORD_LEN >= 8) };
}

#[test]
fn alphabet_has_no_look_alikes_or_repeats() {
    for ch in b"0O1IL" {
        assert!(!ALPHABET.contains(ch), "{}", char::from(*ch));
    }
    let unique: HashSet<_> = ALPHABET.iter().collect();
    assert_eq!(unique.len(), ALPHABET.len());
    assert_eq!(ALPHABET.len(), 31);
}

#[test]
fn generated_passwords_have_the_right_length_and_alphabet() {
    for _ in 0..200 {
        let shown = text(&OneTimePassword::generate(&mut OsRng));
        assert_eq!(shown.len(), PASSWORD_LEN);
        assert!(shown.bytes().all(|b| ALPHABET.contains(&b)), "{shown}");
    }
}

#[test]
fn generated_passwords_differ_across_calls() {
    let seen: HashSet<String> = (0..100)
        .map(|_| text(&OneTimePassword::generate(&mut OsRng)))
        .collect();
    assert_eq!(seen.len(), 100);
}

/// Replays a fixed byte sequence, to see which bytes generation accepts.
struct Script(Vec<u8>, usize);

impl RngCore for Script {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self.0[self.1 % self.0.len()];
            self.1 += 1;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for Script {}

#[test]
fn generation_rejects_biased_bytes_instead_of_wrapping() {
    // 248..=255 would map to the first 8 characters a second time (modulo
    // bias); they must be skipped, not used.
    let mut rng = Script((248..=255).chain([0, 30]).collect(), 0);
    let shown = text(&OneTimePassword::generate(&mut rng));
    assert_eq!(shown, "2Z2Z2Z2Z2Z");
}

#[test]
fn every_character_is_equally_likely_from_a_uniform_byte() {
    let mut preimages = [0usize; 31];
    for byte in 0..=255u8 {
        if let Some(ch) = alphabet_char(byte) {
            preimages[ALPHABET.iter().position(|&a| a == ch).unwrap()] += 1;
        }
    }
    assert_eq!(preimages, [8; 31]);
}

#[test]
fn parse_round_trips_the_display_form() {
    let password = OneTimePassword::generate(&mut OsRng);
    let shown = password.display_grouped();
    assert_eq!(shown.len(), PASSWORD_LEN + 1);
    assert_eq!(shown.as_bytes()[PASSWORD_LEN / 2], b'-');
    assert_eq!(OneTimePassword::parse(&shown).unwrap(), password);
}

#[test]
fn parse_accepts_lower_case_with_spaces_and_dashes() {
    let expected = OneTimePassword::parse("ABCDE-FGHJK").unwrap();
    for typed in [
        "abcde fghjk",
        " a b c d e - f g h j k ",
        "AbCdEfGhJk",
        "abcde\tfghjk\n",
    ] {
        assert_eq!(
            OneTimePassword::parse(typed).unwrap(),
            expected,
            "{typed:?}"
        );
    }
    assert_ne!(OneTimePassword::parse("ABCDE-FGHJM").unwrap(), expected);
}

#[test]
fn parse_rejects_look_alikes_by_name() {
    for bad in ['O', '0', 'I', '1', 'L', 'o', 'i', 'l'] {
        let typed = format!("ABCD{bad}FGHJK");
        let err = OneTimePassword::parse(&typed).unwrap_err();
        assert_eq!(err, PasswordError::InvalidCharacter(bad));
        assert!(err.to_string().contains(&format!("'{bad}'")), "{err}");
    }
}

#[test]
fn parse_rejects_other_characters_without_mapping_them() {
    for bad in ['_', 'é', '\u{0}', 'Ａ'] {
        let typed = format!("ABCDE{bad}GHJK");
        assert_eq!(
            OneTimePassword::parse(&typed).unwrap_err(),
            PasswordError::InvalidCharacter(bad)
        );
    }
}

#[test]
fn parse_rejects_the_wrong_length() {
    assert_eq!(
        OneTimePassword::parse("ABCDE-FGHJ").unwrap_err(),
        PasswordError::WrongLength { len: 9 }
    );
    assert_eq!(
        OneTimePassword::parse("ABCDE-FGHJKM").unwrap_err(),
        PasswordError::WrongLength { len: 11 }
    );
    assert_eq!(
        OneTimePassword::parse(" - ").unwrap_err(),
        PasswordError::WrongLength { len: 0 }
    );
}

#[test]
fn debug_output_never_shows_the_password() {
    let password = OneTimePassword::parse("ABCDE-FGHJK").unwrap();
    assert_eq!(format!("{password:?}"), "OneTimePassword(<redacted>)");
    let stretched = password
        .stretch(&SESSION_A, &StretchParams::fast_for_tests())
        .unwrap();
    assert_eq!(format!("{stretched:?}"), "StretchedPassword(<redacted>)");
}

#[test]
fn stretch_is_deterministic_per_password_and_session() {
    let params = StretchParams::fast_for_tests();
    let a = OneTimePassword::parse("ABCDE-FGHJK").unwrap();
    let a_again = OneTimePassword::parse("abcdefghjk").unwrap();
    let b = OneTimePassword::parse("ABCDE-FGHJM").unwrap();
    let stretch = |p: &OneTimePassword, s| *p.stretch(s, &params).unwrap().as_bytes();

    assert_eq!(stretch(&a, &SESSION_A), stretch(&a_again, &SESSION_A));
    assert_ne!(stretch(&a, &SESSION_A), stretch(&a, &SESSION_B));
    assert_ne!(stretch(&a, &SESSION_A), stretch(&b, &SESSION_A));
}

#[test]
fn stretch_uses_argon2id_with_the_session_salt() {
    let params = StretchParams::fast_for_tests();
    let password = OneTimePassword::parse("ABCDE-FGHJK").unwrap();
    let salt = Sha256::new()
        .chain_update(b"assent/1 password salt")
        .chain_update(SESSION_A)
        .finalize();
    let mut expected = [0u8; 32];
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(1024, 1, 1, Some(32)).unwrap(),
    )
    .hash_password_into(b"ABCDEFGHJK", &salt, &mut expected)
    .unwrap();
    assert_eq!(
        password.stretch(&SESSION_A, &params).unwrap().as_bytes(),
        &expected
    );
}

#[test]
fn stretch_depends_on_the_params() {
    let password = OneTimePassword::parse("ABCDE-FGHJK").unwrap();
    let fast = StretchParams::fast_for_tests();
    let slower = StretchParams {
        iterations: 2,
        ..fast
    };
    assert_ne!(
        password.stretch(&SESSION_A, &fast).unwrap().as_bytes(),
        password.stretch(&SESSION_A, &slower).unwrap().as_bytes()
    );
}

#[test]
fn shipped_params_are_the_documented_cost_and_valid() {
    let shipped = StretchParams::default();
    assert_eq!(
        shipped,
        StretchParams {
            memory_kib: 65536,
            iterations: 3,
            parallelism: 1
        }
    );
    assert!(shipped.argon2().is_ok());
}

#[test]
fn invalid_params_are_an_error_not_a_panic() {
    let password = OneTimePassword::parse("ABCDE-FGHJK").unwrap();
    let broken = StretchParams {
        memory_kib: 0,
        iterations: 0,
        parallelism: 0,
    };
    assert!(matches!(
        password.stretch(&SESSION_A, &broken),
        Err(PasswordError::InvalidStretchParams(_))
    ));
}

proptest! {
    #[test]
    fn parse_never_panics(input in ".{0,64}") {
        let _ = OneTimePassword::parse(&input);
    }

    #[test]
    fn parse_accepts_exactly_the_alphabet(chars in proptest::collection::vec(any::<char>(), 10)) {
        let input: String = chars.iter().collect();
        let valid = chars
            .iter()
            .all(|c| u8::try_from(c.to_ascii_uppercase()).is_ok_and(|b| ALPHABET.contains(&b)));
        match OneTimePassword::parse(&input) {
            Ok(p) => {
                prop_assert!(valid);
                prop_assert_eq!(text(&p), input.to_ascii_uppercase());
            }
            Err(PasswordError::InvalidCharacter(_)) => prop_assert!(!valid),
            // Whitespace and '-' are skipped, so the count can come up short.
            Err(PasswordError::WrongLength { .. }) => {
                prop_assert!(chars.iter().any(|c| c.is_whitespace() || *c == '-'));
            }
            Err(e) => prop_assert!(false, "unexpected {e}"),
        }
    }
}
