use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeDelta, Utc, Weekday};
use tokio::time::Instant;

use super::*;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn cron(expression: &str) -> CronSchedule {
    CronSchedule::from_str(expression).unwrap_or_else(|err| panic!("{expression}: {err}"))
}

/// A Wednesday, mid-morning.
const NOW: &str = "2025-01-01T10:07:30Z";

#[test]
fn interval_parses_humantime() {
    assert_eq!(parse_interval("6h").unwrap(), Duration::from_secs(6 * 3600));
    assert_eq!(parse_interval(" 1h 30m ").unwrap(), Duration::from_secs(5400));
    assert_eq!(parse_interval("1s").unwrap(), MIN_INTERVAL);
}

#[test]
fn interval_rejects_bad_values() {
    for text in ["0s", "500ms", "400days", "six hours", ""] {
        let err = parse_interval(text).unwrap_err().to_string();
        assert!(err.contains("invalid interval"), "{text}: {err}");
    }
}

#[test]
fn cron_next_fire_times() {
    let cases = [
        // 5 fields, crontab numbering: Sunday is 0 or 7.
        ("*/15 * * * *", "2025-01-01T10:15:00Z"),
        ("0 */6 * * *", "2025-01-01T12:00:00Z"),
        ("0 0 1 * *", "2025-02-01T00:00:00Z"),
        ("30 2 * * 1", "2025-01-06T02:30:00Z"),
        ("0 0 * * 0", "2025-01-05T00:00:00Z"),
        ("0 0 * * 7", "2025-01-05T00:00:00Z"),
        ("0 9 * * MON-FRI", "2025-01-02T09:00:00Z"),
        ("0 9 * * 5-7", "2025-01-03T09:00:00Z"),
        ("0 9 * * FRI-SUN", "2025-01-03T09:00:00Z"),
        ("0 9 * * */2", "2025-01-02T09:00:00Z"),
        ("0 9 * * sat,1", "2025-01-04T09:00:00Z"),
        ("0 9 * * ?", "2025-01-02T09:00:00Z"),
        // 6 and 7 fields, seconds first, as the cron crate reads them.
        ("30 */15 * * * *", "2025-01-01T10:15:30Z"),
        ("0 0 12 * * MON", "2025-01-06T12:00:00Z"),
        ("0 0 0 1 1 * 2030", "2030-01-01T00:00:00Z"),
        ("@daily", "2025-01-02T00:00:00Z"),
    ];
    for (expression, expected) in cases {
        let next = cron(expression).fire_times_after(utc(NOW)).next();
        assert_eq!(next, Some(utc(expected)), "{expression}");
    }
}

#[test]
fn cron_weekdays_skip_weekend() {
    let fire_times: Vec<Weekday> = cron("0 9 * * 1-5")
        .fire_times_after(utc(NOW))
        .take(7)
        .map(|time| time.weekday())
        .collect();
    let expected = [
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ];
    assert_eq!(fire_times, expected);
}

#[test]
fn cron_day_of_week_rewrite() {
    let cases = [
        ("*", "*"),
        ("0", "SUN"),
        ("7", "SUN"),
        ("1,3", "MON,WED"),
        ("0-7", "*"),
        ("1-5", "MON,TUE,WED,THU,FRI"),
        ("*/3", "SUN,WED,SAT"),
        ("5/2", "SUN,FRI"),
        ("mon-wed/2", "MON,WED"),
        ("sat-sun", "SUN,SAT"),
    ];
    for (field, expected) in cases {
        assert_eq!(days_of_week(field).unwrap(), expected, "{field}");
    }
}

#[test]
fn cron_rejects_bad_expressions() {
    let cases = [
        ("* * * *", "4 fields"),
        ("0 0 0 * * * * *", "8 fields"),
        ("61 * * * *", "invalid cron expression"),
        ("0 0 * * 8", "day 8 is out of range"),
        ("0 0 * * 5-2", "runs backwards"),
        ("0 0 * * FOO", "not a day of the week"),
        ("0 0 * * 1/0", "step must be at least 1"),
        ("0 0 0 1 1 * 2001", "no fire time after now"),
        ("@often", "invalid cron expression"),
    ];
    for (expression, expected) in cases {
        let err = CronSchedule::from_str(expression).unwrap_err().to_string();
        assert!(err.contains(expected), "{expression}: {err}");
    }
}

