//! When the daemon scans: a fixed interval or a cron expression in UTC, the
//! ticks they produce, and the random jitter added before each scheduled scan.
//!
//! Ticks that fall while a scan is still running are skipped and counted, so
//! the next scan starts at the first tick after the running one ends.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use tokio::time::Instant;

/// The minimum interval. Shorter ones would only queue skipped
/// ticks, since a scan takes at least a few seconds.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// The maximum interval: a year, far beyond any useful scan period,
/// and small enough that tick arithmetic never overflows.
pub const MAX_INTERVAL: Duration = Duration::from_secs(366 * 24 * 3600);

/// The maximum number of skipped cron fire times counted one by one. Past this (after a
/// suspended host wakes up, say), the ticker jumps to the first fire time
/// after now and reports this many skipped ticks.
const MAX_COUNTED_SKIPS: u64 = 100_000;

/// Day-of-week names of the cron crate, indexed by the standard cron number
/// (0 is Sunday).
const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// An invalid `--interval` or `--schedule` value.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("invalid interval {value:?}: {reason}")]
    Interval { value: String, reason: String },
    #[error(
        "invalid cron expression {expression:?}: it has {fields} fields, but 5 (minute hour \
         day-of-month month day-of-week), 6 (seconds first) or 7 (a year last) are expected"
    )]
    FieldCount { expression: String, fields: usize },
    #[error("invalid cron expression {expression:?}: {reason}")]
    Cron { expression: String, reason: String },
    #[error("the cron expression {expression:?} has no fire time after now")]
    NeverFires { expression: String },
}

/// When scans run.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Every this long, counted from the daemon's start.
    Interval(Duration),
    /// At each fire time of a cron expression, in UTC.
    Cron(CronSchedule),
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Interval(interval) => write!(f, "every {}", humantime::format_duration(*interval)),
            Schedule::Cron(cron) => write!(f, "cron {:?} UTC", cron.expression),
        }
    }
}

/// Parses an `--interval` value such as `6h` or `30m`, from [`MIN_INTERVAL`]
/// to [`MAX_INTERVAL`].
pub fn parse_interval(text: &str) -> Result<Duration, ScheduleError> {
    let invalid = |reason: String| ScheduleError::Interval { value: text.to_owned(), reason };
    let interval = humantime::parse_duration(text.trim())
        .map_err(|err| invalid(format!("{err} (expected a duration such as 30m or 6h)")))?;
    if interval < MIN_INTERVAL {
        return Err(invalid("must be at least 1s".to_owned()));
    }
    if interval > MAX_INTERVAL {
        return Err(invalid("must be at most 366d".to_owned()));
    }
    Ok(interval)
}

/// A parsed cron expression and the text it came from.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    /// The expression as the operator wrote it, for logs.
    pub expression: String,
    /// Boxed because the parsed schedule is large (about 250 bytes).
    schedule: Box<cron::Schedule>,
}

impl FromStr for CronSchedule {
    type Err = ScheduleError;

    /// Parses a cron expression in one of three forms:
    ///
    /// - 5 fields, the standard crontab form `minute hour day-of-month month
    ///   day-of-week`, where days of the week are 0 to 7 (0 and 7 are Sunday)
    ///   or names. It fires at second 0.
    /// - 6 or 7 fields (seconds first, an optional year last) and the
    ///   `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly` shorthands,
    ///   as the cron crate reads them. There days of the week are 1 (Sunday)
    ///   to 7 (Saturday), so names are the safer choice.
    ///
    /// NOTE: when both day-of-month and day-of-week are restricted, a time
    /// must match both (the cron crate's rule), not either one as in Vixie
    /// cron's crontab.
    fn from_str(text: &str) -> Result<Self, ScheduleError> {
        let expression = text.trim();
        let fields: Vec<&str> = expression.split_whitespace().collect();
        let crate_form = match fields.len() {
            1 if expression.starts_with('@') => expression.to_owned(),
            5 => from_five_fields(expression, &fields)?,
            6 | 7 => fields.join(" "),
            count => {
                return Err(ScheduleError::FieldCount {
                    expression: expression.to_owned(),
                    fields: count,
                });
            }
        };

        let schedule = cron::Schedule::from_str(&crate_form).map_err(|err| ScheduleError::Cron {
            expression: expression.to_owned(),
            reason: err.to_string(),
        })?;
        if schedule.upcoming(Utc).next().is_none() {
            return Err(ScheduleError::NeverFires { expression: expression.to_owned() });
        }
        Ok(CronSchedule {
            expression: expression.to_owned(),
            schedule: Box::new(schedule),
        })
    }
}

