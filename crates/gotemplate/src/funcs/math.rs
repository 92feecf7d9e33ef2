//! Sprig's integer and float math.

use super::conv::{to_float, to_int};
use super::{Funcs, Kind};
use crate::value::Value;

pub(super) fn register(f: &mut Funcs) {
    use Kind::*;
    f.pure("add", &[], Some(Any), |a| Ok(Value::Int(a.iter().map(to_int).fold(0i64, i64::wrapping_add))));
    f.pure("add1", &[Any], None, |a| Ok(Value::Int(to_int(&a[0]).wrapping_add(1))));
    f.pure("sub", &[Any, Any], None, |a| Ok(Value::Int(to_int(&a[0]).wrapping_sub(to_int(&a[1])))));
    f.pure("mul", &[Any], Some(Any), |a| Ok(Value::Int(a.iter().map(to_int).fold(1i64, i64::wrapping_mul))));
    f.pure("div", &[Any, Any], None, |a| {
        let d = to_int(&a[1]);
        if d == 0 {
            return Err("runtime error: integer divide by zero".into());
        }
        Ok(Value::Int(to_int(&a[0]).wrapping_div(d)))
    });
    f.pure("mod", &[Any, Any], None, |a| {
        let d = to_int(&a[1]);
        if d == 0 {
            return Err("runtime error: integer divide by zero".into());
        }
        Ok(Value::Int(to_int(&a[0]).wrapping_rem(d)))
    });
    for name in ["max", "biggest"] {
        f.pure(name, &[Any], Some(Any), |a| Ok(Value::Int(a.iter().map(to_int).max().unwrap_or(0))));
    }
    f.pure("min", &[Any], Some(Any), |a| Ok(Value::Int(a.iter().map(to_int).min().unwrap_or(0))));
    f.pure("addf", &[], Some(Any), |a| Ok(Value::Float(a.iter().map(to_float).sum())));
    f.pure("add1f", &[Any], None, |a| Ok(Value::Float(to_float(&a[0]) + 1.0)));
    f.pure("subf", &[Any], Some(Any), |a| {
        Ok(Value::Float(a[1..].iter().map(to_float).fold(to_float(&a[0]), |x, y| x - y)))
    });
    f.pure("mulf", &[Any], Some(Any), |a| Ok(Value::Float(a.iter().map(to_float).product())));
    f.pure("divf", &[Any], Some(Any), |a| {
        Ok(Value::Float(a[1..].iter().map(to_float).fold(to_float(&a[0]), |x, y| x / y)))
    });
    f.pure("maxf", &[Any], Some(Any), |a| Ok(Value::Float(a.iter().map(to_float).fold(f64::MIN, f64::max))));
    f.pure("minf", &[Any], Some(Any), |a| Ok(Value::Float(a.iter().map(to_float).fold(f64::MAX, f64::min))));
    f.pure("floor", &[Any], None, |a| Ok(Value::Float(to_float(&a[0]).floor())));
    f.pure("ceil", &[Any], None, |a| Ok(Value::Float(to_float(&a[0]).ceil())));
    f.pure("round", &[Any, Int], Some(Float), |a| {
        let x = to_float(&a[0]);
        let p = super::i(&a[1]);
        let half = a.get(2).map(to_float).unwrap_or(0.5);
        let pow = 10f64.powi(p as i32);
        let digit = pow * x;
        let (int, frac) = (digit.trunc(), digit.fract());
        let r = if frac.abs() >= half { int + digit.signum() } else { int };
        Ok(Value::Float(r / pow))
    });
}
