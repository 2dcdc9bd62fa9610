//! Time windows for the `window` gate: "Sat 01:00-05:00 UTC",
//! "Mon-Fri 22:00-02:00 +01:00", "02:00-04:00" (every day, UTC).
//!
//! A window opens on each of its days at the start time and lasts until the
//! end time, which may be after midnight (then it ends the next day).

use chrono::{DateTime, Datelike, Duration as Span, FixedOffset, NaiveTime, TimeZone, Utc};

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// A parsed window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Which weekdays it opens on, Monday first.
    days: [bool; 7],
    start: NaiveTime,
    end: NaiveTime,
    offset: FixedOffset,
}

/// Where `now` is relative to a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// Inside; it closes at this instant.
    Open { closes: DateTime<FixedOffset> },
    /// Outside; it opens next at this instant.
    Closed { opens: DateTime<FixedOffset> },
}

fn day_index(s: &str) -> Option<usize> {
    DAYS.iter().position(|d| d.eq_ignore_ascii_case(s))
}

fn parse_days(s: &str) -> Option<[bool; 7]> {
    let mut days = [false; 7];
    if s.eq_ignore_ascii_case("daily") {
        return Some([true; 7]);
    }
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day_index(a)?, day_index(b)?);
                let mut i = a;
                loop {
                    days[i] = true;
                    if i == b {
                        break;
                    }
                    i = (i + 1) % 7;
                }
            }
            None => days[day_index(part)?] = true,
        }
    }
    Some(days)
}

fn parse_offset(s: &str) -> Option<FixedOffset> {
    if s.eq_ignore_ascii_case("UTC") || s == "Z" {
        return FixedOffset::east_opt(0);
    }
    let sign = match s.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let (h, m) = s[1..].split_once(':')?;
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 14 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// Parses a window; the error says what was expected.
pub fn parse(s: &str) -> Result<Window, String> {
    let bad = || {
        format!(
            "\"{s}\" is not a time window; expected [DAYS] HH:MM-HH:MM [UTC|+HH:MM], as in \"Sat 01:00-05:00 UTC\" or \"Mon-Fri 22:00-02:00 +01:00\""
        )
    };
    let parts: Vec<&str> = s.split_whitespace().collect();
    let times_at = parts
        .iter()
        .position(|p| p.contains(':') && p.contains('-') && !p.starts_with(['+', '-']))
        .ok_or_else(bad)?;
    let days = match times_at {
        0 => [true; 7],
        1 => parse_days(parts[0]).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    let (a, b) = parts[times_at].split_once('-').ok_or_else(bad)?;
    let time = |t: &str| NaiveTime::parse_from_str(t, "%H:%M").ok();
    let (start, end) = (time(a).ok_or_else(bad)?, time(b).ok_or_else(bad)?);
    let offset = match &parts[times_at + 1..] {
        [] => FixedOffset::east_opt(0).ok_or_else(bad)?,
        [tz] => parse_offset(tz).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if start == end {
        return Err(format!(
            "\"{s}\": the window opens and closes at the same time"
        ));
    }
    Ok(Window {
        days,
        start,
        end,
        offset,
    })
}

impl Window {
    /// Where `now` is: inside (until when) or outside (opening when).
    pub fn position(&self, now: DateTime<Utc>) -> Position {
        let local = now.with_timezone(&self.offset);
        let length = if self.end > self.start {
            self.end - self.start
        } else {
            self.end - self.start + Span::days(1)
        };
        // The window that opened yesterday may still be open; look from
        // yesterday through the next week for the first that has not closed.
        for back in -1..=7 {
            let date = local.date_naive() + Span::days(back);
            if !self.days[date.weekday().num_days_from_monday() as usize] {
                continue;
            }
            let Some(opens) = self
                .offset
                .from_local_datetime(&date.and_time(self.start))
                .single()
            else {
                continue;
            };
            let closes = opens + length;
            if local < opens {
                return Position::Closed { opens };
            }
            if local < closes {
                return Position::Open { closes };
            }
        }
        // Unreachable with at least one day set; parse() guarantees that.
        Position::Closed {
            opens: local + Span::days(7),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn windows_parse_or_say_what_was_expected() {
        assert!(parse("Sat 01:00-05:00 UTC").is_ok());
        assert!(parse("Mon-Fri 22:00-02:00 +01:00").is_ok());
        assert!(parse("Sat,Sun 02:00-04:00").is_ok());
        assert!(parse("daily 02:00-04:00 -05:00").is_ok());
        assert!(parse("02:00-04:00").is_ok());
        for bad in [
            "",
            "Saturday 01:00-05:00",
            "Sat 1am-5am",
            "Sat 01:00-05:00 CET",
            "Sat 01:00",
            "Sat 25:00-05:00",
            "Sat 01:00-01:00",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse("Sat 1am-5am")
            .unwrap_err()
            .contains("as in \"Sat 01:00-05:00 UTC\""));
    }

    #[test]
    fn the_position_is_inside_or_names_the_next_opening() {
        let w = parse("Sat 01:00-05:00 UTC").unwrap();
        // Wednesday 2026-11-25.
        match w.position(at("2026-11-25T20:00:00Z")) {
            Position::Closed { opens } => {
                assert_eq!(opens.to_rfc3339(), "2026-11-28T01:00:00+00:00")
            }
            other => panic!("{other:?}"),
        }
        match w.position(at("2026-11-28T03:00:00Z")) {
            Position::Open { closes } => {
                assert_eq!(closes.to_rfc3339(), "2026-11-28T05:00:00+00:00")
            }
            other => panic!("{other:?}"),
        }
        // Closed again after 05:00: next Saturday.
        match w.position(at("2026-11-28T05:00:00Z")) {
            Position::Closed { opens } => {
                assert_eq!(opens.to_rfc3339(), "2026-12-05T01:00:00+00:00")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_window_past_midnight_and_in_another_offset() {
        // Friday 22:00 to Saturday 02:00 at +01:00 is Friday 21:00 to 01:00 UTC.
        let w = parse("Fri 22:00-02:00 +01:00").unwrap();
        assert!(matches!(
            w.position(at("2026-11-28T00:30:00Z")),
            Position::Open { .. }
        ));
        assert!(matches!(
            w.position(at("2026-11-27T20:59:00Z")),
            Position::Closed { .. }
        ));
        match w.position(at("2026-11-28T01:00:00Z")) {
            Position::Closed { opens } => {
                assert_eq!(opens.to_rfc3339(), "2026-12-04T22:00:00+01:00")
            }
            other => panic!("{other:?}"),
        }
    }
}
