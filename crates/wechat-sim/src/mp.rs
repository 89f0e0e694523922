//! Mini Program users computed from their index: MP openid and a unionid that is either an OA
//! user's (matched), someone else's, or absent.

use crate::followers::{Population, KIND_MP_USER};
use crate::ids::{AffinePerm, IdCodec};

/// The MP's users. Nothing is stored per user.
#[derive(Debug)]
pub struct MpUsers {
    count: u32,
    codec: IdCodec,
    perm: AffinePerm,
    matched_ranks: u64,
    with_unionid: u64,
}

/// Whose unionid an MP user carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MpLink {
    /// The same person as OA user `follower` (who may have unfollowed since).
    Oa { follower: u32 },
    /// A person who never followed the OA.
    Foreign,
    /// No unionid.
    None,
}

impl MpUsers {
    /// `count` MP users; `matched_ratio` of them share a unionid with an OA user, up to
    /// `mp_unionid_ratio` of them have a unionid at all.
    pub fn new(
        mp_appid: &str,
        count: u32,
        matched_ratio: f64,
        mp_unionid_ratio: f64,
        pop: &Population,
        seed: u64,
    ) -> Self {
        let n = f64::from(count);
        let matched_ranks = ((matched_ratio * n).round() as u64).min(pop.union_holders());
        let with_unionid = ((mp_unionid_ratio * n).round() as u64)
            .max(matched_ranks)
            .min(u64::from(count));
        Self {
            count,
            codec: IdCodec::new(mp_appid, seed),
            perm: AffinePerm::new(u64::from(count), seed ^ 0x3a7c),
            matched_ranks,
            with_unionid,
        }
    }

    /// Number of MP users.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// OA unionid ranks `0..matched_ranks` belong to an MP user.
    pub fn matched_ranks(&self) -> u64 {
        self.matched_ranks
    }

    /// MP users with a unionid.
    pub fn with_unionid(&self) -> u64 {
        self.with_unionid
    }

    /// The MP openid of user `index`.
    pub fn openid(&self, index: u32) -> String {
        self.codec.encode(KIND_MP_USER, index)
    }

    /// The index of an MP openid.
    pub fn index_of(&self, openid: &str) -> Option<u32> {
        match self.codec.decode(openid) {
            Some((KIND_MP_USER, index)) if index < self.count => Some(index),
            _ => None,
        }
    }

    /// Whose unionid MP user `index` carries.
    pub fn link(&self, pop: &Population, index: u32) -> MpLink {
        let r = self.perm.apply(u64::from(index));
        if r < self.matched_ranks {
            MpLink::Oa {
                follower: pop.by_union_rank(r),
            }
        } else if r < self.with_unionid {
            MpLink::Foreign
        } else {
            MpLink::None
        }
    }

    /// The unionid of MP user `index`.
    pub fn unionid(&self, pop: &Population, index: u32) -> Option<String> {
        match self.link(pop, index) {
            MpLink::Oa { follower } => pop.unionid(follower),
            MpLink::Foreign => Some(pop.foreign_unionid(index)),
            MpLink::None => None,
        }
    }

    /// The MP user sharing a unionid with OA user `follower`, if any.
    pub fn of_follower(&self, pop: &Population, follower: u32) -> Option<u32> {
        let rank = pop.union_rank(follower)?;
        (rank < self.matched_ranks).then(|| self.perm.invert(rank) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matched_users_share_the_followers_unionid() {
        let pop = Population::new("wx5e1a00000000a001", 500, 20, 0.7, 3);
        let mp = MpUsers::new("wx5e1a00000000b002", 200, 0.5, 0.9, &pop, 3);
        let mut matched = 0;
        let mut with_union = 0;
        for j in 0..200 {
            let u = mp.unionid(&pop, j);
            if u.is_some() {
                with_union += 1;
            }
            if let MpLink::Oa { follower } = mp.link(&pop, j) {
                matched += 1;
                assert_eq!(u, pop.unionid(follower));
                assert_eq!(mp.of_follower(&pop, follower), Some(j));
            }
            assert_eq!(mp.index_of(&mp.openid(j)), Some(j));
            assert_eq!(pop.index_of(&mp.openid(j)), None);
        }
        assert_eq!(matched, 100);
        assert_eq!(with_union, 180);
    }
}
