//! OA private templates (legacy and category) and MP subscribe templates: the demo set,
//! placeholder parsing, and the list / delete endpoints.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::errors::{wx_ok, WxError};
use crate::ids::{hash2, token_chars};
use crate::rules::key_type;
use crate::state::{parse_params, AccountKind, SimState};
use crate::tokens::authorize;

/// An OA private template as `get_all_private_template` lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OaTemplate {
    pub template_id: String,
    pub title: String,
    /// `null` for category templates (observed in an SDK dump).
    pub primary_industry: Option<String>,
    pub deputy_industry: Option<String>,
    pub content: String,
    pub example: String,
    /// Allowed values of `const` keys (not listed by WeChat; approved at template creation).
    #[serde(default, skip_serializing)]
    pub enums: BTreeMap<String, Vec<String>>,
}

impl OaTemplate {
    /// Placeholder names in content order (`{{thing1.DATA}}` → `thing1`).
    pub fn keys(&self) -> Vec<String> {
        placeholders(&self.content)
    }

    /// A category template: every placeholder is typed (`thing1`, `const5`…).
    pub fn is_category(&self) -> bool {
        let keys = self.keys();
        !keys.is_empty() && keys.iter().all(|k| key_type(k).is_some())
    }
}

/// An MP subscribe template as `wxaapi/newtmpl/gettemplate` lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MpTemplate {
    #[serde(rename = "priTmplId")]
    pub pri_tmpl_id: String,
    pub title: String,
    pub content: String,
    pub example: String,
    /// 2 = one-time subscription, 3 = long-term.
    #[serde(rename = "type")]
    pub kind: u8,
    #[serde(
        rename = "keywordEnumValueList",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub enum_values: Vec<KeywordEnum>,
}

/// Allowed values of an enum key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeywordEnum {
    /// e.g. `enum_string2.DATA`.
    #[serde(rename = "keywordCode")]
    pub keyword_code: String,
    #[serde(rename = "enumValueList")]
    pub enum_value_list: Vec<String>,
}

impl MpTemplate {
    /// Placeholder names in content order.
    pub fn keys(&self) -> Vec<String> {
        placeholders(&self.content)
    }

    /// Allowed values of `key` (empty when it is not an enum key).
    pub fn enum_of(&self, key: &str) -> &[String] {
        self.enum_values
            .iter()
            .find(|e| e.keyword_code.strip_suffix(".DATA") == Some(key))
            .map(|e| e.enum_value_list.as_slice())
            .unwrap_or_default()
    }
}

/// Names inside `{{name.DATA}}`, in order, without duplicates.
pub fn placeholders(content: &str) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    let mut rest = content;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        if let Some(name) = after[..end].trim().strip_suffix(".DATA") {
            if !name.is_empty() && !keys.iter().any(|k| k == name) {
                keys.push(name.to_owned());
            }
        }
        rest = &after[end + 2..];
    }
    keys
}

/// A 43-character template id.
pub fn template_id(seed: u64) -> String {
    token_chars(seed, 43)
}

fn oa(
    seed: u64,
    n: u64,
    title: &str,
    industry: Option<(&str, &str)>,
    content: &str,
    example: &str,
    enums: &[(&str, &[&str])],
) -> OaTemplate {
    OaTemplate {
        template_id: template_id(hash2(seed ^ 0x0a7e, n)),
        title: title.into(),
        primary_industry: industry.map(|i| i.0.into()),
        deputy_industry: industry.map(|i| i.1.into()),
        content: content.into(),
        example: example.into(),
        enums: enums
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
            .collect(),
    }
}

