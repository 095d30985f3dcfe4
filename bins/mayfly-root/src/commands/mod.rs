//! One module per command group.

pub mod ceremony;
pub mod change_pass;
pub mod crl;
pub mod index;
pub mod init;
pub mod password;
pub mod sign;
