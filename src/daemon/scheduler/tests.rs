use std::future::Future;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::time::Instant;

use super::*;
use crate::daemon::schedule::{CronSchedule, Schedule, Ticker};
use crate::daemon::shutdown::{self, ShutdownTrigger};

const MINUTE: Duration = Duration::from_secs(60);

/// Fake scans that record when each one starts, relative to `t0`, take
/// `length` on tokio's clock, and request shutdown when scan number
/// `stop_after` finishes.
#[derive(Clone)]
struct FakeScans {
    t0: Instant,
    length: Duration,
    stop_after: usize,
    trigger: Arc<ShutdownTrigger>,
    starts: Arc<Mutex<Vec<Duration>>>,
    completed: Arc<AtomicUsize>,
}

impl FakeScans {
    fn new(length: Duration, stop_after: usize, trigger: ShutdownTrigger) -> Self {
        FakeScans {
            t0: Instant::now(),
            length,
            stop_after,
            trigger: Arc::new(trigger),
            starts: Arc::default(),
            completed: Arc::default(),
        }
    }

    fn start(&self) -> impl Future<Output = ()> + 'static {
        let number = {
            let mut starts = self.starts.lock().unwrap();
            starts.push(self.t0.elapsed());
            starts.len()
        };
        let scans = self.clone();
        async move {
            tokio::time::sleep(scans.length).await;
            scans.completed.fetch_add(1, Ordering::SeqCst);
            if number >= scans.stop_after {
                scans.trigger.escalate();
            }
        }
    }

    fn starts(&self) -> Vec<Duration> {
        self.starts.lock().unwrap().clone()
    }

    fn completed(&self) -> usize {
        self.completed.load(Ordering::SeqCst)
    }
}

fn options(initial_scan: bool, jitter: Duration, grace_period: Duration) -> LoopOptions {
    LoopOptions {
        initial_scan,
        jitter,
        grace_period,
    }
}

/// Returns a wall clock that starts at `base` and follows tokio's paused clock.
fn paused_wall_clock(base: DateTime<Utc>) -> impl Fn() -> DateTime<Utc> {
    let start = Instant::now();
    move || base + TimeDelta::from_std(start.elapsed()).unwrap()
}

type SystemClock = fn() -> DateTime<Utc>;

fn interval_scheduler(interval: Duration, options: LoopOptions) -> (Scheduler<SystemClock>, Arc<DaemonState>) {
    let state = Arc::new(DaemonState::new(!options.initial_scan));
    let ticker = Ticker::new(Schedule::Interval(interval), Instant::now(), Utc::now());
    let scheduler = Scheduler::new(ticker, options, Arc::clone(&state), Utc::now as SystemClock);
    (scheduler, state)
}

#[tokio::test(start_paused = true)]
async fn interval_scans_at_each_tick() {
    let (trigger, shutdown) = shutdown::channel();
    let scans = FakeScans::new(MINUTE, 4, trigger);
    let (scheduler, state) = interval_scheduler(10 * MINUTE, options(true, Duration::ZERO, MINUTE));
    assert!(!state.is_ready());

    scheduler.run(shutdown, || scans.start()).await;

    assert_eq!(scans.starts(), [Duration::ZERO, 10 * MINUTE, 20 * MINUTE, 30 * MINUTE]);
    assert_eq!(scans.completed(), 4);
    assert!(state.is_ready());
    assert_eq!(state.metrics.skipped_ticks.get(), 0);
    assert_eq!(state.metrics.scan_running.get(), 0);
}

#[tokio::test(start_paused = true)]
async fn interval_without_initial_scan_waits() {
    let (trigger, shutdown) = shutdown::channel();
    let scans = FakeScans::new(MINUTE, 2, trigger);
    let (scheduler, state) = interval_scheduler(10 * MINUTE, options(false, Duration::ZERO, MINUTE));
    assert!(state.is_ready(), "without an initial scan the daemon is ready at once");

    scheduler.run(shutdown, || scans.start()).await;

    assert_eq!(scans.starts(), [10 * MINUTE, 20 * MINUTE]);
}

#[tokio::test(start_paused = true)]
async fn jitter_delays_within_bound() {
    let jitter = Duration::from_secs(30);
    let interval = 10 * MINUTE;
    let (trigger, shutdown) = shutdown::channel();
    let scans = FakeScans::new(MINUTE, 50, trigger);
    let (scheduler, _state) = interval_scheduler(interval, options(true, jitter, MINUTE));

    scheduler.run(shutdown, || scans.start()).await;

    let starts = scans.starts();
    assert_eq!(starts.len(), 50);
    assert_eq!(starts[0], Duration::ZERO, "the initial scan has no jitter");
    let delays: Vec<Duration> = starts.iter().enumerate().skip(1).map(|(k, start)| *start - interval * k as u32).collect();
    assert!(delays.iter().all(|delay| *delay <= jitter), "{delays:?}");
    assert!(delays.iter().any(|delay| *delay > Duration::ZERO), "49 scans without jitter: {delays:?}");
}

