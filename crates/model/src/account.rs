//! The two kinds of WeChat account wxpush works with.

use serde::{Deserialize, Serialize};

use crate::Lang;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// 公众号
    Oa,
    /// 小程序
    Mp,
}

impl AccountKind {
    /// The stored form (`accounts.kind`), also a form's option value.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Oa => "oa",
            AccountKind::Mp => "mp",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "oa" => Some(AccountKind::Oa),
            "mp" => Some(AccountKind::Mp),
            _ => None,
        }
    }

    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            AccountKind::Oa => lang.pick("公众号", "Official Account"),
            AccountKind::Mp => lang.pick("小程序", "Mini Program"),
        }
    }
}
