//! Terraform's IP network functions: `cidrhost`, `cidrnetmask`, `cidrsubnet`
//! and `cidrsubnets`, on IPv4 and IPv6 prefixes, with Terraform's errors.
//! Addresses are numbers (`u128`) of 32 or 128 bits.

use hcl::eval::{FuncArgs, ParamType};
use hcl::Value;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub(super) fn declare(ctx: &mut super::functions::Registry) {
    use ParamType::*;
    let s = super::functions::Builder::new;
    let mut f = |name: &str, def: super::functions::Def| ctx.declare_func(name, def);
    f("cidrhost", s().params([String, Number]).build(cidrhost));
    f("cidrnetmask", s().param(String).build(cidrnetmask));
    f(
        "cidrsubnet",
        s().params([String, Number, Number]).build(cidrsubnet),
    );
    f(
        "cidrsubnets",
        s().param(String).variadic_param(Number).build(cidrsubnets),
    );
}

/// A network: its first address, prefix length and address width (32 or 128).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Net {
    addr: u128,
    len: u32,
    bits: u32,
}

impl Net {
    fn parse(text: &str) -> Result<Net, String> {
        let bad = || format!("invalid CIDR expression: invalid CIDR address: {text}");
        let (ip, len) = text.split_once('/').ok_or_else(bad)?;
        let ip: IpAddr = ip.parse().map_err(|_| bad())?;
        let (addr, bits) = match ip {
            IpAddr::V4(v) => (u128::from(u32::from(v)), 32),
            IpAddr::V6(v) => (u128::from(v), 128),
        };
        let len: u32 = match len.parse() {
            Ok(n) if n <= bits && !len.starts_with('+') => n,
            _ => return Err(bad()),
        };
        Ok(Net {
            addr: addr & mask(len, bits),
            len,
            bits,
        })
    }

    fn host_bits(&self) -> u32 {
        self.bits - self.len
    }

    fn last(&self) -> u128 {
        self.addr | !mask(self.len, self.bits) & all(self.bits)
    }

    fn with_len(&self, len: u32) -> Net {
        Net {
            addr: self.addr & mask(len, self.bits),
            len,
            bits: self.bits,
        }
    }
}

impl std::fmt::Display for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", ip(self.addr, self.bits), self.len)
    }
}

