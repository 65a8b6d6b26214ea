//! Reusable pieces: the app layout, badges, panels, state views.
pub mod backups;
pub mod builds;
pub mod layout;
pub mod logview;
pub mod mail;
pub mod promotions;
pub mod supabase;
pub mod ui;
