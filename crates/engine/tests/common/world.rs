//! A shop with both sides: the simulator's Official Account and linked Mini Program, followers
//! synced, MP users imported, templates synced, and a preset for each channel.
#![allow(dead_code)]

use engine::accounts::Account;
use engine::jobs::DispatchConfig;
use engine::templates::presets::PresetInput;
use engine::testing::TestDb;
use engine::Engine;
use message::PresetBody;
use wechat_sim::{SimConfig, SimHandle};

use super::{admin, import_mp_users, linked_accounts, order_status_values, sync_followers, values};

pub struct World {
    pub sim: SimHandle,
    pub engine: Engine,
    pub oa: Account,
    pub mp: Account,
    pub preset_id: i64,
    pub mp_preset_id: i64,
    /// The subscribe template the MP preset uses.
    pub mp_template: String,
}

/// Fewer senders and smaller batches than [`common::fast`]: a few people per job.
pub fn fast() -> DispatchConfig {
    DispatchConfig {
        concurrency: 8,
        batch: 50,
        ..super::fast()
    }
}

pub async fn world(db: &TestDb) -> World {
    world_of(
        db,
        SimConfig {
            followers: 60,
            mp_users: 40,
            matched_ratio: 0.6,
            ..SimConfig::default()
        },
    )
    .await
}

pub async fn world_of(db: &TestDb, config: SimConfig) -> World {
    let sim = wechat_sim::start(config, ([127, 0, 0, 1], 0).into())
        .await
        .expect("simulator starts");
    let engine = Engine::open(&db.url).await.unwrap();
    let (oa, mp) = linked_accounts(&engine, &sim).await;
    import_mp_users(&engine, &sim, &mp).await;
    sync_followers(&engine, &oa).await;
    engine.sync_templates(&admin(), &oa).await.unwrap();
    engine.sync_templates(&admin(), &mp).await.unwrap();
    let oa_template = engine
        .templates_of(oa.id, true)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.remote.title == "订单状态通知")
        .expect("OA template synced");
    let preset = engine
        .create_preset(
            &admin(),
            &oa,
            PresetInput {
                name: "发货通知".into(),
                template_ref: oa_template.id,
                body: order_status_values(),
            },
        )
        .await
        .unwrap();
    let mp_template = engine
        .templates_of(mp.id, true)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.remote.title == "订单发货通知")
        .expect("MP template synced");
    let mp_preset = engine
        .create_preset(
            &admin(),
            &oa,
            PresetInput {
                name: "小程序发货通知".into(),
                template_ref: mp_template.id,
                body: PresetBody {
                    page: "pages/order/detail?id=1".into(),
                    ..values(&[
                        ("character_string1", "20231018123456"),
                        ("thing2", "无线蓝牙耳机"),
                        ("date3", "2023年10月18日"),
                        ("thing4", "顺丰速运"),
                        ("character_string5", "SF1234567890"),
                    ])
                },
            },
        )
        .await
        .unwrap();
    World {
        sim,
        engine,
        oa,
        mp,
        preset_id: preset.id,
        mp_preset_id: mp_preset.id,
        mp_template: mp_template.remote.template_id,
    }
}

/// One person of the simulator, seen from both sides.
pub struct Person {
    pub follower: String,
    pub mp_openid: String,
}

impl World {
    /// MP users that are the same person as an OA follower (`matched`), in MP index order.
    pub fn matched(&self) -> Vec<Person> {
        let n = self.sim.config().mp_users;
        (0..n)
            .filter_map(|i| {
                let follower = self.sim.mp_follower(i)?;
                Some(Person {
                    follower: self.sim.follower_openid(follower)?,
                    mp_openid: self.sim.mp_openid(i)?,
                })
            })
            .collect()
    }

    /// An MP user with no unionid at all (cannot be matched to the OA).
    pub fn mp_without_unionid(&self) -> String {
        let n = self.sim.config().mp_users;
        (0..n)
            .find(|i| self.sim.mp_unionid(*i).is_none())
            .and_then(|i| self.sim.mp_openid(i))
            .expect("some MP user has no unionid")
    }

    /// The user accepts the subscribe popup: WeChat and wxpush both learn it.
    pub async fn grant(&self, mp_openid: &str) {
        self.sim
            .grant_credits(
                mp_openid,
                &self.mp_template,
                wechat_sim::CreditKind::OneTime,
                1,
            )
            .unwrap();
        self.engine
            .record_subscribe_report(
                &self.mp,
                mp_openid,
                &[(self.mp_template.clone(), "accept".into())],
            )
            .await
            .unwrap();
    }

    pub async fn one_time(&self, mp_openid: &str) -> i64 {
        self.engine
            .credit(self.mp.id, mp_openid, &self.mp_template)
            .await
            .unwrap()
            .one_time
    }
}

/// Message `id` of `key` once it has an outcome (30 s at most).
pub async fn wait_outcome(
    engine: &Engine,
    key: &model::send_api::SendKey,
    id: &str,
) -> model::send_api::MessageStatus {
    use model::send_api::MessageState;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let s = engine
            .api_message(key, id.parse().unwrap())
            .await
            .unwrap()
            .expect("the key's message");
        if s.state != MessageState::Queued && s.state != MessageState::Sending {
            return s;
        }
        assert!(std::time::Instant::now() < deadline, "never sent: {s:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A request of preset `preset` for `to`, with nothing else set.
pub fn request(to: model::send_api::Person, preset: i64) -> model::send_api::SendRequest {
    model::send_api::SendRequest {
        to,
        preset: Some(preset),
        preset_name: None,
        subscribe_preset: None,
        channel: None,
        values: std::collections::BTreeMap::new(),
        url: None,
        pagepath: None,
        idempotency_key: None,
    }
}
