//! The value rule of each keyword type (OA category templates §3.3, MP subscribe §5.2).

use crate::fields::FieldType;
use crate::problem::Problem;

/// Which table applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// OA template message: amount ≤ 12 digits.
    Template,
    /// MP subscribe message, checked strictly because WeChat answers 47003 to any value outside
    /// §5.2's table: amount ≤ 10 digits, hours written with two digits (`HH:MM[:SS]`), enum and
    /// const values only from the template's list (none when it lists none), untyped keys
    /// required.
    Subscribe,
}

pub(crate) const THING_MAX: usize = 20;
pub(crate) const SHORT_THING_MAX: usize = 5;
pub(crate) const CHARACTER_STRING_MAX: usize = 32;
pub(crate) const NUMBER_MAX: usize = 32;
pub(crate) const LETTER_MAX: usize = 32;
pub(crate) const SYMBOL_MAX: usize = 5;
pub(crate) const PHRASE_MAX: usize = 5;
pub(crate) const CONST_MAX: usize = 20;
pub(crate) const PHONE_MAX: usize = 17;
pub(crate) const CAR_NUMBER_MAX: usize = 8;
pub(crate) const NAME_CJK_MAX: usize = 10;
pub(crate) const NAME_LATIN_MAX: usize = 20;

/// Currency symbols accepted at the start of an amount.
const CURRENCY: [char; 9] = ['¥', '￥', '$', '€', '£', '₩', '₹', '₽', '฿'];

/// The most integer digits an amount may have: 12 in OA templates, 10 in MP subscribe messages.
pub fn amount_digits(flavor: Flavor) -> usize {
    match flavor {
        Flavor::Template => 12,
        Flavor::Subscribe => 10,
    }
}

/// Whether `value` is acceptable for a keyword of type `ty`; `enums` = the template's approved
/// values for Const / Enum keys (empty = unknown, then any value ≤ 20 chars passes for Const).
pub fn check_value(
    ty: FieldType,
    value: &str,
    enums: &[String],
    flavor: Flavor,
) -> Result<(), Problem> {
    if value.chars().any(is_control) {
        return Err(Problem::ControlChars);
    }
    let len = value.chars().count();
    let max = |n: usize| {
        if len > n {
            Err(Problem::TooLong(n))
        } else {
            Ok(())
        }
    };
    let all = |ok: fn(char) -> bool, problem: Problem| require(value.chars().all(ok), problem);
    let strict = flavor == Flavor::Subscribe;
    let in_list = || {
        if (enums.is_empty() && !strict) || enums.iter().any(|e| e == value) {
            Ok(())
        } else {
            Err(Problem::NotInList(enums.to_vec()))
        }
    };
    match ty {
        FieldType::Text if strict && value.is_empty() => Err(Problem::Required),
        FieldType::Text => Ok(()),
        FieldType::Const if value.is_empty() => Ok(()),
        FieldType::Const => max(CONST_MAX).and_then(|()| in_list()),
        _ if value.is_empty() => Err(Problem::Required),
        FieldType::Enum => in_list(),
        FieldType::Thing => max(THING_MAX),
        FieldType::ShortThing => max(SHORT_THING_MAX),
        FieldType::CharacterString => max(CHARACTER_STRING_MAX)
            .and_then(|()| all(|c| c == ' ' || c.is_ascii_graphic(), Problem::NoCjk)),
        FieldType::Number => {
            max(NUMBER_MAX).and_then(|()| require(is_decimal(value), Problem::DigitsOnly))
        }
        FieldType::Letter => {
            max(LETTER_MAX).and_then(|()| all(|c| c.is_ascii_alphabetic(), Problem::LettersOnly))
        }
        FieldType::Symbol => max(SYMBOL_MAX).and_then(|()| all(is_symbol, Problem::SymbolsOnly)),
        FieldType::Phrase => max(PHRASE_MAX).and_then(|()| all(is_cjk, Problem::CjkOnly)),
        FieldType::Time => require(
            range_ok(value, |p| date_time_ok(p, false, strict)),
            Problem::TimeFormat,
        ),
        FieldType::Date => require(
            range_ok(value, |p| date_time_ok(p, true, strict)),
            Problem::DateFormat,
        ),
        FieldType::Amount => {
            let digits = amount_digits(flavor);
            require(amount_ok(value, digits), Problem::AmountFormat(digits))
        }
        FieldType::PhoneNumber => max(PHONE_MAX).and_then(|()| {
            let ok = value.chars().any(|c| c.is_ascii_digit())
                && value
                    .chars()
                    .all(|c| c.is_ascii_digit() || "+-()#* ".contains(c));
            require(ok, Problem::PhoneFormat)
        }),
        FieldType::CarNumber => max(CAR_NUMBER_MAX)
            .and_then(|()| require(car_number_ok(value), Problem::CarNumberFormat)),
        FieldType::Name => {
            let limit = if value.chars().any(is_cjk) {
                NAME_CJK_MAX
            } else {
                NAME_LATIN_MAX
            };
            max(limit).and_then(|()| {
                all(
                    |c| is_cjk(c) || c.is_ascii_alphabetic() || " ·.-'".contains(c),
                    Problem::NameFormat,
                )
            })
        }
    }
}

