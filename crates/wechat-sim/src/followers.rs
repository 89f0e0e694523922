//! OA users computed from their index (openid, unionid, profile), plus the few runtime changes
//! (unsubscribes, re-subscribes) kept as overrides; the follower list order for `user/get`.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::ids::{hash2, mix, unit, AffinePerm, IdCodec};

/// Codec kinds.
pub const KIND_FOLLOWER: u8 = 1;
pub const KIND_MP_USER: u8 = 2;
pub const KIND_UNION_OA: u8 = 3;
pub const KIND_UNION_FOREIGN: u8 = 4;

/// Reference instant for generated subscribe times (2023-11-14): keeps profiles deterministic.
const PROFILE_EPOCH: i64 = 1_700_000_000;

/// OA users: indices `0..followers` follow at start, `followers..followers+former` are former
/// followers. Nothing is stored per user.
#[derive(Debug)]
pub struct Population {
    followers: u32,
    total: u32,
    seed: u64,
    oa_codec: IdCodec,
    union_codec: IdCodec,
    union_perm: AffinePerm,
    union_holders: u64,
}

/// Generated attributes of one OA user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub subscribe_time: i64,
    pub language: &'static str,
    pub tagid_list: Vec<u32>,
    pub subscribe_scene: &'static str,
    pub qr_scene: u32,
}

const SCENES: [(&str, u32); 13] = [
    ("ADD_SCENE_QR_CODE", 30),
    ("ADD_SCENE_SEARCH", 20),
    ("ADD_SCENE_PROFILE_CARD", 8),
    ("ADD_SCENE_WECHAT_ADVERTISEMENT", 8),
    ("ADD_SCENE_ACCOUNT_MIGRATION", 5),
    ("ADD_SCENE_PROFILE_LINK", 5),
    ("ADD_SCENE_WXA", 5),
    ("ADD_SCENE_OTHERS", 5),
    ("ADD_SCENE_PROFILE_ITEM", 4),
    ("ADD_SCENE_CHANNELS", 4),
    ("ADD_SCENE_PAID", 2),
    ("ADD_SCENE_REPRINT", 2),
    ("ADD_SCENE_LIVESTREAM", 2),
];

impl Population {
    /// The population of an OA.
    pub fn new(oa_appid: &str, followers: u32, former: u32, unionid_ratio: f64, seed: u64) -> Self {
        let total = followers.saturating_add(former);
        let union_holders = (unionid_ratio * f64::from(total)).round() as u64;
        Self {
            followers,
            total,
            seed,
            oa_codec: IdCodec::new(oa_appid, seed),
            union_codec: IdCodec::new("open.weixin.qq.com/unionid", seed),
            union_perm: AffinePerm::new(u64::from(total), seed ^ 0x0a11),
            union_holders: union_holders.min(u64::from(total)),
        }
    }

    /// Followers at start.
    pub fn initial_followers(&self) -> u32 {
        self.followers
    }

    /// Followers and former followers.
    pub fn total(&self) -> u32 {
        self.total
    }

    /// OA users that have a unionid.
    pub fn union_holders(&self) -> u64 {
        self.union_holders
    }

    /// The openid of user `index` (`index < total`).
    pub fn openid(&self, index: u32) -> String {
        self.oa_codec.encode(KIND_FOLLOWER, index)
    }

    /// The index of an OA openid, `None` for anything else (garbled, MP openid, unionid).
    pub fn index_of(&self, openid: &str) -> Option<u32> {
        match self.oa_codec.decode(openid) {
            Some((KIND_FOLLOWER, index)) if index < self.total => Some(index),
            _ => None,
        }
    }

    /// The rank of user `index` among unionid holders, `None` without a unionid.
    pub fn union_rank(&self, index: u32) -> Option<u64> {
        let rank = self.union_perm.apply(u64::from(index));
        (rank < self.union_holders).then_some(rank)
    }

    /// The OA user holding unionid rank `rank`.
    pub fn by_union_rank(&self, rank: u64) -> u32 {
        self.union_perm.invert(rank) as u32
    }

    /// The unionid of user `index`, if any.
    pub fn unionid(&self, index: u32) -> Option<String> {
        self.union_rank(index)
            .map(|_| self.union_codec.encode(KIND_UNION_OA, index))
    }

    /// A unionid of someone who never followed the OA (an MP-only user).
    pub fn foreign_unionid(&self, mp_index: u32) -> String {
        self.union_codec.encode(KIND_UNION_FOREIGN, mp_index)
    }

