//! Site policy: every rule that can hold or refuse a comment, and the thresholds that turn a
//! spam score into a status. The strictest rule wins; every rule that fired is a reason.
//!
//! # Layout
//! - [`thresholds`]: spam probability → status.
//! - [`builtin`]: rules every site gets (honeypot, links, email in content, first-time author).
//! - [`lists`]: the configured lists (words, bans, closed posts), compiled once.
//! - [`trackers`]: in-memory state across submissions (flood control, campaigns).
//! - [`ruleset`]: the editable rules (lists, link limit, thresholds) as one versioned value.
//! - [`local_history`]: what flood control and campaigns remember, kept in this process.

pub mod builtin;
mod hit;
pub mod lists;
pub mod local_history;
pub mod ruleset;
pub mod thresholds;
pub mod trackers;

pub use builtin::count_links;
pub use hit::{DECISIVE, HOLD, Hit};
pub use lists::{RuleError, RuleLists, SiteRules};
pub use local_history::{HistorySettings, LocalHistory, SubmissionHistory};
pub use ruleset::{EditableRules, RuleSet};
pub use thresholds::Thresholds;
pub use trackers::{Campaigns, Flood};

use crate::classifier::Scored;
use crate::comment::{Reason, Status, Submission, Verdict};
use crate::toxicity::Toxicity;

/// Links at or above this count hold a comment unless the site sets its own limit.
pub const DEFAULT_MAX_LINKS: u32 = 2;

/// The settings that decide a verdict from the rules that fired and the score.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Spam-probability thresholds.
    pub thresholds: Thresholds,
    /// Links at or above this count hold the comment; 0 disables the rule.
    pub max_links: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            thresholds: Thresholds::default(),
            max_links: DEFAULT_MAX_LINKS,
        }
    }
}

/// The strictest of the statuses the rules asked for; APPROVED when none fired. The one rule
/// by which a verdict (live or shadow) is decided.
pub fn strictest(asked: impl IntoIterator<Item = Status>) -> Status {
    asked.into_iter().fold(Status::Approved, |status, hit| {
        if hit.severity() > status.severity() {
            hit
        } else {
            status
        }
    })
}

impl Policy {
    /// The verdict from the built-in rules and the thresholds alone.
    pub fn decide(&self, submission: &Submission, scored: &Scored) -> Verdict {
        self.decide_with(submission, scored, Vec::new())
    }

    /// The hold a comment's toxicity asks for, if any (PENDING, never SPAM).
    pub fn toxicity_hit(&self, toxicity: &Toxicity) -> Option<Hit> {
        self.thresholds
            .judge_toxicity(toxicity)
            .map(|(status, reason)| Hit { status, reason })
    }

    /// The status [`Policy::decide_with`] would give, without building the reasons (for the
    /// shadow policy, which only counts statuses).
    pub fn status_with(&self, submission: &Submission, scored: &Scored, hits: &[Hit]) -> Status {
        let builtin = builtin::check(submission, self.max_links);
        let by_score = self.thresholds.judge(scored).map(|(status, _)| status);
        let fired = hits
            .iter()
            .chain(&builtin)
            .map(|h| h.status)
            .chain(by_score);
        strictest(fired)
    }