impl CronSchedule {
    /// Returns the fire times strictly after `after`.
    pub fn fire_times_after(&self, after: DateTime<Utc>) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        self.schedule.after(&after)
    }
}

/// Rewrites a standard 5-field expression in the cron crate's form: a
/// seconds field of 0 first, and the day-of-week field as names, because
/// the crate numbers days from 1 (Sunday) where crontab numbers them from 0.
fn from_five_fields(expression: &str, fields: &[&str]) -> Result<String, ScheduleError> {
    let [minute, hour, day_of_month, month, day_of_week] = fields else {
        unreachable!("the caller matched 5 fields");
    };
    let days = days_of_week(day_of_week).map_err(|reason| ScheduleError::Cron {
        expression: expression.to_owned(),
        reason: format!("day-of-week field {day_of_week:?}: {reason}"),
    })?;
    Ok(format!("0 {minute} {hour} {day_of_month} {month} {days}"))
}

/// Converts a crontab day-of-week field (`*`, numbers 0 to 7, names, lists,
/// ranges and steps) into a list of the cron crate's day names.
fn days_of_week(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok(field.to_owned());
    }

    let mut selected = [false; 7];
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().map_err(|_| format!("invalid step {step:?}"))?;
                if step == 0 {
                    return Err("a step must be at least 1".to_owned());
                }
                (range, step)
            }
            None => (item, 1),
        };

        let (first, last) = match range.split_once('-') {
            _ if range == "*" => (0, 7),
            Some((first, last)) => (day_number(first)?, day_number(last)?),
            // `N/step` runs from N to the end of the week, as `*/step` runs over all of it.
            None if item.contains('/') => (day_number(range)?, 7),
            None => {
                let day = day_number(range)?;
                (day, day)
            }
        };
        // `FRI-SUN` ends on Sunday, day 7.
        let last = if last == 0 && first > 0 { 7 } else { last };
        if first > last {
            return Err(format!("the range {range:?} runs backwards, so write the earlier day first"));
        }

        for day in (first..=last).step_by(step as usize) {
            selected[(day % 7) as usize] = true;
        }
    }

    if selected.iter().all(|&day| day) {
        return Ok("*".to_owned());
    }
    let names: Vec<&str> = DAY_NAMES
        .iter()
        .zip(selected)
        .filter_map(|(name, chosen)| chosen.then_some(*name))
        .collect();
    Ok(names.join(","))
}

/// Parses a crontab day of the week: 0 to 7, or a three-letter name in any case.
fn day_number(text: &str) -> Result<u32, String> {
    if let Ok(number) = text.parse::<u32>() {
        return if number <= 7 {
            Ok(number)
        } else {
            Err(format!("day {number} is out of range, because days of the week are 0 to 7 (0 and 7 are Sunday)"))
        };
    }
    DAY_NAMES
        .iter()
        .position(|name| name.eq_ignore_ascii_case(text))
        .map(|index| index as u32)
        .ok_or_else(|| format!("{text:?} is not a day of the week (expected 0 to 7 or SUN to SAT)"))
}

/// One scheduled scan time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// When the tick falls, on tokio's clock.
    pub at: Instant,
    /// The same time on the wall clock, for logs and metrics.
    pub wall: DateTime<Utc>,
    /// Time from this tick to the one after it, or `Duration::MAX` when there is none.
    pub gap: Duration,
    /// Ticks that fell before this call, while a scan ran, and were skipped.
    pub skipped: u64,
}

