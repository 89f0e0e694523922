//! Who a send is for: the followers filter (one shape for the page, its URL, the server and the
//! stored job) and a job's recipient source.

use serde::{Deserialize, Serialize};

use crate::{Problem, Refusal};

/// The followers filter. Empty fields do not filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FollowerFilter {
    /// An exact openid or unionid, or a part of the remark.
    #[serde(default)]
    pub search: String,
    #[serde(default)]
    pub subscribed: Option<bool>,
    #[serde(default)]
    pub has_unionid: Option<bool>,
    #[serde(default)]
    pub matched: Option<bool>,
    #[serde(default)]
    pub tag: Option<i64>,
}

/// The longest search text kept (longer input is cut, not refused: it is a search box).
pub const SEARCH_MAX: usize = 100;

/// A yes/no/any filter as the URL and the form write it: `yes`, `no` or empty.
pub fn tri_code(value: Option<bool>) -> &'static str {
    match value {
        Some(true) => "yes",
        Some(false) => "no",
        None => "",
    }
}

fn tri(field: &str, value: &str) -> Result<Option<bool>, Refusal> {
    match value.trim() {
        "" => Ok(None),
        "yes" => Ok(Some(true)),
        "no" => Ok(Some(false)),
        _ => Err(Refusal::new(field, Problem::NotAnOption)),
    }
}

impl FollowerFilter {
    /// Reads the filter from the page URL's query (`search`, `subscribed`, `unionid`, `matched`,
    /// `tag`); a value that is not one of the choices is refused, naming its parameter.
    pub fn from_query(get: impl Fn(&str) -> Option<String>) -> Result<FollowerFilter, Refusal> {
        let text = |k: &str| get(k).unwrap_or_default();
        let filter = FollowerFilter {
            search: text("search"),
            subscribed: tri("subscribed", &text("subscribed"))?,
            has_unionid: tri("unionid", &text("unionid"))?,
            matched: tri("matched", &text("matched"))?,
            tag: match text("tag").trim() {
                "" => None,
                t => Some(
                    t.parse()
                        .map_err(|_| Refusal::new("tag", Problem::NotAnOption))?,
                ),
            },
        };
        Ok(filter.normalized())
    }

    /// The filter as URL query pairs, in the order [`FollowerFilter::from_query`] reads them.
    pub fn pairs(&self) -> [(&'static str, String); 5] {
        [
            ("search", self.search.clone()),
            ("subscribed", tri_code(self.subscribed).to_owned()),
            ("unionid", tri_code(self.has_unionid).to_owned()),
            ("matched", tri_code(self.matched).to_owned()),
            ("tag", self.tag.map(|t| t.to_string()).unwrap_or_default()),
        ]
    }

    /// The search text trimmed and cut to [`SEARCH_MAX`] characters, as the server uses it.
    pub fn normalized(mut self) -> FollowerFilter {
        self.search = self.search.trim().chars().take(SEARCH_MAX).collect();
        self
    }

    pub fn is_empty(&self) -> bool {
        *self == FollowerFilter::default()
    }
}

/// Who a job is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecipientSource {
    /// The selection from the followers page.
    Openids(Vec<String>),
    /// "All N matching this filter".
    Filter(FollowerFilter),
    AllSubscribed,
    /// Subscribed followers whose unionid matches a user of the linked Mini Program.
    Matched,
    /// Followers carrying the tag (those who unfollowed are listed as skipped).
    Tag(i64),
    /// Pasted/uploaded text: one openid per line, optional header line `openid`.
    CsvOpenids(String),
    /// One unionid per line, optional header `unionid`; mapped to the follower's OA openid.
    CsvUnionids(String),
    /// Every user of the linked Mini Program (by unionid to the OA when it follows).
    MpUsers,
    /// The people of an uploaded spreadsheet, each with their own values.
    Sheet(i64),
}

