//! `/api/v1/credentials/*` (status, new, set and its alias seed, reauth, exchange, distribute,
//! pool, pool/rebalance). [`CredentialError`] converts into the one [`ApiError`] here. No
//! response carries a secret.

use super::CredentialError;
use super::Credentials;
use crate::edge::error::ApiError;
use crate::hub::extract::ApiJson;
use axum::{extract::State, Json};
use protocol::credentials::{
    AccountAdded, AccountStatus, DistributeRequest, DistributeResponse, ExchangeRequest,
    ExchangeResponse, NewAccountRequest, Ok as OkResponse, PoolResponse, ReauthRequest,
    ReauthResponse, RebalanceRequest, RebalanceResponse, SetTokenRequest,
};
use protocol::ErrorEnvelope;
use std::sync::Arc;

/// The broker's errors over HTTP: the caller's mistake, or the state file's failure.
impl From<CredentialError> for ApiError {
    fn from(err: CredentialError) -> Self {
        match err {
            CredentialError::Store(_) => Self::Internal(err.to_string()),
            _ => Self::BadRequest(err.to_string()),
        }
    }
}

type Reply<T> = Result<Json<T>, ApiError>;

/// Every account with its status, ordered by name.
#[utoipa::path(
    get, path = "/api/v1/credentials/status", tag = "credentials",
    responses((status = 200, body = Vec<AccountStatus>), (status = 401, body = ErrorEnvelope))
)]
pub async fn status(State(credentials): State<Arc<Credentials>>) -> Json<Vec<AccountStatus>> {
    Json(credentials.broker.status())
}

/// Add an account at runtime (persisted).
#[utoipa::path(
    post, path = "/api/v1/credentials/new", tag = "credentials",
    request_body = NewAccountRequest,
    responses(
        (status = 200, body = AccountAdded),
        (status = 400, description = "empty or duplicate name, empty or hostile provider, bad env_key", body = ErrorEnvelope),
    )
)]
pub async fn new_account(
    State(credentials): State<Arc<Credentials>>,
    ApiJson(body): ApiJson<NewAccountRequest>,
) -> Reply<AccountAdded> {
    Ok(Json(credentials.add(body).await?))
}

/// Store an account's key (and optionally its refresh token and lifetime).
#[utoipa::path(
    post, path = "/api/v1/credentials/set", tag = "credentials",
    request_body = SetTokenRequest,
    responses((status = 200, body = OkResponse), (status = 400, description = "unknown account", body = ErrorEnvelope))
)]
pub async fn set(
    State(credentials): State<Arc<Credentials>>,
    ApiJson(body): ApiJson<SetTokenRequest>,
) -> Reply<OkResponse> {
    credentials.set(body).await?;
    Ok(Json(OkResponse { ok: true }))
}

/// Alias of `set`, for coop's clients (docs/coop-protocol.md).
#[utoipa::path(
    post, path = "/api/v1/credentials/seed", tag = "credentials",
    request_body = SetTokenRequest,
    responses((status = 200, body = OkResponse), (status = 400, description = "unknown account", body = ErrorEnvelope))
)]
pub async fn seed(
    state: State<Arc<Credentials>>,
    body: ApiJson<SetTokenRequest>,
) -> Reply<OkResponse> {
    set(state, body).await
}

/// Start OAuth reauth: the device flow, else PKCE (finish with `exchange`).
#[utoipa::path(
    post, path = "/api/v1/credentials/reauth", tag = "credentials",
    request_body = ReauthRequest,
    responses((status = 200, body = ReauthResponse), (status = 400, body = ErrorEnvelope))
)]
pub async fn start_reauth(
    State(credentials): State<Arc<Credentials>>,
    ApiJson(body): ApiJson<ReauthRequest>,
) -> Reply<ReauthResponse> {
    Ok(Json(credentials.reauth(body).await?))
}

/// Finish a PKCE reauth with the code the user pasted.
#[utoipa::path(
    post, path = "/api/v1/credentials/exchange", tag = "credentials",
    request_body = ExchangeRequest,
    responses((status = 200, body = ExchangeResponse), (status = 400, description = "unknown or expired state", body = ErrorEnvelope))
)]
pub async fn exchange(
    State(credentials): State<Arc<Credentials>>,
    ApiJson(body): ApiJson<ExchangeRequest>,
) -> Reply<ExchangeResponse> {
    credentials.exchange(body).await?;
    Ok(Json(ExchangeResponse { completed: true }))
}

/// Push an account to every eligible session now (waits until done).
#[utoipa::path(
    post, path = "/api/v1/credentials/distribute", tag = "credentials",
    request_body = DistributeRequest,
    responses((status = 200, body = DistributeResponse), (status = 400, description = "no key for the account", body = ErrorEnvelope))
)]
pub async fn distribute(
    State(credentials): State<Arc<Credentials>>,
    ApiJson(body): ApiJson<DistributeRequest>,
) -> Reply<DistributeResponse> {
    Ok(Json(credentials.distribute(body).await?))
}

/// Accounts with their session counts.
#[utoipa::path(
    get, path = "/api/v1/credentials/pool", tag = "credentials",
    responses((status = 200, body = PoolResponse), (status = 401, body = ErrorEnvelope))
)]
pub async fn pool(State(credentials): State<Arc<Credentials>>) -> Json<PoolResponse> {
    Json(credentials.pool.response(&credentials.broker))
}

/// Move sessions to the least-loaded accounts (all, or those of `from_account`). As with
/// coop, an account no session is assigned to (an unknown one included) moves nothing:
/// `{"rebalanced":0,"failed":0}`.
#[utoipa::path(
    post, path = "/api/v1/credentials/pool/rebalance", tag = "credentials",
    request_body = RebalanceRequest,
    responses((status = 200, body = RebalanceResponse), (status = 400, body = ErrorEnvelope))
)]
pub async fn rebalance(
    State(credentials): State<Arc<Credentials>>,
    ApiJson(body): ApiJson<RebalanceRequest>,
) -> Reply<RebalanceResponse> {
    let (rebalanced, failed) = credentials
        .distributor
        .rebalance(body.from_account.as_deref())
        .await;
    Ok(Json(RebalanceResponse { rebalanced, failed }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn broker_errors_are_the_callers_but_a_store_failure() {
        let unknown = ApiError::from(CredentialError::UnknownAccount("nope".to_owned()));
        assert_eq!(
            unknown.status_and_code(),
            (StatusCode::BAD_REQUEST, "BAD_REQUEST")
        );
        assert_eq!(unknown.to_string(), "unknown account: nope");
        let store = ApiError::from(CredentialError::Store("disk full".to_owned()));
        assert_eq!(
            store.status_and_code(),
            (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL")
        );
    }
}
