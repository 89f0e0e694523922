//! Keyword fields of a template: `{{name.DATA}}` placeholders with their labels and types.

use serde::{Deserialize, Serialize};

/// A keyword's type, from its key prefix (`thing1` → `Thing`); legacy keys are `Text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Thing,
    ShortThing,
    CharacterString,
    Number,
    Letter,
    Symbol,
    Time,
    Date,
    Amount,
    PhoneNumber,
    CarNumber,
    Name,
    Phrase,
    Const,
    /// MP `enum` / `enum_string` keys: one of the template's listed values.
    Enum,
    /// Legacy industry-template keys (`first`, `keyword1`, `remark`, `withdrawMoney`…): free text.
    Text,
}

/// Key prefixes, longest first where one prefix starts another (`enum_string` before `enum`).
const PREFIXES: [(&str, FieldType); 16] = [
    ("character_string", FieldType::CharacterString),
    ("phone_number", FieldType::PhoneNumber),
    ("short_thing", FieldType::ShortThing),
    ("enum_string", FieldType::Enum),
    ("car_number", FieldType::CarNumber),
    ("thing", FieldType::Thing),
    ("number", FieldType::Number),
    ("letter", FieldType::Letter),
    ("symbol", FieldType::Symbol),
    ("time", FieldType::Time),
    ("date", FieldType::Date),
    ("amount", FieldType::Amount),
    ("name", FieldType::Name),
    ("phrase", FieldType::Phrase),
    ("const", FieldType::Const),
    ("enum", FieldType::Enum),
];

impl FieldType {
    /// The type of `key` (`thing12` → Thing, `character_string3` → CharacterString,
    /// `enum_string2` → Enum, `keyword1` / `first` / `thing` / `foo3` → Text).
    pub fn from_key(key: &str) -> FieldType {
        let prefix = key.trim_end_matches(|c: char| c.is_ascii_digit());
        if prefix.len() == key.len() {
            return FieldType::Text;
        }
        PREFIXES
            .iter()
            .find(|(p, _)| *p == prefix)
            .map_or(FieldType::Text, |(_, t)| *t)
    }

