//! Channels Sumac does not implement (smartcard today): linked, every
//! message counted and skipped.

use super::{ChannelError, Ctx, Handled, Machine, Outputs};

/// Counts and skips every channel message.
#[derive(Debug, Default)]
pub struct SkipMachine;

impl Machine for SkipMachine {
    fn message(
        &mut self,
        _msg_type: u16,
        _body: &[u8],
        _ctx: &Ctx,
        _out: &mut Outputs,
    ) -> Result<Handled, ChannelError> {
        Ok(Handled::Skipped)
    }
}
