//! usbredir device filters: `class,vendor,product,version,allow` rules
//! joined with `|`, `-1` matching anything.
//!
//! The syntax and the matching follow usbredirfilter, the format of
//! spice-gtk's `--spice-usbredir-auto-redirect-filter` /
//! `--spice-usbredir-redirect-on-connect`, of the `.vv` `usb-filter` key and
//! of the usbredir `filter_filter` packet:
//!
//! - separators are character sets: a rule ends at any character of the rule
//!   set, a value at any character of the token set, and empty rules or
//!   values are skipped (so `"|a|||b|"` is the two rules `a` and `b`);
//! - values are C integers as `strtol(…, 0)` reads them: optional leading
//!   whitespace and sign, `0x` hexadecimal, a leading `0` octal, else
//!   decimal, with nothing after the number;
//! - class is −1 or 0–255, vendor, product and version (BCD) −1 or 0–65535;
//!   `allow` is any integer, non-zero allowing.
//!
//! Stricter than usbredirfilter, where it would silently truncate: an `allow`
//! that does not fit in 32 bits is an error (as is any out-of-range value),
//! and at most [`MAX_RULES`] rules are read (filters come from the peer too).
//!
//! [`check`] decides for a device the way `usbredirfilter_check` does: one
//! pass with the device class (skipped for classes 0x00 and 0xef), then one
//! per interface; the first rule matching a pass decides it; a deny, or a
//! pass no rule matches, ends the check.

use std::fmt;

use thiserror::Error;

use super::proto::InterfaceEntry;

/// Most rules a filter string may hold.
pub const MAX_RULES: usize = 4096;

/// One rule; `None` matches any value (`-1` in the string).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rule {
    pub class: Option<u8>,
    pub vendor: Option<u16>,
    pub product: Option<u16>,
    /// `bcdDevice`.
    pub version: Option<u16>,
    pub allow: bool,
}

impl Rule {
    fn matches(&self, class: u8, vendor: u16, product: u16, version: u16) -> bool {
        self.class.is_none_or(|c| c == class)
            && self.vendor.is_none_or(|v| v == vendor)
            && self.product.is_none_or(|p| p == product)
            && self.version.is_none_or(|v| v == version)
    }

    /// Writes the rule with `sep` between values (usbredirfilter's spelling:
    /// `0x%02x` for the class, `0x%04x` for the ids, `-1` for any).
    pub fn write(&self, f: &mut impl fmt::Write, sep: char) -> fmt::Result {
        match self.class {
            Some(c) => write!(f, "0x{c:02x}{sep}")?,
            None => write!(f, "-1{sep}")?,
        }
        for v in [self.vendor, self.product, self.version] {
            match v {
                Some(v) => write!(f, "0x{v:04x}{sep}")?,
                None => write!(f, "-1{sep}")?,
            }
        }
        write!(f, "{}", u8::from(self.allow))
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, ',')
    }
}

/// A filter string that cannot be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FilterError {
    #[error("usb filter: empty separator set")]
    EmptySeparators,
    #[error("usb filter rule {rule}: {found} values instead of 5 (class,vendor,product,version,allow)")]
    ValueCount { rule: usize, found: usize },
    #[error("usb filter rule {rule}: {value:?} is not a number")]
    NotANumber { rule: usize, value: String },
    #[error("usb filter rule {rule}: {field} {value} is out of range")]
    OutOfRange {
        rule: usize,
        field: &'static str,
        value: i64,
    },
    #[error("usb filter: more than {MAX_RULES} rules")]
    TooManyRules,
}

/// Parses a filter with the usual separators, `,` between values and `|` between rules.
pub fn parse(filter: &str) -> Result<Vec<Rule>, FilterError> {
    parse_with(filter, ",", "|")
}

/// Parses a filter; any character of `token_seps` separates values, any of
/// `rule_seps` rules (QEMU's `filter` property uses `:` and `|`).
pub fn parse_with(filter: &str, token_seps: &str, rule_seps: &str) -> Result<Vec<Rule>, FilterError> {
    if token_seps.is_empty() || rule_seps.is_empty() {
        return Err(FilterError::EmptySeparators);
    }
    let mut rules = Vec::new();
    for text in filter.split(|c| rule_seps.contains(c)).filter(|r| !r.is_empty()) {
        if rules.len() == MAX_RULES {
            return Err(FilterError::TooManyRules);
        }
        rules.push(parse_rule(rules.len(), text, token_seps)?);
    }
    Ok(rules)
}

