//! The SPICE ticket: `password + NUL` encrypted with RSA-OAEP (SHA-1, MGF1-SHA-1)
//! under the server's 1024-bit key.

use super::LinkError;
use crate::proto::consts::{SPICE_MAX_PASSWORD_LENGTH, SPICE_TICKET_BYTES};
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, RsaPrivateKey, RsaPublicKey};

/// Refuses passwords SPICE cannot carry (hostile-inputs row 7).
pub fn check_password(password: &[u8]) -> Result<(), LinkError> {
    if password.len() > SPICE_MAX_PASSWORD_LENGTH {
        return Err(LinkError::PasswordTooLong { len: password.len() });
    }
    Ok(())
}

/// Encrypts `password + NUL` with the server's SubjectPublicKeyInfo (DER).
pub fn encrypt_ticket(server_spki_der: &[u8], password: &[u8]) -> Result<Vec<u8>, LinkError> {
    check_password(password)?;
    let key = RsaPublicKey::from_public_key_der(server_spki_der).map_err(|e| LinkError::BadServerKey(e.to_string()))?;
    if key.size() != SPICE_TICKET_BYTES {
        return Err(LinkError::BadServerKey(format!(
            "key is {} bits, SPICE uses 1024",
            key.size().saturating_mul(8)
        )));
    }
    let mut plain = Vec::with_capacity(password.len() + 1);
    plain.extend_from_slice(password);
    plain.push(0);
    let mut rng = rand_core::OsRng;
    key.encrypt(&mut rng, Oaep::new::<sha1::Sha1>(), &plain)
        .map_err(|e| LinkError::Crypto(e.to_string()))
}

/// Server side: decrypts a ticket and returns the password bytes before the NUL.
pub fn decrypt_ticket(key: &RsaPrivateKey, ticket: &[u8]) -> Option<Vec<u8>> {
    let plain = key.decrypt(Oaep::new::<sha1::Sha1>(), ticket).ok()?;
    let end = plain.iter().position(|&b| b == 0)?;
    plain.get(..end).map(<[u8]>::to_vec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs8::EncodePublicKey;

    #[test]
    fn round_trip_1024() {
        let mut rng = rand_core::OsRng;
        let key = RsaPrivateKey::new(&mut rng, 1024).unwrap();
        let der = key.to_public_key().to_public_key_der().unwrap();
        assert_eq!(der.as_bytes().len(), crate::proto::consts::SPICE_TICKET_PUBKEY_BYTES);
        let t = encrypt_ticket(der.as_bytes(), b"s3cret").unwrap();
        assert_eq!(t.len(), 128);
        assert_eq!(decrypt_ticket(&key, &t).unwrap(), b"s3cret");
    }

    #[test]
    fn long_password_refused_locally() {
        let pw = [b'a'; 61];
        assert!(matches!(
            encrypt_ticket(&[0; 162], &pw),
            Err(LinkError::PasswordTooLong { len: 61 })
        ));
        assert!(check_password(&[b'a'; 60]).is_ok());
    }

    #[test]
    fn garbage_key_refused() {
        assert!(matches!(
            encrypt_ticket(&[0xAB; 162], b"x"),
            Err(LinkError::BadServerKey(_))
        ));
    }
}
