//! Expected public holidays: the days a country's law makes public holidays, for the years
//! a site calendar's holiday files do not cover yet (`expected_holidays = "cn"`).
//!
//! China's holidays are fixed each year by the State Council's notice, which also names the
//! make-up working days (调休) and the bridging days; a notice comes out late in the year
//! before. The days the law itself gives are known long before: the 全国年节及纪念日放假办法
//! (National Holidays and Memorial Days Regulations), Article 2, as in force in each year:
//!
//! | holiday | 2008-2013 | 2014-2024 | from 2025 |
//! | --- | --- | --- | --- |
//! | 元旦 New Year's Day | 1 January | 1 January | 1 January |
//! | 春节 Spring Festival | eve, 1st and 2nd day of the 1st lunar month | 1st to 3rd day | eve and 1st to 3rd day |
//! | 清明节 Qingming | the day of the solar term | the same | the same |
//! | 劳动节 Labour Day | 1 May | 1 May | 1 and 2 May |
//! | 端午节 Dragon Boat | 5th day of the 5th lunar month | the same | the same |
//! | 中秋节 Mid-Autumn | 15th day of the 8th lunar month | the same | the same |
//! | 国庆节 National Day | 1 to 3 October | the same | the same |
//!
//! (State Council decisions of 14 December 2007, in force 1 January 2008; of 11 December 2013,
//! in force 1 January 2014; Order No. 795 of 10 November 2024, in force 1 January 2025.)
//! Years before 2008 (no Qingming, Dragon Boat or Mid-Autumn holiday, a 3-day Labour Day)
//! get no expected holidays.
//!
//! What the law does not fix is not guessed: a statutory day that falls on a Saturday or
//! Sunday is made up on a working day the notice names, and the notice joins holidays to
//! weekends by moving working days. Those stay unknown until the year's holiday file is
//! added, which is why every date outside a calendar's coverage stays `provisional`.
//!
//! The lunar dates and the Qingming solar term come from the tyme4rs crate (6tail's Tyme, on
//! Xu Jianwei's ShouXing astronomical algorithms, 寿星天文历, the calendar China's almanacs
//! follow), checked against holiday-cn's files for 2024 to 2026 and against published dates
//! (see the tests). Each year is computed once per process, when first asked for.

use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate};
use tyme4rs::tyme::lunar::LunarDay;
use tyme4rs::tyme::solar::{SolarDay, SolarTerm};

/// A country whose statutory public holidays a site calendar can expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// China (the mainland): the State Council's 全国年节及纪念日放假办法.
    Cn,
}

impl Expected {
    /// Every country known, with the code a site calendar names it by.
    pub const ALL: [(Expected, &'static str); 1] = [(Expected::Cn, "cn")];

    /// The country of a code ("cn", in any letter case).
    pub fn parse(code: &str) -> Option<Expected> {
        Self::ALL
            .iter()
            .find(|(_, c)| c.eq_ignore_ascii_case(code))
            .map(|(e, _)| *e)
    }

    /// The code a site calendar names it by.
    pub fn code(self) -> &'static str {
        match self {
            Expected::Cn => "cn",
        }
    }

    /// In words: "China's statutory public holidays".
    pub fn describe(self) -> &'static str {
        match self {
            Expected::Cn => "China's statutory public holidays",
        }
    }

    /// The first and last dates its holidays are computed for.
    pub fn span(self) -> (NaiveDate, NaiveDate) {
        match self {
            Expected::Cn => (
                NaiveDate::from_ymd_opt(cn::FIRST_YEAR, 1, 1).expect("a real date"),
                NaiveDate::from_ymd_opt(cn::LAST_YEAR, 12, 31).expect("a real date"),
            ),
        }
    }

    /// The statutory holiday on `date`, by its name in the law ("春节", "国庆节"), if any.
    pub fn holiday(self, date: NaiveDate) -> Option<&'static str> {
        match self {
            Expected::Cn => cn::holiday(date),
        }
    }

    /// The statutory holidays from `from` to `to` (both included), in date order.
    pub fn between(self, from: NaiveDate, to: NaiveDate) -> Vec<(NaiveDate, &'static str)> {
        match self {
            Expected::Cn => (from.year()..=to.year())
                .flat_map(cn::year)
                .filter(|(d, _)| (from..=to).contains(d))
                .copied()
                .collect(),
        }
    }
}

/// China's statutory public holidays, year by year.
pub mod cn {
    use super::*;

    /// The first year computed: the 2007 revision, in force from 2008, made Qingming, Dragon
    /// Boat and Mid-Autumn public holidays.
    pub const FIRST_YEAR: i32 = 2008;
    /// The last year the lunisolar calendar is computed for (tyme4rs's range).
    pub const LAST_YEAR: i32 = 9999;

