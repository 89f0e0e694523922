//! Value rules of typed template keywords (OA category templates §3.3, MP subscribe §5.2).

/// Which table applies (they differ only in the amount digit limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// OA category template: amount ≤ 12 digits.
    Oa,
    /// MP subscribe template: amount ≤ 10 digits.
    Mp,
}

/// Keyword types, from the key prefix (`thing1` → `Thing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Thing,
    CharacterString,
    Time,
    Amount,
    Const,
    Phrase,
    PhoneNumber,
    CarNumber,
    ShortThing,
    Number,
    Date,
    Letter,
    Symbol,
    Name,
    EnumString,
}

const PREFIXES: [(&str, KeyType); 15] = [
    ("character_string", KeyType::CharacterString),
    ("phone_number", KeyType::PhoneNumber),
    ("car_number", KeyType::CarNumber),
    ("short_thing", KeyType::ShortThing),
    ("enum_string", KeyType::EnumString),
    ("thing", KeyType::Thing),
    ("time", KeyType::Time),
    ("amount", KeyType::Amount),
    ("const", KeyType::Const),
    ("phrase", KeyType::Phrase),
    ("number", KeyType::Number),
    ("date", KeyType::Date),
    ("letter", KeyType::Letter),
    ("symbol", KeyType::Symbol),
    ("name", KeyType::Name),
];

/// The type of a typed key (`<type><digits>`), `None` for legacy keys (`first`, `keyword1`…).
pub fn key_type(key: &str) -> Option<KeyType> {
    let digits_at = key.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits_at == key.len() || digits_at == 0 {
        return None;
    }
    let prefix = &key[..digits_at];
    PREFIXES.iter().find(|(p, _)| *p == prefix).map(|(_, t)| *t)
}

/// Whether `value` is acceptable for a key of type `ty`. `enums` = the template's allowed
/// values for const / enum keys.
pub fn value_ok(ty: KeyType, value: &str, enums: &[String], flavor: Flavor) -> bool {
    if value.chars().any(char::is_control) {
        return false;
    }
    let len = value.chars().count();
    match ty {
        KeyType::Const => len <= 20 && (value.is_empty() || enums.iter().any(|e| e == value)),
        KeyType::EnumString => enums.iter().any(|e| e == value),
        _ if value.is_empty() => false,
        KeyType::Thing => len <= 20,
        KeyType::ShortThing => len <= 5,
        KeyType::CharacterString => {
            len <= 32 && value.chars().all(|c| c.is_ascii_graphic() || c == ' ')
        }
        KeyType::Time => range_ok(value, |p| date_time_ok(p, false, true)),
        KeyType::Date => range_ok(value, |p| date_time_ok(p, true, false)),
        KeyType::Amount => amount_ok(value, if flavor == Flavor::Oa { 12 } else { 10 }),
        KeyType::PhoneNumber => {
            len <= 17
                && value.chars().any(|c| c.is_ascii_digit())
                && value
                    .chars()
                    .all(|c| c.is_ascii_digit() || "+-()#* ".contains(c))
        }
        KeyType::CarNumber => car_number_ok(value),
        KeyType::Phrase => len <= 5 && value.chars().all(is_cjk),
        KeyType::Number => len <= 32 && number_ok(value),
        KeyType::Letter => len <= 32 && value.chars().all(|c| c.is_ascii_alphabetic()),
        KeyType::Symbol => len <= 5 && value.chars().all(is_symbol),
        KeyType::Name => name_ok(value, len),
    }
}

/// CJK ideographs (the "汉字" of WeChat's rules).
pub fn is_cjk(c: char) -> bool {
    matches!(u32::from(c),
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0xF900..=0xFAFF | 0x20000..=0x2A6DF | 0x2A700..=0x2EBEF)
}

fn is_symbol(c: char) -> bool {
    !c.is_alphanumeric() && !is_cjk(c) && !c.is_whitespace() && !c.is_control()
}

fn range_ok(value: &str, part_ok: impl Fn(&str) -> bool) -> bool {
    let mut parts = value.split('~');
    let first = parts.next().unwrap_or_default();
    let second = parts.next();
    parts.next().is_none() && part_ok(first.trim()) && second.is_none_or(|s| part_ok(s.trim()))
}

