//! A binary running in the background, as a service manager would run it: its JSON log lines
//! (stderr) are collected as they come, the test waits for a line it expects, sends signals
//! with `kill(1)`, and waits for the exit with a bound. The process is killed if the test
//! ends first.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A spawned process and the lines it has written to stderr so far.
pub struct Background {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Start `command` with stderr captured (and stdout discarded).
    pub fn spawn(command: &mut Command) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the command starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().expect("the log is not poisoned").push(line);
            }
        });
        Self {
            child,
            lines,
            reader: Some(reader),
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Every stderr line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("the log is not poisoned").clone()
    }

    /// Every stderr line so far that parses as a JSON log event.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The log events whose `message` is `message`.
    pub fn events_with(&self, message: &str) -> Vec<serde_json::Value> {
        self.events()
            .into_iter()
            .filter(|e| e["message"] == message)
            .collect()
    }

    /// Wait until `count` log events with `message` have been written; panic with the log
    /// after `timeout`, or if the process exits first.
    pub fn wait_for(
        &mut self,
        message: &str,
        count: usize,
        timeout: Duration,
    ) -> serde_json::Value {
        let start = Instant::now();
        loop {
            let found = self.events_with(message);
            if found.len() >= count {
                return found[count - 1].clone();
            }
            let exited = self.child.try_wait().expect("try_wait");
            assert!(
                exited.is_none() && start.elapsed() < timeout,
                "no {count}x {message:?} after {:?} (exit {exited:?}); log:\n{}",
                start.elapsed(),
                self.lines().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait until a stderr line contains `text` (for lines that are not log events).
    pub fn wait_for_line(&mut self, text: &str, timeout: Duration) {
        let start = Instant::now();
        while !self.lines().iter().any(|l| l.contains(text)) {
            let exited = self.child.try_wait().expect("try_wait");
            assert!(
                exited.is_none() && start.elapsed() < timeout,
                "no line with {text:?} after {:?} (exit {exited:?}); log:\n{}",
                start.elapsed(),
                self.lines().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Send `signal` (a name such as `TERM`) with `kill(1)`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.id().to_string())
            .status()
            .expect("kill(1) runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Wait for the exit; panic with the log after `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> (ExitStatus, Duration) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                if let Some(r) = self.reader.take() {
                    let _ = r.join();
                }
                return (status, start.elapsed());
            }
            if start.elapsed() >= timeout {
                let _ = self.child.kill();
                panic!(
                    "still running after {timeout:?}; log:\n{}",
                    self.lines().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
