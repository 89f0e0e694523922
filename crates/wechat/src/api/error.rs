//! The one error type of the HTTP API client, its classification and operator-facing explanations.

use std::net::IpAddr;

/// Everything an API call can fail with.
///
/// No variant ever carries an access token, an AppSecret or a session key: transport messages
/// are built with the URL (whose query holds the token or secret) stripped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// WeChat answered with a non-zero `errcode`. `message` is `errmsg` exactly as received,
    /// including any ` rid: …`, `, rid: …` or ` hint: […]` suffix.
    #[error("WeChat error {code}: {message}")]
    WeChat { code: i64, message: String },
    /// Connecting or the whole request took longer than the client's timeout.
    #[error("request to WeChat timed out")]
    Timeout,
    /// A non-2xx HTTP status without a WeChat error body (e.g. a 502 from a proxy).
    #[error("HTTP status {status}")]
    Http { status: u16 },
    /// The request could not be delivered or the response not read (connection refused, reset, TLS…).
    #[error("transport error: {0}")]
    Transport(String),
    /// The body was not the expected JSON.
    #[error("unexpected response body: {0}")]
    Decode(String),
    /// Refused client-side before anything was sent (e.g. more than 100 openids, bad base URL).
    #[error("request refused before sending: {0}")]
    Request(String),
}

/// What a caller should do about an [`ApiError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The access token is invalid, superseded, expired or missing: refresh it, then retry.
    /// (On the token endpoints themselves 40001 means a wrong AppSecret — see [`ApiError::explain`].)
    Token,
    /// Transient: WeChat busy, rate limited, timeout, transport failure, HTTP 5xx. Retry with backoff.
    RetryLater,
    /// The account's daily quota for this API is used up (45009): stop until tomorrow.
    DailyQuota,
    /// This recipient cannot receive the message (not a follower, blocked, refused, bad openid).
    RecipientCannotReceive,
    /// The request itself is wrong (template, data, page, permission, code…): fix it, don't retry.
    BadRequest,
    /// The account's AppID / AppSecret / IP whitelist is wrong: an operator must fix the settings.
    Credentials,
    /// Anything else.
    Other,
}

impl ErrorClass {
    /// Token problems (41001 = access_token missing).
    const TOKEN: &'static [i64] = &[40001, 40014, 42001, 41001];
    const RETRY_LATER: &'static [i64] = &[-1, 45011, 43117];
    const DAILY_QUOTA: &'static [i64] = &[45009];
    const RECIPIENT: &'static [i64] = &[43004, 40003, 43019, 43101];
    /// The last three are jscode2session code problems (invalid, used, blocked).
    const BAD_REQUEST: &'static [i64] = &[
        40036, 40037, 47003, 40165, 41030, 43116, 48001, 45109, 40032, 41002, 40002, 47001, 40029,
        40163, 40226,
    ];
    const CREDENTIALS: &'static [i64] = &[
        40013, 40125, 40164, 40243, 61004, 89503, 89501, 89506, 89507,
    ];

    /// Classifies a WeChat `errcode` (never the errmsg text).
    pub fn of_code(code: i64) -> ErrorClass {
        let table: [(&[i64], ErrorClass); 6] = [
            (Self::TOKEN, ErrorClass::Token),
            (Self::RETRY_LATER, ErrorClass::RetryLater),
            (Self::DAILY_QUOTA, ErrorClass::DailyQuota),
            (Self::RECIPIENT, ErrorClass::RecipientCannotReceive),
            (Self::BAD_REQUEST, ErrorClass::BadRequest),
            (Self::CREDENTIALS, ErrorClass::Credentials),
        ];
        table
            .iter()
            .find(|(codes, _)| codes.contains(&code))
            .map_or(ErrorClass::Other, |(_, class)| *class)
    }
}

