//! Study-day and calendar-month arithmetic, and nothing else.
//!
//! Study day 1 is the start date; there is no day 0, so day N is start + (N - 1) days.
//! Month steps are counted from a base date (never chained from the previous step) and
//! clamp to the last day of a shorter month: 2026-11-30 + 3 months is 2027-02-28.

use chrono::{Datelike, Days, Months, NaiveDate, Weekday};

/// The date of study day `day` (1-based) for a patient starting on `start`.
/// `None` when the date would fall outside the calendar chrono can represent.
pub fn date_of_day(start: NaiveDate, day: u32) -> Option<NaiveDate> {
    debug_assert!(day >= 1, "study days start at 1");
    start
        .checked_add_days(Days::new(u64::from(day.saturating_sub(1))))
        .filter(in_range)
}

/// Dates must print as YYYY-MM-DD in every output, so years stay within 1 to 9999.
fn in_range(date: &NaiveDate) -> bool {
    (1..=9999).contains(&date.year())
}

/// The study day (1-based) on which `date` falls for a patient starting on `start`.
pub fn day_of_date(start: NaiveDate, date: NaiveDate) -> i64 {
    i64::from(date.num_days_from_ce()) - i64::from(start.num_days_from_ce()) + 1
}

/// `base` plus `months` calendar months, clamped to the end of a shorter month.
pub fn add_months(base: NaiveDate, months: u32) -> Option<NaiveDate> {
    base.checked_add_months(Months::new(months))
        .filter(in_range)
}

/// The date and study day of a month step: `months` calendar months after study day
/// `base_day`. When that date falls past the calendar, `Err` holds the study day it
/// would have been (for the message), not the base day.
pub fn month_step(start: NaiveDate, base_day: u32, months: u32) -> Result<(NaiveDate, i64), i64> {
    let unchecked = start
        .checked_add_days(Days::new(u64::from(base_day.saturating_sub(1))))
        .and_then(|b| b.checked_add_months(Months::new(months)));
    match unchecked {
        Some(d) if in_range(&d) => Ok((d, day_of_date(start, d))),
        Some(d) => Err(day_of_date(start, d)),
        // Beyond even chrono's calendar: counted with average months.
        None => Err(i64::from(base_day) + (f64::from(months) * 30.436_875).round() as i64),
    }
}

/// `date` shifted by `delta` days, either way.
pub fn shift_days(date: NaiveDate, delta: i64) -> Option<NaiveDate> {
    if delta >= 0 {
        date.checked_add_days(Days::new(delta as u64))
    } else {
        date.checked_sub_days(Days::new(delta.unsigned_abs()))
    }
    .filter(in_range)
}

/// Three-letter English weekday, as in the CSV `weekday` column.
pub fn weekday_abbrev(date: NaiveDate) -> &'static str {
    match date.weekday() {
        Weekday::Mon => "Mon",
        Weekday::Tue => "Tue",
        Weekday::Wed => "Wed",
        Weekday::Thu => "Thu",
        Weekday::Fri => "Fri",
        Weekday::Sat => "Sat",
        Weekday::Sun => "Sun",
    }
}

