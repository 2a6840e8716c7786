//! Hostile input never panics or corrupts: properties of validation and record encoding over
//! arbitrary Unicode, empty and huge fields, and control characters.

use commentguard::comment::{
    ClientContext, CommentId, Idempotency, Reason, ReasonCode, Receipt, Status, StoredComment,
    Submission, Verdict,
};
use commentguard::moderation::Decision;
use commentguard::store::record;
use commentguard::validate::{self, SubmissionInput, validate};
use proptest::prelude::*;

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "\\PC{0,300}",
        "[\\x00-\\x1f a-z@.]{0,40}",
        (0usize..70_000).prop_map(|n| "x".repeat(n)),
    ]
}

fn no_controls(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever arrives, validation answers, and what it accepts keeps every rule.
    #[test]
    fn accepted_submissions_keep_every_rule(
        post_id in any_text(), parent_id in any_text(), author_name in any_text(),
        author_email in any_text(), author_url in any_text(), content in any_text(),
        ip in any_text(), user_agent in any_text(), referrer in any_text(), honeypot in any_text(),
        post_title in any_text(),
    ) {
        let input = SubmissionInput {
            post_id: &post_id, post_title: &post_title, parent_id: &parent_id, author_name: &author_name,
            author_email: &author_email, author_url: &author_url, content: &content,
            ip: &ip, user_agent: &user_agent, referrer: &referrer, honeypot: &honeypot,
        };
        match validate(&input) {
            Ok(s) => {
                prop_assert!(!s.post_id.is_empty() && s.post_id.len() <= validate::MAX_ID_BYTES);
                if let Some(title) = &s.post_title {
                    prop_assert!(title.len() <= validate::MAX_TITLE_BYTES && no_controls(title));
                }
                prop_assert!(!s.author_name.is_empty() && s.author_name.len() <= validate::MAX_NAME_BYTES);
                prop_assert!(s.author_email.len() <= validate::MAX_EMAIL_BYTES && s.author_email.contains('@'));
                prop_assert!(!s.content.trim().is_empty() && s.content.len() <= validate::MAX_CONTENT_BYTES);
                prop_assert!(no_controls(&s.post_id) && no_controls(&s.author_name) && no_controls(&s.author_email));
                prop_assert!(s.content.chars().all(|c| !c.is_control() || c == '\n' || c == '\t'));
                prop_assert!(!commentguard::privacy::contains_email(&s.author_name));
                if let Some(url) = &s.author_url {
                    prop_assert!(url.starts_with("http://") || url.starts_with("https://"));
                    prop_assert!(url.len() <= validate::MAX_URL_BYTES);
                }
            }
            Err(violations) => prop_assert!(!violations.is_empty()),
        }
    }

    /// Everything a real form could send within the rules is accepted.
    #[test]
    fn well_formed_submissions_are_accepted(
        post_id in "[a-z0-9/-]{1,60}",
        author_name in "[A-Za-zÀ-ÿ][A-Za-zÀ-ÿ .'-]{0,40}",
        // No `..` in the local part, and no label starting `xn--`: that claims punycode, which
        // random letters after it rarely are, and such a domain is rightly refused.
        email in "[a-z0-9]([a-z0-9_+-]|\\.[a-z0-9_+-]){0,10}[a-z0-9]@[a-wyz][a-z0-9-]{0,15}[a-z0-9]\\.(com|org|de|co\\.uk)",
        url in prop::option::of("https://[a-wyz][a-z0-9-]{0,15}[a-z0-9]\\.(com|net)(/[a-z0-9_-]{0,20})?"),
        content in "[A-Za-z0-9À-ÿ][A-Za-z0-9À-ÿ ,.!?;:()\\n\\t'\"-]{0,2000}",
        ip in prop::option::of(any::<std::net::IpAddr>()),
    ) {
        let ip = ip.map(|ip| ip.to_string()).unwrap_or_default();
        let url = url.unwrap_or_default();
        let input = SubmissionInput {
            post_id: &post_id, author_name: &author_name, author_email: &email,
            post_title: "",
            author_url: &url, content: &content, ip: &ip, ..Default::default()
        };
        let accepted = validate(&input);
        prop_assert!(accepted.is_ok(), "{:?}", accepted.err());
    }

    /// Records round-trip exactly, whatever text they hold.
    #[test]
    fn records_round_trip(
        post_id in any::<String>(), author_name in any::<String>(), email in any::<String>(),
        content in any::<String>(), url in prop::option::of(any::<String>()),
        post_title in prop::option::of(".{1,40}"),
        score in 0f32..=1f32, status in 1u8..=4, created in any::<u64>(), hash in any::<[u8; 32]>(),
        // A decision always names its moderator (an empty name reads as "no decision").
        decided in prop::option::of(("[a-z]{1,12}", 1u64.., prop::option::of(1u8..=3))),
        reasons in prop::collection::vec((0..ReasonCode::ALL.len(), any::<String>(), -1e6f32..1e6f32), 0..4),
        key in prop::option::of((".{1,40}", any::<[u8; 32]>())),
        shadow in prop::option::of(1u8..=3),
    ) {
        let comment = StoredComment {
            id: CommentId::generate(),
            created_at_ms: created,
            submission: Submission {
                post_id, post_title, parent_id: Some(CommentId::generate()), author_name,
                author_email: email, author_url: url.filter(|u| !u.is_empty()), content,
                context: ClientContext::default(),
            },
            verdict: Verdict {
                status: Status::from_byte(status).unwrap(),
                spam_score: score,
                reasons: reasons.into_iter().map(|(code, detail, weight)| Reason { code: ReasonCode::ALL[code], detail, weight }).collect(),
                toxicity: 0.0,
                toxic_spans: Vec::new(),
            },
            model_version: "m".into(),
            policy_version: "p".into(),
            email_hash: hash,
            decision: decided.map(|(by, at_ms, before)| Decision {
                by,
                at_ms,
                before_trash: before.and_then(Status::from_byte),
            }),
            receipt: Receipt {
                idempotency: key.map(|(key, request_digest)| Idempotency { key, request_digest }),
                submitted_status: Status::from_byte(status),
                shadow_status: shadow.and_then(Status::from_byte),
            },
        };
        // Equality, not bits: proto3 writes no zero, so a -0.0 weight reads back as 0.0.
        prop_assert_eq!(record::decode(&record::encode(&comment)).unwrap(), comment);
    }

    /// Arbitrary bytes in the comments tree are refused, never misread into a panic.
    #[test]
    fn arbitrary_record_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = record::decode(&bytes);
    }
}
