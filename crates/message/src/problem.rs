//! What is wrong with a value, a color or a link, independent of language.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Problem {
    Required,
    /// More than n characters.
    TooLong(usize),
    /// Line breaks or other control characters (WeChat drops everything after a line break).
    ControlChars,
    /// character_string: digits, letters and symbols only.
    NoCjk,
    /// number: digits with optional decimals.
    DigitsOnly,
    /// letter: letters only.
    LettersOnly,
    /// symbol: symbols only.
    SymbolsOnly,
    /// phrase: Chinese characters only.
    CjkOnly,
    TimeFormat,
    DateFormat,
    /// One currency symbol, at most n digits, optional decimals, optional trailing 元.
    AmountFormat(usize),
    PhoneFormat,
    CarNumberFormat,
    NameFormat,
    /// Not one of the template's approved values (listed; empty when the template lists none).
    NotInList(Vec<String>),
    /// Not one of the allowed settings (listed), e.g. a subscribe message's `lang`.
    OneOf(Vec<String>),
    ColorFormat,
    UrlFormat,
    PagePathFormat,
    /// The miniprogram appid is not a Mini Program linked to this account.
    NotLinked,
    /// A pagepath without an appid, or an appid without a pagepath.
    MiniProgramIncomplete,
}

impl Problem {
    /// The message shown next to the field, in Chinese or English.
    pub fn message(&self, english: bool) -> String {
        let text = match (self, english) {
            (Problem::Required, false) => "必填",
            (Problem::Required, true) => "Required",
            (Problem::TooLong(n), false) => return format!("最多 {n} 个字符"),
            (Problem::TooLong(n), true) => return format!("At most {n} characters"),
            (Problem::ControlChars, false) => "不能包含换行或控制字符（微信会丢弃换行后的内容）",
            (Problem::ControlChars, true) => {
                "No line breaks or control characters (WeChat drops everything after a line break)"
            }
            (Problem::NoCjk, false) => "只能包含数字、字母和符号，不能有汉字",
            (Problem::NoCjk, true) => "Digits, letters and symbols only, no Chinese characters",
            (Problem::DigitsOnly, false) => "只能是数字，可带小数",
            (Problem::DigitsOnly, true) => "Digits only, optionally with decimals (e.g. 3.14)",
            (Problem::LettersOnly, false) => "只能是字母",
            (Problem::LettersOnly, true) => "Letters only",
            (Problem::SymbolsOnly, false) => "只能是符号",
            (Problem::SymbolsOnly, true) => "Symbols only",
            (Problem::CjkOnly, false) => "只能是汉字",
            (Problem::CjkOnly, true) => "Chinese characters only",
            (Problem::TimeFormat, false) => {
                "24 小时制时间，如 09:05、2019年10月1日 15:01，区间用 ~ 连接"
            }
            (Problem::TimeFormat, true) => {
                "24-hour time such as 09:05 or 2019年10月1日 15:01; join a range with ~"
            }
            (Problem::DateFormat, false) => {
                "日期如 2019年10月1日、2019-10-01、10月1日，可带时间，区间用 ~ 连接"
            }
            (Problem::DateFormat, true) => {
                "A date such as 2019年10月1日, 2019-10-01 or 10月1日, optionally with a time; join a range with ~"
            }
            (Problem::AmountFormat(n), false) => {
                return format!("以货币符号开头、最多 {n} 位数字，如 ¥199.00")
            }
            (Problem::AmountFormat(n), true) => {
                return format!("A currency symbol, then at most {n} digits, e.g. ¥199.00")
            }
            (Problem::PhoneFormat, false) => "只能包含数字和 + - ( ) # * 等符号",
            (Problem::PhoneFormat, true) => "Digits and symbols such as + - ( ) # * only",
            (Problem::CarNumberFormat, false) => {
                "车牌如 粤A8Z888挂：首尾可为汉字，其余为字母或数字，最多 8 位"
            }
            (Problem::CarNumberFormat, true) => {
                "A plate such as 粤A8Z888挂: Chinese characters only first and last, otherwise letters or digits, at most 8"
            }
            (Problem::NameFormat, false) => {
                "姓名只能包含汉字或字母（汉字最多 10 个，字母最多 20 个）"
            }
            (Problem::NameFormat, true) => {
                "Chinese characters or letters only (at most 10 Chinese characters or 20 letters)"
            }
            (Problem::NotInList(values), false) if values.is_empty() => {
                "模板没有列出可选值，请重新同步模板后再填写"
            }
            (Problem::NotInList(values), true) if values.is_empty() => {
                "The template lists no allowed values; sync the templates again"
            }
            (Problem::NotInList(values), false) => {
                return format!("只能是模板审核通过的值之一：{}", values.join("、"))
            }
            (Problem::NotInList(values), true) => {
                return format!("Must be one of the template's approved values: {}", values.join(", "))
            }
            (Problem::OneOf(values), false) => {
                return format!("只能是以下之一：{}", values.join("、"))
            }
            (Problem::OneOf(values), true) => {
                return format!("Must be one of: {}", values.join(", "))
            }
            (Problem::ColorFormat, false) => "颜色格式为 #RRGGBB",
            (Problem::ColorFormat, true) => "Colors look like #RRGGBB",
            (Problem::UrlFormat, false) => "应以 http:// 或 https:// 开头，且不含空格",
            (Problem::UrlFormat, true) => "Must start with http:// or https:// and contain no spaces",
            (Problem::PagePathFormat, false) => {
                "页面路径如 pages/index/index?id=1：不以 / 开头，不含空格"
            }
            (Problem::PagePathFormat, true) => {
                "A page path such as pages/index/index?id=1: no leading /, no spaces"
            }
            (Problem::NotLinked, false) => "只能选择与本公众号关联的小程序",
            (Problem::NotLinked, true) => "Only Mini Programs linked to this account can be chosen",
            (Problem::MiniProgramIncomplete, false) => "小程序 AppID 和页面路径需同时填写",
            (Problem::MiniProgramIncomplete, true) => {
                "Fill in both the Mini Program AppID and the page path"
            }
        };
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Problem> {
        vec![
            Problem::Required,
            Problem::TooLong(20),
            Problem::ControlChars,
            Problem::NoCjk,
            Problem::DigitsOnly,
            Problem::LettersOnly,
            Problem::SymbolsOnly,
            Problem::CjkOnly,
            Problem::TimeFormat,
            Problem::DateFormat,
            Problem::AmountFormat(12),
            Problem::PhoneFormat,
            Problem::CarNumberFormat,
            Problem::NameFormat,
            Problem::NotInList(vec!["待付款".into(), "已发货".into()]),
            Problem::ColorFormat,
            Problem::UrlFormat,
            Problem::PagePathFormat,
            Problem::NotLinked,
            Problem::MiniProgramIncomplete,
            Problem::NotInList(Vec::new()),
            Problem::OneOf(vec!["zh_CN".into(), "en_US".into()]),
        ]
    }

    #[test]
    fn chinese_messages() {
        let zh: Vec<String> = all().iter().map(|p| p.message(false)).collect();
        assert_eq!(zh[0], "必填");
        assert_eq!(zh[1], "最多 20 个字符");
        assert_eq!(zh[2], "不能包含换行或控制字符（微信会丢弃换行后的内容）");
        assert_eq!(zh[3], "只能包含数字、字母和符号，不能有汉字");
        assert_eq!(
            zh[8],
            "24 小时制时间，如 09:05、2019年10月1日 15:01，区间用 ~ 连接"
        );
        assert_eq!(zh[10], "以货币符号开头、最多 12 位数字，如 ¥199.00");
        assert_eq!(zh[14], "只能是模板审核通过的值之一：待付款、已发货");
        assert_eq!(zh[15], "颜色格式为 #RRGGBB");
        assert_eq!(zh[19], "小程序 AppID 和页面路径需同时填写");
        assert_eq!(zh[20], "模板没有列出可选值，请重新同步模板后再填写");
        assert_eq!(zh[21], "只能是以下之一：zh_CN、en_US");
        assert_eq!(
            Problem::AmountFormat(10).message(false),
            "以货币符号开头、最多 10 位数字，如 ¥199.00"
        );
    }

    #[test]
    fn english_messages_are_distinct_and_capitalised() {
        let en: Vec<String> = all().iter().map(|p| p.message(true)).collect();
        assert_eq!(en[0], "Required");
        assert_eq!(en[1], "At most 20 characters");
        assert!(en[10].contains("12 digits"));
        assert!(en[14].ends_with("待付款, 已发货"));
        for (i, a) in en.iter().enumerate() {
            assert!(!a.starts_with(|c: char| c.is_ascii_lowercase()), "{a}");
            for b in &en[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn serde_shape() {
        let json = serde_json::to_value(Problem::TooLong(5)).unwrap();
        assert_eq!(json, serde_json::json!({"TooLong": 5}));
        let back: Problem = serde_json::from_value(json).unwrap();
        assert_eq!(back, Problem::TooLong(5));
    }
}