/// `[date][ ][HH:MM[:SS]]`; `need_date` / `need_time` say which parts are required.
fn date_time_ok(part: &str, need_date: bool, need_time: bool) -> bool {
    let (date, time) = match part.find(':') {
        Some(colon) => {
            let start = part[..colon]
                .trim_end_matches(|c: char| c.is_ascii_digit())
                .len();
            (part[..start].trim_end(), &part[start..])
        }
        None => (part, ""),
    };
    if (need_date && date.is_empty()) || (need_time && time.is_empty()) {
        return false;
    }
    (date.is_empty() || date_ok(date)) && (time.is_empty() || time_ok(time))
}

fn num(s: &str, min_len: usize, max_len: usize) -> Option<u32> {
    if s.len() < min_len || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn time_ok(time: &str) -> bool {
    let fields: Vec<&str> = time.split(':').collect();
    if !(2..=3).contains(&fields.len()) {
        return false;
    }
    let hour_ok = num(fields[0], 1, 2).is_some_and(|h| h <= 23);
    let rest_ok = fields[1..]
        .iter()
        .all(|f| num(f, 2, 2).is_some_and(|v| v <= 59));
    hour_ok && rest_ok
}

fn month_ok(s: &str) -> bool {
    num(s, 1, 2).is_some_and(|m| (1..=12).contains(&m))
}

fn day_ok(s: &str) -> bool {
    num(s, 1, 2).is_some_and(|d| (1..=31).contains(&d))
}

fn year_ok(s: &str) -> bool {
    num(s, 4, 4).is_some()
}

/// `y年m月d日`, `y年m月`, `m月d日`, or `-` `/` `.` joined: `y-m-d`, `y-m`, `m-d`.
fn date_ok(date: &str) -> bool {
    if date.contains('月') {
        let (year, rest) = match date.split_once('年') {
            Some((y, r)) => (Some(y), r),
            None => (None, date),
        };
        let Some((month, rest)) = rest.split_once('月') else {
            return false;
        };
        let day = match rest {
            "" => None,
            r => match r.strip_suffix('日') {
                Some(d) => Some(d),
                None => return false,
            },
        };
        return year.is_none_or(year_ok)
            && month_ok(month)
            && day.is_none_or(day_ok)
            && (year.is_some() || day.is_some());
    }
    let Some(sep) = ['-', '/', '.'].into_iter().find(|&s| date.contains(s)) else {
        return false;
    };
    let fields: Vec<&str> = date.split(sep).collect();
    match fields.as_slice() {
        [y, m, d] => year_ok(y) && month_ok(m) && day_ok(d),
        [a, b] if a.len() == 4 => year_ok(a) && month_ok(b),
        [m, d] => month_ok(m) && day_ok(d),
        _ => false,
    }
}

const CURRENCY: &[char] = &['¥', '￥', '$', '€', '£', '₩', '₹', '₽', '฿'];

/// One currency symbol, 1..=`max_digits` digits, optional decimals, optional trailing `元`.
fn amount_ok(value: &str, max_digits: usize) -> bool {
    let body = value.strip_suffix('元').unwrap_or(value);
    let Some(rest) = body.strip_prefix(CURRENCY) else {
        return false;
    };
    let (int, frac) = match rest.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (rest, None),
    };
    num_digits(int, 1, max_digits) && frac.is_none_or(|f| num_digits(f, 1, 2))
}