/// The demo OA templates: three legacy industry templates and three category templates.
pub fn default_oa_templates(seed: u64) -> Vec<OaTemplate> {
    let it = Some(("IT科技", "互联网|电子商务"));
    vec![
        oa(
            seed,
            1,
            "购买成功通知",
            it,
            "{{first.DATA}}\n商品名称：{{keyword1.DATA}}\n商品价格：{{keyword2.DATA}}\n购买时间：{{keyword3.DATA}}\n{{remark.DATA}}",
            "您好，您已购买成功。\n商品名称：巧克力\n商品价格：39.8元\n购买时间：2014年9月22日\n欢迎再次购买！",
            &[],
        ),
        oa(
            seed,
            2,
            "订单发货提醒",
            it,
            "{{first.DATA}}\n订单编号：{{keyword1.DATA}}\n物流公司：{{keyword2.DATA}}\n物流单号：{{keyword3.DATA}}\n{{remark.DATA}}",
            "您好，您的订单已发货。\n订单编号：20231018123456\n物流公司：顺丰速运\n物流单号：SF1234567890\n点击查看物流详情。",
            &[],
        ),
        oa(
            seed,
            3,
            "会员积分变动提醒",
            Some(("消费品", "消费品")),
            "{{first.DATA}}\n会员卡号：{{keyword1.DATA}}\n变动积分：{{keyword2.DATA}}\n当前积分：{{keyword3.DATA}}\n变动时间：{{keyword4.DATA}}\n{{remark.DATA}}",
            "尊敬的会员，您的积分发生变动。\n会员卡号：8800 1234 5678\n变动积分：+200\n当前积分：1580\n变动时间：2023年10月18日 14:30\n积分可在会员中心兑换礼品。",
            &[],
        ),
        oa(
            seed,
            4,
            "订单状态通知",
            None,
            "商品名称:{{thing1.DATA}}\n订单编号:{{character_string2.DATA}}\n下单时间:{{time3.DATA}}\n订单金额:{{amount4.DATA}}\n订单状态:{{const5.DATA}}",
            "商品名称:无线蓝牙耳机\n订单编号:20231018123456\n下单时间:2023年10月18日 14:30\n订单金额:¥199.00\n订单状态:已发货",
            &[("const5", &["待付款", "待发货", "已发货", "已完成", "已取消"])],
        ),
        oa(
            seed,
            5,
            "服务进度提醒",
            None,
            "服务项目:{{thing1.DATA}}\n工单编号:{{character_string2.DATA}}\n预约时间:{{time3.DATA}}\n服务费用:{{amount4.DATA}}\n工单状态:{{const5.DATA}}\n处理进度:{{phrase6.DATA}}\n联系电话:{{phone_number7.DATA}}\n车牌号码:{{car_number8.DATA}}",
            "服务项目:汽车保养\n工单编号:WO20231018001\n预约时间:2023年10月20日 09:30\n服务费用:¥368.00\n工单状态:处理中\n处理进度:待取车\n联系电话:0755-86013388\n车牌号码:粤B12345",
            &[("const5", &["待受理", "处理中", "已完成"])],
        ),
        oa(
            seed,
            6,
            "停车缴费成功通知",
            None,
            "车牌号码:{{car_number1.DATA}}\n停车场:{{thing2.DATA}}\n入场时间:{{time3.DATA}}\n缴费金额:{{amount4.DATA}}",
            "车牌号码:粤A8Z888挂\n停车场:科技园地下停车场\n入场时间:2023-10-18 08:15\n缴费金额:¥15.00",
            &[],
        ),
    ]
}

fn mp(
    seed: u64,
    n: u64,
    title: &str,
    kind: u8,
    content: &str,
    example: &str,
    enums: &[(&str, &[&str])],
) -> MpTemplate {
    MpTemplate {
        pri_tmpl_id: template_id(hash2(seed ^ 0x5ab5, n)),
        title: title.into(),
        content: content.into(),
        example: example.into(),
        kind,
        enum_values: enums
            .iter()
            .map(|(k, v)| KeywordEnum {
                keyword_code: format!("{k}.DATA"),
                enum_value_list: v.iter().map(|s| (*s).to_owned()).collect(),
            })
            .collect(),
    }
}

