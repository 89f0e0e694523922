//! Event parsing: every kind, every Status form, 64-bit msgids, JSON format, malformed input.

use wechat::callback::{
    parse_event, CallbackError, DeliveryStatus, Event, SubscribeChangeItem, SubscribePopupItem,
    SubscribeSentItem, SubscribeStatus,
};

fn event_xml(event: &str, extra: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>\n\
         <FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></FromUserName>\n\
         <CreateTime>1395658920</CreateTime>\n\
         <MsgType><![CDATA[event]]></MsgType>\n\
         <Event><![CDATA[{event}]]></Event>{extra}</xml>"
    )
}

fn job_finish(msg_id: &str, status: &str) -> String {
    event_xml(
        "TEMPLATESENDJOBFINISH",
        &format!("<MsgID>{msg_id}</MsgID><Status><![CDATA[{status}]]></Status>"),
    )
}

#[test]
fn subscribe_and_unsubscribe() {
    assert_eq!(
        parse_event(&event_xml(
            "subscribe",
            "<EventKey><![CDATA[qrscene_123123]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket>"
        ))
        .unwrap(),
        Event::Subscribe {
            to_user: "gh_7f083739789a".into(),
            from_user: "oia2TjuEGTNoeX76QEjQNrcURxG8".into(),
            create_time: 1395658920,
            event_key: Some("qrscene_123123".into()),
        }
    );
    for extra in ["", "<EventKey><![CDATA[]]></EventKey>", "<EventKey/>"] {
        assert!(matches!(
            parse_event(&event_xml("subscribe", extra)).unwrap(),
            Event::Subscribe {
                event_key: None,
                ..
            }
        ));
    }
    let unsub = parse_event(&event_xml(
        "unsubscribe",
        "<EventKey><![CDATA[]]></EventKey>",
    ))
    .unwrap();
    assert_eq!(
        unsub,
        Event::Unsubscribe {
            to_user: "gh_7f083739789a".into(),
            from_user: "oia2TjuEGTNoeX76QEjQNrcURxG8".into(),
            create_time: 1395658920,
        }
    );
    assert_eq!(unsub.from_user(), Some("oia2TjuEGTNoeX76QEjQNrcURxG8"));
}

#[test]
fn template_send_job_finish_doc_example() {
    let xml = "<xml>\n  <ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>\n  <FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></FromUserName>\n  <CreateTime>1395658920</CreateTime>\n  <MsgType><![CDATA[event]]></MsgType>\n  <Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>\n  <MsgID>200163836</MsgID>\n  <Status><![CDATA[success]]></Status>\n</xml>";
    assert_eq!(
        parse_event(xml).unwrap(),
        Event::TemplateSendJobFinish {
            to_user: "gh_7f083739789a".into(),
            from_user: "oia2TjuEGTNoeX76QEjQNrcURxG8".into(),
            create_time: 1395658920,
            msg_id: 200163836,
            status: DeliveryStatus::Success,
        }
    );
}

#[test]
fn msgids_above_2_pow_53_round_trip_exactly() {
    for id in [
        3428411849815982087i64,
        3717005636572528642,
        3557254367693750277,
        9007199254740993, // 2^53 + 1: not representable as f64
        i64::MAX,
    ] {
        let Event::TemplateSendJobFinish { msg_id, .. } =
            parse_event(&job_finish(&id.to_string(), "success")).unwrap()
        else {
            panic!("wrong variant")
        };
        assert_eq!(msg_id, id);
        assert_eq!(msg_id.to_string(), id.to_string());
    }
    // Whitespace around the number is fine; floats, overflow and junk are not.
    assert!(matches!(
        parse_event(&job_finish(" 3428411849815982087\n", "success")).unwrap(),
        Event::TemplateSendJobFinish {
            msg_id: 3428411849815982087,
            ..
        }
    ));
    for bad in ["3.428411849815982e18", "9223372036854775808", "abc", "0x10"] {
        assert_eq!(
            parse_event(&job_finish(bad, "success")),
            Err(CallbackError::BadNumber("MsgID")),
            "{bad}"
        );
    }
    assert_eq!(
        parse_event(&event_xml(
            "TEMPLATESENDJOBFINISH",
            "<Status>success</Status>"
        )),
        Err(CallbackError::MissingField("MsgID"))
    );
    // `MsgId` spelling is tolerated.
    assert!(matches!(
        parse_event(&event_xml(
            "TEMPLATESENDJOBFINISH",
            "<MsgId>3428411849815982087</MsgId><Status>success</Status>"
        ))
        .unwrap(),
        Event::TemplateSendJobFinish {
            msg_id: 3428411849815982087,
            ..
        }
    ));
}