impl RecipientSource {
    /// `openids`, `filter`, `all_subscribed`, `matched`, `tag`, `csv_openids`, `csv_unionids`,
    /// `mp_users`.
    pub fn kind(&self) -> &'static str {
        match self {
            RecipientSource::Openids(_) => "openids",
            RecipientSource::Filter(_) => "filter",
            RecipientSource::AllSubscribed => "all_subscribed",
            RecipientSource::Matched => "matched",
            RecipientSource::Tag(_) => "tag",
            RecipientSource::CsvOpenids(_) => "csv_openids",
            RecipientSource::CsvUnionids(_) => "csv_unionids",
            RecipientSource::MpUsers => "mp_users",
            RecipientSource::Sheet(_) => "sheet",
        }
    }

    /// Who the source reaches, in words (`标签 12 下的关注者`).
    pub fn label(&self, lang: crate::Lang) -> String {
        let pick = |zh: &str, en: &str| lang.pick(zh, en).to_owned();
        match self {
            RecipientSource::Openids(list) => match lang {
                crate::Lang::Zh => format!("选择的 {} 位粉丝", list.len()),
                crate::Lang::En => format!("{} selected followers", list.len()),
            },
            RecipientSource::Filter(f) if f.is_empty() => pick("全部粉丝", "All followers"),
            RecipientSource::Filter(f) => {
                let conditions: Vec<String> = f
                    .pairs()
                    .into_iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                match lang {
                    crate::Lang::Zh => format!("符合筛选条件的粉丝（{}）", conditions.join("，")),
                    crate::Lang::En => format!("Followers matching ({})", conditions.join(", ")),
                }
            }
            RecipientSource::AllSubscribed => pick("全部关注者", "Everyone following"),
            RecipientSource::Matched => pick(
                "已匹配小程序用户的关注者",
                "Followers matched to a Mini Program user",
            ),
            RecipientSource::Tag(tag) => match lang {
                crate::Lang::Zh => format!("标签 {tag} 下的关注者"),
                crate::Lang::En => format!("Followers with tag {tag}"),
            },
            RecipientSource::CsvOpenids(_) => pick("openid 列表", "A list of openids"),
            RecipientSource::CsvUnionids(_) => pick("unionid 列表", "A list of unionids"),
            RecipientSource::MpUsers => pick("小程序的全部用户", "Every user of the Mini Program"),
            RecipientSource::Sheet(_) => pick("上传的表格", "An uploaded spreadsheet"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_url_round_trips() {
        let f = FollowerFilter {
            search: "张".into(),
            subscribed: Some(true),
            has_unionid: Some(false),
            matched: None,
            tag: Some(100),
        };
        let pairs: Vec<(&str, String)> = f.pairs().into_iter().collect();
        let back = FollowerFilter::from_query(|k| {
            pairs
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.clone())
        });
        assert_eq!(back, Ok(f));
        assert_eq!(
            FollowerFilter::from_query(query(&[])),
            Ok(FollowerFilter::default())
        );
    }

    #[test]
    fn a_value_not_offered_is_refused_by_its_parameter() {
        let refused = FollowerFilter::from_query(query(&[("matched", "maybe")])).unwrap_err();
        assert_eq!(refused.field, "matched");
        let refused = FollowerFilter::from_query(query(&[("tag", "vip")])).unwrap_err();
        assert_eq!(refused.field, "tag");
    }

    #[test]
    fn the_stored_shape_is_kept() {
        // Jobs store their source as JSON: the field names are part of the database.
        let stored = r#"{"Filter":{"search":"","subscribed":true,"has_unionid":null,"matched":null,"tag":2}}"#;
        let source: RecipientSource = serde_json::from_str(stored).unwrap();
        assert_eq!(
            source,
            RecipientSource::Filter(FollowerFilter {
                subscribed: Some(true),
                tag: Some(2),
                ..FollowerFilter::default()
            })
        );
        assert_eq!(serde_json::to_string(&source).unwrap(), stored);
    }
}