impl ApiError {
    /// How to react to this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            ApiError::WeChat { code, .. } => ErrorClass::of_code(*code),
            ApiError::Timeout | ApiError::Transport(_) => ErrorClass::RetryLater,
            ApiError::Http { status } if (500..=599).contains(status) => ErrorClass::RetryLater,
            ApiError::Http { .. } | ApiError::Decode(_) => ErrorClass::Other,
            ApiError::Request(_) => ErrorClass::BadRequest,
        }
    }

    /// True when the same request may succeed later unchanged ([`ErrorClass::RetryLater`]).
    /// Token errors are not included: refresh the token first.
    pub fn is_retryable(&self) -> bool {
        self.class() == ErrorClass::RetryLater
    }

    /// The WeChat `errcode`, if WeChat answered with one.
    pub fn code(&self) -> Option<i64> {
        match self {
            ApiError::WeChat { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The WeChat `errmsg` as received, if WeChat answered with one.
    pub fn errmsg(&self) -> Option<&str> {
        match self {
            ApiError::WeChat { message, .. } => Some(message),
            _ => None,
        }
    }

    /// For 47003 (`argument invalid! data.thing1.value invalid rid: …`): the offending field as
    /// WeChat names it, e.g. `data.thing1.value`.
    pub fn field(&self) -> Option<String> {
        match self {
            ApiError::WeChat {
                code: 47003,
                message,
            } => message
                .split_whitespace()
                .map(|word| word.trim_matches(|c: char| matches!(c, ',' | ';' | '"' | '\'')))
                .find(|word| word.starts_with("data.") && word.len() > "data.".len())
                .map(str::to_owned),
            _ => None,
        }
    }

    /// For 47003: the template data key of the offending field, e.g. `thing1` for
    /// `data.thing1.value`.
    pub fn data_key(&self) -> Option<String> {
        let field = self.field()?;
        let rest = field.strip_prefix("data.")?;
        let key = rest.strip_suffix(".value").unwrap_or(rest);
        (!key.is_empty()).then(|| key.to_owned())
    }

    /// For 40164 / 61004 (`invalid ip 47.94.148.108 ipv6 ::ffff:47.94.148.108, not in whitelist rid: …`):
    /// the caller's IP address to add to the account's IP whitelist, e.g. `47.94.148.108`.
    pub fn whitelist_ip(&self) -> Option<String> {
        // 61004 is what the service-account guide documents for the same case; reports show 40164.
        let ApiError::WeChat {
            code: 40164 | 61004,
            message,
        } = self
        else {
            return None;
        };
        let words: Vec<&str> = message
            .split_whitespace()
            .map(|word| word.trim_matches(|c: char| matches!(c, ',' | ';')))
            .collect();
        // "invalid ip <v4>" first; otherwise the "ipv6 <addr>" form, unmapping ::ffff:a.b.c.d.
        let after = |label: &str| {
            words
                .windows(2)
                .find(|pair| pair[0] == label)
                .map(|pair| pair[1])
        };
        let parse = |word: &str| -> Option<String> {
            let addr: IpAddr = word.parse().ok()?;
            Some(match addr {
                IpAddr::V6(v6) => v6
                    .to_ipv4_mapped()
                    .map_or_else(|| v6.to_string(), |v4| v4.to_string()),
                IpAddr::V4(v4) => v4.to_string(),
            })
        };
        after("ip")
            .and_then(parse)
            .or_else(|| after("ipv6").and_then(parse))
    }

    /// One sentence telling an operator what happened and what to do, in Chinese (`lang_zh`)
    /// or English.
    pub fn explain(&self, lang_zh: bool) -> String {
        let pick = |zh: &str, en: &str| {
            if lang_zh {
                zh.to_owned()
            } else {
                en.to_owned()
            }
        };
        match self {
            ApiError::WeChat { code, message } => explain_code(*code, message, self, lang_zh),
            ApiError::Timeout => pick(
                "请求微信接口超时：稍后会自动重试；若持续发生，请检查服务器到 api.weixin.qq.com 的网络。",
                "The request to WeChat timed out: it will be retried later; if this keeps happening, check the network path to api.weixin.qq.com.",
            ),
            ApiError::Http { status } => {
                if lang_zh {
                    format!("微信接口返回 HTTP {status}（通常来自中间代理或网关）：稍后重试；若持续发生，请检查代理或接口地址配置。")
                } else {
                    format!("WeChat answered HTTP {status} (usually from a proxy or gateway in between): retry later; if it persists, check the proxy or the API base URL.")
                }
            }
            ApiError::Transport(detail) => {
                if lang_zh {
                    format!("无法连接微信接口（{detail}）：请检查网络、DNS 和接口地址配置；稍后会重试。")
                } else {
                    format!("Could not reach the WeChat API ({detail}): check the network, DNS and the API base URL; it will be retried later.")
                }
            }
            ApiError::Decode(detail) => {
                if lang_zh {
                    format!("微信接口返回了无法识别的内容（{detail}）：请检查接口地址是否指向微信或正确的代理。")
                } else {
                    format!("WeChat returned an unexpected body ({detail}): check that the API base URL points at WeChat or a correct proxy.")
                }
            }
            ApiError::Request(detail) => {
                if lang_zh {
                    format!("请求未发送：{detail}。")
                } else {
                    format!("The request was not sent: {detail}.")
                }
            }
        }
    }
}

/// The per-code sentence of [`ApiError::explain`].
fn explain_code(code: i64, message: &str, err: &ApiError, zh: bool) -> String {
    let s = |zh_text: &str, en_text: &str| {
        if zh {
            zh_text.to_owned()
        } else {
            en_text.to_owned()
        }
    };
    match code {
        -1 => s(
            "微信系统繁忙（-1）：稍后会自动重试。",
            "WeChat is busy (-1): the request will be retried later.",
        ),
        40001 => s(
            "access_token 无效或已被更新的 token 取代（40001）：将刷新 token 后重试；若在获取 token 时出现，说明 AppSecret 错误，请在公众平台 → 设置与开发 → 基本配置 中核对。",
            "The access token is invalid or was superseded by a newer one (40001): the token will be refreshed and the request retried; if this happens while fetching a token, the AppSecret is wrong — check it under Settings and Development → Basic configuration.",
        ),
        40014 => s(
            "access_token 不合法（40014）：将刷新 token 后重试。",
            "The access token is malformed (40014): it will be refreshed and the request retried.",
        ),
        42001 => s(
            "access_token 已过期（42001）：将刷新 token 后重试。",
            "The access token has expired (42001): it will be refreshed and the request retried.",
        ),
        41001 => s(
            "缺少 access_token（41001）：将获取 token 后重试。",
            "The access token is missing (41001): a token will be fetched and the request retried.",
        ),
        40013 => s(
            "AppID 无效（40013）：请核对账号配置中的 AppID 是否与公众平台 → 设置与开发 → 基本配置 中一致。",
            "Invalid AppID (40013): check that the account's AppID matches the one under Settings and Development → Basic configuration in the WeChat admin.",
        ),
        40125 => s(
            "AppSecret 错误（40125）：请在公众平台 → 设置与开发 → 基本配置 中核对或重置 AppSecret。",
            "Wrong AppSecret (40125): check or reset it in the WeChat admin under Settings and Development → Basic configuration.",
        ),
        40243 => s(
            "AppSecret 已被冻结（40243）：请在公众平台 → 设置与开发 → 基本配置 中解冻或重置 AppSecret。",
            "The AppSecret is frozen (40243): unfreeze or reset it in the WeChat admin under Settings and Development → Basic configuration.",
        ),
        40164 | 61004 => match err.whitelist_ip() {
            Some(ip) => {
                if zh {
                    format!("服务器 IP {ip} 不在接口 IP 白名单中（{code}）：请在公众平台 → 设置与开发 → 基本配置 → IP 白名单 中添加 {ip}。")
                } else {
                    format!("This server's IP {ip} is not in the API IP whitelist ({code}): add {ip} in the WeChat admin under Settings and Development → Basic configuration → IP whitelist.")
                }
            }
            None => s(
                "服务器 IP 不在接口 IP 白名单中：请在公众平台 → 设置与开发 → 基本配置 → IP 白名单 中添加本服务器的出口 IP。",
                "This server's IP is not in the API IP whitelist: add its outbound IP in the WeChat admin under Settings and Development → Basic configuration → IP whitelist.",
            ),
        },
        89503 | 89501 => s(
            "本次调用 IP 需要管理员确认（89503/89501）：请管理员在公众平台的提醒中确认，或把该 IP 加入 IP 白名单。",
            "The calling IP awaits the administrator's confirmation (89503/89501): confirm it in the WeChat admin's prompt or add the IP to the IP whitelist.",
        ),
        89506 | 89507 => s(
            "管理员拒绝了本 IP 的调用（89506/89507）：请稍后再试，或把该 IP 加入 IP 白名单。",
            "The administrator rejected calls from this IP (89506/89507): wait and try again later, or add the IP to the IP whitelist.",
        ),
        45009 => s(
            "今日接口调用次数已达上限（45009）：请明天再发，或在公众平台查看配额 / 使用 clear_quota 重置。",
            "The account's daily API quota is used up (45009): send again tomorrow, or check the quota in the WeChat admin / reset it with clear_quota.",
        ),
        45011 => s(
            "接口调用过于频繁（45011）：稍后会自动重试。",
            "API called too often this minute (45011): the request will be retried later.",
        ),
        43117 => s(
            "向该用户发送过于频繁（43117）：稍后会自动重试。",
            "Messages to this user are too frequent (43117): the request will be retried later.",
        ),
        43004 => s(
            "接收者未关注公众号（43004）：只能向关注者发送模板消息。",
            "The recipient does not follow the Official Account (43004): template messages can only go to followers.",
        ),
        40003 => s(
            "openid 无效（40003）：openid 格式错误或不属于本账号（例如小程序的 openid）。",
            "Invalid openid (40003): it is malformed or belongs to another account (e.g. a Mini Program openid).",
        ),
        43019 => s(
            "接收者在公众号黑名单中（43019）：请先将其移出黑名单。",
            "The recipient is on the account's blacklist (43019): remove them from it first.",
        ),
        43101 => s(
            "用户拒绝接收此消息（43101）：用户未订阅或一次性订阅次数已用完。",
            "The user refused this message (43101): they have not subscribed, or their one-time subscription is used up.",
        ),
        47003 => match err.field() {
            Some(field) => {
                if zh {
                    format!("模板参数不合规（47003）：字段 {field} 的值不符合该类型的规则（长度或字符类型），请修改后再发。")
                } else {
                    format!("Invalid template data (47003): the value of {field} breaks its type's rule (length or characters); fix it and send again.")
                }
            }
            None => s(
                "模板参数不合规（47003）：某个字段的值不符合其类型规则，请检查后再发。",
                "Invalid template data (47003): a value breaks its type's rule; check the data and send again.",
            ),
        },
        40036 | 40037 => s(
            "模板 ID 无效（40036/40037）：模板可能已被删除或不属于本账号，请重新同步模板。",
            "Invalid template ID (40036/40037): the template may be deleted or belong to another account; sync the templates again.",
        ),
        43116 => s(
            "该模板已被封禁（43116）：请更换模板。",
            "This template is banned (43116): use another template.",
        ),
        40165 | 41030 => s(
            "小程序页面路径无效（40165/41030）：页面必须存在于已发布的小程序版本中。",
            "Invalid Mini Program page (40165/41030): the page must exist in the released Mini Program.",
        ),
        48001 => s(
            "接口未授权（48001）：账号没有此接口权限，或使用了其他账号的 token。",
            "API unauthorized (48001): the account lacks this permission, or a token of another account was used.",
        ),
        45109 => s(
            "该接口已被微信下线（45109）：请改用公众号模板消息接口。",
            "WeChat has withdrawn this API (45109): use the Official Account template message API instead.",
        ),
        40032 => s(
            "openid 列表长度不合法（40032）：每次最多 100 个。",
            "Invalid openid list size (40032): at most 100 per call.",
        ),
        41002 | 40002 | 47001 => {
            if zh {
                format!("请求格式错误（{code}：{message}）：这是程序问题，请反馈。")
            } else {
                format!("Malformed request ({code}: {message}): this is a bug, please report it.")
            }
        }
        40029 | 40163 | 40226 => s(
            "登录 code 无效、已使用或被拦截（40029/40163/40226）：请让小程序重新调用 wx.login 获取新 code。",
            "The login code is invalid, already used or blocked (40029/40163/40226): have the Mini Program call wx.login again for a fresh code.",
        ),
        _ => {
            if zh {
                format!("微信返回错误 {code}：{message}")
            } else {
                format!("WeChat returned error {code}: {message}")
            }
        }
    }
}