fn all(bits: u32) -> u128 {
    if bits == 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

/// The netmask of a prefix of `len` bits, within `bits`.
fn mask(len: u32, bits: u32) -> u128 {
    if len == 0 {
        0
    } else {
        all(bits) & !(all(bits - len.min(bits)) * u128::from(len < bits))
    }
}

fn ip(addr: u128, bits: u32) -> String {
    if bits == 32 {
        Ipv4Addr::from(addr as u32).to_string()
    } else {
        Ipv6Addr::from(addr).to_string()
    }
}

/// 2 to the power `bits`, saturating (an IPv6 prefix has up to 128 host bits).
fn pow2(bits: u32) -> i128 {
    if bits >= 127 {
        i128::MAX
    } else {
        1i128 << bits
    }
}

/// A whole-number argument.
fn whole(a: &FuncArgs, i: usize) -> Result<i128, String> {
    let n = a[i].as_f64().unwrap_or_default();
    if n.fract() != 0.0 || !n.is_finite() {
        return Err(format!("{n} is not a whole number"));
    }
    Ok(n as i128)
}

fn cidrhost(a: FuncArgs) -> Result<Value, String> {
    let net = Net::parse(a[0].as_str().unwrap_or_default())?;
    let asked = whole(&a, 1)?;
    let bits = net.host_bits();
    // Negative numbers count back from the end: -1 is the last address.
    let host: Option<u128> = match (asked < 0, bits) {
        (true, 128) => Some(u128::MAX - (asked.unsigned_abs() - 1)),
        (true, _) => (1u128 << bits).checked_sub(asked.unsigned_abs()),
        (false, 128) => Some(asked as u128),
        (false, _) => Some(asked as u128).filter(|h| *h < 1u128 << bits),
    };
    let Some(host) = host else {
        let shown = if asked < 0 { asked + pow2(bits) } else { asked };
        return Err(format!(
            "prefix of {} does not accommodate a host numbered {shown}",
            net.len
        ));
    };
    Ok(ip(net.addr | host, net.bits).into())
}

fn cidrnetmask(a: FuncArgs) -> Result<Value, String> {
    let text = a[0].as_str().unwrap_or_default();
    let net = Net::parse(text)?;
    if net.bits != 32 {
        return Err(format!("IPv6 addresses cannot have a netmask: {text}"));
    }
    Ok(ip(mask(net.len, 32), 32).into())
}

fn cidrsubnet(a: FuncArgs) -> Result<Value, String> {
    let net = Net::parse(a[0].as_str().unwrap_or_default())?;
    let (newbits, num) = (whole(&a, 1)?, whole(&a, 2)?);
    let len = i128::from(net.len) + newbits;
    if len > i128::from(net.bits) {
        return Err(format!(
            "insufficient address space to extend prefix of {} by {newbits}",
            net.len
        ));
    }
    if len < 0 {
        return Err(format!(
            "cannot shorten prefix of {} by {}",
            net.len, -newbits
        ));
    }
    if num < 0 {
        return Err(format!("netnum must be a non-negative number, got {num}"));
    }
    let len = len as u32;
    let room = pow2(newbits.max(0) as u32);
    if newbits >= 0 && num >= room {
        return Err(format!(
            "prefix extension of {newbits} does not accommodate a subnet numbered {num}"
        ));
    }
    let base = net.with_len(len.min(net.len));
    let shifted = (num as u128).checked_shl(net.bits - len).unwrap_or(0);
    Ok(Net {
        addr: base.addr | shifted,
        len,
        bits: net.bits,
    }
    .to_string()
    .into())
}

/// Consecutive subnets of the given extensions, each after the last, as
/// Terraform allocates them.
fn cidrsubnets(a: FuncArgs) -> Result<Value, String> {
    let net = Net::parse(a[0].as_str().unwrap_or_default())?;
    let extensions: Vec<i128> = (1..a.len())
        .map(|i| whole(&a, i))
        .collect::<Result<_, _>>()?;
    let Some(first) = extensions.first() else {
        return Ok(Value::Array(Vec::new()));
    };
    let family = if net.bits == 32 { 4 } else { 6 };
    let length = |ext: i128| -> Result<u32, String> {
        if ext < 1 {
            return Err("must extend prefix by at least one bit".into());
        }
        let len = i128::from(net.len) + ext;
        if len > i128::from(net.bits) {
            return Err(format!(
                "would extend prefix to {len} bits, which is too long for an IPv{family} address"
            ));
        }
        Ok(len as u32)
    };
    // The subnet just before the network, at the first length.
    let mut current = Net {
        addr: net.addr.wrapping_sub(1) & all(net.bits),
        len: length(*first)?,
        bits: net.bits,
    }
    .with_len(length(*first)?);
    let mut out = Vec::new();
    for ext in &extensions {
        let len = length(*ext)?;
        let containing = Net {
            addr: current.last(),
            len,
            bits: net.bits,
        }
        .with_len(len);
        let after = containing.last().wrapping_add(1) & all(net.bits);
        let next = Net {
            addr: after,
            len,
            bits: net.bits,
        }
        .with_len(len);
        if after == 0 || next.addr & mask(net.len, net.bits) != net.addr {
            return Err(format!(
                "not enough remaining address space for a subnet with a prefix of {len} bits after {current}"
            ));
        }
        out.push(Value::from(next.to_string()));
        current = next;
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_ranges() {
        assert_eq!(mask(0, 32), 0);
        assert_eq!(mask(12, 32), 0xfff0_0000);
        assert_eq!(mask(32, 32), 0xffff_ffff);
        assert_eq!(mask(128, 128), u128::MAX);
        let n = Net::parse("10.12.127.9/20").unwrap();
        assert_eq!(n.to_string(), "10.12.112.0/20");
        assert_eq!(ip(n.last(), 32), "10.12.127.255");
    }
}
