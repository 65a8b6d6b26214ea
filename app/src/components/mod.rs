//! Reusable pieces: the app layout, badges, panels, state views.
pub mod layout;
pub mod ui;