fn parse_rule(rule: usize, text: &str, token_seps: &str) -> Result<Rule, FilterError> {
    let mut values = [0i64; 5];
    let mut found = 0;
    for token in text.split(|c| token_seps.contains(c)).filter(|t| !t.is_empty()) {
        let slot = values
            .get_mut(found)
            .ok_or(FilterError::ValueCount { rule, found: found + 1 })?;
        *slot = c_long(token).ok_or_else(|| FilterError::NotANumber {
            rule,
            value: token.chars().take(32).collect(),
        })?;
        found += 1;
    }
    if found != 5 {
        return Err(FilterError::ValueCount { rule, found });
    }
    let [class, vendor, product, version, allow] = values;
    let field = |name: &'static str, value: i64, max: i64| -> Result<Option<i64>, FilterError> {
        match value {
            -1 => Ok(None),
            v if (0..=max).contains(&v) => Ok(Some(v)),
            v => Err(FilterError::OutOfRange {
                rule,
                field: name,
                value: v,
            }),
        }
    };
    let id16 = |name, value| -> Result<Option<u16>, FilterError> {
        Ok(field(name, value, 0xffff)?.and_then(|v| u16::try_from(v).ok()))
    };
    if i32::try_from(allow).is_err() {
        return Err(FilterError::OutOfRange {
            rule,
            field: "allow",
            value: allow,
        });
    }
    Ok(Rule {
        class: field("class", class, 0xff)?.and_then(|v| u8::try_from(v).ok()),
        vendor: id16("vendor", vendor)?,
        product: id16("product", product)?,
        version: id16("version", version)?,
        allow: allow != 0,
    })
}

/// A number as C's `strtol(s, &end, 0)` reads it, if it fills `s` and fits in 64 bits.
fn c_long(s: &str) -> Option<i64> {
    let s = s.trim_start_matches([' ', '\t', '\n', '\u{b}', '\u{c}', '\r']);
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..)?),
        Some(b'+') => (false, s.get(1..)?),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, hex)
    } else if s.len() > 1 && s.starts_with('0') {
        (8, s.get(1..)?)
    } else {
        (10, s)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i64::try_from(u64::from_str_radix(digits, radix).ok()?).ok()?;
    Some(if negative { -v } else { v })
}

/// Writes rules back as a filter string (`,` and `|`).
pub fn to_string(rules: &[Rule]) -> String {
    to_string_with(rules, ',', '|')
}

/// Writes rules back as a filter string with the given separators.
pub fn to_string_with(rules: &[Rule], token_sep: char, rule_sep: char) -> String {
    let mut s = String::new();
    for (i, r) in rules.iter().enumerate() {
        if i > 0 {
            s.push(rule_sep);
        }
        // Writing to a String cannot fail.
        let _ = r.write(&mut s, token_sep);
    }
    s
}

/// What a filter says about a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// A matching rule denies it.
    Deny,
    /// No rule matched one of the passes (and `default_allow` was off).
    NoMatch,
}

/// Options of [`check`] (usbredirfilter's flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckFlags {
    /// A pass no rule matches allows instead of ending with [`Verdict::NoMatch`].
    pub default_allow: bool,
    /// Also check non-boot HID interfaces (class 3, subclass 0, protocol 0) of
    /// multi-interface devices, which are skipped otherwise.
    pub dont_skip_non_boot_hid: bool,
}

/// The description of a device a filter is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Device<'a> {
    pub class: u8,
    pub subclass: u8,
    pub protocol: u8,
    pub vendor: u16,
    pub product: u16,
    pub version_bcd: u16,
    /// The interfaces of the active configuration.
    pub interfaces: &'a [InterfaceEntry],
}

