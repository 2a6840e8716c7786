//! The two date forms exports use, `2019-03-04 12:34:56` (WXR) and `2013-04-10T16:42:16Z`
//! (Disqus, RFC 3339), to and from milliseconds since the epoch, in UTC.

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Parses `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DDTHH:MM:SS[.fff][Z|+00:00]` as UTC; `None` for
/// anything else, and for WordPress's `0000-00-00 00:00:00` (no date).
pub fn parse_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let b = text.as_bytes();
    if b.len() < 19 || !matches!(b[10], b' ' | b'T') {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let separators_ok = b[4] == b'-' && b[7] == b'-' && b[13] == b':' && b[16] == b':';
    let in_range = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second < 61
        && year >= 1970;
    if !separators_ok || !in_range {
        return None;
    }
    let mut rest = &text[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        let padded = format!("{:0<3}", &fraction[..digits.min(3)]);
        millis = padded.parse::<i64>().ok()?;
        rest = &fraction[digits..];
    }
    if !matches!(rest, "" | "Z" | "z" | "+00:00" | "-00:00" | "+0000") {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    u64::try_from(seconds * 1000 + millis).ok()
}

/// `YYYY-MM-DD HH:MM:SS` (WXR's form) of a time in ms since the epoch.
pub fn wxr(ms: u64) -> String {
    let (date, time) = parts(ms);
    format!("{date} {time}")
}

/// RFC 3339 in UTC with milliseconds (`2019-03-04T12:34:56.789Z`).
pub fn rfc3339(ms: u64) -> String {
    let (date, time) = parts(ms);
    format!("{date}T{time}.{:03}Z", ms % 1000)
}

/// RFC 3339 in UTC to the second (`2019-03-04T12:34:56Z`).
pub fn rfc3339_seconds(ms: u64) -> String {
    let (date, time) = parts(ms);
    format!("{date}T{time}Z")
}

fn parts(ms: u64) -> (String, String) {
    let seconds = i64::try_from(ms / 1000).unwrap_or(i64::MAX / 2);
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let s = seconds.rem_euclid(86_400);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms_and_round_trips() {
        assert_eq!(parse_ms("1970-01-01 00:00:00"), Some(0));
        assert_eq!(parse_ms("2013-04-10T16:42:16Z"), Some(1_365_612_136_000));
        assert_eq!(parse_ms("2013-04-10T16:42:16.5Z"), Some(1_365_612_136_500));
        assert_eq!(parse_ms("0000-00-00 00:00:00"), None);
        assert_eq!(parse_ms("2013-04-10T16:42:16+02:00"), None);
        assert_eq!(parse_ms("yesterday"), None);
        for ms in [0, 951_782_400_000, 1_709_210_096_789, 4_102_444_800_000] {
            assert_eq!(parse_ms(&rfc3339(ms)), Some(ms));
            assert_eq!(parse_ms(&wxr(ms)), Some(ms / 1000 * 1000));
        }
    }
}
