//! Where an event moves when its planned date falls on a day the site is closed: pure
//! functions over planned dates, the scenario's policies and a site's open days.
//!
//! Each event belongs to a series (a component's occurrences, or one visit) with a
//! [`Policy`]; an event given `after` another on the same day is placed with it (a group),
//! so an exchange and the infusion that follows it stay on one day, in that order. A group
//! moves only to a date every member's window and minimum gap allow.

use chrono::NaiveDate;

/// What to do with an event planned on a closed day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnClosed {
    /// Stay on the planned date, flagged `closed_day`.
    #[default]
    Keep,
    /// The first open day after.
    Next,
    /// The last open day before.
    Previous,
    /// The closest open day, the later one on a tie.
    Nearest,
}

impl OnClosed {
    /// Every rule with its scenario name.
    pub const ALL: [(OnClosed, &'static str); 4] = [
        (OnClosed::Keep, "keep"),
        (OnClosed::Next, "next"),
        (OnClosed::Previous, "previous"),
        (OnClosed::Nearest, "nearest"),
    ];

    pub fn parse(s: &str) -> Option<OnClosed> {
        Self::ALL.iter().find(|(_, n)| *n == s).map(|(o, _)| *o)
    }

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(o, _)| *o == self)
            .map_or("keep", |(_, n)| n)
    }
}

/// Which dates later occurrences keep when one moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Anchor {
    /// Their planned dates (the day-1 grid).
    #[default]
    Plan,
    /// Shifted by the same number of days: the interval is kept.
    Previous,
}

impl Anchor {
    pub fn parse(s: &str) -> Option<Anchor> {
        match s {
            "plan" => Some(Anchor::Plan),
            "previous" => Some(Anchor::Previous),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Anchor::Plan => "plan",
            Anchor::Previous => "previous",
        }
    }
}

/// How far an event with no window may move, each way (days).
pub const DEFAULT_REACH_DAYS: u32 = 14;

/// A series' rules for closed days. A move never puts two occurrences of a series on one
/// day, nor changes their order: the minimum gap is at least 1 day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    pub on_closed: OnClosed,
    /// (days before, days after) the planned date a move may go; `None`: up to
    /// [`DEFAULT_REACH_DAYS`] either way.
    pub window: Option<(u32, u32)>,
    /// Consecutive occurrences at least this many days apart after any move.
    pub min_gap_days: Option<u32>,
    pub anchor: Anchor,
}

/// What happened to an event, as the `flags` column lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Flags(u8);

impl Flags {
    /// On a closed day (kept there by policy, or with nowhere to go).
    pub const CLOSED_DAY: Flags = Flags(1);
    /// Moved from its planned date.
    pub const SHIFTED: Flags = Flags(1 << 1);
    /// Planned on a closed day with no open day in its window.
    pub const NO_OPEN_DAY_IN_WINDOW: Flags = Flags(1 << 2);
    /// Not moved, because every open day in its window would break a minimum gap.
    pub const MIN_GAP: Flags = Flags(1 << 3);
    /// On a date the site's calendar does not cover: a holiday may still be announced.
    pub const PROVISIONAL: Flags = Flags(1 << 4);
    pub const NONE: Flags = Flags(0);

    pub const ALL: [(Flags, &'static str); 5] = [
        (Flags::CLOSED_DAY, "closed_day"),
        (Flags::SHIFTED, "shifted"),
        (Flags::NO_OPEN_DAY_IN_WINDOW, "no_open_day_in_window"),
        (Flags::MIN_GAP, "min_gap"),
        (Flags::PROVISIONAL, "provisional"),
    ];

    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether any of `other`'s flags is set.
    pub fn intersects(self, other: Flags) -> bool {
        self.0 & other.0 != 0
    }

    /// [`Flags::codes`] appended to `out`, from a table made once (the pharmacy stream
    /// writes one per row).
    pub fn write_to(self, out: &mut Vec<u8>) {
        if self.is_empty() {
            return;
        }
        static TEXTS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        let texts = TEXTS.get_or_init(|| {
            (0..1u8 << Self::ALL.len())
                .map(|bits| Flags(bits).codes())
                .collect()
        });
        out.extend_from_slice(texts[usize::from(self.0)].as_bytes());
    }

    /// The codes, `;`-separated, in a fixed order: "closed_day;provisional".
    pub fn codes(self) -> String {
        Self::ALL
            .iter()
            .filter(|(f, _)| self.contains(*f))
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join(";")
    }
}

impl serde::Serialize for Flags {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.codes())
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, o: Flags) -> Flags {
        Flags(self.0 | o.0)
    }
}

