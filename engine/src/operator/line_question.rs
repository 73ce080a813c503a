//! The answers to a gate's question (approval, manual step) read line by
//! line from the terminal with `poll(2)`, so that the question can close
//! when the decision comes from elsewhere: another shell or machine decided
//! through the run's inbox, or the run is stopping.
//!
//! The terminal stays in its ordinary (canonical) mode: the line
//! discipline edits and echoes, a read returns one whole line, and the
//! cursor is never hidden, so closing a question restores nothing but the
//! input typed so far, which is discarded (`tcflush`). A menu is answered
//! with its number, a word of the choice, or Enter for the default; arrow
//! keys and `j`/`k` move from the default, as in a menu.

use std::os::fd::AsRawFd;

use crate::terminal_text::printable;

/// How often the question looks at whether it is closed, while idle.
const LOOK_EVERY_MS: i32 = 200;

/// Why a question ended without an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Closed from elsewhere, with the line to show (none if empty).
    Closed(String),
    /// The terminal went away, or the operator is interrupting the run.
    Gone,
}

/// Reads answers from stdin while asking `closed` (every
/// [`LOOK_EVERY_MS`] of silence) whether the question still stands.
pub struct LineQuestion<'a> {
    /// `Some(line)`: close the question and show `line`.
    pub closed: &'a dyn Fn() -> Option<String>,
    /// True while the run asks something else (the Ctrl-C question): this
    /// question gives the terminal up.
    pub yield_terminal: &'a dyn Fn() -> bool,
}

impl LineQuestion<'_> {
    /// One line, without its end; `None`-free: an ended question says why.
    pub fn line(&self, prompt: &str) -> Result<String, Ended> {
        write_err(prompt);
        let fd = std::io::stdin().as_raw_fd();
        let mut bytes = Vec::new();
        loop {
            if (self.yield_terminal)() {
                return Err(Ended::Gone);
            }
            let mut pollfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one pollfd we own, for the duration of the call.
            let ready = unsafe { libc::poll(&mut pollfd, 1, LOOK_EVERY_MS) };
            if ready > 0 {
                let mut chunk = [0u8; 1024];
                // SAFETY: reads into a buffer we own, at most its length.
                let n = unsafe { libc::read(fd, chunk.as_mut_ptr().cast(), chunk.len()) };
                if n <= 0 {
                    if n < 0
                        && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
                    {
                        continue;
                    }
                    return Err(Ended::Gone);
                }
                bytes.extend_from_slice(&chunk[..n as usize]);
                if let Some(end) = bytes.iter().position(|b| *b == b'\n') {
                    let line = String::from_utf8_lossy(&bytes[..end]).into_owned();
                    return Ok(line.trim_end_matches('\r').to_string());
                }
                continue;
            }
            if ready < 0
                && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
            {
                return Err(Ended::Gone);
            }
            if let Some(shown) = (self.closed)() {
                // What was typed for this question is not for the next one.
                // SAFETY: tcflush on stdin discards its unread input only.
                unsafe { libc::tcflush(fd, libc::TCIFLUSH) };
                if !shown.is_empty() {
                    write_err(&format!("\n{}\n", printable(&shown)));
                }
                return Err(Ended::Closed(shown));
            }
        }
    }

    /// Free text with a default (Enter takes it); `check` refuses an
    /// answer with a message, and the question is asked again.
    pub fn text(
        &self,
        prompt: &str,
        default: Option<&str>,
        check: &dyn Fn(&str) -> Result<(), String>,
    ) -> Result<String, Ended> {
        loop {
            let shown = match default {
                Some(d) if !d.is_empty() => format!("{prompt} [{}]: ", printable(d)),
                _ => format!("{prompt}: "),
            };
            let answer = self.line(&shown)?;
            let answer = answer.trim();
            let answer = match default {
                Some(d) if answer.is_empty() => d.to_string(),
                _ => answer.to_string(),
            };
            match check(&answer) {
                Ok(()) => return Ok(answer),
                Err(e) => write_err(&format!("{}\n", printable(&e))),
            }
        }
    }

    /// A menu: the index of the chosen item.
    pub fn choose(&self, prompt: &str, items: &[&str], default: usize) -> Result<usize, Ended> {
        let mut menu = format!("{prompt}:\n");
        for (i, item) in items.iter().enumerate() {
            let mark = if i == default { '>' } else { ' ' };
            menu.push_str(&format!("  {mark} {}) {item}\n", i + 1));
        }
        write_err(&menu);
        loop {
            let answer = self.line(&format!("{prompt} [{}]: ", default + 1))?;
            match pick(&answer, items, default) {
                Some(i) => return Ok(i),
                None => write_err(&format!(
                    "answer 1 to {}, a word of the choice, or Enter for {}\n",
                    items.len(),
                    default + 1
                )),
            }
        }
    }

    /// Yes or no; Enter is `default`.
    pub fn confirm(&self, prompt: &str, default: bool) -> Result<bool, Ended> {
        loop {
            let hint = if default { "[Y/n]" } else { "[y/N]" };
            let answer = self.line(&format!("{prompt} {hint}: "))?;
            match answer.trim().to_ascii_lowercase().as_str() {
                "" => return Ok(default),
                "y" | "yes" => return Ok(true),
                "n" | "no" => return Ok(false),
                _ => write_err("answer y or n\n"),
            }
        }
    }
}

/// The item an answer picks: a number, moves from the default (arrow keys,
/// `j`/`k`), or the start of an item's words; `None` if none.
fn pick(answer: &str, items: &[&str], default: usize) -> Option<usize> {
    let a = answer.trim();
    if a.is_empty() {
        return Some(default);
    }
    if let Ok(n) = a.parse::<usize>() {
        return (1..=items.len()).contains(&n).then(|| n - 1);
    }
    let moves = a.replace("\u{1b}[B", "j").replace("\u{1b}[A", "k");
    if moves.chars().all(|c| c == 'j' || c == 'k') {
        let mut i = default as i64;
        for c in moves.chars() {
            i += if c == 'j' { 1 } else { -1 };
        }
        return Some(i.clamp(0, items.len() as i64 - 1) as usize);
    }
    let a = a.to_lowercase();
    let found: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, item)| item.to_lowercase().starts_with(&a))
        .map(|(i, _)| i)
        .collect();
    match found.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

fn write_err(text: &str) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

#[cfg(test)]
mod tests {
    use super::pick;

    #[test]
    fn a_menu_answer_is_a_number_a_move_or_a_word() {
        let items = ["approve", "reject", "decide later"];
        assert_eq!(pick("", &items, 0), Some(0));
        assert_eq!(pick("2", &items, 0), Some(1));
        assert_eq!(pick("4", &items, 0), None);
        assert_eq!(pick("\u{1b}[B", &items, 0), Some(1));
        assert_eq!(pick("jj", &items, 0), Some(2));
        assert_eq!(pick("jjjj", &items, 0), Some(2));
        assert_eq!(pick("rej", &items, 0), Some(1));
        assert_eq!(pick("Decide", &items, 0), Some(2));
        assert_eq!(pick("x", &items, 0), None);
    }
}
