//! Odd input never panics: a fixed-seed xorshift feeds random-ish Unicode to every entry point.

use std::collections::BTreeMap;

use message::fields::FieldType;
use message::links::{check_color, check_pagepath, check_url};
use message::{
    check_value, parse_fields, preview, subscribe_payload, subscribe_preview, template_payload,
    validate_preset, FieldValue, Flavor, MiniProgramLink, PresetBody, PreviewMode, TemplateSpec,
};

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Mostly characters that mean something to the parsers, plus random code points.
    fn string(&mut self) -> String {
        const PIECES: &[&str] = &[
            "{{",
            "}}",
            ".DATA",
            "thing",
            "1",
            "2",
            ":",
            "：",
            "\n",
            "\r",
            "\t",
            " ",
            "　",
            "~",
            "年",
            "月",
            "日",
            "-",
            "/",
            ".",
            "¥",
            "元",
            "$",
            "#",
            "?",
            "http://",
            "https://",
            "a",
            "Z",
            "0",
            "9",
            "99",
            "中",
            "粤",
            "·",
            "'",
            "…",
            "\u{2028}",
            "\u{0}",
            "é",
            "😀",
            "\u{20000}",
            "{{thing1.DATA}}",
            "{{ time2.DATA }}",
            "{{first.DATA}}",
            "first",
            "remark",
            "keyword",
            "amount",
            "time",
            "date",
            "_",
            "(",
            "*",
        ];
        let len = self.below(40);
        let mut s = String::new();
        for _ in 0..len {
            if self.below(4) == 0 {
                let cp = (self.next() % 0x11_0000) as u32;
                s.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
            } else {
                s.push_str(PIECES[self.below(PIECES.len())]);
            }
        }
        s
    }
}

const TYPES: [FieldType; 16] = [
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
    FieldType::Text,
];

#[test]
fn random_inputs_never_panic() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut found = 0;
    for _ in 0..3000 {
        let content = rng.string();
        let fields = parse_fields(&content);
        found += fields.len();
        for f in &fields {
            assert!(!f.key.is_empty());
            assert!(content.contains(&format!("{}.DATA", f.key)));
            assert!(!f.label.contains('\n'));
        }
        let value = rng.string();
        let enums = vec![rng.string(), value.clone()];
        for ty in TYPES {
            for flavor in [Flavor::Template, Flavor::Subscribe] {
                let _ = check_value(ty, &value, &[], flavor);
                let _ = check_value(ty, &value, &enums, flavor);
                let _ = ty.hint(flavor, true);
            }
            let _ = FieldType::from_key(&value);
        }
        let _ = check_color(&value);
        let _ = check_url(&value);
        let _ = check_pagepath(&value);
        if let Err(p) = check_value(FieldType::Thing, &value, &[], Flavor::Template) {
            assert!(!p.message(false).is_empty() && !p.message(true).is_empty());
        }

        let body = PresetBody {
            values: fields
                .iter()
                .map(|f| {
                    (
                        f.key.clone(),
                        FieldValue {
                            value: rng.string(),
                            color: rng.string(),
                        },
                    )
                })
                .collect(),
            url: rng.string(),
            miniprogram: Some(MiniProgramLink {
                appid: rng.string(),
                pagepath: rng.string(),
            }),
            page: rng.string(),
            miniprogram_state: rng.string(),
            lang: rng.string(),
        };
        let enum_map = BTreeMap::new();
        for flavor in [Flavor::Template, Flavor::Subscribe] {
            let _ = validate_preset(
                &body,
                &TemplateSpec {
                    fields: &fields,
                    enums: &enum_map,
                    flavor,
                    linked_appids: &[],
                },
            );
        }
        let sub = subscribe_payload(&value, &content, &fields, &body);
        assert_eq!(sub.data.len(), fields.len());
        let card = subscribe_preview(&value, &content, &fields, &sub);
        assert_eq!(card.rows.len(), fields.len());
        let payload = template_payload(&value, &content, &fields, &body, Some(&value));
        assert_eq!(payload.data.len(), fields.len());
        for mode in [PreviewMode::Current, PreviewMode::Legacy] {
            let p = preview(&content, &fields, &payload, mode);
            for r in &p.rows {
                assert!(!r.text.contains('\n'));
                if mode == PreviewMode::Current {
                    assert!(r.text.chars().count() <= message::preview::DISPLAY_CHARS + 1);
                }
            }
        }
    }
    // The generator does reach the placeholder paths.
    assert!(found > 20, "only {found} placeholders found");
}

#[test]
fn fixed_odd_inputs() {
    let odd = [
        "",
        "{",
        "{{",
        "{{{",
        "}}",
        "{{}}",
        "{{ }}",
        "{{.DATA}}",
        "{{thing1.DATA",
        "{{thing1.DATA}",
        "}}{{",
        "{{{{thing1.DATA}}}}",
        "~",
        "~~",
        ":",
        "::",
        "年月日",
        "¥",
        "元",
        "¥元",
        ".",
        "..",
        "-",
        "#",
        "?",
        "/",
        "http://",
        "https://?",
        "\u{0}",
        "\u{FEFF}",
        "😀😀😀",
        "\u{2EBEF}",
    ];
    for s in odd {
        let _ = parse_fields(s);
        for ty in TYPES {
            let _ = check_value(ty, s, &[], Flavor::Template);
        }
        let _ = check_color(s);
        let _ = check_url(s);
        let _ = check_pagepath(s);
    }
}
