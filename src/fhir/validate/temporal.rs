//! Checks of the date and time primitives (date, dateTime, instant, time) after
//! the R4 regular expressions, plus the calendar: months 01–12, days that exist
//! in their month (leap years included), hours below 24, time zones from -14:00
//! to +14:00. Each check returns why a value is wrong.

/// Why a value is wrong, for the diagnostics.
type Why = &'static str;

/// `date`: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
pub(super) fn check_date(s: &str) -> Result<(), Why> {
    let mut c = Cursor::new(s);
    c.date()?;
    c.end("expected YYYY, YYYY-MM or YYYY-MM-DD")
}

/// `dateTime`: a date of any precision, or a full date, a time and a zone.
pub(super) fn check_date_time(s: &str) -> Result<(), Why> {
    let mut c = Cursor::new(s);
    let full = c.date()?;
    if c.at_end() {
        return Ok(());
    }
    if !c.eat(b'T') {
        return Err("expected YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss+zz:zz");
    }
    if !full {
        return Err("a time needs a full date");
    }
    c.time()?;
    if c.at_end() {
        return Err("a time needs a time zone ('Z' or +hh:mm / -hh:mm)");
    }
    c.zone()?;
    c.end("unexpected text after the time zone")
}

/// `instant`: a full date, a time and a zone.
pub(super) fn check_instant(s: &str) -> Result<(), Why> {
    let mut c = Cursor::new(s);
    if !c.date()? || !c.eat(b'T') {
        return Err("an instant needs the form YYYY-MM-DDThh:mm:ss(.sss)+zz:zz");
    }
    c.time()?;
    if c.at_end() {
        return Err("an instant needs a time zone ('Z' or +hh:mm / -hh:mm)");
    }
    c.zone()?;
    c.end("unexpected text after the time zone")
}

/// `time`: `hh:mm:ss` with optional fraction, no zone.
pub(super) fn check_time(s: &str) -> Result<(), Why> {
    let mut c = Cursor::new(s);
    c.time()?;
    c.end("expected hh:mm:ss (a time of day has no time zone)")
}

/// A position in the text being read.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Cursor {
            bytes: s.as_bytes(),
            pos: 0,
        }
    }

    fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }

    fn end(&self, why: Why) -> Result<(), Why> {
        if self.at_end() { Ok(()) } else { Err(why) }
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.bytes.get(self.pos) == Some(&b);
        if hit {
            self.pos += 1;
        }
        hit
    }

    /// Exactly `n` ASCII digits, as a number.
    fn digits(&mut self, n: usize, why: Why) -> Result<u32, Why> {
        let field = self.bytes.get(self.pos..self.pos + n).ok_or(why)?;
        if !field.iter().all(u8::is_ascii_digit) {
            return Err(why);
        }
        self.pos += n;
        Ok(field
            .iter()
            .fold(0, |acc, b| acc * 10 + u32::from(b - b'0')))
    }

    /// `YYYY(-MM(-DD)?)?`; whether the day is there.
    fn date(&mut self) -> Result<bool, Why> {
        let year = self.digits(4, "the year must have four digits")?;
        if year == 0 {
            return Err("there is no year 0000");
        }
        if !self.eat(b'-') {
            return Ok(false);
        }
        let month = self.digits(2, "the month must have two digits")?;
        if !(1..=12).contains(&month) {
            return Err("the month must be 01 to 12");
        }
        if !self.eat(b'-') {
            return Ok(false);
        }
        let day = self.digits(2, "the day must have two digits")?;
        if day == 0 || day > days_in_month(year, month) {
            return Err("that day does not exist in that month");
        }
        Ok(true)
    }

    /// `hh:mm:ss(.f+)?`
    fn time(&mut self) -> Result<(), Why> {
        const FORM: Why = "the time must be hh:mm:ss with an optional fraction";
        let hour = self.digits(2, FORM)?;
        if !self.eat(b':') {
            return Err(FORM);
        }
        let minute = self.digits(2, FORM)?;
        if !self.eat(b':') {
            return Err(FORM);
        }
        let second = self.digits(2, FORM)?;
        if hour > 23 {
            return Err("the hour must be 00 to 23");
        }
        if minute > 59 {
            return Err("the minutes must be 00 to 59");
        }
        if second > 60 {
            return Err("the seconds must be 00 to 60");
        }
        if self.eat(b'.') {
            let start = self.pos;
            while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                self.pos += 1;
            }
            if self.pos == start {
                return Err("a fraction of a second needs digits after the '.'");
            }
        }
        Ok(())
    }

    /// `Z|(+|-)hh:mm`, from -14:00 to +14:00.
    fn zone(&mut self) -> Result<(), Why> {
        const FORM: Why = "the time zone must be 'Z' or +hh:mm / -hh:mm";
        if self.eat(b'Z') {
            return Ok(());
        }
        if !self.eat(b'+') && !self.eat(b'-') {
            return Err(FORM);
        }
        let hours = self.digits(2, FORM)?;
        if !self.eat(b':') {
            return Err(FORM);
        }
        let minutes = self.digits(2, FORM)?;
        if minutes > 59 || hours > 14 || (hours == 14 && minutes > 0) {
            return Err("the time zone must be between -14:00 and +14:00");
        }
        Ok(())
    }
}

/// The number of days of a month, in the types this module reads dates in.
fn days_in_month(year: u32, month: u32) -> u32 {
    crate::fhir::calendar::days_in_month(i64::from(year), i64::from(month)) as u32
}