    /// The key prefix as WeChat spells it (`"character_string"`), `"text"` for Text.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Thing => "thing",
            FieldType::ShortThing => "short_thing",
            FieldType::CharacterString => "character_string",
            FieldType::Number => "number",
            FieldType::Letter => "letter",
            FieldType::Symbol => "symbol",
            FieldType::Time => "time",
            FieldType::Date => "date",
            FieldType::Amount => "amount",
            FieldType::PhoneNumber => "phone_number",
            FieldType::CarNumber => "car_number",
            FieldType::Name => "name",
            FieldType::Phrase => "phrase",
            FieldType::Const => "const",
            FieldType::Enum => "enum",
            FieldType::Text => "text",
        }
    }

    /// A short human name: 事物 / thing, 字符串 / character string, …
    pub fn name(self, english: bool) -> &'static str {
        let (zh, en) = match self {
            FieldType::Thing => ("事物", "thing"),
            FieldType::ShortThing => ("短事物", "short thing"),
            FieldType::CharacterString => ("字符串", "character string"),
            FieldType::Number => ("数字", "number"),
            FieldType::Letter => ("字母", "letter"),
            FieldType::Symbol => ("符号", "symbol"),
            FieldType::Time => ("时间", "time"),
            FieldType::Date => ("日期", "date"),
            FieldType::Amount => ("金额", "amount"),
            FieldType::PhoneNumber => ("电话", "phone number"),
            FieldType::CarNumber => ("车牌", "car number"),
            FieldType::Name => ("姓名", "name"),
            FieldType::Phrase => ("短语", "phrase"),
            FieldType::Const => ("枚举", "const"),
            FieldType::Enum => ("枚举", "enum"),
            FieldType::Text => ("文本", "text"),
        };
        if english {
            en
        } else {
            zh
        }
    }

    /// A one-line hint shown under the input, e.g. "最多 20 个字符" / "at most 20 characters",
    /// "24 小时制时间，如 09:05 或 2019年10月1日 15:01".
    pub fn hint(self, flavor: crate::Flavor, english: bool) -> String {
        use crate::rules::{
            amount_digits, CAR_NUMBER_MAX, CHARACTER_STRING_MAX, CONST_MAX, LETTER_MAX,
            NAME_CJK_MAX, NAME_LATIN_MAX, NUMBER_MAX, PHONE_MAX, PHRASE_MAX, SHORT_THING_MAX,
            SYMBOL_MAX, THING_MAX,
        };
        match (self, english) {
            (FieldType::Thing, false) => format!("最多 {THING_MAX} 个字符"),
            (FieldType::Thing, true) => format!("at most {THING_MAX} characters"),
            (FieldType::ShortThing, false) => format!("最多 {SHORT_THING_MAX} 个字符"),
            (FieldType::ShortThing, true) => format!("at most {SHORT_THING_MAX} characters"),
            (FieldType::CharacterString, false) => {
                format!("最多 {CHARACTER_STRING_MAX} 个字符，只能是数字、字母和符号")
            }
            (FieldType::CharacterString, true) => {
                format!("at most {CHARACTER_STRING_MAX} digits, letters and symbols, no Chinese")
            }
            (FieldType::Number, false) => format!("最多 {NUMBER_MAX} 位数字，可带小数，如 3.14"),
            (FieldType::Number, true) => {
                format!("at most {NUMBER_MAX} digits, decimals allowed, e.g. 3.14")
            }
            (FieldType::Letter, false) => format!("最多 {LETTER_MAX} 个字母"),
            (FieldType::Letter, true) => format!("at most {LETTER_MAX} letters"),
            (FieldType::Symbol, false) => format!("最多 {SYMBOL_MAX} 个符号"),
            (FieldType::Symbol, true) => format!("at most {SYMBOL_MAX} symbols"),
            (FieldType::Time, false) => {
                "24 小时制时间，如 09:05 或 2019年10月1日 15:01，区间用 ~ 连接".into()
            }
            (FieldType::Time, true) => {
                "24-hour time, e.g. 09:05 or 2019年10月1日 15:01; join a range with ~".into()
            }
            (FieldType::Date, false) => {
                "日期如 2019年10月1日 或 2019-10-01，可带时间，区间用 ~ 连接".into()
            }
            (FieldType::Date, true) => {
                "a date, e.g. 2019年10月1日 or 2019-10-01, optionally with a time; join a range with ~"
                    .into()
            }
            (FieldType::Amount, false) => format!(
                "货币符号开头，最多 {} 位数字，可带小数，如 ¥199.00",
                amount_digits(flavor)
            ),
            (FieldType::Amount, true) => format!(
                "a currency symbol, then at most {} digits, decimals allowed, e.g. ¥199.00",
                amount_digits(flavor)
            ),
            (FieldType::PhoneNumber, false) => {
                format!("最多 {PHONE_MAX} 个字符，数字和 + - ( ) # * 等符号")
            }
            (FieldType::PhoneNumber, true) => {
                format!("at most {PHONE_MAX} characters: digits and + - ( ) # *")
            }
            (FieldType::CarNumber, false) => {
                format!("最多 {CAR_NUMBER_MAX} 位，首尾可为汉字，其余为字母或数字，如 粤A8Z888挂")
            }
            (FieldType::CarNumber, true) => format!(
                "at most {CAR_NUMBER_MAX} characters, Chinese only first and last, e.g. 粤A8Z888挂"
            ),
            (FieldType::Name, false) => {
                format!("汉字最多 {NAME_CJK_MAX} 个，字母最多 {NAME_LATIN_MAX} 个，不能有数字")
            }
            (FieldType::Name, true) => format!(
                "at most {NAME_CJK_MAX} Chinese characters or {NAME_LATIN_MAX} letters, no digits"
            ),
            (FieldType::Phrase, false) => format!("最多 {PHRASE_MAX} 个汉字，如 配送中"),
            (FieldType::Phrase, true) => {
                format!("at most {PHRASE_MAX} Chinese characters, e.g. 配送中")
            }
            (FieldType::Const, false) => {
                format!("模板审核通过的值之一（最多 {CONST_MAX} 个字符），可留空")
            }
            (FieldType::Const, true) => {
                format!("one of the template's approved values (at most {CONST_MAX} characters), or empty")
            }
            (FieldType::Enum, false) => "必填，只能是模板的枚举值之一".into(),
            (FieldType::Enum, true) => "required: one of the template's listed values".into(),
            (FieldType::Text, false) if flavor == crate::Flavor::Subscribe => "必填".into(),
            (FieldType::Text, true) if flavor == crate::Flavor::Subscribe => "required".into(),
            (FieldType::Text, false) => "旧版模板：不校验，超出 20 个字符的部分会被折叠".into(),
            (FieldType::Text, true) => {
                "legacy template: not checked, text past 20 characters is folded".into()
            }
        }
    }
}

