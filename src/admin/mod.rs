//! The admin API (`/admin/*`): what operators need to see and steer the
//! cluster, answered from the Redis registries (never by asking every node)
//! and acting through the cross-node fan-out.
//!
//! Routes (`routes.rs`): `GET /admin/stats`, `GET /admin/sessions`,
//! `POST /admin/users/{userId}/disconnect`, `POST /admin/broadcast`, and
//! the reply cache's `GET /admin/cache/stats`, `POST /admin/cache/invalidate`.

pub mod console;
pub mod routes;
pub mod service;