impl std::ops::BitOrAssign for Flags {
    fn bitor_assign(&mut self, o: Flags) {
        self.0 |= o.0;
    }
}

/// One event to place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    pub planned: NaiveDate,
    /// Index into the policies.
    pub series: usize,
    /// The item (an index into the same list) this one follows on the same day.
    pub leader: Option<usize>,
    /// Where the administration record says it happened, if it does: placed there
    /// whatever the calendar says.
    pub fixed: Option<Fix>,
}

/// A date the record fixes: given (or missed) on `date`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fix {
    pub date: NaiveDate,
    /// Whether later occurrences anchored on this one (`anchor = "previous"`) follow it:
    /// a given dose, yes; a missed one, no (the next keeps its own date).
    pub anchors: bool,
}

/// Where an item was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    pub date: NaiveDate,
    pub flags: Flags,
    /// Where the rules (and the record of the earlier occurrences) would have put it: the
    /// same as `date` unless the record fixed it elsewhere.
    pub expected: NaiveDate,
    /// Its planned date moved by the anchor (`anchor = "previous"`: by the delay of the
    /// previous occurrence), before any closed-day move: what its window is around.
    pub anchored: NaiveDate,
}

/// Places every item: leaders in order of their planned dates (then list order), each
/// with its followers. `open` says whether the site is open on a date, `covers` whether
/// its calendar covers it. Items of one series must come in occurrence order. An item the
/// record fixes is placed on its fixed date, and under `anchor = "previous"` the later
/// occurrences follow it; a follower not fixed follows its leader's date.
pub fn place(
    items: &[Item],
    policies: &[Policy],
    open: impl Fn(NaiveDate) -> bool,
    covers: impl Fn(NaiveDate) -> bool,
) -> Vec<Placed> {
    let mut placed: Vec<Option<Placed>> = vec![None; items.len()];
    // The next item of the same series, for the minimum gap ahead.
    let mut next_of = vec![None; items.len()];
    let mut last_seen: Vec<Option<usize>> = vec![None; policies.len()];
    for (i, it) in items.iter().enumerate().rev() {
        next_of[i] = last_seen[it.series];
        last_seen[it.series] = Some(i);
    }
    let mut followers: Vec<Vec<usize>> = vec![Vec::new(); items.len()];
    for (i, it) in items.iter().enumerate() {
        if let Some(l) = it.leader.filter(|&l| l < items.len() && l != i) {
            followers[l].push(i);
        }
    }
    let mut leaders: Vec<usize> = (0..items.len())
        .filter(|&i| items[i].leader.is_none_or(|l| l >= items.len() || l == i))
        .collect();
    leaders.sort_by_key(|&i| items[i].planned);

    let mut offset = vec![0i64; policies.len()];
    let mut last: Vec<Option<NaiveDate>> = vec![None; policies.len()];
    for &lead in &leaders {
        let group: Vec<usize> = std::iter::once(lead)
            .chain(followers[lead].iter().copied())
            .collect();
        let series = items[lead].series;
        let planned = shift(items[lead].planned, offset[series]);
        let policy = policies[series];
        // The dates a move may reach: every member's window, intersected.
        let (mut before, mut after) = (u32::MAX, u32::MAX);
        for &m in &group {
            let (b, a) = policies[items[m].series]
                .window
                .unwrap_or((DEFAULT_REACH_DAYS, DEFAULT_REACH_DAYS));
            before = before.min(b);
            after = after.min(a);
        }
        // A date keeps every member's minimum gap to its placed previous occurrence and
        // its next planned one.
        let gaps_ok = |d: NaiveDate| {
            group.iter().all(|&m| {
                let s = items[m].series;
                // Two occurrences of one component never share a day, nor change places,
                // whatever the scenario states.
                let gap = i64::from(policies[s].min_gap_days.unwrap_or(1).max(1));
                let behind = last[s].is_none_or(|p| (d - p).num_days() >= gap);
                let ahead = policies[s].anchor == Anchor::Previous
                    || next_of[m]
                        .is_none_or(|n| (shift(items[n].planned, offset[s]) - d).num_days() >= gap);
                behind && ahead
            })
        };
        // The first open date a move from `base` may reach (or `base` itself when open),
        // and whether any open day was in reach at all.
        // The anchored date itself needs no gap check: it keeps the planned interval.
        let search = |base: NaiveDate| -> (Option<NaiveDate>, bool) {
            if open(base) && (base == planned || gaps_ok(base)) {
                return (Some(base), true);
            }
            let candidates: Vec<i64> = match policy.on_closed {
                OnClosed::Keep => Vec::new(),
                OnClosed::Next => (1..=i64::from(after)).collect(),
                OnClosed::Previous => (1..=i64::from(before)).map(|k| -k).collect(),
                OnClosed::Nearest => (1..=i64::from(before.max(after)))
                    .flat_map(|k| [k, -k])
                    .filter(|&k| {
                        if k > 0 {
                            k <= i64::from(after)
                        } else {
                            -k <= i64::from(before)
                        }
                    })
                    .collect(),
            };
            let mut any_open = false;
            for k in candidates {
                let d = shift(base, k);
                if d == base || !open(d) {
                    continue;
                }
                any_open = true;
                if gaps_ok(d) {
                    return (Some(d), true);
                }
            }
            (None, any_open)
        };
        let original = items[lead].planned;
        // Under anchor = previous the interval is kept (`planned` is the anchored date);
        // when that leaves no open day in reach, the occurrence is placed from its own
        // planned date instead. With no open day either way it stays on its own planned
        // date, unless an earlier occurrence has moved past it: then on the anchored one,
        // which keeps the order.
        let (mut found, mut any_open) = search(planned);
        let mut stay = planned;
        if found.is_none() && planned != original {
            let (f, a) = search(original);
            found = f;
            any_open |= a;
            if gaps_ok(original) {
                stay = original;
            }
        }
        let (date, mut flags) = match (found, policy.on_closed) {
            (Some(d), _) => (d, Flags::NONE),
            (None, OnClosed::Keep) => (stay, Flags::CLOSED_DAY),
            (None, _) if any_open => (stay, Flags::CLOSED_DAY | Flags::MIN_GAP),
            (None, _) => (stay, Flags::CLOSED_DAY | Flags::NO_OPEN_DAY_IN_WINDOW),
        };
        // Shifted means the date differs from the plan's, whatever moved it.
        if date != original {
            flags |= Flags::SHIFTED;
        }
        if !covers(date) {
            flags |= Flags::PROVISIONAL;
        }
        // The record overrides the rules: a fixed leader's followers go with it.
        let group_date = items[lead].fixed.map_or(date, |f| f.date);
        for &m in &group {
            let s = items[m].series;
            let anchored = shift(items[m].planned, offset[s]);
            let (got, got_flags, anchors) = match items[m].fixed {
                // What happened is not a site calendar's doing: no flags (the record's
                // own columns say how it departs from the plan).
                Some(f) => (f.date, Flags::NONE, f.anchors),
                None if group_date != date => {
                    let mut fl = Flags::NONE;
                    if group_date != items[m].planned {
                        fl |= Flags::SHIFTED;
                    }
                    if !covers(group_date) {
                        fl |= Flags::PROVISIONAL;
                    }
                    (group_date, fl, true)
                }
                None => (date, flags, true),
            };
            placed[m] = Some(Placed {
                date: got,
                flags: got_flags,
                expected: date,
                anchored,
            });
            last[s] = Some(got);
            if policies[s].anchor == Anchor::Previous && anchors {
                offset[s] = (got - items[m].planned).num_days();
            }
        }
    }
    placed
        .into_iter()
        .zip(items)
        .map(|(p, it)| {
            p.unwrap_or(Placed {
                date: it.planned,
                flags: Flags::NONE,
                expected: it.planned,
                anchored: it.planned,
            })
        })
        .collect()
}