/// Whether `rules` let `device` be redirected (`usbredirfilter_check`).
pub fn check(rules: &[Rule], device: &Device<'_>, flags: CheckFlags) -> Verdict {
    let pass = |class: u8| {
        rules
            .iter()
            .find(|r| r.matches(class, device.vendor, device.product, device.version_bcd))
            .map_or(
                if flags.default_allow {
                    Verdict::Allow
                } else {
                    Verdict::NoMatch
                },
                |r| if r.allow { Verdict::Allow } else { Verdict::Deny },
            )
    };
    if device.class != 0x00 && device.class != 0xef {
        let v = pass(device.class);
        if v != Verdict::Allow {
            return v;
        }
    }
    let mut skipped = 0;
    for i in device.interfaces {
        let non_boot_hid = i.class == 0x03 && i.subclass == 0 && i.protocol == 0;
        if !flags.dont_skip_non_boot_hid && device.interfaces.len() > 1 && non_boot_hid {
            skipped += 1;
            continue;
        }
        let v = pass(i.class);
        if v != Verdict::Allow {
            return v;
        }
    }
    if !device.interfaces.is_empty() && skipped == device.interfaces.len() {
        return check(
            rules,
            device,
            CheckFlags {
                dont_skip_non_boot_hid: true,
                ..flags
            },
        );
    }
    Verdict::Allow
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(class: i32, vendor: i32, product: i32, version: i32, allow: bool) -> Rule {
        let opt8 = |v: i32| u8::try_from(v).ok();
        let opt16 = |v: i32| u16::try_from(v).ok();
        Rule {
            class: opt8(class),
            vendor: opt16(vendor),
            product: opt16(product),
            version: opt16(version),
            allow,
        }
    }

    #[test]
    fn spice_gtk_default_filter() {
        let rules = parse("0x03,-1,-1,-1,0|-1,-1,-1,-1,1").unwrap();
        assert_eq!(rules, [rule(3, -1, -1, -1, false), rule(-1, -1, -1, -1, true)]);
        assert_eq!(to_string(&rules), "0x03,-1,-1,-1,0|-1,-1,-1,-1,1");
    }

    #[test]
    fn separators_and_empty_rules() {
        let cases: &[(&str, &str, &str, Result<&str, ()>)] = &[
            ("", ",", "|", Ok("")),
            ("|||", ",", "|", Ok("")),
            (
                "|0x03,-1,-1,-1,0|-1,-1,-1,-1,1|",
                ",",
                "|",
                Ok("0x03,-1,-1,-1,0|-1,-1,-1,-1,1"),
            ),
            (
                "||||0x03,-1,-1,-1,0|||-1,-1,-1,-1,1||||",
                ",",
                "|",
                Ok("0x03,-1,-1,-1,0|-1,-1,-1,-1,1"),
            ),
            ("\t 0x03,-1;-1;-1,0\n\n", ",;", " \t\n", Ok("0x03,-1,-1,-1,0")),
            (
                "\n\t0x03;-1,-1,-1,0\n\n-1,-1,-1;-1;1",
                ",;",
                " \t\n",
                Ok("0x03,-1,-1,-1,0|-1,-1,-1,-1,1"),
            ),
            ("0x100,-1,-1,-1,0", ",", "|", Err(())),
            ("-2,-1,-1,-1,0", ",", "|", Err(())),
            ("0x03,,0x10000-1,-1,0", ",", "|", Err(())),
            ("0x03,-2,-1,-1,0", ",", "|", Err(())),
            ("0x03,-1,-1,0x10000,0", ",", "|", Err(())),
            ("0x03,-1,-1,-1,0,1", ",", "|", Err(())),
            ("0x03,-1,-1,-1", ",", "|", Err(())),
            ("0x03,-1,-1,,-1", ",", "|", Err(())),
            ("0x03,-1,-1,a,-1", ",", "|", Err(())),
            ("0x03,-1,-1,#,-1", ",", "|", Err(())),
            ("0x03,-1,-1, ,-1", ",", "|", Err(())),
            ("0x03;-1;-1;-1;0", ",", "|", Err(())),
            ("0x03,-1,-1,-1,0;-1,-1,-1,-1,1", ",", "|", Err(())),
            ("0x03,-1,-1,-1,0|3|-1,-1,-1,-1,1", ",", "|", Err(())),
            ("0x03,-1,-1,-1,0", "", "|", Err(())),
            ("0x03,-1,-1,-1,0", ",", "", Err(())),
        ];
        for (filter, tok, rul, want) in cases {
            let got = parse_with(filter, tok, rul).map(|r| to_string(&r)).map_err(|_| ());
            assert_eq!(got.as_deref(), want.as_deref(), "{filter:?}");
        }
    }

    #[test]
    fn numbers_are_read_like_strtol() {
        assert_eq!(c_long("0x1F"), Some(31));
        assert_eq!(c_long("010"), Some(8));
        assert_eq!(c_long("0"), Some(0));
        assert_eq!(c_long("  +7"), Some(7));
        assert_eq!(c_long("-0x1"), Some(-1));
        assert_eq!(c_long("09"), None);
        assert_eq!(c_long("0x"), None);
        assert_eq!(c_long("7 "), None);
        assert_eq!(c_long("-"), None);
        assert_eq!(c_long("4294967296"), Some(1 << 32));
        assert_eq!(c_long("99999999999999999999"), None);
        // allow: any non-zero value allows.
        assert_eq!(parse("1,2,3,4,-5").unwrap(), [rule(1, 2, 3, 4, true)]);
        assert!(matches!(
            parse("1,2,3,4,0x80000000"),
            Err(FilterError::OutOfRange { .. })
        ));
    }

    #[test]
    fn rule_count_is_capped() {
        let many = vec!["-1,-1,-1,-1,1"; MAX_RULES + 1].join("|");
        assert_eq!(parse(&many), Err(FilterError::TooManyRules));
        let max = vec!["-1,-1,-1,-1,1"; MAX_RULES].join("|");
        assert_eq!(parse(&max).map(|r| r.len()), Ok(MAX_RULES));
    }

    fn iface(class: u8, subclass: u8, protocol: u8) -> InterfaceEntry {
        InterfaceEntry {
            number: 0,
            class,
            subclass,
            protocol,
        }
    }

    fn device(class: u8, interfaces: &[InterfaceEntry]) -> Device<'_> {
        Device {
            class,
            subclass: 0,
            protocol: 0,
            vendor: 0x1209,
            product: 0x0001,
            version_bcd: 0x0100,
            interfaces,
        }
    }

    #[test]
    fn checks_device_and_interface_classes() {
        let default = parse("0x03,-1,-1,-1,0|-1,-1,-1,-1,1").unwrap();
        let f = CheckFlags::default();
        let storage = [iface(8, 6, 0x50)];
        assert_eq!(check(&default, &device(0, &storage), f), Verdict::Allow);
        // A keyboard (boot HID) is denied.
        let kbd = [iface(3, 1, 1)];
        assert_eq!(check(&default, &device(0, &kbd), f), Verdict::Deny);
        // A device-level class is checked too (unless 0x00 or 0xef).
        assert_eq!(check(&default, &device(3, &storage), f), Verdict::Deny);
        assert_eq!(check(&default, &device(0xef, &storage), f), Verdict::Allow);
        // Audio with a non-boot HID volume interface: the HID interface is skipped.
        let audio = [iface(1, 1, 0), iface(1, 2, 0), iface(3, 0, 0)];
        assert_eq!(check(&default, &device(0, &audio), f), Verdict::Allow);
        let strict = CheckFlags {
            dont_skip_non_boot_hid: true,
            ..f
        };
        assert_eq!(check(&default, &device(0, &audio), strict), Verdict::Deny);
        // ...but when every interface would be skipped they are all checked.
        let only_hid = [iface(3, 0, 0), iface(3, 0, 0)];
        assert_eq!(check(&default, &device(0, &only_hid), f), Verdict::Deny);
        // No matching rule.
        let only_vendor = parse("-1,0x046d,-1,-1,1").unwrap();
        assert_eq!(check(&only_vendor, &device(0, &storage), f), Verdict::NoMatch);
        let lenient = CheckFlags {
            default_allow: true,
            ..f
        };
        assert_eq!(check(&only_vendor, &device(0, &storage), lenient), Verdict::Allow);
        // Vendor/product/version match; first matching rule wins.
        let by_id = parse("-1,0x1209,0x0001,0x0100,0|-1,-1,-1,-1,1").unwrap();
        assert_eq!(check(&by_id, &device(0, &storage), f), Verdict::Deny);
        assert_eq!(check(&by_id[1..], &device(0, &storage), f), Verdict::Allow);
    }
}
