//! Followers: user/get paging quirks, user/info shapes, batchget limits, truth consistency,
//! and a cheap 1,000,000-follower population.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use wechat_sim::SimConfig;

async fn page(h: &wechat_sim::SimHandle, token: &str, next: Option<&str>) -> Value {
    let mut url = format!("/cgi-bin/user/get?access_token={token}");
    if let Some(n) = next {
        url.push_str(&format!("&next_openid={n}"));
    }
    get(h, &url).await
}

#[tokio::test]
async fn user_get_pages_and_the_last_page_quirk() {
    let h = sim(SimConfig {
        followers: 25_001,
        ..SimConfig::default()
    })
    .await;
    let token = oa_token(&h).await;
    let mut seen = HashSet::new();
    let mut next: Option<String> = None;
    let mut counts = vec![];
    loop {
        let v = page(&h, &token, next.as_deref()).await;
        assert_eq!(v["total"], 25_001);
        let count = v["count"].as_u64().unwrap();
        if count == 0 {
            // Past the end: no data key, empty next_openid.
            assert_eq!(v, json!({"total": 25_001, "count": 0, "next_openid": ""}));
            assert!(v.get("data").is_none());
            break;
        }
        let ids = v["data"]["openid"].as_array().unwrap();
        assert_eq!(ids.len() as u64, count);
        for id in ids {
            let id = id.as_str().unwrap();
            assert_eq!(id.len(), 28);
            assert!(id.starts_with('o'));
            assert!(seen.insert(id.to_owned()), "duplicate openid {id}");
        }
        // next_openid = last openid of the page, even on the last page.
        assert_eq!(v["next_openid"], *ids.last().unwrap());
        counts.push(count);
        next = Some(v["next_openid"].as_str().unwrap().to_owned());
    }
    assert_eq!(counts, vec![10_000, 10_000, 5_001]);
    assert_eq!(seen.len(), 25_001);
    // Stable order: the first page is the same again.
    let again = page(&h, &token, None).await;
    assert_eq!(
        again["data"]["openid"][0],
        json!(h.follower_openid(0).unwrap())
    );
    // A bad next_openid → 40003.
    let bad = page(&h, &token, Some("oNotAnOpenidOfThisAccount00")).await;
    assert_err(&bad, 40003, "invalid openid");
}

#[tokio::test]
async fn user_info_shapes_and_unsubscribed_users() {
    let h = small().await;
    let token = oa_token(&h).await;
    let openid = h.follower_openid(3).unwrap();
    let v = get(
        &h,
        &format!("/cgi-bin/user/info?access_token={token}&openid={openid}&lang=zh_CN"),
    )
    .await;
    assert_eq!(v["subscribe"], 1);
    assert_eq!(v["openid"], json!(openid));
    for key in [
        "nickname",
        "headimgurl",
        "city",
        "province",
        "country",
        "remark",
        "qr_scene_str",
    ] {
        assert_eq!(v[key], "", "{key} is an empty string");
    }
    assert_eq!(v["sex"], 0);
    assert!(v["subscribe_time"].as_i64().unwrap() > 1_500_000_000);
    assert!(v["tagid_list"].is_array());
    assert!(v["subscribe_scene"]
        .as_str()
        .unwrap()
        .starts_with("ADD_SCENE_"));
    assert_eq!(v.get("unionid").is_some(), h.follower_unionid(3).is_some());

    // Unsubscribe through the control API: gone from user/get, subscribe:0 in user/info.
    let r = post(&h, "/sim/followers/unsubscribe", &json!({"openid": openid})).await;
    assert_eq!(r["changed"], true);
    let v = get(
        &h,
        &format!("/cgi-bin/user/info?access_token={token}&openid={openid}"),
    )
    .await;
    assert_eq!(
        v,
        json!({"subscribe": 0, "openid": openid, "tagid_list": []})
    );
    let list = page(&h, &token, None).await;
    assert_eq!(list["total"], 999);
    assert!(!list["data"]["openid"]
        .as_array()
        .unwrap()
        .contains(&json!(openid)));
    // A former follower answers too; an MP openid and garbage do not.
    let former = h.follower_openid(1_005).unwrap();
    let v = get(
        &h,
        &format!("/cgi-bin/user/info?access_token={token}&openid={former}"),
    )
    .await;
    assert_eq!(v["subscribe"], 0);
    let mp = h.mp_openid(0).unwrap();
    assert_err(
        &get(
            &h,
            &format!("/cgi-bin/user/info?access_token={token}&openid={mp}"),
        )
        .await,
        40003,
        "invalid openid",
    );
    assert_err(
        &get(
            &h,
            &format!("/cgi-bin/user/info?access_token={token}&openid=xyz"),
        )
        .await,
        40003,
        "invalid openid",
    );
    // Re-subscribe: appended at the end of the list.
    post(&h, "/sim/followers/subscribe", &json!({"openid": former})).await;
    let list = page(&h, &token, None).await;
    assert_eq!(list["total"], 1_000);
    assert_eq!(list["next_openid"], json!(former));
}

