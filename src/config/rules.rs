//! What a configuration value may be: one small rule type per kind of value
//! (a whole number in a range, a duration, a size, a rate, one of some
//! words...). A rule parses the text and writes its own "allowed" sentence
//! from the same bounds it checks, so the documentation of a key cannot
//! drift from what porch accepts.

use std::time::Duration;

/// Parses one key's text into its typed value.
pub trait Parse: Sync {
    type Out;
    /// The value, or `None` when the text is not allowed.
    fn parse(&self, text: &str) -> Option<Self::Out>;
    /// What is allowed, as a sentence fragment for errors and docs.
    fn allowed(&self) -> String;
    /// Texts just inside and just outside the bounds, for the edge tests.
    fn edges(&self) -> Edges {
        Edges::default()
    }
}

/// Values a rule must accept and refuse at its bounds.
#[derive(Debug, Default)]
pub struct Edges {
    pub accepted: Vec<String>,
    pub refused: Vec<String>,
}

/// A rule seen without its value type, as [`super::KEYS`] holds it.
pub trait Rule: Sync {
    fn allowed(&self) -> String;
    fn accepts(&self, text: &str) -> bool;
    fn edges(&self) -> Edges;
}

impl<P: Parse> Rule for P {
    fn allowed(&self) -> String {
        Parse::allowed(self)
    }
    fn accepts(&self, text: &str) -> bool {
        self.parse(text.trim()).is_some()
    }
    fn edges(&self) -> Edges {
        Parse::edges(self)
    }
}

/// A whole number from `.0` to `.1`, both included.
pub struct Whole<T>(pub T, pub T);

/// Whole numbers porch reads: they step by one at each bound.
pub trait Number: Copy + PartialOrd + std::fmt::Display + std::str::FromStr + Sync {
    fn step(self, up: bool) -> Option<Self>;
}

macro_rules! number {
    ($($t:ty),*) => {$(
        impl Number for $t {
            fn step(self, up: bool) -> Option<Self> {
                if up { self.checked_add(1) } else { self.checked_sub(1) }
            }
        }
    )*};
}
number!(u32, u64, usize);

impl<T: Number> Parse for Whole<T> {
    type Out = T;
    fn parse(&self, text: &str) -> Option<T> {
        text.parse().ok().filter(|n| *n >= self.0 && *n <= self.1)
    }
    fn allowed(&self) -> String {
        format!("a whole number from {} to {}", self.0, self.1)
    }
    fn edges(&self) -> Edges {
        Edges {
            accepted: vec![self.0.to_string(), self.1.to_string()],
            refused: [self.0.step(false), self.1.step(true)].into_iter().flatten().map(|n| n.to_string()).collect(),
        }
    }
}

/// A duration such as `90d`, `12h` or `30s` from `.0` to `.1` (written the
/// same way).
pub struct Dur(pub &'static str, pub &'static str);

impl Dur {
    fn bounds(&self) -> (Duration, Duration) {
        // The bounds are porch's own literals; the unit test reads every one.
        let read = |t: &str| humantime::parse_duration(t).unwrap_or(Duration::ZERO);
        (read(self.0), read(self.1))
    }
}

impl Parse for Dur {
    type Out = Duration;
    fn parse(&self, text: &str) -> Option<Duration> {
        let (min, max) = self.bounds();
        parse_duration(text, min, max)
    }
    fn allowed(&self) -> String {
        format!("a duration from {} to {}, such as 90s, 15m, 12h or 7d", self.0, self.1)
    }
    fn edges(&self) -> Edges {
        let (min, max) = self.bounds();
        let secs = |d: Duration| format!("{}s", d.as_secs());
        let mut refused = vec![secs(max + Duration::from_secs(1))];
        if let Some(below) = min.checked_sub(Duration::from_secs(1)) {
            refused.push(secs(below));
        }
        Edges { accepted: vec![self.0.to_owned(), self.1.to_owned(), secs(min), secs(max)], refused }
    }
}

/// A size such as `64KiB`, `256MiB` or a plain number of bytes, from `.0`
/// to `.1` (written the same way).
pub struct Bytes(pub &'static str, pub &'static str);

impl Bytes {
    fn bounds(&self) -> (u64, u64) {
        (parse_size(self.0).unwrap_or(0), parse_size(self.1).unwrap_or(0))
    }
}

impl Parse for Bytes {
    type Out = u64;
    fn parse(&self, text: &str) -> Option<u64> {
        let (min, max) = self.bounds();
        parse_size(text).filter(|n| (min..=max).contains(n))
    }
    fn allowed(&self) -> String {
        format!("a size from {} to {}, such as 64KiB, 256MiB or 2GiB", self.0, self.1)
    }
    fn edges(&self) -> Edges {
        let (min, max) = self.bounds();
        Edges {
            accepted: vec![self.0.to_owned(), self.1.to_owned(), min.to_string(), max.to_string()],
            refused: [min.checked_sub(1), max.checked_add(1)].into_iter().flatten().map(|n| n.to_string()).collect(),
        }
    }
}

/// `off`, or a rate such as `20/s`, `600/min` or `5000/h`: the period of one
/// event, `None` when off.
pub struct RateOrOff;

impl Parse for RateOrOff {
    type Out = Option<Duration>;
    fn parse(&self, text: &str) -> Option<Option<Duration>> {
        match text {
            "off" => Some(None),
            _ => parse_rate(text).map(Some),
        }
    }
    fn allowed(&self) -> String {
        "off, or a rate such as 20/s, 600/min or 5000/h".into()
    }
    fn edges(&self) -> Edges {
        let accepted = ["off", "1/h", "1000000/s"].map(str::to_owned).to_vec();
        Edges { accepted, refused: ["0/s", "5/fortnight", "fast"].map(str::to_owned).to_vec() }
    }
}