    /// Generated attributes of user `index`.
    pub fn profile(&self, index: u32) -> Profile {
        let h = hash2(self.seed ^ 0x0f0f, u64::from(index));
        let age = (h % (5 * 365 * 86_400)) as i64;
        let language = match (h >> 24) % 100 {
            0..=84 => "zh_CN",
            85..=92 => "en",
            _ => "zh_TW",
        };
        let t = mix(h);
        let tagid_list = match t % 10 {
            0..=4 => vec![],
            5..=7 => vec![100 + (t >> 8) as u32 % 4],
            _ => vec![2, 100 + (t >> 8) as u32 % 4],
        };
        let mut pick = ((t >> 16) % 100) as u32;
        let mut subscribe_scene = SCENES[0].0;
        for (scene, weight) in SCENES {
            if pick < weight {
                subscribe_scene = scene;
                break;
            }
            pick -= weight;
        }
        let qr_scene = if subscribe_scene == "ADD_SCENE_QR_CODE" {
            10_000 + ((t >> 32) % 90_000) as u32
        } else {
            0
        };
        Profile {
            subscribe_time: PROFILE_EPOCH - age,
            language,
            tagid_list,
            subscribe_scene,
            qr_scene,
        }
    }

    /// `true` when user `index` blocked the account (receipts fail with `failed:user block`).
    pub fn blocks_by_default(&self, index: u32, ratio: f64) -> bool {
        ratio > 0.0 && unit(hash2(self.seed ^ 0xb10c, u64::from(index))) < ratio
    }
}

/// One user whose subscription changed at runtime.
#[derive(Debug, Clone, Copy)]
struct Override {
    subscribed: bool,
    subscribe_time: i64,
    /// Position in `appended` while subscribed through a runtime subscribe.
    slot: Option<usize>,
}

/// Where a `user/get` page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// In the initial list, at this index.
    Base(u32),
    /// In the list of runtime subscribes, at this slot.
    Appended(usize),
}

/// Runtime subscription state and the live counts derived from it.
#[derive(Debug, Default)]
pub struct Subscriptions {
    overrides: HashMap<u32, Override>,
    /// Initial followers no longer at their initial position.
    removed_base: HashSet<u32>,
    /// Runtime subscribes in order (slots can go stale on a later unsubscribe).
    appended: Vec<u32>,
    /// Current followers.
    pub current: u64,
    /// Current followers with a unionid.
    pub with_unionid: u64,
    /// Current followers whose unionid is an MP user's unionid.
    pub matched: u64,
}

/// Page size of `user/get`.
pub const PAGE: usize = 10_000;

impl Subscriptions {
    /// Initial state; `matched_ranks` = unionid ranks that belong to an MP user.
    pub fn new(pop: &Population, matched_ranks: u64) -> Self {
        let mut with_unionid = 0;
        let mut matched = 0;
        for i in 0..pop.initial_followers() {
            if let Some(rank) = pop.union_rank(i) {
                with_unionid += 1;
                if rank < matched_ranks {
                    matched += 1;
                }
            }
        }
        Self {
            current: u64::from(pop.initial_followers()),
            with_unionid,
            matched,
            ..Self::default()
        }
    }

    /// Whether user `index` follows now.
    pub fn is_subscribed(&self, pop: &Population, index: u32) -> bool {
        match self.overrides.get(&index) {
            Some(o) => o.subscribed,
            None => index < pop.initial_followers(),
        }
    }

    /// The latest subscribe time of user `index`.
    pub fn subscribe_time(&self, pop: &Population, index: u32) -> i64 {
        match self.overrides.get(&index) {
            Some(o) => o.subscribe_time,
            None => pop.profile(index).subscribe_time,
        }
    }

    /// Unfollows; `false` if the user did not follow.
    pub fn unsubscribe(&mut self, pop: &Population, index: u32, matched_ranks: u64) -> bool {
        if !self.is_subscribed(pop, index) {
            return false;
        }
        let time = self.subscribe_time(pop, index);
        if index < pop.initial_followers() {
            self.removed_base.insert(index);
        }
        self.overrides.insert(
            index,
            Override {
                subscribed: false,
                subscribe_time: time,
                slot: None,
            },
        );
        self.adjust(pop, index, matched_ranks, false);
        true
    }

    /// Follows (again) at `now_secs`; appended to the end of the list. `false` if already following.
    pub fn subscribe(
        &mut self,
        pop: &Population,
        index: u32,
        matched_ranks: u64,
        now_secs: i64,
    ) -> bool {
        if self.is_subscribed(pop, index) {
            return false;
        }
        if index < pop.initial_followers() {
            self.removed_base.insert(index);
        }
        self.appended.push(index);
        self.overrides.insert(
            index,
            Override {
                subscribed: true,
                subscribe_time: now_secs,
                slot: Some(self.appended.len() - 1),
            },
        );
        self.adjust(pop, index, matched_ranks, true);
        true
    }

    fn adjust(&mut self, pop: &Population, index: u32, matched_ranks: u64, up: bool) {
        let delta = |v: &mut u64| {
            if up {
                *v += 1;
            } else {
                *v = v.saturating_sub(1);
            }
        };
        delta(&mut self.current);
        if let Some(rank) = pop.union_rank(index) {
            delta(&mut self.with_unionid);
            if rank < matched_ranks {
                delta(&mut self.matched);
            }
        }
    }

