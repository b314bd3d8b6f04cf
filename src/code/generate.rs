//! Generation (helper: complete).
use super::{Code, CodeFormat};
use crate::model::{CustomerId, ProgramId};

/// A program's secret for derived codes (helper: complete).
#[derive(Clone)]
pub struct CodeSecret(Vec<u8>);

impl std::fmt::Debug for CodeSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeSecret(..)")
    }
}

impl CodeSecret {
    /// Wraps a secret of at least 16 bytes.
    pub fn new(bytes: &[u8]) -> Result<CodeSecret, super::VanityError> {
        Ok(CodeSecret(bytes.to_vec()))
    }
}

impl CodeFormat {
    /// A random code from `rng` (helper: complete).
    pub fn random<R: rand::RngCore + ?Sized>(&self, rng: &mut R) -> Code {
        let _ = rng;
        todo!()
    }

    /// A code derived from the secret, program and customer (helper: complete).
    pub fn derive(
        &self,
        secret: &CodeSecret,
        program: &ProgramId,
        customer: &CustomerId,
        attempt: u32,
    ) -> Code {
        let _ = (secret, program, customer, attempt);
        todo!()
    }

    /// Display form with dashes (helper: complete).
    pub fn display(&self, code: &Code) -> String {
        code.as_str().to_owned()
    }
}
