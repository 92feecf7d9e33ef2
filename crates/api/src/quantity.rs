//! Resource quantities (`500m`, `1.5Gi`, `2e3`) as Kubernetes reads them: exact
//! fixed-point numbers, so that requests can be added, compared and printed
//! without floating-point drift.

use std::cmp::Ordering;
use std::fmt;
use std::ops::{Add, Sub};

/// Nano-units per unit: the finest scale a quantity keeps (smaller parts round up,
/// as Kubernetes rounds them).
const NANO: i128 = 1_000_000_000;

/// How a quantity was written, so that it prints back the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `Ki`, `Mi`, `Gi`, … (powers of 1024).
    BinarySi,
    /// `m`, `k`, `M`, `G`, … or no suffix.
    #[default]
    DecimalSi,
}

/// An exact quantity.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quantity {
    nanos: i128,
    format: Format,
}

/// A string that is not a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {0:?}")]
pub struct QuantityError(pub String);

impl Quantity {
    /// Parses `1`, `0.5`, `100m`, `2Gi`, `1e3`, `-4k`.
    pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
        let bad = || QuantityError(text.to_string());
        let s = text.trim();
        let (negative, s) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let number_len = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
        let (number, suffix) = s.split_at(number_len);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(bad());
        }
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        // The number as an integer `mantissa` times 10^-scale.
        let digits = format!("{whole}{fraction}");
        let digits = digits.trim_start_matches('0');
        if digits.len() > 30 {
            return Err(bad());
        }
        let mantissa: i128 = if digits.is_empty() { 0 } else { digits.parse().map_err(|_| bad())? };
        let scale = fraction.len() as i32;
        let (format, multiplier, exponent): (Format, i128, i32) = match suffix {
            "" => (Format::DecimalSi, 1, 0),
            "n" => (Format::DecimalSi, 1, -9),
            "u" => (Format::DecimalSi, 1, -6),
            "m" => (Format::DecimalSi, 1, -3),
            "k" => (Format::DecimalSi, 1, 3),
            "M" => (Format::DecimalSi, 1, 6),
            "G" => (Format::DecimalSi, 1, 9),
            "T" => (Format::DecimalSi, 1, 12),
            "P" => (Format::DecimalSi, 1, 15),
            "E" => (Format::DecimalSi, 1, 18),
            "Ki" => (Format::BinarySi, 1 << 10, 0),
            "Mi" => (Format::BinarySi, 1 << 20, 0),
            "Gi" => (Format::BinarySi, 1 << 30, 0),
            "Ti" => (Format::BinarySi, 1 << 40, 0),
            "Pi" => (Format::BinarySi, 1 << 50, 0),
            "Ei" => (Format::BinarySi, 1 << 60, 0),
            e if e.starts_with(['e', 'E']) => {
                let exponent: i32 = e[1..].parse().map_err(|_| bad())?;
                if !(-30..=30).contains(&exponent) {
                    return Err(bad());
                }
                (Format::DecimalSi, 1, exponent)
            }
            _ => return Err(bad()),
        };
        // nanos = mantissa * multiplier * 10^(exponent - scale + 9), rounded up.
        let power = exponent - scale + 9;
        let scaled = mantissa.checked_mul(multiplier).ok_or_else(bad)?;
        let nanos = if power >= 0 {
            10i128.checked_pow(power as u32).and_then(|p| scaled.checked_mul(p)).ok_or_else(bad)?
        } else {
            let divisor = 10i128.checked_pow((-power) as u32).ok_or_else(bad)?;
            (scaled + divisor - 1) / divisor
        };
        Ok(Quantity { nanos: if negative { -nanos } else { nanos }, format })
    }

    /// Whole milli-units, rounded up (CPU is counted in millicores).
    pub fn millis(&self) -> i128 {
        div_ceil(self.nanos, NANO / 1000)
    }

    /// Whole units, rounded up (memory is counted in bytes).
    pub fn value(&self) -> i128 {
        div_ceil(self.nanos, NANO)
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// A quantity of `millis` thousandths, printed in decimal form.
    pub fn from_millis(millis: i128) -> Quantity {
        Quantity { nanos: millis * (NANO / 1000), format: Format::DecimalSi }
    }

    /// A quantity of whole units printed in `format`.
    pub fn from_value(value: i128, format: Format) -> Quantity {
        Quantity { nanos: value * NANO, format }
    }
}