#[tokio::test]
async fn batchget_limits() {
    let h = small().await;
    let token = oa_token(&h).await;
    let url = format!("/cgi-bin/user/info/batchget?access_token={token}");
    let list: Vec<Value> = (0..101)
        .map(|i| json!({"openid": h.follower_openid(i).unwrap(), "lang": "zh_CN"}))
        .collect();
    assert_err(
        &post(&h, &url, &json!({"user_list": list})).await,
        40032,
        "invalid openid list size",
    );
    let v = post(&h, &url, &json!({"user_list": list[..100]})).await;
    assert_eq!(v["user_info_list"].as_array().unwrap().len(), 100);
    let bad = json!({"user_list": [{"openid": h.follower_openid(0).unwrap()}, {"openid": h.mp_openid(1).unwrap()}]});
    assert_err(&post(&h, &url, &bad).await, 40003, "invalid openid");
    assert_err(
        &post_raw(&h, &url, "not json".into()).await,
        47001,
        "data format error",
    );
}

#[tokio::test]
async fn truth_matches_a_full_sync_and_mp_logins() {
    let h = sim(SimConfig {
        followers: 2_500,
        former_followers: 50,
        mp_users: 900,
        ..SimConfig::default()
    })
    .await;
    // Change the world a little first.
    h.unsubscribe(&h.follower_openid(7).unwrap(), false)
        .unwrap();
    h.subscribe(&h.follower_openid(2_510).unwrap(), false)
        .unwrap();
    let token = oa_token(&h).await;
    let mut openids = vec![];
    let mut next: Option<String> = None;
    loop {
        let v = page(&h, &token, next.as_deref()).await;
        let Some(data) = v.get("data") else { break };
        openids.extend(
            data["openid"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o.as_str().unwrap().to_owned()),
        );
        next = Some(v["next_openid"].as_str().unwrap().to_owned());
    }
    let url = format!("/cgi-bin/user/info/batchget?access_token={token}");
    let mut unionids = HashSet::new();
    let mut subscribed = 0;
    for chunk in openids.chunks(100) {
        let list: Vec<Value> = chunk.iter().map(|o| json!({"openid": o})).collect();
        let v = post(&h, &url, &json!({"user_list": list})).await;
        for u in v["user_info_list"].as_array().unwrap() {
            subscribed += u["subscribe"].as_u64().unwrap();
            if let Some(x) = u["unionid"].as_str() {
                unionids.insert(x.to_owned());
            }
        }
    }
    // MP side: log every MP user in and match on unionid.
    let c = h.config().clone();
    let mut matched = 0;
    for i in 0..c.mp_users {
        let code = h.mint_code(i, false).unwrap();
        let v = get(&h, &format!("/sns/jscode2session?appid={}&secret={}&js_code={code}&grant_type=authorization_code", c.mp_appid, c.mp_secret)).await;
        if v["unionid"].as_str().is_some_and(|u| unionids.contains(u)) {
            matched += 1;
        }
    }
    let t = h.truth();
    let tv = get(&h, "/sim/truth").await;
    assert_eq!(tv, serde_json::to_value(t).unwrap());
    assert_eq!(t.followers, openids.len() as u64);
    assert_eq!(t.subscribed, subscribed);
    assert_eq!(t.with_unionid, unionids.len() as u64);
    assert_eq!(t.followers_without_unionid, t.followers - t.with_unionid);
    assert_eq!(t.mp_users, 900);
    assert_eq!(t.matched, matched);
    assert_eq!(t.mp_not_following, 900 - matched);
    assert!(
        matched > 400 && matched <= 540,
        "about 60 % matched: {matched}"
    );
    let ratio = t.with_unionid as f64 / t.followers as f64;
    assert!((0.65..0.75).contains(&ratio), "{ratio}");
}

#[tokio::test]
async fn a_million_followers_start_fast_and_page() {
    let t0 = Instant::now();
    let h = sim(SimConfig {
        followers: 1_000_000,
        former_followers: 10_000,
        mp_users: 300_000,
        ..SimConfig::default()
    })
    .await;
    let started = t0.elapsed();
    assert!(
        started < Duration::from_millis(900),
        "start took {started:?}"
    );
    assert_eq!(h.truth().followers, 1_000_000);
    let token = oa_token(&h).await;
    let p1 = page(&h, &token, None).await;
    assert_eq!(p1["total"], 1_000_000);
    assert_eq!(p1["count"], 10_000);
    let p2 = page(&h, &token, p1["next_openid"].as_str()).await;
    assert_eq!(p2["count"], 10_000);
    assert_eq!(
        p2["data"]["openid"][0],
        json!(h.follower_openid(10_000).unwrap())
    );
    let before_last = h.follower_openid(989_999).unwrap();
    let last = page(&h, &token, Some(&before_last)).await;
    assert_eq!(last["count"], 10_000);
    let last_id = h.follower_openid(999_999).unwrap();
    assert_eq!(last["next_openid"], json!(last_id));
    let end = page(&h, &token, Some(&last_id)).await;
    assert_eq!(
        end,
        json!({"total": 1_000_000, "count": 0, "next_openid": ""})
    );
}

#[tokio::test]
async fn an_account_without_followers() {
    let h = sim(SimConfig {
        followers: 0,
        former_followers: 0,
        mp_users: 0,
        ..SimConfig::default()
    })
    .await;
    let token = oa_token(&h).await;
    assert_eq!(
        page(&h, &token, None).await,
        json!({"total": 0, "count": 0, "next_openid": ""})
    );
    assert_eq!(h.truth().matched, 0);
    assert!(h.follower_openid(0).is_none());
    assert!(h.mint_code(0, false).is_err());
}
