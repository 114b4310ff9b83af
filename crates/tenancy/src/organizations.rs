//! Organizations: the tenants every other record belongs to.

use chrono::{DateTime, Utc};
use db::{AsyncPgConnection, schema::organizations};
use diesel::{OptionalExtension, prelude::*};
use diesel_async::RunQueryDsl;
use primitives::OrganizationId;
use uuid::Uuid;

use crate::{BillingEmail, OrganizationName, TenancyError};

/// A customer organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: OrganizationId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// Where billing notices go; without one they are only logged.
    pub billing_email: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = organizations, check_for_backend(diesel::pg::Pg))]
struct OrganizationRow {
    id: Uuid,
    name: String,
    created_at: DateTime<Utc>,
    billing_email: Option<String>,
}

impl From<OrganizationRow> for Organization {
    fn from(row: OrganizationRow) -> Self {
        Self {
            id: OrganizationId::from_uuid(row.id),
            name: row.name,
            created_at: row.created_at,
            billing_email: row.billing_email,
        }
    }
}

/// Creates an organization with a validated, trimmed name.
///
/// `id` lets a caller that already knows the id (an import, a retried request) choose it; a
/// fresh time-ordered id is used otherwise. A taken id is [`TenancyError::OrganizationExists`].
pub async fn create_organization(
    conn: &mut AsyncPgConnection,
    id: Option<OrganizationId>,
    name: &str,
) -> Result<Organization, TenancyError> {
    let name = OrganizationName::parse(name)?;
    let id = id.unwrap_or_default();
    // ON CONFLICT DO NOTHING rather than catching the unique violation: a failed statement
    // would abort the caller's surrounding transaction.
    let row = diesel::insert_into(organizations::table)
        .values((
            organizations::id.eq(id.as_uuid()),
            organizations::name.eq(name.as_str()),
        ))
        .on_conflict_do_nothing()
        .returning(OrganizationRow::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    row.map(Organization::from)
        .ok_or(TenancyError::OrganizationExists(id))
}

/// Loads one organization.
pub async fn get_organization(
    conn: &mut AsyncPgConnection,
    id: OrganizationId,
) -> Result<Organization, TenancyError> {
    organizations::table
        .find(id.as_uuid())
        .select(OrganizationRow::as_select())
        .first(conn)
        .await
        .optional()?
        .map(Organization::from)
        .ok_or(TenancyError::OrganizationNotFound(id))
}

/// Sets (or with `None` removes) the address billing notices go to.
pub async fn set_billing_email(
    conn: &mut AsyncPgConnection,
    id: OrganizationId,
    email: Option<&BillingEmail>,
) -> Result<Organization, TenancyError> {
    diesel::update(organizations::table.find(id.as_uuid()))
        .set(organizations::billing_email.eq(email.map(BillingEmail::as_str)))
        .returning(OrganizationRow::as_returning())
        .get_result(conn)
        .await
        .optional()?
        .map(Organization::from)
        .ok_or(TenancyError::OrganizationNotFound(id))
}

/// Whether the organization exists, without loading it.
pub(crate) async fn organization_exists(
    conn: &mut AsyncPgConnection,
    id: OrganizationId,
) -> Result<bool, TenancyError> {
    let exists = diesel::select(diesel::dsl::exists(
        organizations::table.filter(organizations::id.eq(id.as_uuid())),
    ))
    .get_result(conn)
    .await?;
    Ok(exists)
}