/// `date` moved by `days` (either way), saturating at the calendar's ends.
fn shift(date: NaiveDate, days: i64) -> NaiveDate {
    if days >= 0 {
        date.checked_add_days(chrono::Days::new(days as u64))
    } else {
        date.checked_sub_days(chrono::Days::new(days.unsigned_abs()))
    }
    .unwrap_or(date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Weekday};
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        crate::timing::parse_date(s).unwrap()
    }

    fn weekdays_open(x: NaiveDate) -> bool {
        !matches!(x.weekday(), Weekday::Sat | Weekday::Sun)
    }

    fn series(days: &[u32], start: NaiveDate, s: usize) -> Vec<Item> {
        days.iter()
            .map(|&k| Item {
                planned: start + chrono::Days::new(u64::from(k - 1)),
                series: s,
                leader: None,
                fixed: None,
            })
            .collect()
    }

    #[test]
    fn days_1_4_7_10_from_a_thursday_move_off_the_weekend() {
        // Thursday 2026-10-01: day 4 is Sunday 10-04, day 7 Wednesday, day 10 Saturday.
        let items = series(&[1, 4, 7, 10], d("2026-10-01"), 0);
        let policy = |on_closed| Policy {
            on_closed,
            window: Some((1, 1)),
            ..Policy::default()
        };
        let dates = |p: Policy| -> Vec<(NaiveDate, String)> {
            place(&items, &[p], weekdays_open, |_| true)
                .iter()
                .map(|x| (x.date, x.flags.codes()))
                .collect()
        };
        // nearest, one day each way: Sunday -> Monday (later on a tie... Saturday is
        // closed too), Saturday -> Friday.
        assert_eq!(
            dates(policy(OnClosed::Nearest)),
            vec![
                (d("2026-10-01"), String::new()),
                (d("2026-10-05"), "shifted".into()),
                (d("2026-10-07"), String::new()),
                (d("2026-10-09"), "shifted".into()),
            ]
        );
        // next, one day after: Sunday -> Monday; Saturday's next day is Sunday: no open day.
        assert_eq!(
            dates(policy(OnClosed::Next)),
            vec![
                (d("2026-10-01"), String::new()),
                (d("2026-10-05"), "shifted".into()),
                (d("2026-10-07"), String::new()),
                (d("2026-10-10"), "closed_day;no_open_day_in_window".into()),
            ]
        );
        assert_eq!(
            dates(Policy::default())[1],
            (d("2026-10-04"), "closed_day".into())
        );
    }

    #[test]
    fn a_minimum_gap_stops_a_move_and_says_so() {
        // Days 1 and 3 from Friday 2026-10-02: day 3 is Sunday; moving back, the only open
        // day in its window is Friday, the day of dose 1: a gap of 0 where 2 are required.
        let items = series(&[1, 3], d("2026-10-02"), 0);
        let p = Policy {
            on_closed: OnClosed::Previous,
            window: Some((2, 2)),
            min_gap_days: Some(2),
            anchor: Anchor::Plan,
        };
        let got = place(&items, &[p], weekdays_open, |_| true);
        assert_eq!(got[1].date, d("2026-10-04"));
        assert_eq!(got[1].flags.codes(), "closed_day;min_gap");
    }

    #[test]
    fn anchor_previous_keeps_the_interval() {
        // Weekly from Saturday 2026-10-03: the first moves to Monday, the rest follow.
        let items = series(&[1, 8, 15], d("2026-10-03"), 0);
        let p = Policy {
            on_closed: OnClosed::Next,
            window: Some((0, 3)),
            min_gap_days: None,
            anchor: Anchor::Previous,
        };
        let got = place(&items, &[p], weekdays_open, |_| true);
        let dates: Vec<NaiveDate> = got.iter().map(|x| x.date).collect();
        assert_eq!(
            dates,
            vec![d("2026-10-05"), d("2026-10-12"), d("2026-10-19")]
        );
        assert!(got.iter().all(|x| x.flags == Flags::SHIFTED));
    }

    #[test]
    fn a_follower_moves_with_its_leader() {
        let mut items = series(&[1], d("2026-10-03"), 0);
        items.push(Item {
            planned: d("2026-10-03"),
            series: 1,
            leader: Some(0),
            fixed: None,
        });
        let p = Policy {
            on_closed: OnClosed::Next,
            ..Policy::default()
        };
        let got = place(&items, &[p, Policy::default()], weekdays_open, |x| {
            x.year() < 2027
        });
        assert_eq!(got[0], got[1]);
        assert_eq!(got[0].date, d("2026-10-05"));
    }

    fn arb_items() -> impl Strategy<Value = (Vec<Item>, Vec<Policy>)> {
        let policy = (
            0..4u8,
            prop::option::of((0..4u32, 0..4u32)),
            prop::option::of(1..5u32),
            any::<bool>(),
        )
            .prop_map(|(o, window, min_gap_days, prev)| Policy {
                on_closed: [
                    OnClosed::Keep,
                    OnClosed::Next,
                    OnClosed::Previous,
                    OnClosed::Nearest,
                ][o as usize],
                window,
                min_gap_days,
                anchor: if prev { Anchor::Previous } else { Anchor::Plan },
            });
        (
            prop::collection::vec(policy, 1..4),
            prop::collection::vec((1..60u32, 1..8u32), 1..4),
            0..3000u64,
        )
            .prop_map(|(policies, shapes, start)| {
                let start = d("2026-01-01") + chrono::Days::new(start);
                let mut items = Vec::new();
                for (s, (first, every)) in shapes.iter().enumerate().take(policies.len()) {
                    for k in 0..4 {
                        items.push(Item {
                            planned: start + chrono::Days::new(u64::from(first + k * every * 3)),
                            series: s,
                            leader: None,
                            fixed: None,
                        });
                    }
                }
                (items, policies)
            })
    }

    proptest! {
        #[test]
        fn no_closed_day_unflagged_and_moves_stay_in_windows(
            (items, policies) in arb_items(),
            closed in prop::collection::vec(any::<bool>(), 7),
        ) {
            let open = |x: NaiveDate| !closed[x.weekday().num_days_from_monday() as usize];
            let got = place(&items, &policies, open, |_| true);
            for (it, p) in items.iter().zip(&got) {
                let pol = policies[it.series];
                prop_assert!(open(p.date) || p.flags.contains(Flags::CLOSED_DAY), "{it:?} {p:?}");
                if pol.anchor == Anchor::Plan && p.date != it.planned {
                    let (b, a) = pol.window.unwrap_or((DEFAULT_REACH_DAYS, DEFAULT_REACH_DAYS));
                    let k = (p.date - it.planned).num_days();
                    prop_assert!(k <= i64::from(a) && -k <= i64::from(b), "{it:?} {p:?}");
                    prop_assert!(p.flags.contains(Flags::SHIFTED));
                }
                if pol.on_closed == OnClosed::Keep && pol.anchor == Anchor::Plan {
                    prop_assert_eq!(p.date, it.planned);
                }
            }
            // Consecutive occurrences of a series keep its minimum gap wherever one moved,
            // and never share a day or change places.
            for (s, pol) in policies.iter().enumerate() {
                let g = pol.min_gap_days.unwrap_or(1);
                let placed: Vec<&Placed> = items.iter().zip(&got).filter(|(it, _)| it.series == s).map(|(_, p)| p).collect();
                for w in placed.windows(2) {
                    prop_assert!(w[1].date > w[0].date, "{w:?}");
                    if pol.anchor == Anchor::Plan
                        && (w[0].flags.contains(Flags::SHIFTED) || w[1].flags.contains(Flags::SHIFTED))
                    {
                        prop_assert!((w[1].date - w[0].date).num_days() >= i64::from(g), "{w:?}");
                    }
                }
            }
            // With every day open nothing moves and nothing is flagged.
            let all_open = place(&items, &policies, |_| true, |_| true);
            for (it, p) in items.iter().zip(&all_open) {
                prop_assert_eq!(p.date, it.planned);
                prop_assert!(p.flags.is_empty());
            }
        }
    }
}