fn num_digits(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

fn number_ok(value: &str) -> bool {
    match value.split_once('.') {
        Some((i, f)) => num_digits(i, 1, 32) && num_digits(f, 1, 32),
        None => num_digits(value, 1, 32),
    }
}

/// ≤ 8 characters; first and last may be CJK, the rest letters/digits (`粤A8Z888挂`).
fn car_number_ok(value: &str) -> bool {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() < 2 || chars.len() > 8 {
        return false;
    }
    let last = chars.len() - 1;
    chars
        .iter()
        .enumerate()
        .all(|(i, &c)| c.is_ascii_alphanumeric() || ((i == 0 || i == last) && is_cjk(c)))
}

/// ≤ 10 CJK characters, or ≤ 20 letters/symbols when there is no CJK; no digits.
fn name_ok(value: &str, len: usize) -> bool {
    let allowed = value
        .chars()
        .all(|c| is_cjk(c) || c.is_ascii_alphabetic() || " ·.-'".contains(c));
    let limit = if value.chars().any(is_cjk) { 10 } else { 20 };
    allowed && len <= limit
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(key: &str, value: &str) -> bool {
        let enums = vec!["已发货".to_owned(), "待付款".to_owned()];
        value_ok(key_type(key).unwrap(), value, &enums, Flavor::Oa)
    }

    #[test]
    fn key_types() {
        assert_eq!(key_type("thing1"), Some(KeyType::Thing));
        assert_eq!(
            key_type("character_string12"),
            Some(KeyType::CharacterString)
        );
        assert_eq!(key_type("enum_string2"), Some(KeyType::EnumString));
        assert_eq!(key_type("keyword1"), None);
        assert_eq!(key_type("first"), None);
        assert_eq!(key_type("thing"), None);
        assert_eq!(key_type("12"), None);
    }

    #[test]
    fn oa_rules() {
        assert!(ok("thing1", "一二三四五六七八九十一二三四五六七八九十"));
        assert!(!ok("thing1", "一二三四五六七八九十一二三四五六七八九十一"));
        assert!(!ok("thing1", ""));
        assert!(!ok("thing1", "a\nb"));
        assert!(ok("character_string2", "SF1234567890-A"));
        assert!(!ok("character_string2", "订单123"));
        assert!(!ok("character_string2", &"x".repeat(33)));
        for t in [
            "15:01",
            "2019年10月1日 15:01",
            "2023-10-18 14:30:00",
            "2023/10/18 08:00~2023/10/18 09:30",
            "10月1日15:01",
        ] {
            assert!(ok("time3", t), "{t}");
        }
        for t in ["2023-10-18", "25:00", "明天", "15:1", "2023-13-01 10:00"] {
            assert!(!ok("time3", t), "{t}");
        }
        assert!(ok("amount4", "¥199.00"));
        assert!(ok("amount4", "￥39.8元"));
        assert!(ok("amount4", "$123456789012"));
        assert!(!ok("amount4", "$1234567890123"));
        assert!(!ok("amount4", "10000元"));
        assert!(!ok("amount4", "¥1.234"));
        assert!(ok("const5", "已发货"));
        assert!(ok("const5", ""));
        assert!(!ok("const5", "已签收"));
        assert!(ok("phrase6", "配送中"));
        assert!(!ok("phrase6", "配送中配送中"));
        assert!(!ok("phrase6", "ok"));
        assert!(ok("phone_number7", "+86-0766-66888866"));
        assert!(!ok("phone_number7", "+86-0766-668888661"));
        assert!(!ok("phone_number7", "call me"));
        assert!(ok("car_number8", "粤A8Z888挂"));
        assert!(ok("car_number8", "粤B12345"));
        assert!(!ok("car_number8", "粤A8Z888挂1"));
        assert!(!ok("car_number8", "粤A8中88"));
    }

    #[test]
    fn mp_rules() {
        let e: Vec<String> = vec!["客厅".into()];
        let mp = |t: KeyType, v: &str| value_ok(t, v, &e, Flavor::Mp);
        assert!(mp(KeyType::Number, "339208499"));
        assert!(mp(KeyType::Number, "3.14"));
        assert!(!mp(KeyType::Number, "-1"));
        assert!(mp(KeyType::Date, "2015年01月05日"));
        assert!(mp(KeyType::Date, "2018-01"));
        assert!(mp(KeyType::Date, "01-01"));
        assert!(mp(KeyType::Date, "2019年10月1日 15:01"));
        assert!(!mp(KeyType::Date, "15:01"));
        assert!(mp(KeyType::Letter, "VIP"));
        assert!(!mp(KeyType::Letter, "V1P"));
        assert!(mp(KeyType::Symbol, "★★"));
        assert!(!mp(KeyType::Symbol, "!!!!!!"));
        assert!(mp(KeyType::Name, "张三"));
        assert!(mp(KeyType::Name, "John Smith"));
        assert!(!mp(KeyType::Name, "张三李四王五赵六钱七孙"));
        assert!(!mp(KeyType::Name, "R2D2"));
        assert!(mp(KeyType::Amount, "¥1234567890"));
        assert!(!mp(KeyType::Amount, "¥12345678901"));
        assert!(mp(KeyType::EnumString, "客厅"));
        assert!(!mp(KeyType::EnumString, ""));
    }
}
