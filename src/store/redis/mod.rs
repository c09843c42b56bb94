//! placeholder
use crate::store::StoreError;
pub async fn connect(
    _u: &str,
    _t: std::time::Duration,
) -> Result<fred::clients::Client, StoreError> {
    todo!()
}
pub async fn subscriber(
    _u: &str,
    _t: std::time::Duration,
) -> Result<fred::clients::SubscriberClient, StoreError> {
    todo!()
}
