//! Change notifications.
