//! One rule for when two addresses are the same member: [`key`].
//!
//! Every place that compares addresses or keys anything on one (the member list's duplicate
//! check, import's merge, the suppression list, unsubscribe tokens, the unsubscribe service,
//! the addresses a send skips) goes through [`key`], so an unsubscribe recorded from one
//! spelling of an address is honoured for every other spelling of it.
//!
//! The rule:
//! - the **domain** goes to its ASCII form by IDNA/UTS-46 (`Bücher.Example` ->
//!   `xn--bcher-kva.example`), which also lowercases it; a domain IDNA refuses is lowercased;
//! - the **local part** is put in Unicode normalization form C (so `É` typed as `E` + U+0301
//!   equals the precomposed `É`) and case-folded character by character (Unicode simple case
//!   folding: `Ünal` = `ünal`, `Σ` = `ς` = `σ`; `ß` stays `ß`, so `straße` and `strasse`
//!   stay two addresses), then put in NFC again (folding can decompose).
//!
//! A local part may not hold characters that would make one address the same as a different
//! one by a rule the receiving server may not share: [`refused_character`] refuses
//! compatibility characters (U+212A KELVIN SIGN would otherwise give the same key, and so the
//! same unsubscribe token, as `K`; fullwidth letters; ligatures) at the edge, where lists and
//! imports are read. Decomposed accents are not refused: they are what macOS writes.

use std::borrow::Cow;

use icu_normalizer::ComposingNormalizerBorrowed;

const NFC: ComposingNormalizerBorrowed<'static> = ComposingNormalizerBorrowed::new_nfc();
const NFKC: ComposingNormalizerBorrowed<'static> = ComposingNormalizerBorrowed::new_nfkc();

/// The key two spellings of one address share: see the module doc. Total: any text has a key.
pub fn key(address: &str) -> String {
    let address = address.trim();
    if address.is_ascii() {
        // Every ASCII address: UTS-46 maps an ASCII domain by lowercasing it (and checks the
        // `xn--` labels, which changes no key), and NFC changes no ASCII.
        return address.to_ascii_lowercase();
    }
    let (local, domain) = match address.rsplit_once('@') {
        Some((l, d)) => (l, Some(d)),
        None => (address, None),
    };
    let mut out = local_key(local).into_owned();
    if let Some(domain) = domain {
        out.push('@');
        out.push_str(&domain_key(domain));
    }
    out
}

/// A domain's ASCII form (IDNA/UTS-46), lowercased; lowercased as written if IDNA refuses it.
pub fn domain_key(domain: &str) -> Cow<'_, str> {
    if domain.is_ascii() && !domain.bytes().any(|b| b.is_ascii_uppercase()) {
        return Cow::Borrowed(domain);
    }
    if domain.starts_with('[') {
        return Cow::Owned(domain.to_ascii_lowercase());
    }
    match idna::domain_to_ascii(domain) {
        Ok(ascii) if !ascii.is_empty() => Cow::Owned(ascii),
        _ => Cow::Owned(domain.to_lowercase()),
    }
}

fn local_key(local: &str) -> Cow<'_, str> {
    if local.is_ascii() {
        return match local.bytes().any(|b| b.is_ascii_uppercase()) {
            true => Cow::Owned(local.to_ascii_lowercase()),
            false => Cow::Borrowed(local),
        };
    }
    // Lowercasing is simple case folding but for final sigma (the compatibility characters
    // where the two differ, such as U+017F LONG S, are refused at the edge).
    let lower: String = NFC
        .normalize(local)
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'ς' { 'σ' } else { c })
        .collect();
    Cow::Owned(NFC.normalize(&lower).into_owned())
}

/// `text` in Unicode normalization form C: how an address is kept, whichever way its
/// accents were typed (RFC 6531 asks for NFC in addresses).
pub fn nfc(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        return Cow::Borrowed(text);
    }
    NFC.normalize(text)
}