#[tokio::test(start_paused = true)]
async fn interval_first_tick_one_interval_after_start() {
    let start = Instant::now();
    let interval = Duration::from_secs(600);
    let mut ticker = Ticker::new(Schedule::Interval(interval), start, utc(NOW));

    let tick = ticker.next_tick(start, utc(NOW)).unwrap();
    assert_eq!(tick.at, start + interval);
    assert_eq!(tick.wall, utc("2025-01-01T10:17:30Z"));
    assert_eq!(tick.gap, interval);
    assert_eq!(tick.skipped, 0);
}

#[tokio::test(start_paused = true)]
async fn interval_tick_at_now_not_skipped() {
    let start = Instant::now();
    let interval = Duration::from_secs(600);
    let mut ticker = Ticker::new(Schedule::Interval(interval), start, utc(NOW));

    let tick = ticker.next_tick(start + interval, utc(NOW)).unwrap();
    assert_eq!(tick.at, start + interval);
    assert_eq!(tick.skipped, 0);

    let late = ticker.next_tick(start + interval * 2 + Duration::from_nanos(1), utc(NOW)).unwrap();
    assert_eq!(late.at, start + interval * 3);
    assert_eq!(late.skipped, 1);
}

#[tokio::test(start_paused = true)]
async fn interval_long_scan_skips_ticks() {
    let start = Instant::now();
    let interval = Duration::from_secs(600);
    let mut ticker = Ticker::new(Schedule::Interval(interval), start, utc(NOW));

    // A scan from the start that ran 25 minutes missed the ticks at 10 and 20 minutes.
    let tick = ticker.next_tick(start + Duration::from_secs(1500), utc(NOW)).unwrap();
    assert_eq!(tick.at, start + Duration::from_secs(1800));
    assert_eq!(tick.skipped, 2);
    assert_eq!(tick.wall, utc(NOW) + TimeDelta::minutes(5));
}

#[tokio::test(start_paused = true)]
async fn cron_ticker_counts_skipped_fire_times() {
    let start = Instant::now();
    let schedule = Schedule::Cron(cron("*/10 * * * *"));
    let mut ticker = Ticker::new(schedule, start, utc("2025-01-01T10:00:00Z"));

    let first = ticker.next_tick(start, utc("2025-01-01T10:00:00Z")).unwrap();
    assert_eq!(first.wall, utc("2025-01-01T10:10:00Z"));
    assert_eq!(first.at, start + Duration::from_secs(600));
    assert_eq!(first.skipped, 0);
    assert_eq!(first.gap, Duration::from_secs(600));

    // The scan from 10:10 ran until 10:35: 10:20 and 10:30 were skipped.
    let now = start + Duration::from_secs(35 * 60);
    let second = ticker.next_tick(now, utc("2025-01-01T10:35:00Z")).unwrap();
    assert_eq!(second.wall, utc("2025-01-01T10:40:00Z"));
    assert_eq!(second.at, now + Duration::from_secs(300));
    assert_eq!(second.skipped, 2);
}

#[tokio::test(start_paused = true)]
async fn cron_ticker_ends_without_fire_times() {
    let start = Instant::now();
    let schedule = Schedule::Cron(cron("0 0 0 1 1 * 2099"));
    let mut ticker = Ticker::new(schedule, start, utc("2099-01-01T00:00:00Z"));
    assert_eq!(ticker.next_tick(start, utc("2099-01-01T00:00:00Z")), None);
}

#[tokio::test(start_paused = true)]
async fn jitter_stays_within_bounds() {
    let start = Instant::now();
    let mut rng = rand::rng();
    let tick = |gap| Tick {
        at: start,
        wall: utc(NOW),
        gap,
        skipped: 0,
    };

    let max = Duration::from_secs(30);
    let draws: Vec<Duration> = (0..1000).map(|_| draw_jitter(max, &tick(Duration::from_secs(600)), &mut rng)).collect();
    assert!(draws.iter().all(|jitter| *jitter <= max), "{draws:?}");
    assert!(draws.iter().any(|jitter| *jitter > max / 2), "1000 draws all in the lower half");

    let short_gap = Duration::from_secs(40);
    for _ in 0..1000 {
        let jitter = draw_jitter(max, &tick(short_gap), &mut rng);
        assert!(jitter <= short_gap / 2, "{jitter:?}");
    }

    assert_eq!(draw_jitter(Duration::ZERO, &tick(Duration::from_secs(600)), &mut rng), Duration::ZERO);
    assert!(draw_jitter(max, &tick(Duration::MAX), &mut rng) <= max);
}