#[tokio::test(start_paused = true)]
async fn long_scan_skips_overlapping_ticks() {
    let (trigger, shutdown) = shutdown::channel();
    let scans = FakeScans::new(25 * MINUTE, 3, trigger);
    let (scheduler, state) = interval_scheduler(10 * MINUTE, options(true, Duration::ZERO, MINUTE));

    scheduler.run(shutdown, || scans.start()).await;

    // Each 25-minute scan misses two 10-minute ticks.
    assert_eq!(scans.starts(), [Duration::ZERO, 30 * MINUTE, 60 * MINUTE]);
    assert_eq!(state.metrics.skipped_ticks.get(), 4);
}

#[tokio::test(start_paused = true)]
async fn cron_scans_at_fire_times() {
    let (trigger, shutdown) = shutdown::channel();
    let scans = FakeScans::new(MINUTE, 3, trigger);
    let base = DateTime::parse_from_rfc3339("2025-01-01T10:07:30Z").unwrap().with_timezone(&Utc);
    let wall_clock = paused_wall_clock(base);
    let schedule = Schedule::Cron(CronSchedule::from_str("*/15 * * * *").unwrap());
    let state = Arc::new(DaemonState::new(true));
    let ticker = Ticker::new(schedule, Instant::now(), wall_clock());
    let scheduler = Scheduler::new(ticker, options(false, Duration::ZERO, MINUTE), Arc::clone(&state), wall_clock);

    scheduler.run(shutdown, || scans.start()).await;

    // 10:15, 10:30 and 10:45 are 7m30s, 22m30s and 37m30s after 10:07:30.
    let half = MINUTE / 2;
    assert_eq!(scans.starts(), [7 * MINUTE + half, 22 * MINUTE + half, 37 * MINUTE + half]);
}

#[tokio::test(start_paused = true)]
async fn shutdown_during_wait_exits_at_once() {
    let (trigger, shutdown) = shutdown::channel();
    let scans = FakeScans::new(MINUTE, usize::MAX, shutdown::channel().0);
    let (scheduler, _state) = interval_scheduler(60 * MINUTE, options(false, Duration::ZERO, MINUTE));
    let scans_in_task = scans.clone();
    let running = tokio::spawn(async move { scheduler.run(shutdown, || scans_in_task.start()).await });

    tokio::time::sleep(5 * MINUTE).await;
    let requested_at = Instant::now();
    trigger.escalate();
    running.await.unwrap();

    assert_eq!(requested_at.elapsed(), Duration::ZERO);
    assert!(scans.starts().is_empty(), "a scan started during shutdown");
}

#[tokio::test(start_paused = true)]
async fn shutdown_during_scan_abandons_after_grace() {
    let grace = MINUTE;
    let (trigger, shutdown) = shutdown::channel();
    let scans = FakeScans::new(60 * MINUTE, usize::MAX, shutdown::channel().0);
    let (scheduler, state) = interval_scheduler(120 * MINUTE, options(true, Duration::ZERO, grace));
    let scans_in_task = scans.clone();
    let state_in_task = Arc::clone(&state);
    let running = tokio::spawn(async move { scheduler.run(shutdown, || scans_in_task.start()).await });

    tokio::time::sleep(5 * MINUTE).await;
    assert_eq!(state_in_task.metrics.scan_running.get(), 1);
    let requested_at = Instant::now();
    trigger.escalate();
    running.await.unwrap();

    assert_eq!(requested_at.elapsed(), grace);
    assert_eq!(scans.starts().len(), 1);
    assert_eq!(scans.completed(), 0, "the abandoned scan ran to its end");
    assert_eq!(state.metrics.scan_running.get(), 0);
    assert!(!state.is_ready(), "an abandoned scan made the daemon ready");
}

#[tokio::test(start_paused = true)]
async fn shutdown_during_scan_waits_for_it() {
    let (trigger, shutdown) = shutdown::channel();
    let scans = FakeScans::new(10 * MINUTE, usize::MAX, shutdown::channel().0);
    let (scheduler, state) = interval_scheduler(120 * MINUTE, options(true, Duration::ZERO, 60 * MINUTE));
    let scans_in_task = scans.clone();
    let running = tokio::spawn(async move { scheduler.run(shutdown, || scans_in_task.start()).await });

    tokio::time::sleep(5 * MINUTE).await;
    let requested_at = Instant::now();
    trigger.escalate();
    running.await.unwrap();

    assert_eq!(requested_at.elapsed(), 5 * MINUTE, "the scan had 5 minutes left");
    assert_eq!(scans.completed(), 1);
    assert_eq!(scans.starts().len(), 1, "a scan started after shutdown");
    assert!(state.is_ready());
}

#[tokio::test(start_paused = true)]
async fn second_signal_abandons_at_once() {
    let (trigger, shutdown) = shutdown::channel();
    let scans = FakeScans::new(60 * MINUTE, usize::MAX, shutdown::channel().0);
    let (scheduler, _state) = interval_scheduler(120 * MINUTE, options(true, Duration::ZERO, 30 * MINUTE));
    let scans_in_task = scans.clone();
    let running = tokio::spawn(async move { scheduler.run(shutdown, || scans_in_task.start()).await });

    tokio::time::sleep(5 * MINUTE).await;
    trigger.escalate();
    tokio::time::sleep(MINUTE).await;
    let second_at = Instant::now();
    trigger.escalate();
    running.await.unwrap();

    assert_eq!(second_at.elapsed(), Duration::ZERO);
    assert_eq!(scans.completed(), 0);
}