/// Where a field sits in a legacy template (WeChat no longer shows first and remark).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldRole {
    First,
    Keyword,
    Remark,
}

/// One placeholder of a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// The placeholder name without `.DATA`: `thing1`, `keyword2`, `first`.
    pub key: String,
    /// The text before the placeholder on its line, trimmed, without a trailing `:`/`：`
    /// (`商品名称:{{keyword1.DATA}}` → `商品名称`); empty when there is none.
    pub label: String,
    pub ty: FieldType,
    pub role: FieldRole,
}

/// The fields of `content` in order, each key once. Only `{{name.DATA}}` counts; other
/// `{{…}}` are reserved words and ignored; unterminated braces end the scan without panicking.
pub fn parse_fields(content: &str) -> Vec<Field> {
    let mut fields: Vec<Field> = Vec::new();
    // Byte offset where the current label may start: the line start or the end of the
    // previous `{{…}}` on the same line.
    let mut label_from = 0;
    let mut pos = 0;
    while let Some(found) = content[pos..].find("}}") {
        let close = pos + found;
        let before = &content[pos..close];
        pos = close + 2;
        // The innermost `{{` before this `}}`, so `{{{x.DATA}}` still reads `x.DATA`.
        let Some(open) = before.rfind("{{").map(|i| close - before.len() + i) else {
            continue;
        };
        let line_start = content[..open].rfind('\n').map_or(0, |i| i + 1);
        let start = label_from.max(line_start);
        let label = if start <= open {
            &content[start..open]
        } else {
            ""
        };
        label_from = pos;
        let inner = content[open + 2..close].trim();
        let Some(key) = inner.strip_suffix(".DATA") else {
            continue;
        };
        if key.is_empty()
            || key
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '{' || c == '}')
            || fields.iter().any(|f| f.key == key)
        {
            continue;
        }
        fields.push(Field {
            key: key.to_owned(),
            label: clean_label(label),
            ty: FieldType::from_key(key),
            role: match key {
                "first" => FieldRole::First,
                "remark" => FieldRole::Remark,
                _ => FieldRole::Keyword,
            },
        });
    }
    fields
}

/// `  商品名称： ` → `商品名称`.
fn clean_label(text: &str) -> String {
    let text = text.trim();
    let text = text
        .strip_suffix(':')
        .or_else(|| text.strip_suffix('：'))
        .unwrap_or(text);
    text.trim().to_owned()
}