/// CJK ideographs (the 汉字 of WeChat's rules).
pub fn is_cjk(c: char) -> bool {
    matches!(u32::from(c),
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0xF900..=0xFAFF | 0x20000..=0x2A6DF | 0x2A700..=0x2EBEF)
}

/// Control characters plus the Unicode line/paragraph separators, which also break a line.
fn is_control(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// Neither a letter, a digit, CJK nor whitespace (`★`, `#`, `！`).
fn is_symbol(c: char) -> bool {
    !c.is_alphanumeric() && !is_cjk(c) && !c.is_whitespace() && !is_control(c)
}

/// `min..=max` ASCII digits.
fn digits(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// `42` or `3.14`.
fn is_decimal(s: &str) -> bool {
    match s.split_once('.') {
        Some((int, frac)) => digits(int, 1, usize::MAX) && digits(frac, 1, usize::MAX),
        None => digits(s, 1, usize::MAX),
    }
}

fn require(ok: bool, problem: Problem) -> Result<(), Problem> {
    if ok {
        Ok(())
    } else {
        Err(problem)
    }
}

/// One part, or two joined with `~` (spaces around `~` allowed).
fn range_ok(value: &str, part_ok: impl Fn(&str) -> bool) -> bool {
    match value.split_once('~') {
        Some((a, b)) => !b.contains('~') && part_ok(a.trim_end()) && part_ok(b.trim_start()),
        None => part_ok(value),
    }
}

/// `[date][ ]time` with a required time (time type), or `date[[ ]time]` (date type);
/// `two_digit_hour` refuses `9:05` (subscribe messages: `HH:MM` or `HH:MM:SS`).
fn date_time_ok(part: &str, date_required: bool, two_digit_hour: bool) -> bool {
    let time_ok = |time: &str| time_ok(time, if two_digit_hour { 2 } else { 1 });
    let (date, time) = match part.find(':') {
        Some(colon) => {
            // The hour is the run of digits just before the first colon.
            let hour_at = part[..colon]
                .trim_end_matches(|c: char| c.is_ascii_digit())
                .len();
            (&part[..hour_at], &part[hour_at..])
        }
        None if date_required => (part, ""),
        None => return false,
    };
    if date.is_empty() {
        return !date_required && time_ok(time);
    }
    let date = if time.is_empty() {
        date
    } else {
        date.strip_suffix(' ').unwrap_or(date)
    };
    date_ok(date) && (time.is_empty() || time_ok(time))
}

fn number(s: &str, min_len: usize, max_len: usize, range: std::ops::RangeInclusive<u32>) -> bool {
    digits(s, min_len, max_len) && s.parse::<u32>().is_ok_and(|n| range.contains(&n))
}

/// `H:MM`, `HH:MM`, `H:MM:SS` or `HH:MM:SS`, 24 h; the hour has at least `hour_len` digits.
fn time_ok(time: &str, hour_len: usize) -> bool {
    let mut parts = time.split(':');
    let hour = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    number(hour, hour_len, 2, 0..=23)
        && (1..=2).contains(&rest.len())
        && rest.iter().all(|p| number(p, 2, 2, 0..=59))
}

fn year_ok(s: &str) -> bool {
    digits(s, 4, 4)
}

fn month_ok(s: &str) -> bool {
    number(s, 1, 2, 1..=12)
}

fn day_ok(s: &str) -> bool {
    number(s, 1, 2, 1..=31)
}

/// `y年m月d日`, `y年m月`, `m月d日`, or joined with `-` `/` `.`: `y-m-d`, `y-m`, `m-d`.
fn date_ok(date: &str) -> bool {
    if let Some((before, after)) = date.split_once('月') {
        let (year, month) = match before.split_once('年') {
            Some((y, m)) => (Some(y), m),
            None => (None, before),
        };
        let day = match after {
            "" => None,
            d => match d.strip_suffix('日') {
                Some(d) => Some(d),
                None => return false,
            },
        };
        return (year.is_some() || day.is_some())
            && year.is_none_or(year_ok)
            && month_ok(month)
            && day.is_none_or(day_ok);
    }
    let Some(sep) = ['-', '/', '.'].into_iter().find(|&s| date.contains(s)) else {
        return false;
    };
    let parts: Vec<&str> = date.split(sep).collect();
    match parts.as_slice() {
        [y, m, d] => year_ok(y) && month_ok(m) && day_ok(d),
        [y, m] if y.len() == 4 => year_ok(y) && month_ok(m),
        [m, d] => month_ok(m) && day_ok(d),
        _ => false,
    }
}

/// One currency symbol, 1..=`max_digits` digits, optional `.` + 1–2 digits, optional `元`.
fn amount_ok(value: &str, max_digits: usize) -> bool {
    let body = value.strip_suffix('元').unwrap_or(value);
    let Some(rest) = body.strip_prefix(CURRENCY) else {
        return false;
    };
    match rest.split_once('.') {
        Some((int, frac)) => digits(int, 1, max_digits) && digits(frac, 1, 2),
        None => digits(rest, 1, max_digits),
    }
}

/// At least 2 characters (length checked by the caller); first and last may be CJK, the rest
/// ASCII letters or digits (`粤A8Z888挂`).
fn car_number_ok(value: &str) -> bool {
    let chars: Vec<char> = value.chars().collect();
    let last = chars.len().saturating_sub(1);
    chars.len() >= 2
        && chars
            .iter()
            .enumerate()
            .all(|(i, &c)| c.is_ascii_alphanumeric() || ((i == 0 || i == last) && is_cjk(c)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use FieldType as T;
    use Problem as P;

    fn check(ty: FieldType, value: &str, enums: &[&str], flavor: Flavor) -> Result<(), Problem> {
        let enums: Vec<String> = enums.iter().map(|s| (*s).to_owned()).collect();
        check_value(ty, value, &enums, flavor)
    }

    /// Accepted values, then rejected ones with their problem, for both flavors.
    fn table(ty: FieldType, ok: &[&str], bad: &[(&str, Problem)]) {
        for flavor in [Flavor::Template, Flavor::Subscribe] {
            for v in ok {
                assert_eq!(
                    check(ty, v, &[], flavor),
                    Ok(()),
                    "{ty:?} {v:?} should pass"
                );
            }
            for (v, p) in bad {
                assert_eq!(check(ty, v, &[], flavor), Err(p.clone()), "{ty:?} {v:?}");
            }
        }
    }

    fn s(c: &str, n: usize) -> String {
        c.repeat(n)
    }

    #[test]
    fn thing() {
        let twenty = s("一", 20);
        let twenty_one = s("一", 21);
        table(
            T::Thing,
            &[
                "无线蓝牙耳机",
                "TIT会议室 A-3",
                "设备发生故障,请及时查看",
                &twenty,
                &s("a", 20),
            ],
            &[
                ("", P::Required),
                (&twenty_one, P::TooLong(20)),
                (&s("a", 21), P::TooLong(20)),
                ("a\nb", P::ControlChars),
                ("tab\there", P::ControlChars),
                ("line\u{2028}sep", P::ControlChars),
            ],
        );
    }

    #[test]
    fn short_thing() {
        table(
            T::ShortThing,
            &["已完成", "abcde", "一二三四五", "A-1"],
            &[
                ("", P::Required),
                ("abcdef", P::TooLong(5)),
                ("一二三四五六", P::TooLong(5)),
                ("ab\r", P::ControlChars),
            ],
        );
    }

    #[test]
    fn character_string() {
        let ok32 = s("x", 32);
        table(
            T::CharacterString,
            &[
                "SF1234567890-A",
                "WO20231018001",
                "a b!@#$%^&*()_+{}[]|;:'\",.<>/?`~",
                &ok32,
            ],
            &[
                ("", P::Required),
                (&s("x", 33), P::TooLong(32)),
                ("订单123", P::NoCjk),
                ("ＡＢＣ", P::NoCjk),
                ("é", P::NoCjk),
                ("a\tb", P::ControlChars),
            ],
        );
    }

    #[test]
    fn number() {
        let ok32 = s("9", 32);
        table(
            T::Number,
            &[
                "339208499",
                "3.14",
                "0",
                "007",
                &ok32,
                "1234567890123456.123456789012345",
            ],
            &[
                ("", P::Required),
                (&s("9", 33), P::TooLong(32)),
                ("-1", P::DigitsOnly),
                ("1.", P::DigitsOnly),
                (".5", P::DigitsOnly),
                ("1.2.3", P::DigitsOnly),
                ("1,000", P::DigitsOnly),
                ("１２", P::DigitsOnly),
                ("1e5", P::DigitsOnly),
            ],
        );
    }

    #[test]
    fn letter() {
        table(
            T::Letter,
            &["VIP", "abc", &s("Z", 32)],
            &[
                ("", P::Required),
                (&s("Z", 33), P::TooLong(32)),
                ("V1P", P::LettersOnly),
                ("V P", P::LettersOnly),
                ("中", P::LettersOnly),
                ("é", P::LettersOnly),
            ],
        );
    }

    #[test]
    fn symbol() {
        table(
            T::Symbol,
            &["★★", "!!!!!", "#", "￥%", "→"],
            &[
                ("", P::Required),
                ("!!!!!!", P::TooLong(5)),
                ("a!", P::SymbolsOnly),
                ("1", P::SymbolsOnly),
                ("中", P::SymbolsOnly),
                ("! !", P::SymbolsOnly),
            ],
        );
    }

    #[test]
    fn phrase() {
        table(
            T::Phrase,
            &["配送中", "已确认", "一二三四五", "㐀"],
            &[
                ("", P::Required),
                ("配送中配送中", P::TooLong(5)),
                ("abcdef", P::TooLong(5)),
                ("ok", P::CjkOnly),
                ("配送 中", P::CjkOnly),
                ("配送1", P::CjkOnly),
            ],
        );
    }

    #[test]
    fn time() {
        table(
            T::Time,
            &[
                "15:01",
                "09:05",
                "23:59:59",
                "00:00",
                "2019年10月1日 15:01",
                "2023-10-18 14:30:00",
                "2023/10/18 08:00~2023/10/18 09:30",
                "15:01 ~ 16:00",
                "10月1日15:01",
                "2023.10.18 09:30",
                "2023年10月 09:30",
                "2021年10月21日 12:00:00",
            ],
            &[
                ("", P::Required),
                ("2023-10-18", P::TimeFormat),
                ("24:00", P::TimeFormat),
                ("25:00", P::TimeFormat),
                ("12:60", P::TimeFormat),
                ("12:00:60", P::TimeFormat),
                ("15:1", P::TimeFormat),
                ("123:00", P::TimeFormat),
                ("明天", P::TimeFormat),
                ("2023-13-01 10:00", P::TimeFormat),
                ("10:00~11:00~12:00", P::TimeFormat),
                ("10:00~", P::TimeFormat),
                (" 15:01", P::TimeFormat),
                ("2019年10月1日  15:01", P::TimeFormat),
                ("15:01:02:03", P::TimeFormat),
                ("15:01\n", P::ControlChars),
            ],
        );
    }

    #[test]
    fn one_digit_hours_only_in_template_messages() {
        for v in [
            "9:05",
            "2023.10.18 9:30",
            "9:05~10:00",
            "2019年10月1日 9:01:02",
        ] {
            assert_eq!(check(T::Time, v, &[], Flavor::Template), Ok(()), "{v}");
            assert_eq!(
                check(T::Time, v, &[], Flavor::Subscribe),
                Err(P::TimeFormat),
                "{v}"
            );
        }
        assert_eq!(
            check(T::Date, "2018-01-01 9:30", &[], Flavor::Template),
            Ok(())
        );
        assert_eq!(
            check(T::Date, "2018-01-01 9:30", &[], Flavor::Subscribe),
            Err(P::DateFormat)
        );
    }

    #[test]
    fn date() {
        table(
            T::Date,
            &[
                "2015年01月05日",
                "2019年10月1日",
                "2019年10月",
                "10月1日",
                "2018-01-01",
                "2018/01/01",
                "2018.01.01",
                "2018-01",
                "01-01",
                "12/31",
                "2019年10月1日 15:01",
                "2023-10-18 14:30:00",
                "2023-10-01~2023-10-07",
                "10月1日 ~ 10月7日",
            ],
            &[
                ("", P::Required),
                ("15:01", P::DateFormat),
                ("2018-13-01", P::DateFormat),
                ("2018-01-32", P::DateFormat),
                ("2018-00", P::DateFormat),
                ("18-01-01", P::DateFormat),
                ("2018-01/01", P::DateFormat),
                ("10月", P::DateFormat),
                ("2019年", P::DateFormat),
                ("2019年10月1", P::DateFormat),
                ("2019年13月1日", P::DateFormat),
                ("20190101", P::DateFormat),
                ("2018-01-01 25:00", P::DateFormat),
                ("a~b~c", P::DateFormat),
                ("01-01-01", P::DateFormat),
            ],
        );
    }

    #[test]
    fn amount_by_flavor() {
        let t = |v: &str| check(T::Amount, v, &[], Flavor::Template);
        let m = |v: &str| check(T::Amount, v, &[], Flavor::Subscribe);
        for v in [
            "¥199.00",
            "￥39.8元",
            "$5",
            "€0.5",
            "£12",
            "₩1000",
            "₹1",
            "₽2.10",
            "฿3元",
        ] {
            assert_eq!(t(v), Ok(()), "{v}");
            assert_eq!(m(v), Ok(()), "{v}");
        }
        // 12 digits: OA yes, MP no; 10 digits both; 13 neither.
        assert_eq!(t("$123456789012"), Ok(()));
        assert_eq!(m("$123456789012"), Err(P::AmountFormat(10)));
        assert_eq!(t("¥1234567890"), Ok(()));
        assert_eq!(m("¥1234567890"), Ok(()));
        assert_eq!(m("¥12345678901"), Err(P::AmountFormat(10)));
        assert_eq!(t("$1234567890123"), Err(P::AmountFormat(12)));
        for v in [
            "10000元", "199", "¥", "¥元", "¥1.234", "¥1.", "¥.5", "¥¥1", "¥1,000", "-¥5", "¥-5",
            "¥ 5", "¥5 元", "US$5", "5¥",
        ] {
            assert_eq!(t(v), Err(P::AmountFormat(12)), "{v}");
            assert_eq!(m(v), Err(P::AmountFormat(10)), "{v}");
        }
        assert_eq!(t(""), Err(P::Required));
        assert_eq!(m("¥1\n"), Err(P::ControlChars));
    }

    #[test]
    fn phone_number() {
        table(
            T::PhoneNumber,
            &[
                "+86-0766-66888866",
                "0755-86013388",
                "(020) 123#45*6",
                "110",
                &s("1", 17),
            ],
            &[
                ("", P::Required),
                ("+86-0766-668888661", P::TooLong(17)),
                (&s("1", 18), P::TooLong(17)),
                ("call me", P::PhoneFormat),
                ("+-()", P::PhoneFormat),
                ("１３８", P::PhoneFormat),
                ("138.0000", P::PhoneFormat),
            ],
        );
    }

    #[test]
    fn car_number() {
        table(
            T::CarNumber,
            &["粤A8Z888挂", "粤B12345", "AB", "京A12345", "12345678"],
            &[
                ("", P::Required),
                ("粤A8Z888挂1", P::TooLong(8)),
                ("123456789", P::TooLong(8)),
                ("粤", P::CarNumberFormat),
                ("A", P::CarNumberFormat),
                ("粤A8中88", P::CarNumberFormat),
                ("粤A 12345", P::CarNumberFormat),
                ("粤-12345", P::CarNumberFormat),
            ],
        );
    }

    #[test]
    fn name() {
        table(
            T::Name,
            &[
                "张三",
                "John Smith",
                "Jean-Luc O'Neil",
                "阿沛·阿旺",
                &s("张", 10),
                &s("a", 20),
            ],
            &[
                ("", P::Required),
                (&s("张", 11), P::TooLong(10)),
                ("张三李四王五赵六钱七孙", P::TooLong(10)),
                (&s("a", 21), P::TooLong(20)),
                ("张三abcdefghi", P::TooLong(10)),
                ("R2D2", P::NameFormat),
                ("张三1", P::NameFormat),
                ("Anna_B", P::NameFormat),
            ],
        );
    }

    #[test]
    fn const_values() {
        let list = ["待付款", "已发货"];
        let owned: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
        for f in [Flavor::Template, Flavor::Subscribe] {
            assert_eq!(check(T::Const, "已发货", &list, f), Ok(()));
            assert_eq!(check(T::Const, "待付款", &list, f), Ok(()));
            assert_eq!(check(T::Const, "", &list, f), Ok(()));
            assert_eq!(
                check(T::Const, "已签收", &list, f),
                Err(P::NotInList(owned.clone()))
            );
            assert_eq!(
                check(T::Const, "已发货 ", &list, f),
                Err(P::NotInList(owned.clone()))
            );
            assert_eq!(check(T::Const, &s("x", 21), &list, f), Err(P::TooLong(20)));
            assert_eq!(check(T::Const, "已\n发货", &list, f), Err(P::ControlChars));
            assert_eq!(check(T::Const, "", &[], f), Ok(()));
            assert_eq!(check(T::Const, &s("x", 21), &[], f), Err(P::TooLong(20)));
        }
        // Unknown list: anything up to 20 characters in OA templates (WeChat does not publish
        // the list), nothing but "" in subscribe messages (it always does).
        let t = Flavor::Template;
        assert_eq!(check(T::Const, "随便什么", &[], t), Ok(()));
        assert_eq!(check(T::Const, &s("x", 20), &[], t), Ok(()));
        assert_eq!(
            check(T::Const, "随便什么", &[], Flavor::Subscribe),
            Err(P::NotInList(Vec::new()))
        );
    }

    #[test]
    fn enum_values() {
        let list = ["客厅", "卧室", "阳台"];
        let owned: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
        let f = Flavor::Subscribe;
        assert_eq!(check(T::Enum, "客厅", &list, f), Ok(()));
        assert_eq!(check(T::Enum, "卧室", &list, f), Ok(()));
        assert_eq!(check(T::Enum, "阳台", &list, f), Ok(()));
        assert_eq!(check(T::Enum, "", &list, f), Err(P::Required));
        assert_eq!(
            check(T::Enum, "厨房", &list, f),
            Err(P::NotInList(owned.clone()))
        );
        assert_eq!(check(T::Enum, "客厅 ", &list, f), Err(P::NotInList(owned)));
        assert_eq!(check(T::Enum, "客\t厅", &list, f), Err(P::ControlChars));
        // Unknown list: nothing passes a subscribe message (WeChat would answer 47003).
        assert_eq!(
            check(T::Enum, "厨房", &[], f),
            Err(P::NotInList(Vec::new()))
        );
        assert_eq!(check(T::Enum, "", &[], f), Err(P::Required));
        assert_eq!(check(T::Enum, "厨房", &[], Flavor::Template), Ok(()));
    }

    /// §5.2's table, strictly: every subscribe type at and just past its limits.
    #[test]
    fn subscribe_strict_table() {
        let sub = |ty: FieldType, v: &str, enums: &[&str]| check(ty, v, enums, Flavor::Subscribe);
        let rooms = ["客厅", "卧室"];
        let ok: Vec<(FieldType, String)> = vec![
            (T::Thing, s("一", 20)),
            (T::Thing, s("a", 20)),
            (T::Thing, "TIT会议室 A-3，请准时！".into()),
            (T::Number, s("9", 32)),
            (T::Number, format!("{}.{}", s("1", 16), s("2", 15))),
            (T::Number, "0".into()),
            (T::Letter, s("Z", 32)),
            (T::Letter, "a".into()),
            (T::Symbol, "★★★★★".into()),
            (T::Symbol, "%".into()),
            (T::CharacterString, s("x", 32)),
            (T::CharacterString, "SF-123_4#".into()),
            (T::Time, "00:00".into()),
            (T::Time, "23:59:59".into()),
            (T::Time, "2019年10月1日 15:01".into()),
            (T::Time, "15:01~16:00".into()),
            (T::Date, "2015年01月05日".into()),
            (T::Date, "2019年10月".into()),
            (T::Date, "10月1日".into()),
            (T::Date, "2018.01.01".into()),
            (T::Date, "01-01".into()),
            (T::Date, "2018-01-01 23:59".into()),
            (T::Date, "2018-01-01~2018-01-31".into()),
            (T::Amount, "¥1234567890".into()),
            (T::Amount, "¥1234567890.99元".into()),
            (T::Amount, "$0.5".into()),
            (T::PhoneNumber, s("1", 17)),
            (T::PhoneNumber, "+86-0766-66888866".into()),
            (T::CarNumber, "粤A8Z888挂".into()),
            (T::CarNumber, "AB".into()),
            (T::Name, s("张", 10)),
            (T::Name, s("a", 20)),
            (T::Name, "Jean-Luc".into()),
            (T::Phrase, s("配", 5)),
            (T::Enum, "客厅".into()),
        ];
        for (ty, v) in &ok {
            assert_eq!(sub(*ty, v, &rooms), Ok(()), "{ty:?} {v:?} should pass");
        }
        let bad: Vec<(FieldType, String, Problem)> = vec![
            (T::Thing, s("一", 21), P::TooLong(20)),
            (T::Thing, String::new(), P::Required),
            (T::Thing, "a\u{2028}b".into(), P::ControlChars),
            (T::Number, s("9", 33), P::TooLong(32)),
            (T::Number, "1.".into(), P::DigitsOnly),
            (T::Number, "+1".into(), P::DigitsOnly),
            (T::Letter, s("Z", 33), P::TooLong(32)),
            (T::Letter, "abc1".into(), P::LettersOnly),
            (T::Symbol, "★★★★★★".into(), P::TooLong(5)),
            (T::Symbol, "★a".into(), P::SymbolsOnly),
            (T::CharacterString, s("x", 33), P::TooLong(32)),
            (T::CharacterString, "单号1".into(), P::NoCjk),
            (T::Time, "9:05".into(), P::TimeFormat),
            (T::Time, "24:00".into(), P::TimeFormat),
            (T::Time, "2019年10月1日".into(), P::TimeFormat),
            (T::Time, "15:01~".into(), P::TimeFormat),
            (T::Date, "20180101".into(), P::DateFormat),
            (T::Date, "2018-01-01 9:30".into(), P::DateFormat),
            (T::Amount, "¥12345678901".into(), P::AmountFormat(10)),
            (T::Amount, "1234元".into(), P::AmountFormat(10)),
            (T::Amount, "¥1.005".into(), P::AmountFormat(10)),
            (T::PhoneNumber, s("1", 18), P::TooLong(17)),
            (T::PhoneNumber, "138 0000 abcd".into(), P::PhoneFormat),
            (T::CarNumber, "粤A8Z888挂A".into(), P::TooLong(8)),
            (T::CarNumber, "粤A中12".into(), P::CarNumberFormat),
            (T::Name, s("张", 11), P::TooLong(10)),
            (T::Name, s("a", 21), P::TooLong(20)),
            (T::Name, "张a".repeat(6), P::TooLong(10)),
            (T::Name, "Anna1".into(), P::NameFormat),
            (T::Phrase, s("配", 6), P::TooLong(5)),
            (T::Phrase, "配送A".into(), P::CjkOnly),
            (
                T::Enum,
                "阳台".into(),
                P::NotInList(vec!["客厅".into(), "卧室".into()]),
            ),
            (T::Enum, String::new(), P::Required),
        ];
        for (ty, v, p) in bad {
            assert_eq!(sub(ty, &v, &rooms), Err(p), "{ty:?} {v:?}");
        }
        // An untyped key must not be empty either.
        assert_eq!(sub(T::Text, "", &[]), Err(P::Required));
        assert_eq!(sub(T::Text, "x", &[]), Ok(()));
    }

    #[test]
    fn legacy_text() {
        let long = s("很长", 100);
        table(
            T::Text,
            &["巧克力", "39.8元", &long, "  spaces  "],
            &[
                ("a\nb", P::ControlChars),
                ("\r", P::ControlChars),
                ("\t", P::ControlChars),
                ("\u{0}", P::ControlChars),
                ("\u{7f}", P::ControlChars),
            ],
        );
        // Empty is fine in a template message (legacy keys are optional), not in a subscribe one.
        assert_eq!(check(T::Text, "", &[], Flavor::Template), Ok(()));
        assert_eq!(check(T::Text, "", &[], Flavor::Subscribe), Err(P::Required));
    }

    #[test]
    fn control_chars_beat_length() {
        let long = format!("{}\n", s("x", 40));
        for ty in [T::Thing, T::CharacterString, T::Phrase, T::Const, T::Amount] {
            assert_eq!(
                check(ty, &long, &[], Flavor::Template),
                Err(P::ControlChars),
                "{ty:?}"
            );
        }
    }

    #[test]
    fn cjk_ranges() {
        for c in [
            '一',
            '龥',
            '\u{9FFF}',
            '㐀',
            '\u{4DBF}',
            '豈',
            '\u{20000}',
            '\u{2A6DF}',
            '\u{2A700}',
            '\u{2EBEF}',
        ] {
            assert!(is_cjk(c), "{c:?}");
        }
        for c in [
            'a',
            '1',
            '，',
            'あ',
            '한',
            '\u{4DC0}',
            '\u{2A6E0}',
            '\u{2EBF0}',
            '\u{3000}',
        ] {
            assert!(!is_cjk(c), "{c:?}");
        }
    }
}
