//! Sign-in attempts limited per account and per address (GCRA via `governor`), per replica.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::time::Duration;

pub struct SignInLimiter {
    accounts: DefaultKeyedRateLimiter<String>,
    addresses: DefaultKeyedRateLimiter<String>,
}

fn quota(per_minute: u32) -> Quota {
    let n = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(n).allow_burst(n)
}

impl SignInLimiter {
    pub fn new(per_account_per_minute: u32, per_address_per_minute: u32) -> Self {
        Self {
            accounts: RateLimiter::keyed(quota(per_account_per_minute)),
            addresses: RateLimiter::keyed(quota(per_address_per_minute)),
        }
    }

    /// Takes one attempt for this account and address; `Err(wait)` when either is exhausted.
    pub fn check(&self, account: &str, address: &str) -> Result<(), Duration> {
        let now = DefaultClock::default().now();
        let wait = |r: Result<(), governor::NotUntil<_>>| r.err().map(|n| n.wait_time_from(now));
        let a = wait(self.addresses.check_key(&address.to_string()));
        let b = wait(self.accounts.check_key(&account.to_lowercase()));
        match a.into_iter().chain(b).max() {
            Some(w) => Err(w.max(Duration::from_secs(1))),
            None => Ok(()),
        }
    }

    /// Forgets keys that are back to a full quota (called from a periodic task).
    pub fn shrink(&self) {
        self.accounts.retain_recent();
        self.addresses.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_limited_across_addresses_and_an_address_across_accounts() {
        let l = SignInLimiter::new(3, 5);
        for i in 0..3 {
            assert!(l.check("alice", &format!("10.0.0.{i}")).is_ok());
        }
        let wait = l.check("alice", "10.0.0.9").expect_err("account exhausted");
        assert!(wait >= Duration::from_secs(1));
        for u in ["b", "c", "d", "e"] {
            let _ = l.check(u, "10.1.1.1");
        }
        assert!(l.check("f", "10.1.1.1").is_ok());
        assert!(l.check("g", "10.1.1.1").is_err(), "address exhausted");
        assert!(l.check("h", "10.1.1.2").is_ok());
    }
}
