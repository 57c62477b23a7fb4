//! (being written)

use axum::Router;

use super::App;

pub fn routes() -> Router<App> {
    Router::new()
}
