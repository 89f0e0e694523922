//! What is wrong with a message's value, color or link (the keyword type rules of WeChat's
//! templates), independent of language. The `message` crate checks values against them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ValueProblem {
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

impl ValueProblem {
    /// The message shown next to the field, in Chinese or English.
    pub fn message(&self, english: bool) -> String {
        let text = match (self, english) {
            (ValueProblem::Required, false) => "必填",
            (ValueProblem::Required, true) => "Required",
            (ValueProblem::TooLong(n), false) => return format!("最多 {n} 个字符"),
            (ValueProblem::TooLong(n), true) => return format!("At most {n} characters"),
            (ValueProblem::ControlChars, false) => "不能包含换行或控制字符（微信会丢弃换行后的内容）",
            (ValueProblem::ControlChars, true) => {
                "No line breaks or control characters (WeChat drops everything after a line break)"
            }
            (ValueProblem::NoCjk, false) => "只能包含数字、字母和符号，不能有汉字",
            (ValueProblem::NoCjk, true) => "Digits, letters and symbols only, no Chinese characters",
            (ValueProblem::DigitsOnly, false) => "只能是数字，可带小数",
            (ValueProblem::DigitsOnly, true) => "Digits only, optionally with decimals (e.g. 3.14)",
            (ValueProblem::LettersOnly, false) => "只能是字母",
            (ValueProblem::LettersOnly, true) => "Letters only",
            (ValueProblem::SymbolsOnly, false) => "只能是符号",
            (ValueProblem::SymbolsOnly, true) => "Symbols only",
            (ValueProblem::CjkOnly, false) => "只能是汉字",
            (ValueProblem::CjkOnly, true) => "Chinese characters only",
            (ValueProblem::TimeFormat, false) => {
                "24 小时制时间，如 09:05、2019年10月1日 15:01，区间用 ~ 连接"
            }
            (ValueProblem::TimeFormat, true) => {
                "24-hour time such as 09:05 or 2019年10月1日 15:01; join a range with ~"
            }
            (ValueProblem::DateFormat, false) => {
                "日期如 2019年10月1日、2019-10-01、10月1日，可带时间，区间用 ~ 连接"
            }
            (ValueProblem::DateFormat, true) => {
                "A date such as 2019年10月1日, 2019-10-01 or 10月1日, optionally with a time; join a range with ~"
            }
            (ValueProblem::AmountFormat(n), false) => {
                return format!("以货币符号开头、最多 {n} 位数字，如 ¥199.00")
            }
            (ValueProblem::AmountFormat(n), true) => {
                return format!("A currency symbol, then at most {n} digits, e.g. ¥199.00")
            }
            (ValueProblem::PhoneFormat, false) => "只能包含数字和 + - ( ) # * 等符号",
            (ValueProblem::PhoneFormat, true) => "Digits and symbols such as + - ( ) # * only",
            (ValueProblem::CarNumberFormat, false) => {
                "车牌如 粤A8Z888挂：首尾可为汉字，其余为字母或数字，最多 8 位"
            }
            (ValueProblem::CarNumberFormat, true) => {
                "A plate such as 粤A8Z888挂: Chinese characters only first and last, otherwise letters or digits, at most 8"
            }
            (ValueProblem::NameFormat, false) => {
                "姓名只能包含汉字或字母（汉字最多 10 个，字母最多 20 个）"
            }
            (ValueProblem::NameFormat, true) => {
                "Chinese characters or letters only (at most 10 Chinese characters or 20 letters)"
            }
            (ValueProblem::NotInList(values), false) if values.is_empty() => {
                "模板没有列出可选值，请重新同步模板后再填写"
            }
            (ValueProblem::NotInList(values), true) if values.is_empty() => {
                "The template lists no allowed values; sync the templates again"
            }
            (ValueProblem::NotInList(values), false) => {
                return format!("只能是模板审核通过的值之一：{}", values.join("、"))
            }
            (ValueProblem::NotInList(values), true) => {
                return format!("Must be one of the template's approved values: {}", values.join(", "))
            }
            (ValueProblem::OneOf(values), false) => {
                return format!("只能是以下之一：{}", values.join("、"))
            }
            (ValueProblem::OneOf(values), true) => {
                return format!("Must be one of: {}", values.join(", "))
            }
            (ValueProblem::ColorFormat, false) => "颜色格式为 #RRGGBB",
            (ValueProblem::ColorFormat, true) => "Colors look like #RRGGBB",
            (ValueProblem::UrlFormat, false) => "应以 http:// 或 https:// 开头，且不含空格",
            (ValueProblem::UrlFormat, true) => "Must start with http:// or https:// and contain no spaces",
            (ValueProblem::PagePathFormat, false) => {
                "页面路径如 pages/index/index?id=1：不以 / 开头，不含空格"
            }
            (ValueProblem::PagePathFormat, true) => {
                "A page path such as pages/index/index?id=1: no leading /, no spaces"
            }
            (ValueProblem::NotLinked, false) => "只能选择与本公众号关联的小程序",
            (ValueProblem::NotLinked, true) => "Only Mini Programs linked to this account can be chosen",
            (ValueProblem::MiniProgramIncomplete, false) => "小程序 AppID 和页面路径需同时填写",
            (ValueProblem::MiniProgramIncomplete, true) => {
                "Fill in both the Mini Program AppID and the page path"
            }
        };
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<ValueProblem> {
        vec![
            ValueProblem::Required,
            ValueProblem::TooLong(20),
            ValueProblem::ControlChars,
            ValueProblem::NoCjk,
            ValueProblem::DigitsOnly,
            ValueProblem::LettersOnly,
            ValueProblem::SymbolsOnly,
            ValueProblem::CjkOnly,
            ValueProblem::TimeFormat,
            ValueProblem::DateFormat,
            ValueProblem::AmountFormat(12),
            ValueProblem::PhoneFormat,
            ValueProblem::CarNumberFormat,
            ValueProblem::NameFormat,
            ValueProblem::NotInList(vec!["待付款".into(), "已发货".into()]),
            ValueProblem::ColorFormat,
            ValueProblem::UrlFormat,
            ValueProblem::PagePathFormat,
            ValueProblem::NotLinked,
            ValueProblem::MiniProgramIncomplete,
            ValueProblem::NotInList(Vec::new()),
            ValueProblem::OneOf(vec!["zh_CN".into(), "en_US".into()]),
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
            ValueProblem::AmountFormat(10).message(false),
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
        let json = serde_json::to_value(ValueProblem::TooLong(5)).unwrap();
        assert_eq!(json, serde_json::json!({"TooLong": 5}));
        let back: ValueProblem = serde_json::from_value(json).unwrap();
        assert_eq!(back, ValueProblem::TooLong(5));
    }
}
