//! Bytes read from a log into lines: split at `\n` (a `\r` before it dropped), a line cut by a
//! read kept until its end arrives, and what is not a line the rules can see (longer than
//! [`MAX_LINE`], or not UTF-8) reported once and skipped. Memory stays bounded: a line past the
//! limit is not kept while the rest of it is read.

/// The longest line looked at; a longer one is skipped (counted as `too_long`).
pub const MAX_LINE: usize = 64 * 1024;

/// A piece of a log.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    Line(&'a str),
    TooLong,
    BadUtf8,
}

/// The line being cut, across reads.
#[derive(Debug, Default)]
pub struct Lines {
    partial: Vec<u8>,
    /// Inside a line already reported as too long: drop bytes until its end.
    skipping: bool,
}

impl Lines {
    /// Starts in the middle of a line (reading from the end of a file that does not end with a
    /// newline): its rest is not a line.
    pub fn mid_line() -> Lines {
        Lines {
            partial: Vec::new(),
            skipping: true,
        }
    }

    /// Cuts `chunk` into lines, handing each complete one to `each`. The common case, a line
    /// wholly inside `chunk`, is handed out in place, not copied.
    pub fn feed(&mut self, chunk: &[u8], mut each: impl FnMut(Piece<'_>)) {
        let mut rest = chunk;
        while let Some(newline) = memchr::memchr(b'\n', rest) {
            let line = &rest[..newline];
            rest = &rest[newline + 1..];
            if self.skipping {
                self.skipping = false;
            } else if self.partial.is_empty() {
                each(piece(line));
            } else if self.partial.len() + line.len() > MAX_LINE {
                self.partial.clear();
                each(Piece::TooLong);
            } else {
                self.partial.extend_from_slice(line);
                each(piece(&self.partial));
                self.partial.clear();
            }
        }
        if self.skipping || rest.is_empty() {
            return;
        }
        if self.partial.len() + rest.len() > MAX_LINE {
            self.partial.clear();
            self.skipping = true;
            each(Piece::TooLong);
        } else {
            self.partial.extend_from_slice(rest);
        }
    }

    /// The end of a file that will not grow again (rotated away): a last line without its
    /// newline is still a line.
    pub fn finish(&mut self, each: impl FnOnce(Piece<'_>)) {
        if !self.skipping && !self.partial.is_empty() {
            each(piece(&self.partial));
        }
        self.partial.clear();
        self.skipping = false;
    }
}

fn piece(line: &[u8]) -> Piece<'_> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() > MAX_LINE {
        return Piece::TooLong;
    }
    match std::str::from_utf8(line) {
        Ok(text) => Piece::Line(text),
        Err(_) => Piece::BadUtf8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(lines: &mut Lines, chunks: &[&[u8]]) -> Vec<String> {
        let mut out = Vec::new();
        for chunk in chunks {
            lines.feed(chunk, |p| out.push(format!("{p:?}")));
        }
        out
    }

    #[test]
    fn lines_cut_across_reads_are_joined_and_crlf_is_one_end() {
        let mut lines = Lines::default();
        let out = cut(&mut lines, &[b"a\r\nb", b"c\n\nd"]);
        assert_eq!(out, ["Line(\"a\")", "Line(\"bc\")", "Line(\"\")"]);
        let mut last = Vec::new();
        lines.finish(|p| last.push(format!("{p:?}")));
        assert_eq!(last, ["Line(\"d\")"]);
    }

    #[test]
    fn an_overlong_line_is_reported_once_and_the_next_line_is_whole() {
        let big = vec![b'x'; MAX_LINE + 1];
        let mut lines = Lines::default();
        let out = cut(&mut lines, &[&big[..10], &big[10..], &big[..5], b"\nok\n"]);
        assert_eq!(out, ["TooLong", "Line(\"ok\")"]);
        let mut whole = big.clone();
        whole.extend_from_slice(b"\nok\n");
        assert_eq!(
            cut(&mut Lines::default(), &[&whole]),
            ["TooLong", "Line(\"ok\")"]
        );
    }

    #[test]
    fn bad_utf8_is_reported_and_starting_mid_line_skips_to_the_next() {
        assert_eq!(
            cut(&mut Lines::default(), &[b"\xff\xfe\nok\n"]),
            ["BadUtf8", "Line(\"ok\")"]
        );
        assert_eq!(
            cut(&mut Lines::mid_line(), &[b"tail of one\nnext\n"]),
            ["Line(\"next\")"]
        );
    }
}
