//! From a template and a member to the bytes of a message: [`campaign`] (the campaign,
//! prepared once so every path renders alike, and preflight), [`markdown`] (a month's issue in
//! Markdown made MJML blocks for the layout), [`images`] (local image files published under
//! content-hashed names, their references made absolute), [`clicks`] (links rewritten through
//! the click counter, when `[tracking] clicks` is on), [`opens`] (the open pixel put into each
//! member's own copy, when `[tracking] opens` is on), [`render`] (MJML once per campaign, then each
//! member's variables), [`message`] (MIME and the list headers), [`dkim`] (the signature over
//! the finished bytes), [`tokens`] (unsubscribe and bounce tokens), [`lint`] (the inbox
//! rules `check` and `send` apply before anything goes; [`variables`] and [`attributes`]
//! hold its rules on values, empty columns and MJML attributes), [`sources`] (what a campaign
//! is rendered from, frozen at its first send), [`edition`] (the web edition: the bulletin
//! with no member data, rendered at the first send) and [`next_issue`] (`mailshot new`: next
//! month's issue started from the last one).

pub mod attributes;
pub mod campaign;
pub mod clicks;
pub mod dkim;
pub mod edition;
pub mod images;
pub mod lint;
pub mod markdown;
pub mod message;
pub mod next_issue;
pub mod opens;
pub mod render;
pub mod sources;
pub mod tokens;
pub mod variables;
