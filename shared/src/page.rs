//! Pagination: `?page=1&per_page=50`, answered as `{"items": [...], "page", "per_page", "total"}`.

use crate::problem::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};

pub const MAX_PER_PAGE: i64 = 500;

#[derive(Debug, Clone, Copy, Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// 1-based page number.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Items per page (1..=500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub per_page: Option<i64>,
}

impl PageQuery {
    /// `(limit, offset)` after validation.
    pub fn limit_offset(&self) -> Result<(i64, i64), ApiError> {
        let page = self.page.unwrap_or(1);
        let per_page = self.per_page.unwrap_or(50);
        if !(1..=1_000_000).contains(&page) {
            return Err(ApiError::field(
                ErrorCode::InvalidQuery,
                "page",
                "must be between 1 and 1000000",
            ));
        }
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(ApiError::field(
                ErrorCode::InvalidQuery,
                "per_page",
                format!("must be between 1 and {MAX_PER_PAGE}"),
            ));
        }
        Ok((per_page, (page - 1) * per_page))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
}

impl<T> Page<T> {
    pub fn new(items: Vec<T>, (limit, offset): (i64, i64), total: i64) -> Self {
        Self {
            items,
            page: offset / limit + 1,
            per_page: limit,
            total,
        }
    }
}