    /// Where the page after `index` starts, `None` when `index` never had a list position.
    pub fn cursor_after(&self, pop: &Population, index: u32) -> Option<Cursor> {
        if let Some(slot) = self.overrides.get(&index).and_then(|o| o.slot) {
            return Some(Cursor::Appended(slot + 1));
        }
        if index < pop.initial_followers() {
            return Some(Cursor::Base(index + 1));
        }
        // A former follower that re-subscribed and left again: after its last slot.
        self.appended
            .iter()
            .rposition(|&i| i == index)
            .map(|slot| Cursor::Appended(slot + 1))
    }

    /// Up to `limit` current followers from `cursor`, in list order.
    pub fn page(&self, pop: &Population, cursor: Cursor, limit: usize) -> Vec<u32> {
        let mut out = Vec::with_capacity(limit.min(PAGE));
        let mut slot_start = 0;
        match cursor {
            Cursor::Base(start) => {
                let mut i = start;
                while i < pop.initial_followers() && out.len() < limit {
                    if self.removed_base.is_empty() || !self.removed_base.contains(&i) {
                        out.push(i);
                    }
                    i += 1;
                }
            }
            Cursor::Appended(slot) => slot_start = slot,
        }
        for (slot, &index) in self.appended.iter().enumerate().skip(slot_start) {
            if out.len() >= limit {
                break;
            }
            let live = self
                .overrides
                .get(&index)
                .is_some_and(|o| o.subscribed && o.slot == Some(slot));
            if live {
                out.push(index);
            }
        }
        out
    }
}

/// The `user/info` object of a follower (field order as in real responses).
#[derive(Debug, Serialize)]
pub struct UserInfo {
    pub subscribe: u8,
    pub openid: String,
    pub nickname: &'static str,
    pub sex: u8,
    pub language: &'static str,
    pub city: &'static str,
    pub province: &'static str,
    pub country: &'static str,
    pub headimgurl: &'static str,
    pub subscribe_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    pub remark: &'static str,
    pub groupid: u32,
    pub tagid_list: Vec<u32>,
    pub subscribe_scene: &'static str,
    pub qr_scene: u32,
    pub qr_scene_str: &'static str,
}

/// The `user/info` object of someone who does not follow: `{"subscribe":0,"openid":…,"tagid_list":[]}`.
#[derive(Debug, Serialize)]
pub struct NotFollowing {
    pub subscribe: u8,
    pub openid: String,
    pub tagid_list: [u32; 0],
}

/// Either shape.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum UserInfoEntry {
    Following(Box<UserInfo>),
    NotFollowing(NotFollowing),
}

/// The `user/info` entry of user `index`.
pub fn user_info(pop: &Population, subs: &Subscriptions, index: u32) -> UserInfoEntry {
    let openid = pop.openid(index);
    if !subs.is_subscribed(pop, index) {
        return UserInfoEntry::NotFollowing(NotFollowing {
            subscribe: 0,
            openid,
            tagid_list: [],
        });
    }
    let profile = pop.profile(index);
    UserInfoEntry::Following(Box::new(UserInfo {
        subscribe: 1,
        openid,
        nickname: "",
        sex: 0,
        language: profile.language,
        city: "",
        province: "",
        country: "",
        headimgurl: "",
        subscribe_time: subs.subscribe_time(pop, index),
        unionid: pop.unionid(index),
        remark: "",
        groupid: 0,
        tagid_list: profile.tagid_list,
        subscribe_scene: profile.subscribe_scene,
        qr_scene: profile.qr_scene,
        qr_scene_str: "",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_reflects_unsubscribe_and_resubscribe() {
        let pop = Population::new("wx5e1a00000000a001", 10, 3, 0.5, 1);
        let mut subs = Subscriptions::new(&pop, 0);
        assert_eq!(subs.page(&pop, Cursor::Base(0), 100).len(), 10);
        assert!(subs.unsubscribe(&pop, 3, 0));
        assert!(!subs.unsubscribe(&pop, 3, 0));
        assert!(subs.subscribe(&pop, 11, 0, 5));
        let page = subs.page(&pop, Cursor::Base(0), 100);
        assert_eq!(page, vec![0, 1, 2, 4, 5, 6, 7, 8, 9, 11]);
        assert_eq!(subs.current, 10);
        assert_eq!(subs.cursor_after(&pop, 9), Some(Cursor::Base(10)));
        assert_eq!(subs.page(&pop, Cursor::Base(10), 100), vec![11]);
        assert_eq!(subs.cursor_after(&pop, 11), Some(Cursor::Appended(1)));
        assert!(subs.page(&pop, Cursor::Appended(1), 100).is_empty());
        assert_eq!(subs.cursor_after(&pop, 12), None);
        assert!(subs.subscribe(&pop, 3, 0, 6));
        assert_eq!(subs.page(&pop, Cursor::Base(0), 100).last(), Some(&3));
    }

    #[test]
    fn unionid_count_matches_ratio() {
        let pop = Population::new("wx5e1a00000000a001", 1000, 0, 0.7, 9);
        let n = (0..1000).filter(|&i| pop.unionid(i).is_some()).count();
        assert_eq!(n, 700);
        let u = pop.unionid(pop.by_union_rank(5)).unwrap();
        assert_eq!(u.len(), 28);
        assert_ne!(&u[..6], &pop.openid(0)[..6]);
    }
}