/// Hands out the ticks of a schedule, one after the other.
#[derive(Debug)]
pub struct Ticker {
    schedule: Schedule,
    last: LastTick,
}

/// The tick handed out last, or the start when there was none.
#[derive(Debug, Clone, Copy)]
enum LastTick {
    /// Interval ticks are counted on tokio's monotonic clock, so a wall clock
    /// step does not move them.
    Interval(Instant),
    /// Cron ticks follow the wall clock, which cron expressions refer to.
    Cron(DateTime<Utc>),
}

impl Ticker {
    /// Creates a ticker whose first tick falls one interval, or at the first
    /// cron fire time, after the start.
    pub fn new(schedule: Schedule, start: Instant, start_wall: DateTime<Utc>) -> Self {
        let last = match schedule {
            Schedule::Interval(_) => LastTick::Interval(start),
            Schedule::Cron(_) => LastTick::Cron(start_wall),
        };
        Ticker { schedule, last }
    }

    /// Returns the first tick at or after `now`. Ticks since the last one that fell
    /// before `now` are skipped and counted in [`Tick::skipped`]. Returns
    /// `None` when a cron expression has no fire time left.
    pub fn next_tick(&mut self, now: Instant, wall_now: DateTime<Utc>) -> Option<Tick> {
        match (&self.schedule, self.last) {
            (Schedule::Interval(interval), LastTick::Interval(last)) => {
                let tick = next_interval_tick(*interval, last, now, wall_now);
                self.last = LastTick::Interval(tick.at);
                Some(tick)
            }
            (Schedule::Cron(cron), LastTick::Cron(last)) => {
                let tick = next_cron_tick(cron, last, now, wall_now)?;
                self.last = LastTick::Cron(tick.wall);
                Some(tick)
            }
            _ => unreachable!("Ticker::new pairs each schedule with its kind of last tick"),
        }
    }
}

fn next_interval_tick(interval: Duration, last: Instant, now: Instant, wall_now: DateTime<Utc>) -> Tick {
    // The ticks after `last` fall at last + k * interval for k >= 1, and
    // those before `now` (k < (now - last) / interval) are skipped.
    let behind = now.saturating_duration_since(last).as_nanos();
    let step = interval.as_nanos();
    let skipped = behind.div_ceil(step).saturating_sub(1);
    let steps = u32::try_from(skipped + 1).unwrap_or(u32::MAX);
    let at = last + interval.saturating_mul(steps);

    Tick {
        at,
        wall: wall_now + chrono_duration(at.saturating_duration_since(now)),
        gap: interval,
        skipped: u64::try_from(skipped).unwrap_or(u64::MAX),
    }
}

fn next_cron_tick(cron: &CronSchedule, last: DateTime<Utc>, now: Instant, wall_now: DateTime<Utc>) -> Option<Tick> {
    let mut skipped = 0;
    let mut fire_times = cron.fire_times_after(last);
    let mut next = fire_times.next()?;
    while next < wall_now {
        skipped += 1;
        if skipped >= MAX_COUNTED_SKIPS {
            fire_times = cron.fire_times_after(wall_now);
            next = fire_times.next()?;
            break;
        }
        next = fire_times.next()?;
    }

    let gap = match fire_times.next() {
        Some(following) => (following - next).to_std().unwrap_or(Duration::ZERO),
        None => Duration::MAX,
    };
    let wait = (next - wall_now).to_std().unwrap_or(Duration::ZERO);
    Some(Tick { at: now + wait, wall: next, gap, skipped })
}

fn chrono_duration(duration: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(duration).unwrap_or(chrono::TimeDelta::MAX)
}

/// Draws a random delay in `[0, max]` before a scheduled scan, so that daemons
/// started together do not call AWS at the same instant. It stays below half
/// the gap to the following tick, so jitter alone never skips a tick.
pub fn draw_jitter(max: Duration, tick: &Tick, rng: &mut impl Rng) -> Duration {
    let bound = max.min(tick.gap / 2);
    if bound.is_zero() {
        return Duration::ZERO;
    }
    let nanos = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rng.random_range(0..=nanos))
}

#[cfg(test)]
mod tests;