/// A category template: every field typed (no Text field), at least one field.
pub fn is_category(fields: &[Field]) -> bool {
    !fields.is_empty() && fields.iter().all(|f| f.ty != FieldType::Text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(content: &str) -> Vec<(String, String, FieldType, FieldRole)> {
        parse_fields(content)
            .into_iter()
            .map(|f| (f.key, f.label, f.ty, f.role))
            .collect()
    }

    fn row(
        key: &str,
        label: &str,
        ty: FieldType,
        role: FieldRole,
    ) -> (String, String, FieldType, FieldRole) {
        (key.into(), label.into(), ty, role)
    }

    #[test]
    fn legacy_purchase_template() {
        let content = "{{first.DATA}}\n商品名称：{{keyword1.DATA}}\n商品价格：{{keyword2.DATA}}\n购买时间：{{keyword3.DATA}}\n{{remark.DATA}}";
        let fields = parse_fields(content);
        assert_eq!(
            summary(content),
            [
                row("first", "", FieldType::Text, FieldRole::First),
                row("keyword1", "商品名称", FieldType::Text, FieldRole::Keyword),
                row("keyword2", "商品价格", FieldType::Text, FieldRole::Keyword),
                row("keyword3", "购买时间", FieldType::Text, FieldRole::Keyword),
                row("remark", "", FieldType::Text, FieldRole::Remark),
            ]
        );
        assert!(!is_category(&fields));
    }

    #[test]
    fn legacy_prize_template_with_arbitrary_names() {
        let content = "{{result.DATA}}\n\n领奖金额:{{withdrawMoney.DATA}}\n领奖 时间: {{withdrawTime.DATA}}\n银行信息:{{cardInfo.DATA}}\n到账时间: {{arrivedTime.DATA}}";
        assert_eq!(
            summary(content),
            [
                row("result", "", FieldType::Text, FieldRole::Keyword),
                row(
                    "withdrawMoney",
                    "领奖金额",
                    FieldType::Text,
                    FieldRole::Keyword
                ),
                row(
                    "withdrawTime",
                    "领奖 时间",
                    FieldType::Text,
                    FieldRole::Keyword
                ),
                row("cardInfo", "银行信息", FieldType::Text, FieldRole::Keyword),
                row(
                    "arrivedTime",
                    "到账时间",
                    FieldType::Text,
                    FieldRole::Keyword
                ),
            ]
        );
    }

    #[test]
    fn brief_label_example() {
        let content =
            "{{first.DATA}}\n商品名称：{{keyword1.DATA}}\n领奖 时间: {{withdrawTime.DATA}}";
        let labels: Vec<String> = parse_fields(content).into_iter().map(|f| f.label).collect();
        assert_eq!(labels, ["", "商品名称", "领奖 时间"]);
    }

    #[test]
    fn oa_category_templates() {
        let content = "单位名称:{{thing1.DATA}}\n隐患状态:{{const2.DATA}}\n隐患数量:{{character_string3.DATA}}\n隐患类型:{{const4.DATA}}\n";
        let fields = parse_fields(content);
        assert_eq!(
            summary(content),
            [
                row("thing1", "单位名称", FieldType::Thing, FieldRole::Keyword),
                row("const2", "隐患状态", FieldType::Const, FieldRole::Keyword),
                row(
                    "character_string3",
                    "隐患数量",
                    FieldType::CharacterString,
                    FieldRole::Keyword
                ),
                row("const4", "隐患类型", FieldType::Const, FieldRole::Keyword),
            ]
        );
        assert!(is_category(&fields));

        let service = "服务项目:{{thing1.DATA}}\n工单编号:{{character_string2.DATA}}\n预约时间:{{time3.DATA}}\n服务费用:{{amount4.DATA}}\n工单状态:{{const5.DATA}}\n处理进度:{{phrase6.DATA}}\n联系电话:{{phone_number7.DATA}}\n车牌号码:{{car_number8.DATA}}";
        let fields = parse_fields(service);
        let types: Vec<FieldType> = fields.iter().map(|f| f.ty).collect();
        assert_eq!(
            types,
            [
                FieldType::Thing,
                FieldType::CharacterString,
                FieldType::Time,
                FieldType::Amount,
                FieldType::Const,
                FieldType::Phrase,
                FieldType::PhoneNumber,
                FieldType::CarNumber,
            ]
        );
        assert_eq!(fields[7].label, "车牌号码");
        assert!(is_category(&fields));
    }

    #[test]
    fn mp_subscribe_templates() {
        assert_eq!(
            summary("会议时间:{{date2.DATA}}\n会议地点:{{thing1.DATA}}\n"),
            [
                row("date2", "会议时间", FieldType::Date, FieldRole::Keyword),
                row("thing1", "会议地点", FieldType::Thing, FieldRole::Keyword),
            ]
        );
        let booking = "服务项目:{{thing1.DATA}}\n预约人数:{{number2.DATA}}\n预约日期:{{date3.DATA}}\n预约状态:{{phrase4.DATA}}\n预约单号:{{character_string5.DATA}}\n到店时间:{{time6.DATA}}\n订单金额:{{amount7.DATA}}\n预约人:{{name8.DATA}}\n座位区域:{{letter9.DATA}}\n会员等级:{{symbol10.DATA}}\n联系电话:{{phone_number11.DATA}}\n车牌号码:{{car_number12.DATA}}\n";
        let fields = parse_fields(booking);
        assert_eq!(fields.len(), 12);
        assert_eq!(fields[7].label, "预约人");
        assert_eq!(fields[7].ty, FieldType::Name);
        assert_eq!(fields[8].ty, FieldType::Letter);
        assert_eq!(fields[9].key, "symbol10");
        assert_eq!(fields[9].ty, FieldType::Symbol);
        assert!(is_category(&fields));

        let device = parse_fields(
            "完成时间:{{time1.DATA}}\n所在位置:{{enum_string2.DATA}}\n提示说明:{{thing3.DATA}}\n",
        );
        assert_eq!(device[1].ty, FieldType::Enum);
        assert_eq!(device[1].label, "所在位置");
    }

    #[test]
    fn key_types() {
        let cases = [
            ("thing12", FieldType::Thing),
            ("short_thing1", FieldType::ShortThing),
            ("character_string3", FieldType::CharacterString),
            ("number01", FieldType::Number),
            ("letter9", FieldType::Letter),
            ("symbol10", FieldType::Symbol),
            ("time3", FieldType::Time),
            ("date01", FieldType::Date),
            ("amount4", FieldType::Amount),
            ("phone_number7", FieldType::PhoneNumber),
            ("car_number8", FieldType::CarNumber),
            ("name8", FieldType::Name),
            ("phrase6", FieldType::Phrase),
            ("const5", FieldType::Const),
            ("enum1", FieldType::Enum),
            ("enum_string2", FieldType::Enum),
            ("keyword1", FieldType::Text),
            ("first", FieldType::Text),
            ("remark", FieldType::Text),
            ("thing", FieldType::Text),
            ("foo3", FieldType::Text),
            ("12", FieldType::Text),
            ("", FieldType::Text),
            ("thing1a", FieldType::Text),
            ("Thing1", FieldType::Text),
            ("thing١", FieldType::Text),
        ];
        for (key, ty) in cases {
            assert_eq!(FieldType::from_key(key), ty, "{key}");
        }
    }

    #[test]
    fn as_str_round_trips() {
        let all = [
            FieldType::Thing,
            FieldType::ShortThing,
            FieldType::CharacterString,
            FieldType::Number,
            FieldType::Letter,
            FieldType::Symbol,
            FieldType::Time,
            FieldType::Date,
            FieldType::Amount,
            FieldType::PhoneNumber,
            FieldType::CarNumber,
            FieldType::Name,
            FieldType::Phrase,
            FieldType::Const,
            FieldType::Enum,
        ];
        for ty in all {
            assert_eq!(FieldType::from_key(&format!("{}1", ty.as_str())), ty);
            assert!(!ty.name(false).is_empty() && !ty.name(true).is_empty());
        }
        assert_eq!(FieldType::CharacterString.as_str(), "character_string");
        assert_eq!(FieldType::Text.as_str(), "text");
        assert_eq!(FieldType::Thing.name(false), "事物");
        assert_eq!(FieldType::PhoneNumber.name(true), "phone number");
        assert_eq!(FieldType::Text.name(false), "文本");
    }

    #[test]
    fn hints_follow_the_limits() {
        use crate::Flavor;
        assert_eq!(
            FieldType::Thing.hint(Flavor::Template, false),
            "最多 20 个字符"
        );
        assert_eq!(
            FieldType::Thing.hint(Flavor::Subscribe, true),
            "at most 20 characters"
        );
        assert!(FieldType::Amount
            .hint(Flavor::Template, false)
            .contains("12"));
        assert!(FieldType::Amount
            .hint(Flavor::Subscribe, false)
            .contains("10"));
        assert!(FieldType::Amount
            .hint(Flavor::Subscribe, true)
            .contains("10 digits"));
        assert_eq!(
            FieldType::Text.hint(Flavor::Template, false),
            "旧版模板：不校验，超出 20 个字符的部分会被折叠"
        );
        assert!(FieldType::Time
            .hint(Flavor::Template, false)
            .contains("2019年10月1日 15:01"));
        assert!(FieldType::CharacterString
            .hint(Flavor::Template, true)
            .contains("32"));
    }

    #[test]
    fn duplicates_kept_once_with_first_label() {
        let content = "名称:{{thing1.DATA}}\n再次:{{thing1.DATA}}\n时间:{{time2.DATA}}";
        assert_eq!(
            summary(content),
            [
                row("thing1", "名称", FieldType::Thing, FieldRole::Keyword),
                row("time2", "时间", FieldType::Time, FieldRole::Keyword),
            ]
        );
    }

    #[test]
    fn reserved_and_odd_braces() {
        // `{{ }}` and names without `.DATA` are reserved words.
        assert_eq!(summary("a{{ }}b{{foo}}c{{.DATA}}"), []);
        // Unterminated braces end the scan.
        assert_eq!(
            summary("名称:{{thing1.DATA}}\n时间:{{time2.DATA"),
            [row("thing1", "名称", FieldType::Thing, FieldRole::Keyword)]
        );
        assert_eq!(summary("{{"), []);
        assert_eq!(summary("}}"), []);
        assert_eq!(summary(""), []);
        assert!(!is_category(&[]));
        // Whitespace inside the braces is trimmed.
        assert_eq!(
            summary("名称: {{ thing1.DATA }}"),
            [row("thing1", "名称", FieldType::Thing, FieldRole::Keyword)]
        );
        // An extra opening brace does not swallow the key.
        assert_eq!(
            summary("x{{{thing1.DATA}}}"),
            [row("thing1", "x{", FieldType::Thing, FieldRole::Keyword)]
        );
        // Keys with whitespace inside are not placeholders.
        assert_eq!(summary("{{a b.DATA}}"), []);
        // Case matters for the suffix.
        assert_eq!(summary("{{thing1.data}}"), []);
    }

    #[test]
    fn labels_on_shared_lines_and_odd_spacing() {
        assert_eq!(
            summary("　起点：　{{thing1.DATA}} 终点:{{thing2.DATA}}{{thing3.DATA}}"),
            [
                row("thing1", "起点", FieldType::Thing, FieldRole::Keyword),
                row("thing2", "终点", FieldType::Thing, FieldRole::Keyword),
                row("thing3", "", FieldType::Thing, FieldRole::Keyword),
            ]
        );
        // A reserved `{{…}}` also separates labels.
        assert_eq!(parse_fields("a{{x}}b:{{thing1.DATA}}")[0].label, "b");
        // Only one trailing colon is removed.
        assert_eq!(parse_fields("时间::{{time1.DATA}}")[0].label, "时间:");
        assert_eq!(
            parse_fields("\r\n 说明 ：{{thing1.DATA}}\r\n")[0].label,
            "说明"
        );
    }
}
