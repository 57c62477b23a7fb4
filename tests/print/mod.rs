//! What prints on paper: pages rendered by headless Chromium to an A4 PDF and read back with
//! pdftotext ([`crate::common::browser`]).

mod prep;
