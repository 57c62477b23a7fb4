//! (being written: the preparation steps of a dose)
