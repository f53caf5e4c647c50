//! Standard output for commands. Output is line-buffered, so `tail` shows each
//! frame as it comes even through a pipe.

use std::io::{self, Write};

/// Where a command writes its results.
pub struct Out {
    w: Box<dyn Write>,
}

impl Out {
    /// Standard output.
    pub fn stdout() -> Out {
        Out {
            w: Box::new(io::LineWriter::new(io::stdout())),
        }
    }

    /// Writes `s` and a newline.
    pub fn line(&mut self, s: &str) -> io::Result<()> {
        self.w.write_all(s.as_bytes())?;
        self.w.write_all(b"\n")
    }

    /// Writes `s` as is.
    pub fn write(&mut self, s: &str) -> io::Result<()> {
        self.w.write_all(s.as_bytes())
    }

    /// Writes raw bytes.
    pub fn bytes(&mut self, b: &[u8]) -> io::Result<()> {
        self.w.write_all(b)
    }

    /// Flushes.
    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}