/// The demo MP subscribe templates.
pub fn default_mp_templates(seed: u64) -> Vec<MpTemplate> {
    vec![
        mp(
            seed,
            1,
            "报名结果通知",
            2,
            "会议时间:{{date2.DATA}}\n会议地点:{{thing1.DATA}}\n",
            "会议时间:2016年8月8日\n会议地点:TIT会议室\n",
            &[],
        ),
        mp(
            seed,
            2,
            "订单发货通知",
            2,
            "订单编号:{{character_string1.DATA}}\n商品名称:{{thing2.DATA}}\n发货时间:{{date3.DATA}}\n快递公司:{{thing4.DATA}}\n快递单号:{{character_string5.DATA}}\n",
            "订单编号:20231018123456\n商品名称:无线蓝牙耳机\n发货时间:2023年10月18日\n快递公司:顺丰速运\n快递单号:SF1234567890\n",
            &[],
        ),
        mp(
            seed,
            3,
            "预约服务提醒",
            2,
            "服务项目:{{thing1.DATA}}\n预约人数:{{number2.DATA}}\n预约日期:{{date3.DATA}}\n预约状态:{{phrase4.DATA}}\n预约单号:{{character_string5.DATA}}\n到店时间:{{time6.DATA}}\n订单金额:{{amount7.DATA}}\n预约人:{{name8.DATA}}\n座位区域:{{letter9.DATA}}\n会员等级:{{symbol10.DATA}}\n联系电话:{{phone_number11.DATA}}\n车牌号码:{{car_number12.DATA}}\n",
            "服务项目:汽车保养\n预约人数:2\n预约日期:2023年10月20日\n预约状态:已确认\n预约单号:RSV20231018001\n到店时间:09:30\n订单金额:¥368.00\n预约人:张三\n座位区域:VIP\n会员等级:★★\n联系电话:0755-86013388\n车牌号码:粤B12345\n",
            &[],
        ),
        mp(
            seed,
            4,
            "设备状态提醒",
            3,
            "完成时间:{{time1.DATA}}\n所在位置:{{enum_string2.DATA}}\n提示说明:{{thing3.DATA}}\n",
            "完成时间:2021年10月21日 12:00:00\n所在位置:客厅\n提示说明:设备发生故障,请及时查看\n",
            &[("enum_string2", &["客厅", "卧室", "阳台", "厨房"])],
        ),
    ]
}

#[derive(Serialize)]
struct TemplateList<'a> {
    template_list: &'a [OaTemplate],
}

/// `GET cgi-bin/template/get_all_private_template` (OA token).
pub async fn get_all_private_template(
    State(state): State<Arc<SimState>>,
    RawQuery(q): RawQuery,
) -> Response {
    let params = parse_params(q.as_deref());
    if let Err(e) = authorize(&state, &params, AccountKind::Oa) {
        return e.into_response();
    }
    let list = state.oa_templates.read();
    wx_ok(&TemplateList {
        template_list: &list,
    })
}

/// `POST cgi-bin/template/del_private_template` `{"template_id":…}` (OA token).
pub async fn del_private_template(
    State(state): State<Arc<SimState>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let params = parse_params(q.as_deref());
    if let Err(e) = authorize(&state, &params, AccountKind::Oa) {
        return e.into_response();
    }
    if body.is_empty() {
        return WxError::new(44002).into_response();
    }
    let Ok(serde_json::Value::Object(req)) = serde_json::from_slice::<serde_json::Value>(&body)
    else {
        return WxError::new(47001).into_response();
    };
    let id = req
        .get("template_id")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    if id.is_empty() {
        return WxError::new(40036).into_response();
    }
    let mut list = state.oa_templates.write();
    let before = list.len();
    list.retain(|t| t.template_id != id);
    if list.len() == before {
        return WxError::new(40037).into_response();
    }
    crate::errors::wx_json(r#"{"errcode":0,"errmsg":"ok"}"#.to_owned())
}

#[derive(Serialize)]
struct MpTemplateList<'a> {
    errcode: i64,
    errmsg: &'static str,
    data: &'a [MpTemplate],
}

/// `GET wxaapi/newtmpl/gettemplate` (MP token).
pub async fn get_mp_templates(
    State(state): State<Arc<SimState>>,
    RawQuery(q): RawQuery,
) -> Response {
    let params = parse_params(q.as_deref());
    if let Err(e) = authorize(&state, &params, AccountKind::Mp) {
        return e.into_response();
    }
    let list = state.mp_templates.read();
    wx_ok(&MpTemplateList {
        errcode: 0,
        errmsg: "ok",
        data: &list,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_in_order() {
        let t = &default_oa_templates(1)[0];
        assert_eq!(
            t.keys(),
            ["first", "keyword1", "keyword2", "keyword3", "remark"]
        );
        assert!(!t.is_category());
        let c = &default_oa_templates(1)[4];
        assert_eq!(c.keys().len(), 8);
        assert!(c.is_category());
        assert_eq!(c.template_id.len(), 43);
        let m = &default_mp_templates(1)[3];
        assert_eq!(m.enum_of("enum_string2").len(), 4);
        assert!(m.enum_of("thing3").is_empty());
    }
}
