//! Shutdown requests, passed to every part of the daemon through a
//! `tokio::sync::watch` channel.
//!
//! The first SIGTERM or SIGINT requests a graceful shutdown: no new scan
//! starts and a running scan gets its grace period. A second signal requests
//! an immediate stop, which abandons the running scan.

use tokio::sync::watch;

/// How far shutdown has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ShutdownLevel {
    Running,
    /// Start nothing new, and let a running scan finish within its grace period.
    Graceful,
    /// Abandon a running scan now.
    Immediate,
}

/// The sending side: the signal handler, or a test.
#[derive(Debug)]
pub struct ShutdownTrigger {
    sender: watch::Sender<ShutdownLevel>,
}

/// The receiving side, cloned into every task that must stop.
#[derive(Debug, Clone)]
pub struct Shutdown {
    receiver: watch::Receiver<ShutdownLevel>,
}

/// Creates a trigger and the receiver it drives.
pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (sender, receiver) = watch::channel(ShutdownLevel::Running);
    (ShutdownTrigger { sender }, Shutdown { receiver })
}

impl ShutdownTrigger {
    /// Moves shutdown to the next level and returns the new level.
    pub fn escalate(&self) -> ShutdownLevel {
        let mut level = ShutdownLevel::Running;
        self.sender.send_modify(|current| {
            *current = match *current {
                ShutdownLevel::Running => ShutdownLevel::Graceful,
                ShutdownLevel::Graceful | ShutdownLevel::Immediate => ShutdownLevel::Immediate,
            };
            level = *current;
        });
        level
    }
}

impl Shutdown {
    /// Tells whether a shutdown of any kind was requested.
    pub fn is_requested(&self) -> bool {
        *self.receiver.borrow() >= ShutdownLevel::Graceful
    }

    /// Completes once a shutdown is requested, or at once when the trigger
    /// was dropped, since nothing could request it any more.
    pub async fn requested(&mut self) {
        self.reached(ShutdownLevel::Graceful).await;
    }

    /// Completes once an immediate shutdown is requested, or the trigger was dropped.
    pub async fn immediate(&mut self) {
        self.reached(ShutdownLevel::Immediate).await;
    }

    async fn reached(&mut self, level: ShutdownLevel) {
        // An error means the trigger was dropped.
        let _ = self.receiver.wait_for(|current| *current >= level).await;
    }
}

/// Installs handlers for SIGTERM and SIGINT and spawns a task that escalates
/// `trigger` on each signal. Fails when a handler cannot be installed.
pub fn listen_for_signals(trigger: ShutdownTrigger) -> std::io::Result<()> {
    let mut signals = Signals::install()?;
    tokio::spawn(async move {
        let name = signals.recv().await;
        tracing::info!(signal = name, "shutdown requested, so no new scan starts");
        trigger.escalate();

        let name = signals.recv().await;
        tracing::warn!(signal = name, "second shutdown signal, abandoning the running scan now");
        trigger.escalate();
    });
    Ok(())
}

/// The signal streams a shutdown listens to.
#[cfg(unix)]
struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// Waits for the next signal and returns its name.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> std::io::Result<Self> {
        Ok(Signals)
    }

    /// Waits for the next Ctrl-C and returns its name.
    async fn recv(&mut self) -> &'static str {
        // An error here means no handler could be installed. Waiting forever
        // then matches a process that never receives the signal.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        "Ctrl-C"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn escalate_goes_graceful_then_immediate() {
        let (trigger, shutdown) = channel();
        assert!(!shutdown.is_requested());

        assert_eq!(trigger.escalate(), ShutdownLevel::Graceful);
        assert!(shutdown.is_requested());

        assert_eq!(trigger.escalate(), ShutdownLevel::Immediate);
        assert_eq!(trigger.escalate(), ShutdownLevel::Immediate);
    }

    #[tokio::test(start_paused = true)]
    async fn requested_waits_for_trigger() {
        let (trigger, mut shutdown) = channel();
        let waiter = tokio::spawn(async move { shutdown.requested().await });

        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        assert!(!waiter.is_finished());

        trigger.escalate();
        waiter.await.unwrap();
    }

    #[tokio::test]
    async fn dropped_trigger_counts_as_shutdown() {
        let (trigger, mut shutdown) = channel();
        drop(trigger);
        shutdown.requested().await;
        shutdown.immediate().await;
    }
}