/// One of a few words, each standing for a value.
pub struct OneOf<T: 'static>(pub &'static [(&'static str, T)]);

impl<T: Copy + Sync> Parse for OneOf<T> {
    type Out = T;
    fn parse(&self, text: &str) -> Option<T> {
        self.0.iter().find(|(word, _)| word.eq_ignore_ascii_case(text)).map(|(_, v)| *v)
    }
    fn allowed(&self) -> String {
        let words: Vec<&str> = self.0.iter().map(|(w, _)| *w).collect();
        match words.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => words.join(""),
        }
    }
    fn edges(&self) -> Edges {
        Edges { accepted: self.0.iter().map(|(w, _)| (*w).to_owned()).collect(), refused: vec!["maybe".into()] }
    }
}

/// `auto` (`None`, resolved where porch starts), or what `.0` allows.
pub struct AutoOr<P>(pub P);

impl<P: Parse> Parse for AutoOr<P> {
    type Out = Option<P::Out>;
    fn parse(&self, text: &str) -> Option<Self::Out> {
        if text == "auto" { Some(None) } else { self.0.parse(text).map(Some) }
    }
    fn allowed(&self) -> String {
        format!("auto, or {}", self.0.allowed())
    }
    fn edges(&self) -> Edges {
        let mut edges = self.0.edges();
        edges.accepted.push("auto".into());
        edges
    }
}

/// `off` (`None`), or what `.0` allows.
pub struct OffOr<P>(pub P);

impl<P: Parse> Parse for OffOr<P> {
    type Out = Option<P::Out>;
    fn parse(&self, text: &str) -> Option<Self::Out> {
        if text == "off" { Some(None) } else { self.0.parse(text).map(Some) }
    }
    fn allowed(&self) -> String {
        format!("off, or {}", self.0.allowed())
    }
    fn edges(&self) -> Edges {
        let mut edges = self.0.edges();
        edges.accepted.push("off".into());
        edges
    }
}

/// A value with its own parser and a sentence saying what it accepts, for
/// values with no numeric range (names, paths, URLs, address lists).
pub struct Custom<T: 'static> {
    pub allowed: &'static str,
    pub parse: fn(&str) -> Option<T>,
}

impl<T> Parse for Custom<T> {
    type Out = T;
    fn parse(&self, text: &str) -> Option<T> {
        (self.parse)(text)
    }
    fn allowed(&self) -> String {
        self.allowed.to_owned()
    }
}

/// A duration like `90d`, `12h`, `30s`, within `[min, max]`.
pub fn parse_duration(v: &str, min: Duration, max: Duration) -> Option<Duration> {
    let d = humantime::parse_duration(v).ok()?;
    (min..=max).contains(&d).then_some(d)
}

/// A rate like `20/s`, `10/min` or `5000/h`, as the period of one event.
pub fn parse_rate(v: &str) -> Option<Duration> {
    let (count, unit) = v.split_once('/')?;
    let count: u32 = count.trim().parse().ok().filter(|n| *n > 0)?;
    let unit = match unit.trim() {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "m" | "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3600),
        _ => return None,
    };
    Some(unit / count).filter(|p| !p.is_zero())
}

/// A size like `64KiB`, `10MiB` or a plain number of bytes.
pub fn parse_size(v: &str) -> Option<u64> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (digits, unit) = v.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "KB" | "kB" => 1 << 10,
        "MiB" | "M" | "MB" => 1 << 20,
        "GiB" | "G" | "GB" => 1 << 30,
        "TiB" | "T" | "TB" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// A lower-case DNS name: labels of letters, digits and hyphens.
pub fn parse_domain(v: &str) -> Option<String> {
    let v = v.trim_end_matches('.').to_ascii_lowercase();
    let ok = !v.is_empty()
        && v.len() <= 253
        && v.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    ok.then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_text_comes_from_the_bounds_checked() {
        assert_eq!(Parse::allowed(&Whole(1u32, 64)), "a whole number from 1 to 64");
        let d = Dur("1h", "400d");
        assert!(Parse::allowed(&d).starts_with("a duration from 1h to 400d"));
        assert_eq!(d.parse("59m"), None);
        assert_eq!(d.parse("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(d.parse("400d"), Some(Duration::from_secs(400 * 86400)));
        assert_eq!(d.parse("401d"), None);
        let b = Bytes("1KiB", "10MiB");
        assert_eq!(b.parse("1023"), None);
        assert_eq!(b.parse("1KiB"), Some(1024));
        assert_eq!(b.parse("10MiB"), Some(10 << 20));
        assert_eq!(b.parse(&((10 << 20) + 1).to_string()), None);
        assert_eq!(Parse::allowed(&OneOf(&[("a", 1), ("b", 2), ("c", 3)])), "a, b or c");
        assert_eq!(Parse::allowed(&AutoOr(Whole(1usize, 256))), "auto, or a whole number from 1 to 256");
    }

    #[test]
    fn rates_and_sizes_parse() {
        assert_eq!(parse_rate("20/s"), Some(Duration::from_millis(50)));
        assert_eq!(parse_rate("10/min"), Some(Duration::from_secs(6)));
        assert_eq!(parse_rate("0/s"), None);
        assert_eq!(parse_rate("5/fortnight"), None);
        assert_eq!(parse_size("64KiB"), Some(65536));
        assert_eq!(parse_size("12XB"), None);
        assert_eq!(parse_size("99999999999TiB"), None, "overflow is refused, not wrapped");
    }
}