#[test]
fn every_status_form() {
    let cases: &[(&str, DeliveryStatus)] = &[
        ("success", DeliveryStatus::Success),
        ("  SUCCESS \n", DeliveryStatus::Success),
        ("Success", DeliveryStatus::Success),
        ("failed:user block", DeliveryStatus::UserBlock),
        ("failed: user block", DeliveryStatus::UserBlock),
        ("FAILED:User Block", DeliveryStatus::UserBlock),
        (" failed:  user block ", DeliveryStatus::UserBlock),
        ("failed: system failed", DeliveryStatus::SystemFailed),
        ("failed:system failed", DeliveryStatus::SystemFailed),
        ("Failed: System Failed", DeliveryStatus::SystemFailed),
        (
            "failed:freq limit",
            DeliveryStatus::Failed("failed:freq limit".into()),
        ),
        (
            " failed: something new ",
            DeliveryStatus::Failed("failed: something new".into()),
        ),
        ("failed", DeliveryStatus::Failed("failed".into())),
        ("delivered", DeliveryStatus::Failed("delivered".into())),
        ("successful", DeliveryStatus::Failed("successful".into())),
    ];
    for (raw, expected) in cases {
        assert_eq!(&DeliveryStatus::parse(raw), expected, "{raw:?}");
        assert_eq!(expected.is_success(), *expected == DeliveryStatus::Success);
        let Event::TemplateSendJobFinish { status, .. } =
            parse_event(&job_finish("200163840", raw)).unwrap()
        else {
            panic!("wrong variant")
        };
        assert_eq!(&status, expected, "{raw:?} via XML");
    }
    assert_eq!(
        DeliveryStatus::parse(""),
        DeliveryStatus::Failed(String::new())
    );
    assert_eq!(
        parse_event(&job_finish("1", "")),
        Err(CallbackError::MissingField("Status"))
    );
}

const POPUP_XML: &str = "<xml>\n<ToUserName><![CDATA[gh_123456789abc]]></ToUserName>\n<FromUserName><![CDATA[otFpruAK8D-E6EfStSYonYSBZ8_4]]></FromUserName>\n<CreateTime>1610969440</CreateTime>\n<MsgType><![CDATA[event]]></MsgType>\n<Event><![CDATA[subscribe_msg_popup_event]]></Event>\n<SubscribeMsgPopupEvent>\n<List>\n<TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>\n<SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString>\n<PopupScene>2</PopupScene>\n</List>\n<List>\n<TemplateId><![CDATA[9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI]]></TemplateId>\n<SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString>\n<PopupScene>2</PopupScene>\n</List>\n</SubscribeMsgPopupEvent>\n</xml>";

#[test]
fn subscribe_msg_popup_event_xml() {
    assert_eq!(
        parse_event(POPUP_XML).unwrap(),
        Event::SubscribeMsgPopupEvent {
            to_user: "gh_123456789abc".into(),
            from_user: "otFpruAK8D-E6EfStSYonYSBZ8_4".into(),
            create_time: 1610969440,
            items: vec![
                SubscribePopupItem {
                    template_id: "VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc".into(),
                    subscribe_status: SubscribeStatus::Accept,
                    popup_scene: Some("2".into()),
                },
                SubscribePopupItem {
                    template_id: "9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI".into(),
                    subscribe_status: SubscribeStatus::Reject,
                    popup_scene: Some("2".into()),
                },
            ],
        }
    );
}

