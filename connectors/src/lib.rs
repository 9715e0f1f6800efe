//! Evidence sources behind one trait.
