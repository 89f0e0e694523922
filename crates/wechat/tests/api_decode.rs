//! Decoding of the real WeChat bodies quoted in wechat-api.md, error classification and request JSON.

use std::collections::BTreeMap;

use serde_json::json;
use wechat::api::{
    decode, parse_code2session, parse_mp_templates, parse_send_subscribe, parse_send_template,
    parse_tags, parse_templates, parse_token, parse_user_info, parse_user_info_batch,
    parse_user_page, ApiError, ErrorClass, MiniProgram, SubscribeMessage, SubscribeValue,
    TemplateMessage, TemplateValue,
};

fn wechat_err(code: i64, message: &str) -> ApiError {
    ApiError::WeChat {
        code,
        message: message.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Envelope rules

#[test]
fn missing_errcode_is_success_and_zero_errcode_is_success() {
    let token = parse_token(200, br#"{"access_token":"ACCESS_TOKEN","expires_in":7200}"#);
    assert_eq!(token.map(|t| t.expires_in), Ok(7200));
    let sub = parse_send_subscribe(200, br#"{"errcode":0,"errmsg":"ok"}"#);
    assert_eq!(sub, Ok(None));
}

#[test]
fn errcode_wins_over_success_shape_and_http_status() {
    // A JSON error on a non-2xx status still reports the WeChat code.
    let err = parse_send_template(503, br#"{"errcode":-1,"errmsg":"system error"}"#);
    assert_eq!(err, Err(wechat_err(-1, "system error")));
    // Non-2xx without an errcode → Http.
    assert_eq!(
        parse_send_template(502, b"<html><body>502 Bad Gateway</body></html>"),
        Err(ApiError::Http { status: 502 })
    );
    assert_eq!(
        parse_send_template(500, br#"{"errcode":0,"errmsg":"ok","msgid":1}"#),
        Err(ApiError::Http { status: 500 })
    );
}

#[test]
fn non_json_body_is_decode_error_with_short_excerpt() {
    let page = "<html>".to_owned() + &"x".repeat(500) + "</html>";
    let err = parse_tags(200, page.as_bytes()).unwrap_err();
    let ApiError::Decode(message) = &err else {
        panic!("expected Decode, got {err:?}");
    };
    assert!(message.contains("<html>"), "{message}");
    assert!(message.len() < 300, "excerpt too long: {}", message.len());
    assert_eq!(err.class(), ErrorClass::Other);
    assert!(matches!(parse_tags(200, b""), Err(ApiError::Decode(_))));
}

#[test]
fn json_of_the_wrong_shape_is_decode_error() {
    let err = parse_send_template(200, br#"{"errcode":0,"errmsg":"ok","msgid":"12"}"#);
    assert!(matches!(err, Err(ApiError::Decode(_))), "{err:?}");
    let err = parse_tags(200, br#"{"tags":[{"id":"x","name":1}]}"#);
    assert!(matches!(err, Err(ApiError::Decode(_))), "{err:?}");
}

#[test]
fn decode_errors_of_secret_bodies_never_quote_the_secret() {
    for body in [
        &br#"{"access_token":"92_SECRETxHDwf9rTa","expires_in":"7200"}"#[..],
        &br#"{"access_token":"92_SECRETxHDwf9rTa","expi"#[..],
    ] {
        let err = parse_token(200, body).unwrap_err();
        assert!(matches!(err, ApiError::Decode(_)), "{err:?}");
        assert!(!err.to_string().contains("SECRET"), "{err}");
        assert!(!format!("{err:?}").contains("SECRET"), "{err:?}");
    }
    let err = parse_code2session(200, br#"{"openid":"o1","session_key":42}"#).unwrap_err();
    assert!(matches!(err, ApiError::Decode(_)));
    let err = parse_code2session(200, br#"{"openid":"o1","session_key":"SECRETKEY"#).unwrap_err();
    assert!(!err.to_string().contains("SECRETKEY"), "{err}");
}

#[test]
fn errmsg_suffixes_are_kept_and_classify_by_code() {
    let cases = [
        r#"{"errcode":40003,"errmsg":"invalid openid rid: 650bbf8d-3624ab23-434f770f"}"#,
        r#"{"errcode":40003,"errmsg":"invalid openid, rid: 66c69111-4157f271-729ca238"}"#,
        r#"{"errcode":40003,"errmsg":"invalid openid hint: [lEWAKA0695age7]"}"#,
        r#"{"errcode":40003,"errmsg":"invalid openid, hints: [ req_id: qEjdmsNre-EYNDhA ]"}"#,
        r#"{"errcode":40003,"errmsg":"something else entirely"}"#,
        r#"{"errcode":40003}"#,
    ];
    for body in cases {
        let err = parse_send_template(200, body.as_bytes()).unwrap_err();
        assert_eq!(err.code(), Some(40003), "{body}");
        assert_eq!(err.class(), ErrorClass::RecipientCannotReceive, "{body}");
    }
    let err = parse_send_template(
        200,
        br#"{"errcode":40029,"errmsg":"invalid code, rid: 66c69111-4157f271-729ca238"}"#,
    )
    .unwrap_err();
    assert_eq!(
        err,
        wechat_err(40029, "invalid code, rid: 66c69111-4157f271-729ca238")
    );
}

// ---------------------------------------------------------------------------------------------
// Tokens

#[test]
fn token_success_and_errors() {
    let token = parse_token(200, br#"{"access_token":"ACCESS_TOKEN","expires_in":7200}"#).unwrap();
    assert_eq!(token.access_token, "ACCESS_TOKEN");
    assert_eq!(token.expires_in, 7200);
    // stable_token: remaining life, not 7200.
    let token = parse_token(
        200,
        br#"{"access_token":"92_xHDwf9rTa_ZCiq","expires_in":312}"#,
    );
    assert_eq!(token.map(|t| t.expires_in), Ok(312));

    let err = parse_token(200, br#"{"errcode":40013,"errmsg":"invalid appid"}"#).unwrap_err();
    assert_eq!(err, wechat_err(40013, "invalid appid"));
    assert_eq!(err.class(), ErrorClass::Credentials);

    let err = parse_token(
        200,
        br#"{"errcode":40125,"errmsg":"invalid appsecret rid: 6523a0c7-5e0c8a55-0d5a8ed6"}"#,
    )
    .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Credentials);

    let err = parse_token(
        200,
        br#"{"errcode":41002,"errmsg":"appid missing rid: 64f6f9a1-2c0b2a1e-7b2c4f11"}"#,
    )
    .unwrap_err();
    assert_eq!(err.class(), ErrorClass::BadRequest);
}

#[test]
fn access_token_debug_is_redacted() {
    let token = parse_token(200, br#"{"access_token":"92_TOPSECRET","expires_in":7200}"#).unwrap();
    let debug = format!("{token:?}");
    assert!(!debug.contains("TOPSECRET"), "{debug}");
    assert!(debug.contains("7200"));
}

// ---------------------------------------------------------------------------------------------
// Followers

#[test]
fn user_get_documented_page() {
    let body = br#"{"total":23000,"count":10000,"data":{"openid":["OPENID1","OPENID2","...","OPENID10000"]},"next_openid":"OPENID10000"}"#;
    let page = parse_user_page(200, body).unwrap();
    assert_eq!(page.total, 23000);
    assert_eq!(page.count, 10000);
    assert_eq!(page.openids.first().map(String::as_str), Some("OPENID1"));
    assert_eq!(page.next_openid.as_deref(), Some("OPENID10000"));
    assert!(!page.is_last(10000));
    assert!(!page.is_last(20000));
    assert!(page.is_last(23000));
}

#[test]
fn user_get_last_page_rule() {
    // Real: the last page still names a next_openid …
    let last = parse_user_page(
        200,
        br#"{"total":1,"count":1,"data":{"openid":["X"]},"next_openid":"X"}"#,
    )
    .unwrap();
    assert_eq!(last.openids, vec!["X".to_owned()]);
    assert_eq!(last.next_openid.as_deref(), Some("X"));
    assert!(last.is_last(1), "fetched >= total must stop");
    // … and a call past the end has count 0, empty next_openid and no data key.
    let past = parse_user_page(200, br#"{"total":1,"count":0,"next_openid":""}"#).unwrap();
    assert!(past.openids.is_empty());
    assert_eq!(past.next_openid, None);
    assert!(past.is_last(1));
    assert!(past.is_last(0));
    // Each stop condition alone.
    let no_data = parse_user_page(200, br#"{"total":5,"count":2,"next_openid":"B"}"#).unwrap();
    assert!(no_data.is_last(0));
    let empty_next = parse_user_page(
        200,
        br#"{"total":5,"count":2,"data":{"openid":["A","B"]},"next_openid":""}"#,
    )
    .unwrap();
    assert!(empty_next.is_last(2));
    let middle = parse_user_page(
        200,
        br#"{"total":5,"count":2,"data":{"openid":["A","B"]},"next_openid":"B"}"#,
    )
    .unwrap();
    assert!(!middle.is_last(2));
}

#[test]
fn user_get_error() {
    let err = parse_user_page(
        200,
        br#"{"errcode":40003,"errmsg":"invalid openid rid: 650bbf8d-3624ab23-434f770f"}"#,
    )
    .unwrap_err();
    assert_eq!(err.code(), Some(40003));
}

#[test]
fn user_info_batch_documented_body() {
    let body = r#"{"user_info_list":[
      {"subscribe":1,"openid":"otvxTs4dckWG7imySrJd6jSi0CWE","language":"zh_CN","subscribe_time":1434093047,
       "unionid":"oR5GjjgEhCMJFyzaVZdrxZ2zRRF4","remark":"","groupid":0,"tagid_list":[128,2],
       "subscribe_scene":"ADD_SCENE_QR_CODE","qr_scene":98765,"qr_scene_str":""},
      {"subscribe":0,"openid":"otvxTs_JZ6SEiP0imdhpi50fuSZg"}
    ]}"#;
    let users = parse_user_info_batch(200, body.as_bytes()).unwrap();
    assert_eq!(users.len(), 2);
    let first = &users[0];
    assert!(first.subscribe);
    assert_eq!(first.openid, "otvxTs4dckWG7imySrJd6jSi0CWE");
    assert_eq!(
        first.unionid.as_deref(),
        Some("oR5GjjgEhCMJFyzaVZdrxZ2zRRF4")
    );
    assert_eq!(first.subscribe_time, Some(1434093047));
    assert_eq!(first.remark.as_deref(), Some(""));
    assert_eq!(first.tagid_list, vec![128, 2]);
    assert_eq!(first.subscribe_scene.as_deref(), Some("ADD_SCENE_QR_CODE"));
    assert_eq!(first.language.as_deref(), Some("zh_CN"));
    assert_eq!(first.qr_scene, Some(98765));
    assert_eq!(first.qr_scene_str.as_deref(), Some(""));
    let second = &users[1];
    assert!(!second.subscribe);
    assert_eq!(second.openid, "otvxTs_JZ6SEiP0imdhpi50fuSZg");
    assert_eq!(second.unionid, None);
    assert_eq!(second.subscribe_time, None);
    assert!(second.tagid_list.is_empty());

    let err = parse_user_info_batch(
        200,
        br#"{"errcode":40032,"errmsg":"invalid openid list size hint: [lEWAKA0695age7]"}"#,
    )
    .unwrap_err();
    assert_eq!(err.class(), ErrorClass::BadRequest);
}

#[test]
fn user_info_unfollowed_and_emptied_profile_keys() {
    let old = parse_user_info(200, br#"{"subscribe":0,"openid":"xx","tagid_list":[]}"#).unwrap();
    assert!(!old.subscribe);
    assert_eq!(old.openid, "xx");
    let current = parse_user_info(
        200,
        r#"{"subscribe":0,"openid":"oX1","nickname":"","sex":0,"language":"zh_CN","city":"","province":"","country":"","headimgurl":"","tagid_list":[]}"#.as_bytes(),
    )
    .unwrap();
    assert!(!current.subscribe);
    assert_eq!(current.language.as_deref(), Some("zh_CN"));
    let follower = parse_user_info(
        200,
        r#"{"subscribe":1,"openid":"oX2","nickname":"","sex":0,"language":"zh_CN","city":"","province":"","country":"","headimgurl":"","subscribe_time":1700000000,"remark":"","groupid":0,"tagid_list":[2],"subscribe_scene":"ADD_SCENE_SEARCH","qr_scene":0,"qr_scene_str":""}"#.as_bytes(),
    )
    .unwrap();
    assert!(follower.subscribe);
    assert_eq!(follower.tagid_list, vec![2]);

    let err = parse_user_info(200, br#"{"errcode":40003,"errmsg":"invalid openid"}"#).unwrap_err();
    assert_eq!(err.class(), ErrorClass::RecipientCannotReceive);
}

#[test]
fn tags_body() {
    let tags = parse_tags(
        200,
        r#"{"tags":[{"id":1,"name":"每天一罐可乐星人","count":0},{"id":2,"name":"星标组","count":0},{"id":127,"name":"广东","count":5}]}"#.as_bytes(),
    )
    .unwrap();
    assert_eq!(tags.len(), 3);
    assert_eq!(tags[2].id, 127);
    assert_eq!(tags[2].name, "广东");
    assert_eq!(tags[2].count, 5);
    let err = parse_tags(200, br#"{"errcode":40014,"errmsg":"invalid access_token"}"#).unwrap_err();
    assert_eq!(err.class(), ErrorClass::Token);
}

// ---------------------------------------------------------------------------------------------
// Templates

#[test]
fn private_templates_body() {
    let body = r#"{"template_list":[{
  "template_id":"iPk5sOIt5X_flOVKn5GrTFpncEYTojx6ddbt8WYoV5s",
  "title":"领取奖金提醒",
  "primary_industry":"IT科技",
  "deputy_industry":"互联网|电子商务",
  "content":"{{result.DATA}}\n\n领奖金额:{{withdrawMoney.DATA}}\n领奖 时间: {{withdrawTime.DATA}}\n银行信息:{{cardInfo.DATA}}\n到账时间: {{arrivedTime.DATA}}",
  "example":"您已提交领奖申请\n\n领奖金额:xxxx元\n领奖时间:2013-10-10 12:22:22\n银行信息:xx银行(尾号xxxx)\n到账时间:预计xxxxxxx\n\n预计将于xxxx到达您的银行卡"},
  {"template_id":"Doclyl5uP7Aciu-qZ7mJNPtWkbkYnWBWVja26EGbNyk","title":"隐患整改通知",
   "primary_industry":null,"deputy_industry":null,
   "content":"单位名称:{{thing1.DATA}}\n隐患状态:{{const2.DATA}}\n隐患数量:{{character_string3.DATA}}\n隐患类型:{{const4.DATA}}\n",
   "example":""}]}"#;
    let templates = parse_templates(200, body.as_bytes()).unwrap();
    assert_eq!(templates.len(), 2);
    assert_eq!(templates[0].title, "领取奖金提醒");
    assert_eq!(templates[0].primary_industry.as_deref(), Some("IT科技"));
    assert!(templates[0].content.starts_with("{{result.DATA}}\n\n"));
    assert_eq!(templates[1].primary_industry, None);
    assert_eq!(templates[1].deputy_industry, None);
    assert!(templates[1].content.contains("{{thing1.DATA}}"));

    assert_eq!(parse_templates(200, br#"{"template_list":[]}"#), Ok(vec![]));
    let err = parse_templates(200, br#"{"errcode":48001,"errmsg":"api unauthorized"}"#);
    assert_eq!(err.map_err(|e| e.class()), Err(ErrorClass::BadRequest));
}

#[test]
fn mp_templates_documented_body() {
    let body = r#"{
   "errcode": 0,
   "errmsg": "ok",
   "data": [
       {
          "priTmplId": "9Aw5ZV1j9xdWTFEkqCpZ7mIBbSC34khK55OtzUPl0rU",
          "title": "报名结果通知",
          "content": "会议时间:{{date2.DATA}}\n会议地点:{{thing1.DATA}}\n",
          "example": "会议时间:2016年8月8日\n会议地点:TIT会议室\n",
          "type": 2
       },
       {
          "priTmplId": "cy_DfOZL7lypxHh3ja3DyAUbn1GYQRGwezuy5LBTFME",
          "title": "洗衣机故障提醒",
          "content": "完成时间:{{time1.DATA}}\n所在位置:{{enum_string2.DATA}}\n提示说明:{{enum_string3.DATA}}\n",
          "example": "完成时间:2021年10月21日 12:00:00\n所在位置:客厅\n提示说明:设备发生故障，导致工作异常，请及时查看\n",
          "keywordEnumValueList": [
             {
                "enumValueList": ["客厅","餐厅","厨房","卧室","主卧","次卧","客卧","父母房","儿童房","男孩房","女孩房","卫生间","主卧卫生间","公共卫生间","衣帽间","书房","游戏室","阳台","地下室","储物间","车库","保姆房","其他房间"],
                "keywordCode": "enum_string2.DATA"
             },
             {
                "enumValueList": ["设备发生故障，导致工作异常，请及时查看"],
                "keywordCode": "enum_string3.DATA"
             }
          ],
          "type": 3
       }
   ]
}"#;
    let templates = parse_mp_templates(200, body.as_bytes()).unwrap();
    assert_eq!(templates.len(), 2);
    assert_eq!(
        templates[0].pri_tmpl_id,
        "9Aw5ZV1j9xdWTFEkqCpZ7mIBbSC34khK55OtzUPl0rU"
    );
    assert_eq!(templates[0].kind, 2);
    assert!(templates[0].keyword_enum_value_list.is_empty());
    let washer = &templates[1];
    assert_eq!(washer.kind, 3);
    assert_eq!(washer.keyword_enum_value_list.len(), 2);
    assert_eq!(
        washer.keyword_enum_value_list[0].keyword_code,
        "enum_string2.DATA"
    );
    assert_eq!(washer.keyword_enum_value_list[0].enum_value_list.len(), 23);
    assert_eq!(
        washer.keyword_enum_value_list[1].enum_value_list,
        vec!["设备发生故障，导致工作异常，请及时查看".to_owned()]
    );

    let err = parse_mp_templates(
        200,
        br#"{"errcode":42001,"errmsg":"access_token expired rid: 650bbf8d-3624ab23-434f770f"}"#,
    )
    .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Token);
}

// ---------------------------------------------------------------------------------------------
// Sends

#[test]
fn template_send_success_and_msgid_precision() {
    assert_eq!(
        parse_send_template(200, br#"{"errcode":0,"errmsg":"ok","msgid":200228332}"#),
        Ok(200228332)
    );
    assert_eq!(
        parse_send_template(
            200,
            br#"{"errcode":0,"errmsg":"ok","msgid":3428411849815982087}"#
        ),
        Ok(3428411849815982087)
    );
    assert_eq!(
        parse_send_template(
            200,
            br#"{"errcode":0,"errmsg":"ok","msgid":9223372036854775807}"#
        ),
        Ok(i64::MAX)
    );
    // Both values are above 2^53: f64 would have rounded them.
    assert_ne!(
        3428411849815982087_i64 as f64 as i64,
        3428411849815982087_i64
    );
    // Round trip through the generic decoder and back to JSON text.
    let value: serde_json::Value = decode(
        200,
        br#"{"errcode":0,"errmsg":"ok","msgid":3717005636572528642}"#,
    )
    .unwrap();
    assert_eq!(value["msgid"].as_i64(), Some(3717005636572528642));
    assert!(value.to_string().contains("3717005636572528642"));
}

#[test]
fn template_send_errors() {
    let cases: &[(&str, i64, ErrorClass)] = &[
        (
            r#"{"errcode":43004,"errmsg":"require subscribe rid: 6620a6a1-1a2b3c4d-5e6f7a8b"}"#,
            43004,
            ErrorClass::RecipientCannotReceive,
        ),
        (
            r#"{"errcode":40037,"errmsg":"invalid template_id rid: 6620a6a1-1a2b3c4d-5e6f7a8b"}"#,
            40037,
            ErrorClass::BadRequest,
        ),
        (
            r#"{"errcode":45009,"errmsg":"reach max api daily quota limit rid: 6620a6a1-1a2b3c4d-5e6f7a8b"}"#,
            45009,
            ErrorClass::DailyQuota,
        ),
        (
            r#"{"errcode":43117,"errmsg":"Sending messages to this openid too frequently,please try later rid: 6620a6a1-1a2b3c4d-5e6f7a8b"}"#,
            43117,
            ErrorClass::RetryLater,
        ),
        (
            r#"{"errcode":40001,"errmsg":"invalid credential, access_token is invalid or not latest, could get access_token by getStableAccessToken, more details at https://mmbizurl.cn/s/JtxxFh33r rid: 6620a6a1-1a2b3c4d-5e6f7a8b"}"#,
            40001,
            ErrorClass::Token,
        ),
        (
            r#"{"errcode":45109,"errmsg":"This API has been unsupported. For more details, please view https://developers.weixin.qq.com/community/develop/doc/000ae8d6348af08e7030bc2546bc01?blockType=1 rid: 6620a6a1-1a2b3c4d-5e6f7a8b"}"#,
            45109,
            ErrorClass::BadRequest,
        ),
    ];
    for (body, code, class) in cases {
        let err = parse_send_template(200, body.as_bytes()).unwrap_err();
        assert_eq!(err.code(), Some(*code));
        assert_eq!(err.class(), *class, "{body}");
    }
}

#[test]
fn subscribe_send_with_and_without_msgid() {
    assert_eq!(
        parse_send_subscribe(200, br#"{"errcode":0,"errmsg":"ok"}"#),
        Ok(None)
    );
    assert_eq!(
        parse_send_subscribe(
            200,
            br#"{"errcode":0,"errmsg":"ok","msgid":3248682510344192008}"#
        ),
        Ok(Some(3248682510344192008))
    );
    let err = parse_send_subscribe(
        200,
        br#"{"errcode":43101,"errmsg":"user refuse to accept the msg rid: 6620a6a1-1a2b3c4d-5e6f7a8b"}"#,
    )
    .unwrap_err();
    assert_eq!(err.class(), ErrorClass::RecipientCannotReceive);
}

// ---------------------------------------------------------------------------------------------
// jscode2session

#[test]
fn code2session_bodies() {
    let s = parse_code2session(
        200,
        br#"{"openid":"xxxxxx","session_key":"xxxxx","unionid":"xxxxx"}"#,
    )
    .unwrap();
    assert_eq!(s.openid, "xxxxxx");
    assert_eq!(s.unionid.as_deref(), Some("xxxxx"));
    assert_eq!(s.session_key.expose_secret(), "xxxxx");
    // Older answers with expires_in, and without unionid.
    let s = parse_code2session(
        200,
        br#"{"session_key":"tiihtNczf5v6AKRyjwEUhQ==","expires_in":7200,"openid":"oGZUI0egBJY1zhBYw2KhdUfwVJJE"}"#,
    )
    .unwrap();
    assert_eq!(s.unionid, None);
    assert_eq!(s.session_key.expose_secret(), "tiihtNczf5v6AKRyjwEUhQ==");
    let debug = format!("{s:?}");
    assert!(!debug.contains("tiihtNczf5v6AKRyjwEUhQ"), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");

    for (body, code) in [
        (
            &br#"{"errcode":40029,"errmsg":"invalid code, rid: 66c69111-4157f271-729ca238"}"#[..],
            40029,
        ),
        (
            &br#"{"errcode":40163,"errmsg":"code been used, rid: 66c69111-4157f271-729ca238"}"#[..],
            40163,
        ),
        (
            &br#"{"errcode":40226,"errmsg":"code blocked rid: 66c69111-4157f271-729ca238"}"#[..],
            40226,
        ),
    ] {
        let err = parse_code2session(200, body).unwrap_err();
        assert_eq!(err.code(), Some(code));
        assert_eq!(err.class(), ErrorClass::BadRequest);
    }
    let err = parse_code2session(
        200,
        br#"{"errcode":45011,"errmsg":"api minute-quota reach limit mustslower retry next minute"}"#,
    )
    .unwrap_err();
    assert!(err.is_retryable());
}

// ---------------------------------------------------------------------------------------------
// Classification of every listed code

#[test]
fn every_listed_code_classifies_as_specified() {
    let table: &[(ErrorClass, &[i64])] = &[
        (ErrorClass::Token, &[40001, 40014, 42001, 41001]),
        (ErrorClass::RetryLater, &[-1, 45011, 43117]),
        (ErrorClass::DailyQuota, &[45009]),
        (
            ErrorClass::RecipientCannotReceive,
            &[43004, 40003, 43019, 43101],
        ),
        (
            ErrorClass::BadRequest,
            &[
                40036, 40037, 47003, 40165, 41030, 43116, 48001, 45109, 40032, 41002, 40002, 47001,
                40029, 40163, 40226,
            ],
        ),
        (
            ErrorClass::Credentials,
            &[
                40013, 40125, 40164, 40243, 61004, 89503, 89501, 89506, 89507,
            ],
        ),
        (ErrorClass::Other, &[45168, 40246, 43002, 44002, 99999]),
    ];
    for (class, codes) in table {
        for code in *codes {
            for suffix in [
                "",
                " rid: 650bbf8d-3624ab23-434f770f",
                ", rid: 66c69111-4157f271-729ca238",
                " hint: [lEWAKA0695age7]",
            ] {
                let body = format!(r#"{{"errcode":{code},"errmsg":"whatever{suffix}"}}"#);
                let err = parse_send_template(200, body.as_bytes()).unwrap_err();
                assert_eq!(err.class(), *class, "{body}");
                assert_eq!(ErrorClass::of_code(*code), *class);
                assert_eq!(
                    err.is_retryable(),
                    *class == ErrorClass::RetryLater,
                    "{body}"
                );
            }
        }
    }
}

#[test]
fn non_wechat_errors_classify() {
    assert_eq!(ApiError::Timeout.class(), ErrorClass::RetryLater);
    assert_eq!(
        ApiError::Transport("connection refused".into()).class(),
        ErrorClass::RetryLater
    );
    for status in [500, 502, 503, 504] {
        assert_eq!(ApiError::Http { status }.class(), ErrorClass::RetryLater);
    }
    for status in [302, 400, 404] {
        assert_eq!(ApiError::Http { status }.class(), ErrorClass::Other);
    }
    assert_eq!(ApiError::Decode("x".into()).class(), ErrorClass::Other);
    assert_eq!(
        ApiError::Request("x".into()).class(),
        ErrorClass::BadRequest
    );
    assert_eq!(ApiError::Timeout.code(), None);
}

// ---------------------------------------------------------------------------------------------
// Field / IP extraction and explanations

#[test]
fn field_of_47003() {
    let err = wechat_err(
        47003,
        "argument invalid! data.thing1.value invalid rid: 650bbf8d-3624ab23-434f770f",
    );
    assert_eq!(err.field().as_deref(), Some("data.thing1.value"));
    assert_eq!(err.data_key().as_deref(), Some("thing1"));
    let err = wechat_err(
        47003,
        "argument invalid! data.character_string3.value invalid, rid: 66c69111-4157f271-729ca238",
    );
    assert_eq!(err.data_key().as_deref(), Some("character_string3"));
    assert_eq!(
        wechat_err(47003, "argument invalid! rid: 650bbf8d-3624ab23-434f770f").field(),
        None
    );
    assert_eq!(wechat_err(40003, "data.thing1.value").field(), None);
    assert_eq!(ApiError::Timeout.field(), None);
}

#[test]
fn whitelist_ip_of_40164() {
    let err = wechat_err(
        40164,
        "invalid ip 47.94.148.108 ipv6 ::ffff:47.94.148.108, not in whitelist rid: 650bbf8d-3624ab23-434f770f",
    );
    assert_eq!(err.whitelist_ip().as_deref(), Some("47.94.148.108"));
    let old = wechat_err(40164, "invalid ip 119.253.43.19, not in whitelist");
    assert_eq!(old.whitelist_ip().as_deref(), Some("119.253.43.19"));
    let v6 = wechat_err(
        40164,
        "invalid ip  ipv6 2408:8207:1234::1, not in whitelist rid: 650bbf8d-3624ab23-434f770f",
    );
    assert_eq!(v6.whitelist_ip().as_deref(), Some("2408:8207:1234::1"));
    assert_eq!(wechat_err(40164, "not in whitelist").whitelist_ip(), None);
    assert_eq!(wechat_err(40013, "invalid ip 1.2.3.4").whitelist_ip(), None);
}

#[test]
fn explanations() {
    let secret = wechat_err(40125, "invalid appsecret rid: 650bbf8d-3624ab23-434f770f");
    assert!(secret.explain(true).contains("AppSecret"));
    assert!(secret.explain(true).contains("基本配置"));
    assert!(secret.explain(false).contains("Wrong AppSecret"));

    let ip = wechat_err(
        40164,
        "invalid ip 47.94.148.108 ipv6 ::ffff:47.94.148.108, not in whitelist rid: 650bbf8d-3624ab23-434f770f",
    );
    assert!(ip.explain(true).contains("47.94.148.108"));
    assert!(ip.explain(false).contains("47.94.148.108"));
    assert!(ip.explain(false).contains("whitelist"));

    let field = wechat_err(47003, "argument invalid! data.thing1.value invalid rid: 6");
    assert!(field.explain(true).contains("data.thing1.value"));
    assert!(field.explain(false).contains("data.thing1.value"));

    for (code, zh, en) in [
        (40013, "AppID", "AppID"),
        (45009, "上限", "quota"),
        (43004, "关注", "follow"),
        (40001, "access_token", "token"),
        (-1, "繁忙", "busy"),
    ] {
        let err = wechat_err(code, "x");
        assert!(
            err.explain(true).contains(zh),
            "{code}: {}",
            err.explain(true)
        );
        assert!(
            err.explain(false).contains(en),
            "{code}: {}",
            err.explain(false)
        );
    }
    assert!(ApiError::Timeout.explain(true).contains("超时"));
    assert!(ApiError::Timeout.explain(false).contains("timed out"));

    let unknown = wechat_err(
        45168,
        "keyword in blacklist rid: 650bbf8d-3624ab23-434f770f",
    );
    for text in [unknown.explain(true), unknown.explain(false)] {
        assert!(text.contains("45168"), "{text}");
        assert!(text.contains("keyword in blacklist"), "{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// Request JSON

fn template_data(pairs: &[(&str, &str)]) -> BTreeMap<String, TemplateValue> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), TemplateValue::new(*v)))
        .collect()
}

#[test]
fn template_message_json_full() {
    let message = TemplateMessage {
        touser: "OPENID".into(),
        template_id: "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY".into(),
        url: Some("http://weixin.qq.com/download".into()),
        miniprogram: Some(MiniProgram {
            appid: "xiaochengxuappid12345".into(),
            pagepath: "index?foo=bar".into(),
        }),
        client_msg_id: Some("MSG_000001".into()),
        data: template_data(&[
            ("keyword1", "巧克力"),
            ("keyword2", "39.8元"),
            ("keyword3", "2014年9月22日"),
        ]),
    };
    let expected = json!({
      "touser": "OPENID",
      "template_id": "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY",
      "url": "http://weixin.qq.com/download",
      "miniprogram": {"appid": "xiaochengxuappid12345", "pagepath": "index?foo=bar"},
      "client_msg_id": "MSG_000001",
      "data": {
        "keyword1": {"value": "巧克力"},
        "keyword2": {"value": "39.8元"},
        "keyword3": {"value": "2014年9月22日"}
      }
    });
    assert_eq!(message.to_json(), expected);
    assert_eq!(serde_json::to_value(&message).unwrap(), expected);
}

#[test]
fn template_message_json_minimal_and_colour() {
    let mut data = template_data(&[("thing1", "机房A")]);
    data.insert(
        "time2".into(),
        TemplateValue {
            value: "2024-05-01 12:00".into(),
            color: Some("#173177".into()),
        },
    );
    let message = TemplateMessage {
        touser: "o1".into(),
        template_id: "T1".into(),
        url: None,
        miniprogram: None,
        client_msg_id: None,
        data,
    };
    assert_eq!(
        message.to_json(),
        json!({
            "touser": "o1",
            "template_id": "T1",
            "data": {
                "thing1": {"value": "机房A"},
                "time2": {"value": "2024-05-01 12:00", "color": "#173177"}
            }
        })
    );
    // Only a url, only a client_msg_id.
    let with_url = TemplateMessage {
        url: Some("https://example.com/a?b=c".into()),
        ..message.clone()
    };
    let json = with_url.to_json();
    assert_eq!(json["url"], "https://example.com/a?b=c");
    assert!(json.get("miniprogram").is_none());
    assert!(json.get("client_msg_id").is_none());
    let with_id = TemplateMessage {
        client_msg_id: Some("job-7-o1".into()),
        ..message
    };
    assert_eq!(
        with_id.to_json(),
        json!({
            "touser": "o1",
            "template_id": "T1",
            "client_msg_id": "job-7-o1",
            "data": {
                "thing1": {"value": "机房A"},
                "time2": {"value": "2024-05-01 12:00", "color": "#173177"}
            }
        })
    );
}

#[test]
fn subscribe_message_json() {
    let data: BTreeMap<String, SubscribeValue> = [
        ("number01", "339208499"),
        ("date01", "2015年01月05日"),
        ("site01", "TIT创意园"),
        ("site02", "广州市新港中路397号"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), SubscribeValue::new(*v)))
    .collect();
    let full = SubscribeMessage {
        touser: "OPENID".into(),
        template_id: "TEMPLATE_ID".into(),
        page: Some("index".into()),
        miniprogram_state: Some("developer".into()),
        lang: Some("zh_CN".into()),
        data: data.clone(),
    };
    assert_eq!(
        full.to_json(),
        json!({
          "touser": "OPENID",
          "template_id": "TEMPLATE_ID",
          "page": "index",
          "miniprogram_state": "developer",
          "lang": "zh_CN",
          "data": {
            "number01": {"value": "339208499"},
            "date01": {"value": "2015年01月05日"},
            "site01": {"value": "TIT创意园"},
            "site02": {"value": "广州市新港中路397号"}
          }
        })
    );
    let minimal = SubscribeMessage {
        page: None,
        miniprogram_state: None,
        lang: None,
        ..full
    };
    let json = minimal.to_json();
    assert_eq!(
        json.as_object().map(|o| o.len()),
        Some(3),
        "only touser, template_id, data: {json}"
    );
}