#[test]
fn subscribe_msg_popup_event_json() {
    // Mini Program "JSON" data format: List directly under the root, CreateTime as a string.
    let json = r#"{"ToUserName":"gh_123456789abc","FromUserName":"o7esq5OI1Uej6Xixw1lA2H7XDVbc","CreateTime":"1620973045","MsgType":"event","Event":"subscribe_msg_popup_event","List":[{"TemplateId":"hD-ixGOhYmUfjOnI8MCzQMPshzGVeux_2vzyvQu7O68","SubscribeStatusString":"acceptWithAudio","PopupScene":"0"}]}"#;
    let Event::SubscribeMsgPopupEvent {
        from_user,
        create_time,
        items,
        ..
    } = parse_event(json).unwrap()
    else {
        panic!("wrong variant")
    };
    assert_eq!(from_user, "o7esq5OI1Uej6Xixw1lA2H7XDVbc");
    assert_eq!(create_time, 1620973045);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].subscribe_status, SubscribeStatus::AcceptWithAudio);
    assert!(items[0].subscribe_status.is_accepted());
    assert_eq!(items[0].popup_scene.as_deref(), Some("0"));

    // A single List object (not an array) and a numeric CreateTime work too.
    let json = r#"{"ToUserName":"gh_1","FromUserName":"o1","CreateTime":1620973045,"MsgType":"event","Event":"subscribe_msg_popup_event","List":{"TemplateId":"T","SubscribeStatusString":"reject"}}"#;
    let Event::SubscribeMsgPopupEvent { items, .. } = parse_event(json).unwrap() else {
        panic!("wrong variant")
    };
    assert_eq!(
        items,
        [SubscribePopupItem {
            template_id: "T".into(),
            subscribe_status: SubscribeStatus::Reject,
            popup_scene: None
        }]
    );
}

#[test]
fn subscribe_msg_change_event() {
    let expected_items = vec![SubscribeChangeItem {
        template_id: "VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc".into(),
        subscribe_status: SubscribeStatus::Reject,
    }];
    // Both the proper wrapper and the OA doc's (mis-named) SubscribeMsgPopupEvent wrapper.
    for wrapper in ["SubscribeMsgChangeEvent", "SubscribeMsgPopupEvent"] {
        let xml = event_xml(
            "subscribe_msg_change_event",
            &format!(
                "<{wrapper}><List><TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId><SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString></List></{wrapper}>"
            ),
        );
        assert_eq!(
            parse_event(&xml).unwrap(),
            Event::SubscribeMsgChangeEvent {
                to_user: "gh_7f083739789a".into(),
                from_user: "oia2TjuEGTNoeX76QEjQNrcURxG8".into(),
                create_time: 1395658920,
                items: expected_items.clone(),
            },
            "{wrapper}"
        );
    }
}

#[test]
fn subscribe_msg_sent_event_with_several_lists() {
    let xml = event_xml(
        "subscribe_msg_sent_event",
        "<SubscribeMsgSentEvent>\
         <List><TemplateId><![CDATA[TPL-A]]></TemplateId><MsgID>1700827132819554304</MsgID><ErrorCode>0</ErrorCode><ErrorStatus><![CDATA[success]]></ErrorStatus></List>\
         <List><TemplateId><![CDATA[TPL-B]]></TemplateId><MsgID>3428411849815982087</MsgID><ErrorCode>20004</ErrorCode><ErrorStatus><![CDATA[fail]]></ErrorStatus></List>\
         <List><TemplateId>TPL-C</TemplateId><MsgID>1</MsgID><ErrorCode>-1</ErrorCode></List>\
         </SubscribeMsgSentEvent>",
    );
    let Event::SubscribeMsgSentEvent { items, .. } = parse_event(&xml).unwrap() else {
        panic!("wrong variant")
    };
    assert_eq!(
        items,
        [
            SubscribeSentItem {
                template_id: "TPL-A".into(),
                msg_id: 1700827132819554304,
                error_code: 0,
                error_status: "success".into(),
            },
            SubscribeSentItem {
                template_id: "TPL-B".into(),
                msg_id: 3428411849815982087,
                error_code: 20004,
                error_status: "fail".into(),
            },
            SubscribeSentItem {
                template_id: "TPL-C".into(),
                msg_id: 1,
                error_code: -1,
                error_status: String::new(),
            },
        ]
    );
    // JSON with msgid as a number above 2^53.
    let json = r#"{"ToUserName":"gh_1","FromUserName":"o1","CreateTime":1,"MsgType":"event","Event":"subscribe_msg_sent_event","List":[{"TemplateId":"T","MsgID":3428411849815982087,"ErrorCode":0,"ErrorStatus":"success"}]}"#;
    let Event::SubscribeMsgSentEvent { items, .. } = parse_event(json).unwrap() else {
        panic!("wrong variant")
    };
    assert_eq!(items[0].msg_id, 3428411849815982087);
    // Bad item fields.
    let bad = event_xml(
        "subscribe_msg_sent_event",
        "<SubscribeMsgSentEvent><List><TemplateId>T</TemplateId><MsgID>x</MsgID><ErrorCode>0</ErrorCode></List></SubscribeMsgSentEvent>",
    );
    assert_eq!(parse_event(&bad), Err(CallbackError::BadNumber("MsgID")));
    let bad = event_xml(
        "subscribe_msg_sent_event",
        "<SubscribeMsgSentEvent><List><MsgID>1</MsgID><ErrorCode>0</ErrorCode></List></SubscribeMsgSentEvent>",
    );
    assert_eq!(
        parse_event(&bad),
        Err(CallbackError::MissingField("TemplateId"))
    );
    // No List at all: an empty item list.
    let empty = event_xml("subscribe_msg_sent_event", "");
    assert!(matches!(
        parse_event(&empty).unwrap(),
        Event::SubscribeMsgSentEvent { ref items, .. } if items.is_empty()
    ));
}