/// The first character of `local` that is a compatibility character (NFKC changes it) or a
/// canonical singleton (NFC replaces it with another character, as U+212A KELVIN SIGN by
/// `K`): such a local part reads as another address to some systems and not to others.
pub fn refused_character(local: &str) -> Option<char> {
    if local.is_ascii() {
        return None;
    }
    let mut buf = [0u8; 4];
    local.chars().find(|c| {
        let s: &str = c.encode_utf8(&mut buf);
        !NFC.is_normalized(s) || !NFKC.is_normalized(s)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn spellings_of_one_address_share_a_key() {
        assert_eq!(key("Ann@Example.ORG"), "ann@example.org");
        assert_eq!(key("Ünal@example.org"), key("ünal@example.org"));
        assert_eq!(key("Émile@example.org"), "émile@example.org");
        // Decomposed (macOS) and precomposed accents.
        assert_eq!(key("E\u{301}mile@example.org"), key("émile@example.org"));
        assert_eq!(key("zoë@Bücher.Example"), "zoë@xn--bcher-kva.example");
        assert_eq!(key("zoë@xn--bcher-kva.example"), key("zoë@bücher.example"));
        assert_eq!(key(" ann@example.org "), "ann@example.org");
    }

    #[test]
    fn different_addresses_keep_different_keys() {
        assert_ne!(key("kate@example.org"), key("kāte@example.org"));
        assert_ne!(key("strasse@example.org"), key("straße@example.org"));
        assert_ne!(key("ann@example.org"), key("ann@example.com"));
    }

    #[test]
    fn compatibility_characters_are_refused_in_the_local_part() {
        assert_eq!(refused_character("\u{212A}ate"), Some('\u{212A}'));
        assert_eq!(refused_character("ｋate"), Some('ｋ'));
        assert_eq!(refused_character("ﬁona"), Some('ﬁ'));
        assert_eq!(refused_character("\u{2126}mega"), Some('\u{2126}'));
        assert_eq!(refused_character("ünal"), None);
        assert_eq!(refused_character("u\u{308}nal"), None);
        assert_eq!(refused_character("kate"), None);
    }

    /// Each character in upper (or lower) case where that is one character for one.
    fn recase(s: &str, upper: bool) -> String {
        s.chars()
            .map(|c| {
                let other: Vec<char> = match upper {
                    true => c.to_uppercase().collect(),
                    false => c.to_lowercase().collect(),
                };
                match other[..] {
                    [o] if o.to_lowercase().eq(c.to_lowercase()) || c == 'ς' => o,
                    _ => c,
                }
            })
            .collect()
    }

    fn address() -> impl Strategy<Value = String> {
        let local = prop::collection::vec(
            prop_oneof![
                Just("a"),
                Just("Z"),
                Just("k"),
                Just("K"),
                Just("é"),
                Just("É"),
                Just("e\u{301}"),
                Just("E\u{301}"),
                Just("ü"),
                Just("Ü"),
                Just("ß"),
                Just("ẞ"),
                Just("Σ"),
                Just("ς"),
                Just("İ"),
                Just("."),
                Just("+"),
                Just("1"),
            ],
            1..8,
        );
        let domain = prop_oneof![
            Just("example.org"),
            Just("Example.ORG"),
            Just("bücher.example"),
            Just("BÜCHER.example"),
            Just("xn--bcher-kva.example"),
        ];
        (local, domain).prop_map(|(l, d)| format!("{}@{d}", l.concat()))
    }

    proptest! {
        #[test]
        fn the_key_is_stable_and_ignores_case_and_normal_form(a in address()) {
            let k = key(&a);
            prop_assert_eq!(key(&k), k.clone(), "a key is its own key");
            prop_assert_eq!(key(&recase(&a, true)), k.clone());
            prop_assert_eq!(key(&recase(&a, false)), k.clone());
            let nfd: String = icu_normalizer::DecomposingNormalizerBorrowed::new_nfd()
                .normalize(&a)
                .into_owned();
            prop_assert_eq!(key(&nfd), k.clone());
            prop_assert!(k.rsplit_once('@').unwrap().1.is_ascii(), "the domain goes ASCII");
        }

        #[test]
        fn ascii_addresses_differing_beyond_case_keep_different_keys(
            a in "[a-zA-Z0-9.+]{1,6}@[a-z]{1,4}\\.org",
            b in "[a-zA-Z0-9.+]{1,6}@[a-z]{1,4}\\.org",
        ) {
            prop_assert_eq!(key(&a) == key(&b), a.eq_ignore_ascii_case(&b));
        }
    }
}
