//! When to ask the CA next: renewal at two thirds of a certificate's
//! lifetime with jitter (or inside the CA's ARI window when it offers one),
//! and exponential, capped backoff after failures. Pure arithmetic on unix
//! seconds, so it is tested without clocks.

use std::time::Duration;

use rand::Rng;

/// When to renew a certificate valid from `not_before` to `not_after`: two
/// thirds into its life, minus up to 1/30 of the lifetime of jitter (so many
/// porches do not all knock at the CA in the same second), and never later
/// than a day before it expires.
pub fn renew_at(not_before: i64, not_after: i64, rng: &mut impl Rng) -> i64 {
    let life = (not_after - not_before).max(1);
    let two_thirds = not_before + life * 2 / 3;
    let jitter = rng.gen_range(0..=(life / 30).max(0));
    (two_thirds - jitter).min(not_after - 86_400.min(life / 3))
}

/// A random moment inside the CA's suggested window (RFC 9773).
pub fn in_window(start: i64, end: i64, rng: &mut impl Rng) -> i64 {
    if end <= start { start } else { rng.gen_range(start..=end) }
}

/// The wait after the `failures`-th failure in a row: `min` doubled each
/// time, at most `max`, with up to a tenth added at random.
pub fn backoff(failures: u32, min: Duration, max: Duration, rng: &mut impl Rng) -> Duration {
    let factor = 1u32.checked_shl(failures.saturating_sub(1).min(30)).unwrap_or(u32::MAX);
    let base = min.saturating_mul(factor).min(max);
    let extra = base.as_millis() as u64 / 10;
    (base + Duration::from_millis(rng.gen_range(0..=extra))).min(max.max(min))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn renewal_is_two_thirds_in_with_bounded_jitter() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let day = 86_400;
        for _ in 0..200 {
            let at = renew_at(0, 90 * day, &mut rng);
            assert!(at <= 60 * day && at >= 57 * day, "{at}");
        }
        // A one-hour certificate still renews before it expires.
        let at = renew_at(0, 3600, &mut rng);
        assert!((2280..=2400).contains(&at), "{at}");
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let (min, max) = (Duration::from_secs(60), Duration::from_secs(3600));
        let first = backoff(1, min, max, &mut rng);
        assert!(first >= min && first <= Duration::from_secs(66));
        let third = backoff(3, min, max, &mut rng);
        assert!(third >= Duration::from_secs(240) && third <= Duration::from_secs(264));
        assert_eq!(backoff(40, min, max, &mut rng), max);
    }

    #[test]
    fn window_picks_inside() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..50 {
            let t = in_window(100, 200, &mut rng);
            assert!((100..=200).contains(&t));
        }
        assert_eq!(in_window(300, 200, &mut rng), 300);
    }
}