#[test]
fn subscribe_status_values() {
    for (raw, expected, accepted) in [
        ("accept", SubscribeStatus::Accept, true),
        (" Accept ", SubscribeStatus::Accept, true),
        ("acceptWithAudio", SubscribeStatus::AcceptWithAudio, true),
        ("acceptWithAlert", SubscribeStatus::AcceptWithAlert, true),
        ("reject", SubscribeStatus::Reject, false),
        ("ban", SubscribeStatus::Other("ban".into()), false),
    ] {
        let parsed = SubscribeStatus::parse(raw);
        assert_eq!(parsed, expected, "{raw}");
        assert_eq!(parsed.is_accepted(), accepted, "{raw}");
    }
}

#[test]
fn other_messages_and_events() {
    let text = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n<CreateTime>1409735668</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[abcdteT]]></Content>\n<MsgId>6054768590064713728</MsgId>\n</xml>";
    assert_eq!(
        parse_event(text).unwrap(),
        Event::Other {
            msg_type: "text".into(),
            event: None
        }
    );
    assert_eq!(
        parse_event(&event_xml("CLICK", "<EventKey>K</EventKey>")).unwrap(),
        Event::Other {
            msg_type: "event".into(),
            event: Some("CLICK".into())
        }
    );
    assert_eq!(
        parse_event(&event_xml("CLICK", "")).unwrap().from_user(),
        None
    );
    // The V1 vector's JSON message.
    let json = r#"{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714112445,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}"#;
    assert_eq!(
        parse_event(json).unwrap(),
        Event::Other {
            msg_type: "event".into(),
            event: Some("debug_demo".into())
        }
    );
    // An event with no Event element.
    assert_eq!(
        parse_event("<xml><MsgType>event</MsgType></xml>").unwrap(),
        Event::Other {
            msg_type: "event".into(),
            event: None
        }
    );
}

#[test]
fn event_names_are_case_insensitive() {
    assert!(matches!(
        parse_event(
            &job_finish("5", "success").replace("TEMPLATESENDJOBFINISH", "templatesendjobfinish")
        )
        .unwrap(),
        Event::TemplateSendJobFinish { msg_id: 5, .. }
    ));
    assert!(matches!(
        parse_event(&event_xml("SUBSCRIBE", "")).unwrap(),
        Event::Subscribe { .. }
    ));
}

#[test]
fn malformed_input_is_an_error() {
    assert_eq!(
        parse_event("<xml><ToUserName>a</ToUserName></xml>"),
        Err(CallbackError::MissingField("MsgType"))
    );
    assert_eq!(
        parse_event("<xml><MsgType>event</MsgType><Event>subscribe</Event><ToUserName>a</ToUserName><CreateTime>1</CreateTime></xml>"),
        Err(CallbackError::MissingField("FromUserName"))
    );
    assert_eq!(
        parse_event("<xml><MsgType>event</MsgType><Event>subscribe</Event><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1.5</CreateTime></xml>"),
        Err(CallbackError::BadNumber("CreateTime"))
    );
    for bad in [
        "",
        "not xml",
        "<xml>",
        "<xml><MsgType>text</MsgType>",
        "<xml><MsgType>text</Msgtype></xml>",
        "<xml><MsgType>text</MsgType></xml><xml/>",
        "{\"MsgType\": ",
        "[]",
        "{\"MsgType\": 1",
    ] {
        let err = parse_event(bad).unwrap_err();
        assert!(
            matches!(
                err,
                CallbackError::BadXml(_)
                    | CallbackError::BadJson(_)
                    | CallbackError::MissingField(_)
            ),
            "{bad:?}: {err:?}"
        );
    }
    // Every truncation of a valid document fails cleanly or parses; it never panics.
    for cut in 0..POPUP_XML.len() {
        if POPUP_XML.is_char_boundary(cut) {
            let _ = parse_event(&POPUP_XML[..cut]);
        }
    }
}