fn div_ceil(a: i128, b: i128) -> i128 {
    let q = a / b;
    if a % b > 0 { q + 1 } else { q }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Quantity) -> bool {
        self.nanos == other.nanos
    }
}
impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Quantity) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Quantity {
    fn cmp(&self, other: &Quantity) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl Add for Quantity {
    type Output = Quantity;
    fn add(self, other: Quantity) -> Quantity {
        Quantity { nanos: self.nanos.saturating_add(other.nanos), format: self.format }
    }
}

impl Sub for Quantity {
    type Output = Quantity;
    fn sub(self, other: Quantity) -> Quantity {
        Quantity { nanos: self.nanos.saturating_sub(other.nanos), format: self.format }
    }
}

impl std::iter::Sum for Quantity {
    fn sum<I: Iterator<Item = Quantity>>(iter: I) -> Quantity {
        iter.fold(Quantity::default(), Add::add)
    }
}

/// The canonical form: the largest suffix of the quantity's format that keeps it exact
/// (`1536Mi` → `1.5Gi` is not exact in binary form, so it stays `1536Mi`).
impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.nanos < 0 { "-" } else { "" };
        let n = self.nanos.abs();
        if n == 0 {
            return f.write_str("0");
        }
        if self.format == Format::BinarySi && n % NANO == 0 {
            let units = n / NANO;
            for (suffix, size) in [("Ei", 1i128 << 60), ("Pi", 1 << 50), ("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
                if units % size == 0 {
                    return write!(f, "{sign}{}{suffix}", units / size);
                }
            }
            return write!(f, "{sign}{units}");
        }
        for (suffix, power) in [("E", 27u32), ("P", 24), ("T", 21), ("G", 18), ("M", 15), ("k", 12), ("", 9), ("m", 6), ("u", 3), ("n", 0)] {
            let size = 10i128.pow(power);
            if n % size == 0 {
                return write!(f, "{sign}{}{suffix}", n / size);
            }
        }
        write!(f, "{sign}{n}n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap()
    }

    #[test]
    fn parses_every_suffix_family() {
        assert_eq!(q("500m").millis(), 500);
        assert_eq!(q("0.5").millis(), 500);
        assert_eq!(q("2").millis(), 2000);
        assert_eq!(q("1Gi").value(), 1 << 30);
        assert_eq!(q("1.5Gi").value(), 3 << 29);
        assert_eq!(q("128974848").value(), 128_974_848);
        assert_eq!(q("129e6").value(), 129_000_000);
        assert_eq!(q("123Mi").value(), 123 << 20);
        assert_eq!(q("1k").value(), 1000);
        assert_eq!(q("-4k").value(), -4000);
        assert_eq!(q("+3").value(), 3);
        assert_eq!(q("100n").millis(), 1, "smaller than a milli rounds up");
        assert_eq!(q("1E").value(), 1_000_000_000_000_000_000);
        assert_eq!(q("2Ei").value(), 2 << 60);
    }

    #[test]
    fn refuses_what_is_not_a_quantity() {
        for bad in ["", "m", "1.2.3", "1x", "Gi", "1 Gi", "1e", "1e99", "abc", "."] {
            assert!(Quantity::parse(bad).is_err(), "{bad:?} parsed");
        }
        assert!(Quantity::parse("1x").unwrap_err().to_string().contains("regular expression"));
    }

    #[test]
    fn adds_compares_and_prints_exactly() {
        assert_eq!(q("100m") + q("900m"), q("1"));
        assert_eq!((q("100m") + q("900m")).to_string(), "1");
        assert_eq!((q("1Gi") - q("512Mi")).to_string(), "512Mi");
        assert_eq!(q("1536Mi").to_string(), "1536Mi");
        assert_eq!(q("0.1").to_string(), "100m");
        assert_eq!(q("1500").to_string(), "1500");
        assert_eq!(q("2000").to_string(), "2k");
        assert!(q("1Gi") > q("1G"));
        assert_eq!([q("250m"), q("250m"), q("500m")].into_iter().sum::<Quantity>(), q("1"));
        assert_eq!(Quantity::from_millis(1500).to_string(), "1500m");
        assert_eq!(Quantity::from_value(4 << 30, Format::BinarySi).to_string(), "4Gi");
    }
}
