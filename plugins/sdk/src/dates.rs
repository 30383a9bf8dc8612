//! Dates: the time now, and Unix seconds written for people (UTC, as
//! WebAssembly has no time zone; pages may turn them local with a script).

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// (year, month 1-12, day 1-31, hour, minute) of Unix seconds, in UTC.
pub fn civil(secs: i64) -> (i64, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let in_day = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, (in_day / 3600) as u32, (in_day % 3600 / 60) as u32)
}

/// `1 Dec 2026`.
pub fn date(secs: i64) -> String {
    let (y, m, d, _, _) = civil(secs);
    format!("{d} {} {y}", MONTHS[(m - 1) as usize])
}

/// `1 Dec 2026, 14:05 UTC`.
pub fn datetime(secs: i64) -> String {
    let (y, m, d, hh, mm) = civil(secs);
    format!("{d} {} {y}, {hh:02}:{mm:02} UTC", MONTHS[(m - 1) as usize])
}

/// `2026-12-01T14:05:00Z`, for `<time datetime>`.
pub fn iso(secs: i64) -> String {
    let (y, m, d, hh, mm) = civil(secs);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{:02}Z", secs.rem_euclid(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_days() {
        assert_eq!(date(0), "1 Jan 1970");
        assert_eq!(datetime(1_764_547_500), "1 Dec 2025, 00:05 UTC");
        assert_eq!(iso(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(date(-86_400), "31 Dec 1969");
    }
}
