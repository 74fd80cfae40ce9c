//! Waiting for something outside us to become true (an agent coming up, a re-registration):
//! bounded by a timeout, with an exponential pause between looks. One loop for every caller.

use std::future::Future;
use std::time::{Duration, Instant};

/// One look at the condition.
pub enum Look<T> {
    /// Done: stop waiting with this value.
    Ready(T),
    /// Not yet; the reason is kept for the timeout message.
    NotYet(String),
    /// Waiting cannot help (e.g. authentication refused).
    Fail(anyhow::Error),
}

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    pub timeout: Duration,
}

/// `Err(Ok(last reason))` on timeout, `Err(Err(e))` when a look failed for good.
pub async fn until<T, F, Fut>(b: Backoff, mut look: F) -> Result<T, Result<String, anyhow::Error>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Look<T>>,
{
    let deadline = Instant::now() + b.timeout;
    let mut pause = b.first;
    loop {
        let last = match look().await {
            Look::Ready(v) => return Ok(v),
            Look::Fail(e) => return Err(Err(e)),
            Look::NotYet(why) => {
                tracing::debug!("waiting: {why}");
                why
            }
        };
        if Instant::now() + pause > deadline {
            return Err(Ok(last));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(b.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Backoff = Backoff {
        first: Duration::from_millis(1),
        max: Duration::from_millis(4),
        timeout: Duration::from_millis(200),
    };

    #[tokio::test]
    async fn ready_after_some_looks() {
        let mut n = 0;
        let got = until(FAST, || {
            n += 1;
            let k = n;
            async move {
                if k < 3 {
                    Look::NotYet(format!("look {k}"))
                } else {
                    Look::Ready(k)
                }
            }
        })
        .await;
        assert_eq!(got.ok(), Some(3));
    }

    #[tokio::test]
    async fn timeout_keeps_the_last_reason_and_fail_stops_at_once() {
        let got: Result<(), _> = until(FAST, || async { Look::NotYet("still down".into()) }).await;
        assert_eq!(got.unwrap_err().unwrap(), "still down");
        let mut looks = 0;
        let got: Result<(), _> = until(FAST, || {
            looks += 1;
            async { Look::Fail(anyhow::anyhow!("refused")) }
        })
        .await;
        assert!(got.unwrap_err().is_err());
        assert_eq!(looks, 1);
    }
}
