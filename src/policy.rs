//! Site rules and score thresholds: from a submission's facts and its spam score to a status
//! with the reasons that decided it.

use std::sync::LazyLock;

use regex::Regex;

use crate::classifier::Scored;
use crate::comment::{Reason, Status, Submission, Verdict};
use crate::privacy::{constant_regex, contains_email};

/// Score thresholds that turn a spam probability into a status.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// At or above this probability a comment is SPAM.
    pub spam: f64,
    /// At or above this probability (and below `spam`) a comment is held as PENDING.
    pub pending: f64,
}

impl Thresholds {
    /// Default probability at or above which a comment is SPAM.
    pub const DEFAULT_SPAM: f64 = 0.90;
    /// Default probability at or above which a comment is held for a moderator.
    pub const DEFAULT_PENDING: f64 = 0.50;
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            spam: Self::DEFAULT_SPAM,
            pending: Self::DEFAULT_PENDING,
        }
    }
}

/// The site rules a submission is held to, from configuration.
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
            max_links: crate::config::Config::DEFAULT_MAX_LINKS,
        }
    }
}

/// A link in comment text: a URL with a scheme, a bare `www.` host, or an HTML anchor.
static LINK: LazyLock<Regex> =
    LazyLock::new(|| constant_regex(r"(?i)\bhttps?://|\bwww\.[\w-]|<a\s[^>]*href"));

/// How many links `text` holds.
pub fn count_links(text: &str) -> usize {
    LINK.find_iter(text).count()
}

/// Weight of a reason that decides SPAM on its own.
const DECISIVE: f32 = 1.0;
/// Weight of a reason that holds a comment for review.
const HOLD: f32 = 0.5;

impl Policy {
    /// The verdict on a valid submission with its classifier score: the strictest of the
    /// rules and the thresholds wins, and every rule that fired is listed, deciding reasons
    /// first, then the classifier's explanation.
    pub fn decide(&self, submission: &Submission, scored: &Scored) -> Verdict {
        self.decide_with(submission, scored, Vec::new())
    }

    /// [`Self::decide`] with site rules that already fired (from [`crate::rules`]) counted
    /// in, listed before this policy's own reasons.
    pub fn decide_with(
        &self,
        submission: &Submission,
        scored: &Scored,
        hits: Vec<(Status, Reason)>,
    ) -> Verdict {
        let mut status = Status::Approved;
        let mut reasons = Vec::new();
        let mut raise = |to: Status, reason: Reason| {
            if to.severity() > status.severity() {
                status = to;
            }
            reasons.push(reason);
        };
        for (to, reason) in hits {
            raise(to, reason);
        }

        if !submission.context.honeypot.is_empty() {
            raise(
                Status::Spam,
                Reason::new(
                    "honeypot",
                    "the hidden form field was filled in, as only bots do",
                    DECISIVE,
                ),
            );
        }
        let links = count_links(&submission.content);
        if self.max_links > 0 && links >= self.max_links as usize {
            raise(
                Status::Pending,
                Reason::new(
                    "too_many_links",
                    format!(
                        "{links} links; comments with {} or more are held",
                        self.max_links
                    ),
                    HOLD,
                ),
            );
        }
        if contains_email(&submission.content) {
            raise(
                Status::Pending,
                Reason::new(
                    "email_in_content",
                    "the text contains an email address; it is masked in public and held for review",
                    HOLD,
                ),
            );
        }

        let probability = scored.probability;
        let score_status = if probability >= self.thresholds.spam {
            Some((Status::Spam, "spam", self.thresholds.spam))
        } else if probability >= self.thresholds.pending {
            Some((Status::Pending, "review", self.thresholds.pending))
        } else {
            None
        };
        if let Some((to, name, threshold)) = score_status {
            raise(
                to,
                Reason::new(
                    "spam_score",
                    format!(
                        "spam score {probability:.3} is at or above the {name} threshold {threshold:.2}"
                    ),
                    probability as f32,
                ),
            );
        }

        let explanation = scored.toward_spam.iter().chain(&scored.toward_ham);
        reasons.extend(explanation.map(|c| {
            let weight = c.weight as f32;
            Reason::new(CLASSIFIER, classifier_detail(&c.feature, weight), weight)
        }));

        Verdict {
            status,
            spam_score: probability as f32,
            reasons,
        }
    }
}

/// Code of the reasons that explain the classifier's score, one per feature.
pub const CLASSIFIER: &str = "classifier";

/// The detail of a classifier reason: which feature pushed the score which way.
pub fn classifier_detail(feature: &str, weight: f32) -> String {
    format!("{feature}{}", direction(weight))
}

/// The feature a classifier reason's detail names, when the detail is exactly what
/// [`classifier_detail`] makes of it and this weight; storage keeps only the feature.
pub fn classifier_feature(detail: &str, weight: f32) -> Option<&str> {
    detail.strip_suffix(direction(weight))
}

fn direction(weight: f32) -> &'static str {
    if weight >= 0.0 {
        " pushes toward spam"
    } else {
        " pushes toward ham"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::Contribution;
    use crate::comment::ClientContext;

    fn submission(content: &str) -> Submission {
        Submission {
            post_id: "p".into(),
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
        let policy = Policy {
            max_links: 0,
            ..Policy::default()
        };
        let links = submission("http://a.example http://b.example http://c.example");
        assert_eq!(policy.decide(&links, &scored(0.0)).status, Status::Approved);
    }
}
