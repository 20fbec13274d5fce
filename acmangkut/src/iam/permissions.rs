//! Permissions in handler signatures: one marker type per permission of the catalog
//! ([`shared::permissions`]), so the permission a handler needs is written in its signature:
//! `Authorized<perm::MonitorsWrite>`.

use shared::permissions::Permission;

/// What a marker type stands for; `None` means "signed in" without a specific permission.
pub trait Needs {
    const PERMISSION: Option<Permission>;
}

macro_rules! markers {
    ($( $variant:ident = $name:literal, $desc:literal, $zh:literal; )*) => {
        /// One marker type per permission, for handler signatures.
        pub mod perm {
            $(
                #[doc = concat!("Needs `", $name, "`.")]
                #[derive(Debug)]
                pub struct $variant;
                impl super::Needs for $variant {
                    const PERMISSION: Option<shared::permissions::Permission> =
                        Some(shared::permissions::Permission::$variant);
                }
            )*
            /// Any authenticated caller (sign-out, "who am I").
            #[derive(Debug)]
            pub struct SignedIn;
            impl super::Needs for SignedIn {
                const PERMISSION: Option<shared::permissions::Permission> = None;
            }
        }
    };
}
shared::with_permission_catalog!(markers);