    /// The verdict on a valid submission with its score, counting rules that already fired
    /// (site lists, trackers): the strictest status wins, and reasons come deciding ones
    /// first (those hits, the built-in rules, the score), then the classifier's explanation.
    pub fn decide_with(&self, submission: &Submission, scored: &Scored, hits: Vec<Hit>) -> Verdict {
        let builtin = builtin::check(submission, self.max_links);
        let by_score = self
            .thresholds
            .judge(scored)
            .map(|(status, reason)| Hit { status, reason });
        let fired = hits.into_iter().chain(builtin).chain(by_score);
        let mut status = Status::Approved;
        let mut reasons = Vec::new();
        for hit in fired {
            status = strictest([status, hit.status]);
            reasons.push(hit.reason);
        }
        let explanation = scored.toward_spam.iter().chain(&scored.toward_ham);
        reasons.extend(explanation.map(|c| Reason::classifier(&c.feature, c.weight as f32)));
        Verdict {
            status,
            spam_score: scored.probability as f32,
            reasons,
            toxicity: 0.0,
            toxic_spans: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::Contribution;
    use crate::comment::{ClientContext, ReasonCode};

    fn submission(content: &str) -> Submission {
        Submission {
            post_id: "p".into(),
            post_title: None,
            parent_id: None,
            author_name: "n".into(),
            author_email: "n@example.com".into(),
            author_url: None,
            content: content.into(),
            context: ClientContext::default(),
        }
    }

    fn scored(probability: f64) -> Scored {
        Scored {
            probability,
            toward_spam: vec![Contribution {
                feature: "\"subscribe\"".into(),
                weight: 1.2,
            }],
            toward_ham: vec![Contribution {
                feature: "\"song\"".into(),
                weight: -0.7,
            }],
        }
    }

    fn codes(verdict: &Verdict) -> Vec<&str> {
        verdict.reasons.iter().map(|r| r.code.as_str()).collect()
    }

    #[test]
    fn thresholds_map_scores_to_statuses() {
        let policy = Policy::default();
        let clean = submission("lovely song");
        assert_eq!(policy.decide(&clean, &scored(0.1)).status, Status::Approved);
        assert_eq!(policy.decide(&clean, &scored(0.5)).status, Status::Pending);
        assert_eq!(policy.decide(&clean, &scored(0.9)).status, Status::Spam);
        let verdict = policy.decide(&clean, &scored(0.95));
        assert_eq!(codes(&verdict), ["spam_score", "classifier", "classifier"]);
        assert!(verdict.reasons[2].weight < 0.0);
    }

    #[test]
    fn rules_raise_but_never_lower_the_status() {
        let policy = Policy::default();
        let mut bot = submission("hi");
        bot.context.honeypot = "x".into();
        let verdict = policy.decide(&bot, &scored(0.0));
        assert_eq!(verdict.status, Status::Spam);
        assert_eq!(codes(&verdict)[0], "honeypot");

        let links = submission("see http://a.example and www.b.example");
        let verdict = policy.decide(&links, &scored(0.0));
        assert_eq!(verdict.status, Status::Pending);
        assert_eq!(codes(&verdict)[0], "too_many_links");
        assert_eq!(policy.decide(&links, &scored(0.95)).status, Status::Spam);

        let mail = submission("write to me@example.com");
        assert_eq!(
            codes(&policy.decide(&mail, &scored(0.0)))[0],
            "email_in_content"
        );
    }

    #[test]
    fn link_rule_can_be_disabled_and_counts_anchors() {
        assert_eq!(count_links(r#"<a href="x">1</a> https://y.example"#), 2);
        // One anchor is one link, even when its address is also its text.
        let anchor = r#"<a href="https://youtu.be/K">https://youtu.be/K</a> best part"#;
        assert_eq!(count_links(anchor), 1);
        assert_eq!(
            count_links(r#"<a href="http://www.x.example/a">2:19</a>"#),
            1
        );
        assert_eq!(
            count_links(r#"<a href="http://a.example"> and www.b.example"#),
            2
        );
        // A scheme and a `www.` host are one link, not two.
        assert_eq!(count_links("Reuters: https://www.reuters.com/world/x"), 1);
        assert_eq!(
            count_links("https://www.a.example/1 and https://www.b.example/2"),
            2
        );
        assert_eq!(count_links("see www.a.example or http://b.example"), 2);
        // Links run together still count one by one.
        for (text, links) in [
            ("http://a.example,http://b.example,http://c.example", 3),
            ("http://a.example|www.b.example|www.c.example", 3),
            ("http://a.example;http://b.example", 2),
            ("(http://a.example)(http://b.example)", 2),
            ("https://www.a.example,https://www.b.example", 2),
        ] {
            assert_eq!(count_links(text), links, "{text}");
        }
        let policy = Policy {
            max_links: 0,
            ..Policy::default()
        };
        let links = submission("http://a.example http://b.example http://c.example");
        assert_eq!(policy.decide(&links, &scored(0.0)).status, Status::Approved);
    }

    #[test]
    fn status_alone_agrees_with_the_whole_verdict() {
        let policy = Policy::default();
        let mut bot = submission("hi");
        bot.context.honeypot = "x".into();
        let cases = [
            submission("lovely song"),
            submission("see http://a.example and www.b.example"),
            submission("write to me@example.com"),
            bot,
        ];
        let held = [Hit::hold(ReasonCode::ModerationKey, "casino")];
        for case in &cases {
            for p in [0.0, 0.5, 0.95] {
                for hits in [&[][..], &held[..]] {
                    assert_eq!(
                        policy.status_with(case, &scored(p), hits),
                        policy.decide_with(case, &scored(p), hits.to_vec()).status
                    );
                }
            }
        }
    }
}
