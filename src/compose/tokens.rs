//! Unsubscribe tokens: the address plus HMAC-SHA256 over the list and the address, so the link
//! in a message (and its `List-Unsubscribe` header) identifies list and member and cannot be
//! forged, without showing the address in the URL.
//!
//! The secret comes from an environment variable (`unsubscribe.secret_env`), never the config
//! file. Tokens are compared in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};

use crate::config::{Config, Transport};
use crate::error::{Error, Result};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Bytes of the MAC kept in a token: 128 bits, 22 URL-safe characters.
const TOKEN_BYTES: usize = 16;

/// Used only when the secret is unset and nothing leaves the machine (the file transport).
const DEVELOPMENT_SECRET: &str = "mailshot development secret: not for real mail";

/// How a test copy's token begins. A member's token never does: its first part is base64 of
/// an address, never a single character.
pub const TEST_PREFIX: &str = "t.";

#[derive(Clone)]
pub struct Tokens {
    secret: Vec<u8>,
    list_id: String,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("list_id", &self.list_id)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    pub fn new(secret: &[u8], list_id: &str) -> Tokens {
        Tokens {
            secret: secret.to_vec(),
            list_id: list_id.to_string(),
        }
    }

    /// The tokens of `config`'s list. Without the secret in the environment, `allow_dev`
    /// permits a fixed development secret (with a warning for the caller to print).
    pub fn from_config(config: &Config, allow_dev: bool) -> Result<(Tokens, Option<String>)> {
        let var = &config.unsubscribe.secret_env;
        match std::env::var(var) {
            Ok(s) if s.len() >= 16 => Ok((Tokens::new(s.as_bytes(), &config.list_id), None)),
            Ok(_) => Err(Error::input(format!(
                "environment variable `{var}` is too short: the unsubscribe secret needs at least 16 characters"
            ))),
            Err(_) if allow_dev && config.transport == Transport::File => Ok((
                Tokens::new(DEVELOPMENT_SECRET.as_bytes(), &config.list_id),
                Some(format!(
                    "`{var}` is not set: unsubscribe links use a development secret; set it before sending for real"
                )),
            )),
            Err(_) => Err(Error::input(format!(
                "environment variable `{var}` is not set: it must hold the secret that signs unsubscribe links (see `unsubscribe.secret_env` in `{}`)",
                crate::error::show(&config.path)
            ))),
        }
    }

    fn mac(&self, parts: &[&str]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length");
        for p in parts {
            mac.update(p.as_bytes());
            mac.update(b"\n");
        }
        mac
    }

    fn tag(&self, key: &str) -> String {
        let tag = self.mac(&[&self.list_id, key]).finalize().into_bytes();
        URL_SAFE_NO_PAD.encode(&tag[..TOKEN_BYTES])
    }

