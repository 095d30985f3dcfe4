//! OpenSSL's legacy PEM encryption (`Proc-Type: 4,ENCRYPTED` + `DEK-Info`), as step-ca and
//! `openssl ec/rsa -aes256` write it: the key comes from `EVP_BytesToKey` with MD5, one
//! iteration, and the first 8 bytes of the IV as salt.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockCipherDecrypt, BlockModeDecrypt, KeyIvInit};
use md5::{Digest, Md5};
use zeroize::Zeroizing;

use crate::{Cipher, KeyError, Password};

/// The `DEK-Info` of a legacy encrypted PEM block: cipher and IV.
#[derive(Debug)]
pub(crate) struct DekInfo {
    pub(crate) cipher: Cipher,
    iv: [u8; 16],
}

impl DekInfo {
    /// Parses `AES-256-CBC,0123...` (the value of the `DEK-Info` header). DES and 3DES are
    /// refused with [`KeyError::UnsupportedLegacyCipher`].
    pub(crate) fn parse(value: &str) -> Result<Self, KeyError> {
        let (name, iv_hex) = value
            .split_once(',')
            .ok_or_else(|| KeyError::Malformed(format!("DEK-Info {value:?} has no IV")))?;
        let name = name.trim();
        let cipher = match name.to_ascii_uppercase().as_str() {
            "AES-128-CBC" => Cipher::Aes128Cbc,
            "AES-192-CBC" => Cipher::Aes192Cbc,
            "AES-256-CBC" => Cipher::Aes256Cbc,
            _ => return Err(KeyError::UnsupportedLegacyCipher(name.to_owned())),
        };
        let iv = decode_hex(iv_hex.trim())
            .and_then(|iv| <[u8; 16]>::try_from(iv).ok())
            .ok_or_else(|| {
                KeyError::Malformed(format!("DEK-Info IV {iv_hex:?} is not 16 hex bytes"))
            })?;
        Ok(Self { cipher, iv })
    }

    /// Decrypts the PEM body. A wrong password shows up as bad padding.
    pub(crate) fn decrypt(
        &self,
        password: &Password,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let key = evp_bytes_to_key(password.as_bytes(), &self.iv[..8], self.cipher.key_len());
        let plain = match self.cipher {
            Cipher::Aes128Cbc => cbc_decrypt::<aes::Aes128>(&key, &self.iv, ciphertext),
            Cipher::Aes192Cbc => cbc_decrypt::<aes::Aes192>(&key, &self.iv, ciphertext),
            Cipher::Aes256Cbc => cbc_decrypt::<aes::Aes256>(&key, &self.iv, ciphertext),
        }?;
        Ok(Zeroizing::new(plain))
    }
}

fn cbc_decrypt<C>(key: &[u8], iv: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, KeyError>
where
    C: BlockCipherDecrypt,
    cbc::Decryptor<C>: KeyIvInit + BlockModeDecrypt,
{
    cbc::Decryptor::<C>::new_from_slices(key, iv)
        .map_err(|_| KeyError::Malformed("legacy PEM key or IV length".into()))?
        .decrypt_padded_vec::<Pkcs7>(ciphertext)
        .map_err(|_| KeyError::WrongPassword)
}

/// OpenSSL's `EVP_BytesToKey(cipher, EVP_md5(), salt, password, count = 1)`.
fn evp_bytes_to_key(password: &[u8], salt: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    let mut key = Zeroizing::new(Vec::with_capacity(len + 16));
    let mut previous: Option<Zeroizing<Vec<u8>>> = None;
    while key.len() < len {
        let mut md5 = Md5::new();
        if let Some(previous) = &previous {
            md5.update(previous.as_slice());
        }
        md5.update(password);
        md5.update(salt);
        let block = Zeroizing::new(md5.finalize().to_vec());
        key.extend_from_slice(&block);
        previous = Some(block);
    }
    key.truncate(len);
    key
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dek_info_names_ciphers_and_refuses_des() {
        let iv = "012738AA5F159CFF1B32511C1D29BCE8";
        assert_eq!(
            DekInfo::parse(&format!("AES-192-CBC,{iv}")).unwrap().cipher,
            Cipher::Aes192Cbc
        );
        for des in ["DES-CBC,E2C4C65A352DD9CC", "DES-EDE3-CBC,4C84DAF9EE70BBE8"] {
            assert!(matches!(
                DekInfo::parse(des),
                Err(KeyError::UnsupportedLegacyCipher(_))
            ));
        }
        assert!(matches!(
            DekInfo::parse("AES-128-CBC,0123"),
            Err(KeyError::Malformed(_))
        ));
    }
}