    /// A year's holidays: (date, name in the law), in date order.
    type Year = Box<[(NaiveDate, &'static str)]>;

    /// How many years are computed.
    const YEARS_COUNT: usize = (LAST_YEAR - FIRST_YEAR + 1) as usize;

    /// One cached slot per year, filled when the year is first asked for.
    static YEARS: [OnceLock<Year>; YEARS_COUNT] = [const { OnceLock::new() }; YEARS_COUNT];

    /// The holiday on `date`, by its name in the law, if it is one.
    pub fn holiday(date: NaiveDate) -> Option<&'static str> {
        year(date.year())
            .iter()
            .find(|(d, _)| *d == date)
            .map(|(_, n)| *n)
    }

    /// A year's statutory holidays, in date order (none outside
    /// [`FIRST_YEAR`]..=[`LAST_YEAR`]). A day two holidays share (Mid-Autumn on 1 to 3
    /// October, as in 2020 and 2028) is listed once, under both names, as holiday-cn does.
    pub fn year(year: i32) -> &'static [(NaiveDate, &'static str)] {
        if !(FIRST_YEAR..=LAST_YEAR).contains(&year) {
            return &[];
        }
        YEARS[(year - FIRST_YEAR) as usize].get_or_init(|| compute(year))
    }

    fn compute(year: i32) -> Year {
        let ymd = |m: u32, d: u32| NaiveDate::from_ymd_opt(year, m, d).expect("a real date");
        let mut days = vec![(ymd(1, 1), "元旦")];
        let new_year = spring_festival(year);
        // The Spring Festival days, from the lunar new year's day (0); -1 is its eve.
        let spring = match year {
            ..=2013 => -1..2,
            2014..=2024 => 0..3,
            _ => -1..3,
        };
        days.extend(spring.map(|k| (new_year + chrono::Duration::days(k), "春节")));
        days.push((qingming(year), "清明节"));
        days.push((ymd(5, 1), "劳动节"));
        if year >= 2025 {
            days.push((ymd(5, 2), "劳动节"));
        }
        days.push((dragon_boat(year), "端午节"));
        let mid_autumn = mid_autumn(year);
        let national = [ymd(10, 1), ymd(10, 2), ymd(10, 3)];
        if !national.contains(&mid_autumn) {
            days.push((mid_autumn, "中秋节"));
        }
        for d in national {
            let name = if d == mid_autumn {
                "国庆节、中秋节"
            } else {
                "国庆节"
            };
            days.push((d, name));
        }
        days.sort();
        days.into_boxed_slice()
    }

    /// The lunar new year's day (正月初一) that falls in Gregorian `year`.
    pub fn spring_festival(year: i32) -> NaiveDate {
        lunar(year, 1, 1)
    }

    /// 端午: the 5th day of the 5th lunar month of the lunar year starting in `year`.
    pub fn dragon_boat(year: i32) -> NaiveDate {
        lunar(year, 5, 5)
    }

    /// 中秋: the 15th day of the 8th lunar month.
    pub fn mid_autumn(year: i32) -> NaiveDate {
        lunar(year, 8, 15)
    }

    /// 清明: the day (Beijing time) the sun's apparent longitude reaches 15 degrees.
    pub fn qingming(year: i32) -> NaiveDate {
        // tyme4rs numbers a year's solar terms from the winter solstice of the year before
        // (冬至 = 0), so 清明 is 7.
        solar(SolarTerm::from_index(year as isize, 7).get_solar_day())
    }

    /// A day of a (non-leap) lunar month, in the lunar year that starts in Gregorian `year`.
    /// Month 1, 5 and 8 and days up to 15 exist in every lunar year.
    fn lunar(year: i32, month: isize, day: usize) -> NaiveDate {
        solar(LunarDay::from_ymd(year as isize, month, day).get_solar_day())
    }

    fn solar(d: SolarDay) -> NaiveDate {
        NaiveDate::from_ymd_opt(
            d.get_year() as i32,
            d.get_month() as u32,
            d.get_day() as u32,
        )
        .expect("tyme4rs gives real dates")
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::timing::parse_date;

        fn d(s: &str) -> NaiveDate {
            parse_date(s).unwrap()
        }

        /// Published dates, each from two sources independent of tyme4rs: the lunar dates
        /// as the "lunar" project's table gives them (the lunardate PyPI package, 1900-2099),
        /// the Qingming date as PyEphem computes the sun reaching 15 degrees (Beijing time).
        /// 2027: Spring Festival Saturday 6 February, Qingming Monday 5 April, Dragon Boat
        /// Wednesday 9 June, Mid-Autumn Wednesday 15 September. 2028: Spring Festival
        /// Wednesday 26 January, Qingming Tuesday 4 April, Dragon Boat Sunday 28 May,
        /// Mid-Autumn Tuesday 3 October (on National Day). 2009 and 2038 have their
        /// Qingming moment within an hour of midnight, Beijing time (23:30 on 4 April 2009,
        /// 00:13 on 5 April 2038), where a coarse solar formula would take the wrong day;
        /// 2020 and 2031 have Mid-Autumn on 1 October.
        #[test]
        fn the_lunar_dates_and_qingming_are_the_published_ones() {
            for (year, spring, qm, dragon, moon) in [
                (2009, "2009-01-26", "2009-04-04", "2009-05-28", "2009-10-03"),
                (2020, "2020-01-25", "2020-04-04", "2020-06-25", "2020-10-01"),
                (2027, "2027-02-06", "2027-04-05", "2027-06-09", "2027-09-15"),
                (2028, "2028-01-26", "2028-04-04", "2028-05-28", "2028-10-03"),
                (2031, "2031-01-23", "2031-04-05", "2031-06-24", "2031-10-01"),
                (2033, "2033-01-31", "2033-04-04", "2033-06-01", "2033-09-08"),
                (2038, "2038-02-04", "2038-04-05", "2038-06-07", "2038-09-13"),
                (2050, "2050-01-23", "2050-04-04", "2050-06-23", "2050-09-30"),
            ] {
                assert_eq!(spring_festival(year), d(spring), "{year}");
                assert_eq!(qingming(year), d(qm), "{year}");
                assert_eq!(dragon_boat(year), d(dragon), "{year}");
                assert_eq!(mid_autumn(year), d(moon), "{year}");
            }
        }

        /// Every statutory day computed for 2024, 2025 and 2026 is a day off
        /// (`"isOffDay": true`) in holiday-cn's file of that year, the State Council's
        /// notices: 2024 under the rules before the 2024 revision (Spring Festival from its
        /// 1st day, 3 days; Labour Day 1 day), 2025 and 2026 under the revised ones. And
        /// every holiday the files name is one of ours on at least one day.
        #[test]
        fn every_statutory_day_is_off_in_the_holiday_cn_files() {
            #[derive(serde::Deserialize)]
            struct File {
                days: Vec<Entry>,
            }
            #[derive(serde::Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Entry {
                name: String,
                date: String,
                is_off_day: bool,
            }
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("scenarios/calendars/holidays");
            for (y, count) in [(2024, 11), (2025, 13), (2026, 13)] {
                let text = std::fs::read_to_string(dir.join(format!("cn-{y}.json"))).unwrap();
                let file: File = serde_json::from_str(&text).unwrap();
                let off: std::collections::BTreeMap<NaiveDate, &str> = file
                    .days
                    .iter()
                    .filter(|e| e.is_off_day)
                    .map(|e| (d(&e.date), e.name.as_str()))
                    .collect();
                let ours = year(y);
                assert_eq!(ours.len(), count, "{y}: {ours:?}");
                for (date, name) in ours {
                    let theirs = off.get(date);
                    assert!(
                        theirs.is_some_and(|t| name.split('、').any(|n| t.contains(n))),
                        "{y}: {date} {name} is not a day off in holiday-cn ({theirs:?})"
                    );
                }
                for n in off.values().flat_map(|n| n.split('、')) {
                    assert!(ours.iter().any(|(_, o)| o.contains(n)), "{y}: {n}");
                }
            }
        }

        #[test]
        fn the_rules_in_force_each_year() {
            let spring = |y| -> Vec<NaiveDate> {
                year(y)
                    .iter()
                    .filter(|(_, n)| *n == "春节")
                    .map(|(d, _)| *d)
                    .collect()
            };
            // 2013: eve, 1st, 2nd (new year's day 10 February).
            assert_eq!(
                spring(2013),
                vec![d("2013-02-09"), d("2013-02-10"), d("2013-02-11")]
            );
            // 2024: 1st to 3rd (10 February).
            assert_eq!(
                spring(2024),
                vec![d("2024-02-10"), d("2024-02-11"), d("2024-02-12")]
            );
            // 2027: eve and 1st to 3rd (6 February).
            assert_eq!(
                spring(2027),
                vec![
                    d("2027-02-05"),
                    d("2027-02-06"),
                    d("2027-02-07"),
                    d("2027-02-08")
                ]
            );
            assert_eq!(holiday(d("2027-05-02")), Some("劳动节"));
            assert_eq!(holiday(d("2024-05-02")), None);
            // 2028: Mid-Autumn on 3 October, one day under both names.
            assert_eq!(holiday(d("2028-10-03")), Some("国庆节、中秋节"));
            assert_eq!(year(2028).len(), 12);
            assert!(year(2007).is_empty());
            assert_eq!(year(9999).len(), 13);
            assert!(year(10000).is_empty());
        }
    }
}