    /// The unsubscribe token of `email` on this list: the address's key
    /// ([`crate::address::key`], so every spelling of one address has one token and no two
    /// addresses share one) in base64url, so no address appears in the link for spam filters
    /// to flag, and its MAC: `<key>.<mac>`.
    pub fn token(&self, email: &str) -> String {
        let key = crate::address::key(email);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(key.as_bytes()),
            self.tag(&key)
        )
    }

    /// The key of the address a token stands for, if the token is genuine (compared in
    /// constant time). Tokens minted before keys (the address lowercased, MAC over it) are
    /// still genuine: for an ASCII address they are the same token.
    pub fn verify(&self, token: &str) -> Option<String> {
        let (addr, tag) = token.split_once('.')?;
        let email = String::from_utf8(URL_SAFE_NO_PAD.decode(addr.as_bytes()).ok()?).ok()?;
        let bytes = URL_SAFE_NO_PAD.decode(tag.as_bytes()).ok()?;
        if bytes.len() != TOKEN_BYTES {
            return None;
        }
        let genuine = |signed: &str| {
            self.mac(&[&self.list_id, signed])
                .verify_truncated_left(&bytes)
                .is_ok()
        };
        (genuine(&email) || genuine(&email.to_lowercase())).then(|| crate::address::key(&email))
    }

    /// The token of a `--test-to` copy of `campaign` sent to `to`: `t.<campaign and address>.<mac>`,
    /// under its own MAC domain, so it never stands for a member. The unsubscribe service
    /// recognises it and changes nothing.
    pub fn test_token(&self, campaign: &str, to: &str) -> String {
        let to = crate::address::key(to);
        format!("{TEST_PREFIX}{}", self.signed("test", campaign, &to))
    }

    /// The campaign and address of a genuine test token (see [`Tokens::test_token`]).
    pub fn verify_test(&self, token: &str) -> Option<(String, String)> {
        self.verify_signed("test", token.strip_prefix(TEST_PREFIX)?)
    }

    /// The token of a tracked link (`{base_url}/c/<token>`, see [`crate::compose::clicks`]):
    /// campaign and URL in base64url and a MAC over both under its own domain, so it
    /// redirects only to the URL it was minted for: `<campaign and url>.<mac>`.
    pub fn click_token(&self, campaign: &str, url: &str) -> String {
        self.signed("click", campaign, url)
    }

    /// The campaign and URL of a genuine link token (see [`Tokens::click_token`]).
    pub fn verify_click(&self, token: &str) -> Option<(String, String)> {
        self.verify_signed("click", token)
    }

    /// With `[tracking] per_member`: the member's part of a tracked link, appended to the
    /// link's token after `~`: the member's key and a MAC over campaign and key.
    pub fn click_member(&self, campaign: &str, email: &str) -> String {
        self.signed("click member", campaign, &crate::address::key(email))
    }

    /// The campaign and member key of a genuine member part (see [`Tokens::click_member`]).
    pub fn verify_click_member(&self, part: &str) -> Option<(String, String)> {
        self.verify_signed("click member", part)
    }

    /// The token of a member's open pixel (`{base_url}/o/<token>.gif`, see
    /// [`crate::compose::opens`]): campaign and the member's address key (`email`, with
    /// `[tracking] per_member`; else empty, one token for the whole campaign) and a MAC over
    /// both under its own domain.
    pub fn open_token(&self, campaign: &str, email: Option<&str>) -> String {
        let key = email.map(crate::address::key).unwrap_or_default();
        self.signed("open", campaign, &key)
    }

    /// The campaign and member key (empty: nobody named) of a genuine open token.
    pub fn verify_open(&self, token: &str) -> Option<(String, String)> {
        self.verify_signed("open", token)
    }

    /// `<base64url of campaign and value>.<mac>`, the MAC over the list, campaign and value
    /// under `domain`.
    fn signed(&self, domain: &str, campaign: &str, value: &str) -> String {
        let tag = self
            .mac(&[domain, &self.list_id, campaign, value])
            .finalize()
            .into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(format!("{campaign}\n{value}").as_bytes()),
            URL_SAFE_NO_PAD.encode(&tag[..TOKEN_BYTES])
        )
    }

    fn verify_signed(&self, domain: &str, token: &str) -> Option<(String, String)> {
        let (data, tag) = token.split_once('.')?;
        let data = String::from_utf8(URL_SAFE_NO_PAD.decode(data.as_bytes()).ok()?).ok()?;
        let (campaign, value) = data.split_once('\n')?;
        let bytes = URL_SAFE_NO_PAD.decode(tag.as_bytes()).ok()?;
        if bytes.len() != TOKEN_BYTES {
            return None;
        }
        self.mac(&[domain, &self.list_id, campaign, value])
            .verify_truncated_left(&bytes)
            .ok()?;
        Some((campaign.to_string(), value.to_string()))
    }

    /// A short token for the envelope sender (`bounces+{token}@...`), naming campaign and
    /// member: 16 hex digits of an HMAC. Not stored: `mailshot bounces` recomputes it for
    /// every message sent (`bounce::Reader`), so only a genuine one matches.
    pub fn bounce_token(&self, campaign: &str, email: &str) -> String {
        let tag = self
            .mac(&["bounce", campaign, &crate::address::key(email)])
            .finalize()
            .into_bytes();
        tag[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_for_their_address_and_list() {
        let t = Tokens::new(b"0123456789abcdef-secret", "news.example.org");
        let tok = t.token("Ann@Example.org");
        assert!(!tok.contains('@') && !tok.contains("ann"));
        assert_eq!(t.verify(&tok).as_deref(), Some("ann@example.org"));
        assert_eq!(
            Tokens::new(b"0123456789abcdef-secret", "other.example.org").verify(&tok),
            None
        );
        assert_eq!(
            Tokens::new(b"another-secret-0123456", "news.example.org").verify(&tok),
            None
        );
        // Every spelling of an address has the one token; no other address shares it.
        assert_eq!(t.token("ÜNAL@Example.org"), t.token("ünal@example.org"));
        assert_eq!(
            t.verify(&t.token("Ünal@example.org")).as_deref(),
            Some("ünal@example.org")
        );
        // Another member's address with this member's MAC.
        let (_, tag) = tok.split_once('.').unwrap();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(b"bob@example.org"));
        assert_eq!(t.verify(&forged), None);
        let mut tampered = tok.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(t.verify(std::str::from_utf8(&tampered).unwrap()), None);
        for bad in ["", ".", "abc", "not base64!.x", &tok[..tok.len() - 1]] {
            assert_eq!(t.verify(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_test_token_never_stands_for_a_member() {
        let t = Tokens::new(b"0123456789abcdef-secret", "news.example.org");
        let tok = t.test_token("2023-04", "Chair@Example.org");
        assert!(tok.starts_with("t."));
        assert_eq!(t.verify(&tok), None);
        assert_eq!(
            t.verify_test(&tok),
            Some(("2023-04".to_string(), "chair@example.org".to_string()))
        );
        // A member's token is not a test token, nor is a test token of another list.
        assert_eq!(t.verify_test(&t.token("chair@example.org")), None);
        assert_eq!(
            Tokens::new(b"0123456789abcdef-secret", "other.example.org").verify_test(&tok),
            None
        );
        // Another campaign or address under this MAC: refused.
        let (_, tag) = tok.rsplit_once('.').unwrap();
        let forged = format!(
            "t.{}.{tag}",
            URL_SAFE_NO_PAD.encode(b"2023-05\nchair@example.org")
        );
        assert_eq!(t.verify_test(&forged), None);
        assert_eq!(t.verify_test(&tok[..tok.len() - 1]), None);
    }

    #[test]
    fn a_link_token_redirects_only_to_its_url_in_its_campaign() {
        let t = Tokens::new(b"0123456789abcdef-secret", "news.example.org");
        let url = "https://example.org/a?b=1&c=\u{e9}#top";
        let tok = t.click_token("2023-04", url);
        assert!(
            tok.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        );
        assert_eq!(
            t.verify_click(&tok),
            Some(("2023-04".to_string(), url.to_string()))
        );
        // Another URL or campaign under this MAC, a changed byte, a cut: refused.
        let (_, tag) = tok.split_once('.').unwrap();
        for (campaign, other) in [("2023-04", "https://evil.example/"), ("2023-05", url)] {
            let data = URL_SAFE_NO_PAD.encode(format!("{campaign}\n{other}"));
            assert_eq!(t.verify_click(&format!("{data}.{tag}")), None);
        }
        assert_eq!(t.verify_click(&tok[..tok.len() - 1]), None);
        assert_eq!(t.verify_click(&tok.replacen('.', "", 1)), None);
        // Not an unsubscribe, a test or a member token, nor one of another list.
        assert_eq!(t.verify(&tok), None);
        assert_eq!(t.verify_click_member(&tok), None);
        assert_eq!(
            t.verify_click(&t.test_token("2023-04", "a@example.org")[2..]),
            None
        );
        let other = Tokens::new(b"0123456789abcdef-secret", "other.example.org");
        assert_eq!(other.verify_click(&tok), None);
        let member = t.click_member("2023-04", "Ann@Example.org");
        assert_eq!(
            t.verify_click_member(&member),
            Some(("2023-04".to_string(), "ann@example.org".to_string()))
        );
        assert_eq!(t.verify_click(&member), None);
    }

    #[test]
    fn an_open_token_names_its_campaign_and_member_and_nothing_else_verifies_as_one() {
        let t = Tokens::new(b"0123456789abcdef-secret", "news.example.org");
        let anyone = t.open_token("2023-04", None);
        let ann = t.open_token("2023-04", Some("Ann@Example.org"));
        assert_eq!(
            t.verify_open(&anyone),
            Some(("2023-04".to_string(), String::new()))
        );
        assert_eq!(
            t.verify_open(&ann),
            Some(("2023-04".to_string(), "ann@example.org".to_string()))
        );
        // Ann's MAC on Bob's key, a cut, a click member part: refused.
        let (_, tag) = ann.split_once('.').unwrap();
        let bob = URL_SAFE_NO_PAD.encode("2023-04\nbob@example.org");
        assert_eq!(t.verify_open(&format!("{bob}.{tag}")), None);
        assert_eq!(t.verify_open(&ann[..ann.len() - 1]), None);
        let member = t.click_member("2023-04", "ann@example.org");
        assert_eq!(t.verify_open(&member), None);
        assert_eq!(t.verify_click_member(&ann), None);
    }
}