/// Parses YYYY-MM-DD strictly (four-digit year, two-digit month and day, a real date).
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    let t = text.trim();
    let shape_ok = t.len() == 10
        && t.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(format!("'{text}' is not a date in the form YYYY-MM-DD"));
    }
    let num = |r: std::ops::Range<usize>| {
        t.as_bytes()[r]
            .iter()
            .fold(0u32, |n, b| n * 10 + u32::from(b - b'0'))
    };
    NaiveDate::from_ymd_opt(num(0..4) as i32, num(5..7), num(8..10))
        .ok_or_else(|| format!("'{text}' is not a real calendar date"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    #[test]
    fn day_one_is_the_start_date() {
        assert_eq!(date_of_day(d("2026-12-30"), 1), Some(d("2026-12-30")));
        assert_eq!(day_of_date(d("2026-12-30"), d("2026-12-30")), 1);
    }

    #[test]
    fn days_cross_the_year_end() {
        let s = d("2026-12-30");
        assert_eq!(date_of_day(s, 4), Some(d("2027-01-02")));
        assert_eq!(date_of_day(s, 10), Some(d("2027-01-08")));
        assert_eq!(day_of_date(s, d("2027-01-08")), 10);
    }

    #[test]
    fn leap_day_counts() {
        // 2028 is a leap year: day 2 after Feb 28 is Feb 29, day 3 is Mar 1.
        let s = d("2028-02-28");
        assert_eq!(date_of_day(s, 2), Some(d("2028-02-29")));
        assert_eq!(date_of_day(s, 3), Some(d("2028-03-01")));
        // 2027 is not.
        assert_eq!(date_of_day(d("2027-02-28"), 2), Some(d("2027-03-01")));
    }

    #[test]
    fn weekly_and_week_numbers_match_the_decisions() {
        let s = d("2026-01-01");
        let weekly: Vec<_> = [1, 8, 15, 22]
            .iter()
            .map(|&n| date_of_day(s, n).unwrap())
            .collect();
        assert_eq!(
            weekly,
            vec![
                d("2026-01-01"),
                d("2026-01-08"),
                d("2026-01-15"),
                d("2026-01-22")
            ]
        );
        // "24 weeks apart" is day 169; "week 48" is day 337.
        assert_eq!(day_of_date(s, s + chrono::Days::new(24 * 7)), 169);
        assert_eq!(day_of_date(s, s + chrono::Days::new(48 * 7)), 337);
    }

    #[test]
    fn months_clamp_to_month_end_and_do_not_chain() {
        let s = d("2026-11-30");
        let got: Vec<_> = (0..4).map(|k| add_months(s, 3 * k).unwrap()).collect();
        assert_eq!(
            got,
            vec![
                d("2026-11-30"),
                d("2027-02-28"),
                d("2027-05-30"),
                d("2027-08-30")
            ]
        );
        // Into a leap February.
        assert_eq!(add_months(d("2027-11-30"), 3), Some(d("2028-02-29")));
        assert_eq!(add_months(d("2026-01-31"), 1), Some(d("2026-02-28")));
    }

    #[test]
    fn shift_goes_both_ways() {
        assert_eq!(shift_days(d("2027-01-01"), -1), Some(d("2026-12-31")));
        assert_eq!(shift_days(d("2026-12-31"), 1), Some(d("2027-01-01")));
    }

    #[test]
    fn dates_stay_within_four_digit_years() {
        assert_eq!(date_of_day(d("9999-12-30"), 2), Some(d("9999-12-31")));
        assert_eq!(date_of_day(d("9999-12-31"), 2), None);
        assert_eq!(add_months(d("9999-11-30"), 3), None);
    }

    #[test]
    fn a_month_step_past_the_calendar_names_its_own_study_day() {
        let s = d("9999-01-01");
        assert_eq!(month_step(s, 1, 3), Ok((d("9999-04-01"), 91)));
        // Twelve months after 9999-01-01 is 10000-01-01, study day 366 (9999 is no leap year).
        assert_eq!(month_step(s, 1, 12), Err(366));
        assert_eq!(month_step(s, 11, 12), Err(376));
    }

    #[test]
    fn dates_are_parsed_strictly() {
        assert!(parse_date("2026-02-30").unwrap_err().contains("not a real"));
        assert!(parse_date("2028-02-29").is_ok());
        assert!(parse_date("2027-02-29").is_err());
        assert!(parse_date("26-1-5").unwrap_err().contains("YYYY-MM-DD"));
        assert!(parse_date("2026/01/05").is_err());
        assert_eq!(weekday_abbrev(d("2026-11-22")), "Sun");
    }
}
